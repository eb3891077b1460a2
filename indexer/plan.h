/*-------------------------------------------------------------------------
 *
 * plan.h
 *	  What to do about each definition, decided from the catalog.
 *
 * The decision is made once, before anything is changed, and every command
 * reads the same plan: build carries it out, plan prints it, check judges
 * it, status shows it.
 *
 * indexer/plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_PLAN_H
#define INDEXER_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "config.h"

typedef enum plan_action
{
	ACT_PRESENT, /* valid, ready, as defined: nothing to do */
	ACT_ABSENT,  /* state absent, and absent: nothing to do */
	ACT_BUILD,   /* missing (or a partitioned one unfinished) */
	ACT_REPAIR,  /* an invalid leftover holds the name: drop,
								 * build */
	ACT_REBUILD, /* drifted, --rebuild-drifted: build anew,
								 * swap */
	ACT_DRIFTED, /* drifted, left alone */
	ACT_DROP,    /* state absent, exists: drop concurrently */
	ACT_CLEANUP, /* present, but our own leftovers to drop */
	ACT_BUSY,    /* another backend is building it right now */
	ACT_ERROR    /* cannot be done: see reason */
} plan_action;

/* What became of an item in a build. */
typedef enum plan_outcome
{
	OUTCOME_NONE, /* nothing was tried */
	OUTCOME_DONE,
	OUTCOME_FAILED,
	OUTCOME_INTERRUPTED
} plan_outcome;

typedef struct plan_item
{
	index_def     *def;
	catalog_entry *cat;
	plan_action    action;
	char          *reason;      /* one line, for anything but PRESENT/ABSENT */
	bool           partitioned; /* its table is partitioned: the recipe */
	char          *drift_note;  /* drift could not be decided: why */
	char         **drop_first;  /* our leftovers to drop before anything */
	int            n_drop_first;
	char         **foreign_leftovers; /* REINDEX CONCURRENTLY's, only reported */
	int            n_foreign_leftovers;
	/* filled by the build */
	plan_outcome outcome;
	char        *failure;
	int64_t      duration_ms;
} plan_item;

typedef struct plan_options
{
	bool    rebuild_drifted;
	int64_t lock_timeout_ms; /* for the drift probe */
} plan_options;

/*
 * Decide for defs[i] with catalog cat[i], i < n.  Drift is checked for
 * every valid index of a present definition, which may cost a probe (see
 * drift.h) counted in *round_trips.  Returns the items (free with
 * plan_free); never fails.
 */
plan_item *plan_make(PGconn *conn, index_def *const *defs, catalog_entry *cat, int n,
					 const plan_options *opts, int *round_trips);

/* "build", "repair", ... as plan prints them. */
const char *plan_action_name(plan_action action);

/* True for the actions that change the database. */
bool plan_action_is_work(plan_action action);

void plan_free(plan_item *items, int n);

#endif /* INDEXER_PLAN_H */
