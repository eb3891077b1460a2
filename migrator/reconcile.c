/*-------------------------------------------------------------------------
 *
 * reconcile.c
 *	  The files against the history: how every version stands.
 *
 * migrator/reconcile.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"

static const char *const state_names[] = {"applied", "pending", "failed", "changed", "missing", "ahead"};

const char *
reconcile_state_name(version_state state)
{
	return state_names[state];
}

bool
reconcile_row_failed(const history_row *r)
{
	return r != NULL && r->status != NULL && strcmp(r->status, "failed") == 0;
}

/* A version with both a file and a row. */
static version_state
state_of_both(const migration *m, const history_row *r)
{
	if (reconcile_row_failed(r))
		return VS_FAILED;
	if (strcmp(r->checksum, m->checksum) != 0)
		return VS_CHANGED;
	return VS_APPLIED;
}

/*
 * A row without a file.  Above the newest file, the database is ahead of
 * these files: a newer release migrated it and this one (a rollback of the
 * application, an old pod restarting) must still start.  A gap below the
 * newest file, or no files at all (a wrong --dir?), is a file that went
 * missing.
 */
static version_state
state_of_row(const migration_set *files, const history_row *r)
{
	if (files->n > 0 && r->version > files->items[files->n - 1].version)
		return VS_AHEAD;
	return VS_MISSING;
}

static void
count(reconciliation *rec, const version_item *it)
{
	if (it->state == VS_PENDING || it->state == VS_FAILED)
		rec->n_pending++;
	if (it->state == VS_FAILED)
		rec->n_failed++;
	if (it->state == VS_CHANGED || it->state == VS_MISSING)
		rec->n_mismatch++;
	if (it->state == VS_AHEAD)
		rec->n_ahead++;
	if (it->state == VS_AHEAD && reconcile_row_failed(it->row))
		rec->n_ahead_failed++;
	if (it->state == VS_PENDING && it->version < rec->max_applied)
		rec->n_out_of_order++;
	if (it->m && it->row)
		rec->n_with_file++;
}

void
reconcile(const migration_set *files, const history *h, reconciliation *rec)
{
	int fi = 0, hi = 0;

	memset(rec, 0, sizeof(*rec));
	rec->items = xcalloc((size_t) (files->n + h->n + 1), sizeof(version_item));
	for (int i = 0; i < h->n; i++)
		if (strcmp(h->rows[i].status, "applied") == 0 && h->rows[i].version > rec->max_applied)
			rec->max_applied = h->rows[i].version;

	/* both lists are sorted by version: merge them */
	while (fi < files->n || hi < h->n)
	{
		version_item      *it = &rec->items[rec->n++];
		migration         *m = fi < files->n ? &files->items[fi] : NULL;
		const history_row *r = hi < h->n ? &h->rows[hi] : NULL;

		if (m && r && m->version == r->version)
		{
			fi++, hi++;
			it->m = m;
			it->row = r;
			it->state = state_of_both(m, r);
		}
		else if (m && (!r || m->version < r->version))
		{
			fi++;
			it->m = m;
			it->state = VS_PENDING;
		}
		else
		{
			hi++;
			it->row = r;
			it->state = state_of_row(files, r);
		}
		it->version = it->m ? it->m->version : it->row->version;
		count(rec, it);
	}
}

void
reconcile_free(reconciliation *rec)
{
	if (rec == NULL)
		return;
	free(rec->items);
	rec->items = NULL;
	rec->n = 0;
}

const version_item *
reconcile_first_pending(const reconciliation *rec)
{
	for (int i = 0; i < rec->n; i++)
		if (rec->items[i].state == VS_PENDING || rec->items[i].state == VS_FAILED)
			return &rec->items[i];
	return NULL;
}
