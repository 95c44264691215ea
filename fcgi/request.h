/* One HTTP request as the relay sees it, read from the gateway's parameters. */
#ifndef CMDRELAY_REQUEST_H
#define CMDRELAY_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

struct conn;
struct resp;

enum http_method { METHOD_GET, METHOD_POST, METHOD_DELETE, METHOD_PUT, METHOD_PATCH, METHOD_HEAD,
	METHOD_OPTIONS, METHOD_OTHER };

#define REQUEST_PATH_MAX 1024

struct req {
	enum http_method method;
	char method_text[16];         /* as sent, for messages: truncated, letters only */
	char path[REQUEST_PATH_MAX];  /* decoded route path, e.g. "/v1/channels/lobby/commands" */
	struct query query;
	int query_error;              /* QUERY_OK, or why the query string could not be read */
	const char *authorization;    /* Authorization header, or NULL */
	const char *api_key;          /* X-Api-Key header, or NULL */
	const char *content_type;
	const char *db_path;          /* CMDRELAY_DB parameter of this request, or NULL */
	char *body;                   /* NUL-terminated; NULL when none was sent */
	size_t body_len;
	int64_t now_ms;               /* when the request began, Unix milliseconds */
};

/* Reads parameters and the body (at most body_limit bytes, decided from
 * CONTENT_LENGTH before reading any).  Returns 0, or an HTTP status with an
 * error set in resp.  Call request_free() in either case. */
int request_read(struct req *req, struct conn *c, size_t body_limit, struct resp *resp);
void request_free(struct req *req);

/* Returns true when the body's Content-Type is JSON, or absent. */
int request_body_is_json(const struct req *req);

const char *method_name(enum http_method m);

#endif
