/* One request, start to finish: read, route, handle, answer, log. */
#ifndef CMDRELAY_APP_H
#define CMDRELAY_APP_H

struct settings;
struct conn;

void app_handle(const struct settings *cfg, struct conn *c);

/* Sweeps expired and long-finished commands of the process's database. */
void app_housekeeping(const struct settings *cfg);

#endif
