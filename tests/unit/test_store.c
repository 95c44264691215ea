/* Unit tests of the store against a temporary database. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

static char dir[64];
static char path[128];

struct listing {
	char text[1024];
	int count;
};

static void collect(void *arg, const char *name, const char *data, size_t data_len)
{
	struct listing *l = arg;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "%s=%.*s;", name, (int)data_len, data);
	l->count++;
}

static void test_open_and_migrate(void)
{
	char why[256];
	struct store *st = store_open(path, why, sizeof(why));

	ok(st != NULL, "store_open creates a new database");
	ok(st != NULL && store_schema_version(st) == store_schema_latest(), "a new database is at the latest schema");
	store_close(st);
	st = store_open(path, why, sizeof(why));
	ok(st != NULL && store_schema_version(st) == store_schema_latest(), "opening again is harmless");
	store_close(st);
	ok(store_open("/nonexistent-dir-cmdrelay/x.db", why, sizeof(why)) == NULL && strstr(why, "does not exist") != NULL,
	    "a missing directory is reported as such");
}

static void test_tutorial(void)
{
	char why[256];
	struct store *st = store_open(path, why, sizeof(why));
	struct tutorial_item a[] = { { "kick", "\"Player1\"" }, { "say", "{\"text\":\"hi\"}" } };
	struct tutorial_item b[] = { { "kick", "\"Player2\"" } };
	const char *del[] = { "say", "unknown" };
	struct listing l = { "", 0 };

	ok(store_tutorial_put(st, "default", a, 2, 1000) == STORE_OK, "store_tutorial_put stores two commands");
	ok(store_tutorial_put(st, "default", b, 1, 2000) == STORE_OK, "store_tutorial_put replaces by name");
	ok(store_tutorial_list(st, "default", 3000, collect, &l) == STORE_OK && l.count == 2 &&
	    strcmp(l.text, "say={\"text\":\"hi\"};kick=\"Player2\";") == 0, "store_tutorial_list shows the last write of each name");
	memset(&l, 0, sizeof(l));
	ok(store_tutorial_list(st, "other", 3000, collect, &l) == STORE_OK && l.count == 0, "another channel is empty");
	ok(store_tutorial_delete(st, "default", del, 2) == STORE_OK, "store_tutorial_delete ignores unknown names");
	memset(&l, 0, sizeof(l));
	ok(store_tutorial_list(st, "default", 3000, collect, &l) == STORE_OK && strcmp(l.text, "kick=\"Player2\";") == 0,
	    "store_tutorial_delete removed the named command only");
	store_close(st);
}

/* Several processes open a fresh database at the same moment: every one
 * succeeds and the schema is applied once. */
static void test_concurrent_migration(void)
{
	char fresh[160], why[256];
	pid_t pids[6];
	int all_ok = 1;
	struct store *st;

	snprintf(fresh, sizeof(fresh), "%s/race.db", dir);
	/* A child must not inherit (and print again) the results so far. */
	fflush(stdout);
	for (int i = 0; i < 6; i++) {
		if ((pids[i] = fork()) == 0) {
			struct store *child = store_open(fresh, why, sizeof(why));

			if (child == NULL)
				fprintf(stderr, "# child: %s\n", why);
			_exit(child != NULL && store_schema_version(child) == store_schema_latest() ? 0 : 1);
		}
	}
	for (int i = 0; i < 6; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			all_ok = 0;
	}
	ok(all_ok, "six processes opening a new database together all succeed");
	st = store_open(fresh, why, sizeof(why));
	ok(st != NULL && store_schema_version(st) == store_schema_latest(), "the raced database is at the latest schema");
	store_close(st);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cmdrelay-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/relay.db", dir);
	test_open_and_migrate();
	test_tutorial();
	test_concurrent_migration();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", dir);
	}
	return tap_done();
}
