#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *uint_text(uint64_t v, char buf[UINT_TEXT_SIZE])
{
	char *p = buf + UINT_TEXT_SIZE - 1;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return p;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	/* strtoll skips leading space and accepts "+": neither belongs in an API value. */
	if (s == NULL || *s == '\0' || !(isdigit((unsigned char)*s) || *s == '-'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_duration(const char *s, int64_t max_seconds, int64_t *seconds)
{
	char digits[24];
	size_t len;
	int64_t n, unit;

	if (s == NULL || (len = strlen(s)) < 2 || len > sizeof(digits))
		return -1;
	switch (s[len - 1]) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -1;
	}
	memcpy(digits, s, len - 1);
	digits[len - 1] = '\0';
	if (!isdigit((unsigned char)digits[0]) || parse_i64(digits, 1, max_seconds / unit, &n) == -1)
		return -1;
	*seconds = n * unit;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long percent_decode(const char *in, size_t len, char *out, bool plus_is_space)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '%') {
			int hi = i + 1 < len ? hex_value(in[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value(in[i + 2]) : -1;

			/* An encoded NUL would truncate every C string downstream. */
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (in[i] == '\0') {
			return -1;
		} else if (plus_is_space && in[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	return (long)o;
}

int query_parse(const char *qs, struct query *q)
{
	size_t len;
	const char *p;
	char *out;

	memset(q, 0, sizeof(*q));
	if (qs == NULL || *qs == '\0')
		return QUERY_OK;
	len = strlen(qs);
	/* Each name and value decodes to at most its own length plus a NUL. */
	if ((q->buf = malloc(2 * len + 2)) == NULL)
		return QUERY_NO_MEMORY;
	out = q->buf;
	for (p = qs; *p != '\0';) {
		const char *end = strchr(p, '&');
		const char *eq;
		size_t piece;
		long n;

		if (end == NULL)
			end = p + strlen(p);
		piece = (size_t)(end - p);
		if (piece > 0) {
			if (q->count == QUERY_MAX_PARAMS)
				return QUERY_TOO_MANY;
			eq = memchr(p, '=', piece);
			q->params[q->count].name = out;
			if ((n = percent_decode(p, eq != NULL ? (size_t)(eq - p) : piece, out, true)) < 0)
				return QUERY_BAD_ENCODING;
			out += n + 1;
			q->params[q->count].value = out;
			if (eq == NULL)
				*out++ = '\0';
			else if ((n = percent_decode(eq + 1, (size_t)(end - eq - 1), out, true)) < 0)
				return QUERY_BAD_ENCODING;
			else
				out += n + 1;
			q->count++;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return QUERY_OK;
}

void query_free(struct query *q)
{
	free(q->buf);
	q->buf = NULL;
	q->count = 0;
}

const char *query_get(const struct query *q, const char *name)
{
	for (int i = 0; i < q->count; i++)
		if (strcmp(q->params[i].name, name) == 0)
			return q->params[i].value;
	return NULL;
}

const char *query_unknown(const struct query *q, const char *const allowed[])
{
	for (int i = 0; i < q->count; i++) {
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(q->params[i].name, *a) == 0)
				break;
		if (*a == NULL)
			return q->params[i].name;
	}
	return NULL;
}

bool glob_match(const char *pattern, const char *name)
{
	/* Iterative matcher with one backtrack point: linear in practice, no recursion. */
	const char *star = NULL, *resume = NULL;

	while (*name != '\0') {
		if (*pattern == '*') {
			star = pattern++;
			resume = name;
		} else if (*pattern == *name) {
			pattern++;
			name++;
		} else if (star != NULL) {
			pattern = star + 1;
			name = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}
