/* Bounded parsers for everything that arrives as text: integers, durations,
 * percent-encoding and query strings.  Each one checks its whole input and its
 * range, and reports failure instead of guessing.  And the way back for
 * integers, which the hot paths write often. */
#ifndef CMDRELAY_PARSE_H
#define CMDRELAY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUERY_MAX_PARAMS 16

/* Parses a base-10 integer that fills all of s and lies in [min, max].
 * Returns 0 and sets *out, or -1 (empty, trailing junk, sign only, out of range). */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Digits of the largest uint64_t and a NUL. */
#define UINT_TEXT_SIZE 21

/* Writes v in base 10 at the end of buf, NUL-terminated; returns where it
 * starts.  snprintf was a tenth of a listed command's cost. */
const char *uint_text(uint64_t v, char buf[UINT_TEXT_SIZE]);

/* Parses a duration: a whole number followed by s, m, h or d ("30d").
 * Returns 0 and sets *seconds, or -1.  max_seconds bounds the result. */
int parse_duration(const char *s, int64_t max_seconds, int64_t *seconds);

/* Decodes %XX escapes of in[0..len) into out (at least len + 1 bytes), NUL-terminated.
 * With plus_is_space, '+' decodes to ' ' (query strings, not paths).
 * Returns the decoded length, or -1 for a malformed escape or an encoded NUL. */
long percent_decode(const char *in, size_t len, char *out, bool plus_is_space);

struct query_param {
	char *name;
	char *value;
};

/* A decoded query string.  All strings point into buf, which the query owns. */
struct query {
	struct query_param params[QUERY_MAX_PARAMS];
	int count;
	char *buf;
};

enum query_error { QUERY_OK = 0, QUERY_BAD_ENCODING = -1, QUERY_TOO_MANY = -2, QUERY_NO_MEMORY = -3 };

/* Splits and decodes "a=1&b=2".  Empty pieces ("a=1&&b") are skipped; a name
 * without '=' has an empty value.  Returns QUERY_OK or a negative query_error. */
int query_parse(const char *qs, struct query *q);
void query_free(struct query *q);

/* Returns the value of the first parameter called name, or NULL. */
const char *query_get(const struct query *q, const char *name);

/* Returns the name of the first parameter not in the NULL-terminated list
 * allowed, or NULL when every parameter is known. */
const char *query_unknown(const struct query *q, const char *const allowed[]);

/* Returns true when name matches the glob pattern (only '*' is special). */
bool glob_match(const char *pattern, const char *name);

#endif
