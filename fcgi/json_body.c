#include "json_body.h"

#include <json-c/printbuf.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

void json_thread_init(void)
{
	/* newlocale(LC_ALL_MASK, "C", 0) returns the C locale object itself, allocating nothing. */
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);

	if (c != (locale_t)0)
		uselocale(c);
}

/* Checks every number in v.  json-c accepts a few tokens that are not JSON
 * ("NaN", "1.") and keeps a parsed double's source text for output, so a
 * double's text is checked against the JSON number grammar (RFC 8259, 6). */
static int number_text_valid(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static int numbers_valid(json_object *v, char *why, size_t why_size)
{
	switch (json_object_get_type(v)) {
	case json_type_int: {
		/* json-c saturates integers beyond 64 bits (and get_int64 saturates
		 * unsigned ones), so a saturated value is refused like any past 2^53. */
		int64_t i = json_object_get_int64(v);

		if (i > JSON_MAX_SAFE_INT || i < -JSON_MAX_SAFE_INT) {
			snprintf(why, why_size, "integer beyond 2^53 cannot be held exactly by a Luau number");
			return 0;
		}
		return 1;
	}
	case json_type_double: {
		const char *text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);

		if (!isfinite(json_object_get_double(v)) || !number_text_valid(text)) {
			snprintf(why, why_size, "number '%.32s' is not a finite JSON number", text);
			return 0;
		}
		return 1;
	}
	case json_type_array: {
		size_t n = json_object_array_length(v);

		for (size_t k = 0; k < n; k++)
			if (!numbers_valid(json_object_array_get_idx(v, k), why, why_size))
				return 0;
		return 1;
	}
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			if (!numbers_valid(val, why, why_size))
				return 0;
		}
		return 1;
	}
	default:
		return 1;
	}
}

/* Returns true when the '0' at s[z], outside strings, begins the integer part
 * of a number rather than continuing a number or its exponent ("1e-05"). */
static int starts_integer(const char *s, size_t z)
{
	if (z > 0 && s[z - 1] == '-')
		return z == 1 || (s[z - 2] != 'e' && s[z - 2] != 'E');
	return z == 0 || strchr("0123456789.eE+", s[z - 1]) == NULL;
}

/* json-c's strict mode still takes 'single-quoted' object keys and raw
 * control characters inside strings.  Outside double-quoted strings JSON has
 * no quote character at all, and inside them U+0000 to U+001F must be escaped
 * (RFC 8259, section 7).  And json-c keeps object keys as C strings, so a key
 * with an escaped NUL would silently become a shorter key, maybe another
 * one's ({"name\u0000": ...} read as "name").  Runs on text json-c accepted
 * (nesting within JSON_MAX_DEPTH + 1) and counts the containers, which may
 * nest JSON_MAX_DEPTH deep.  Returns what is wrong, or NULL. */
#define NUMBER_TEXT_MAX 512
#define STRINGIFY(x) #x
#define TEXT_OF(x) STRINGIFY(x)
#define JSON_TOO_DEEP "JSON nested deeper than " TEXT_OF(JSON_MAX_DEPTH) " levels"

static const char *strict_text_problem(const char *s, size_t len)
{
	char open[JSON_MAX_DEPTH + 1];  /* '{' or '[' of each enclosing container */
	int depth = 0, in_string = 0, in_key = 0;
	char last = '\0';               /* the last of {[,:]} seen outside strings */

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\') {
				if (in_key && len - i > 5 && memcmp(s + i + 1, "u0000", 5) == 0)
					return "malformed JSON: an object key must not contain \\u0000";
				i++;
			} else if (s[i] == '"') {
				in_string = 0;
			} else if ((unsigned char)s[i] < 0x20) {
				return "malformed JSON: control characters in strings must be escaped";
			}
		} else if (s[i] == '"') {
			in_string = 1;
			in_key = depth > 0 && depth <= (int)sizeof(open) && open[depth - 1] == '{' &&
			    (last == '{' || last == ',');
		} else if (s[i] == '\'') {
			return "malformed JSON: strings and names take double quotes";
		} else if (s[i] == '{' || s[i] == '[') {
			if (depth < (int)sizeof(open))
				open[depth] = s[i];
			if (++depth > JSON_MAX_DEPTH)
				return JSON_TOO_DEEP;
			last = s[i];
		} else if (s[i] == '}' || s[i] == ']' || s[i] == ',' || s[i] == ':') {
			if (s[i] == '}' || s[i] == ']')
				depth--;
			last = s[i];
		} else if (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9' && starts_integer(s, i)) {
			/* json-c takes 00 and -01 (found by fuzz_json_body). */
			return "malformed JSON: a number must not start with 0 followed by more digits";
		} else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
			/* Every number, even one in a value a duplicate key later
			 * replaces (json-c takes "12." and "NaN", found by fuzz_json_body). */
			char number[NUMBER_TEXT_MAX + 1];
			size_t n = strspn(s + i, "0123456789+-.eE");

			if (n > NUMBER_TEXT_MAX)
				return "malformed JSON: a number longer than 512 characters";
			memcpy(number, s + i, n);
			number[n] = '\0';
			if (!number_text_valid(number))
				return "malformed JSON: a number that is not a JSON number";
			i += n - 1;
		} else if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) {
			size_t n = strspn(s + i, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

			if (!((n == 4 && memcmp(s + i, "true", 4) == 0) || (n == 5 && memcmp(s + i, "false", 5) == 0) ||
			        (n == 4 && memcmp(s + i, "null", 4) == 0)))
				return "malformed JSON: a word that is not true, false or null";
			i += n - 1;
		}
	}
	return NULL;
}

/* One tokener a thread, reset for each body, rather than one made and freed
 * a request (1.5 k instructions and four allocations of a poll); a thread's
 * goes with it when it ends. */
static pthread_key_t tokener_key;
static pthread_once_t tokener_key_once = PTHREAD_ONCE_INIT;
static int tokener_key_made;

static void tokener_free(void *tok)
{
	json_tokener_free(tok);
}

static void tokener_key_make(void)
{
	tokener_key_made = pthread_key_create(&tokener_key, tokener_free) == 0;
}

/* Returns a tokener ready to parse, or NULL when out of memory; *owned
 * tells the caller to free it (only when no thread key could be had). */
static json_tokener *thread_tokener(int *owned)
{
	json_tokener *tok;

	*owned = 0;
	pthread_once(&tokener_key_once, tokener_key_make);
	if (tokener_key_made && (tok = pthread_getspecific(tokener_key)) != NULL) {
		json_tokener_reset(tok);
		return tok;
	}
	/* json-c counts a scalar inside the innermost container as a level of
	 * its own: JSON_MAX_DEPTH containers holding a value need one more.
	 * The containers themselves are counted in strict_text_problem()
	 * (found by fuzz_json_body: 32 arrays around a number were refused). */
	if ((tok = json_tokener_new_ex(JSON_MAX_DEPTH + 1)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	*owned = !tokener_key_made || pthread_setspecific(tokener_key, tok) != 0;
	return tok;
}

json_object *json_body_parse(const char *body, size_t len, char *why, size_t why_size, int *is_null)
{
	struct json_tokener *tok;
	json_object *v = NULL;
	enum json_tokener_error err;
	const char *problem;
	int tok_owned;

	*is_null = 0;
	/* json-c's own check lets overlong forms, surrogates and code points
	 * past U+10FFFF through, which would then be stored and sent back. */
	if (!utf8_valid(body, len)) {
		snprintf(why, why_size, "body is not valid UTF-8");
		return NULL;
	}
	if ((tok = thread_tokener(&tok_owned)) == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	/* Passing the terminating NUL ends a bare top-level number ("12"). */
	v = json_tokener_parse_ex(tok, body, (int)len + 1);
	err = json_tokener_get_error(tok);
	if (err != json_tokener_success) {
		if (err == json_tokener_error_depth)
			snprintf(why, why_size, "%s", JSON_TOO_DEEP);
		else if (err == json_tokener_error_parse_utf8_string)
			snprintf(why, why_size, "body is not valid UTF-8");
		else
			snprintf(why, why_size, "malformed JSON at byte %zu: %s",
			    json_tokener_get_parse_end(tok), json_tokener_error_desc(err));
		json_object_put(v);
		v = NULL;
	} else if (json_tokener_get_parse_end(tok) != len || memchr(body, '\0', len) != NULL) {
		snprintf(why, why_size, "malformed JSON: unexpected data after the value");
		json_object_put(v);
		v = NULL;
	} else if ((problem = strict_text_problem(body, len)) != NULL) {
		snprintf(why, why_size, "%s", problem);
		json_object_put(v);
		v = NULL;
	} else if (v == NULL) {
		*is_null = 1;
	} else if (!numbers_valid(v, why, why_size)) {
		json_object_put(v);
		v = NULL;
	}
	if (tok_owned)
		json_tokener_free(tok);
	return v;
}

const char *json_text(json_object *v, size_t *len)
{
	return json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

static int raw_serialize(json_object *v, struct printbuf *pb, int level, int flags)
{
	const char *text = json_object_get_userdata(v);

	(void)level;
	(void)flags;
	return printbuf_memappend(pb, text, (int)strlen(text));
}

json_object *json_raw_take(char *text)
{
	json_object *v;

	/* The node's own type is never looked at: only its serializer runs. */
	if (text == NULL || (v = json_object_new_boolean(0)) == NULL) {
		free(text);
		return NULL;
	}
	json_object_set_serializer(v, raw_serialize, text, json_object_free_userdata);
	return v;
}

json_object *json_raw_new(const char *text, size_t len)
{
	char *copy;

	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	return json_raw_take(copy);
}

int json_is_object_like(json_object *v)
{
	return json_object_is_type(v, json_type_object) ||
	    (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0);
}
