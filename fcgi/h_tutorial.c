/* The tutorial relay's three endpoints, answered exactly as the Flask app
 * answered them, so games written against it work unchanged.  They are kept in
 * one channel (cfg->tutorial_channel) of the same store as the v1 API. */
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "handler.h"
#include "json_body.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "validate.h"

#define TUTORIAL_MAX_ITEMS 1000

/* Parses the body into *out, answering 400 for anything that is not one JSON value. */
static int body_json(const struct req *req, struct resp *resp, json_object **out)
{
	char why[160];
	int is_null;

	if (req->body == NULL || req->body_len == 0)
		return resp_error(resp, 400, "invalid_json", "request body is empty; a JSON value is required");
	*out = json_body_parse(req->body, req->body_len, why, sizeof(why), &is_null);
	if (*out == NULL && !is_null)
		return resp_error(resp, 400, "invalid_json", "%s", why);
	return 0;
}

static json_object *server_reply(const char *server)
{
	json_object *o = json_object_new_object();

	if (o != NULL)
		json_object_object_add(o, "Server", json_object_new_string(server));
	return o;
}

int h_tutorial_post(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	struct tutorial_item *items = NULL;
	json_object *body = NULL;
	size_t count = 0;
	int status, rc;

	if ((status = body_json(req, resp, &body)) != 0)
		return status;
	if (body == NULL || !json_is_object_like(body)) {
		status = resp_error(resp, 400, "invalid_request", "body must be a JSON object of command names to values");
		goto out;
	}
	if (json_object_is_type(body, json_type_object)) {
		count = (size_t)json_object_object_length(body);
		if (count > TUTORIAL_MAX_ITEMS) {
			status = resp_error(resp, 400, "invalid_request", "more than %d commands in one request",
			    TUTORIAL_MAX_ITEMS);
			goto out;
		}
	}
	if (count > 0 && (items = calloc(count, sizeof(*items))) == NULL) {
		status = resp_unavailable(resp, "out of memory");
		goto out;
	}
	count = 0;
	if (json_object_is_type(body, json_type_object)) {
		json_object_object_foreach(body, name, value) {
			size_t len;

			if (!command_name_valid(name, strlen(name))) {
				status = resp_error(resp, 400, "invalid_request",
				    "command name \"%.80s\" must be 1 to %d bytes without control characters", name,
				    COMMAND_NAME_MAX);
				goto out;
			}
			items[count].name = name;
			/* json_text of a NULL value is "null", as stored. */
			items[count].data = value != NULL ? json_text(value, &len) : "null";
			if (value != NULL && len > PAYLOAD_MAX) {
				status = resp_error(resp, 400, "invalid_request", "value of \"%.80s\" is over %d bytes", name,
				    PAYLOAD_MAX);
				goto out;
			}
			count++;
		}
	}
	if (count > 0 && (rc = store_tutorial_put(ctx->st, ctx->cfg->tutorial_channel, items, count, req->now_ms)) != 0) {
		status = store_failure(ctx, resp, rc, "PostCommand");
		goto out;
	}
	status = resp_json(resp, 201, server_reply("HTTP 201: Created"));
out:
	free(items);
	json_object_put(body);
	return status;
}

static void add_command(void *arg, const char *name, const char *data, size_t data_len)
{
	/* Oldest first: a later command of the same name replaces the earlier one. */
	json_object_object_add(arg, name, json_raw_new(data, data_len));
}

int h_tutorial_get(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	json_object *reply, *data;
	int rc;

	if ((reply = server_reply("HTTP 200: OK")) == NULL || (data = json_object_new_object()) == NULL) {
		json_object_put(reply);
		return resp_unavailable(resp, "out of memory");
	}
	json_object_object_add(reply, "Data", data);
	if ((rc = store_tutorial_list(ctx->st, ctx->cfg->tutorial_channel, req->now_ms, add_command, data)) != 0) {
		json_object_put(reply);
		return store_failure(ctx, resp, rc, "GetCommands");
	}
	return resp_json(resp, 200, reply);
}

int h_tutorial_delete(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	const char **names = NULL;
	json_object *body = NULL;
	size_t count;
	int status, rc;

	if ((status = body_json(req, resp, &body)) != 0)
		return status;
	if (body == NULL || !json_object_is_type(body, json_type_array)) {
		status = resp_error(resp, 400, "invalid_request", "body must be a JSON array of command names");
		goto out;
	}
	count = json_object_array_length(body);
	if (count > TUTORIAL_MAX_ITEMS) {
		status = resp_error(resp, 400, "invalid_request", "more than %d names in one request", TUTORIAL_MAX_ITEMS);
		goto out;
	}
	if (count > 0 && (names = calloc(count, sizeof(*names))) == NULL) {
		status = resp_unavailable(resp, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		json_object *v = json_object_array_get_idx(body, i);

		if (!json_object_is_type(v, json_type_string)) {
			status = resp_error(resp, 400, "invalid_request", "element %zu of the body must be a command name string", i);
			goto out;
		}
		names[i] = json_object_get_string(v);
	}
	if (count > 0 && (rc = store_tutorial_delete(ctx->st, ctx->cfg->tutorial_channel, names, count)) != 0) {
		status = store_failure(ctx, resp, rc, "DeleteCommands");
		goto out;
	}
	status = resp_json(resp, 200, server_reply("HTTP 200: OK"));
out:
	free(names);
	json_object_put(body);
	return status;
}
