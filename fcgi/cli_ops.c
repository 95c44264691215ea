/* cmdrelay channels | commands | purge: what an operator looks at and
 * tidies without going through the web server. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "command_json.h"
#include "parse.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "validate.h"

#define COMMANDS_DEFAULT_LIMIT 100
#define COMMANDS_MAX_LIMIT 100000
/* Bytes of a command's data shown in a table row. */
#define DATA_PREVIEW 40

static int add_channel_row(void *arg, const struct channel_depth *c)
{
	char n[4][24], oldest[ISO8601_SIZE];
	const char *cells[6] = { c->name, n[0], n[1], n[2], n[3], cli_time(c->oldest_pending_at, oldest) };

	snprintf(n[0], sizeof(n[0]), "%lld", (long long)c->pending);
	snprintf(n[1], sizeof(n[1]), "%lld", (long long)c->leased);
	snprintf(n[2], sizeof(n[2]), "%lld", (long long)c->done);
	snprintf(n[3], sizeof(n[3]), "%lld", (long long)c->dead);
	cli_table_row(arg, cells);
	return 0;
}

int cli_channels(struct settings *s, int argc, char **argv)
{
	static const char *const header[6] = { "CHANNEL", "PENDING", "LEASED", "DONE", "DEAD", "OLDEST PENDING" };
	struct cli_table table;
	json_object *list = NULL;
	struct store *st;
	enum store_rc rc;
	bool json = false;

	for (int i = 0; i < argc; i++)
		if (!cli_common_option(s, argc, argv, &i, &json))
			return cli_error(CLI_USAGE, "channels: unknown option or missing value: %s", argv[i]);
	if ((st = cli_open(s)) == NULL)
		return CLI_FAILED;
	cli_table_init(&table, 6);
	if (json) {
		if ((list = json_object_new_array()) == NULL) {
			store_close(st);
			return cli_error(CLI_FAILED, "out of memory");
		}
		rc = store_channels(st, time_now_ms(), channel_depth_json_append, list);
	} else {
		cli_table_row(&table, header);
		rc = store_channels(st, time_now_ms(), add_channel_row, &table);
	}
	if (rc != STORE_OK) {
		cli_error(CLI_FAILED, "cannot list channels: %s (%s)", store_rc_name(rc), store_errmsg(st));
		store_close(st);
		json_object_put(list);
		cli_table_free(&table);
		return CLI_FAILED;
	}
	store_close(st);
	return cli_print_listing(json, "channels", list, &table, "no channel holds any command");
}

/* The first DATA_PREVIEW bytes of text, cut at a character boundary, with
 * "..." when there was more. */
static const char *preview(const char *text, size_t len, char out[DATA_PREVIEW + 4])
{
	size_t n = 0, step;

	if (text == NULL)
		return "-";
	while (n < len && (step = utf8_sequence_len(text + n, len - n)) != 0 && n + step <= DATA_PREVIEW)
		n += step;
	memcpy(out, text, n);
	strcpy(out + n, n < len ? "..." : "");
	return out;
}

static int add_command_row(void *arg, const struct command_row *row)
{
	char id[24], attempts[48], created[ISO8601_SIZE], expires[ISO8601_SIZE], data[DATA_PREVIEW + 4];
	const char *cells[9];

	snprintf(id, sizeof(id), "%lld", (long long)row->id);
	if (strcmp(row->mode, "queue") == 0)
		snprintf(attempts, sizeof(attempts), "%lld/%lld", (long long)row->attempts, (long long)row->max_attempts);
	else
		snprintf(attempts, sizeof(attempts), "-");
	cells[0] = id;
	cells[1] = row->state;
	cells[2] = row->mode;
	cells[3] = row->name;
	cells[4] = attempts;
	cells[5] = cli_time(row->created_at, created);
	cells[6] = row->expires_at != 0 ? time_iso8601(row->expires_at, expires) : "never";
	cells[7] = row->target;
	cells[8] = preview(row->data, row->data_len, data);
	cli_table_row(arg, cells);
	return 0;
}

int cli_commands(struct settings *s, int argc, char **argv)
{
	static const char *const header[9] = { "ID", "STATE", "MODE", "NAME", "ATTEMPTS", "CREATED", "EXPIRES",
		"TARGET", "DATA" };
	const char *channel = NULL, *state = NULL;
	int64_t limit = COMMANDS_DEFAULT_LIMIT;
	struct cli_table table;
	char empty[200];
	struct command_list commands;
	struct store *st;
	enum store_rc rc;
	bool json = false;

	for (int i = 0; i < argc; i++) {
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (cli_common_option(s, argc, argv, &i, &json)) {
			continue;
		} else if (strcmp(argv[i], "--state") == 0 && next != NULL) {
			state = argv[++i];
			if (strcmp(state, "pending") != 0 && strcmp(state, "leased") != 0 && strcmp(state, "done") != 0 &&
			    strcmp(state, "dead") != 0)
				return cli_error(CLI_USAGE, "--state must be pending, leased, done or dead, not '%s'", state);
		} else if (strcmp(argv[i], "--limit") == 0 && next != NULL) {
			if (parse_i64(argv[++i], 1, COMMANDS_MAX_LIMIT, &limit) == -1)
				return cli_error(CLI_USAGE, "--limit must be a whole number from 1 to %d, not '%s'",
				    COMMANDS_MAX_LIMIT, argv[i]);
		} else if (argv[i][0] != '-' && channel == NULL) {
			channel = argv[i];
		} else {
			return cli_error(CLI_USAGE, "commands: unknown option, missing value or extra argument: %s", argv[i]);
		}
	}
	if (channel == NULL)
		return cli_error(CLI_USAGE,
		    "usage: cmdrelay commands CHANNEL [--state pending|leased|done|dead] [--limit N] [--json]");
	if (!channel_valid(channel))
		return cli_error(CLI_USAGE, "channel name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, not '%s'", channel);
	if ((st = cli_open(s)) == NULL)
		return CLI_FAILED;
	cli_table_init(&table, 9);
	command_list_init(&commands, 0);
	if (json) {
		rc = store_channel_commands(st, channel, state, time_now_ms(), (long)limit, command_list_add, &commands);
	} else {
		cli_table_row(&table, header);
		rc = store_channel_commands(st, channel, state, time_now_ms(), (long)limit, add_command_row, &table);
	}
	if (rc != STORE_OK) {
		cli_error(CLI_FAILED, "cannot list commands: %s (%s)", store_rc_name(rc), store_errmsg(st));
		store_close(st);
		command_list_free(&commands);
		cli_table_free(&table);
		return CLI_FAILED;
	}
	store_close(st);
	snprintf(empty, sizeof(empty), "no %s%scommands in channel %s", state != NULL ? state : "",
	    state != NULL ? " " : "", channel);
	if (!json && table.rows - 1 == (size_t)limit)
		fprintf(stderr, "showing the oldest %lld; more with --limit\n", (long long)limit);
	return cli_print_listing(json, "commands", json ? command_list_take(&commands) : NULL, &table, empty);
}

int cli_purge(struct settings *s, int argc, char **argv)
{
	int64_t expired, finished;
	struct store *st;
	enum store_rc rc;
	json_object *o;
	bool json = false;

	for (int i = 0; i < argc; i++)
		if (!cli_common_option(s, argc, argv, &i, &json))
			return cli_error(CLI_USAGE, "purge: unknown option or missing value: %s", argv[i]);
	if ((st = cli_open(s)) == NULL)
		return CLI_FAILED;
	rc = store_sweep(st, time_now_ms(), s->retention_ms, &expired, &finished);
	if (rc != STORE_OK) {
		cli_error(CLI_FAILED, "cannot purge: %s (%s)", store_rc_name(rc), store_errmsg(st));
		store_close(st);
		return CLI_FAILED;
	}
	store_close(st);
	if (json) {
		if ((o = json_object_new_object()) != NULL) {
			json_object_object_add(o, "expired", json_object_new_int64(expired));
			json_object_object_add(o, "finished", json_object_new_int64(finished));
			json_object_object_add(o, "retention_s", json_object_new_int64(s->retention_ms / 1000));
		}
		return cli_print_json(o);
	}
	printf("removed %lld expired command%s and %lld done or dead command%s finished over %lld s ago\n",
	    (long long)expired, expired == 1 ? "" : "s", (long long)finished, finished == 1 ? "" : "s",
	    (long long)(s->retention_ms / 1000));
	return CLI_OK;
}
