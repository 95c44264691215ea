/* Unit tests of the bounded parsers: integers, durations, percent-decoding,
 * query strings, globs and names. */
#include <string.h>

#include "parse.h"
#include "tap.h"
#include "validate.h"

static void test_parse_i64(void)
{
	int64_t v = 0;

	ok(parse_i64("42", 0, 100, &v) == 0 && v == 42, "parse_i64 accepts a plain integer");
	ok(parse_i64("-5", -10, 10, &v) == 0 && v == -5, "parse_i64 accepts a negative integer in range");
	ok(parse_i64("101", 0, 100, &v) == -1, "parse_i64 rejects a value above max");
	ok(parse_i64("-1", 0, 100, &v) == -1, "parse_i64 rejects a value below min");
	ok(parse_i64("", 0, 100, &v) == -1, "parse_i64 rejects an empty string");
	ok(parse_i64("1.5", 0, 100, &v) == -1, "parse_i64 rejects a fraction");
	ok(parse_i64("12abc", 0, 100, &v) == -1, "parse_i64 rejects trailing junk");
	ok(parse_i64(" 12", 0, 100, &v) == -1, "parse_i64 rejects leading space");
	ok(parse_i64("+12", 0, 100, &v) == -1, "parse_i64 rejects a plus sign");
	ok(parse_i64("-", -10, 10, &v) == -1, "parse_i64 rejects a lone minus");
	ok(parse_i64("99999999999999999999", 0, INT64_MAX, &v) == -1, "parse_i64 rejects overflow");
	ok(parse_i64(NULL, 0, 1, &v) == -1, "parse_i64 rejects NULL");
}

static void test_parse_duration(void)
{
	int64_t s = 0;

	ok(parse_duration("30d", INT64_MAX, &s) == 0 && s == 30 * 86400, "parse_duration reads days");
	ok(parse_duration("90s", INT64_MAX, &s) == 0 && s == 90, "parse_duration reads seconds");
	ok(parse_duration("5m", INT64_MAX, &s) == 0 && s == 300, "parse_duration reads minutes");
	ok(parse_duration("2h", INT64_MAX, &s) == 0 && s == 7200, "parse_duration reads hours");
	ok(parse_duration("30", INT64_MAX, &s) == -1, "parse_duration needs a unit");
	ok(parse_duration("d", INT64_MAX, &s) == -1, "parse_duration needs a number");
	ok(parse_duration("0d", INT64_MAX, &s) == -1, "parse_duration rejects zero");
	ok(parse_duration("-1d", INT64_MAX, &s) == -1, "parse_duration rejects a negative");
	ok(parse_duration("1w", INT64_MAX, &s) == -1, "parse_duration rejects an unknown unit");
	ok(parse_duration("1.5h", INT64_MAX, &s) == -1, "parse_duration rejects a fraction");
	ok(parse_duration("2d", 86400, &s) == -1, "parse_duration honours its maximum");
}

static void test_percent_decode(void)
{
	char out[64];

	ok(percent_decode("a%20b", 5, out, false) == 3 && strcmp(out, "a b") == 0, "percent_decode decodes %%20");
	ok(percent_decode("a+b", 3, out, false) == 3 && strcmp(out, "a+b") == 0, "percent_decode keeps + in paths");
	ok(percent_decode("a+b", 3, out, true) == 3 && strcmp(out, "a b") == 0, "percent_decode turns + into space in queries");
	ok(percent_decode("%C3%A9", 6, out, false) == 2 && strcmp(out, "\xc3\xa9") == 0, "percent_decode decodes UTF-8 bytes");
	ok(percent_decode("%2", 2, out, false) == -1, "percent_decode rejects a short escape");
	ok(percent_decode("%zz", 3, out, false) == -1, "percent_decode rejects a non-hex escape");
	ok(percent_decode("a%00b", 5, out, false) == -1, "percent_decode rejects an encoded NUL");
	ok(percent_decode("%", 1, out, false) == -1, "percent_decode rejects a lone percent");
}

static void test_query(void)
{
	struct query q;
	static const char *const allowed[] = { "after", "limit", NULL };

	ok(query_parse("after=5&limit=10", &q) == QUERY_OK && q.count == 2, "query_parse splits two parameters");
	ok(strcmp(query_get(&q, "after"), "5") == 0 && strcmp(query_get(&q, "limit"), "10") == 0,
	    "query_get finds each value");
	ok(query_unknown(&q, allowed) == NULL, "query_unknown accepts known names");
	query_free(&q);
	ok(query_parse("a&b=1", &q) == QUERY_OK && q.count == 2 && strcmp(query_get(&q, "a"), "") == 0 &&
	    strcmp(query_get(&q, "b"), "1") == 0, "query_parse gives a bare name an empty value");
	ok(query_unknown(&q, allowed) != NULL && strcmp(query_unknown(&q, allowed), "a") == 0,
	    "query_unknown names the first unknown parameter");
	query_free(&q);
	ok(query_parse("x=a%20b+c&&y=%26", &q) == QUERY_OK && strcmp(query_get(&q, "x"), "a b c") == 0 &&
	    strcmp(query_get(&q, "y"), "&") == 0, "query_parse decodes once and skips empty pieces");
	query_free(&q);
	ok(query_parse("x=%00", &q) == QUERY_BAD_ENCODING, "query_parse rejects an encoded NUL");
	query_free(&q);
	ok(query_parse("a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1&a=1", &q) == QUERY_TOO_MANY,
	    "query_parse refuses more than QUERY_MAX_PARAMS parameters");
	query_free(&q);
	ok(query_parse(NULL, &q) == QUERY_OK && q.count == 0, "query_parse accepts no query string");
	query_free(&q);
}

static void test_glob(void)
{
	ok(glob_match("*", "anything"), "glob * matches anything");
	ok(glob_match("game-*", "game-42"), "glob prefix matches");
	ok(!glob_match("game-*", "lobby"), "glob prefix does not match another name");
	ok(glob_match("lobby", "lobby") && !glob_match("lobby", "lobby2"), "glob literal matches exactly");
	ok(glob_match("a*b*c", "aXXbYYc") && !glob_match("a*b*c", "aXXbYY"), "glob with two stars");
}

static void test_names(void)
{
	char long_channel[80];

	ok(channel_valid("lobby") && channel_valid("game-1.a_b"), "channel_valid accepts the documented characters");
	ok(!channel_valid("-lobby") && !channel_valid(".x") && !channel_valid(""), "channel_valid needs an alphanumeric first");
	ok(!channel_valid("a b") && !channel_valid("a/b") && !channel_valid("a%b"), "channel_valid rejects other characters");
	memset(long_channel, 'a', 64);
	long_channel[64] = '\0';
	ok(channel_valid(long_channel), "channel_valid accepts 64 characters");
	long_channel[64] = 'a';
	long_channel[65] = '\0';
	ok(!channel_valid(long_channel), "channel_valid rejects 65 characters");
	ok(consumer_valid("1f3a-uuid:job.2_x") && !consumer_valid("a b") && !consumer_valid(""),
	    "consumer_valid follows [A-Za-z0-9._:-]{1,128}");
	ok(command_name_valid("kick player", 11) && !command_name_valid("a\nb", 3) && !command_name_valid("", 0),
	    "command_name_valid rejects control characters and empty names");
}

static void test_uint_text(void)
{
	char buf[UINT_TEXT_SIZE];
	int64_t back;

	ok(strcmp(uint_text(0, buf), "0") == 0, "uint_text writes 0");
	ok(strcmp(uint_text(UINT64_MAX, buf), "18446744073709551615") == 0, "uint_text writes the largest uint64_t");
	ok(parse_i64(uint_text(9007199254740993u, buf), 0, INT64_MAX, &back) == 0 && back == 9007199254740993,
	    "parse_i64 reads back what uint_text wrote");
}

int main(void)
{
	test_parse_i64();
	test_uint_text();
	test_parse_duration();
	test_percent_decode();
	test_query();
	test_glob();
	test_names();
	return tap_done();
}
