/* libFuzzer target: one whole request through app_handle(), the way a
 * FastCGI request arrives -- parameters, path and query decoding, routing,
 * the body read against CONTENT_LENGTH, every handler, and a real SQLite
 * store in a temporary directory -- through a fake struct conn.
 *
 * Input: "NAME=VALUE" lines up to the first empty line are the parameters
 * the web server would pass (REQUEST_METHOD, DOCUMENT_URI, REQUEST_URI,
 * QUERY_STRING, CONTENT_TYPE, HTTP_*...); everything after it is the body.
 * CONTENT_LENGTH defaults to the body's length; a larger one is a client
 * that hung up early.  Without HTTP_AUTHORIZATION or HTTP_X_API_KEY the
 * request carries the admin key (as the black-box harness does); the keys
 * below are in fuzz.dict, so the fuzzer also tries narrower ones and none.
 *
 * Besides crashes it checks what the relay promises any client: a Status
 * line, a Content-Length that matches, a JSON object body, an error body
 * {"error": {"code", "message"}} for every 4xx, and never a 5xx. */
#include <json-c/json.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apikey.h"
#include "app.h"
#include "conn.h"
#include "json_body.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "waiters.h"

#define MAX_PARAMS 61 /* and CONTENT_LENGTH, the key and NULL */
#define MAX_OUTPUT (8 * 1024 * 1024)
/* Every so many inputs the tables are emptied, so a long run's database stays small. */
#define WIPE_EVERY 2000

static struct settings cfg;
static int verbose;

/* Keys made at start: an admin, a publisher limited to game-*, a consumer. */
static const struct {
	const char *token, *scopes, *channels;
} keys[] = {
	{ "crk_fuzzADMINfuzzADMINfuzzADMINfuzzADMINfuzzADM", "admin", "*" },
	{ "crk_fuzzPUBLISHgamefuzzPUBLISHgamefuzzPUBLISHga", "publish", "game-*" },
	{ "crk_fuzzCONSUMEfuzzCONSUMEfuzzCONSUMEfuzzCONSUM", "consume", "*" },
};
static char dir[64], db_path[96];

struct fake {
	const uint8_t *body;
	size_t len, pos;
	char *out;
	size_t out_len, out_cap;
};

static int fake_read(struct conn *c, char *buf, int len)
{
	struct fake *f = c->in;
	/* Odd-sized pieces, as a socket hands them over. */
	size_t n = f->len - f->pos, piece = 1 + (f->pos * 7 + 3) % 1021;

	if (n > (size_t)len)
		n = (size_t)len;
	if (n > piece)
		n = piece;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (int)n;
}

static int fake_write(struct conn *c, const char *buf, int len)
{
	struct fake *f = c->out;

	if (len < 0 || f->out_len + (size_t)len > MAX_OUTPUT)
		return -1;
	if (f->out_len + (size_t)len > f->out_cap) {
		size_t cap = (f->out_len + (size_t)len) * 2;
		char *grown = realloc(f->out, cap);

		if (grown == NULL)
			return -1;
		f->out = grown;
		f->out_cap = cap;
	}
	memcpy(f->out + f->out_len, buf, (size_t)len);
	f->out_len += (size_t)len;
	return 0;
}

static void remove_db(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char path[128];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db_path, suffixes[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void wipe_db(void)
{
	sqlite3 *db;

	if (sqlite3_open(db_path, &db) == SQLITE_OK)
		sqlite3_exec(db, "DELETE FROM commands; DELETE FROM consumers", NULL, NULL, NULL);
	sqlite3_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char why[256];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/fuzz-request-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(db_path, sizeof(db_path), "%s/fuzz.db", dir);
	atexit(remove_db);
	if (settings_from_env(&cfg, why, sizeof(why)) == -1) {
		fprintf(stderr, "%s\n", why);
		abort();
	}
	cfg.db_path = db_path;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	{
		struct store *st = store_open(db_path, why, sizeof(why));

		if (st == NULL) {
			fprintf(stderr, "fuzz_request: %s\n", why);
			abort();
		}
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			unsigned char hash[KEY_HASH_LEN];
			int64_t id;

			if (key_token_hash(keys[k].token, hash) != 0 ||
			    store_key_insert(st, hash, sizeof(hash), "fuzz", keys[k].scopes, keys[k].channels, time_now_ms(), 0,
			        &id) != STORE_OK) {
				fprintf(stderr, "fuzz_request: cannot store the fuzzer's keys\n");
				abort();
			}
		}
		store_close(st);
	}
	cfg.tutorial_open = true;
	/* A small limit reaches the 429 path; retention 0 lets the sweep delete finished commands. */
	cfg.channel_limit = 20;
	cfg.retention_ms = 0;
	/* As at shutdown: a long poll looks once more and answers at once instead of holding the fuzzer. */
	waiters_shutdown();
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

__attribute__((noreturn)) static void fail(const char *what, const struct fake *f)
{
	fprintf(stderr, "fuzz_request: %s; the reply was:\n%.*s\n", what, (int)(f->out_len < 4000 ? f->out_len : 4000),
	    f->out != NULL ? f->out : "");
	abort();
}

/* Checks the reply against what every client is promised. */
static void check_reply(struct fake *f)
{
	char *head_end, *p;
	int status;
	size_t head_len, body_len;
	long long content_length = -1;
	int is_json = 0;

	if (f->out_len == 0)
		fail("no reply at all", f);
	/* A NUL after the reply, for the string functions below. */
	if (fake_write(&(struct conn){ .out = f }, "", 1) == -1)
		fail("no room for the reply", f);
	f->out_len--;
	if (strncmp(f->out, "Status: ", 8) != 0 || sscanf(f->out + 8, "%3d", &status) != 1)
		fail("no Status line first", f);
	if (status < 200 || status > 599)
		fail("status out of range", f);
	if (status >= 500)
		fail("a 5xx for what a client sent", f);
	if (strncmp(f->out + 11, " Unknown\r\n", 10) == 0)
		fail("a status without its reason phrase", f);
	if ((head_end = strstr(f->out, "\r\n\r\n")) == NULL)
		fail("headers do not end with an empty line", f);
	head_len = (size_t)(head_end - f->out) + 4;
	body_len = f->out_len - head_len;
	for (p = f->out; p < head_end; p = strstr(p, "\r\n") + 2) {
		if (strncmp(p, "Content-Length: ", 16) == 0)
			content_length = atoll(p + 16);
		if (strncmp(p, "Content-Type: application/json", 30) == 0)
			is_json = 1;
		for (char *q = p; q < strstr(p, "\r\n"); q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				fail("a control character in a header", f);
	}
	if (content_length != (long long)body_len)
		fail("Content-Length does not match the body", f);
	if (is_json) {
		/* A reply nests what was sent a few levels deeper ({"commands":[{"data": ...}]}). */
		json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH + 8);
		json_object *v, *err, *code, *message;

		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		v = json_tokener_parse_ex(tok, head_end + 4, (int)body_len);
		if (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(v, json_type_object))
			fail("the body is not one JSON object", f);
		if (status >= 400 && (!json_object_object_get_ex(v, "error", &err) ||
		    !json_object_object_get_ex(err, "code", &code) || !json_object_is_type(code, json_type_string) ||
		    !json_object_object_get_ex(err, "message", &message) || !json_object_is_type(message, json_type_string)))
			fail("an error without {\"error\": {\"code\", \"message\"}}", f);
		json_object_put(v);
		json_tokener_free(tok);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned long runs;
	char *params[MAX_PARAMS + 3];
	char length[48], key[80];
	int count = 0, has_length = 0, has_key = 0;
	size_t i = 0;
	struct fake f = { 0 };
	struct conn c;

	/* The parameters: lines up to an empty one (or the end). */
	while (i < size && data[i] != '\n' && count < MAX_PARAMS) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl != NULL ? (size_t)(nl - (data + i)) : size - i;
		char *line = malloc(len + 1);

		memcpy(line, data + i, len);
		line[len] = '\0';
		i += len + (nl != NULL);
		/* The database a request uses is the web server's setting, never a client's. */
		if (strchr(line, '=') == NULL || strncmp(line, "CMDRELAY_DB=", 12) == 0) {
			free(line);
			continue;
		}
		has_length |= strncmp(line, "CONTENT_LENGTH=", 15) == 0;
		has_key |= strncmp(line, "HTTP_AUTHORIZATION=", 19) == 0 || strncmp(line, "HTTP_X_API_KEY=", 15) == 0;
		params[count++] = line;
	}
	if (i < size && data[i] == '\n')
		i++;
	f.body = data + i;
	f.len = size - i;
	if (!has_length && f.len > 0) {
		snprintf(length, sizeof(length), "CONTENT_LENGTH=%zu", f.len);
		params[count++] = strdup(length);
	}
	if (!has_key) {
		snprintf(key, sizeof(key), "HTTP_X_API_KEY=%s", keys[0].token);
		params[count++] = strdup(key);
	}
	params[count] = NULL;

	c.envp = params;
	c.read = fake_read;
	c.write = fake_write;
	c.in = &f;
	c.out = &f;
	c.fd = -1;
	app_handle(&cfg, &c);
	check_reply(&f);
	if (verbose)
		fprintf(stderr, "%.*s\n", (int)(f.out_len < 300 ? f.out_len : 300), f.out);

	free(f.out);
	for (int k = 0; k < count; k++)
		free(params[k]);
	if (++runs % WIPE_EVERY == 0)
		wipe_db();
	return 0;
}
