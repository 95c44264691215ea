/* A growing text on the heap, written by appending: the JSON of the hot
 * answers (lists of commands, polls) is written this way rather than built
 * as json-c nodes, which cost an allocation or more per member. */
#ifndef CMDRELAY_TEXT_BUF_H
#define CMDRELAY_TEXT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct text_buf {
	char *buf;
	size_t len, cap;
	int failed;  /* memory ran out: the text is not to be used */
};

/* Makes room for len more bytes and a terminating NUL; false when memory ran out. */
bool text_grow(struct text_buf *t, size_t len);

/* Appends len bytes.  The text is NUL-terminated only when taken: a listed
 * command is some forty appends. */
static inline void text_put(struct text_buf *t, const char *s, size_t len)
{
	if (t->len + len + 1 > t->cap && !text_grow(t, len))
		return;
	memcpy(t->buf + t->len, s, len);
	t->len += len;
}

/* Appends a string literal; its length is known when compiling. */
#define TEXT_PUT_LIT(t, lit) text_put((t), "" lit, sizeof(lit) - 1)

void text_put_str(struct text_buf *t, const char *s);
void text_put_uint(struct text_buf *t, uint64_t n);
void text_printf(struct text_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the text, NUL-terminated, for the caller to free, leaving t empty;
 * NULL when memory ran out while it was written (t is freed then too). */
char *text_take(struct text_buf *t);

void text_free(struct text_buf *t);

#endif
