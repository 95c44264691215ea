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

void metrics_printf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	if (t->buf == NULL) {
		t->len = 0;
		t->cap = 4096;
		if ((t->buf = malloc(t->cap)) == NULL) {
			t->failed = 1;
			return;
		}
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = t->cap * 2 + (size_t)n;
			char *grown = realloc(t->buf, cap);

			if (grown == NULL) {
				t->failed = 1;
				return;
			}
			t->buf = grown;
			t->cap = cap;
		}
	}
}

void metrics_render(struct metrics_text *t)
{
	long pid = (long)getpid();

	metrics_printf(t, "# HELP cmdrelay_requests_total Requests answered, by route and status.\n"
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
			metrics_printf(t, "cmdrelay_requests_total{route=\"%s\",status=\"%s\",process=\"%ld\"} %lld\n",
			    r < ROUTE__COUNT ? routes[r].name : "unknown", status, pid, n);
		}
	metrics_printf(t, "# HELP cmdrelay_commands_published_total Commands stored by publishes.\n"
	           "# TYPE cmdrelay_commands_published_total counter\n"
	           "cmdrelay_commands_published_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&published));
	metrics_printf(t, "# HELP cmdrelay_commands_delivered_total Commands handed to consumers (reads, polls and claims).\n"
	           "# TYPE cmdrelay_commands_delivered_total counter\n"
	           "cmdrelay_commands_delivered_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&delivered));
	metrics_printf(t, "# HELP cmdrelay_commands_acked_total Acknowledgements recorded.\n"
	           "# TYPE cmdrelay_commands_acked_total counter\n"
	           "cmdrelay_commands_acked_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&acked));
	metrics_printf(t, "# HELP cmdrelay_commands_expired_total Expired commands swept away.\n"
	           "# TYPE cmdrelay_commands_expired_total counter\n"
	           "cmdrelay_commands_expired_total{process=\"%ld\"} %lld\n",
	    pid, (long long)atomic_load(&expired));
	metrics_printf(t, "# HELP cmdrelay_longpoll_waiters Requests held open waiting for commands.\n"
	           "# TYPE cmdrelay_longpoll_waiters gauge\n"
	           "cmdrelay_longpoll_waiters{process=\"%ld\"} %d\n",
	    pid, atomic_load(&waiters));
}
