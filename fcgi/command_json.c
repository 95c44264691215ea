#include "command_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_body.h"
#include "parse.h"
#include "timeutil.h"

#define TEXT_BUF_FIRST 8192

json_object *time_json(int64_t ms)
{
	char buf[ISO8601_SIZE];

	return ms == 0 ? NULL : json_object_new_string(time_iso8601(ms, buf));
}

static json_object *string_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

json_object *command_json(const struct command_row *row, int with_lease)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(row->id));
	json_object_object_add(o, "channel", json_object_new_string(row->channel));
	json_object_object_add(o, "name", json_object_new_string(row->name));
	json_object_object_add(o, "data", json_raw_new(row->data, row->data_len));
	json_object_object_add(o, "mode", json_object_new_string(row->mode));
	json_object_object_add(o, "target", string_or_null(row->target));
	json_object_object_add(o, "key", string_or_null(row->key));
	json_object_object_add(o, "state", json_object_new_string(row->state));
	json_object_object_add(o, "attempts", json_object_new_int64(row->attempts));
	json_object_object_add(o, "created_at", time_json(row->created_at));
	json_object_object_add(o, "expires_at", time_json(row->expires_at));
	json_object_object_add(o, "result", row->result != NULL ? json_raw_new(row->result, row->result_len) : NULL);
	if (with_lease) {
		json_object *lease = json_object_new_object();

		if (lease != NULL) {
			json_object_object_add(lease, "token", string_or_null(row->lease_token));
			json_object_object_add(lease, "expires_at", time_json(row->lease_expires_at));
		}
		json_object_object_add(o, "lease", lease);
	}
	return o;
}

/* Lists of commands are the hot path (a poll, a read of 10): building a
 * json-c object of 12 members per command cost 20 k instructions, most of it
 * growing and freeing hash tables.  So a listed command is written once as
 * text and put in the list as a raw node, with the same members in the same
 * order as command_json().  Strings a client chose (name, key) go through
 * json-c's escaping when they hold anything to escape; the others are of
 * known safe characters (channel and consumer names, constants, hex tokens,
 * times) or stored JSON text. */

/* Makes room for len more bytes and a terminating NUL; false when memory ran out. */
static bool __attribute__((noinline)) grow(struct text_buf *t, size_t len)
{
	/* Starts at a size that holds a typical list whole. */
	size_t cap = (t->len + len + 1) * 2 < TEXT_BUF_FIRST ? TEXT_BUF_FIRST : (t->len + len + 1) * 2;
	char *grown;

	if (t->failed)
		return false;
	if ((grown = realloc(t->buf, cap)) == NULL) {
		t->failed = 1;
		return false;
	}
	t->buf = grown;
	t->cap = cap;
	return true;
}

/* Appends len bytes.  The text is NUL-terminated only when taken
 * (text_finish): a listed command is some forty appends. */
static inline void put(struct text_buf *t, const char *s, size_t len)
{
	if (t->len + len + 1 > t->cap && !grow(t, len))
		return;
	memcpy(t->buf + t->len, s, len);
	t->len += len;
}

/* Appends a string literal; its length is known when compiling. */
#define PUT_LIT(t, lit) put((t), "" lit, sizeof(lit) - 1)

/* Terminates the text; false when memory ran out while it was written. */
static bool text_finish(struct text_buf *t)
{
	if (t->failed || t->buf == NULL)
		return false;
	t->buf[t->len] = '\0';
	return true;
}

static void text_free(struct text_buf *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = t->cap = 0;
}

static void put_str(struct text_buf *t, const char *s)
{
	put(t, s, strlen(s));
}

/* Ids and attempts, never negative. */
static void put_int(struct text_buf *t, int64_t n)
{
	char buf[UINT_TEXT_SIZE];

	put_str(t, uint_text(n < 0 ? 0 : (uint64_t)n, buf));
}

static void put_plain(struct text_buf *t, const char *s)
{
	if (s == NULL) {
		PUT_LIT(t, "null");
		return;
	}
	PUT_LIT(t, "\"");
	put_str(t, s);
	PUT_LIT(t, "\"");
}

/* True when json-c would write s between quotes unchanged: no quote, no
 * backslash, no control character (json_text() leaves '/' alone). */
static bool needs_no_escape(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == '"' || *p == '\\')
			return false;
	return true;
}

static void put_escaped(struct text_buf *t, const char *s)
{
	json_object *v;
	size_t len;
	const char *text;

	if (s == NULL) {
		PUT_LIT(t, "null");
		return;
	}
	/* Most names are plain words: a json-c string node for each cost a
	 * tenth of a listed command. */
	if (needs_no_escape(s)) {
		put_plain(t, s);
		return;
	}
	if ((v = json_object_new_string(s)) == NULL) {
		t->failed = 1;
		return;
	}
	text = json_text(v, &len);
	put(t, text, len);
	json_object_put(v);
}

static void put_time(struct text_buf *t, int64_t ms)
{
	char buf[ISO8601_SIZE];

	put_plain(t, ms == 0 ? NULL : time_iso8601(ms, buf));
}

/* Appends the command's JSON to t. */
static void write_command(struct text_buf *t, const struct command_row *row, int with_lease)
{
	PUT_LIT(t, "{\"id\":");
	put_int(t, row->id);
	PUT_LIT(t, ",\"channel\":");
	put_plain(t, row->channel);
	PUT_LIT(t, ",\"name\":");
	put_escaped(t, row->name);
	PUT_LIT(t, ",\"data\":");
	put(t, row->data, row->data_len);
	PUT_LIT(t, ",\"mode\":");
	put_plain(t, row->mode);
	PUT_LIT(t, ",\"target\":");
	put_plain(t, row->target);
	PUT_LIT(t, ",\"key\":");
	put_escaped(t, row->key);
	PUT_LIT(t, ",\"state\":");
	put_plain(t, row->state);
	PUT_LIT(t, ",\"attempts\":");
	put_int(t, row->attempts);
	PUT_LIT(t, ",\"created_at\":");
	put_time(t, row->created_at);
	PUT_LIT(t, ",\"expires_at\":");
	put_time(t, row->expires_at);
	PUT_LIT(t, ",\"result\":");
	if (row->result != NULL)
		put(t, row->result, row->result_len);
	else
		PUT_LIT(t, "null");
	if (with_lease) {
		PUT_LIT(t, ",\"lease\":{\"token\":");
		put_plain(t, row->lease_token);
		PUT_LIT(t, ",\"expires_at\":");
		put_time(t, row->lease_expires_at);
		PUT_LIT(t, "}");
	}
	PUT_LIT(t, "}");
}

int channel_depth_json_append(void *array, const struct channel_depth *c)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return -1;
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "pending", json_object_new_int64(c->pending));
	json_object_object_add(o, "leased", json_object_new_int64(c->leased));
	json_object_object_add(o, "done", json_object_new_int64(c->done));
	json_object_object_add(o, "dead", json_object_new_int64(c->dead));
	json_object_object_add(o, "oldest_pending_at", time_json(c->oldest_pending_at));
	if (json_object_array_add(array, o) != 0) {
		json_object_put(o);
		return -1;
	}
	return 0;
}

void command_list_init(struct command_list *l, int with_lease)
{
	memset(l, 0, sizeof(*l));
	l->with_lease = with_lease;
}

int command_list_add(void *list, const struct command_row *row)
{
	struct command_list *l = list;

	put(&l->text, l->count == 0 ? "[" : ",", 1);
	write_command(&l->text, row, l->with_lease);
	l->count++;
	l->last_id = row->id;
	return l->text.failed ? -1 : 0;
}

json_object *command_list_take(struct command_list *l)
{
	json_object *v;

	if (l->text.failed) {
		text_free(&l->text);
		return NULL;
	}
	if (l->count == 0)
		return json_object_new_array();
	PUT_LIT(&l->text, "]");
	if (!text_finish(&l->text)) {
		text_free(&l->text);
		return NULL;
	}
	/* The node takes the buffer over. */
	v = json_raw_take(l->text.buf);
	l->text.buf = NULL;
	text_free(&l->text);
	l->count = 0;
	return v;
}

void command_list_free(struct command_list *l)
{
	text_free(&l->text);
	l->count = 0;
}
