/* The FastCGI floor: a libfcgi responder that answers a fixed JSON body, with
 * the same threading as cmdrelay serve.  Nothing any FastCGI program does can
 * be cheaper, so cmdrelay's figures are reported as ratios to this one's. */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int listen_fd;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	static const char reply[] = "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n"
	                            "{\"commands\":[],\"cursor\":0,\"x\":null}\n";
	FCGX_Request r;

	(void)arg;
	FCGX_InitRequest(&r, listen_fd, 0);
	for (;;) {
		int rc;
		char buf[4096];

		pthread_mutex_lock(&accept_lock);
		rc = FCGX_Accept_r(&r);
		pthread_mutex_unlock(&accept_lock);
		if (rc < 0)
			break;
		/* Read the body as a real responder must. */
		while (FCGX_GetStr(buf, sizeof(buf), r.in) > 0)
			;
		FCGX_PutStr(reply, (int)sizeof(reply) - 1, r.out);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 16;
	pthread_t tid;

	if (argc < 2) {
		fprintf(stderr, "usage: floor_fcgi SOCKET [THREADS]\n");
		return 2;
	}
	FCGX_Init();
	if ((listen_fd = FCGX_OpenSocket(argv[1], 1024)) < 0) {
		perror("FCGX_OpenSocket");
		return 1;
	}
	for (int i = 1; i < threads; i++)
		pthread_create(&tid, NULL, worker, NULL);
	worker(NULL);
	return 0;
}
