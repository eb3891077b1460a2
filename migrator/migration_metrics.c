/*-------------------------------------------------------------------------
 *
 * migration_metrics.c
 *	  The migrator's run as Prometheus metrics.
 *
 * migrator/migration_metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "migration_metrics.h"

#include "metrics.h"

void
migration_tally_note(migration_tally *t, const reconciliation *rec, int applied, int64_t last_applied,
					 int64_t failed_version)
{
	t->known = true;
	t->pending = rec->n_pending - applied;
	t->mismatched = rec->n_mismatch;
	t->applied = applied;
	t->current = rec->max_applied;
	t->failed = 0;
	for (int i = 0; i < rec->n; i++)
	{
		const version_item *it = &rec->items[i];
		/* up applies in version order: everything selected up to last_applied ran */
		bool ran =
			applied > 0 && it->version <= last_applied && (it->state == VS_PENDING || it->state == VS_FAILED);

		if (ran && it->version > t->current)
			t->current = it->version;
		if (it->state == VS_FAILED && !ran)
			t->failed++;
		/* rolled back: the history shows it pending, but it failed */
		else if (it->version == failed_version && !ran)
			t->failed++;
	}
}

int
migration_metrics_report(const migration_tally *t, const char *file, const char *push, const char *command,
						 int rc, double duration_s)
{
	metrics_target target = {file, push};
	metrics       *m;

	if (!metrics_wanted(&target))
		return rc;
	m = metrics_new("pg_schema_migrator_", command);
	if (t->known)
	{
		metrics_declare(m, "pending_migrations", "Versions not applied yet: pending and failed ones.");
		metrics_declare(m, "failed_migrations",
						"Versions whose last run failed (recorded as failed, or failed in this run).");
		metrics_declare(m, "mismatched_migrations", "Applied versions whose file changed or is missing.");
		metrics_declare(m, "current_version", "The highest applied version (0: none).");
		metrics_set(m, "pending_migrations", NULL, t->pending);
		metrics_set(m, "failed_migrations", NULL, t->failed);
		metrics_set(m, "mismatched_migrations", NULL, t->mismatched);
		metrics_set(m, "current_version", NULL, (double) t->current);
		if (command[0] == 'u')
		{
			metrics_declare(m, "applied_migrations", "Versions this run applied.");
			metrics_set(m, "applied_migrations", NULL, t->applied);
		}
	}
	rc = metrics_finish(m, &target, rc, duration_s);
	metrics_free(m);
	return rc;
}
