/*-------------------------------------------------------------------------
 *
 * reconcile_test.c
 *	  Unit tests for migrator/reconcile.c: the files against the history,
 *	  without a server.
 *
 * Each test builds a directory's files (version, checksum) and a history
 * (version, checksum, status) in memory, reconciles them, and checks every
 * version's state and the counts the commands decide on.
 *
 * tests/unit/reconcile_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile.h"

#define MAX_ITEMS 8

/* A file: its version and a one-letter stand-in for its checksum. */
typedef struct file_spec
{
	int64_t version;
	char    sum;
} file_spec;

/* A history row: version, checksum letter, status. */
typedef struct row_spec
{
	int64_t     version;
	char        sum;
	const char *status;
} row_spec;

typedef struct fixture
{
	migration      files[MAX_ITEMS];
	history_row    rows[MAX_ITEMS];
	char           row_sums[MAX_ITEMS][CHECKSUM_HEX_LEN + 1];
	migration_set  set;
	history        hist;
	reconciliation rec;
} fixture;

static void
fill_sum(char *dest, char letter)
{
	memset(dest, letter, CHECKSUM_HEX_LEN);
	dest[CHECKSUM_HEX_LEN] = '\0';
}

/* Files and rows must each be sorted by version, as the loaders return them. */
static void
make(fixture *f, const file_spec *files, int n_files, const row_spec *rows, int n_rows)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < n_files; i++)
	{
		f->files[i].version = files[i].version;
		f->files[i].name = (char *) "a_migration";
		f->files[i].stem = (char *) "n_a_migration";
		f->files[i].path = (char *) "migrations/n_a_migration.sql";
		fill_sum(f->files[i].checksum, files[i].sum);
	}
	for (int i = 0; i < n_rows; i++)
	{
		fill_sum(f->row_sums[i], rows[i].sum);
		f->rows[i].version = rows[i].version;
		f->rows[i].name = (char *) "a_migration";
		f->rows[i].checksum = f->row_sums[i];
		f->rows[i].status = (char *) rows[i].status;
		f->rows[i].applied_at = (char *) "2026-12-01T12:00:00Z";
		f->rows[i].applied_by = (char *) "app";
	}
	f->set.items = f->files;
	f->set.n = n_files;
	f->hist.rows = f->rows;
	f->hist.n = n_rows;
	f->hist.exists = n_rows > 0;
	reconcile(&f->set, &f->hist, &f->rec);
}

/* The states of every version, in order, as "version:state" words. */
static void
assert_states(const fixture *f, const char *want)
{
	char got[512] = "";

	for (int i = 0; i < f->rec.n; i++)
	{
		char one[64];

		snprintf(one, sizeof(one), "%s%lld:%s", i ? " " : "", (long long) f->rec.items[i].version,
				 reconcile_state_name(f->rec.items[i].state));
		strcat(got, one);
	}
	assert_string_equal(got, want);
}

static void
test_nothing(void **state)
{
	fixture f;

	(void) state;
	make(&f, NULL, 0, NULL, 0);
	assert_int_equal(f.rec.n, 0);
	assert_int_equal(f.rec.n_pending, 0);
	assert_int_equal(f.rec.n_mismatch, 0);
	assert_int_equal(f.rec.max_applied, 0);
	assert_null(reconcile_first_pending(&f.rec));
	reconcile_free(&f.rec);
}

static void
test_all_applied(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'b'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {2, 'b', "applied"}, {3, 'c', "applied"}};
	fixture                f;

	(void) state;
	make(&f, files, 3, rows, 3);
	assert_states(&f, "1:applied 2:applied 3:applied");
	assert_int_equal(f.rec.n_pending, 0);
	assert_int_equal(f.rec.n_mismatch, 0);
	assert_int_equal(f.rec.n_ahead, 0);
	assert_int_equal(f.rec.n_with_file, 3);
	assert_int_equal(f.rec.max_applied, 3);
	/* items point into the inputs */
	assert_ptr_equal(f.rec.items[1].m, &f.files[1]);
	assert_ptr_equal(f.rec.items[1].row, &f.rows[1]);
	assert_null(reconcile_first_pending(&f.rec));
	reconcile_free(&f.rec);
}

static void
test_pending(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'b'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}};
	fixture                f;

	(void) state;
	make(&f, files, 3, rows, 1);
	assert_states(&f, "1:applied 2:pending 3:pending");
	assert_int_equal(f.rec.n_pending, 2);
	assert_int_equal(f.rec.n_failed, 0);
	assert_int_equal(f.rec.n_out_of_order, 0);
	assert_int_equal(f.rec.max_applied, 1);
	assert_null(f.rec.items[1].row);
	assert_int_equal(reconcile_first_pending(&f.rec)->version, 2);
	reconcile_free(&f.rec);
}

static void
test_fresh_database(void **state)
{
	static const file_spec files[] = {{5, 'a'}, {10, 'b'}};
	fixture                f;

	(void) state;
	make(&f, files, 2, NULL, 0);
	assert_states(&f, "5:pending 10:pending");
	assert_int_equal(f.rec.n_pending, 2);
	assert_int_equal(f.rec.n_with_file, 0);
	assert_int_equal(f.rec.max_applied, 0);
	reconcile_free(&f.rec);
}

static void
test_changed_checksum(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'x'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {2, 'b', "applied"}};
	fixture                f;

	(void) state;
	make(&f, files, 3, rows, 2);
	assert_states(&f, "1:applied 2:changed 3:pending");
	assert_int_equal(f.rec.n_mismatch, 1);
	assert_int_equal(f.rec.n_pending, 1);
	/* a changed version still counts as applied for the order */
	assert_int_equal(f.rec.max_applied, 2);
	assert_ptr_equal(f.rec.items[1].m, &f.files[1]);
	assert_ptr_equal(f.rec.items[1].row, &f.rows[1]);
	reconcile_free(&f.rec);
}

static void
test_missing_file(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {2, 'b', "applied"}, {3, 'c', "applied"}};
	fixture                f;

	(void) state;
	make(&f, files, 2, rows, 3);
	assert_states(&f, "1:applied 2:missing 3:applied");
	assert_int_equal(f.rec.n_mismatch, 1);
	assert_int_equal(f.rec.n_ahead, 0);
	assert_int_equal(f.rec.n_with_file, 2);
	assert_null(f.rec.items[1].m);
	assert_ptr_equal(f.rec.items[1].row, &f.rows[1]);
	reconcile_free(&f.rec);
}

/* Rows above the newest file: a newer release migrated the database. */
static void
test_ahead_of_files(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'b'}};
	static const row_spec  rows[] = {
		 {1, 'a', "applied"}, {2, 'b', "applied"}, {3, 'c', "applied"}, {4, 'd', "applied"}};
	fixture f;

	(void) state;
	make(&f, files, 2, rows, 4);
	assert_states(&f, "1:applied 2:applied 3:ahead 4:ahead");
	assert_int_equal(f.rec.n_ahead, 2);
	assert_int_equal(f.rec.n_mismatch, 0);
	assert_int_equal(f.rec.n_pending, 0);
	assert_int_equal(f.rec.max_applied, 4);
	reconcile_free(&f.rec);
}

/* A gap below the newest file is missing, and a row above it ahead, in one run. */
static void
test_missing_and_ahead(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {3, 'c'}};
	static const row_spec  rows[] = {{2, 'b', "applied"}, {3, 'c', "applied"}, {4, 'd', "applied"}};
	fixture                f;

	(void) state;
	make(&f, files, 2, rows, 3);
	assert_states(&f, "1:pending 2:missing 3:applied 4:ahead");
	assert_int_equal(f.rec.n_mismatch, 1);
	assert_int_equal(f.rec.n_ahead, 1);
	assert_int_equal(f.rec.n_pending, 1);
	assert_int_equal(f.rec.n_out_of_order, 1);
	reconcile_free(&f.rec);
}

/* No files at all (a wrong --dir?): every row is missing, none ahead, none with a file. */
static void
test_no_files(void **state)
{
	static const row_spec rows[] = {{1, 'a', "applied"}, {2, 'b', "applied"}};
	fixture               f;

	(void) state;
	make(&f, NULL, 0, rows, 2);
	assert_states(&f, "1:missing 2:missing");
	assert_int_equal(f.rec.n_mismatch, 2);
	assert_int_equal(f.rec.n_ahead, 0);
	assert_int_equal(f.rec.n_with_file, 0);
	reconcile_free(&f.rec);
}

/*
 * A failed no-transaction run: pending again (its checksum is not compared:
 * the file may have been fixed), counted as failed, and not an applied
 * version for the order.
 */
static void
test_failed(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'x'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {2, 'b', "failed"}};
	fixture                f;

	(void) state;
	make(&f, files, 3, rows, 2);
	assert_states(&f, "1:applied 2:failed 3:pending");
	assert_int_equal(f.rec.n_pending, 2);
	assert_int_equal(f.rec.n_failed, 1);
	assert_int_equal(f.rec.n_mismatch, 0);
	assert_int_equal(f.rec.max_applied, 1);
	assert_int_equal(reconcile_first_pending(&f.rec)->version, 2);
	assert_ptr_equal(reconcile_first_pending(&f.rec)->row, &f.rows[1]);
	reconcile_free(&f.rec);
}

/* A failed row whose file is gone is judged by its place, like any row without a file. */
static void
test_failed_without_file(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {2, 'b', "failed"}, {4, 'd', "failed"}};
	fixture                f;

	(void) state;
	make(&f, files, 2, rows, 3);
	assert_states(&f, "1:applied 2:missing 3:pending 4:ahead");
	assert_int_equal(f.rec.n_failed, 0);
	assert_int_equal(f.rec.n_mismatch, 1);
	assert_int_equal(f.rec.n_ahead, 1);
	reconcile_free(&f.rec);
}

/* A pending version below an applied one is out of order; a failed one is not. */
static void
test_out_of_order(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'b'}, {3, 'c'}, {4, 'd'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {3, 'c', "failed"}, {4, 'd', "applied"}};
	fixture                f;

	(void) state;
	make(&f, files, 4, rows, 3);
	assert_states(&f, "1:applied 2:pending 3:failed 4:applied");
	assert_int_equal(f.rec.n_out_of_order, 1);
	assert_int_equal(f.rec.n_pending, 2);
	assert_int_equal(f.rec.max_applied, 4);
	reconcile_free(&f.rec);
}

/*
 * "migrator baseline --version 2" records files 1 and 2 as applied rows of
 * their files' checksums, without running them: they are applied versions
 * like any other, and the next file is pending in order.  A baseline row
 * whose file changed afterwards is a mismatch like any other.
 */
static void
test_baseline_rows(void **state)
{
	static const file_spec files[] = {{1, 'a'}, {2, 'b'}, {3, 'c'}};
	static const row_spec  rows[] = {{1, 'a', "applied"}, {2, 'b', "applied"}};
	static const file_spec edited[] = {{1, 'a'}, {2, 'e'}, {3, 'c'}};
	fixture                f;

	(void) state;
	make(&f, files, 3, rows, 2);
	f.rows[0].duration_ms = 0; /* baseline ran nothing */
	assert_states(&f, "1:applied 2:applied 3:pending");
	assert_int_equal(f.rec.n_pending, 1);
	assert_int_equal(f.rec.n_out_of_order, 0);
	assert_int_equal(f.rec.max_applied, 2);
	reconcile_free(&f.rec);

	make(&f, edited, 3, rows, 2);
	assert_states(&f, "1:applied 2:changed 3:pending");
	assert_int_equal(f.rec.n_mismatch, 1);
	reconcile_free(&f.rec);
}

/* Versions interleave by number, not by position, and large versions (timestamps) sort. */
static void
test_merge_order(void **state)
{
	static const file_spec files[] = {{2, 'b'}, {20261201120000, 't'}};
	static const row_spec  rows[] = {
		 {1, 'a', "applied"}, {2, 'b', "applied"}, {20261201120000, 't', "applied"}};
	fixture f;

	(void) state;
	make(&f, files, 2, rows, 3);
	assert_states(&f, "1:missing 2:applied 20261201120000:applied");
	assert_int_equal(f.rec.max_applied, 20261201120000);
	reconcile_free(&f.rec);
}

static void
test_state_names_and_free(void **state)
{
	reconciliation empty = {0};

	(void) state;
	assert_string_equal(reconcile_state_name(VS_APPLIED), "applied");
	assert_string_equal(reconcile_state_name(VS_PENDING), "pending");
	assert_string_equal(reconcile_state_name(VS_FAILED), "failed");
	assert_string_equal(reconcile_state_name(VS_CHANGED), "changed");
	assert_string_equal(reconcile_state_name(VS_MISSING), "missing");
	assert_string_equal(reconcile_state_name(VS_AHEAD), "ahead");
	reconcile_free(&empty);
	reconcile_free(&empty);
	reconcile_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing),
		cmocka_unit_test(test_all_applied),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_fresh_database),
		cmocka_unit_test(test_changed_checksum),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_ahead_of_files),
		cmocka_unit_test(test_missing_and_ahead),
		cmocka_unit_test(test_no_files),
		cmocka_unit_test(test_failed),
		cmocka_unit_test(test_failed_without_file),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_baseline_rows),
		cmocka_unit_test(test_merge_order),
		cmocka_unit_test(test_state_names_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
