#include "settings.h"
#include "body_fields.h"
#include "handler.h"
#include "request.h"
#include "response.h"
#include "store.h"

#include <config.h>

int h_health(struct ctx *ctx, const struct req *req, struct resp *resp)
{
	json_object *o;
	int status;

	if ((status = query_none(req, resp)) != 0)
		return status;
	if ((o = json_object_new_object()) == NULL)
		return resp_unavailable(resp, "out of memory");
	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "schema_version", json_object_new_int(store_schema_version(ctx->st)));
	return resp_json(resp, 200, o);
}
