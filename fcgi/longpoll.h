/* Holding a request until there is something to answer, without holding a
 * database connection while it waits. */
#ifndef CMDRELAY_LONGPOLL_H
#define CMDRELAY_LONGPOLL_H

#include <stdint.h>

struct ctx;
struct resp;

#define LONGPOLL_MAX_WAIT_S 25
/* How often a held request looks whether its client hung up.  Each look
 * wakes the waiting thread: at 250 ms, a thousand waiters cost the relay
 * 3 to 5% of a core in wake-ups alone; a departed client's thread now
 * comes back within a second. */
#define LONGPOLL_CHECK_MS 1000

/* One look: returns 1 when it found something to answer, 0 when there is
 * nothing yet, or an HTTP error status (>= 400, with resp filled).  It may
 * set *wake_at_ms to a time worth looking again at (a lease running out). */
typedef int longpoll_attempt_fn(struct ctx *ctx, struct resp *resp, void *arg, int64_t *wake_at_ms);

/* Calls attempt until it finds something or wait_ms has passed.  Returns the
 * last result of attempt: 1, 0 (the wait ran out) or an error status. */
int longpoll_run(struct ctx *ctx, struct resp *resp, int64_t wait_ms, longpoll_attempt_fn *attempt, void *arg);

#endif
