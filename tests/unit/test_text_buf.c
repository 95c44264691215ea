/* Unit tests of the growing text the hot answers are written into. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "text_buf.h"

int main(void)
{
	struct text_buf t = { 0 };
	char *s, *big;

	s = text_take(&t);
	ok(s != NULL && strcmp(s, "") == 0, "nothing written takes as an empty text");
	free(s);

	TEXT_PUT_LIT(&t, "{\"cursor\":");
	text_put_uint(&t, 18446744073709551615ULL);
	text_put_str(&t, "}");
	s = text_take(&t);
	ok(s != NULL && strcmp(s, "{\"cursor\":18446744073709551615}") == 0, "literals, integers and strings in order");
	ok(t.buf == NULL && t.len == 0, "taking leaves the buffer empty");
	free(s);

	/* Past the first allocation, by appends and by printf. */
	big = malloc(20000);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	text_put_str(&t, big);
	text_printf(&t, "%s|%d", big, 42);
	s = text_take(&t);
	ok(s != NULL && strlen(s) == 2 * 19999 + 3 && strncmp(s, big, 19999) == 0 && strcmp(s + 39998, "|42") == 0,
	    "it grows for appends and for printf past its first size");
	free(s);
	free(big);

	text_printf(&t, "%s", "");
	text_printf(&t, "a%cb", 'c');
	s = text_take(&t);
	ok(s != NULL && strcmp(s, "acb") == 0, "printf of nothing, then of something");
	free(s);

	TEXT_PUT_LIT(&t, "lost");
	t.failed = 1;
	TEXT_PUT_LIT(&t, "more");
	ok(text_take(&t) == NULL, "a text that ran out of memory is not handed out");
	ok(t.buf == NULL && !t.failed, "and is freed, ready to be written again");
	return tap_done();
}
