/* Helpers the operator's subcommands share: options, opening the database,
 * printing JSON and tables. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_body.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"

bool cli_common_option(struct settings *s, int argc, char **argv, int *i, bool *json)
{
	if (strcmp(argv[*i], "--json") == 0) {
		*json = true;
		return true;
	}
	if (strcmp(argv[*i], "--db") == 0 && *i + 1 < argc) {
		s->db_path = argv[++*i];
		return true;
	}
	return false;
}

int cli_error(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("cmdrelay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

struct store *cli_open(const struct settings *s)
{
	char why[512];
	struct store *st = store_open(s->db_path, why, sizeof(why));

	if (st == NULL)
		cli_error(CLI_FAILED, "%s", why);
	return st;
}

int cli_print_json(json_object *v)
{
	size_t len;
	const char *text;

	if (v == NULL)
		return cli_error(CLI_FAILED, "out of memory");
	text = json_text(v, &len);
	fwrite(text, 1, len, stdout);
	fputc('\n', stdout);
	json_object_put(v);
	return CLI_OK;
}

void cli_table_init(struct cli_table *t, int columns)
{
	memset(t, 0, sizeof(*t));
	t->columns = columns;
}

void cli_table_row(struct cli_table *t, const char *const *cells)
{
	if (t->failed)
		return;
	if (t->rows == t->cap) {
		size_t cap = t->cap == 0 ? 16 : t->cap * 2;
		char **grown = realloc(t->cells, cap * (size_t)t->columns * sizeof(*grown));

		if (grown == NULL) {
			t->failed = 1;
			return;
		}
		t->cells = grown;
		t->cap = cap;
	}
	for (int c = 0; c < t->columns; c++) {
		char *copy = strdup(cells[c] != NULL ? cells[c] : "-");

		t->cells[t->rows * (size_t)t->columns + (size_t)c] = copy;
		if (copy == NULL)
			t->failed = 1;
	}
	t->rows++;
}

/* Display width of UTF-8 text, counting each character as one column. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

int cli_table_print(struct cli_table *t)
{
	size_t widths[16] = { 0 };
	int status = t->failed || t->columns > 16 ? CLI_FAILED : CLI_OK;

	for (size_t r = 0; status == CLI_OK && r < t->rows; r++)
		for (int c = 0; c < t->columns; c++) {
			size_t w = text_width(t->cells[r * (size_t)t->columns + (size_t)c]);

			if (w > widths[c])
				widths[c] = w;
		}
	for (size_t r = 0; status == CLI_OK && r < t->rows; r++) {
		for (int c = 0; c < t->columns; c++) {
			const char *cell = t->cells[r * (size_t)t->columns + (size_t)c];

			if (c == t->columns - 1)
				printf("%s\n", cell);
			else
				printf("%s%*s", cell, (int)(widths[c] - text_width(cell) + 2), "");
		}
	}
	cli_table_free(t);
	if (status != CLI_OK)
		cli_error(CLI_FAILED, "out of memory");
	return status;
}

void cli_table_free(struct cli_table *t)
{
	for (size_t i = 0; i < t->rows * (size_t)t->columns; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

const char *cli_time(int64_t ms, char *buf)
{
	return ms == 0 ? "-" : time_iso8601(ms, buf);
}

int cli_print_listing(bool json, const char *name, json_object *list, struct cli_table *table, const char *empty_note)
{
	json_object *reply;

	if (json) {
		cli_table_free(table);
		if (list == NULL || (reply = json_object_new_object()) == NULL) {
			json_object_put(list);
			return cli_error(CLI_FAILED, "out of memory");
		}
		json_object_object_add(reply, name, list);
		return cli_print_json(reply);
	}
	json_object_put(list);
	if (table->rows <= 1) {
		cli_table_free(table);
		fprintf(stderr, "%s\n", empty_note);
		return CLI_OK;
	}
	return cli_table_print(table);
}
