/* Runs a CGI program N times the way a web server does (a fresh process with
 * a CGI environment, output read from a pipe) and prints the mean and p99
 * wall time per request in microseconds.  Usage: cgi_spawn N PROGRAM [ENV...] */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0;
	double *t, sum = 0;
	char *child_argv[] = { argv[2], NULL };

	if (n <= 0) {
		fprintf(stderr, "usage: cgi_spawn N PROGRAM [NAME=VALUE...]\n");
		return 2;
	}
	t = calloc((size_t)n, sizeof(*t));
	for (int i = 0; i < n; i++) {
		posix_spawn_file_actions_t fa;
		int out[2], status;
		char buf[4096];
		pid_t pid;
		double start = now_us();

		if (pipe(out) == -1)
			return 1;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, out[1], 1);
		posix_spawn_file_actions_addclose(&fa, out[0]);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
		if (posix_spawn(&pid, argv[2], &fa, NULL, child_argv, argv + 3) != 0) {
			perror("posix_spawn");
			return 1;
		}
		close(out[1]);
		while (read(out[0], buf, sizeof(buf)) > 0)
			;
		close(out[0]);
		waitpid(pid, &status, 0);
		t[i] = now_us() - start;
		sum += t[i];
		posix_spawn_file_actions_destroy(&fa);
		if (i == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
			fprintf(stderr, "%s failed\n", argv[2]);
			return 1;
		}
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%.1f %.1f\n", sum / n, t[(int)(n * 0.99)]);
	return 0;
}
