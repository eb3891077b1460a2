/*-------------------------------------------------------------------------
 *
 * lint_test_helpers.h
 *	  Helpers shared by the lint's unit tests (lint_test.c, lint_plpgsql_test.c):
 *	  lint a source and assert on its findings.
 *
 * Each expect_* helper fails the running cmocka test, after printing what
 * the lint found, when the findings differ from the expectation.
 *
 * tests/unit/lint_test_helpers.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LINT_TEST_HELPERS_H
#define TOOLKIT_LINT_TEST_HELPERS_H

#include "lint.h"

/* the file options most tests use */
extern const lint_file_options no_opts;
extern const lint_file_options dml_opts;
extern const lint_file_options nt_opts;
extern const lint_file_options strict_opts;

/* Parse src (which must parse) and lint it with opts into *r (zeroed first). */
void lint_src(const char *src, const lint_file_options *opts, lint_result *r);
/* How many findings of r are of rule. */
int  count_rule(const lint_result *r, const char *rule);
void print_findings(const lint_result *r);
/* The only finding of src is rule, with this severity, at this line. */
void expect_only(const char *src, const lint_file_options *opts, const char *rule, lint_severity severity,
				 int line);
/* src has no findings at all. */
void expect_clean(const char *src, const lint_file_options *opts);
/* src has exactly n findings of rule, all of severity. */
void expect_n(const char *src, const lint_file_options *opts, const char *rule, lint_severity severity,
			  int n);

#endif /* TOOLKIT_LINT_TEST_HELPERS_H */
