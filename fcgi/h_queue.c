/* v1: queue claims under a lease, and acknowledgements with results. */
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
#include "store.h"
#include "timeutil.h"
#include "validate.h"

#define CLAIM_MAX 100
#define CLAIM_DEFAULT 10
#define LEASE_MAX_S 3600
#define LEASE_DEFAULT_S 30
#define LEASE_TOKEN_MAX 64

/* Reads the required "consumer" field. */
int consumer_field(json_object *o, const char **consumer, struct resp *resp)
{
	int present, rc;

	if ((rc = field_string(o, "consumer", CONSUMER_MAX, consumer, &present, "", resp)) != 0)
		return rc;
	if (!present)
		return resp_error(resp, 400, "invalid_request", "consumer is required");
	if (!consumer_valid(*consumer))
		return resp_error(resp, 400, "invalid_request", "consumer must be 1 to %d bytes of [A-Za-z0-9._:-]",
		    CONSUMER_MAX);
	return 0;
}

int claim_attempt(struct ctx *ctx, struct resp *resp, void *arg, int64_t *wake_at)
{
	struct claim_state *c = arg;
	int64_t now = time_now_ms();
	size_t claimed;
	int rc;

	rc = store_claim(ctx->st, ctx->channel, c->consumer, c->max, c->lease_ms, now, command_list_add, &c->list,
	    &claimed);
	if (rc != STORE_OK)
		return store_failure(ctx, resp, rc, "claim");
	if (claimed > 0)
		return 1;
	/* A lease running out makes its command claimable: wake for it. */
	if ((rc = store_next_lease_expiry(ctx->st, ctx->channel, now, wake_at)) != STORE_OK)
		return store_failure(ctx, resp, rc, "claim");
	return 0;
}

int h_claims(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	static const char *const allowed[] = { "consumer", "max", "lease", "wait", NULL };
	struct claim_state c = { .max = CLAIM_DEFAULT };
	int64_t max = CLAIM_DEFAULT, lease = LEASE_DEFAULT_S, wait = 0;
	json_object *body = NULL;
	int status, present;

	command_list_init(&c.list, 1);

	if ((status = query_none(req, resp)) != 0 || (status = body_object(req, resp, 0, &body)) != 0)
		return status;
	if ((status = fields_known(body, allowed, "", resp)) != 0 ||
	    (status = consumer_field(body, &c.consumer, resp)) != 0 ||
	    (status = field_int(body, "max", 1, CLAIM_MAX, &max, &present, "", resp)) != 0 ||
	    (status = field_int(body, "lease", 1, LEASE_MAX_S, &lease, &present, "", resp)) != 0 ||
	    (status = field_int(body, "wait", 0, LONGPOLL_MAX_WAIT_S, &wait, &present, "", resp)) != 0)
		goto out;
	c.max = (int)max;
	c.lease_ms = lease * 1000;
	if ((status = longpoll_run(ctx, resp, wait * 1000, claim_attempt, &c)) >= 400)
		goto out;
	metrics_delivered((int64_t)c.list.count);
	status = commands_reply(resp, 200, &c.list);
out:
	command_list_free(&c.list);
	json_object_put(body);
	return status;
}

static int keep_command(void *arg, const struct command_row *row)
{
	json_object **out = arg;

	json_object_put(*out);
	*out = command_json(row, 0);
	return *out != NULL ? 0 : -1;
}

int ack_failure(struct ctx *ctx, struct resp *resp, int rc, int64_t id)
{
	switch (rc) {
	case STORE_NOT_FOUND:
		return resp_error(resp, 404, "not_found", "no command %lld in channel %s", (long long)id, ctx->channel);
	case STORE_NEEDS_LEASE:
		return resp_error(resp, 400, "invalid_request", "lease is required to ack queue command %lld", (long long)id);
	case STORE_CONFLICT:
		return resp_error(resp, 409, "lease_expired",
		    "lease is not the current lease of command %lld: it ran out and may be held by another consumer",
		    (long long)id);
	default:
		return store_failure(ctx, resp, rc, "ack");
	}
}

int h_ack(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	static const char *const allowed[] = { "consumer", "lease", "result", NULL };
	const char *consumer, *lease = NULL, *result;
	json_object *body = NULL, *command = NULL, *reply;
	int64_t id;
	int status, present, rc;

	if (parse_i64(ctx->id_text, 1, JSON_MAX_SAFE_INT, &id) == -1)
		return resp_error(resp, 404, "not_found", "no command %.32s in channel %s: ids are positive integers",
		    ctx->id_text, ctx->channel);
	if ((status = query_none(req, resp)) != 0 || (status = body_object(req, resp, 0, &body)) != 0)
		return status;
	if ((status = fields_known(body, allowed, "", resp)) != 0 ||
	    (status = consumer_field(body, &consumer, resp)) != 0 ||
	    (status = field_string(body, "lease", LEASE_TOKEN_MAX, &lease, &present, "", resp)) != 0 ||
	    (status = field_json(body, "result", PAYLOAD_MAX, &result, &present, "", resp)) != 0)
		goto out;
	rc = store_ack(ctx->st, ctx->channel, id, consumer, lease, present ? result : NULL, req->now_ms, keep_command,
	    &command);
	if (rc != STORE_OK) {
		status = ack_failure(ctx, resp, rc, id);
		goto out;
	}
	metrics_acked(1);
	if ((reply = json_object_new_object()) == NULL) {
		status = resp_unavailable(resp, "out of memory");
		goto out;
	}
	json_object_object_add(reply, "command", command);
	command = NULL;
	status = resp_json(resp, 200, reply);
out:
	json_object_put(command);
	json_object_put(body);
	return status;
}
