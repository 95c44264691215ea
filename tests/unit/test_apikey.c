/* Unit tests of API keys as text (apikey.c): tokens, hashes, scopes and
 * channel patterns. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "tap.h"

static void hex(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static void test_tokens(void)
{
	char a[KEY_TOKEN_SIZE], b[KEY_TOKEN_SIZE];

	ok(key_token_new(a) == 0 && key_token_new(b) == 0, "tokens are made");
	ok(strlen(a) == KEY_TOKEN_LEN && strncmp(a, "crk_", 4) == 0, "a token is crk_ and 43 characters: %s", "(not shown)");
	ok(strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	    "the random part is base64url");
	ok(strcmp(a, b) != 0, "two tokens differ");
	ok(key_token_well_formed(a), "a new token is well formed");
	ok(!key_token_well_formed(NULL) && !key_token_well_formed("") && !key_token_well_formed("crk_"),
	    "empty or prefix-only tokens are not");
	b[KEY_TOKEN_LEN - 1] = '\0';
	ok(!key_token_well_formed(b), "a token one character short is not");
	strcpy(b, a);
	b[10] = '+';
	ok(!key_token_well_formed(b), "a token with a character outside base64url is not");
	{
		int wrong = 0;

		/* Every byte in one place: well formed exactly for the 64 of base64url. */
		for (int c = 1; c < 256; c++) {
			strcpy(b, a);
			b[20] = (char)c;
			if (key_token_well_formed(b) != (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                                         "0123456789-_", c) != NULL))
				wrong++;
		}
		ok(wrong == 0, "each of the 255 bytes is judged by the base64url alphabet (%d judged wrongly)", wrong);
	}
	strcpy(b, a);
	b[0] = 'C';
	ok(!key_token_well_formed(b), "the prefix is case-sensitive");
	{
		char longer[KEY_TOKEN_SIZE + 1];

		snprintf(longer, sizeof(longer), "%sA", a);
		ok(!key_token_well_formed(longer), "a token one character long is not");
	}
}

static void test_hash(void)
{
	unsigned char h[KEY_HASH_LEN];
	char text[2 * KEY_HASH_LEN + 1];

	/* FIPS 180-2, appendix B.1. */
	ok(key_token_hash("abc", h) == 0, "key_token_hash succeeds");
	hex(h, sizeof(h), text);
	ok(strcmp(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
	    "SHA-256(\"abc\") matches the FIPS 180-2 vector");
	key_token_hash("", h);
	hex(h, sizeof(h), text);
	ok(strcmp(text, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "SHA-256 of nothing");
}

static void test_scopes(void)
{
	char out[KEY_SCOPES_SIZE];

	ok(key_scopes_parse("publish") == SCOPE_PUBLISH, "publish");
	ok(key_scopes_parse("consume,publish") == (SCOPE_PUBLISH | SCOPE_CONSUME), "a comma list");
	ok(key_scopes_parse("admin") == SCOPE_ADMIN, "admin");
	ok(key_scopes_parse("") == 0 && key_scopes_parse(NULL) == 0, "no scope is 0");
	ok(key_scopes_parse("publish,") == 0 && key_scopes_parse(",publish") == 0, "an empty entry is refused");
	ok(key_scopes_parse("Publish") == 0 && key_scopes_parse("pub") == 0 && key_scopes_parse("publisher") == 0,
	    "only exact names");
	ok(strcmp(key_scopes_format(SCOPE_ADMIN | SCOPE_PUBLISH | SCOPE_CONSUME, out), "publish,consume,admin") == 0,
	    "formatted in a fixed order");
	ok(strcmp(key_scopes_format(SCOPE_CONSUME, out), "consume") == 0 && strcmp(key_scopes_format(0, out), "") == 0,
	    "one scope, none");
	ok(key_scopes_parse(key_scopes_format(SCOPE_CONSUME | SCOPE_ADMIN, out)) == (SCOPE_CONSUME | SCOPE_ADMIN),
	    "format and parse round-trip");
}

static void test_channels(void)
{
	char out[KEY_CHANNELS_MAX + 1], why[256], big[KEY_CHANNELS_MAX + 64];

	ok(key_channels_normalize("game-*, lobby", out, sizeof(out), why, sizeof(why)) == 0 &&
	    strcmp(out, "game-*,lobby") == 0, "spaces around entries are dropped");
	ok(key_channels_normalize("*", out, sizeof(out), why, sizeof(why)) == 0 && strcmp(out, "*") == 0, "* alone");
	ok(key_channels_normalize("a,,b", out, sizeof(out), why, sizeof(why)) == -1, "an empty entry is refused");
	ok(key_channels_normalize("", out, sizeof(out), why, sizeof(why)) == -1, "an empty pattern is refused");
	ok(key_channels_normalize(" , x", out, sizeof(out), why, sizeof(why)) == -1, "a blank entry is refused");
	ok(key_channels_normalize("game one", out, sizeof(out), why, sizeof(why)) == -1, "a space inside is refused");
	ok(key_channels_normalize("a/b", out, sizeof(out), why, sizeof(why)) == -1 && strstr(why, "'/'") != NULL,
	    "other characters are refused, named");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(key_channels_normalize(big, out, sizeof(out), why, sizeof(why)) == -1, "an overlong entry is refused");
	for (size_t i = 100; i < sizeof(big) - 1; i += 101)
		big[i] = ',';
	ok(key_channels_normalize(big, out, sizeof(out), why, sizeof(why)) == -1, "an overlong pattern is refused");

	ok(key_channels_allow("*", "anything"), "* allows every channel");
	ok(key_channels_allow("game-*,lobby", "game-7") && key_channels_allow("game-*,lobby", "lobby"),
	    "each entry is tried");
	ok(!key_channels_allow("game-*,lobby", "lobby2") && !key_channels_allow("game-*,lobby", "xgame-1"),
	    "entries match whole names");
	ok(!key_channels_allow("game-*", "game"), "game-* needs the dash");
	ok(key_channels_allow("*-eu", "lobby-eu") && !key_channels_allow("*-eu", "lobby-us"), "a leading star");
	ok(!key_channels_allow("", "x") && !key_channels_allow(NULL, "x"), "an empty pattern allows nothing");
}

int main(void)
{
	/* No sodium_init() here: the relay hashes keys without it (only
	 * key_token_new initialises libsodium), so the hashes are checked
	 * first, before anything could have initialised it. */
	test_hash();
	test_tokens();
	test_scopes();
	test_channels();
	return tap_done();
}
