#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "route.h"

/* Statuses the relay answers; anything else is counted as "other". */
static const int statuses[] = { 200, 201, 400, 401, 403, 404, 405, 409, 411, 413, 414, 415, 429, 500, 503 };
#define STATUS_COUNT (sizeof(statuses) / sizeof(statuses[0]))

static atomic_llong requests[ROUTE__COUNT + 1][STATUS_COUNT + 1];
static atomic_llong published, delivered, acked, expired;
static atomic_int waiters;

void metrics_request(int route, int status)
{
	size_t s;

	if (route < 0 || route > ROUTE__COUNT)
		route = ROUTE__COUNT;
	for (s = 0; s < STATUS_COUNT && statuses[s] != status; s++)
		;
	atomic_fetch_add_explicit(&requests[route][s], 1, memory_order_relaxed);
}

void metrics_published(int64_t n) { atomic_fetch_add_explicit(&published, n, memory_order_relaxed); }
void metrics_delivered(int64_t n) { atomic_fetch_add_explicit(&delivered, n, memory_order_relaxed); }
void metrics_acked(int64_t n) { atomic_fetch_add_explicit(&acked, n, memory_order_relaxed); }
void metrics_expired(int64_t n) { atomic_fetch_add_explicit(&expired, n, memory_order_relaxed); }
void metrics_waiters(int delta) { atomic_fetch_add_explicit(&waiters, delta, memory_order_relaxed); }

void metrics_render(struct text_buf *t)
{
	long pid = (long)getpid();

	text_printf(t, "# HELP cmdrelay_requests_total Requests answered, by route and status.\n"
	           "# TYPE cmdrelay_requests_total counter\n");
	for (int r = 0; r <= ROUTE__COUNT; r++)
		for (size_t s = 0; s <= STATUS_COUNT; s++) {
			long long n = atomic_load_explicit(&requests[r][s], memory_order_relaxed);
			char status[8];

			if (n == 0)
				continue;
			if (s < STATUS_COUNT)
				snprintf(status, sizeof(status), "%d", statuses[s]);
			else
				snprintf(status, sizeof(status), "other");
			text_printf(t, "cmdrelay_requests_total{route=\"%s\",status=\"%s\",process=\"%ld\"} %lld\n",
			    r < ROUTE__COUNT ? routes[r].name : "unknown", status, pid, n);
		}
	text_printf(t, "# HELP cmdrelay_commands_published_total Commands stored by publishes.\n"
	           "# TYPE cmdrelay_commands_published_total counter\n"
	           "cmdrelay_commands_published_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&published));
	text_printf(t, "# HELP cmdrelay_commands_delivered_total Commands handed to consumers (reads, polls and claims).\n"
	           "# TYPE cmdrelay_commands_delivered_total counter\n"
	           "cmdrelay_commands_delivered_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&delivered));
	text_printf(t, "# HELP cmdrelay_commands_acked_total Acknowledgements recorded.\n"
	           "# TYPE cmdrelay_commands_acked_total counter\n"
	           "cmdrelay_commands_acked_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&acked));
	text_printf(t, "# HELP cmdrelay_commands_expired_total Expired commands swept away.\n"
	           "# TYPE cmdrelay_commands_expired_total counter\n"
	           "cmdrelay_commands_expired_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&expired));
	text_printf(t, "# HELP cmdrelay_longpoll_waiters Requests held open waiting for commands.\n"
	           "# TYPE cmdrelay_longpoll_waiters gauge\n"
	           "cmdrelay_longpoll_waiters{process=\"%ld\"} %d\n",
	    pid, atomic_load(&waiters));
}
