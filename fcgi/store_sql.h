/* Every SQL statement the relay runs, by name.  The text is in store_sql.c. */
#ifndef CMDRELAY_STORE_SQL_H
#define CMDRELAY_STORE_SQL_H

enum stmt {
	STMT_BEGIN,
	STMT_BEGIN_IMMEDIATE,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_TUTORIAL_DELETE_NAME,
	STMT_TUTORIAL_INSERT,
	STMT_TUTORIAL_LIST,
	STMT__COUNT
};

extern const char *const store_sql[STMT__COUNT];

#endif
