#include "longpoll.h"

#include "conn.h"
#include "handler.h"
#include "log.h"
#include "metrics.h"
#include "response.h"
#include "store_pool.h"
#include "timeutil.h"
#include "waiters.h"

/* Whether the client of a held request hung up: then it holds nothing
 * longer (a thread, a socket) and claims nothing for nobody. */
static int client_gone(const struct ctx *ctx)
{
	return ctx->conn != NULL && conn_gone(ctx->conn);
}

int longpoll_run(struct ctx *ctx, struct resp *resp, int64_t wait_ms, longpoll_attempt_fn *attempt, void *arg)
{
	int64_t deadline = time_now_ms() + wait_ms;
	char why[256];
	int found;

	for (;;) {
		/* Read the generation before looking, so a publish landing between
		 * the look and the wait still wakes us. */
		uint64_t seen = waiters_generation();
		int64_t wake_at = 0, until;
		int woke, gone = 0;

		if ((found = attempt(ctx, resp, arg, &wake_at)) != 0 || time_now_ms() >= deadline)
			return found;
		until = wake_at > 0 && wake_at < deadline ? wake_at : deadline;
		store_pool_release(ctx->st, 0);
		ctx->st = NULL;
		metrics_waiters(1);
		/* In slices, looking between them whether the client is still there. */
		do {
			int64_t slice = time_now_ms() + LONGPOLL_CHECK_MS;

			woke = waiters_wait(ctx->db_path, &seen, slice < until ? slice : until);
			if (woke == 1)
				gone = client_gone(ctx);
		} while (woke == 1 && !gone && time_now_ms() < until);
		metrics_waiters(-1);
		if (gone || (woke == 0 && client_gone(ctx)))
			return 0; /* no store held: the handler answers nobody an empty list */
		if ((ctx->st = store_pool_acquire(ctx->db_path, why, sizeof(why))) == NULL) {
			log_msg("cannot reopen the database after a wait: %s", why);
			return resp_unavailable(resp, "the database cannot be opened");
		}
		if (woke == -1)
			return attempt(ctx, resp, arg, &wake_at);
	}
}
