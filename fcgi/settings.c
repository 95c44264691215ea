#include "settings.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : fallback;
}

int settings_from_env(struct settings *cfg, char *why, size_t why_size)
{
	const char *v;
	int64_t n;

	cfg->body_limit = CONFIG_DEFAULT_BODY_LIMIT;
	cfg->tutorial_channel = env_or("CMDRELAY_TUTORIAL_CHANNEL", CONFIG_DEFAULT_TUTORIAL_CHANNEL);
	cfg->channel_limit = CONFIG_DEFAULT_CHANNEL_LIMIT;
	cfg->tutorial_open = false;
	if ((v = getenv("CMDRELAY_BODY_LIMIT")) != NULL) {
		if (parse_i64(v, 1024, 64 * 1024 * 1024, &n) == -1) {
			snprintf(why, why_size, "CMDRELAY_BODY_LIMIT must be a byte count from 1024 to 67108864");
			return -1;
		}
		cfg->body_limit = (size_t)n;
	}
	if ((v = getenv("CMDRELAY_CHANNEL_LIMIT")) != NULL) {
		if (parse_i64(v, 1, 100000000, &n) == -1) {
			snprintf(why, why_size, "CMDRELAY_CHANNEL_LIMIT must be a whole number from 1 to 100000000");
			return -1;
		}
		cfg->channel_limit = (long)n;
	}
	cfg->retention_ms = (int64_t)CONFIG_DEFAULT_RETENTION_S * 1000;
	if ((v = getenv("CMDRELAY_RETENTION")) != NULL) {
		if (parse_i64(v, 0, 365LL * 86400, &n) == -1) {
			snprintf(why, why_size, "CMDRELAY_RETENTION must be seconds from 0 to 31536000");
			return -1;
		}
		cfg->retention_ms = n * 1000;
	}
	cfg->threads = CONFIG_DEFAULT_THREADS;
	cfg->max_threads = CONFIG_DEFAULT_MAX_THREADS;
	if ((v = getenv("CMDRELAY_THREADS")) != NULL) {
		if (parse_i64(v, 1, CONFIG_THREADS_LIMIT, &n) == -1) {
			snprintf(why, why_size, "CMDRELAY_THREADS must be a whole number from 1 to %d", CONFIG_THREADS_LIMIT);
			return -1;
		}
		cfg->threads = (int)n;
	}
	if ((v = getenv("CMDRELAY_MAX_THREADS")) != NULL) {
		if (parse_i64(v, 1, CONFIG_THREADS_LIMIT, &n) == -1) {
			snprintf(why, why_size, "CMDRELAY_MAX_THREADS must be a whole number from 1 to %d", CONFIG_THREADS_LIMIT);
			return -1;
		}
		cfg->max_threads = (int)n;
	}
	cfg->sync_full = false;
	if ((v = getenv("CMDRELAY_SYNC")) != NULL) {
		if (strcmp(v, "full") == 0 || strcmp(v, "FULL") == 0) {
			cfg->sync_full = true;
		} else if (strcmp(v, "normal") != 0 && strcmp(v, "NORMAL") != 0) {
			snprintf(why, why_size, "CMDRELAY_SYNC must be normal or full");
			return -1;
		}
	}
	if ((v = getenv("CMDRELAY_TUTORIAL_OPEN")) != NULL)
		cfg->tutorial_open = v[0] == '1' && v[1] == '\0';
	return 0;
}
