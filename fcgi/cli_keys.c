/* cmdrelay key create | list | revoke: the operator issues and withdraws API
 * keys.  A token is printed once, on stdout alone, so that a script can
 * capture it; the database keeps only its SHA-256 (apikey.h). */
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "auth.h"
#include "cli.h"
#include "command_json.h"
#include "parse.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "validate.h"

/* --expires at most ten years: far enough for "never" to be said by leaving it out. */
#define KEY_EXPIRES_MAX_S (3650LL * 86400)

static void key_usage(FILE *out)
{
	fprintf(out,
	    "usage: cmdrelay [--db PATH] key create --scope SCOPE [--scope SCOPE ...] [--channels PATTERN]\n"
	    "                                  [--label TEXT] [--expires DURATION] [--json]\n"
	    "       cmdrelay [--db PATH] key list [--json]\n"
	    "       cmdrelay [--db PATH] key revoke ID [--json]\n"
	    "\n"
	    "SCOPE is publish, consume or admin (several with several --scope, or a comma list).\n"
	    "PATTERN is a comma-separated list of channel globs such as 'game-*,lobby' (default '*').\n"
	    "DURATION is a whole number with s, m, h or d, such as 30d.\n"
	    "create prints the token alone on stdout, once; the key's id and details go to stderr.\n");
}

static bool label_valid(const char *s)
{
	size_t len = strlen(s);

	if (len > KEY_LABEL_MAX || !utf8_valid(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* ["publish", "consume"] from the stored "publish,consume". */
static json_object *scopes_json(const char *scopes)
{
	json_object *list = json_object_new_array();
	const char *p = scopes;

	while (list != NULL && *p != '\0') {
		size_t len = strcspn(p, ",");

		json_object_array_add(list, json_object_new_string_len(p, (int)len));
		p += len + (p[len] == ',');
	}
	return list;
}


/* The JSON of a key: everything but its token, which is not kept. */
static json_object *key_json(const struct key_row *k)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(k->id));
	json_object_object_add(o, "label", json_object_new_string(k->label));
	json_object_object_add(o, "scopes", scopes_json(k->scopes));
	json_object_object_add(o, "channels", json_object_new_string(k->channels));
	json_object_object_add(o, "created_at", time_json(k->created_at));
	json_object_object_add(o, "expires_at", time_json(k->expires_at));
	json_object_object_add(o, "last_used_at", time_json(k->last_used_at));
	json_object_object_add(o, "revoked", json_object_new_boolean(k->revoked_at != 0));
	json_object_object_add(o, "revoked_at", time_json(k->revoked_at));
	return o;
}

static int key_create(struct settings *s, int argc, char **argv)
{
	const char *label = "", *channels_arg = "*", *expires_arg = NULL;
	char channels[KEY_CHANNELS_MAX + 1], scopes[KEY_SCOPES_SIZE], why[256], token[KEY_TOKEN_SIZE];
	char created_text[ISO8601_SIZE], expires_text[ISO8601_SIZE];
	unsigned char hash[KEY_HASH_LEN];
	unsigned bits = 0;
	int64_t now, expires_at = 0, seconds, id;
	struct store *st;
	enum store_rc rc;
	bool json = false;

	for (int i = 0; i < argc; i++) {
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (cli_common_option(s, argc, argv, &i, &json)) {
			continue;
		} else if (strcmp(argv[i], "--scope") == 0 && next != NULL) {
			unsigned b = key_scopes_parse(argv[++i]);

			if (b == 0)
				return cli_error(CLI_USAGE, "--scope must be publish, consume or admin, not '%s'", argv[i]);
			bits |= b;
		} else if (strcmp(argv[i], "--channels") == 0 && next != NULL) {
			channels_arg = argv[++i];
		} else if (strcmp(argv[i], "--label") == 0 && next != NULL) {
			label = argv[++i];
			if (!label_valid(label))
				return cli_error(CLI_USAGE, "--label must be UTF-8 text of at most %d bytes without control characters",
				    KEY_LABEL_MAX);
		} else if (strcmp(argv[i], "--expires") == 0 && next != NULL) {
			expires_arg = argv[++i];
			if (parse_duration(expires_arg, KEY_EXPIRES_MAX_S, &seconds) == -1)
				return cli_error(CLI_USAGE,
				    "--expires must be a whole number with s, m, h or d (such as 30d, at most 3650d), not '%s'",
				    expires_arg);
		} else {
			return cli_error(CLI_USAGE, "key create: unknown option or missing value: %s (see cmdrelay key --help)",
			    argv[i]);
		}
	}
	if (bits == 0)
		return cli_error(CLI_USAGE, "key create needs at least one --scope: publish, consume or admin");
	if (key_channels_normalize(channels_arg, channels, sizeof(channels), why, sizeof(why)) == -1)
		return cli_error(CLI_USAGE, "--channels: %s", why);
	if (key_token_new(token) == -1)
		return cli_error(CLI_FAILED, "cannot initialise libsodium to make a key");
	if (key_token_hash(token, hash) == -1) {
		explicit_bzero(token, sizeof(token));
		return cli_error(CLI_FAILED, "cannot compute SHA-256 with libsodium");
	}
	if ((st = cli_open(s)) == NULL) {
		explicit_bzero(token, sizeof(token));
		return CLI_FAILED;
	}
	now = time_now_ms();
	if (expires_arg != NULL)
		expires_at = now + seconds * 1000;
	key_scopes_format(bits, scopes);
	rc = store_key_insert(st, hash, sizeof(hash), label, scopes, channels, now, expires_at, &id);
	if (rc != STORE_OK) {
		cli_error(CLI_FAILED, "cannot store the key: %s (%s)", store_rc_name(rc), store_errmsg(st));
		store_close(st);
		explicit_bzero(token, sizeof(token));
		return CLI_FAILED;
	}
	store_close(st);
	if (json) {
		struct key_row k = { id, label, scopes, channels, now, expires_at, 0, 0 };
		json_object *o = key_json(&k);

		if (o != NULL)
			json_object_object_add(o, "token", json_object_new_string(token));
		explicit_bzero(token, sizeof(token));
		return cli_print_json(o);
	}
	/* The token alone on stdout, flushed before the details on stderr so
	 * that a terminal shows them in this order. */
	printf("%s\n", token);
	fflush(stdout);
	explicit_bzero(token, sizeof(token));
	fprintf(stderr, "created key %lld%s%s%s: scopes %s; channels %s; created %s; expires %s\n", (long long)id,
	    *label != '\0' ? " \"" : "", label, *label != '\0' ? "\"" : "", scopes, channels,
	    time_iso8601(now, created_text), expires_at != 0 ? time_iso8601(expires_at, expires_text) : "never");
	fprintf(stderr, "the token above is shown only this once: cmdrelay keeps only its SHA-256\n");
	return CLI_OK;
}

static int add_key_json(void *arg, const struct key_row *k)
{
	json_object *o = key_json(k);

	return o != NULL && json_object_array_add(arg, o) == 0 ? 0 : -1;
}

static int add_key_row(void *arg, const struct key_row *k)
{
	char created[ISO8601_SIZE], expires[ISO8601_SIZE], used[ISO8601_SIZE], revoked[ISO8601_SIZE], id[24];
	const char *cells[8];

	snprintf(id, sizeof(id), "%lld", (long long)k->id);
	cells[0] = id;
	cells[1] = *k->label != '\0' ? k->label : "-";
	cells[2] = k->scopes;
	cells[3] = k->channels;
	cells[4] = cli_time(k->created_at, created);
	cells[5] = k->expires_at != 0 ? time_iso8601(k->expires_at, expires) : "never";
	cells[6] = k->last_used_at != 0 ? time_iso8601(k->last_used_at, used) : "never";
	cells[7] = k->revoked_at != 0 ? time_iso8601(k->revoked_at, revoked) : "no";
	cli_table_row(arg, cells);
	return 0;
}

static int key_list(struct settings *s, int argc, char **argv)
{
	static const char *const header[8] = { "ID", "LABEL", "SCOPES", "CHANNELS", "CREATED", "EXPIRES", "LAST USED",
		"REVOKED" };
	struct cli_table table;
	json_object *list = NULL;
	struct store *st;
	enum store_rc rc;
	bool json = false;

	for (int i = 0; i < argc; i++)
		if (!cli_common_option(s, argc, argv, &i, &json))
			return cli_error(CLI_USAGE, "key list: unknown option or missing value: %s", argv[i]);
	if ((st = cli_open(s)) == NULL)
		return CLI_FAILED;
	cli_table_init(&table, 8);
	if (json) {
		if ((list = json_object_new_array()) == NULL) {
			store_close(st);
			return cli_error(CLI_FAILED, "out of memory");
		}
		rc = store_keys_list(st, add_key_json, list);
	} else {
		cli_table_row(&table, header);
		rc = store_keys_list(st, add_key_row, &table);
	}
	if (rc != STORE_OK) {
		cli_error(CLI_FAILED, "cannot list keys: %s (%s)", store_rc_name(rc), store_errmsg(st));
		store_close(st);
		json_object_put(list);
		cli_table_free(&table);
		return CLI_FAILED;
	}
	store_close(st);
	return cli_print_listing(json, "keys", list, &table, "no keys yet; make one with: cmdrelay key create --scope publish");
}

static int keep_row(void *arg, const struct key_row *k)
{
	json_object **o = arg;

	*o = key_json(k);
	return *o == NULL ? -1 : 0;
}

static int key_revoke(struct settings *s, int argc, char **argv)
{
	const char *id_arg = NULL;
	json_object *o = NULL;
	struct store *st;
	enum store_rc rc;
	int64_t id;
	int newly;
	bool json = false;

	for (int i = 0; i < argc; i++) {
		if (cli_common_option(s, argc, argv, &i, &json))
			continue;
		if (argv[i][0] == '-' || id_arg != NULL)
			return cli_error(CLI_USAGE, "key revoke: unknown option or extra argument: %s", argv[i]);
		id_arg = argv[i];
	}
	if (id_arg == NULL)
		return cli_error(CLI_USAGE, "key revoke needs the ID of a key (see cmdrelay key list)");
	if (parse_i64(id_arg, 1, INT64_MAX, &id) == -1)
		return cli_error(CLI_USAGE, "key revoke: the ID is a whole number (see cmdrelay key list), not '%s'", id_arg);
	if ((st = cli_open(s)) == NULL)
		return CLI_FAILED;
	if ((rc = store_key_revoke(st, id, time_now_ms(), &newly)) == STORE_OK)
		rc = store_key_get(st, id, keep_row, &o);
	if (rc != STORE_OK) {
		if (rc == STORE_NOT_FOUND)
			cli_error(CLI_FAILED, "no key %lld (see cmdrelay key list)", (long long)id);
		else
			cli_error(CLI_FAILED, "cannot revoke key %lld: %s (%s)", (long long)id, store_rc_name(rc),
			    store_errmsg(st));
		store_close(st);
		json_object_put(o);
		return CLI_FAILED;
	}
	store_close(st);
	if (json)
		return cli_print_json(o);
	json_object_put(o);
	if (newly)
		printf("revoked key %lld; every relay process refuses it within %d s\n", (long long)id,
		    (AUTH_CACHE_MS + 999) / 1000);
	else
		printf("key %lld was already revoked\n", (long long)id);
	return CLI_OK;
}

int cli_key(struct settings *s, int argc, char **argv)
{
	if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0) {
		key_usage(argc == 0 ? stderr : stdout);
		return argc == 0 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[0], "create") == 0)
		return key_create(s, argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return key_list(s, argc - 1, argv + 1);
	if (strcmp(argv[0], "revoke") == 0)
		return key_revoke(s, argc - 1, argv + 1);
	return cli_error(CLI_USAGE, "unknown key command '%s': create, list or revoke (see cmdrelay key --help)", argv[0]);
}
