/* Who may call what: the API key a request carries, checked against the
 * scopes and channels the route table asks for (route.c).
 *
 * A key travels as "Authorization: Bearer <token>" (RFC 6750, section 2.1)
 * or "X-Api-Key: <token>"; when both come, the Bearer token is the one
 * used.  The token is hashed at once and only its SHA-256 is looked up or
 * compared; neither the token nor the hash is ever logged. */
#ifndef CMDRELAY_AUTH_H
#define CMDRELAY_AUTH_H

struct ctx;
struct req;
struct resp;
struct settings;

/* A key verified against the database is trusted for this long in each
 * process, so a busy key costs one primary-key lookup a second, and a
 * revoked key stops working within about a second everywhere (the issue
 * allows two). */
#define AUTH_CACHE_MS 1000

/* A key's last_used_at is written at most this often, so that reading
 * with a key does not turn into a write per request. */
#define AUTH_TOUCH_MS (60 * 1000)

/* Decides whether req may call the method of route r (ctx->channel set by
 * route_find).  Returns 0, or the status of the refusal with resp filled:
 * 401 unauthorized (no key, or an unknown, expired or revoked one, with
 * WWW-Authenticate), 403 forbidden (scope or channel), or 503. */
int auth_check(const struct ctx *ctx, const struct req *req, int r, struct resp *resp);

/* Logs, once at start, the settings that weaken access (CMDRELAY_TUTORIAL_OPEN). */
void auth_log_settings(const struct settings *cfg);

#endif
