#include "request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "response.h"
#include "timeutil.h"

static const char *const method_names[] = {
	[METHOD_GET] = "GET", [METHOD_POST] = "POST", [METHOD_DELETE] = "DELETE", [METHOD_PUT] = "PUT",
	[METHOD_PATCH] = "PATCH", [METHOD_HEAD] = "HEAD", [METHOD_OPTIONS] = "OPTIONS", [METHOD_OTHER] = "OTHER",
};

const char *method_name(enum http_method m)
{
	return method_names[m];
}

static enum http_method method_parse(const char *s)
{
	for (int m = METHOD_GET; m < METHOD_OTHER; m++)
		if (s != NULL && strcmp(s, method_names[m]) == 0)
			return (enum http_method)m;
	return METHOD_OTHER;
}

static const char *nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/* Finds the route path whatever the gateway passed.  PATH_INFO (CGI under
 * Apache, or nginx with fastcgi_split_path_info) and DOCUMENT_URI (nginx's
 * stock fastcgi_params) arrive decoded; REQUEST_URI arrives raw and is decoded
 * here, once.  An optional CMDRELAY_PREFIX parameter is stripped. */
static int path_find(struct req *req, struct conn *c, struct resp *resp)
{
	const char *p, *prefix;
	size_t len;

	if ((p = nonempty(conn_param(c, "PATH_INFO"))) != NULL ||
	    (p = nonempty(conn_param(c, "DOCUMENT_URI"))) != NULL) {
		if ((len = strlen(p)) >= sizeof(req->path))
			return resp_error(resp, 414, "invalid_request", "request path longer than %d bytes",
			    REQUEST_PATH_MAX - 1);
		memcpy(req->path, p, len + 1);
	} else if ((p = nonempty(conn_param(c, "REQUEST_URI"))) != NULL) {
		const char *q = strchr(p, '?');

		len = q != NULL ? (size_t)(q - p) : strlen(p);
		if (len >= sizeof(req->path))
			return resp_error(resp, 414, "invalid_request", "request path longer than %d bytes",
			    REQUEST_PATH_MAX - 1);
		if (percent_decode(p, len, req->path, false) < 0)
			return resp_error(resp, 400, "invalid_request", "request path has a malformed %%-escape");
	} else {
		strcpy(req->path, "/");
	}
	if ((prefix = nonempty(conn_param(c, "CMDRELAY_PREFIX"))) != NULL) {
		size_t n = strlen(prefix);

		while (n > 0 && prefix[n - 1] == '/')
			n--;
		if (strncmp(req->path, prefix, n) == 0 && (req->path[n] == '/' || req->path[n] == '\0'))
			memmove(req->path, req->path + n, strlen(req->path + n) + 1);
		if (req->path[0] == '\0')
			strcpy(req->path, "/");
	}
	return 0;
}

static int body_read(struct req *req, struct conn *c, size_t body_limit, struct resp *resp)
{
	const char *cl = nonempty(conn_param(c, "CONTENT_LENGTH"));
	int64_t length;
	size_t got = 0;

	if (cl == NULL)
		return 0;
	if (parse_i64(cl, 0, INT64_MAX, &length) == -1)
		return resp_error(resp, 400, "invalid_request", "Content-Length is not a byte count");
	if ((uint64_t)length > body_limit)
		return resp_error(resp, 413, "payload_too_large", "body of %lld bytes is over the limit of %zu bytes",
		    (long long)length, body_limit);
	if (length == 0)
		return 0;
	if ((req->body = malloc((size_t)length + 1)) == NULL)
		return resp_unavailable(resp, "out of memory");
	while (got < (size_t)length) {
		int n = c->read(c, req->body + got, (int)((size_t)length - got));

		if (n <= 0)
			return resp_error(resp, 400, "invalid_request", "body ended after %zu of %lld bytes", got,
			    (long long)length);
		got += (size_t)n;
	}
	req->body[got] = '\0';
	req->body_len = got;
	return 0;
}

int request_read(struct req *req, struct conn *c, size_t body_limit, struct resp *resp)
{
	int rc;

	memset(req, 0, sizeof(*req));
	req->now_ms = time_now_ms();
	{
		const char *m = conn_param(c, "REQUEST_METHOD");
		size_t i;

		req->method = method_parse(m);
		for (i = 0; m != NULL && m[i] != '\0' && i + 1 < sizeof(req->method_text); i++)
			req->method_text[i] = (m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z') ? m[i] : '?';
		req->method_text[i] = '\0';
	}
	req->authorization = nonempty(conn_param(c, "HTTP_AUTHORIZATION"));
	/* Apache without CGIPassAuth: a rewrite rule copies the header into the
	 * environment, and after an internal redirect (an .htaccess rewrite)
	 * it may arrive only under the REDIRECT_ name.  No client can set a
	 * REDIRECT_ variable: its headers all become HTTP_ ones. */
	if (req->authorization == NULL)
		req->authorization = nonempty(conn_param(c, "REDIRECT_HTTP_AUTHORIZATION"));
	req->api_key = nonempty(conn_param(c, "HTTP_X_API_KEY"));
	req->content_type = nonempty(conn_param(c, "CONTENT_TYPE"));
	req->db_path = nonempty(conn_param(c, "CMDRELAY_DB"));
	if ((rc = path_find(req, c, resp)) != 0)
		return rc;
	/* A bad query string is reported by the endpoints that read one
	 * (query_known); the tutorial's endpoints ignore the query string. */
	req->query_error = query_parse(conn_param(c, "QUERY_STRING"), &req->query);
	if (req->query_error == QUERY_NO_MEMORY)
		return resp_unavailable(resp, "out of memory");
	if (req->query_error != QUERY_OK)
		query_free(&req->query);
	return body_read(req, c, body_limit, resp);
}

void request_free(struct req *req)
{
	query_free(&req->query);
	free(req->body);
	req->body = NULL;
}

int request_body_is_json(const struct req *req)
{
	const char *ct = req->content_type;
	size_t n;

	if (ct == NULL)
		return 1;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0)
		return 1;
	/* Structured syntax suffix (RFC 6839): application/problem+json and the like. */
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}
