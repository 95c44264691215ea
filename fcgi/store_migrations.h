/* The schema's migrations, compiled in from sql/ by sql/embed.sh. */
#ifndef CMDRELAY_STORE_MIGRATIONS_H
#define CMDRELAY_STORE_MIGRATIONS_H

struct migration {
	int version;      /* PRAGMA user_version once applied */
	const char *file; /* for messages */
	const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

#endif
