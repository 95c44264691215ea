/* Settings of one relay process, fixed at start-up. */
#ifndef CMDRELAY_SETTINGS_H
#define CMDRELAY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_BODY_LIMIT (64 * 1024)
#define CONFIG_DEFAULT_TUTORIAL_CHANNEL "default"
#define CONFIG_DEFAULT_CHANNEL_LIMIT 10000
#define CONFIG_DEFAULT_RETENTION_S 86400
#define CONFIG_DEFAULT_THREADS 16
#define CONFIG_DEFAULT_MAX_THREADS 1100
#define CONFIG_THREADS_LIMIT 4096

struct settings {
	const char *db_path;          /* --db, else CMDRELAY_DB, else the built-in default */
	size_t body_limit;            /* CMDRELAY_BODY_LIMIT bytes */
	const char *tutorial_channel; /* CMDRELAY_TUTORIAL_CHANNEL */
	long channel_limit;           /* CMDRELAY_CHANNEL_LIMIT live commands per channel */
	int64_t retention_ms;         /* CMDRELAY_RETENTION seconds: done and dead commands are kept this long */
	int threads;                  /* CMDRELAY_THREADS: FastCGI threads (serve --threads overrides) */
	int max_threads;              /* CMDRELAY_MAX_THREADS: the most while long polls hold some */
	bool sync_full;               /* CMDRELAY_SYNC=full: every commit synced to disk */
	bool tutorial_open;           /* CMDRELAY_TUTORIAL_OPEN=1: tutorial endpoints without a key */
};

/* Fills cfg from the environment and built-in defaults; db_path is left to the caller.
 * Returns 0, or -1 with a one-line reason in why. */
int settings_from_env(struct settings *cfg, char *why, size_t why_size);

#endif
