#include "route.h"

#include <string.h>

/* Access per method, as issue 4 puts it: publish publishes, reads and
 * cancels commands and reads consumers; consume reads, claims, acks and
 * polls; admin does everything, and alone lists channels and metrics. */
const struct route routes[ROUTE__COUNT] = {
	[ROUTE_HEALTH] = { "/v1/health", "health", h_health, NULL, NULL, "GET",
		{ .get = ACCESS_PUBLIC } },
	[ROUTE_TUTORIAL_POST] = { "/PostCommand", "tutorial_post", NULL, h_tutorial_post, NULL, "POST",
		{ .post = SCOPE_PUBLISH, .tutorial = true } },
	[ROUTE_TUTORIAL_GET] = { "/GetCommands", "tutorial_get", h_tutorial_get, NULL, NULL, "GET",
		{ .get = SCOPE_CONSUME, .tutorial = true } },
	[ROUTE_TUTORIAL_DELETE] = { "/DeleteCommands", "tutorial_delete", NULL, NULL, h_tutorial_delete, "DELETE",
		{ .delete = SCOPE_CONSUME, .tutorial = true } },
	[ROUTE_CHANNELS] = { "/v1/channels", "channels", h_channels, NULL, NULL, "GET",
		{ .get = SCOPE_ADMIN } },
	[ROUTE_COMMANDS] = { "/v1/channels/{ch}/commands", "commands", h_read, h_publish, NULL, "GET, POST",
		{ .get = ACCESS_READ, .post = SCOPE_PUBLISH } },
	[ROUTE_COMMAND] = { "/v1/channels/{ch}/commands/{id}", "command", h_command_get, NULL, h_command_cancel,
		"GET, DELETE", { .get = ACCESS_READ, .delete = SCOPE_PUBLISH } },
	[ROUTE_ACK] = { "/v1/channels/{ch}/commands/{id}/ack", "ack", NULL, h_ack, NULL, "POST",
		{ .post = SCOPE_CONSUME } },
	[ROUTE_CLAIMS] = { "/v1/channels/{ch}/claims", "claims", NULL, h_claims, NULL, "POST",
		{ .post = SCOPE_CONSUME } },
	[ROUTE_POLL] = { "/v1/channels/{ch}/poll", "poll", NULL, h_poll, NULL, "POST",
		{ .post = SCOPE_CONSUME } },
	[ROUTE_CONSUMERS] = { "/v1/channels/{ch}/consumers", "consumers", h_consumers, NULL, NULL, "GET",
		{ .get = SCOPE_PUBLISH } },
	[ROUTE_METRICS] = { "/metrics", "metrics", h_metrics, NULL, NULL, "GET",
		{ .get = SCOPE_ADMIN } },
};

/* Matches one pattern against path, segment by segment. */
static int pattern_match(const char *pattern, char *path, char **channel, char **id)
{
	const char *p = pattern;
	char *s = path;

	*channel = NULL;
	*id = NULL;
	for (;;) {
		size_t plen, slen;

		if (*p != '/' || *s != '/')
			return *p == '\0' && *s == '\0';
		p++;
		s++;
		plen = strcspn(p, "/");
		slen = strcspn(s, "/");
		if (plen == 4 && strncmp(p, "{ch}", 4) == 0 && slen > 0) {
			*channel = s;
		} else if (plen == 4 && strncmp(p, "{id}", 4) == 0 && slen > 0) {
			*id = s;
		} else if (plen != slen || strncmp(p, s, plen) != 0) {
			return 0;
		}
		p += plen;
		s += slen;
	}
}

int route_find(const char *path, char *path_copy, struct ctx *ctx)
{
	/* Matching reads the copy; only the route that matches cuts its captures out of it. */
	strcpy(path_copy, path);
	for (int r = 0; r < ROUTE__COUNT; r++) {
		char *channel, *id;

		if (pattern_match(routes[r].pattern, path_copy, &channel, &id)) {
			if (channel != NULL)
				channel[strcspn(channel, "/")] = '\0';
			if (id != NULL)
				id[strcspn(id, "/")] = '\0';
			ctx->channel = channel;
			ctx->id_text = id;
			return r;
		}
	}
	return ROUTE_NOT_FOUND;
}

unsigned route_access(int r, enum http_method method)
{
	switch (method) {
	case METHOD_GET: return routes[r].access.get;
	case METHOD_POST: return routes[r].access.post;
	case METHOD_DELETE: return routes[r].access.delete;
	default: return 0;
	}
}

handler_fn *route_handler(int r, enum http_method method)
{
	switch (method) {
	case METHOD_GET: return routes[r].get;
	case METHOD_POST: return routes[r].post;
	case METHOD_DELETE: return routes[r].delete;
	default: return NULL;
	}
}
