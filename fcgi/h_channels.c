/* v1: channels as a whole (depths), their consumers (presence), and metrics. */
#include <stdlib.h>

#include "body_fields.h"
#include "command_json.h"
#include "handler.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "store.h"

/* Consumers seen within this window are present. */
#define PRESENCE_WINDOW_MS (10 * 60 * 1000)

int h_channels(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	static const char *const allowed[] = { NULL };
	json_object *list;
	int status, rc;

	if ((status = query_known(req, allowed, resp)) != 0)
		return status;
	if ((list = json_object_new_array()) == NULL)
		return resp_unavailable(resp, "out of memory");
	if ((rc = store_channels(ctx->st, req->now_ms, channel_depth_json_append, list)) != STORE_OK) {
		json_object_put(list);
		return store_failure(ctx, resp, rc, "channels");
	}
	return resp_list(resp, 200, "channels", list);
}

static int add_consumer(void *arg, const char *consumer, int64_t first_seen, int64_t last_seen, int64_t cursor)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return -1;
	json_object_object_add(o, "consumer", json_object_new_string(consumer));
	json_object_object_add(o, "first_seen", time_json(first_seen));
	json_object_object_add(o, "last_seen", time_json(last_seen));
	json_object_object_add(o, "cursor", json_object_new_int64(cursor));
	return json_object_array_add(arg, o);
}

int h_consumers(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	static const char *const allowed[] = { NULL };
	json_object *list;
	int status, rc;

	if ((status = query_known(req, allowed, resp)) != 0)
		return status;
	if ((list = json_object_new_array()) == NULL)
		return resp_unavailable(resp, "out of memory");
	rc = store_consumers(ctx->st, ctx->channel, req->now_ms - PRESENCE_WINDOW_MS, add_consumer, list);
	if (rc != STORE_OK) {
		json_object_put(list);
		return store_failure(ctx, resp, rc, "consumers");
	}
	return resp_list(resp, 200, "consumers", list);
}

/* Prometheus label values escape backslash, quote and newline; channel
 * names cannot hold any of them, so they go in as they are. */
static int add_depth(void *arg, const struct channel_depth *c)
{
	struct text_buf *t = arg;

	text_printf(t, "cmdrelay_channel_depth{channel=\"%s\",state=\"pending\"} %lld\n", c->name, (long long)c->pending);
	text_printf(t, "cmdrelay_channel_depth{channel=\"%s\",state=\"leased\"} %lld\n", c->name, (long long)c->leased);
	text_printf(t, "cmdrelay_channel_depth{channel=\"%s\",state=\"done\"} %lld\n", c->name, (long long)c->done);
	text_printf(t, "cmdrelay_channel_depth{channel=\"%s\",state=\"dead\"} %lld\n", c->name, (long long)c->dead);
	return 0;
}

int h_metrics(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	struct text_buf t = { 0 };
	int rc;

	if ((rc = query_none(req, resp)) != 0)
		return rc;
	metrics_render(&t);
	text_printf(&t, "# HELP cmdrelay_channel_depth Commands per channel and state (dead: gave up after max_attempts).\n"
	                "# TYPE cmdrelay_channel_depth gauge\n");
	if ((rc = store_channels(ctx->st, req->now_ms, add_depth, &t)) != STORE_OK) {
		text_free(&t);
		return store_failure(ctx, resp, rc, "metrics");
	}
	return resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &t);
}
