/* What every handler receives, and the handlers themselves (h_*.c). */
#ifndef CMDRELAY_HANDLER_H
#define CMDRELAY_HANDLER_H

#include <stdint.h>

struct settings;
struct req;
struct resp;
struct store;

struct ctx {
	const struct settings *cfg;
	struct store *st;        /* this request's database connection */
	const char *db_path;     /* the database it belongs to */
	const char *channel;     /* {ch} of the route, validated; NULL when the route has none */
	const char *id_text;     /* {id} of the route, as sent */
};

/* A handler validates, calls the store, fills resp and returns the HTTP status. */
typedef int handler_fn(struct ctx *ctx, const struct req *req, struct resp *resp);

/* Maps a failed store call to the client's answer (503 and the like) and logs it. */
int store_failure(struct ctx *ctx, struct resp *resp, int store_rc, const char *doing);

handler_fn h_tutorial_post, h_tutorial_get, h_tutorial_delete;
handler_fn h_health;

#endif
