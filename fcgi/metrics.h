/* Counters of this process, shown by GET /metrics in Prometheus text format.
 * Each process counts its own requests: with several processes each scrape
 * sees one of them (the process label tells which). */
#ifndef CMDRELAY_METRICS_H
#define CMDRELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

void metrics_request(int route, int status);
void metrics_published(int64_t n);
void metrics_delivered(int64_t n);
void metrics_acked(int64_t n);
void metrics_expired(int64_t n);
void metrics_waiters(int delta);

/* A growing text buffer; failed is set (and the text dropped) when memory runs out. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	int failed;
};

void metrics_printf(struct metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends this process's counters. */
void metrics_render(struct metrics_text *t);

#endif
