/* Typed, bounded reads of the fields of a JSON request body.  Each reader
 * answers the 400 itself, naming the field (with a prefix such as
 * "commands[3]." inside a batch), so a handler reads like a list of fields. */
#ifndef CMDRELAY_BODY_FIELDS_H
#define CMDRELAY_BODY_FIELDS_H

#include <json-c/json.h>
#include <stdint.h>

struct req;
struct resp;

/* Parses the request body as a JSON object (an empty array counts as {},
 * which is how Roblox encodes an empty table).  A missing body is {} when
 * optional.  Returns 0 and sets *out (yours to put), or an HTTP status. */
int body_object(const struct req *req, struct resp *resp, int optional, json_object **out);

/* Returns 0 when every field of o is in allowed (NULL-terminated), else 400 naming the first other. */
int fields_known(json_object *o, const char *const allowed[], const char *prefix, struct resp *resp);

/* Each returns 0 (with *out set, or left alone when the field is absent or
 * null and *present = 0) or a 400 status. */
int field_int(json_object *o, const char *name, int64_t min, int64_t max, int64_t *out, int *present,
    const char *prefix, struct resp *resp);
int field_string(json_object *o, const char *name, size_t max_len, const char **out, int *present,
    const char *prefix, struct resp *resp);

/* Serialises field name (any JSON) as text, at most max_len bytes; absent or
 * null gives "null" and *present = 0. */
int field_json(json_object *o, const char *name, size_t max_len, const char **out, int *present,
    const char *prefix, struct resp *resp);

/* Query parameters: the same rules for integers, for GET requests. */
int query_int(const struct req *req, const char *name, int64_t min, int64_t max, int64_t *out, struct resp *resp);

/* Refuses any query parameter not in allowed with a 400 naming it. */
int query_known(const struct req *req, const char *const allowed[], struct resp *resp);

/* Refuses every query parameter: for the endpoints that take none, so a
 * parameter sent by mistake ("?ttl=5" on a publish) is never ignored. */
int query_none(const struct req *req, struct resp *resp);

#endif
