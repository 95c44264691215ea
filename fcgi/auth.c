#include "auth.h"

#include <sodium.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apikey.h"
#include "handler.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "route.h"
#include "settings.h"
#include "store.h"
#include "store_pool.h"

/* What a request needs to know of a verified key. */
struct verified_key {
	int64_t id;
	unsigned scopes;
	int64_t expires_at;   /* Unix ms, 0: never */
	int64_t revoked_at;   /* Unix ms, 0: not revoked */
	int64_t last_used_at; /* Unix ms, 0: never */
	char channels[KEY_CHANNELS_MAX + 1];
};

/* Keys verified in the last AUTH_CACHE_MS, direct-mapped by the first bytes
 * of their hash (uniformly spread: SHA-256 output).  A collision simply
 * costs the newcomer a lookup.  Only good keys are kept: an unknown token
 * is looked up every time, which is one index probe.
 *
 * A key belongs to one database, and one process may serve several (the
 * CMDRELAY_DB FastCGI parameter, one per site): a slot holds the path of the
 * database that verified it, and serves only requests for that database.
 * A request whose path is longer than a slot holds is never served from
 * the cache. */
#define AUTH_CACHE_SLOTS 64
#define AUTH_CACHE_PATH_SIZE 256

struct cache_slot {
	unsigned char hash[KEY_HASH_LEN];
	int64_t verified_at;  /* monotonic ms; 0: empty */
	struct verified_key key;
	char db_path[AUTH_CACHE_PATH_SIZE];
};

static struct cache_slot cache[AUTH_CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* Cache ages are measured on the monotonic clock: setting the wall clock
 * back must not keep a revoked key alive. */
static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

static struct cache_slot *slot_of(const unsigned char hash[KEY_HASH_LEN])
{
	return &cache[(hash[0] | (unsigned)hash[1] << 8) % AUTH_CACHE_SLOTS];
}

static bool cache_get(const char *db_path, const unsigned char hash[KEY_HASH_LEN], struct verified_key *key)
{
	struct cache_slot *s = slot_of(hash);
	int64_t now = monotonic_ms();
	bool hit;

	pthread_mutex_lock(&cache_lock);
	hit = s->verified_at != 0 && now - s->verified_at < AUTH_CACHE_MS &&
	    sodium_memcmp(s->hash, hash, KEY_HASH_LEN) == 0 && strcmp(s->db_path, db_path) == 0;
	if (hit)
		*key = s->key;
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

static void cache_put(const char *db_path, const unsigned char hash[KEY_HASH_LEN], const struct verified_key *key,
    int64_t verified_at)
{
	struct cache_slot *s = slot_of(hash);
	size_t len = strlen(db_path);

	if (len >= sizeof(s->db_path))
		return;
	pthread_mutex_lock(&cache_lock);
	memcpy(s->hash, hash, KEY_HASH_LEN);
	memcpy(s->db_path, db_path, len + 1);
	s->key = *key;
	s->verified_at = verified_at;
	pthread_mutex_unlock(&cache_lock);
}

static void cache_drop(const char *db_path, const unsigned char hash[KEY_HASH_LEN])
{
	struct cache_slot *s = slot_of(hash);

	pthread_mutex_lock(&cache_lock);
	if (sodium_memcmp(s->hash, hash, KEY_HASH_LEN) == 0 && strcmp(s->db_path, db_path) == 0)
		s->verified_at = 0;
	pthread_mutex_unlock(&cache_lock);
}

static int keep_key(void *arg, const struct key_row *row)
{
	struct verified_key *key = arg;
	size_t len = strlen(row->channels);

	key->id = row->id;
	key->scopes = key_scopes_parse(row->scopes);
	key->expires_at = row->expires_at;
	key->revoked_at = row->revoked_at;
	key->last_used_at = row->last_used_at;
	/* The command line never stores a longer pattern; one written by other
	 * means is not cut short (which could widen it) but matches nothing. */
	if (len <= KEY_CHANNELS_MAX)
		memcpy(key->channels, row->channels, len + 1);
	else
		key->channels[0] = '\0';
	return 0;
}

static int unauthorized(struct resp *resp, const char *message)
{
	resp_error(resp, 401, "unauthorized", "%s", message);
	resp->www_authenticate = true;
	return 401;
}

/* Looks the key up in the database and records its use now and then.
 * Returns 0 with *key filled, or a status with resp filled. */
static int key_verify(const struct ctx *ctx, const unsigned char hash[KEY_HASH_LEN], int64_t now_ms,
    struct verified_key *key, struct resp *resp)
{
	char why[256];
	struct store *st;
	enum store_rc rc;
	int64_t checked_at = monotonic_ms();

	if ((st = store_pool_acquire(ctx->db_path, why, sizeof(why))) == NULL) {
		log_msg("cannot open the database: %s", why);
		return resp_unavailable(resp, "the database cannot be opened");
	}
	rc = store_key_find(st, hash, KEY_HASH_LEN, keep_key, key);
	if (rc == STORE_OK && key->revoked_at == 0 && (key->expires_at == 0 || key->expires_at > now_ms) &&
	    now_ms - key->last_used_at >= AUTH_TOUCH_MS) {
		/* Failing to record the use must not fail (or hold up) the request;
		 * while the database is busy it is simply tried again next time. */
		enum store_rc trc = store_key_touch(st, key->id, now_ms, AUTH_TOUCH_MS);

		if (trc != STORE_OK && trc != STORE_BUSY)
			log_msg("cannot record the use of key %lld: %s", (long long)key->id, store_rc_name(trc));
	}
	if (rc != STORE_OK && rc != STORE_NOT_FOUND)
		log_msg("key lookup failed: %s (%s)", store_rc_name(rc), store_errmsg(st));
	store_pool_release(st, rc != STORE_OK && rc != STORE_NOT_FOUND);
	if (rc == STORE_NOT_FOUND) {
		cache_drop(ctx->db_path, hash);
		return unauthorized(resp, "unknown API key");
	}
	if (rc != STORE_OK)
		return rc == STORE_BUSY ? resp_unavailable(resp, "the database is busy")
		                        : resp_unavailable(resp, "the database failed");
	if (key->revoked_at != 0) {
		cache_drop(ctx->db_path, hash);
		return unauthorized(resp, "this API key has been revoked");
	}
	cache_put(ctx->db_path, hash, key, checked_at);
	return 0;
}

/* Finds the token a request carries: a Bearer token if Authorization holds
 * one, else X-Api-Key.  Copies at most size - 1 bytes of it into out (a
 * longer one cannot be well formed) and returns out, or NULL when none. */
static const char *request_token(const struct req *req, char *out, size_t size)
{
	const char *t = NULL;
	size_t len;

	if (req->authorization != NULL && strncasecmp(req->authorization, "Bearer", 6) == 0 &&
	    (req->authorization[6] == ' ' || req->authorization[6] == '\t')) {
		t = req->authorization + 6;
	} else if (req->api_key != NULL) {
		t = req->api_key;
	} else {
		return NULL;
	}
	while (*t == ' ' || *t == '\t')
		t++;
	len = strlen(t);
	while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(out, t, len);
	out[len] = '\0';
	return out;
}

int auth_check(const struct ctx *ctx, const struct req *req, int r, struct resp *resp)
{
	unsigned need = route_access(r, req->method);
	bool tutorial = routes[r].access.tutorial;
	const char *channel = tutorial ? ctx->cfg->tutorial_channel : ctx->channel;
	char token_buf[KEY_TOKEN_SIZE + 1];
	unsigned char hash[KEY_HASH_LEN];
	struct verified_key key;
	const char *token;
	int status;

	if (need & ACCESS_PUBLIC)
		return 0;
	if (tutorial && ctx->cfg->tutorial_open)
		return 0;
	if ((token = request_token(req, token_buf, sizeof(token_buf))) == NULL)
		return unauthorized(resp, "an API key is required: send Authorization: Bearer <key> or X-Api-Key: <key>");
	if (!key_token_well_formed(token)) {
		explicit_bzero(token_buf, sizeof(token_buf));
		return unauthorized(resp, "unknown API key");
	}
	status = key_token_hash(token, hash);
	explicit_bzero(token_buf, sizeof(token_buf));
	if (status == -1)
		return resp_unavailable(resp, "cannot check the API key");
	if (!cache_get(ctx->db_path, hash, &key) && (status = key_verify(ctx, hash, req->now_ms, &key, resp)) != 0)
		return status;
	if (key.expires_at != 0 && key.expires_at <= req->now_ms)
		return unauthorized(resp, "this API key has expired");
	if ((key.scopes & (need | SCOPE_ADMIN)) == 0) {
		char scopes[KEY_SCOPES_SIZE];

		return resp_error(resp, 403, "forbidden", "%s %s needs a key with one of the scopes %s", method_name(req->method),
		    routes[r].pattern, key_scopes_format(need | SCOPE_ADMIN, scopes));
	}
	if (channel != NULL && !key_channels_allow(key.channels, channel))
		return resp_error(resp, 403, "forbidden", "this API key may not use channel %.100s", channel);
	return 0;
}

void auth_log_settings(const struct settings *cfg)
{
	if (cfg->tutorial_open)
		log_msg("warning: CMDRELAY_TUTORIAL_OPEN=1: /PostCommand, /GetCommands and /DeleteCommands"
		        " (channel %.64s) answer without an API key; use it only on a trusted network",
		    cfg->tutorial_channel);
}
