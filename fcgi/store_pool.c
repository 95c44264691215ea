#include "store_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* A process almost always serves one database; a handful covers the case of
 * a web server passing CMDRELAY_DB per site. */
#define POOL_MAX_DATABASES 8
#define POOL_MAX_IDLE 64

struct pool {
	char *path;
	int open;                     /* connections open, idle or borrowed */
	int idle_count;
	struct store *idle[POOL_MAX_IDLE];
};

struct lent {
	struct store *st;
	struct pool *pool;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_returned = PTHREAD_COND_INITIALIZER;
static struct pool pools[POOL_MAX_DATABASES];
static int max_open = 16;

/* Which pool each borrowed store came from. */
static struct lent lent[POOL_MAX_DATABASES * POOL_MAX_IDLE];

void store_pool_set_max(int max_connections)
{
	if (max_connections > 0 && max_connections <= POOL_MAX_IDLE)
		max_open = max_connections;
}

static struct pool *pool_find(const char *path)
{
	for (int i = 0; i < POOL_MAX_DATABASES; i++)
		if (pools[i].path != NULL && strcmp(pools[i].path, path) == 0)
			return &pools[i];
	for (int i = 0; i < POOL_MAX_DATABASES; i++)
		if (pools[i].path == NULL)
			return (pools[i].path = strdup(path)) != NULL ? &pools[i] : NULL;
	return NULL;
}

static void lent_record(struct store *st, struct pool *p)
{
	for (size_t i = 0; i < sizeof(lent) / sizeof(lent[0]); i++)
		if (lent[i].st == NULL) {
			lent[i].st = st;
			lent[i].pool = p;
			return;
		}
}

static struct pool *lent_take(const struct store *st)
{
	for (size_t i = 0; i < sizeof(lent) / sizeof(lent[0]); i++)
		if (lent[i].st == st) {
			lent[i].st = NULL;
			return lent[i].pool;
		}
	return NULL;
}

struct store *store_pool_acquire(const char *path, char *why, size_t why_size)
{
	struct pool *p;
	struct store *st = NULL;

	pthread_mutex_lock(&pool_lock);
	if ((p = pool_find(path)) == NULL) {
		pthread_mutex_unlock(&pool_lock);
		snprintf(why, why_size, "too many databases in one process");
		return NULL;
	}
	while (p->idle_count == 0 && p->open >= max_open)
		pthread_cond_wait(&pool_returned, &pool_lock);
	if (p->idle_count > 0) {
		st = p->idle[--p->idle_count];
		lent_record(st, p);
		pthread_mutex_unlock(&pool_lock);
		/* A system call: not under the lock every request takes. */
		if (!store_moved(st))
			return st;
		/* Its file was deleted or replaced (a restore from backup): it
		 * would read stale data.  Its place goes to a fresh connection. */
		pthread_mutex_lock(&pool_lock);
		lent_take(st);
		pthread_mutex_unlock(&pool_lock);
		store_close(st);
	} else {
		p->open++;
		pthread_mutex_unlock(&pool_lock);
	}

	/* Opening can wait on the busy timeout: never under the lock. */
	st = store_open(path, why, why_size);
	pthread_mutex_lock(&pool_lock);
	if (st == NULL) {
		p->open--;
		pthread_cond_broadcast(&pool_returned);
	} else {
		lent_record(st, p);
	}
	pthread_mutex_unlock(&pool_lock);
	return st;
}

void store_pool_release(struct store *st, int broken)
{
	struct pool *p;

	if (st == NULL)
		return;
	store_snapshot_end(st);
	pthread_mutex_lock(&pool_lock);
	p = lent_take(st);
	if (p == NULL || broken || p->idle_count == POOL_MAX_IDLE) {
		if (p != NULL)
			p->open--;
		pthread_mutex_unlock(&pool_lock);
		store_close(st);
		pthread_mutex_lock(&pool_lock);
	} else {
		p->idle[p->idle_count++] = st;
	}
	pthread_cond_broadcast(&pool_returned);
	pthread_mutex_unlock(&pool_lock);
}

void store_pool_empty_wals(void)
{
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < POOL_MAX_DATABASES; i++)
		for (int j = 0; j < pools[i].idle_count; j++)
			store_empty_wal(pools[i].idle[j]);
	pthread_mutex_unlock(&pool_lock);
}

void store_pool_shutdown(void)
{
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < POOL_MAX_DATABASES; i++) {
		while (pools[i].idle_count > 0) {
			store_close(pools[i].idle[--pools[i].idle_count]);
			pools[i].open--;
		}
		if (pools[i].open == 0) {
			free(pools[i].path);
			pools[i].path = NULL;
		}
	}
	pthread_mutex_unlock(&pool_lock);
}
