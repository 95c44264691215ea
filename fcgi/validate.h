/* The shapes of names that come from clients: channels, commands, consumers. */
#ifndef CMDRELAY_VALIDATE_H
#define CMDRELAY_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define CHANNEL_MAX 64
#define COMMAND_NAME_MAX 64
#define CONSUMER_MAX 128
#define DEDUP_KEY_MAX 128
#define PAYLOAD_MAX (16 * 1024)

/* ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ */
bool channel_valid(const char *s);

/* 1 to 64 bytes without control characters (the JSON parser already checked UTF-8). */
bool command_name_valid(const char *s, size_t len);

/* 1 to 128 bytes of [A-Za-z0-9._:-] */
bool consumer_valid(const char *s);

/* Returns the length (1 to 4) of the UTF-8 sequence at the start of s[0..len),
 * or 0 when it is not one by RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF, no truncated sequence. */
size_t utf8_sequence_len(const char *s, size_t len);

/* Returns true when all of s[0..len) is valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

#endif
