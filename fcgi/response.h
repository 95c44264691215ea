/* What a handler answers, and the one place that writes it to the client. */
#ifndef CMDRELAY_RESPONSE_H
#define CMDRELAY_RESPONSE_H

#include <json-c/json.h>
#include <stdbool.h>

struct conn;
struct text_buf;

struct resp {
	int status;
	json_object *body;        /* owned; sent as application/json */
	char *text;               /* owned; sent instead of body when set (metrics) */
	const char *content_type; /* for text */
	const char *allow;        /* Allow header of a 405 */
	int retry_after;          /* seconds; 0 sends no Retry-After */
	bool www_authenticate;    /* 401 asks for a Bearer token */
};

/* Sets a JSON error body {"error": {"code", "message"}} and returns status,
 * so that a handler can write: return resp_error(resp, 400, "invalid_request", ...). */
int resp_error(struct resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Takes ownership of body (even when it is NULL: then answers 503). Returns status. */
int resp_json(struct resp *resp, int status, json_object *body);

/* Answers the text t (taking it over; one that ran out of memory answers 503).
 * The hot answers are JSON written as text: content_type "application/json". */
int resp_text(struct resp *resp, int status, const char *content_type, struct text_buf *t);

/* Answers {"<name>": list} (taking list over; NULL, from a failed allocation, answers 503). Returns status. */
int resp_list(struct resp *resp, int status, const char *name, json_object *list);

/* 503 unavailable with Retry-After: the database could not be written or read now. */
int resp_unavailable(struct resp *resp, const char *what);

/* Writes status line, headers and body. */
void resp_send(const struct resp *resp, struct conn *c);

void resp_free(struct resp *resp);

#endif
