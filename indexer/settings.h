/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The indexer's option values and where each came from.
 *
 * Every option that may also be set in the config file's settings group
 * or in the environment is described once, in one table (settings.c): its
 * command-line name, its key in the file, its environment variable and how
 * its value is parsed.  Values are applied in increasing precedence:
 * built-in default, then the file, then the environment, then the command
 * line; a later source simply overwrites an earlier one.
 *
 * Connection strings and passwords are never settings: they come from
 * --dsn, DATABASE_URL or libpq's PG* variables only.
 *
 * indexer/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_SETTINGS_H
#define INDEXER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "window.h"

#define INDEXER_MAX_JOBS 64

typedef enum setting_id
{
	SETTING_SCHEMA,
	SETTING_JOBS,
	SETTING_LOCK_TIMEOUT,
	SETTING_STATEMENT_TIMEOUT,
	SETTING_RETRIES,
	SETTING_MAINTENANCE_WORK_MEM,
	SETTING_MAX_PARALLEL_MAINTENANCE_WORKERS,
	SETTING_LOCK_WAIT,
	SETTING_WAIT,
	SETTING_LOG_FORMAT,
	SETTING_PROGRESS,
	SETTING_WINDOW,
	SETTING_TIME_ZONE,
	SETTING_MAX_RUNTIME,
	SETTING_MAX_BUILDS,
	SETTING_MAX_INDEX_SIZE,
	SETTING_ALLOW_UNKNOWN_SIZE,
	SETTING_RECORD_SCHEMA,
	SETTING_CREATE_SCHEMA,
	SETTING_NO_RECORD,
	SETTING_KEEP,
	SETTING_BACKOFF_AFTER,
	SETTING_RETRY_FAILED,
	SETTING_MAX_REPLICA_LAG,
	SETTING_MAX_REPLICA_LAG_BYTES,
	SETTING_REPLICA_LAG_WAIT,
	SETTING_MAX_SLOT_WAL,
	SETTING_METRICS_FILE,
	SETTING_METRICS_PUSH,
	N_SETTINGS
} setting_id;

/* The kind of value a setting takes in the config file. */
typedef enum setting_type
{
	SETTING_TYPE_STRING, /* names, durations, sizes */
	SETTING_TYPE_INT,
	SETTING_TYPE_BOOL
} setting_type;

typedef enum setting_origin
{
	ORIGIN_DEFAULT,
	ORIGIN_FILE,
	ORIGIN_ENV,
	ORIGIN_COMMAND_LINE
} setting_origin;

typedef struct indexer_settings
{
	char      *schema; /* default schema of definitions, search_path */
	int        jobs;
	int64_t    lock_timeout_ms;      /* bound on the wait for the table lock;
									 * 0 = none */
	int64_t    statement_timeout_ms; /* 0 = none; -1 (a migration's build, index_ensure.h):
								   * the session's own */
	int        retries;
	int64_t    maintenance_work_mem_kb;          /* 0 = the server's */
	int        max_parallel_maintenance_workers; /* -1 = the server's */
	int64_t    lock_wait_ms;                     /* wait for another run's lock */
	int64_t    wait_ms;                          /* wait for the server to accept */
	log_format format;
	bool       progress;
	/* when and how much (build only; see window.h and cmd_build.c) */
	window_list window;             /* empty: builds may start at any time */
	char       *time_zone;          /* of the windows, "UTC" by default */
	int64_t     max_runtime_ms;     /* no build starts after it; 0 = none */
	int         max_builds;         /* builds started per run; 0 = no limit */
	int64_t     max_index_size_kb;  /* refuse builds estimated bigger; 0 = none */
	bool        allow_unknown_size; /* build what cannot be estimated under a size bound */
	/* the history table (record.h) */
	char   *record_schema; /* NULL: the schema */
	bool    create_schema; /* create the record schema when it is missing */
	bool    no_record;     /* write no history */
	int64_t keep_ms;       /* delete history rows older than this; 0 = keep all */
	int     backoff_after; /* failed runs in a row before backoff; 0 = never */
	bool    retry_failed;  /* ignore the backoff */
	/* the replica guard before each build (replica_guard.h); 0 = off */
	int64_t        max_replica_lag_ms;  /* replay_lag of any replica */
	int64_t        max_replica_lag_kb;  /* WAL not yet replayed by any replica */
	int64_t        replica_lag_wait_ms; /* how long a run waits, in all, for them */
	int64_t        max_slot_wal_kb;     /* WAL retained by an inactive slot (default 1GB) */
	char          *metrics_file;        /* --metrics-file (common/metrics.h); NULL = none */
	char          *metrics_push;        /* --metrics-push URL; NULL = none */
	setting_origin origin[N_SETTINGS];
} indexer_settings;

/* The built-in defaults. */
void settings_init(indexer_settings *s);

/* Release what s holds; accepts NULL. */
void settings_free(indexer_settings *s);

/* The setting whose file key is key ("lock_timeout"), or -1. */
int settings_find_key(const char *key);

/* Its names: file key, option without dashes, environment variable. */
const char  *settings_key(setting_id id);
const char  *settings_option(setting_id id);
const char  *settings_env(setting_id id);
setting_type settings_type(setting_id id);

/*
 * Parse value for setting id and store it with its origin.  Booleans take
 * true/false, on/off, yes/no, 1/0.  A window given again on the command
 * line adds to the windows given there before (their union); from any
 * other source it replaces them.  Returns true, or false with a one-line
 * reason (without the setting's name, which the caller adds) in errbuf;
 * nothing is stored then.
 */
bool settings_apply(indexer_settings *s, setting_id id, const char *value, setting_origin origin,
					char *errbuf, size_t errlen);

/*
 * Apply every INDEXER_* environment variable that is set and not empty.
 * Returns true, or false after logging one error line per bad value
 * ("environment INDEXER_JOBS: ...").
 */
bool settings_apply_environment(indexer_settings *s);

#endif /* INDEXER_SETTINGS_H */
