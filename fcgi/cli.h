/* The operator's command line: cmdrelay key ... (cli_keys.c) and cmdrelay
 * channels | commands | purge (cli_ops.c), with helpers they share (cli.c).
 *
 * Each subcommand takes the arguments after its name, prints readable text
 * on stdout (or JSON with --json), errors on stderr, and returns the exit
 * status: CLI_OK, CLI_FAILED (the database failed, no such key) or
 * CLI_USAGE (a wrong option or value). */
#ifndef CMDRELAY_CLI_H
#define CMDRELAY_CLI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct settings;
struct store;

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cli_key(struct settings *s, int argc, char **argv);
int cli_channels(struct settings *s, int argc, char **argv);
int cli_commands(struct settings *s, int argc, char **argv);
int cli_purge(struct settings *s, int argc, char **argv);

/* --- shared by cli_*.c --- */

/* Options every subcommand takes: --db PATH and --json.  Returns true (and
 * moves *i past a value) when argv[*i] was one of them. */
bool cli_common_option(struct settings *s, int argc, char **argv, int *i, bool *json);

/* Prints "cmdrelay: <message>" on stderr and returns status. */
int cli_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens s->db_path (creating and migrating it as the relay would), or
 * prints why not and returns NULL. */
struct store *cli_open(const struct settings *s);

/* Prints v as one line of JSON on stdout, then releases it.  Returns
 * CLI_OK, or CLI_FAILED when v is NULL (out of memory). */
int cli_print_json(json_object *v);

/* A text table: columns aligned by the widest cell, one row a line. */
struct cli_table {
	int columns;
	size_t rows, cap;
	char **cells;        /* rows * columns, each owned */
	int failed;          /* out of memory: nothing is printed */
};

void cli_table_init(struct cli_table *t, int columns);
/* Adds one row of t->columns strings (NULL prints as "-"). */
void cli_table_row(struct cli_table *t, const char *const *cells);
/* Prints and frees the table; CLI_FAILED if memory ran out. */
int cli_table_print(struct cli_table *t);
/* Frees the table without printing it. */
void cli_table_free(struct cli_table *t);

/* Prints what a listing subcommand gathered: {"<name>": list} with --json,
 * else the table, or empty_note on stderr when the table holds only its
 * header.  Takes over list and table (either may be unused).  Returns the
 * exit status. */
int cli_print_listing(bool json, const char *name, json_object *list, struct cli_table *table, const char *empty_note);

/* ms as ISO-8601 into buf (ISO8601_SIZE), or "-" for 0. */
const char *cli_time(int64_t ms, char *buf);

#endif
