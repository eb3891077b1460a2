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

pgerr_action
pgerr_action_for(pgerr_class cls)
{
	switch (cls)
	{
			/*
			 * Waiting for a lock, losing a deadlock or a serialization race
			 * says nothing about the change itself: the transaction rolled
			 * back whole, so trying again later is safe.
			 */
		case PGERR_LOCK_TIMEOUT:
		case PGERR_DEADLOCK:
		case PGERR_SERIALIZATION:
			return PGERR_ACTION_RETRY;

			/*
			 * The server went away (restart, failover, network): what was in
			 * flight rolled back; a fresh connection may succeed.
			 */
		case PGERR_ADMIN_SHUTDOWN:
		case PGERR_CONNECTION_LOST:
			return PGERR_ACTION_RECONNECT;

			/*
			 * A statement timeout is the operator's bound on how long a
			 * change may run; retrying would run past it.  Our own cancel
			 * means stop.  Everything else is a property of the change
			 * (syntax, missing or duplicate objects, constraint violations)
			 * and will fail the same way again.
			 */
		default:
			return PGERR_ACTION_FAIL;
	}
}

const char *
pgerr_class_name(pgerr_class cls)
{
	switch (cls)
	{
		case PGERR_NONE:
			return "none";
		case PGERR_LOCK_TIMEOUT:
			return "lock_timeout";
		case PGERR_DEADLOCK:
			return "deadlock";
		case PGERR_SERIALIZATION:
			return "serialization_failure";
		case PGERR_STATEMENT_TIMEOUT:
			return "statement_timeout";
		case PGERR_CANCELED_BY_US:
			return "canceled";
		case PGERR_ADMIN_SHUTDOWN:
			return "admin_shutdown";
		case PGERR_CONNECTION_LOST:
			return "connection_lost";
		case PGERR_DUPLICATE_OBJECT:
			return "duplicate_object";
		case PGERR_SYNTAX:
			return "syntax_error";
		case PGERR_UNDEFINED_OBJECT:
			return "undefined_object";
		case PGERR_OTHER:
			return "error";
	}
	return "error";
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

char *
db_error_format(const db_error *err)
{
	if (err->sqlstate[0])
		return xasprintf("%s: %s", err->sqlstate, err->message ? err->message : "");
	return xasprintf("%s", err->message ? err->message : pgerr_class_name(err->cls));
}
