#include "serve.h"

#include <errno.h>
#include <fcgiapp.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "json_body.h"
#include "log.h"
#include "parse.h"
#include "settings.h"
#include "store.h"
#include "store_pool.h"
#include "waiters.h"

#define SERVE_BACKLOG 1024

/* Threads serve requests one at a time each.  A long poll holds its thread,
 * so before a request starts waiting, a thread is added if none is left to
 * accept (up to max_threads); threads beyond the base count leave again
 * once they are not needed. */
struct server {
	const struct settings *settings;
	int fd;
	int base_threads;
	int max_threads;
	/* libfcgi's accept is not safe to enter from several threads at once. */
	pthread_mutex_t accept_lock;
	pthread_mutex_t count_lock;
	pthread_cond_t all_done;
	/* total and stopping change under count_lock, accepting without it;
	 * atomic, so that a request's way round the worker loop needs no lock. */
	atomic_int total;      /* running worker threads */
	atomic_int accepting;  /* of which waiting for a new request */
	atomic_int stopping;
};

static struct server srv = {
	.accept_lock = PTHREAD_MUTEX_INITIALIZER,
	.count_lock = PTHREAD_MUTEX_INITIALIZER,
	.all_done = PTHREAD_COND_INITIALIZER,
};

static void *worker(void *arg);

/* Starts a detached worker.  Called with count_lock held. */
static int worker_start(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Small stacks: a thousand held long polls must fit in little memory. */
	pthread_attr_setstacksize(&attr, 256 * 1024);
	rc = pthread_create(&tid, &attr, worker, NULL);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		srv.total++;
	return rc == 0 ? 0 : -1;
}

static void before_wait(void)
{
	pthread_mutex_lock(&srv.count_lock);
	if (!srv.stopping && srv.accepting == 0 && srv.total < srv.max_threads)
		(void)worker_start();
	pthread_mutex_unlock(&srv.count_lock);
}

/* Whether a thread beyond the base count should leave: another is free to accept. */
static int spare_thread(void)
{
	int spare;

	pthread_mutex_lock(&srv.count_lock);
	spare = srv.total > srv.base_threads && srv.accepting > 0;
	pthread_mutex_unlock(&srv.count_lock);
	return spare;
}

static void *worker(void *arg)
{
	FCGX_Request request;
	struct conn c;

	(void)arg;
	json_thread_init();
	if (FCGX_InitRequest(&request, srv.fd, 0) != 0)
		goto out;
	for (;;) {
		int rc;

		/* A thread added for a long poll leaves when others are free to accept. */
		if (srv.stopping || (srv.total > srv.base_threads && spare_thread()))
			break;
		srv.accepting++;
		pthread_mutex_lock(&srv.accept_lock);
		rc = FCGX_Accept_r(&request);
		pthread_mutex_unlock(&srv.accept_lock);
		srv.accepting--;
		if (rc < 0)
			break;
		conn_init_fcgi(&c, &request);
		app_handle(srv.settings, &c);
		FCGX_Finish_r(&request);
	}
	FCGX_Free(&request, 1);
out:
	pthread_mutex_lock(&srv.count_lock);
	srv.total--;
	pthread_cond_broadcast(&srv.all_done);
	pthread_mutex_unlock(&srv.count_lock);
	return NULL;
}

void serve_block_stop_signals(sigset_t *stop)
{
	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, stop, NULL);
	/* A write to a peer that has gone fails with EPIPE instead of killing. */
	signal(SIGPIPE, SIG_IGN);
}

int serve_fastcgi(const struct settings *s, int fd, int threads, int max_threads)
{
	sigset_t stop_signals;
	int sig;

	if (FCGX_Init() != 0) {
		fprintf(stderr, "cmdrelay: cannot initialise libfcgi\n");
		return 1;
	}
	srv.settings = s;
	srv.fd = fd;
	srv.base_threads = threads;
	srv.max_threads = max_threads > threads ? max_threads : threads;
	/* Workers inherit a mask that blocks the stop signals; only the main
	 * thread takes them, with sigwait, so no handler runs inside a request. */
	serve_block_stop_signals(&stop_signals);
	store_pool_set_max(threads);
	store_group_writers_start();
	if (store_checkpointer_start(s->db_path) == -1)
		log_msg("cannot start the checkpoint thread: commits will checkpoint themselves");
	waiters_set_hooks(before_wait, NULL);
	pthread_mutex_lock(&srv.count_lock);
	for (int i = 0; i < threads; i++)
		if (worker_start() == -1)
			break;
	pthread_mutex_unlock(&srv.count_lock);
	if (srv.total == 0) {
		fprintf(stderr, "cmdrelay: cannot start worker threads\n");
		return 1;
	}
	log_msg("serving FastCGI with %d threads (up to %d with long polls)", srv.total, srv.max_threads);
	/* The main thread sweeps now and then while it waits for a stop signal,
	 * so expired commands go even when nothing is published. */
	for (;;) {
		struct timespec every = { SERVE_SWEEP_INTERVAL_S, 0 };

		if ((sig = sigtimedwait(&stop_signals, NULL, &every)) > 0)
			break;
		if (sig == -1 && errno == EAGAIN)
			app_housekeeping(s);
	}
	log_msg("signal %d: finishing requests in flight", sig);
	pthread_mutex_lock(&srv.count_lock);
	srv.stopping = 1;
	pthread_mutex_unlock(&srv.count_lock);
	FCGX_ShutdownPending();
	/* Long polls answer now with what they have. */
	waiters_shutdown();
	/* Wakes every thread blocked in accept(); requests being served go on. */
	shutdown(fd, SHUT_RDWR);
	pthread_mutex_lock(&srv.count_lock);
	while (srv.total > 0)
		pthread_cond_wait(&srv.all_done, &srv.count_lock);
	pthread_mutex_unlock(&srv.count_lock);
	store_group_writers_close();
	store_pool_shutdown();
	store_checkpointer_stop();
	log_msg("stopped");
	return 0;
}

int serve_cgi(const struct settings *s)
{
	extern char **environ;
	sigset_t stop_signals;
	struct conn c;

	json_thread_init();
	conn_init_cgi(&c, environ);
	app_handle(s, &c);
	/* The answer is complete: closing standard output lets the web server
	 * send it while this process tidies up.  A server may end a CGI child
	 * still running once it has the answer (Apache's mod_cgid sends
	 * SIGTERM), which would cut the tidying short: the stop signals are held
	 * off until exit, and a log line written to a standard error the server
	 * has closed fails rather than kills. */
	serve_block_stop_signals(&stop_signals);
	fclose(stdout);
	/* Where no other process has the database open (CGI-only hosting), each
	 * CGI process rebuilds SQLite's index of the WAL by reading the whole
	 * WAL: 650 pages made a keyed read 2.2 ms instead of 0.8.  A request
	 * that wrote therefore leaves the WAL empty for the next one.  The
	 * database is not closed: the process ends here and its memory, locks
	 * and descriptors go with it, and closing cost a tenth of a request in
	 * freeing memory (with nothing left to checkpoint). */
	store_pool_empty_wals();
	return 0;
}

/* libfcgi's FCGX_OpenSocket() calls exit() when bind() or listen() fails,
 * so the socket is made here, where a failure can be told in one line. */
int serve_listen(const char *address, int mode)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[256];
	const char *colon;
	int64_t port;
	int fd = -1, saved, one = 1, rc;

	if (address[0] == '/' || address[0] == '.') {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		struct stat sb;

		if (strlen(address) >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sun.sun_path, address, strlen(address) + 1);
		/* A socket file left by a previous run would make bind() fail. */
		if (lstat(address, &sb) == 0 && S_ISSOCK(sb.st_mode))
			unlink(address);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			return -1;
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 || listen(fd, SERVE_BACKLOG) == -1 ||
		    (mode >= 0 && chmod(address, (mode_t)mode) == -1))
			goto fail;
		return fd;
	}
	/* HOST:PORT, [V6HOST]:PORT or :PORT (every address). */
	if ((colon = strrchr(address, ':')) == NULL || (size_t)(colon - address) >= sizeof(host) ||
	    parse_i64(colon + 1, 1, 65535, &port) == -1) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	if (host[0] == '[' && colon - address >= 2 && host[colon - address - 1] == ']') {
		memmove(host, host + 1, (size_t)(colon - address) - 2);
		host[colon - address - 2] = '\0';
	}
	if ((rc = getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &ai)) != 0) {
		errno = rc == EAI_SYSTEM ? errno : EINVAL;
		return -1;
	}
	if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, SERVE_BACKLOG) == -1)
		goto fail;
	freeaddrinfo(ai);
	return fd;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	errno = saved;
	return -1;
}
