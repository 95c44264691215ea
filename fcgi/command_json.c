#include "command_json.h"

#include "json_body.h"
#include "timeutil.h"

json_object *time_json(int64_t ms)
{
	char buf[ISO8601_SIZE];

	return ms == 0 ? NULL : json_object_new_string(time_iso8601(ms, buf));
}

static json_object *string_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

json_object *command_json(const struct command_row *row, int with_lease)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(row->id));
	json_object_object_add(o, "channel", json_object_new_string(row->channel));
	json_object_object_add(o, "name", json_object_new_string(row->name));
	json_object_object_add(o, "data", json_raw_new(row->data, row->data_len));
	json_object_object_add(o, "mode", json_object_new_string(row->mode));
	json_object_object_add(o, "target", string_or_null(row->target));
	json_object_object_add(o, "key", string_or_null(row->key));
	json_object_object_add(o, "state", json_object_new_string(row->state));
	json_object_object_add(o, "attempts", json_object_new_int64(row->attempts));
	json_object_object_add(o, "created_at", time_json(row->created_at));
	json_object_object_add(o, "expires_at", time_json(row->expires_at));
	json_object_object_add(o, "result", row->result != NULL ? json_raw_new(row->result, row->result_len) : NULL);
	if (with_lease) {
		json_object *lease = json_object_new_object();

		if (lease != NULL) {
			json_object_object_add(lease, "token", string_or_null(row->lease_token));
			json_object_object_add(lease, "expires_at", time_json(row->lease_expires_at));
		}
		json_object_object_add(o, "lease", lease);
	}
	return o;
}

int command_json_append(void *array, const struct command_row *row)
{
	json_object *o = command_json(row, 0);

	return o != NULL && json_object_array_add(array, o) == 0 ? 0 : -1;
}

int command_json_append_leased(void *array, const struct command_row *row)
{
	json_object *o = command_json(row, 1);

	return o != NULL && json_object_array_add(array, o) == 0 ? 0 : -1;
}
