#include "response.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "json_body.h"
#include "parse.h"
#include "text_buf.h"
#include "validate.h"

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Messages quote what the client sent (a path, a content type), possibly cut
 * short mid-character: a JSON body must be UTF-8, so any byte that is not part
 * of a valid sequence becomes '?'. */
static void utf8_scrub(char *s)
{
	size_t len = strlen(s), i = 0, n;

	while (i < len) {
		if ((n = utf8_sequence_len(s + i, len - i)) == 0) {
			s[i] = '?';
			n = 1;
		}
		i += n;
	}
}

int resp_error(struct resp *resp, int status, const char *code, const char *fmt, ...)
{
	char message[512];
	json_object *body, *err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	utf8_scrub(message);
	json_object_put(resp->body);
	resp->body = NULL;
	resp->status = status;
	if ((body = json_object_new_object()) == NULL || (err = json_object_new_object()) == NULL) {
		json_object_put(body);
		return status;
	}
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(body, "error", err);
	resp->body = body;
	return status;
}

int resp_json(struct resp *resp, int status, json_object *body)
{
	json_object_put(resp->body);
	resp->body = body;
	if (body == NULL)
		return resp_unavailable(resp, "out of memory");
	resp->status = status;
	return status;
}

int resp_text(struct resp *resp, int status, const char *content_type, struct text_buf *t)
{
	char *text = text_take(t);

	if (text == NULL)
		return resp_unavailable(resp, "out of memory");
	json_object_put(resp->body);
	resp->body = NULL;
	free(resp->text);
	resp->text = text;
	resp->content_type = content_type;
	resp->status = status;
	return status;
}

int resp_list(struct resp *resp, int status, const char *name, json_object *list)
{
	json_object *reply;

	if (list == NULL || (reply = json_object_new_object()) == NULL) {
		json_object_put(list);
		return resp_unavailable(resp, "out of memory");
	}
	json_object_object_add(reply, name, list);
	return resp_json(resp, status, reply);
}

int resp_unavailable(struct resp *resp, const char *what)
{
	resp->retry_after = 1;
	return resp_error(resp, 503, "unavailable", "%s; try again shortly", what);
}

/* Header lines are appended by hand: snprintf was a few percent of a read. */
struct head {
	char text[512];
	size_t len;
	bool overflow;
};

static void head_add(struct head *h, const char *s)
{
	size_t n = strlen(s);

	if (h->len + n >= sizeof(h->text)) {
		h->overflow = true;
		return;
	}
	memcpy(h->text + h->len, s, n);
	h->len += n;
}

static void head_add_uint(struct head *h, uint64_t v)
{
	char digits[UINT_TEXT_SIZE];

	head_add(h, uint_text(v, digits));
}

void resp_send(const struct resp *resp, struct conn *c)
{
	struct head h = { .len = 0 };
	const char *payload;
	size_t payload_len = 0;

	if (resp->text != NULL) {
		payload = resp->text;
		payload_len = strlen(resp->text);
	} else if (resp->body != NULL) {
		payload = json_text(resp->body, &payload_len);
	} else {
		payload = "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}";
		payload_len = strlen(payload);
	}
	head_add(&h, "Status: ");
	head_add_uint(&h, (uint64_t)resp->status);
	head_add(&h, " ");
	head_add(&h, reason_phrase(resp->status));
	head_add(&h, "\r\nContent-Type: ");
	head_add(&h, resp->text != NULL ? resp->content_type : "application/json");
	head_add(&h, "\r\nContent-Length: ");
	head_add_uint(&h, payload_len + 1);
	head_add(&h, "\r\nCache-Control: no-store\r\n");
	if (resp->allow != NULL) {
		head_add(&h, "Allow: ");
		head_add(&h, resp->allow);
		head_add(&h, "\r\n");
	}
	if (resp->www_authenticate)
		head_add(&h, "WWW-Authenticate: Bearer realm=\"cmdrelay\"\r\n");
	if (resp->retry_after > 0) {
		head_add(&h, "Retry-After: ");
		head_add_uint(&h, (uint64_t)resp->retry_after);
		head_add(&h, "\r\n");
	}
	head_add(&h, "\r\n");
	if (h.overflow)
		return;
	/* A client that went away makes these fail; there is nobody left to tell. */
	if (c->write(c, h.text, (int)h.len) == 0 && c->write(c, payload, (int)payload_len) == 0)
		(void)c->write(c, "\n", 1);
}

void resp_free(struct resp *resp)
{
	json_object_put(resp->body);
	free(resp->text);
	memset(resp, 0, sizeof(*resp));
}
