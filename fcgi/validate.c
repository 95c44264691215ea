#include "validate.h"

#include <string.h>

static bool is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool channel_valid(const char *s)
{
	size_t n;

	if (s == NULL || !is_alnum(s[0]))
		return false;
	for (n = 1; s[n] != '\0'; n++)
		if (n >= CHANNEL_MAX || !(is_alnum(s[n]) || s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return false;
	return true;
}

bool command_name_valid(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > COMMAND_NAME_MAX || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
		/* U+0080 to U+009F (C1) are control characters too: C2 80 to C2 9F. */
		if ((unsigned char)s[i] == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

bool consumer_valid(const char *s)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= CONSUMER_MAX || !(is_alnum(s[n]) || s[n] == '.' || s[n] == '_' || s[n] == ':' || s[n] == '-'))
			return false;
	return true;
}

size_t utf8_sequence_len(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (len == 0)
		return 0;
	if (u[0] < 0x80)
		return 1;
	/* RFC 3629, section 4: the second byte's range depends on the first. */
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (u[0] == 0xe0)
		lo = 0xa0;      /* overlong */
	else if (u[0] == 0xed)
		hi = 0x9f;      /* surrogates */
	else if (u[0] == 0xf0)
		lo = 0x90;      /* overlong */
	else if (u[0] == 0xf4)
		hi = 0x8f;      /* past U+10FFFF */
	if (len < n || u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xbf)
			return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_sequence_len(s + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}
