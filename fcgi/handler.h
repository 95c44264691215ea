/* What every handler receives, and the handlers themselves (h_*.c). */
#ifndef CMDRELAY_HANDLER_H
#define CMDRELAY_HANDLER_H

#include <stdint.h>

#include "command_json.h"

struct conn;
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
	const struct conn *conn; /* only to ask whether the client is still there (conn_gone) */
};

/* A handler validates, calls the store, fills resp and returns the HTTP status. */
typedef int handler_fn(struct ctx *ctx, const struct req *req, struct resp *resp);

/* Maps a failed store call to the client's answer (503 and the like) and logs it. */
int store_failure(struct ctx *ctx, struct resp *resp, int store_rc, const char *doing);

/* Answers {"commands": [...]}, the list written as text (h_commands.c). */
int commands_reply(struct resp *resp, int status, const struct command_list *list);

/* Shared by the queue and poll handlers (h_queue.c). */
struct claim_state {
	const char *consumer;
	int max;
	int64_t lease_ms;
	struct command_list list; /* claimed commands, with their leases */
};
int consumer_field(struct json_object *body, const char **consumer, struct resp *resp);
int claim_attempt(struct ctx *ctx, struct resp *resp, void *claim_state, int64_t *wake_at_ms);
int ack_failure(struct ctx *ctx, struct resp *resp, int store_rc, int64_t id);

/* Sweeps expired and long-finished commands, at most once a second per process. */
void sweep_now_and_then(struct ctx *ctx, int64_t now_ms);

handler_fn h_tutorial_post, h_tutorial_get, h_tutorial_delete;
handler_fn h_health;
handler_fn h_publish, h_read, h_command_get, h_command_cancel;
handler_fn h_claims, h_ack, h_poll;
handler_fn h_channels, h_consumers, h_metrics;

#endif
