/* cmdrelay: a durable command relay for programs that can only poll, such as
 * Roblox game servers.  main() reads top to bottom: options, then what was
 * asked for -- a subcommand, or serving the requests a web server hands over. */
#include <config.h>

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth.h"
#include "cli.h"
#include "log.h"
#include "parse.h"
#include "serve.h"
#include "settings.h"
#include "store.h"

#ifndef CMDRELAY_DEFAULT_DB
#define CMDRELAY_DEFAULT_DB "/var/lib/cmdrelay/cmdrelay.db"
#endif

static void usage(FILE *out)
{
	fprintf(out,
	    "usage: cmdrelay [--db PATH] [COMMAND [OPTIONS]]\n"
	    "\n"
	    "Without a command, cmdrelay serves the requests of the web server that started it:\n"
	    "FastCGI when standard input is a listening socket (spawn-fcgi, mod_fcgid, systemd),\n"
	    "CGI when GATEWAY_INTERFACE is set.\n"
	    "\n"
	    "commands:\n"
	    "  serve --listen ADDR [--threads N] [--max-threads M] [--socket-mode MODE]\n"
	    "                 serve FastCGI on ADDR (a unix socket path, HOST:PORT or :PORT)\n"
	    "                 with N threads (default %d), growing to M (default %d) while\n"
	    "                 long polls are held; SIGTERM or SIGINT stops it\n"
	    "  init           create or migrate the database, then exit\n"
	    "  key create --scope SCOPE [--scope SCOPE ...] [--channels PATTERN] [--label TEXT]\n"
	    "             [--expires DURATION]\n"
	    "                 issue an API key (publish, consume, admin); prints the token once\n"
	    "  key list       list keys (never their tokens)\n"
	    "  key revoke ID  withdraw a key\n"
	    "  channels       depths of every channel, as GET /v1/channels\n"
	    "  commands CHANNEL [--state STATE] [--limit N]\n"
	    "                 the commands of a channel\n"
	    "  purge          delete expired commands, and done or dead ones past retention\n"
	    "                 (the operator's commands print JSON with --json)\n"
	    "\n"
	    "options:\n"
	    "  --db PATH      the database (default: $CMDRELAY_DB, else %s)\n"
	    "  --help         show this help\n"
	    "  --version      show the version\n"
	    "\n"
	    "environment: CMDRELAY_DB, CMDRELAY_BODY_LIMIT (bytes, default %d),\n"
	    "CMDRELAY_TUTORIAL_CHANNEL (default \"%s\"), CMDRELAY_CHANNEL_LIMIT (default %d),\n"
	    "CMDRELAY_TUTORIAL_OPEN=1 (the tutorial's endpoints without an API key: trusted networks only),\n"
	    "CMDRELAY_SYNC=normal|full (full: every commit synced to disk before it is answered),\n"
	    "CMDRELAY_RETENTION (seconds done and dead commands are kept, default %d),\n"
	    "CMDRELAY_THREADS and CMDRELAY_MAX_THREADS (when started by a web server or systemd)\n",
	    SERVE_DEFAULT_THREADS, SERVE_DEFAULT_MAX_THREADS, CMDRELAY_DEFAULT_DB, CONFIG_DEFAULT_BODY_LIMIT, CONFIG_DEFAULT_TUTORIAL_CHANNEL,
	    CONFIG_DEFAULT_CHANNEL_LIMIT, CONFIG_DEFAULT_RETENTION_S);
}

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "cmdrelay: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

/* Opens the database once at start-up, so that a missing directory or an
 * unwritable file is one clear line now rather than a 503 later. */
static int check_database(const char *path, int quiet)
{
	char why[512];
	struct store *st = store_open(path, why, sizeof(why));

	if (st == NULL) {
		fprintf(stderr, "cmdrelay: %s\n", why);
		return 1;
	}
	if (!quiet)
		printf("database %s is at schema version %d\n", path, store_schema_version(st));
	store_close(st);
	return 0;
}

/* Blocks SIGTERM and SIGINT before FCGX_Init() installs libfcgi's own
 * SIGTERM handler.  A stop signal that came between that and the moment
 * serve_fastcgi() blocks it would be taken by the handler: the workers would
 * leave, and the main thread would wait for a signal that had come and gone.
 * Blocked, it stays pending until serve_fastcgi() takes it with sigwait. */
static int stdin_is_listening_socket(void)
{
	int listening = 0;
	socklen_t len = sizeof(listening);

	return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

static int cmd_serve(struct settings *s, int argc, char **argv)
{
	const char *listen_addr = NULL;
	int64_t threads = s->threads, max_threads = s->max_threads, mode = -1;
	sigset_t stop_signals;
	int fd;

	for (int i = 0; i < argc; i++) {
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--listen") == 0 && next != NULL) {
			listen_addr = argv[++i];
		} else if (strcmp(argv[i], "--threads") == 0 && next != NULL) {
			if (parse_i64(argv[++i], 1, SERVE_MAX_THREADS, &threads) == -1)
				return fail("--threads must be a whole number from 1 to 4096, not '%s'", argv[i]);
		} else if (strcmp(argv[i], "--max-threads") == 0 && next != NULL) {
			if (parse_i64(argv[++i], 1, SERVE_MAX_THREADS, &max_threads) == -1)
				return fail("--max-threads must be a whole number from 1 to 4096, not '%s'", argv[i]);
		} else if (strcmp(argv[i], "--socket-mode") == 0 && next != NULL) {
			char *end;

			errno = 0;
			mode = strtol(argv[++i], &end, 8);
			if (errno != 0 || *end != '\0' || mode < 0 || mode > 0777)
				return fail("--socket-mode must be an octal mode such as 0660, not '%s'", argv[i]);
		} else if (strcmp(argv[i], "--db") == 0 && next != NULL) {
			s->db_path = argv[++i];
		} else {
			return fail("serve: unknown option or missing value: %s", argv[i]);
		}
	}
	if (listen_addr == NULL)
		return fail("serve needs --listen ADDR (a unix socket path or HOST:PORT)%s", "");
	serve_block_stop_signals(&stop_signals);
	if (check_database(s->db_path, 1) != 0)
		return 1;
	if (FCGX_Init() != 0 || (fd = serve_listen(listen_addr, (int)mode)) < 0) {
		fprintf(stderr, "cmdrelay: cannot listen on %s: %s\n", listen_addr, strerror(errno));
		return 1;
	}
	auth_log_settings(s);
	return serve_fastcgi(s, fd, (int)threads, (int)max_threads);
}

int main(int argc, char **argv)
{
	struct settings s;
	char why[256];
	const char *env_db = getenv("CMDRELAY_DB");
	int i;

	if (store_library_init() != 0) {
		fprintf(stderr, "cmdrelay: cannot configure SQLite\n");
		return 1;
	}
	if (settings_from_env(&s, why, sizeof(why)) == -1) {
		fprintf(stderr, "cmdrelay: %s\n", why);
		return 2;
	}
	s.db_path = env_db != NULL && *env_db != '\0' ? env_db : CMDRELAY_DEFAULT_DB;
	store_set_synchronous_full(s.sync_full);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("cmdrelay %s (schema %d)\n", PACKAGE_VERSION, store_schema_latest());
			return 0;
		} else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			s.db_path = argv[++i];
		} else {
			fprintf(stderr, "cmdrelay: unknown option or missing value: %s (see cmdrelay --help)\n", argv[i]);
			return 2;
		}
	}
	if (i < argc) {
		const char *cmd = argv[i];

		if (strcmp(cmd, "serve") == 0)
			return cmd_serve(&s, argc - i - 1, argv + i + 1);
		if (strcmp(cmd, "init") == 0) {
			if (i + 1 < argc)
				return fail("init takes no arguments: %s", argv[i + 1]);
			return check_database(s.db_path, 0);
		}
		if (strcmp(cmd, "key") == 0)
			return cli_key(&s, argc - i - 1, argv + i + 1);
		if (strcmp(cmd, "channels") == 0)
			return cli_channels(&s, argc - i - 1, argv + i + 1);
		if (strcmp(cmd, "commands") == 0)
			return cli_commands(&s, argc - i - 1, argv + i + 1);
		if (strcmp(cmd, "purge") == 0)
			return cli_purge(&s, argc - i - 1, argv + i + 1);
		if (strcmp(cmd, "help") == 0) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "cmdrelay: unknown command '%s' (see cmdrelay --help)\n", cmd);
		return 2;
	}
	if (stdin_is_listening_socket()) {
		sigset_t stop_signals;

		serve_block_stop_signals(&stop_signals);
		if (check_database(s.db_path, 1) != 0)
			return 1;
		if (FCGX_Init() != 0)
			return 1;
		auth_log_settings(&s);
		return serve_fastcgi(&s, 0, s.threads, s.max_threads);
	}
	if (getenv("GATEWAY_INTERFACE") != NULL)
		return serve_cgi(&s);
	fprintf(stderr, "cmdrelay: no command given and not started by a web server (see cmdrelay --help)\n");
	return 2;
}
