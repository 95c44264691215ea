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
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
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
