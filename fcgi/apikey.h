/* API keys as text: tokens, their hashes, scopes and channel patterns.
 * Nothing here touches the database, HTTP or the clock.
 *
 * A token is "crk_" followed by 43 base64url characters (RFC 4648, section
 * 5, no padding) that encode 32 bytes from getrandom(2): 256 bits, twice the
 * 128 the issue asks for.  The fixed prefix lets secret scanners (and
 * people) recognise a leaked cmdrelay key: crk_[A-Za-z0-9_-]{43}.  The relay
 * keeps only SHA-256(token), so the database never holds anything a client
 * could send. */
#ifndef CMDRELAY_APIKEY_H
#define CMDRELAY_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#define KEY_TOKEN_PREFIX "crk_"
#define KEY_TOKEN_PREFIX_LEN 4
#define KEY_RANDOM_BYTES 32
#define KEY_TOKEN_LEN (KEY_TOKEN_PREFIX_LEN + 43)
#define KEY_TOKEN_SIZE (KEY_TOKEN_LEN + 1)
#define KEY_HASH_LEN 32
#define KEY_LABEL_MAX 200
#define KEY_CHANNELS_MAX 1024 /* a normalised channel pattern, in bytes */
#define KEY_GLOB_MAX 128      /* one glob of it */
#define KEY_SCOPES_SIZE 32    /* "publish,consume,admin" and its NUL */

enum key_scope {
	SCOPE_PUBLISH = 1 << 0,
	SCOPE_CONSUME = 1 << 1,
	SCOPE_ADMIN = 1 << 2,
};

/* Makes a new token from libsodium's CSPRNG (getrandom(2) underneath), which
 * ends the process rather than ever hand out a weak one.  Returns 0, or -1
 * when libsodium cannot be initialised. */
int key_token_new(char token[KEY_TOKEN_SIZE]);

/* Returns true when token has the shape of one key_token_new makes.  Anything
 * else cannot be a key, and is refused without a look at the database. */
bool key_token_well_formed(const char *token);

/* SHA-256 of the token's bytes (libsodium).  Returns 0, or -1 on failure. */
int key_token_hash(const char *token, unsigned char hash[KEY_HASH_LEN]);

/* The bit of one scope name ("publish", "consume", "admin"), or 0. */
unsigned key_scope_bit(const char *name, size_t len);

/* A comma-separated list of scope names to bits.  Returns 0 when the list is
 * empty or names anything else. */
unsigned key_scopes_parse(const char *list);

/* Writes the scope names of bits, comma-separated, in a fixed order
 * ("publish,consume,admin") into out (KEY_SCOPES_SIZE bytes). */
const char *key_scopes_format(unsigned bits, char out[KEY_SCOPES_SIZE]);

/* Checks a channel pattern (comma-separated globs of channel characters and
 * '*', such as "game-*, lobby") and writes it without spaces into out.
 * Returns 0, or -1 with a reason in why. */
int key_channels_normalize(const char *in, char *out, size_t out_size, char *why, size_t why_size);

/* Returns true when channel matches one of the globs of a normalised pattern. */
bool key_channels_allow(const char *pattern, const char *channel);

#endif
