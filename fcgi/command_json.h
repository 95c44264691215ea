/* The JSON shapes of the API's objects, as every v1 endpoint (and the
 * operator's --json) shows them: commands and channel depths. */
#ifndef CMDRELAY_COMMAND_JSON_H
#define CMDRELAY_COMMAND_JSON_H

#include <json-c/json.h>

#include "store.h"
#include "text_buf.h"

/* {"id","channel","name","data","mode","target","key","state","attempts",
 * "created_at","expires_at","result"}, plus "lease" {"token","expires_at"}
 * when with_lease.  Returns NULL when out of memory. */
json_object *command_json(const struct command_row *row, int with_lease);

/* An ISO-8601 string for ms, or JSON null for 0. */
json_object *time_json(int64_t ms);

/* The commands of one answer, written as JSON text as the rows arrive: a
 * list is the hot path of reads, polls and claims, and one buffer for the
 * whole list costs far less than a json-c node per command. */
struct command_list {
	struct text_buf text;
	size_t count;
	int64_t last_id;  /* of the last command added */
	int with_lease;
};

void command_list_init(struct command_list *l, int with_lease);

/* A store callback: appends the row (its command_json() shape) to the list arg. */
int command_list_add(void *list, const struct command_row *row);

/* Returns the list as a JSON array node (yours), leaving it empty; NULL when memory ran out. */
json_object *command_list_take(struct command_list *l);

/* Appends the list to t as a JSON array, for answers written as text. */
void command_list_put(struct text_buf *t, const struct command_list *l);

void command_list_free(struct command_list *l);

/* A store callback that appends a channel's depths {"name", "pending",
 * "leased", "done", "dead", "oldest_pending_at"} to the json array arg. */
int channel_depth_json_append(void *array, const struct channel_depth *c);

#endif
