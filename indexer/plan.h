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
#include "definitions.h"

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
	ACT_UNKNOWN, /* cannot compare (table locked, spelling unknown): reason */
	ACT_ERROR    /* cannot be done: see reason */
} plan_action;

/* What became of an item in a build. */
typedef enum plan_outcome
{
	OUTCOME_NONE, /* nothing was tried */
	OUTCOME_DONE,
	OUTCOME_FAILED,
	OUTCOME_INTERRUPTED,
	OUTCOME_DEFERRED /* not started: window, --max-builds or --max-runtime (deferred says which) */
} plan_outcome;

/* Why a build waits for another run: plan_item's deferral. */
typedef enum plan_deferral
{
	DEFER_NONE = 0,
	DEFER_WINDOW,     /* the build window is closed */
	DEFER_BUDGET,     /* --max-runtime spent */
	DEFER_MAX_BUILDS, /* --max-builds reached */
	DEFER_BACKOFF,    /* failed runs in a row (record.h) */
	DEFER_LAG         /* the replica guard */
} plan_deferral;

typedef struct plan_item
{
	index_def     *def;
	catalog_entry *cat;
	plan_action    action;
	char          *reason;      /* one line, for anything but PRESENT/ABSENT */
	bool           partitioned; /* its table is partitioned: the recipe */
	char         **drop_first;  /* our leftovers to drop before anything */
	int            n_drop_first;
	int            cap_drop_first;    /* allocated lengths (memory.h) */
	char         **foreign_leftovers; /* REINDEX CONCURRENTLY's, only reported */
	int            n_foreign_leftovers;
	int            cap_foreign_leftovers;
	char         **suspect_leftovers; /* named like ours, not provably ours: reported */
	char         **suspect_why;       /* one per suspect_leftovers entry */
	int            n_suspect_leftovers;
	int            cap_suspect_leftovers;
	int            cap_suspect_why;
	char          *owner_constraint; /* the name is free, but this constraint's
										 * index is the definition */
	/* the size estimate (size_estimate.h), when there is work: -1 = unknown */
	bool    estimated;
	int64_t est_bytes;
	char    est_why[160]; /* why unknown, or a note ("upper bound: partial index") */
	/* why it waits for another run (run_limits.h); "" when it does not */
	char          deferred[200];
	plan_deferral deferral;      /* the same, as a kind (metrics count by it) */
	int64_t       start_by_ms;   /* monotonic_ms() when its window closes: not started after; 0 = never */
	int64_t       backoff_until; /* record.h: epoch seconds it backs off until; 0 = it does not */
	int           failed_runs;   /* record.h: failed runs in a row, when it backs off */
	const char   *refused_by;    /* "replica guard", "size guard": a guard refused it (record_refused) */
	/* filled by the build */
	plan_outcome outcome;
	char        *failure;
	int64_t      duration_ms;
} plan_item;

/*
 * Set it->deferred (printf-style) and it->deferral together: the words
 * are for people, the kind for the metrics.
 */
void plan_defer(plan_item *it, plan_deferral kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

typedef struct plan_options
{
	bool    rebuild_drifted;
	int64_t lock_timeout_ms; /* unused: drift is decided offline (drift.h) */
} plan_options;

/*
 * The COMMENT a rebuild puts on the old index inside the rename's
 * transaction: an index named <name>_ixold is dropped only when it
 * carries exactly this (caller frees).
 */
char *plan_ixold_mark(const char *name);

/*
 * Decide for defs[i] with catalog cat[i], i < n.  Drift is checked for
 * every valid index of a present definition, offline (drift.h): nothing is
 * sent over conn, which is kept for the callers' sake, and *round_trips is
 * left alone.  Leftovers named <name>_ixnew / <name>_ixold are dropped only
 * when provably ours: an _ixnew whose definition is the file's with only the
 * name changed (its build cannot carry a mark: CREATE INDEX CONCURRENTLY
 * runs in no transaction of ours), an _ixold that carries plan_ixold_mark();
 * anything else is only reported (suspect_leftovers).  An index of the
 * table's constraints that matches a definition whose name is free is the
 * definition (the constraint renamed it): present, never built again.
 * Returns the items (free with plan_free); never fails.
 */
plan_item *plan_make(PGconn *conn, index_def *const *defs, catalog_entry *cat, int n,
					 const plan_options *opts, int *round_trips);

/* "build", "repair", ... as plan prints them. */
const char *plan_action_name(plan_action action);

/* True for the actions that change the database. */
bool plan_action_is_work(plan_action action);

/*
 * Does this item fail the run of build before anything is built (exit 1)?
 * A critical definition that is to be present and cannot be built (no
 * table, the name taken, ...) or whose table is locked so that its state is
 * unknown: cmd_build.c's tally fails the run on exactly these, and plan
 * exits 1 on them too, so that plan's exit code predicts build's.
 */
bool plan_item_fails_critical(const plan_item *it);

void plan_free(plan_item *items, int n);

#endif /* INDEXER_PLAN_H */
