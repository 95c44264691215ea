#include "body_fields.h"

#include <string.h>

#include "json_body.h"
#include "parse.h"
#include "request.h"
#include "response.h"

int body_object(const struct req *req, struct resp *resp, int optional, json_object **out)
{
	char why[160];
	int is_null;
	json_object *v;

	*out = NULL;
	if (req->body == NULL || req->body_len == 0) {
		if (!optional)
			return resp_error(resp, 400, "invalid_json", "request body is empty; a JSON object is required");
		*out = json_object_new_object();
		return *out != NULL ? 0 : resp_unavailable(resp, "out of memory");
	}
	v = json_body_parse(req->body, req->body_len, why, sizeof(why), &is_null);
	if (v == NULL && !is_null)
		return resp_error(resp, 400, "invalid_json", "%s", why);
	if (v == NULL || !json_is_object_like(v)) {
		json_object_put(v);
		return resp_error(resp, 400, "invalid_request", "body must be a JSON object");
	}
	if (json_object_is_type(v, json_type_array)) {
		json_object_put(v);
		v = json_object_new_object();
		if (v == NULL)
			return resp_unavailable(resp, "out of memory");
	}
	*out = v;
	return 0;
}

int fields_known(json_object *o, const char *const allowed[], const char *prefix, struct resp *resp)
{
	json_object_object_foreach(o, key, val) {
		const char *const *a;

		(void)val;
		for (a = allowed; *a != NULL; a++)
			if (strcmp(key, *a) == 0)
				break;
		if (*a == NULL)
			return resp_error(resp, 400, "invalid_request", "unknown field \"%s%.64s\"", prefix, key);
	}
	return 0;
}

/* Finds a field; absent and null are the same thing to the API. */
static json_object *field_get(json_object *o, const char *name)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, name, &v) ? v : NULL;
}

int field_int(json_object *o, const char *name, int64_t min, int64_t max, int64_t *out, int *present,
    const char *prefix, struct resp *resp)
{
	json_object *v = field_get(o, name);
	int64_t n;

	*present = v != NULL;
	if (v == NULL)
		return 0;
	/* A double such as 1.0 or 1e2 is refused too: integers only where integers are due. */
	if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < min || n > max)
		return resp_error(resp, 400, "invalid_request", "%s%s must be an integer from %lld to %lld", prefix, name,
		    (long long)min, (long long)max);
	*out = n;
	return 0;
}

int field_string(json_object *o, const char *name, size_t max_len, const char **out, int *present,
    const char *prefix, struct resp *resp)
{
	json_object *v = field_get(o, name);

	*present = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return resp_error(resp, 400, "invalid_request", "%s%s must be a string", prefix, name);
	if ((size_t)json_object_get_string_len(v) > max_len || json_object_get_string_len(v) == 0)
		return resp_error(resp, 400, "invalid_request", "%s%s must be 1 to %zu bytes", prefix, name, max_len);
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return resp_error(resp, 400, "invalid_request", "%s%s must not contain NUL", prefix, name);
	*out = json_object_get_string(v);
	return 0;
}

int field_json(json_object *o, const char *name, size_t max_len, const char **out, int *present,
    const char *prefix, struct resp *resp)
{
	json_object *v = field_get(o, name);
	size_t len;

	*present = v != NULL;
	*out = "null";
	if (v == NULL)
		return 0;
	*out = json_text(v, &len);
	if (len > max_len)
		return resp_error(resp, 400, "invalid_request", "%s%s is %zu bytes encoded, over the limit of %zu", prefix,
		    name, len, max_len);
	return 0;
}

int query_int(const struct req *req, const char *name, int64_t min, int64_t max, int64_t *out, struct resp *resp)
{
	const char *v = query_get(&req->query, name);

	if (v == NULL)
		return 0;
	if (parse_i64(v, min, max, out) == -1)
		return resp_error(resp, 400, "invalid_request", "query parameter %s must be an integer from %lld to %lld",
		    name, (long long)min, (long long)max);
	return 0;
}

int query_known(const struct req *req, const char *const allowed[], struct resp *resp)
{
	const char *unknown;

	if (req->query_error == QUERY_TOO_MANY)
		return resp_error(resp, 400, "invalid_request", "more than %d query parameters", QUERY_MAX_PARAMS);
	if (req->query_error != QUERY_OK)
		return resp_error(resp, 400, "invalid_request", "query string has a malformed %%-escape");
	if ((unknown = query_unknown(&req->query, allowed)) != NULL)
		return resp_error(resp, 400, "invalid_request", "unknown query parameter \"%.64s\"", unknown);
	return 0;
}

int query_none(const struct req *req, struct resp *resp)
{
	static const char *const none[] = { NULL };

	return query_known(req, none, resp);
}
