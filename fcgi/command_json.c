#include "command_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_body.h"
#include "parse.h"
#include "timeutil.h"

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

/* Ids and attempts, never negative. */
static void put_int(struct text_buf *t, int64_t n)
{
	text_put_uint(t, n < 0 ? 0 : (uint64_t)n);
}

static void put_plain(struct text_buf *t, const char *s)
{
	if (s == NULL) {
		TEXT_PUT_LIT(t, "null");
		return;
	}
	TEXT_PUT_LIT(t, "\"");
	text_put_str(t, s);
	TEXT_PUT_LIT(t, "\"");
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
		TEXT_PUT_LIT(t, "null");
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
	text_put(t, text, len);
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
	TEXT_PUT_LIT(t, "{\"id\":");
	put_int(t, row->id);
	TEXT_PUT_LIT(t, ",\"channel\":");
	put_plain(t, row->channel);
	TEXT_PUT_LIT(t, ",\"name\":");
	put_escaped(t, row->name);
	TEXT_PUT_LIT(t, ",\"data\":");
	text_put(t, row->data, row->data_len);
	TEXT_PUT_LIT(t, ",\"mode\":");
	put_plain(t, row->mode);
	TEXT_PUT_LIT(t, ",\"target\":");
	put_plain(t, row->target);
	TEXT_PUT_LIT(t, ",\"key\":");
	put_escaped(t, row->key);
	TEXT_PUT_LIT(t, ",\"state\":");
	put_plain(t, row->state);
	TEXT_PUT_LIT(t, ",\"attempts\":");
	put_int(t, row->attempts);
	TEXT_PUT_LIT(t, ",\"created_at\":");
	put_time(t, row->created_at);
	TEXT_PUT_LIT(t, ",\"expires_at\":");
	put_time(t, row->expires_at);
	TEXT_PUT_LIT(t, ",\"result\":");
	if (row->result != NULL)
		text_put(t, row->result, row->result_len);
	else
		TEXT_PUT_LIT(t, "null");
	if (with_lease) {
		TEXT_PUT_LIT(t, ",\"lease\":{\"token\":");
		put_plain(t, row->lease_token);
		TEXT_PUT_LIT(t, ",\"expires_at\":");
		put_time(t, row->lease_expires_at);
		TEXT_PUT_LIT(t, "}");
	}
	TEXT_PUT_LIT(t, "}");
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

	text_put(&l->text, l->count == 0 ? "[" : ",", 1);
	write_command(&l->text, row, l->with_lease);
	l->count++;
	l->last_id = row->id;
	return l->text.failed ? -1 : 0;
}

json_object *command_list_take(struct command_list *l)
{
	char *text;

	if (l->count == 0 && !l->text.failed) {
		text_free(&l->text);
		return json_object_new_array();
	}
	TEXT_PUT_LIT(&l->text, "]");
	l->count = 0;
	/* The node takes the text over. */
	return (text = text_take(&l->text)) != NULL ? json_raw_take(text) : NULL;
}

void command_list_put(struct text_buf *t, const struct command_list *l)
{
	if (l->text.failed) {
		t->failed = 1;
		return;
	}
	if (l->count == 0) {
		TEXT_PUT_LIT(t, "[]");
		return;
	}
	text_put(t, l->text.buf, l->text.len);
	TEXT_PUT_LIT(t, "]");
}

void command_list_free(struct command_list *l)
{
	text_free(&l->text);
	l->count = 0;
}
