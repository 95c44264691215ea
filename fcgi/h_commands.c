/* v1: publishing commands, reading a channel, one command, cancelling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_fields.h"
#include "command_json.h"
#include "handler.h"
#include "json_body.h"
#include "longpoll.h"
#include "metrics.h"
#include "parse.h"
#include "request.h"
#include "response.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "validate.h"
#include "waiters.h"

#define PUBLISH_MAX_BATCH 100
#define TTL_MAX_S 604800
#define TTL_DEFAULT_S 3600
#define MAX_ATTEMPTS_MAX 100
#define MAX_ATTEMPTS_DEFAULT 5
#define READ_LIMIT_MAX 100

/* Reads one command object of a publish; prefix names it inside a batch. */
static int command_from_json(json_object *o, const char *prefix, struct new_command *c, struct resp *resp)
{
	static const char *const allowed[] = { "name", "data", "mode", "target", "ttl", "key", "max_attempts", NULL };
	const char *mode = NULL;
	int64_t ttl = TTL_DEFAULT_S, max_attempts = MAX_ATTEMPTS_DEFAULT;
	int rc, present;

	/* prefix is "commands[3]." inside a batch: name the element without its dot. */
	if (!json_is_object_like(o))
		return resp_error(resp, 400, "invalid_request", "%.*s must be a JSON object",
		    *prefix != '\0' ? (int)strlen(prefix) - 1 : 11, *prefix != '\0' ? prefix : "the command");
	if (json_object_is_type(o, json_type_array))
		return resp_error(resp, 400, "invalid_request", "%sname is required", prefix);
	memset(c, 0, sizeof(*c));
	if ((rc = fields_known(o, allowed, prefix, resp)) != 0 ||
	    (rc = field_string(o, "name", COMMAND_NAME_MAX, &c->name, &present, prefix, resp)) != 0)
		return rc;
	if (!present)
		return resp_error(resp, 400, "invalid_request", "%sname is required", prefix);
	if (!command_name_valid(c->name, strlen(c->name)))
		return resp_error(resp, 400, "invalid_request", "%sname must not contain control characters", prefix);
	if ((rc = field_json(o, "data", PAYLOAD_MAX, &c->data, &present, prefix, resp)) != 0 ||
	    (rc = field_string(o, "mode", 16, &mode, &present, prefix, resp)) != 0)
		return rc;
	if (mode == NULL || strcmp(mode, "broadcast") == 0)
		c->mode = "broadcast";
	else if (strcmp(mode, "queue") == 0)
		c->mode = "queue";
	else
		return resp_error(resp, 400, "invalid_request", "%smode must be \"broadcast\" or \"queue\"", prefix);
	if ((rc = field_string(o, "target", CONSUMER_MAX, &c->target, &present, prefix, resp)) != 0)
		return rc;
	if (c->target != NULL && !consumer_valid(c->target))
		return resp_error(resp, 400, "invalid_request", "%starget must be a consumer id of [A-Za-z0-9._:-]", prefix);
	if ((rc = field_int(o, "ttl", 1, TTL_MAX_S, &ttl, &present, prefix, resp)) != 0 ||
	    (rc = field_string(o, "key", DEDUP_KEY_MAX, &c->key, &present, prefix, resp)) != 0 ||
	    (rc = field_int(o, "max_attempts", 1, MAX_ATTEMPTS_MAX, &max_attempts, &present, prefix, resp)) != 0)
		return rc;
	c->ttl_ms = ttl * 1000;
	c->max_attempts = max_attempts;
	return 0;
}

int commands_reply(struct resp *resp, int status, const struct command_list *list)
{
	struct text_buf reply = { 0 };

	TEXT_PUT_LIT(&reply, "{\"commands\":");
	command_list_put(&reply, list);
	TEXT_PUT_LIT(&reply, "}");
	return resp_text(resp, status, "application/json", &reply);
}

int h_publish(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	struct new_command *cmds = NULL;
	struct command_list list;
	json_object *body = NULL;
	size_t count, stored;
	char why[160];
	int is_null, status, rc;

	command_list_init(&list, 0);

	if ((status = query_none(req, resp)) != 0)
		return status;
	if (req->body == NULL || req->body_len == 0)
		return resp_error(resp, 400, "invalid_json", "request body is empty; a command or an array of commands is required");
	if ((body = json_body_parse(req->body, req->body_len, why, sizeof(why), &is_null)) == NULL && !is_null)
		return resp_error(resp, 400, "invalid_json", "%s", why);
	if (body == NULL || !(json_object_is_type(body, json_type_object) || json_object_is_type(body, json_type_array))) {
		status = resp_error(resp, 400, "invalid_request", "body must be a command object or an array of them");
		goto out;
	}
	count = json_object_is_type(body, json_type_array) ? json_object_array_length(body) : 1;
	if (json_object_is_type(body, json_type_array) && count > PUBLISH_MAX_BATCH) {
		status = resp_error(resp, 400, "invalid_request", "a batch holds 1 to %d commands, not %zu",
		    PUBLISH_MAX_BATCH, count);
		goto out;
	}
	if (count == 0) {
		/* [] is Roblox's empty table: an empty command, which has no name. */
		status = resp_error(resp, 400, "invalid_request", "name is required");
		goto out;
	}
	if ((cmds = calloc(count, sizeof(*cmds))) == NULL) {
		status = resp_unavailable(resp, "out of memory");
		goto out;
	}
	if (json_object_is_type(body, json_type_object)) {
		if ((status = command_from_json(body, "", &cmds[0], resp)) != 0)
			goto out;
	} else {
		for (size_t i = 0; i < count; i++) {
			char prefix[32];

			snprintf(prefix, sizeof(prefix), "commands[%zu].", i);
			if ((status = command_from_json(json_object_array_get_idx(body, i), prefix, &cmds[i], resp)) != 0)
				goto out;
		}
	}
	rc = store_publish(ctx->st, ctx->channel, cmds, count, req->now_ms, ctx->cfg->channel_limit,
	    command_list_add, &list, &stored);
	if (rc == STORE_CHANNEL_FULL) {
		resp->retry_after = 1;
		status = resp_error(resp, 429, "channel_full", "channel %s holds its limit of %ld live commands",
		    ctx->channel, ctx->cfg->channel_limit);
		goto out;
	}
	if (rc != STORE_OK) {
		status = store_failure(ctx, resp, rc, "publish");
		goto out;
	}
	if (stored > 0) {
		waiters_notify();
		metrics_published((int64_t)stored);
		sweep_now_and_then(ctx, req->now_ms);
	}
	status = commands_reply(resp, stored > 0 ? 201 : 200, &list);
out:
	command_list_free(&list);
	json_object_put(body);
	free(cmds);
	return status;
}

struct read_state {
	int64_t after;
	int limit;
	const char *consumer;
	struct command_list list;
	int64_t cursor;
};

static int read_attempt(struct ctx *ctx, struct resp *resp, void *arg, int64_t *wake_at)
{
	struct read_state *r = arg;
	int rc;

	(void)wake_at;
	rc = store_read(ctx->st, ctx->channel, r->after, r->limit, r->consumer, time_now_ms(), command_list_add,
	    &r->list);
	if (rc != STORE_OK)
		return store_failure(ctx, resp, rc, "read");
	return r->list.count > 0;
}

int h_read(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	static const char *const allowed[] = { "after", "limit", "wait", "consumer", NULL };
	struct read_state r = { .after = 0, .limit = READ_LIMIT_MAX };
	int64_t limit = READ_LIMIT_MAX, wait = 0;
	struct text_buf reply = { 0 };
	int status;

	if ((status = query_known(req, allowed, resp)) != 0 ||
	    (status = query_int(req, "after", 0, JSON_MAX_SAFE_INT, &r.after, resp)) != 0 ||
	    (status = query_int(req, "limit", 0, READ_LIMIT_MAX, &limit, resp)) != 0 ||
	    (status = query_int(req, "wait", 0, LONGPOLL_MAX_WAIT_S, &wait, resp)) != 0)
		return status;
	r.consumer = query_get(&req->query, "consumer");
	if (r.consumer != NULL && !consumer_valid(r.consumer))
		return resp_error(resp, 400, "invalid_request", "consumer must be 1 to %d bytes of [A-Za-z0-9._:-]",
		    CONSUMER_MAX);
	r.limit = (int)limit;
	/* Without a wait, the cursor's clamp and the read come from one snapshot
	 * (see h_poll on why not with one). */
	if ((status = wait > 0 ? STORE_OK : store_snapshot_begin(ctx->st)) != STORE_OK ||
	    (status = store_clamp_cursor(ctx->st, &r.after)) != STORE_OK)
		return store_failure(ctx, resp, status, "read cursor");
	r.cursor = r.after;
	command_list_init(&r.list, 0);
	if (limit == 0) {
		int rc = store_last_id(ctx->st, &r.cursor);

		if (rc != STORE_OK)
			return store_failure(ctx, resp, rc, "read cursor");
	} else if ((status = longpoll_run(ctx, resp, wait * 1000, read_attempt, &r)) >= 400) {
		command_list_free(&r.list);
		return status;
	}
	if (r.list.count > 0)
		r.cursor = r.list.last_id;
	metrics_delivered((int64_t)r.list.count);
	TEXT_PUT_LIT(&reply, "{\"commands\":");
	command_list_put(&reply, &r.list);
	TEXT_PUT_LIT(&reply, ",\"cursor\":");
	text_put_uint(&reply, (uint64_t)r.cursor);
	TEXT_PUT_LIT(&reply, "}");
	command_list_free(&r.list);
	return resp_text(resp, 200, "application/json", &reply);
}

/* Parses the {id} of the route. */
static int command_id(struct ctx *ctx, struct resp *resp, int64_t *id)
{
	if (parse_i64(ctx->id_text, 1, JSON_MAX_SAFE_INT, id) == -1)
		return resp_error(resp, 404, "not_found", "no command %.32s in channel %s: ids are positive integers",
		    ctx->id_text, ctx->channel);
	return 0;
}

static int keep_command(void *arg, const struct command_row *row)
{
	json_object **out = arg;

	*out = command_json(row, 0);
	return *out != NULL ? 0 : -1;
}

static int add_ack(void *arg, const char *consumer, int64_t acked_at, const char *result, size_t result_len)
{
	json_object *a = json_object_new_object();

	if (a == NULL)
		return -1;
	json_object_object_add(a, "consumer", json_object_new_string(consumer));
	json_object_object_add(a, "acked_at", time_json(acked_at));
	json_object_object_add(a, "result", result != NULL ? json_raw_new(result, result_len) : NULL);
	return json_object_array_add(arg, a);
}

int h_command_get(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	json_object *command = NULL, *acks, *reply;
	int64_t id;
	int status, rc;

	if ((status = query_none(req, resp)) != 0 || (status = command_id(ctx, resp, &id)) != 0)
		return status;
	rc = store_command_get(ctx->st, ctx->channel, id, req->now_ms, keep_command, &command);
	if (rc == STORE_NOT_FOUND)
		return resp_error(resp, 404, "not_found", "no command %lld in channel %s", (long long)id, ctx->channel);
	if (rc != STORE_OK) {
		json_object_put(command);
		return store_failure(ctx, resp, rc, "command lookup");
	}
	if ((acks = json_object_new_array()) == NULL || (rc = store_command_acks(ctx->st, id, add_ack, acks)) != STORE_OK) {
		json_object_put(acks);
		json_object_put(command);
		return acks == NULL ? resp_unavailable(resp, "out of memory") : store_failure(ctx, resp, rc, "acks lookup");
	}
	json_object_object_add(command, "acks", acks);
	if ((reply = json_object_new_object()) == NULL) {
		json_object_put(command);
		return resp_unavailable(resp, "out of memory");
	}
	json_object_object_add(reply, "command", command);
	return resp_json(resp, 200, reply);
}

int h_command_cancel(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	json_object *reply;
	int64_t id;
	int status, rc;

	if ((status = query_none(req, resp)) != 0 || (status = command_id(ctx, resp, &id)) != 0)
		return status;
	rc = store_cancel(ctx->st, ctx->channel, id);
	if (rc == STORE_NOT_FOUND)
		return resp_error(resp, 404, "not_found", "no command %lld in channel %s", (long long)id, ctx->channel);
	if (rc != STORE_OK)
		return store_failure(ctx, resp, rc, "cancel");
	if ((reply = json_object_new_object()) == NULL)
		return resp_unavailable(resp, "out of memory");
	json_object_object_add(reply, "deleted", json_object_new_int(1));
	return resp_json(resp, 200, reply);
}
