/* The ways a request reaches the relay: a FastCGI socket served by a pool of
 * threads, or one CGI request on stdin and stdout. */
#ifndef CMDRELAY_SERVE_H
#define CMDRELAY_SERVE_H

#include <signal.h>

#include "settings.h"

struct settings;

#define SERVE_DEFAULT_THREADS CONFIG_DEFAULT_THREADS
#define SERVE_MAX_THREADS 4096
#define SERVE_SWEEP_INTERVAL_S 10
#define SERVE_DEFAULT_MAX_THREADS CONFIG_DEFAULT_MAX_THREADS

/* Serves FastCGI requests on the listening socket fd with threads threads
 * (growing to max_threads while long polls hold some) until SIGTERM or
 * SIGINT; the requests in flight are finished first.  Returns the exit status. */
int serve_fastcgi(const struct settings *s, int fd, int threads, int max_threads);

/* Blocks SIGTERM and SIGINT (the set is left in *stop, for sigwait) in the
 * calling thread and the threads it starts after, and ignores SIGPIPE. */
void serve_block_stop_signals(sigset_t *stop);

/* Serves the one CGI request described by the environment. */
int serve_cgi(const struct settings *s);

/* Opens a FastCGI listening socket: a unix socket path (mode applied when
 * mode >= 0) or HOST:PORT / :PORT.  Returns the fd, or -1 with errno set. */
int serve_listen(const char *address, int mode);

#endif
