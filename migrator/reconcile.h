/*-------------------------------------------------------------------------
 *
 * reconcile.h
 *	  The files against the history: how every version stands.
 *
 * Both lists are sorted by version; reconcile() merges them into one list
 * of versions, each in one state:
 *
 *	  applied   a history row of status "applied" whose checksum is the
 *	            file's (rows that "migrator baseline" recorded are such rows)
 *	  pending   a file without a history row
 *	  failed    a row of status "failed" (a no-transaction run failed), the
 *	            file present: it runs again; the checksum is not compared
 *	  changed   an applied row whose checksum differs from the file's
 *	  missing   a row without a file, below the newest file (or no files at
 *	            all: a wrong --dir?)
 *	  ahead     a row without a file, above the newest file: a newer release
 *	            migrated this database
 *
 * It reads no database and logs nothing: what a state means to a command
 * (an error, a warning, work) is the command's business.
 *
 * migrator/reconcile.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_H
#define RECONCILE_H

#include <stdint.h>

#include "history.h"
#include "migration_files.h"

/* How a version stands, files against history. */
typedef enum version_state
{
	VS_APPLIED,
	VS_PENDING,
	VS_FAILED,  /* a no-transaction run failed; runs again */
	VS_CHANGED, /* applied, file differs */
	VS_MISSING, /* applied, file gone */
	VS_AHEAD    /* applied, newer than every file: a newer
				 * release migrated this database */
} version_state;

typedef struct version_item
{
	int64_t            version;
	migration         *m;   /* NULL when missing or ahead */
	const history_row *row; /* NULL when never run */
	version_state      state;
} version_item;

typedef struct reconciliation
{
	version_item *items; /* by version; owned, reconcile_free() */
	int           n;
	int           n_pending;      /* pending + failed */
	int           n_failed;       /* failed (of n_pending) */
	int           n_mismatch;     /* changed + missing */
	int           n_out_of_order; /* pending below max_applied */
	int           n_ahead;        /* history rows above the newest file */
	int           n_ahead_failed; /* of them, recorded as failed */
	int           n_with_file;    /* history rows whose version has a file */
	int64_t       max_applied;    /* the highest version of status "applied"; 0 if none */
} reconciliation;

/*
 * Merge files and hist into *rec (overwritten).  Items point into files
 * and hist, which must outlive rec.  Never fails.
 */
void reconcile(const migration_set *files, const history *hist, reconciliation *rec);

/* Release rec's items; accepts a rec that reconcile() never filled if zeroed. */
void reconcile_free(reconciliation *rec);

/* Is r recorded as failed (a no-transaction migration stopped part-way)? */
bool reconcile_row_failed(const history_row *r);

/* "applied", "pending", "failed", "changed", "missing" or "ahead". */
const char *reconcile_state_name(version_state state);

/* The lowest pending or failed version, or NULL. */
const version_item *reconcile_first_pending(const reconciliation *rec);

#endif /* RECONCILE_H */
