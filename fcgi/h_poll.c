/* v1: the poll a game server makes in a loop.  One request acknowledges the
 * previous batch, confirms the cursor, and receives the next broadcast
 * commands and queue claims: what a budget of 500 requests a minute needs. */
#include <stdio.h>
#include <string.h>

#include "body_fields.h"
#include "command_json.h"
#include "handler.h"
#include "json_body.h"
#include "longpoll.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "timeutil.h"
#include "validate.h"

#define POLL_READ_LIMIT 100
#define POLL_ACKS_MAX 100
#define CLAIM_MAX 100
#define LEASE_MAX_S 3600
#define LEASE_DEFAULT_S 30
#define LEASE_TOKEN_MAX 64
/* Presence is written at most this often per consumer, so idle polls stay reads. */
#define PRESENCE_WRITE_MS 5000
/* Without a long poll, come back after this long when there was nothing. */
#define SHORT_POLL_AFTER_MS 1000

struct poll_ack {
	int64_t id;
	const char *lease;
	const char *result; /* JSON text or NULL */
};

struct poll_state {
	const char *consumer;
	int64_t after;
	struct command_list commands;
	struct claim_state claim;
	int64_t cursor;
};

static int poll_attempt(struct ctx *ctx, struct resp *resp, void *arg, int64_t *wake_at)
{
	struct poll_state *p = arg;
	int rc, found;

	rc = store_read(ctx->st, ctx->channel, p->cursor, POLL_READ_LIMIT, p->consumer, time_now_ms(),
	    command_list_add, &p->commands);
	if (rc != STORE_OK)
		return store_failure(ctx, resp, rc, "poll");
	if (p->claim.max > 0 && (found = claim_attempt(ctx, resp, &p->claim, wake_at)) != 0)
		return found;
	return p->commands.count > 0;
}

/* Reads "acks": [{"id", "lease"?, "result"?}] into acks; all are checked before any is applied. */
static int acks_field(json_object *body, struct poll_ack *acks, size_t *count, struct resp *resp)
{
	static const char *const allowed[] = { "id", "lease", "result", NULL };
	json_object *list = NULL;
	size_t n;

	*count = 0;
	if (!json_object_object_get_ex(body, "acks", &list) || list == NULL)
		return 0;
	if (!json_object_is_type(list, json_type_array))
		return resp_error(resp, 400, "invalid_request", "acks must be an array");
	if ((n = json_object_array_length(list)) > POLL_ACKS_MAX)
		return resp_error(resp, 400, "invalid_request", "acks holds at most %d entries", POLL_ACKS_MAX);
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(list, i);
		char prefix[24];
		int status, present;

		snprintf(prefix, sizeof(prefix), "acks[%zu].", i);
		if (a == NULL || !json_is_object_like(a))
			return resp_error(resp, 400, "invalid_request", "acks[%zu] must be an object", i);
		/* [] is Roblox's empty table, an empty object: it lacks the id. */
		if (json_object_is_type(a, json_type_array))
			return resp_error(resp, 400, "invalid_request", "%sid is required", prefix);
		memset(&acks[i], 0, sizeof(acks[i]));
		if ((status = fields_known(a, allowed, prefix, resp)) != 0 ||
		    (status = field_int(a, "id", 1, JSON_MAX_SAFE_INT, &acks[i].id, &present, prefix, resp)) != 0)
			return status;
		if (!present)
			return resp_error(resp, 400, "invalid_request", "%sid is required", prefix);
		if ((status = field_string(a, "lease", LEASE_TOKEN_MAX, &acks[i].lease, &present, prefix, resp)) != 0 ||
		    (status = field_json(a, "result", PAYLOAD_MAX, &acks[i].result, &present, prefix, resp)) != 0)
			return status;
		if (!present)
			acks[i].result = NULL;
	}
	*count = n;
	return 0;
}

static int ignore_row(void *arg, const struct command_row *row)
{
	(void)arg;
	(void)row;
	return 0;
}

/* Applies the acks, appending the ids of those applied to acked ("1,2");
 * those that no longer apply (cancelled, lease lapsed) are left out of it
 * rather than failing the poll. */
static int acks_apply(struct ctx *ctx, const char *consumer, const struct poll_ack *acks, size_t n, int64_t now,
    struct text_buf *acked, struct resp *resp)
{
	for (size_t i = 0; i < n; i++) {
		int rc = store_ack(ctx->st, ctx->channel, acks[i].id, consumer, acks[i].lease, acks[i].result, now,
		    ignore_row, NULL);

		if (rc == STORE_OK) {
			if (acked->len > 0)
				TEXT_PUT_LIT(acked, ",");
			text_put_uint(acked, (uint64_t)acks[i].id);
			metrics_acked(1);
		} else if (rc != STORE_NOT_FOUND && rc != STORE_CONFLICT && rc != STORE_NEEDS_LEASE) {
			return store_failure(ctx, resp, rc, "poll ack");
		}
	}
	return 0;
}

int h_poll(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	static const char *const allowed[] = { "consumer", "after", "wait", "claim", "lease", "acks", NULL };
	struct poll_ack acks[POLL_ACKS_MAX];
	struct poll_state p = { .after = -1 };
	int64_t wait = 0, claim = 0, lease = LEASE_DEFAULT_S;
	struct text_buf acked = { 0 }, reply = { 0 };
	json_object *body = NULL;
	size_t ack_count;
	int status, present, rc, found = 0;

	command_list_init(&p.commands, 0);
	command_list_init(&p.claim.list, 1);

	if ((status = query_none(req, resp)) != 0 || (status = body_object(req, resp, 0, &body)) != 0)
		return status;
	if ((status = fields_known(body, allowed, "", resp)) != 0 ||
	    (status = consumer_field(body, &p.consumer, resp)) != 0 ||
	    (status = field_int(body, "after", 0, JSON_MAX_SAFE_INT, &p.after, &present, "", resp)) != 0 ||
	    (status = field_int(body, "wait", 0, LONGPOLL_MAX_WAIT_S, &wait, &present, "", resp)) != 0 ||
	    (status = field_int(body, "claim", 0, CLAIM_MAX, &claim, &present, "", resp)) != 0 ||
	    (status = field_int(body, "lease", 1, LEASE_MAX_S, &lease, &present, "", resp)) != 0 ||
	    (status = acks_field(body, acks, &ack_count, resp)) != 0)
		goto out;
	p.claim.consumer = p.consumer;
	p.claim.max = (int)claim;
	p.claim.lease_ms = lease * 1000;
	if ((status = acks_apply(ctx, p.consumer, acks, ack_count, req->now_ms, &acked, resp)) != 0)
		goto out;
	/* A poll that does not wait reads the consumer's row and the commands
	 * after its cursor from one snapshot (until the connection goes back to
	 * the pool), unless presence is due to be written: the write ends the
	 * snapshot, and the read then runs on its own.  One that may wait must
	 * not take a snapshot: longpoll_run notes the
	 * publishes' generation before it looks, and a snapshot taken before
	 * that could miss a publish the generation already counts. */
	if ((rc = wait > 0 ? STORE_OK : store_snapshot_begin(ctx->st)) == STORE_OK)
		rc = store_consumer_seen(ctx->st, ctx->channel, p.consumer, &p.after, req->now_ms, PRESENCE_WRITE_MS);
	if (rc != STORE_OK) {
		status = store_failure(ctx, resp, rc, "poll presence");
		goto out;
	}
	p.cursor = p.after;
	if ((found = longpoll_run(ctx, resp, wait * 1000, poll_attempt, &p)) >= 400) {
		status = found;
		goto out;
	}
	if (p.commands.count > 0)
		p.cursor = p.commands.last_id;
	metrics_delivered((int64_t)(p.commands.count + p.claim.list.count));
	TEXT_PUT_LIT(&reply, "{\"acked\":[");
	if (acked.failed)
		reply.failed = 1;
	else if (acked.len > 0)
		text_put(&reply, acked.buf, acked.len);
	TEXT_PUT_LIT(&reply, "],\"commands\":");
	command_list_put(&reply, &p.commands);
	TEXT_PUT_LIT(&reply, ",\"claims\":");
	command_list_put(&reply, &p.claim.list);
	TEXT_PUT_LIT(&reply, ",\"cursor\":");
	text_put_uint(&reply, (uint64_t)p.cursor);
	TEXT_PUT_LIT(&reply, ",\"poll_after_ms\":");
	text_put_uint(&reply, found || wait > 0 ? 0 : SHORT_POLL_AFTER_MS);
	TEXT_PUT_LIT(&reply, "}");
	status = resp_text(resp, 200, "application/json", &reply);
out:
	text_free(&acked);
	text_free(&reply);
	command_list_free(&p.commands);
	command_list_free(&p.claim.list);
	json_object_put(body);
	return status;
}
