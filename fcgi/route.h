/* The route table: path patterns and the handler of each method. */
#ifndef CMDRELAY_ROUTE_H
#define CMDRELAY_ROUTE_H

#include <stdbool.h>

#include "apikey.h"
#include "handler.h"
#include "request.h"

enum route_id {
	ROUTE_HEALTH,
	ROUTE_TUTORIAL_POST,
	ROUTE_TUTORIAL_GET,
	ROUTE_TUTORIAL_DELETE,
	ROUTE_CHANNELS,
	ROUTE_COMMANDS,
	ROUTE_COMMAND,
	ROUTE_ACK,
	ROUTE_CLAIMS,
	ROUTE_POLL,
	ROUTE_CONSUMERS,
	ROUTE_METRICS,
	ROUTE__COUNT
};

/* Who may call each method of a route: a key holding any of the scopes
 * (enum key_scope) named, or anyone with ACCESS_PUBLIC.  An admin key may
 * call everything; a method left 0 is for admin keys only. */
#define ACCESS_PUBLIC 0x80
#define ACCESS_READ (SCOPE_PUBLISH | SCOPE_CONSUME)

struct route_access {
	unsigned char get, post, delete;
	bool tutorial;          /* on the tutorial's channel; CMDRELAY_TUTORIAL_OPEN=1 opens it */
};

struct route {
	const char *pattern;    /* segments; "{ch}" and "{id}" match one segment each */
	const char *name;       /* for metrics and logs */
	handler_fn *get;
	handler_fn *post;
	handler_fn *delete;
	const char *allow;      /* the Allow header of a 405 */
	struct route_access access;
};

extern const struct route routes[ROUTE__COUNT];

#define ROUTE_NOT_FOUND (-1)

/* Finds the route whose pattern matches path, filling ctx->channel and
 * ctx->id_text (pointing into path_copy, REQUEST_PATH_MAX bytes, which the
 * caller keeps).  Returns its index, or ROUTE_NOT_FOUND. */
int route_find(const char *path, char *path_copy, struct ctx *ctx);

/* The handler of method on route r, or NULL (405). */
handler_fn *route_handler(int r, enum http_method method);

/* Who may call method on route r (route_access bits; 0 for admin only). */
unsigned route_access(int r, enum http_method method);

#endif
