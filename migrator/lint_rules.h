/*-------------------------------------------------------------------------
 *
 * lint_rules.h
 *	  The lint rule registry: one table, the policy of every rule.
 *
 * Each rule the lint reports has one entry in lint_rules[], indexed by
 * lint_rule_id: its stable name, its usual severity, whether an allow
 * comment ("-- migrator:allow NAME") can excuse it, what it fires on, what
 * to do instead, and the module that checks it.  The checkers report a
 * finding by id (lint_internal.h), and the severity and the excusability of
 * the finding come from here, so the policy lives in one place; the
 * messages themselves, which name the statement and the table, are written
 * where the rule is checked.  The README's lint tables name the same rules
 * with the same severities: tests/unit/lint_rules_test.c fails when they
 * disagree.
 *
 * Exceptions to the table, stated in each rule's fires_on: timeout-override
 * is an error for 0, unchecked-sql an error beyond a parser limit, and
 * session-set cannot be excused for RESET ALL or search_path.
 *
 * Static data; no allocation.
 *
 * migrator/lint_rules.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LINT_RULES_H
#define TOOLKIT_LINT_RULES_H

#include <stdbool.h>

#include "lint.h"

/* The index of a rule in lint_rules[]; also the order of the README tables. */
typedef enum lint_rule_id
{
	LINT_R_CREATE_INDEX,
	LINT_R_REINDEX,
	LINT_R_VACUUM_FULL,
	LINT_R_CLUSTER,
	LINT_R_DML,
	LINT_R_COPY_STDIO,
	LINT_R_TRANSACTION,
	LINT_R_SESSION_SET,
	LINT_R_DISCARD,
	LINT_R_SET_ROLE,
	LINT_R_UNLOCK_ALL,
	LINT_R_VOLATILE_DEFAULT,
	LINT_R_ALTER_TYPE,
	LINT_R_SET_NOT_NULL,
	LINT_R_NOT_VALID,
	LINT_R_VALIDATE_SAME,
	LINT_R_UNIQUE_NO_INDEX,
	LINT_R_CONSTRAINT_INDEX,
	LINT_R_DROP_INDEX,
	LINT_R_SET_TABLESPACE,
	LINT_R_DROP_COLUMN,
	LINT_R_DROP_TABLE,
	LINT_R_RENAME,
	LINT_R_NOT_IDEMPOTENT,
	LINT_R_UNCHECKED,
	LINT_R_SWALLOWED,
	LINT_R_TIMEOUT,
	LINT_R_VERIFY,
	LINT_R_REQUIRES_INDEX,
	LINT_R_UNKNOWN_RULE,
	LINT_N_RULES
} lint_rule_id;

typedef struct lint_rule
{
	const char   *name;      /* stable, as reported: "create-index" */
	lint_severity severity;  /* before --strict; exceptions in fires_on */
	bool          excusable; /* an allow comment above the statement
								 * excuses it */
	bool          nameable;  /* "-- migrator:allow NAME" accepts the name
								 * (every rule but unknown-rule) */
	const char   *fires_on;  /* what it reports, one paragraph */
	const char   *advice;    /* the safe alternative */
	const char   *checker;   /* the module that checks it */
	/*
	 * The lock its message says the statement takes, as pg_locks names the
	 * mode, one "case:Mode" per shape ("check:AccessExclusiveLock
	 * fk:ShareRowExclusiveLock"); NULL when it names none.  The integration
	 * test test_lint_locks.py runs an example of every case against the
	 * server and reads pg_locks: a rule with a claim and no example fails it.
	 */
	const char *lock;
} lint_rule;

/* Every rule, indexed by lint_rule_id; LINT_N_RULES entries. */
extern const lint_rule lint_rules[LINT_N_RULES];

/*
 * The rule called name that an allow comment may name, or -1 (unknown, or
 * unknown-rule itself).  NULL gives -1.
 */
int lint_rule_lookup(const char *name);

#endif /* TOOLKIT_LINT_RULES_H */
