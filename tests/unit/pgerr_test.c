/*-------------------------------------------------------------------------
 *
 * pgerr_test.c
 *	  Unit tests for common/pgerr.c: SQLSTATE classes and the error-policy
 *	  table (class -> action -> exit code).
 *
 * No server is needed: classification works on SQLSTATE strings, and the
 * db_error constructors are fed a real PGconn whose connection attempt
 * failed (a socket directory that does not exist), which is exactly the
 * "no SQLSTATE, connection bad" case.
 *
 * tests/unit/pgerr_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exitcodes.h"
#include "pgerr.h"

#define NO_SUCH_SOCKET_DIR "/nonexistent/toolkit-unit-test"

static void
test_classify_sqlstates(void **state)
{
	static const struct
	{
		const char *sqlstate;
		pgerr_class cls;
	} cases[] = {
		{ERRCODE_LOCK_NOT_AVAILABLE, PGERR_LOCK_TIMEOUT},
		{ERRCODE_T_R_DEADLOCK_DETECTED, PGERR_DEADLOCK},
		{ERRCODE_T_R_SERIALIZATION_FAILURE, PGERR_SERIALIZATION},
		{ERRCODE_ADMIN_SHUTDOWN, PGERR_ADMIN_SHUTDOWN},
		{ERRCODE_CRASH_SHUTDOWN, PGERR_ADMIN_SHUTDOWN},
		{ERRCODE_CANNOT_CONNECT_NOW, PGERR_ADMIN_SHUTDOWN},
		{ERRCODE_DUPLICATE_TABLE, PGERR_DUPLICATE_OBJECT},
		{ERRCODE_DUPLICATE_COLUMN, PGERR_DUPLICATE_OBJECT},
		{ERRCODE_DUPLICATE_OBJECT, PGERR_DUPLICATE_OBJECT},
		{ERRCODE_DUPLICATE_SCHEMA, PGERR_DUPLICATE_OBJECT},
		{ERRCODE_DUPLICATE_FUNCTION, PGERR_DUPLICATE_OBJECT},
		{ERRCODE_SYNTAX_ERROR, PGERR_SYNTAX},
		{ERRCODE_UNDEFINED_TABLE, PGERR_UNDEFINED_OBJECT},
		{ERRCODE_UNDEFINED_COLUMN, PGERR_UNDEFINED_OBJECT},
		{ERRCODE_UNDEFINED_OBJECT, PGERR_UNDEFINED_OBJECT},
		{ERRCODE_UNDEFINED_FUNCTION, PGERR_UNDEFINED_OBJECT},
		{ERRCODE_INVALID_SCHEMA_NAME, PGERR_UNDEFINED_OBJECT},
		/* everything not singled out is fatal */
		{ERRCODE_UNIQUE_VIOLATION, PGERR_OTHER},
		{ERRCODE_INSUFFICIENT_PRIVILEGE, PGERR_OTHER},
		{ERRCODE_ACTIVE_SQL_TRANSACTION, PGERR_OTHER},
		{ERRCODE_OBJECT_IN_USE, PGERR_OTHER},
		{"XX000", PGERR_OTHER},
		{"23502", PGERR_OTHER},
		/* same class digits, different code: no prefix matching */
		{"55P02", PGERR_OTHER},
		{"42P08", PGERR_OTHER},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		pgerr_class got = pgerr_classify(cases[i].sqlstate, false, false);

		if (got != cases[i].cls)
			fail_msg("%s classified as %s, expected %s", cases[i].sqlstate, pgerr_class_name(got),
					 pgerr_class_name(cases[i].cls));
		/* a SQLSTATE wins over the state of the connection */
		assert_int_equal(pgerr_classify(cases[i].sqlstate, true, false), cases[i].cls);
	}
}

/* 57014 is a statement timeout unless we sent the cancel ourselves. */
static void
test_classify_query_canceled(void **state)
{
	assert_int_equal(pgerr_classify(ERRCODE_QUERY_CANCELED, false, false), PGERR_STATEMENT_TIMEOUT);
	assert_int_equal(pgerr_classify(ERRCODE_QUERY_CANCELED, false, true), PGERR_CANCELED_BY_US);
	/* canceled_by_us changes nothing else */
	assert_int_equal(pgerr_classify(ERRCODE_LOCK_NOT_AVAILABLE, false, true), PGERR_LOCK_TIMEOUT);
}

static void
test_classify_without_sqlstate(void **state)
{
	assert_int_equal(pgerr_classify(NULL, true, false), PGERR_CONNECTION_LOST);
	assert_int_equal(pgerr_classify("", true, false), PGERR_CONNECTION_LOST);
	assert_int_equal(pgerr_classify(NULL, false, false), PGERR_OTHER);
	assert_int_equal(pgerr_classify("", false, false), PGERR_OTHER);
}

static void
test_actions(void **state)
{
	static const struct
	{
		pgerr_class  cls;
		pgerr_action action;
	} cases[] = {
		{PGERR_LOCK_TIMEOUT, PGERR_ACTION_RETRY},
		{PGERR_DEADLOCK, PGERR_ACTION_RETRY},
		{PGERR_SERIALIZATION, PGERR_ACTION_RETRY},
		{PGERR_ADMIN_SHUTDOWN, PGERR_ACTION_RECONNECT},
		{PGERR_CONNECTION_LOST, PGERR_ACTION_RECONNECT},
		/* the operator's time bound and our own cancel are never retried */
		{PGERR_STATEMENT_TIMEOUT, PGERR_ACTION_FAIL},
		{PGERR_CANCELED_BY_US, PGERR_ACTION_FAIL},
		{PGERR_DUPLICATE_OBJECT, PGERR_ACTION_FAIL},
		{PGERR_SYNTAX, PGERR_ACTION_FAIL},
		{PGERR_UNDEFINED_OBJECT, PGERR_ACTION_FAIL},
		{PGERR_OTHER, PGERR_ACTION_FAIL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		if (pgerr_action_for(cases[i].cls) != cases[i].action)
			fail_msg("wrong action for %s", pgerr_class_name(cases[i].cls));
	}
}

static void
test_class_names(void **state)
{
	assert_string_equal(pgerr_class_name(PGERR_LOCK_TIMEOUT), "lock_timeout");
	assert_string_equal(pgerr_class_name(PGERR_STATEMENT_TIMEOUT), "statement_timeout");
	assert_string_equal(pgerr_class_name(PGERR_CONNECTION_LOST), "connection_lost");
	assert_string_equal(pgerr_class_name(PGERR_OTHER), "error");

	/* every class has its own name, lower case snake_case */
	for (int a = PGERR_NONE; a <= PGERR_OTHER; a++)
	{
		const char *name = pgerr_class_name((pgerr_class) a);

		assert_non_null(name);
		assert_true(name[0] != '\0');
		assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz_"), strlen(name));
		for (int b = a + 1; b <= PGERR_OTHER; b++)
			assert_string_not_equal(name, pgerr_class_name((pgerr_class) b));
	}
}

static void
test_format(void **state)
{
	db_error err;
	char    *s;

	memset(&err, 0, sizeof(err));
	err.cls = PGERR_LOCK_TIMEOUT;
	memcpy(err.sqlstate, ERRCODE_LOCK_NOT_AVAILABLE, 6);
	err.message = "canceling statement due to lock timeout";
	s = db_error_format(&err);
	assert_string_equal(s, "55P03: canceling statement due to lock timeout");
	free(s);

	/* no SQLSTATE: the message alone */
	err.sqlstate[0] = '\0';
	err.cls = PGERR_CONNECTION_LOST;
	err.message = "server closed the connection unexpectedly";
	s = db_error_format(&err);
	assert_string_equal(s, "server closed the connection unexpectedly");
	free(s);

	/* nothing at all: the class name */
	err.message = NULL;
	s = db_error_format(&err);
	assert_string_equal(s, "connection_lost");
	free(s);
}

static void
test_clear(void **state)
{
	db_error err;

	db_error_clear(NULL);

	memset(&err, 0, sizeof(err));
	err.cls = PGERR_SYNTAX;
	memcpy(err.sqlstate, ERRCODE_SYNTAX_ERROR, 6);
	err.message = strdup("syntax error at or near \"ON\"");
	err.detail = strdup("detail");
	err.hint = strdup("hint");
	err.position = 12;
	db_error_clear(&err);
	assert_int_equal(err.cls, PGERR_NONE);
	assert_string_equal(err.sqlstate, "");
	assert_null(err.message);
	assert_null(err.detail);
	assert_null(err.hint);
	assert_int_equal(err.position, 0);
	/* clearing twice is harmless */
	db_error_clear(&err);
	assert_null(err.message);
}

/* A PGconn whose connection failed, without any server involved. */
static PGconn *
failed_connection(void)
{
	const char *const keywords[] = {"host", "port", "dbname", "user", "connect_timeout", NULL};
	const char *const values[] = {NO_SUCH_SOCKET_DIR, "1", "x", "x", "1", NULL};
	PGconn           *conn = PQconnectdbParams(keywords, values, 0);

	assert_non_null(conn);
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	return conn;
}

static void
assert_connection_lost(const db_error *err)
{
	size_t len;

	assert_int_equal(err->cls, PGERR_CONNECTION_LOST);
	assert_string_equal(err->sqlstate, "");
	assert_non_null(err->message);
	/* libpq's own message, with its trailing newline trimmed */
	assert_non_null(strstr(err->message, NO_SUCH_SOCKET_DIR));
	len = strlen(err->message);
	assert_true(len > 0);
	assert_true(err->message[len - 1] != '\n');
	assert_null(err->detail);
	assert_null(err->hint);
	assert_int_equal(err->position, 0);
}

static void
test_from_conn(void **state)
{
	PGconn  *conn = failed_connection();
	db_error err;
	char    *s;

	memset(&err, 0, sizeof(err));
	db_error_from_conn(&err, conn, false);
	assert_connection_lost(&err);
	assert_int_equal(pgerr_action_for(err.cls), PGERR_ACTION_RECONNECT);

	/* a lost connection is lost, whoever asked for the cancel */
	db_error_from_conn(&err, conn, true);
	assert_connection_lost(&err);

	/* the text form carries no empty SQLSTATE prefix */
	s = db_error_format(&err);
	assert_string_equal(s, err.message);
	free(s);

	db_error_clear(&err);
	PQfinish(conn);
}

static void
test_from_result(void **state)
{
	PGconn   *conn = failed_connection();
	PGresult *res = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	db_error  err;

	assert_non_null(res);
	memset(&err, 0, sizeof(err));
	db_error_from_result(&err, conn, res, false);
	assert_connection_lost(&err);

	/* filling again frees the previous contents (checked by valgrind) */
	db_error_from_result(&err, conn, NULL, false);
	assert_connection_lost(&err);

	db_error_clear(&err);
	PQclear(res);
	PQfinish(conn);
}

/* Every class has its row, at its own index, with a name of its own. */
static void
test_policy_table_rows(void **state)
{
	(void) state;
	for (int a = PGERR_NONE; a <= PGERR_OTHER; a++)
	{
		const pgerr_policy *p = pgerr_policy_of((pgerr_class) a);

		assert_non_null(p);
		if ((int) p->cls != a)
			fail_msg("the row of class %d sits at index %d", (int) p->cls, a);
		assert_string_equal(p->name, pgerr_class_name((pgerr_class) a));
		assert_int_equal(p->action, pgerr_action_for((pgerr_class) a));
		for (int b = PGERR_NONE; b < a; b++)
			if (strcmp(p->name, pgerr_class_name((pgerr_class) b)) == 0)
				fail_msg("classes %d and %d share the name \"%s\"", b, a, p->name);
	}
	/* out of range: read as PGERR_OTHER, never a crash */
	assert_ptr_equal(pgerr_policy_of((pgerr_class) 999), pgerr_policy_of(PGERR_OTHER));
	assert_ptr_equal(pgerr_policy_of((pgerr_class) -1), pgerr_policy_of(PGERR_OTHER));
}

/* The exit code of a run that each class ends, as README's table says. */
static void
test_policy_exit_codes(void **state)
{
	static const struct
	{
		pgerr_class cls;
		int         code;
	} cases[] = {
		{PGERR_NONE, EXIT_OK},
		{PGERR_LOCK_TIMEOUT, EXIT_CHANGE_FAILED}, /* attempts exhausted */
		{PGERR_DEADLOCK, EXIT_CHANGE_FAILED},
		{PGERR_SERIALIZATION, EXIT_CHANGE_FAILED},
		{PGERR_STATEMENT_TIMEOUT, EXIT_CHANGE_FAILED},
		{PGERR_ADMIN_SHUTDOWN, EXIT_UNREACHABLE},
		{PGERR_CONNECTION_LOST, EXIT_UNREACHABLE},
		{PGERR_OUTCOME_UNKNOWN, EXIT_UNREACHABLE},
		{PGERR_DUPLICATE_OBJECT, EXIT_CHANGE_FAILED},
		{PGERR_SYNTAX, EXIT_CHANGE_FAILED},
		{PGERR_UNDEFINED_OBJECT, EXIT_CHANGE_FAILED},
		{PGERR_OTHER, EXIT_CHANGE_FAILED},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		/* a signal changes only the code of our own cancel */
		if (pgerr_exit_code(cases[i].cls, 0) != cases[i].code ||
			pgerr_exit_code(cases[i].cls, EXIT_SIGTERM) != cases[i].code)
			fail_msg("wrong exit code for %s", pgerr_class_name(cases[i].cls));
	}
	assert_int_equal(pgerr_exit_code(PGERR_CANCELED_BY_US, EXIT_SIGINT), EXIT_SIGINT);
	assert_int_equal(pgerr_exit_code(PGERR_CANCELED_BY_US, EXIT_SIGTERM), EXIT_SIGTERM);
	/* a cancel of our own that no signal asked for: the change failed */
	assert_int_equal(pgerr_exit_code(PGERR_CANCELED_BY_US, 0), EXIT_CHANGE_FAILED);
}

/* What the trust and control work added: unknown outcome and cancel. */
static void
test_policy_unknown_outcome_and_cancel(void **state)
{
	(void) state;
	/* a COMMIT that may have committed is asked about, never retried */
	assert_int_equal(pgerr_action_for(PGERR_OUTCOME_UNKNOWN), PGERR_ACTION_ASK);
	assert_string_equal(pgerr_class_name(PGERR_OUTCOME_UNKNOWN), "outcome_unknown");
	/* no SQLSTATE maps to it: only the caller that lost a COMMIT knows */
	assert_int_equal(pgerr_classify(NULL, true, false), PGERR_CONNECTION_LOST);
	/* our own cancel is never retried, whatever the signal */
	assert_int_equal(pgerr_action_for(PGERR_CANCELED_BY_US), PGERR_ACTION_FAIL);
	assert_int_equal(pgerr_policy_of(PGERR_CANCELED_BY_US)->exit_code, PGERR_EXIT_SIGNAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_sqlstates),
		cmocka_unit_test(test_classify_query_canceled),
		cmocka_unit_test(test_classify_without_sqlstate),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_class_names),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_from_conn),
		cmocka_unit_test(test_from_result),
		cmocka_unit_test(test_policy_table_rows),
		cmocka_unit_test(test_policy_exit_codes),
		cmocka_unit_test(test_policy_unknown_outcome_and_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
