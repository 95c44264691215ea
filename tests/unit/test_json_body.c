/* Unit tests of request-body JSON validation and raw embedding. */
#include <string.h>

#include "json_body.h"
#include "tap.h"

static int parses(const char *text)
{
	char why[160];
	int is_null;
	json_object *v = json_body_parse(text, strlen(text), why, sizeof(why), &is_null);
	int good = v != NULL || is_null;

	json_object_put(v);
	return good;
}

static int nested(int depth)
{
	char buf[256];
	int n = 0;

	for (int i = 0; i < depth; i++)
		buf[n++] = '[';
	for (int i = 0; i < depth; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	return parses(buf);
}

/* depth arrays around the JSON text inner. */
static int nested_around(const char *inner, int depth)
{
	char buf[256];
	int n = 0;

	for (int i = 0; i < depth; i++)
		buf[n++] = '[';
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s", inner);
	for (int i = 0; i < depth; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	return parses(buf);
}

int main(void)
{
	char why[160];
	int is_null;
	json_object *v;
	size_t len;

	ok(parses("{\"a\":1}"), "an object parses");
	ok(parses("12") && parses("-0.5") && parses("\"x\"") && parses("true"), "bare scalars parse");
	ok(parses("null"), "null parses (as a NULL value)");
	ok(!parses("{\"a\":1} x"), "trailing data is refused");
	ok(parses("  {\"a\":1}\n "), "surrounding whitespace is accepted");
	ok(!parses("{'a':1}") && !parses("['a']"), "single quotes are refused");
	ok(parses("{\"it's\":\"\\\"'\"}"), "single quotes inside strings are fine");
	ok(!parses("[1,2,]"), "a trailing comma is refused");
	ok(!parses("NaN") && !parses("Infinity") && !parses("1.") && !parses("01"), "non-JSON numbers are refused");
	ok(!parses("00") && !parses("-01") && !parses("[00]") && !parses("{\"a\":-00.5}") &&
	    parses("[0,-0,0.5,-0.5,1e05,1E-05,10]"), "leading zeros are refused, exponents may have them");
	ok(!parses("1e400"), "an infinite number is refused");
	ok(!parses("{\"a\":{\"b\":[12.,1]},\"a\":60}") && !parses("{\"a\":NaN,\"a\":1}"),
	    "a bad number or word is refused even where a duplicate key replaces its value");
	ok(parses("{\"s\":\"1. NaN 00 Infinity\"}"), "number-like text inside strings is fine");
	ok(parses("9007199254740992") && parses("-9007199254740992"), "integers up to 2^53 are accepted");
	ok(!parses("9007199254740993") && !parses("-9007199254740993"), "integers beyond 2^53 are refused");
	ok(!parses("18446744073709551616") && !parses("{\"a\":[99999999999999999999999]}"),
	    "integers beyond 64 bits are refused, nested too");
	ok(parses("1e300") && parses("1.5E-7"), "large and small doubles are accepted");
	ok(nested(32), "32 levels of nesting are accepted");
	ok(!nested(33), "33 levels of nesting are refused");
	ok(nested_around("1", 32) && nested_around("{\"a\":[]}", 30), "32 levels hold values at the bottom");
	ok(!nested_around("1", 33) && !nested_around("{}", 32), "33 levels are refused, whatever is inside");
	for (int depth = 33; depth <= 40; depth++) {
		char deep[128];
		int n = 0;

		for (int i = 0; i < depth; i++)
			deep[n++] = '[';
		deep[n++] = '1';
		for (int i = 0; i < depth; i++)
			deep[n++] = ']';
		why[0] = '\0';
		ok(json_body_parse(deep, (size_t)n, why, sizeof(why), &is_null) == NULL &&
		        strcmp(why, "JSON nested deeper than 32 levels") == 0,
		    "%d levels: the refusal names the limit (%s)", depth, why);
	}
	ok(!parses("\"\xff\""), "invalid UTF-8 is refused");
	ok(!parses("\"\xc3\""), "truncated UTF-8 is refused");
	ok(parses("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""), "valid multi-byte UTF-8 is accepted");
	ok(!parses("\"\xc0\xaf\"") && !parses("\"\xe0\x80\xaf\""), "overlong UTF-8 is refused");
	ok(!parses("\"\xed\xa0\x80\""), "UTF-8 encoded surrogates are refused");
	ok(!parses("\"\xf4\x90\x80\x80\"") && !parses("\"\xf5\x80\x80\x80\""), "code points past U+10FFFF are refused");
	ok(!parses("{\"a\":\"x\x01y\"}") && !parses("[\"a\tb\"]"), "raw control characters in strings are refused");
	ok(parses("[\"a\\tb\\u0001\"]"), "escaped control characters are accepted");
	ok(!parses("{\"name\\u0000x\":1}") && !parses("[{\"a\":1,\"b\":{\"\\u0000\":2}}]"),
	    "an escaped NUL in an object key is refused");
	ok(parses("{\"a\":\"x\\u0000\",\"b\":[\"\\u0000\"]}"), "an escaped NUL in a string value is accepted");
	ok(!parses(""), "an empty body is refused");
	ok(json_body_parse("{\"a\":1}\0x", 9, why, sizeof(why), &is_null) == NULL, "an embedded NUL is refused");

	{
		const char *text = "{\"n\":0.1,\"m\":1E2,\"s\":\"a/\\u00e9\"}";

		v = json_body_parse(text, strlen(text), why, sizeof(why), &is_null);
	}
	ok(v != NULL && strcmp(json_text(v, &len), "{\"n\":0.1,\"m\":1E2,\"s\":\"a/\xc3\xa9\"}") == 0,
	    "numbers keep their source text and '/' stays unescaped");
	json_object_put(v);

	/* A thread's tokener is reused: what a body cut short or malformed
	 * left behind must not reach the next one. */
	{
		static const char *const broken[] = { "{\"a\":\"unterminated", "[1,2", "{\"k\":12.", "[\"\\u00", "{\"a\"",
			"[[[[", "tru" };
		int clean = 1;

		for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
			ok(!parses(broken[i]), "a body cut short is refused: %s", broken[i]);
			v = json_body_parse("{\"x\":\"y\",\"n\":7}", 15, why, sizeof(why), &is_null);
			clean &= v != NULL && strcmp(json_text(v, &len), "{\"x\":\"y\",\"n\":7}") == 0;
			json_object_put(v);
		}
		ok(clean, "and the next body parses as it would have on its own");
	}

	v = json_object_new_object();
	json_object_object_add(v, "raw", json_raw_new("[1,{\"b\":2}]", 11));
	ok(strcmp(json_text(v, &len), "{\"raw\":[1,{\"b\":2}]}") == 0, "json_raw_new embeds text verbatim");
	json_object_put(v);
	return tap_done();
}
