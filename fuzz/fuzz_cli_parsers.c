/* libFuzzer target: the bounded text parsers of parse.c and validate.c that
 * the CLI and the request path use -- parse_i64, parse_duration, glob_match,
 * percent_decode, query_parse, utf8_valid and the name checks -- each
 * compared with a slow, obviously correct reference written here.
 *
 * Input: the whole input is the text for every parser; for glob_match the
 * part before the first newline is the pattern and the rest the name. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "validate.h"

static const uint8_t *input;
static size_t input_size;

__attribute__((noreturn)) static void fail(const char *what)
{
	fprintf(stderr, "fuzz_cli_parsers: %s; input (%zu bytes): %.*s\n", what, input_size,
	    (int)(input_size < 2000 ? input_size : 2000), (const char *)input);
	abort();
}

/* ^-?[0-9]+$ within [min, max], by hand. */
static int ref_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	int neg = *s == '-';
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	const char *p = s + neg;

	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (limit - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return *out < min || *out > max ? -1 : 0;
}

static void check_i64(const char *s)
{
	static const int64_t ranges[][2] = { { INT64_MIN, INT64_MAX }, { 0, 100 }, { 1, 9007199254740992LL },
		{ -10, 10 } };

	for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
		int64_t a = 0, b = 0;
		int ra = parse_i64(s, ranges[k][0], ranges[k][1], &a), rb = ref_i64(s, ranges[k][0], ranges[k][1], &b);

		if (ra != rb || (ra == 0 && a != b))
			fail("parse_i64 differs from the reference");
	}
}

/* A whole number of 1 or more followed by s, m, h or d, at most 24 bytes. */
static void check_duration(const char *s)
{
	static const int64_t maxima[] = { INT64_MAX, 86400, 604800, 59 };

	for (size_t k = 0; k < sizeof(maxima) / sizeof(maxima[0]); k++) {
		int64_t got = -1, want = -1, n, unit = 0;
		size_t len = strlen(s);
		int rc = parse_duration(s, maxima[k], &got), ok = 0;
		char digits[64];

		if (len >= 2 && len <= 24 && s[0] >= '0' && s[0] <= '9') {
			switch (s[len - 1]) {
			case 's': unit = 1; break;
			case 'm': unit = 60; break;
			case 'h': unit = 3600; break;
			case 'd': unit = 86400; break;
			}
			memcpy(digits, s, len - 1);
			digits[len - 1] = '\0';
			if (unit != 0 && ref_i64(digits, 1, maxima[k] / unit, &n) == 0) {
				want = n * unit;
				ok = 1;
			}
		}
		if ((rc == 0) != ok || (ok && got != want))
			fail("parse_duration differs from the reference");
		if (rc == 0 && (got < 1 || got > maxima[k]))
			fail("parse_duration gave a value out of its range");
	}
}

/* Dynamic programming over (pattern, name) positions: no backtracking to get wrong. */
static bool ref_glob(const char *p, size_t pn, const char *s, size_t sn)
{
	bool *row = calloc(sn + 1, sizeof(bool)), *next = calloc(sn + 1, sizeof(bool)), result;

	if (row == NULL || next == NULL)
		abort();
	/* row[j]: pattern[i..] matches name[j..], built from the end of the pattern. */
	row[sn] = true;
	for (size_t i = pn; i-- > 0;) {
		next[sn] = p[i] == '*' && row[sn];
		for (size_t j = sn; j-- > 0;)
			next[j] = p[i] == '*' ? (row[j] || next[j + 1]) : (p[i] == s[j] && row[j + 1]);
		memcpy(row, next, (sn + 1) * sizeof(bool));
	}
	result = row[0];
	free(row);
	free(next);
	return result;
}

static void check_glob(const char *s)
{
	const char *nl = strchr(s, '\n');
	char *pattern;
	const char *name;

	if (nl == NULL)
		return;
	pattern = strndup(s, (size_t)(nl - s));
	name = nl + 1;
	if (glob_match(pattern, name) != ref_glob(pattern, strlen(pattern), name, strlen(name)))
		fail("glob_match differs from the reference");
	free(pattern);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static long ref_decode(const char *in, size_t len, char *out, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\0')
			return -1;
		if (in[i] == '%') {
			if (len - i < 3 || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0)
				return -1;
			out[o] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
			if (out[o++] == '\0')
				return -1;
			i += 2;
		} else {
			out[o++] = plus && in[i] == '+' ? ' ' : in[i];
		}
	}
	out[o] = '\0';
	return (long)o;
}

static void check_percent(const uint8_t *data, size_t size)
{
	char *a = malloc(size + 1), *b = malloc(size + 1);

	for (int plus = 0; plus <= 1; plus++) {
		long ra = percent_decode((const char *)data, size, a, plus), rb = ref_decode((const char *)data, size, b, plus);

		if (ra != rb || (ra >= 0 && memcmp(a, b, (size_t)ra + 1) != 0))
			fail("percent_decode differs from the reference");
	}
	free(a);
	free(b);
}

static void check_query(const char *s)
{
	struct query q;
	int rc = query_parse(s, &q), pieces = 0, bad = 0;
	const char *p = s;
	char *buf = malloc(strlen(s) + 1);

	/* The reference: split on '&', skip empty pieces, decode name and value. */
	while (*p != '\0') {
		size_t len = strcspn(p, "&");

		if (len > 0) {
			const char *eq = memchr(p, '=', len);
			size_t name_len = eq != NULL ? (size_t)(eq - p) : len;

			if (pieces < QUERY_MAX_PARAMS && !bad) {
				if (ref_decode(p, name_len, buf, true) < 0)
					bad = 1;
				else if (rc == QUERY_OK && strcmp(q.params[pieces].name, buf) != 0)
					fail("query_parse decoded a name unlike the reference");
				if (!bad && eq != NULL && ref_decode(eq + 1, len - name_len - 1, buf, true) < 0)
					bad = 1;
				else if (!bad && rc == QUERY_OK && strcmp(q.params[pieces].value, eq != NULL ? buf : "") != 0)
					fail("query_parse decoded a value unlike the reference");
			}
			pieces++;
		}
		p += len + (p[len] == '&');
	}
	if (rc == QUERY_OK && (bad || pieces > QUERY_MAX_PARAMS || q.count != pieces))
		fail("query_parse accepted what the reference refuses");
	if (rc == QUERY_BAD_ENCODING && !bad)
		fail("query_parse refused an encoding the reference accepts");
	if (rc == QUERY_TOO_MANY && pieces <= QUERY_MAX_PARAMS)
		fail("query_parse counted too many parameters");
	for (int i = 0; rc == QUERY_OK && i < q.count; i++) {
		int first = 0;

		while (strcmp(q.params[first].name, q.params[i].name) != 0)
			first++;
		if (query_get(&q, q.params[i].name) != q.params[first].value)
			fail("query_get did not find the first parameter of that name");
	}
	query_free(&q);
	free(buf);
}

/* Decodes by the generic UTF-8 bit patterns, then applies RFC 3629's limits. */
static bool ref_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len;

		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += len;
	}
	return true;
}

static bool in_set(char c, const char *extra)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr(extra, c) != NULL);
}

static void check_names(const char *s)
{
	size_t len = strlen(s);
	bool channel = len >= 1 && len <= 64 && in_set(s[0], ""), consumer = len >= 1 && len <= 128,
	     name = len >= 1 && len <= 64;

	for (size_t i = 0; i < len; i++) {
		channel = channel && in_set(s[i], "._-");
		consumer = consumer && in_set(s[i], "._:-");
		/* C0, DEL, and C1 (U+0080 to U+009F, which UTF-8 writes C2 80 to C2 9F). */
		name = name && (unsigned char)s[i] >= 0x20 && s[i] != 0x7f &&
		    !((unsigned char)s[i] == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
		        (unsigned char)s[i + 1] <= 0x9f);
	}
	if (channel_valid(s) != channel)
		fail("channel_valid differs from ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
	if (consumer_valid(s) != consumer)
		fail("consumer_valid differs from ^[A-Za-z0-9._:-]{1,128}$");
	if (command_name_valid(s, len) != name)
		fail("command_name_valid differs from 1 to 64 bytes without C0, DEL or C1 control characters");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	input = data;
	input_size = size;
	memcpy(s, data, size);
	s[size] = '\0';
	check_i64(s);
	check_duration(s);
	check_glob(s);
	check_percent(data, size);
	check_query(s);
	if (utf8_valid((const char *)data, size) != ref_utf8(data, size))
		fail("utf8_valid differs from the reference");
	check_names(s);
	free(s);
	return 0;
}
