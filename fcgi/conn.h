/* The transport a request arrived on: a FastCGI request or a CGI process.
 * Only main.c/serve.c create one and only request.c and response.c use one,
 * so handlers never see FastCGI at all. */
#ifndef CMDRELAY_CONN_H
#define CMDRELAY_CONN_H

#include <stddef.h>

struct conn {
	char **envp;
	/* Read up to len bytes of the body; returns the count, 0 at its end, -1 on error. */
	int (*read)(struct conn *, char *buf, int len);
	/* Write all len bytes; returns 0 or -1. */
	int (*write)(struct conn *, const char *buf, int len);
	void *in;
	void *out;
	int fd;   /* the socket to the web server (FastCGI), or -1 */
};

/* Returns the named CGI/FastCGI parameter, or NULL. */
const char *conn_param(const struct conn *c, const char *name);

/* Returns true when the web server has closed the connection, which it does
 * when the client hangs up: a long poll then stops waiting for nobody.
 * False when it is there, or when the transport cannot tell (CGI). */
int conn_gone(const struct conn *c);

/* Transports, defined in conn.c. */
void conn_init_fcgi(struct conn *c, void *fcgx_request);
void conn_init_cgi(struct conn *c, char **envp);

#endif
