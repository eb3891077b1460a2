/*-------------------------------------------------------------------------
 *
 * pgerr.c
 *	  Errors from the server, classified by SQLSTATE.
 *
 * common/pgerr.c
 *
 *-------------------------------------------------------------------------
 */
#include "pgerr.h"

#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "memory.h"

pgerr_class
pgerr_classify(const char *sqlstate, bool conn_bad, bool canceled_by_us)
{
	if (sqlstate == NULL || sqlstate[0] == '\0')
		return conn_bad ? PGERR_CONNECTION_LOST : PGERR_OTHER;
	if (strcmp(sqlstate, ERRCODE_LOCK_NOT_AVAILABLE) == 0)
		return PGERR_LOCK_TIMEOUT;
	if (strcmp(sqlstate, ERRCODE_T_R_DEADLOCK_DETECTED) == 0)
		return PGERR_DEADLOCK;
	if (strcmp(sqlstate, ERRCODE_T_R_SERIALIZATION_FAILURE) == 0)
		return PGERR_SERIALIZATION;
	if (strcmp(sqlstate, ERRCODE_QUERY_CANCELED) == 0)
		return canceled_by_us ? PGERR_CANCELED_BY_US : PGERR_STATEMENT_TIMEOUT;
	if (strcmp(sqlstate, ERRCODE_ADMIN_SHUTDOWN) == 0 || strcmp(sqlstate, ERRCODE_CRASH_SHUTDOWN) == 0 ||
		strcmp(sqlstate, ERRCODE_CANNOT_CONNECT_NOW) == 0)
		return PGERR_ADMIN_SHUTDOWN;
	if (strcmp(sqlstate, ERRCODE_DUPLICATE_TABLE) == 0 || strcmp(sqlstate, ERRCODE_DUPLICATE_COLUMN) == 0 ||
		strcmp(sqlstate, ERRCODE_DUPLICATE_OBJECT) == 0 || strcmp(sqlstate, ERRCODE_DUPLICATE_SCHEMA) == 0 ||
		strcmp(sqlstate, ERRCODE_DUPLICATE_FUNCTION) == 0)
		return PGERR_DUPLICATE_OBJECT;
	if (strcmp(sqlstate, ERRCODE_SYNTAX_ERROR) == 0)
		return PGERR_SYNTAX;
	if (strcmp(sqlstate, ERRCODE_UNDEFINED_TABLE) == 0 || strcmp(sqlstate, ERRCODE_UNDEFINED_COLUMN) == 0 ||
		strcmp(sqlstate, ERRCODE_UNDEFINED_OBJECT) == 0 ||
		strcmp(sqlstate, ERRCODE_UNDEFINED_FUNCTION) == 0 ||
		strcmp(sqlstate, ERRCODE_INVALID_SCHEMA_NAME) == 0)
		return PGERR_UNDEFINED_OBJECT;
	return PGERR_OTHER;
}

/*
 * The policy, one row a class, in the order of the enum (the unit test
 * checks that each row sits at its class's index).
 */
static const pgerr_policy policy[] = {
	[PGERR_NONE] = {PGERR_NONE, "none", PGERR_ACTION_FAIL, EXIT_OK},

	/*
	 * Waiting for a lock, losing a deadlock or a serialization race says
	 * nothing about the change itself: the transaction rolled back whole, so
	 * trying again later is safe.  When the attempts run out, the change
	 * failed.
	 */
	[PGERR_LOCK_TIMEOUT] = {PGERR_LOCK_TIMEOUT, "lock_timeout", PGERR_ACTION_RETRY, EXIT_CHANGE_FAILED},
	[PGERR_DEADLOCK] = {PGERR_DEADLOCK, "deadlock", PGERR_ACTION_RETRY, EXIT_CHANGE_FAILED},
	[PGERR_SERIALIZATION] = {PGERR_SERIALIZATION, "serialization_failure", PGERR_ACTION_RETRY,
							 EXIT_CHANGE_FAILED},

	/*
	 * A statement timeout is the operator's bound on how long a change may
	 * run; retrying would run past it.
	 */
	[PGERR_STATEMENT_TIMEOUT] = {PGERR_STATEMENT_TIMEOUT, "statement_timeout", PGERR_ACTION_FAIL,
								 EXIT_CHANGE_FAILED},

	/* Our own cancel means stop, with the code of the signal that asked. */
	[PGERR_CANCELED_BY_US] = {PGERR_CANCELED_BY_US, "canceled", PGERR_ACTION_FAIL, PGERR_EXIT_SIGNAL},

	/*
	 * The server went away (restart, failover, network): what was in flight
	 * rolled back; a fresh connection may succeed.  A run it ends says the
	 * database is unreachable: the change is not at fault.
	 */
	[PGERR_ADMIN_SHUTDOWN] = {PGERR_ADMIN_SHUTDOWN, "admin_shutdown", PGERR_ACTION_RECONNECT,
							  EXIT_UNREACHABLE},
	[PGERR_CONNECTION_LOST] = {PGERR_CONNECTION_LOST, "connection_lost", PGERR_ACTION_RECONNECT,
							   EXIT_UNREACHABLE},

	/*
	 * Lost while COMMIT was in flight: it may have committed.  Never retried
	 * blindly (a committed migration would run twice); what the server kept
	 * is read back and reported, and the run ends as for a lost connection.
	 */
	[PGERR_OUTCOME_UNKNOWN] = {PGERR_OUTCOME_UNKNOWN, "outcome_unknown", PGERR_ACTION_ASK, EXIT_UNREACHABLE},

	/*
	 * A property of the change (syntax, missing or duplicate objects,
	 * constraint violations, anything else): it fails the same way again.
	 */
	[PGERR_DUPLICATE_OBJECT] = {PGERR_DUPLICATE_OBJECT, "duplicate_object", PGERR_ACTION_FAIL,
								EXIT_CHANGE_FAILED},
	[PGERR_SYNTAX] = {PGERR_SYNTAX, "syntax_error", PGERR_ACTION_FAIL, EXIT_CHANGE_FAILED},
	[PGERR_UNDEFINED_OBJECT] = {PGERR_UNDEFINED_OBJECT, "undefined_object", PGERR_ACTION_FAIL,
								EXIT_CHANGE_FAILED},
	[PGERR_OTHER] = {PGERR_OTHER, "error", PGERR_ACTION_FAIL, EXIT_CHANGE_FAILED},
};

const pgerr_policy *
pgerr_policy_of(pgerr_class cls)
{
	if ((int) cls < 0 || (size_t) cls >= sizeof(policy) / sizeof(policy[0]))
		return &policy[PGERR_OTHER];
	return &policy[cls];
}

pgerr_action
pgerr_action_for(pgerr_class cls)
{
	return pgerr_policy_of(cls)->action;
}

int
pgerr_exit_code(pgerr_class cls, int signal_exit)
{
	int code = pgerr_policy_of(cls)->exit_code;

	if (code == PGERR_EXIT_SIGNAL)
		return signal_exit != 0 ? signal_exit : EXIT_CHANGE_FAILED;
	return code;
}

const char *
pgerr_class_name(pgerr_class cls)
{
	return pgerr_policy_of(cls)->name;
}

static char *
dup_trimmed(const char *s)
{
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
		len--;
	return xstrndup(s, len);
}

void
db_error_from_result(db_error *err, const PGconn *conn, const PGresult *res, bool canceled_by_us)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *position = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
	bool        conn_bad = PQstatus(conn) == CONNECTION_BAD;

	db_error_clear(err);
	if (sqlstate && strlen(sqlstate) == 5)
		memcpy(err->sqlstate, sqlstate, 6);
	else
		err->sqlstate[0] = '\0';
	err->cls = pgerr_classify(err->sqlstate, conn_bad, canceled_by_us);
	if (primary)
		err->message = dup_trimmed(primary);
	else if (res && PQresultErrorMessage(res)[0])
		err->message = dup_trimmed(PQresultErrorMessage(res));
	else
		err->message = dup_trimmed(PQerrorMessage(conn));
	if (err->message[0] == '\0')
	{
		free(err->message);
		err->message = xstrdup(conn_bad ? "connection to server lost" : "unknown error");
	}
	/* without a SQLSTATE and with the connection up it is still an error */
	if (err->cls == PGERR_NONE)
		err->cls = PGERR_OTHER;
	err->detail = res ? dup_trimmed(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) : NULL;
	err->hint = res ? dup_trimmed(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT)) : NULL;
	err->position = position ? atoi(position) : 0;
}

void
db_error_from_conn(db_error *err, const PGconn *conn, bool canceled_by_us)
{
	db_error_from_result(err, conn, NULL, canceled_by_us);
}

void
db_error_clear(db_error *err)
{
	if (err == NULL)
		return;
	free(err->message);
	free(err->detail);
	free(err->hint);
	memset(err, 0, sizeof(*err));
}

void
db_error_set(db_error *err, pgerr_class cls, const char *sqlstate, char *message)
{
	db_error_clear(err);
	err->cls = cls;
	if (sqlstate)
		memcpy(err->sqlstate, sqlstate, sizeof(err->sqlstate));
	err->message = message;
}

char *
db_error_format(const db_error *err)
{
	if (err->sqlstate[0])
		return xasprintf("%s: %s", err->sqlstate, err->message ? err->message : "");
	return xasprintf("%s", err->message ? err->message : pgerr_class_name(err->cls));
}
