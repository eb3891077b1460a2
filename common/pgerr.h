/*-------------------------------------------------------------------------
 *
 * pgerr.h
 *	  Errors from the server, classified by SQLSTATE, never by message text.
 *
 * The class of an error decides whether an operation is retried and how it
 * is reported.  It never decides success: a statement succeeded only when
 * libpq returned the exact result status the caller expected.
 *
 * common/pgerr.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_PGERR_H
#define TOOLKIT_PGERR_H

#include <stdbool.h>

#include <libpq-fe.h>

/* SQLSTATEs we act on, named as in PostgreSQL's errcodes.txt */
#define ERRCODE_SUCCESSFUL_COMPLETION     "00000"
#define ERRCODE_LOCK_NOT_AVAILABLE        "55P03" /* lock_timeout */
#define ERRCODE_OBJECT_IN_USE             "55006"
#define ERRCODE_T_R_DEADLOCK_DETECTED     "40P01"
#define ERRCODE_T_R_SERIALIZATION_FAILURE "40001"
#define ERRCODE_QUERY_CANCELED            "57014" /* statement_timeout or cancel */
#define ERRCODE_ADMIN_SHUTDOWN            "57P01"
#define ERRCODE_CRASH_SHUTDOWN            "57P02"
#define ERRCODE_CANNOT_CONNECT_NOW        "57P03"
#define ERRCODE_DUPLICATE_TABLE           "42P07"
#define ERRCODE_DUPLICATE_COLUMN          "42701"
#define ERRCODE_DUPLICATE_OBJECT          "42710"
#define ERRCODE_DUPLICATE_SCHEMA          "42P06"
#define ERRCODE_DUPLICATE_FUNCTION        "42723"
#define ERRCODE_SYNTAX_ERROR              "42601"
#define ERRCODE_UNDEFINED_TABLE           "42P01"
#define ERRCODE_UNDEFINED_COLUMN          "42703"
#define ERRCODE_UNDEFINED_OBJECT          "42704"
#define ERRCODE_UNDEFINED_FUNCTION        "42883"
#define ERRCODE_INVALID_SCHEMA_NAME       "3F000"
#define ERRCODE_UNIQUE_VIOLATION          "23505"
#define ERRCODE_INSUFFICIENT_PRIVILEGE    "42501"
#define ERRCODE_ACTIVE_SQL_TRANSACTION    "25001"

typedef enum pgerr_class
{
	PGERR_NONE = 0,          /* no error */
	PGERR_LOCK_TIMEOUT,      /* 55P03 */
	PGERR_DEADLOCK,          /* 40P01 */
	PGERR_SERIALIZATION,     /* 40001 */
	PGERR_STATEMENT_TIMEOUT, /* 57014 that we did not ask for */
	PGERR_CANCELED_BY_US,    /* 57014 after our own cancel (signal or
								 * watchdog) */
	PGERR_ADMIN_SHUTDOWN,    /* 57P01..57P03 */
	PGERR_CONNECTION_LOST,   /* CONNECTION_BAD, no SQLSTATE */
	PGERR_OUTCOME_UNKNOWN,   /* lost while COMMIT (or the history row of a
							  * no-transaction file) was in flight: only
							  * the server knows whether it committed */
	PGERR_DUPLICATE_OBJECT,  /* 42P07 42701 42710 42P06 42723 */
	PGERR_SYNTAX,            /* 42601 */
	PGERR_UNDEFINED_OBJECT,  /* 42P01 42703 42704 42883 3F000 */
	PGERR_OTHER              /* anything else: fatal */
} pgerr_class;

/* What to do about an error of a class. */
typedef enum pgerr_action
{
	PGERR_ACTION_FAIL,      /* report and stop */
	PGERR_ACTION_RETRY,     /* transient: roll back, back off, retry */
	PGERR_ACTION_RECONNECT, /* connection gone: the indexer's engine
							 * reconnects and retries; the migrator stops,
							 * the file not at fault ("run again") */
	PGERR_ACTION_ASK        /* outcome unknown: read back on a new
							 * connection what the server kept, then stop */
} pgerr_action;

/* pgerr_policy.exit_code of our own cancel: the signal's code (130/143) */
#define PGERR_EXIT_SIGNAL (-1)

/*
 * The error policy of both programs, one row a class (pgerr.c, with the
 * reasons beside each row): what to do, and the exit code of a run that
 * the error ends.  Every rule that maps a class to an action or an exit
 * code reads it, through the functions below.
 */
typedef struct pgerr_policy
{
	pgerr_class  cls;
	const char  *name; /* short stable name, e.g. "lock_timeout", for logs */
	pgerr_action action;
	int          exit_code; /* toolkit_exit (exitcodes.h) or PGERR_EXIT_SIGNAL */
} pgerr_policy;

/* One server (or connection) error, owned by whoever holds the struct. */
typedef struct db_error
{
	pgerr_class cls;
	char        sqlstate[6]; /* "" for connection loss */
	char       *message;     /* primary message, never NULL once set */
	char       *detail;      /* may be NULL */
	char       *hint;        /* may be NULL */
	int         position;    /* 1-based character position, 0 if none */
} db_error;

/*
 * Classify a SQLSTATE.  canceled_by_us says whether we sent the cancel
 * (signal or watchdog): 57014 is then PGERR_CANCELED_BY_US, else a
 * statement timeout.  sqlstate may be NULL or "" (no SQLSTATE): that is a
 * lost connection when conn_bad, PGERR_OTHER otherwise.
 */
pgerr_class pgerr_classify(const char *sqlstate, bool conn_bad, bool canceled_by_us);

/* The row of cls; a value out of range reads as PGERR_OTHER's.  Never NULL. */
const pgerr_policy *pgerr_policy_of(pgerr_class cls);

/* The retry policy, in one place: pgerr_policy_of(cls)->action. */
pgerr_action pgerr_action_for(pgerr_class cls);

/*
 * The exit code of a run that an error of class cls ends.  signal_exit is
 * cancel_exit_code() (130, 143, or 0 without a signal): PGERR_CANCELED_BY_US
 * exits with it, or with EXIT_CHANGE_FAILED when no signal came (a cancel
 * of our own that no operator asked for).  Never fails.
 */
int pgerr_exit_code(pgerr_class cls, int signal_exit);

/* Short stable name, e.g. "lock_timeout", for logs. */
const char *pgerr_class_name(pgerr_class cls);

/*
 * Fill err from a failed result (res may be NULL when the connection broke
 * before a result arrived).  Frees what err held before.
 */
void db_error_from_result(db_error *err, const PGconn *conn, const PGresult *res, bool canceled_by_us);

/* Fill err for a failure without a server result (e.g. a send error). */
void db_error_from_conn(db_error *err, const PGconn *conn, bool canceled_by_us);

/* Release what err holds and reset it to PGERR_NONE; accepts NULL. */
void db_error_clear(db_error *err);

/*
 * Fill err with a failure of the toolkit's own (not the server's): class
 * cls, sqlstate (NULL: none) and message, which err takes over.  Whatever
 * err held before is freed first.
 */
void db_error_set(db_error *err, pgerr_class cls, const char *sqlstate, char *message);

/* "55P03: canceling statement due to lock timeout"; caller frees. */
char *db_error_format(const db_error *err);

#endif /* TOOLKIT_PGERR_H */
