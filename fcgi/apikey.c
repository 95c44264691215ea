#include "apikey.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

int key_token_new(char token[KEY_TOKEN_SIZE])
{
	unsigned char random[KEY_RANDOM_BYTES];

	/* Only here does the relay need sodium_init(): hashing, comparing and
	 * base64 are plain C in libsodium, with no implementation picked at
	 * run time.  sodium_init() probes the CPU with cpuid, which traps to
	 * the hypervisor on a virtual machine: 20 us of every CGI request when
	 * main() called it (docs/performance.md).  It is idempotent and
	 * thread-safe. */
	if (sodium_init() < 0)
		return -1;
	_Static_assert(KEY_TOKEN_SIZE - KEY_TOKEN_PREFIX_LEN ==
	        sodium_base64_ENCODED_LEN(KEY_RANDOM_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	    "a token is its prefix and its random bytes in base64url");
	randombytes_buf(random, sizeof(random));
	memcpy(token, KEY_TOKEN_PREFIX, KEY_TOKEN_PREFIX_LEN);
	sodium_bin2base64(token + KEY_TOKEN_PREFIX_LEN, KEY_TOKEN_SIZE - KEY_TOKEN_PREFIX_LEN, random, sizeof(random),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(random, sizeof(random));
	return 0;
}

/* The base64url alphabet (RFC 4648, section 5), tested by ranges: a strchr a character
 * was a percent of every keyed request. */
static bool is_base64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool key_token_well_formed(const char *token)
{
	if (token == NULL || strncmp(token, KEY_TOKEN_PREFIX, KEY_TOKEN_PREFIX_LEN) != 0)
		return false;
	for (size_t i = KEY_TOKEN_PREFIX_LEN; i < KEY_TOKEN_LEN; i++)
		if (!is_base64url(token[i]))
			return false;
	return token[KEY_TOKEN_LEN] == '\0';
}

int key_token_hash(const char *token, unsigned char hash[KEY_HASH_LEN])
{
	/* libsodium rather than libcrypto: OpenSSL 3 fetches its digest provider
	 * on every call, and merely loading libcrypto costs a CGI request 2.5 M
	 * instructions of symbol lookup (docs/performance.md). */
	_Static_assert(KEY_HASH_LEN == crypto_hash_sha256_BYTES, "a key hash is a SHA-256");
	return crypto_hash_sha256(hash, (const unsigned char *)token, strlen(token)) == 0 ? 0 : -1;
}

static const struct {
	const char *name;
	unsigned bit;
} scope_names[] = {
	{ "publish", SCOPE_PUBLISH },
	{ "consume", SCOPE_CONSUME },
	{ "admin", SCOPE_ADMIN },
};

unsigned key_scope_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (strlen(scope_names[i].name) == len && strncmp(scope_names[i].name, name, len) == 0)
			return scope_names[i].bit;
	return 0;
}

unsigned key_scopes_parse(const char *list)
{
	unsigned bits = 0;
	const char *p = list;

	if (list == NULL || *list == '\0')
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		unsigned bit = key_scope_bit(p, len);

		if (bit == 0)
			return 0;
		bits |= bit;
		if (p[len] == '\0')
			return bits;
		p += len + 1;
	}
}

const char *key_scopes_format(unsigned bits, char out[KEY_SCOPES_SIZE])
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (bits & scope_names[i].bit)
			o += (size_t)snprintf(out + o, KEY_SCOPES_SIZE - o, "%s%s", o > 0 ? "," : "", scope_names[i].name);
	return out;
}

static bool glob_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	    c == '-' || c == '*';
}

int key_channels_normalize(const char *in, char *out, size_t out_size, char *why, size_t why_size)
{
	size_t o = 0;
	const char *p = in;

	if (in == NULL || out_size == 0) {
		snprintf(why, why_size, "no channel pattern");
		return -1;
	}
	for (;;) {
		const char *next = p + strcspn(p, ","), *end = next;

		while (p < end && *p == ' ')
			p++;
		while (end > p && end[-1] == ' ')
			end--;
		if (end == p) {
			snprintf(why, why_size, "channel pattern has an empty entry: each entry is a channel name or a glob such as game-*");
			return -1;
		}
		if ((size_t)(end - p) > KEY_GLOB_MAX) {
			snprintf(why, why_size, "channel pattern entry longer than %d bytes", KEY_GLOB_MAX);
			return -1;
		}
		for (const char *c = p; c < end; c++)
			if (!glob_char(*c)) {
				snprintf(why, why_size,
				    "channel pattern may hold only letters, digits, '.', '_', '-', '*' and commas, not '%c'",
				    *c >= 0x20 && *c < 0x7f ? *c : '?');
				return -1;
			}
		if (o + (o > 0) + (size_t)(end - p) + 1 > out_size || o + (o > 0) + (size_t)(end - p) > KEY_CHANNELS_MAX) {
			snprintf(why, why_size, "channel pattern longer than %d bytes", KEY_CHANNELS_MAX);
			return -1;
		}
		if (o > 0)
			out[o++] = ',';
		memcpy(out + o, p, (size_t)(end - p));
		o += (size_t)(end - p);
		out[o] = '\0';
		if (*next == '\0')
			return 0;
		p = next + 1;
	}
}

bool key_channels_allow(const char *pattern, const char *channel)
{
	const char *p = pattern;

	if (pattern == NULL || channel == NULL)
		return false;
	for (;;) {
		char glob[KEY_GLOB_MAX + 1];
		size_t len = strcspn(p, ",");

		/* A pattern is checked when the key is made; an entry that is too
		 * long here matches nothing rather than being cut short. */
		if (len <= KEY_GLOB_MAX) {
			memcpy(glob, p, len);
			glob[len] = '\0';
			if (len > 0 && glob_match(glob, channel))
				return true;
		}
		if (p[len] == '\0')
			return false;
		p += len + 1;
	}
}
