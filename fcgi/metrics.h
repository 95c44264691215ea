/* Counters of this process, shown by GET /metrics in Prometheus text format.
 * Each process counts its own requests: with several processes each scrape
 * sees one of them (the process label tells which). */
#ifndef CMDRELAY_METRICS_H
#define CMDRELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "text_buf.h"

void metrics_request(int route, int status);
void metrics_published(int64_t n);
void metrics_delivered(int64_t n);
void metrics_acked(int64_t n);
void metrics_expired(int64_t n);
void metrics_waiters(int delta);

/* Appends this process's counters. */
void metrics_render(struct text_buf *t);

#endif
