/* libFuzzer target: JSON validation of request bodies (json_body_parse) and
 * the typed field readers of body_fields.c that every handler goes through.
 *
 * Three oracles besides crashes:
 *  - a small independent recogniser of RFC 8259 JSON: whatever the relay
 *    accepts must be JSON, and JSON the relay has no stated reason to refuse
 *    (nesting past JSON_MAX_DEPTH, a number a Luau double cannot hold, a NUL
 *    in an object key) must be accepted;
 *  - what the relay stores (json_text) must parse again to the same text,
 *    since it is later sent verbatim to clients;
 *  - the field readers either give a value within their bounds or a 400
 *    with a JSON error body. */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_fields.h"
#include "json_body.h"
#include "request.h"
#include "response.h"
#include "validate.h"

/* --- the reference recogniser ------------------------------------------- */

struct ref {
	const unsigned char *s;
	size_t n, i;
	int depth;
	int refused_by_rule; /* JSON, but refused by one of the relay's documented rules */
	int lone_surrogate;  /* a \u escape of half a surrogate pair */
};

static void ref_ws(struct ref *r)
{
	while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
		r->i++;
}

static int ref_peek(const struct ref *r)
{
	return r->i < r->n ? r->s[r->i] : -1;
}

static int ref_literal(struct ref *r, const char *word)
{
	size_t len = strlen(word);

	if (r->n - r->i < len || memcmp(r->s + r->i, word, len) != 0)
		return 0;
	r->i += len;
	return 1;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		int c = p[k], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return 0;
		v = v * 16 + (unsigned)d;
	}
	*out = v;
	return 1;
}

/* A string; *has_nul tells whether it holds an escaped NUL. */
static int ref_string(struct ref *r, int *has_nul)
{
	*has_nul = 0;
	if (ref_peek(r) != '"')
		return 0;
	r->i++;
	while (r->i < r->n) {
		unsigned char c = r->s[r->i];

		if (c == '"') {
			r->i++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (r->i + 1 >= r->n)
				return 0;
			c = r->s[r->i + 1];
			if (c == 'u') {
				unsigned u, lo;

				if (r->n - r->i < 6 || !hex4(r->s + r->i + 2, &u))
					return 0;
				r->i += 6;
				*has_nul |= u == 0;
				if (u >= 0xd800 && u <= 0xdbff) {
					/* A pair needs its low half right after. */
					if (r->n - r->i >= 6 && r->s[r->i] == '\\' && r->s[r->i + 1] == 'u' &&
					    hex4(r->s + r->i + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff)
						r->i += 6;
					else
						r->lone_surrogate = 1;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					r->lone_surrogate = 1;
				}
				continue;
			}
			if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
				return 0;
			r->i += 2;
			continue;
		}
		{
			size_t len = utf8_sequence_len((const char *)r->s + r->i, r->n - r->i);

			if (len == 0)
				return 0;
			r->i += len;
		}
	}
	return 0;
}

static int ref_digits(struct ref *r)
{
	size_t start = r->i;

	while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
		r->i++;
	return r->i > start;
}

static int ref_number(struct ref *r)
{
	size_t start = r->i;
	int is_int = 1;
	char text[400];

	if (ref_peek(r) == '-')
		r->i++;
	if (ref_peek(r) == '0')
		r->i++;
	else if (!ref_digits(r))
		return 0;
	if (ref_peek(r) == '.') {
		r->i++;
		is_int = 0;
		if (!ref_digits(r))
			return 0;
	}
	if (ref_peek(r) == 'e' || ref_peek(r) == 'E') {
		r->i++;
		is_int = 0;
		if (ref_peek(r) == '+' || ref_peek(r) == '-')
			r->i++;
		if (!ref_digits(r))
			return 0;
	}
	/* Numbers a Luau double cannot hold are refused by rule: an integer past
	 * 2^53, anything that overflows a double.  Long ones are judged roughly. */
	if (r->i - start >= sizeof(text)) {
		r->refused_by_rule = 1;
		return 1;
	}
	memcpy(text, r->s + start, r->i - start);
	text[r->i - start] = '\0';
	if (is_int) {
		const char *digits = text[0] == '-' ? text + 1 : text;

		if (strlen(digits) > 16 || (strlen(digits) == 16 && strcmp(digits, "9007199254740992") > 0))
			r->refused_by_rule = 1;
	} else if (!isfinite(strtod(text, NULL))) {
		r->refused_by_rule = 1;
	}
	return 1;
}

static int ref_value(struct ref *r);

static int ref_container(struct ref *r, int close, int object)
{
	int has_nul;

	r->i++;
	/* Nesting past JSON_MAX_DEPTH is refused by rule, but must still be JSON. */
	if (++r->depth > JSON_MAX_DEPTH)
		r->refused_by_rule = 1;
	if (r->depth > 10000)
		return 0;
	ref_ws(r);
	if (ref_peek(r) == close) {
		r->i++;
		r->depth--;
		return 1;
	}
	for (;;) {
		ref_ws(r);
		if (object) {
			if (!ref_string(r, &has_nul))
				return 0;
			/* A NUL would cut a field name short in C: refused by rule. */
			if (has_nul)
				r->refused_by_rule = 1;
			ref_ws(r);
			if (ref_peek(r) != ':')
				return 0;
			r->i++;
			ref_ws(r);
		}
		if (!ref_value(r))
			return 0;
		ref_ws(r);
		if (ref_peek(r) == ',') {
			r->i++;
			continue;
		}
		if (ref_peek(r) != close)
			return 0;
		r->i++;
		r->depth--;
		return 1;
	}
}

static int ref_value(struct ref *r)
{
	int has_nul;

	switch (ref_peek(r)) {
	case '{': return ref_container(r, '}', 1);
	case '[': return ref_container(r, ']', 0);
	case '"': return ref_string(r, &has_nul);
	case 't': return ref_literal(r, "true");
	case 'f': return ref_literal(r, "false");
	case 'n': return ref_literal(r, "null");
	default: return ref_number(r);
	}
}

/* Returns 1 when s[0..n) is one JSON text (RFC 8259, 2). */
static int ref_json(const unsigned char *s, size_t n, struct ref *r)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->n = n;
	ref_ws(r);
	if (!ref_value(r))
		return 0;
	ref_ws(r);
	return r->i == r->n;
}

/* --- the checks ----------------------------------------------------------- */

__attribute__((noreturn)) static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_json_body: %s; input (%zu bytes): %.*s\n", what, size, (int)(size < 2000 ? size : 2000),
	    (const char *)data);
	abort();
}

static void check_error(struct resp *resp, int status, const uint8_t *data, size_t size)
{
	json_object *err, *code;

	if (status != 400 || resp->status != 400)
		fail("a field reader failed with something other than 400", data, size);
	if (!json_object_object_get_ex(resp->body, "error", &err) || !json_object_object_get_ex(err, "code", &code) ||
	    !json_object_is_type(code, json_type_string))
		fail("a field reader's 400 has no error body", data, size);
	resp_free(resp);
}

/* Runs every reader over every field of o, as a handler would. */
static void read_fields(json_object *o, const char *prefix, const uint8_t *data, size_t size)
{
	static const char *const allowed[] = { "name", "data", "mode", "target", "ttl", "key", "max_attempts", NULL };
	struct resp resp;
	int status, present, fields = 0;

	memset(&resp, 0, sizeof(resp));
	if ((status = fields_known(o, allowed, prefix, &resp)) != 0)
		check_error(&resp, status, data, size);
	json_object_object_foreach(o, key, val) {
		int64_t n = 0;
		const char *s = NULL;

		(void)val;
		if (++fields > 16)
			break;
		if ((status = field_int(o, key, -JSON_MAX_SAFE_INT, JSON_MAX_SAFE_INT, &n, &present, prefix, &resp)) != 0)
			check_error(&resp, status, data, size);
		else if (present && (n < -JSON_MAX_SAFE_INT || n > JSON_MAX_SAFE_INT))
			fail("field_int gave a value out of its range", data, size);
		if ((status = field_int(o, key, 1, 100, &n, &present, prefix, &resp)) != 0)
			check_error(&resp, status, data, size);
		else if (present && (n < 1 || n > 100))
			fail("field_int gave a value out of its range", data, size);
		if ((status = field_string(o, key, 64, &s, &present, prefix, &resp)) != 0)
			check_error(&resp, status, data, size);
		else if (present && (s == NULL || strlen(s) == 0 || strlen(s) > 64 || !utf8_valid(s, strlen(s))))
			fail("field_string gave a string out of its bounds", data, size);
		if ((status = field_json(o, key, 64, &s, &present, prefix, &resp)) != 0) {
			check_error(&resp, status, data, size);
		} else {
			char why[160];
			int is_null;
			json_object *again;

			if (strlen(s) > 64)
				fail("field_json gave text over its limit", data, size);
			/* What field_json gives is stored and sent back verbatim: it must be JSON. */
			if ((again = json_body_parse(s, strlen(s), why, sizeof(why), &is_null)) == NULL && !is_null)
				fail("field_json gave text that does not parse again", data, size);
			json_object_put(again);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[160], *body;
	int is_null, ref_ok;
	json_object *v;
	struct ref ref;

	if ((body = malloc(size + 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	v = json_body_parse(body, size, why, sizeof(why), &is_null);
	ref_ok = ref_json(data, size, &ref);
	if ((v != NULL || is_null) && !ref_ok)
		fail("json_body_parse accepted what is not JSON", data, size);
	if (v == NULL && !is_null && ref_ok && !ref.refused_by_rule && !ref.lone_surrogate) {
		fprintf(stderr, "json_body_parse said: %s\n", why);
		fail("json_body_parse refused JSON without a documented reason", data, size);
	}
	if (v == NULL && !is_null && why[0] == '\0')
		fail("json_body_parse refused without saying why", data, size);

	if (v != NULL) {
		size_t len, len2;
		const char *text = json_text(v, &len);
		char *copy = strndup(text, len);
		json_object *v2, *wrapper;

		/* Stored text goes back to clients as it is: it must be valid JSON that reads the same. */
		if (!utf8_valid(copy, len) || !ref_json((const unsigned char *)copy, len, &ref))
			fail("json_text gave text that is not JSON", data, size);
		if ((v2 = json_body_parse(copy, len, why, sizeof(why), &is_null)) == NULL) {
			fprintf(stderr, "stored text %s: %s\n", copy, why);
			fail("json_text gave text that json_body_parse refuses", data, size);
		}
		if (strcmp(json_text(v2, &len2), copy) != 0)
			fail("json_text is not stable across a round trip", data, size);
		json_object_put(v2);

		/* Embedded raw, as commands are sent. */
		wrapper = json_object_new_object();
		json_object_object_add(wrapper, "data", json_raw_new(copy, len));
		text = json_text(wrapper, &len2);
		if (len2 != len + 9 || memcmp(text + 8, copy, len) != 0)
			fail("json_raw_new does not embed text verbatim", data, size);
		json_object_put(wrapper);
		free(copy);

		if (json_object_is_type(v, json_type_object)) {
			read_fields(v, "", data, size);
		} else if (json_object_is_type(v, json_type_array)) {
			size_t n = json_object_array_length(v);

			for (size_t k = 0; k < n && k < 8; k++) {
				json_object *e = json_object_array_get_idx(v, k);
				char prefix[32];

				snprintf(prefix, sizeof(prefix), "commands[%zu].", k);
				if (json_object_is_type(e, json_type_object))
					read_fields(e, prefix, data, size);
			}
		}
	}

	/* body_object() over the same bytes, as h_claims, h_ack and h_poll read theirs. */
	{
		struct req req;
		struct resp resp;
		json_object *o = NULL;
		int status;

		memset(&req, 0, sizeof(req));
		memset(&resp, 0, sizeof(resp));
		req.body = body;
		req.body_len = size;
		status = body_object(&req, &resp, 0, &o);
		if (status == 0 && (o == NULL || !json_object_is_type(o, json_type_object)))
			fail("body_object gave something other than an object", data, size);
		if (status == 0 && !(v != NULL && json_is_object_like(v)))
			fail("body_object accepted what json_body_parse did not", data, size);
		if (status != 0 && v != NULL && json_is_object_like(v))
			fail("body_object refused an object", data, size);
		if (status != 0) {
			json_object *err;

			if (status != 400 || !json_object_object_get_ex(resp.body, "error", &err))
				fail("body_object failed without a 400 error body", data, size);
		}
		json_object_put(o);
		resp_free(&resp);
	}
	json_object_put(v);
	free(body);
	return 0;
}
