#include "text_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "parse.h"

/* The first allocation holds a typical answer whole. */
#define TEXT_BUF_FIRST 8192

bool __attribute__((noinline)) text_grow(struct text_buf *t, size_t len)
{
	size_t cap = (t->len + len + 1) * 2 < TEXT_BUF_FIRST ? TEXT_BUF_FIRST : (t->len + len + 1) * 2;
	char *grown;

	if (t->failed)
		return false;
	if ((grown = realloc(t->buf, cap)) == NULL) {
		t->failed = 1;
		return false;
	}
	t->buf = grown;
	t->cap = cap;
	return true;
}

void text_put_str(struct text_buf *t, const char *s)
{
	text_put(t, s, strlen(s));
}

void text_put_uint(struct text_buf *t, uint64_t n)
{
	char digits[UINT_TEXT_SIZE];

	text_put_str(t, uint_text(n, digits));
}

void text_printf(struct text_buf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = t->cap - t->len;

		if (t->failed)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->buf != NULL ? t->buf + t->len : NULL, t->buf != NULL ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		/* Written whole, with room for the NUL that text_take adds. */
		if (t->buf != NULL && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		if (!text_grow(t, (size_t)n))
			return;
	}
}

char *text_take(struct text_buf *t)
{
	char *s = NULL;

	if (!t->failed && (t->buf != NULL || text_grow(t, 0))) {
		t->buf[t->len] = '\0';
		s = t->buf;
		t->buf = NULL;
	}
	text_free(t);
	return s;
}

void text_free(struct text_buf *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = t->cap = 0;
	t->failed = 0;
}
