#include "serve.h"

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "log.h"
#include "settings.h"
#include "store_pool.h"

struct server {
	const struct settings *settings;
	int fd;
	/* libfcgi's accept is not safe to enter from several threads at once. */
	pthread_mutex_t accept_lock;
};

static void *worker(void *arg)
{
	struct server *srv = arg;
	FCGX_Request request;
	struct conn c;

	if (FCGX_InitRequest(&request, srv->fd, 0) != 0)
		return NULL;
	for (;;) {
		int rc;

		pthread_mutex_lock(&srv->accept_lock);
		rc = FCGX_Accept_r(&request);
		pthread_mutex_unlock(&srv->accept_lock);
		if (rc < 0)
			break;
		conn_init_fcgi(&c, &request);
		app_handle(srv->settings, &c);
		FCGX_Finish_r(&request);
	}
	FCGX_Free(&request, 1);
	return NULL;
}

int serve_fastcgi(const struct settings *s, int fd, int threads)
{
	struct server srv = { .settings = s, .fd = fd };
	pthread_t *tids;
	sigset_t stop_signals;
	int started = 0, sig;

	if (FCGX_Init() != 0) {
		fprintf(stderr, "cmdrelay: cannot initialise libfcgi\n");
		return 1;
	}
	if ((tids = calloc((size_t)threads, sizeof(*tids))) == NULL) {
		fprintf(stderr, "cmdrelay: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&srv.accept_lock, NULL);
	/* Workers inherit a mask that blocks the stop signals; only the main
	 * thread takes them, with sigwait, so no handler runs inside a request. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	store_pool_set_max(threads);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&tids[i], NULL, worker, &srv) != 0)
			break;
		started++;
	}
	if (started == 0) {
		fprintf(stderr, "cmdrelay: cannot start worker threads\n");
		free(tids);
		return 1;
	}
	log_msg("serving FastCGI with %d threads", started);
	while (sigwait(&stop_signals, &sig) != 0)
		;
	log_msg("signal %d: finishing requests in flight", sig);
	FCGX_ShutdownPending();
	/* Wakes every thread blocked in accept(); requests being served go on. */
	shutdown(fd, SHUT_RDWR);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	store_pool_shutdown();
	log_msg("stopped");
	return 0;
}

int serve_cgi(const struct settings *s)
{
	extern char **environ;
	struct conn c;

	conn_init_cgi(&c, environ);
	app_handle(s, &c);
	fflush(stdout);
	store_pool_shutdown();
	return 0;
}

int serve_listen(const char *address, int mode)
{
	int fd;

	if (address[0] == '/' || address[0] == '.') {
		/* A socket file left by a previous run would make bind() fail. */
		struct stat sb;

		if (lstat(address, &sb) == 0 && S_ISSOCK(sb.st_mode))
			unlink(address);
	}
	if ((fd = FCGX_OpenSocket(address, 1024)) < 0)
		return -1;
	if ((address[0] == '/' || address[0] == '.') && mode >= 0 && chmod(address, (mode_t)mode) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
