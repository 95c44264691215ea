/* The JSON shapes of the API's objects, as every v1 endpoint (and the
 * operator's --json) shows them: commands and channel depths. */
#ifndef CMDRELAY_COMMAND_JSON_H
#define CMDRELAY_COMMAND_JSON_H

#include <json-c/json.h>

#include "store.h"

/* {"id","channel","name","data","mode","target","key","state","attempts",
 * "created_at","expires_at","result"}, plus "lease" {"token","expires_at"}
 * when with_lease.  Returns NULL when out of memory. */
json_object *command_json(const struct command_row *row, int with_lease);

/* An ISO-8601 string for ms, or JSON null for 0. */
json_object *time_json(int64_t ms);

/* A store callback that appends command_json(row, 0) to the json array arg. */
int command_json_append(void *array, const struct command_row *row);

/* The same, with the lease. */
int command_json_append_leased(void *array, const struct command_row *row);

/* A store callback that appends a channel's depths {"name", "pending",
 * "leased", "done", "dead", "oldest_pending_at"} to the json array arg. */
int channel_depth_json_append(void *array, const struct channel_depth *c);

#endif
