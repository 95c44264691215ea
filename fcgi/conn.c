#include "conn.h"

#include <fcgiapp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* FCGX_GetParam() with a cheap first test: a request asks for a dozen of
 * its thirty-odd parameters, and strncmp() on each was a few percent of a
 * whole read. */
const char *conn_param(const struct conn *c, const char *name)
{
	size_t len = strlen(name);

	if (c->envp == NULL)
		return NULL;
	for (char **p = c->envp; *p != NULL; p++)
		if ((*p)[0] == name[0] && strncmp(*p, name, len) == 0 && (*p)[len] == '=')
			return *p + len + 1;
	return NULL;
}

static int fcgi_read(struct conn *c, char *buf, int len)
{
	return FCGX_GetStr(buf, len, c->in);
}

static int fcgi_write(struct conn *c, const char *buf, int len)
{
	return FCGX_PutStr(buf, len, c->out) == len ? 0 : -1;
}

int conn_gone(const struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	char b;

	if (c->fd < 0 || poll(&p, 1, 0) != 1)
		return 0;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
		return 1;
	/* Readable: the rest of a request's records, or the end of the stream. */
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void conn_init_fcgi(struct conn *c, void *fcgx_request)
{
	FCGX_Request *r = fcgx_request;

	c->envp = r->envp;
	c->read = fcgi_read;
	c->write = fcgi_write;
	c->in = r->in;
	c->out = r->out;
	c->fd = r->ipcFd;
}

static int cgi_read(struct conn *c, char *buf, int len)
{
	size_t n = fread(buf, 1, (size_t)len, c->in);

	return n == 0 && ferror((FILE *)c->in) ? -1 : (int)n;
}

static int cgi_write(struct conn *c, const char *buf, int len)
{
	return fwrite(buf, 1, (size_t)len, c->out) == (size_t)len ? 0 : -1;
}

void conn_init_cgi(struct conn *c, char **envp)
{
	c->envp = envp;
	c->read = cgi_read;
	c->write = cgi_write;
	c->in = stdin;
	c->out = stdout;
	c->fd = -1;
}
