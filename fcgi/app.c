#include "app.h"

#include <stdatomic.h>
#include <string.h>

#include "settings.h"
#include "auth.h"
#include "conn.h"
#include "handler.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "route.h"
#include "store.h"
#include "store_pool.h"
#include "timeutil.h"
#include "validate.h"

int store_failure(struct ctx *ctx, struct resp *resp, int rc, const char *doing)
{
	log_msg("%s failed: %s (%s)", doing, store_rc_name((enum store_rc)rc),
	    ctx->st != NULL ? store_errmsg(ctx->st) : "no connection");
	switch (rc) {
	case STORE_FULL:
		return resp_unavailable(resp, "the database's disk is full");
	case STORE_READONLY:
		return resp_unavailable(resp, "the database cannot be written");
	case STORE_MOVED:
		return resp_unavailable(resp, "the database file was deleted or replaced");
	case STORE_BUSY:
		return resp_unavailable(resp, "the database is busy");
	default:
		return resp_unavailable(resp, "the database failed");
	}
}

void sweep_now_and_then(struct ctx *ctx, int64_t now_ms)
{
	static atomic_llong last_sweep;
	/* long long, not int64_t: the expected value's type must be the atomic's own (clang checks). */
	long long last = atomic_load(&last_sweep);
	int64_t expired, finished;
	int rc;

	/* One thread per process sweeps, at most once a second. */
	if (now_ms - last < 1000 || !atomic_compare_exchange_strong(&last_sweep, &last, now_ms))
		return;
	if ((rc = store_sweep(ctx->st, now_ms, ctx->cfg->retention_ms, &expired, &finished)) != STORE_OK)
		log_msg("sweep failed: %s", store_rc_name((enum store_rc)rc));
	else if (expired > 0)
		metrics_expired(expired);
}

void app_housekeeping(const struct settings *cfg)
{
	struct ctx ctx = { .cfg = cfg, .db_path = cfg->db_path };
	char why[256];

	if ((ctx.st = store_pool_acquire(cfg->db_path, why, sizeof(why))) == NULL) {
		log_msg("sweep: cannot open the database: %s", why);
		return;
	}
	sweep_now_and_then(&ctx, time_now_ms());
	store_pool_release(ctx.st, 0);
}

static int dispatch(const struct settings *cfg, struct req *req, struct resp *resp, int *route, const struct conn *c)
{
	char path_copy[REQUEST_PATH_MAX], why[256];
	struct ctx ctx = { .cfg = cfg, .db_path = req->db_path != NULL ? req->db_path : cfg->db_path, .conn = c };
	handler_fn *h;
	int r, status;

	*route = r = route_find(req->path, path_copy, &ctx);
	if (r == ROUTE_NOT_FOUND)
		return resp_error(resp, 404, "not_found", "no such endpoint: %.200s", req->path);
	if ((h = route_handler(r, req->method)) == NULL) {
		resp->allow = routes[r].allow;
		return resp_error(resp, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
		    req->method_text, routes[r].allow);
	}
	/* Keys before anything that looks at what was sent (issue 4). */
	if ((status = auth_check(&ctx, req, r, resp)) != 0)
		return status;
	if (ctx.channel != NULL && !channel_valid(ctx.channel))
		return resp_error(resp, 400, "invalid_request",
		    "channel name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
	if (req->body != NULL && !request_body_is_json(req))
		return resp_error(resp, 415, "unsupported_media_type", "body must be application/json, not %.100s",
		    req->content_type);
	if ((ctx.st = store_pool_acquire(ctx.db_path, why, sizeof(why))) == NULL) {
		log_msg("cannot open the database: %s", why);
		return resp_unavailable(resp, "the database cannot be opened");
	}
	status = h(&ctx, req, resp);
	/* After a 503 the connection may be the problem (a deleted file, a full disk): start afresh. */
	store_pool_release(ctx.st, status == 503);
	return status;
}

void app_handle(const struct settings *cfg, struct conn *c)
{
	struct req req;
	struct resp resp;
	int status, route = ROUTE_NOT_FOUND;

	memset(&resp, 0, sizeof(resp));
	if ((status = request_read(&req, c, cfg->body_limit, &resp)) == 0)
		status = dispatch(cfg, &req, &resp, &route, c);
	resp.status = status;
	metrics_request(route, status);
	resp_send(&resp, c);
	if (status >= 500)
		log_msg("%s %.200s -> %d", method_name(req.method), req.path, status);
	resp_free(&resp);
	request_free(&req);
}
