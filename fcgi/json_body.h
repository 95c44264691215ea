/* JSON in and out: strict parsing of request bodies, and embedding of JSON text
 * that the store already holds without parsing it again. */
#ifndef CMDRELAY_JSON_BODY_H
#define CMDRELAY_JSON_BODY_H

#include <json-c/json.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 32
/* The largest integer a Luau number (an IEEE double) holds exactly. */
#define JSON_MAX_SAFE_INT 9007199254740992LL

/* Sets the calling thread to glibc's C locale object.  json-c switches to
 * the C numeric locale around every parse (duplocale, newlocale, freelocale:
 * allocations and glibc's process-wide locale lock, which 32 threads parsing
 * at once queue on); from the C locale object all three return at once.
 * Every thread that parses calls it first; the relay uses no other locale. */
void json_thread_init(void);

/* Parses body[0..len) (body[len] must be '\0') as one JSON value: strict syntax,
 * valid UTF-8, at most JSON_MAX_DEPTH levels, finite numbers, integers within
 * +-2^53.  Returns the value (yours to json_object_put), or NULL with a short
 * reason in why.  A literal null body parses to NULL too: *is_null tells. */
json_object *json_body_parse(const char *body, size_t len, char *why, size_t why_size, int *is_null);

/* Serialises v compactly, as stored and as sent: no spaces, '/' unescaped.
 * The string belongs to v. */
const char *json_text(json_object *v, size_t *len);

/* Returns a node that serialises as the given JSON text, copied verbatim. */
json_object *json_raw_new(const char *text, size_t len);

/* The same for a malloc'd NUL-terminated text, which the node takes over
 * (and frees, also when it returns NULL). */
json_object *json_raw_take(char *text);

/* Returns true when v is an object, or an empty array (Roblox's JSONEncode
 * turns an empty table into []). */
int json_is_object_like(json_object *v);

#endif
