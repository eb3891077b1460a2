/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The indexer's option values and where each came from.
 *
 * indexer/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "index_sql.h"
#include "memory.h"
#include "metrics.h"
#include "options.h"

typedef struct setting_desc
{
	const char  *key;    /* in the file's settings group */
	const char  *option; /* --option */
	const char  *env;    /* environment variable */
	setting_type type;
} setting_desc;

static const setting_desc setting_table[N_SETTINGS] = {
	[SETTING_SCHEMA] = {"schema", "schema", "INDEXER_SCHEMA", SETTING_TYPE_STRING},
	[SETTING_JOBS] = {"jobs", "jobs", "INDEXER_JOBS", SETTING_TYPE_INT},
	[SETTING_LOCK_TIMEOUT] = {"lock_timeout", "lock-timeout", "INDEXER_LOCK_TIMEOUT", SETTING_TYPE_STRING},
	[SETTING_STATEMENT_TIMEOUT] = {"statement_timeout", "statement-timeout", "INDEXER_STATEMENT_TIMEOUT",
								   SETTING_TYPE_STRING},
	[SETTING_RETRIES] = {"retries", "retries", "INDEXER_RETRIES", SETTING_TYPE_INT},
	[SETTING_MAINTENANCE_WORK_MEM] = {"maintenance_work_mem", "maintenance-work-mem",
									  "INDEXER_MAINTENANCE_WORK_MEM", SETTING_TYPE_STRING},
	[SETTING_MAX_PARALLEL_MAINTENANCE_WORKERS] = {"max_parallel_maintenance_workers",
												  "max-parallel-maintenance-workers",
												  "INDEXER_MAX_PARALLEL_MAINTENANCE_WORKERS",
												  SETTING_TYPE_INT},
	[SETTING_LOCK_WAIT] = {"lock_wait", "lock-wait", "INDEXER_LOCK_WAIT", SETTING_TYPE_STRING},
	[SETTING_WAIT] = {"wait", "wait", "INDEXER_WAIT", SETTING_TYPE_STRING},
	[SETTING_LOG_FORMAT] = {"log_format", "log-format", "INDEXER_LOG_FORMAT", SETTING_TYPE_STRING},
	[SETTING_PROGRESS] = {"progress", "progress", "INDEXER_PROGRESS", SETTING_TYPE_BOOL},
	[SETTING_WINDOW] = {"window", "window", "INDEXER_WINDOW", SETTING_TYPE_STRING},
	[SETTING_TIME_ZONE] = {"time_zone", "time-zone", "INDEXER_TIME_ZONE", SETTING_TYPE_STRING},
	[SETTING_MAX_RUNTIME] = {"max_runtime", "max-runtime", "INDEXER_MAX_RUNTIME", SETTING_TYPE_STRING},
	[SETTING_MAX_BUILDS] = {"max_builds", "max-builds", "INDEXER_MAX_BUILDS", SETTING_TYPE_INT},
	[SETTING_MAX_INDEX_SIZE] = {"max_index_size", "max-index-size", "INDEXER_MAX_INDEX_SIZE",
								SETTING_TYPE_STRING},
	[SETTING_ALLOW_UNKNOWN_SIZE] = {"allow_unknown_size", "allow-unknown-size", "INDEXER_ALLOW_UNKNOWN_SIZE",
									SETTING_TYPE_BOOL},
	[SETTING_RECORD_SCHEMA] = {"record_schema", "record-schema", "INDEXER_RECORD_SCHEMA",
							   SETTING_TYPE_STRING},
	[SETTING_CREATE_SCHEMA] = {"create_schema", "create-schema", "INDEXER_CREATE_SCHEMA", SETTING_TYPE_BOOL},
	[SETTING_NO_RECORD] = {"no_record", "no-record", "INDEXER_NO_RECORD", SETTING_TYPE_BOOL},
	[SETTING_KEEP] = {"keep", "keep", "INDEXER_KEEP", SETTING_TYPE_STRING},
	[SETTING_BACKOFF_AFTER] = {"backoff_after", "backoff-after", "INDEXER_BACKOFF_AFTER", SETTING_TYPE_INT},
	[SETTING_RETRY_FAILED] = {"retry_failed", "retry-failed", "INDEXER_RETRY_FAILED", SETTING_TYPE_BOOL},
	[SETTING_MAX_REPLICA_LAG] = {"max_replica_lag", "max-replica-lag", "INDEXER_MAX_REPLICA_LAG",
								 SETTING_TYPE_STRING},
	[SETTING_MAX_REPLICA_LAG_BYTES] = {"max_replica_lag_bytes", "max-replica-lag-bytes",
									   "INDEXER_MAX_REPLICA_LAG_BYTES", SETTING_TYPE_STRING},
	[SETTING_REPLICA_LAG_WAIT] = {"replica_lag_wait", "replica-lag-wait", "INDEXER_REPLICA_LAG_WAIT",
								  SETTING_TYPE_STRING},
	[SETTING_MAX_SLOT_WAL] = {"max_slot_wal", "max-slot-wal", "INDEXER_MAX_SLOT_WAL", SETTING_TYPE_STRING},
	[SETTING_METRICS_FILE] = {"metrics_file", "metrics-file", "INDEXER_METRICS_FILE", SETTING_TYPE_STRING},
	[SETTING_METRICS_PUSH] = {"metrics_push", "metrics-push", "INDEXER_METRICS_PUSH", SETTING_TYPE_STRING},
};

void
settings_init(indexer_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->schema = xstrdup("public");
	s->jobs = 1;
	s->lock_timeout_ms = 5000;
	s->statement_timeout_ms = 0;
	s->retries = 3;
	s->maintenance_work_mem_kb = 0;
	s->max_parallel_maintenance_workers = -1;
	s->lock_wait_ms = 0;
	s->wait_ms = 0;
	s->format = LOG_FORMAT_TEXT;
	s->progress = true;
	s->time_zone = xstrdup("UTC");
	s->keep_ms = (int64_t) 90 * 24 * 3600 * 1000;
	s->backoff_after = 3;
	s->replica_lag_wait_ms = 5 * 60 * 1000;
	s->max_slot_wal_kb = 1024 * 1024;
	for (int i = 0; i < N_SETTINGS; i++)
		s->origin[i] = ORIGIN_DEFAULT;
}

void
settings_free(indexer_settings *s)
{
	if (s == NULL)
		return;
	free(s->schema);
	s->schema = NULL;
	free(s->time_zone);
	s->time_zone = NULL;
	free(s->record_schema);
	s->record_schema = NULL;
	free(s->metrics_file);
	s->metrics_file = NULL;
	free(s->metrics_push);
	s->metrics_push = NULL;
	window_list_free(&s->window);
}

int
settings_find_key(const char *key)
{
	for (int i = 0; i < N_SETTINGS; i++)
		if (strcmp(setting_table[i].key, key) == 0)
			return i;
	return -1;
}

const char *
settings_key(setting_id id)
{
	return setting_table[id].key;
}

const char *
settings_option(setting_id id)
{
	return setting_table[id].option;
}

const char *
settings_env(setting_id id)
{
	return setting_table[id].env;
}

setting_type
settings_type(setting_id id)
{
	return setting_table[id].type;
}

static bool
parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = {"true", "on", "yes", "1"};
	static const char *const no[] = {"false", "off", "no", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	{
		if (strcasecmp(value, yes[i]) == 0)
		{
			*out = true;
			return true;
		}
		if (strcasecmp(value, no[i]) == 0)
		{
			*out = false;
			return true;
		}
	}
	return false;
}

/* A schema name into *out (the --schema, the --record-schema). */
static bool
apply_schema(char **out, const char *value, char *errbuf, size_t errlen)
{
	if (value[0] == '\0')
	{
		snprintf(errbuf, errlen, "empty schema name");
		return false;
	}
	if (strlen(value) > INDEX_SQL_MAX_IDENT)
	{
		snprintf(errbuf, errlen, "schema name \"%s\" is longer than %d bytes", value, INDEX_SQL_MAX_IDENT);
		return false;
	}
	free(*out);
	*out = xstrdup(value);
	return true;
}

/* An integer setting in [min, max] into *out. */
static bool
apply_int(int *out, const char *value, int64_t min, int64_t max, char *errbuf, size_t errlen)
{
	int64_t n;

	if (!parse_int_range(value, min, max, &n, errbuf, errlen))
		return false;
	*out = (int) n;
	return true;
}

static bool
apply_maintenance_work_mem(indexer_settings *s, const char *value, char *errbuf, size_t errlen)
{
	int64_t n;

	if (!parse_memory_size(value, &n, errbuf, errlen))
		return false;
	/* the server refuses less than 1MB */
	if (n < 1024)
	{
		snprintf(errbuf, errlen, "size \"%s\" is below the server's minimum of 1MB", value);
		return false;
	}
	s->maintenance_work_mem_kb = n;
	return true;
}

static bool
apply_log_format(indexer_settings *s, const char *value, char *errbuf, size_t errlen)
{
	log_format f;

	if (!log_parse_format(value, &f))
	{
		snprintf(errbuf, errlen, "invalid value \"%s\" (use text or json)", value);
		return false;
	}
	s->format = f;
	return true;
}

static bool
apply_progress(indexer_settings *s, const char *value, char *errbuf, size_t errlen)
{
	bool b;

	if (!parse_bool(value, &b))
	{
		snprintf(errbuf, errlen, "invalid value \"%s\" (use true or false)", value);
		return false;
	}
	s->progress = b;
	return true;
}

/* The windows: a union when the command line gives several (see settings.h). */
static bool
apply_window(indexer_settings *s, const char *value, bool add, char *errbuf, size_t errlen)
{
	window_list w = {0};

	if (!window_parse(value, &w, errbuf, errlen))
	{
		window_list_free(&w);
		return false;
	}
	if (!add)
		window_list_free(&s->window);
	s->window.any = s->window.any || w.any;
	for (int i = 0; i < w.n; i++)
	{
		ARRAY_GROW(s->window.spans, s->window.n + 1, s->window.cap);
		s->window.spans[s->window.n++] = w.spans[i];
	}
	window_list_free(&w);
	return true;
}

static bool
apply_time_zone(indexer_settings *s, const char *value, char *errbuf, size_t errlen)
{
	if (!window_zone_valid(value, errbuf, errlen))
		return false;
	free(s->time_zone);
	s->time_zone = xstrdup(value);
	return true;
}

/* A size bound ("10GB", "500MB") in kB; "0" (or "off") is none. */
static bool
apply_size_bound(int64_t *kb, const char *value, char *errbuf, size_t errlen)
{
	if (strcmp(value, "0") == 0 || strcmp(value, "off") == 0)
	{
		*kb = 0;
		return true;
	}
	return parse_memory_size(value, kb, errbuf, errlen);
}

/* --metrics-file, --metrics-push: "" turns an earlier source's off; a push URL is http(s), its password encoded. */
static bool
apply_metrics(char **out, const char *value, bool url, char *errbuf, size_t errlen)
{
	/* the message masks a password the URL carries */
	if (url && value[0] != '\0' && !metrics_push_url_check(value, errbuf, errlen))
		return false;
	free(*out);
	*out = value[0] ? xstrdup(value) : NULL;
	return true;
}

static bool
apply_flag(bool *out, const char *value, char *errbuf, size_t errlen)
{
	if (!parse_bool(value, out))
	{
		snprintf(errbuf, errlen, "invalid value \"%s\" (use true or false)", value);
		return false;
	}
	return true;
}

/*
 * The history's retention: whole days may go past parse_duration's 24 days
 * (its bound is the server's int32 milliseconds, which this never reaches):
 * the default is 90d.
 */
static bool
apply_keep(indexer_settings *s, const char *value, char *errbuf, size_t errlen)
{
	size_t  len = strlen(value);
	int64_t days;
	char    digits[16];

	if (len >= 2 && len < sizeof(digits) && value[len - 1] == 'd' && strspn(value, "0123456789") == len - 1)
	{
		memcpy(digits, value, len - 1);
		digits[len - 1] = '\0';
		if (!parse_int_range(digits, 0, 36500, &days, errbuf, errlen))
			return false;
		s->keep_ms = days * 24 * 3600 * 1000;
		return true;
	}
	return parse_duration(value, &s->keep_ms, errbuf, errlen);
}

/* The history table's settings (record.h). */
static bool
apply_record_value(indexer_settings *s, setting_id id, const char *value, char *errbuf, size_t errlen)
{
	switch (id)
	{
		case SETTING_RECORD_SCHEMA:
			return apply_schema(&s->record_schema, value, errbuf, errlen);
		case SETTING_CREATE_SCHEMA:
			return apply_flag(&s->create_schema, value, errbuf, errlen);
		case SETTING_NO_RECORD:
			return apply_flag(&s->no_record, value, errbuf, errlen);
		case SETTING_KEEP:
			return apply_keep(s, value, errbuf, errlen);
		case SETTING_BACKOFF_AFTER:
			return apply_int(&s->backoff_after, value, 0, 1000, errbuf, errlen);
		case SETTING_RETRY_FAILED:
			return apply_flag(&s->retry_failed, value, errbuf, errlen);
		default:
			snprintf(errbuf, errlen, "unknown setting");
			return false;
	}
}

/* Parse value for setting id into s; false with errbuf filled when it is invalid. */
static bool
apply_value(indexer_settings *s, setting_id id, const char *value, char *errbuf, size_t errlen)
{
	switch (id)
	{
		case SETTING_SCHEMA:
			return apply_schema(&s->schema, value, errbuf, errlen);
		case SETTING_JOBS:
			return apply_int(&s->jobs, value, 1, INDEXER_MAX_JOBS, errbuf, errlen);
		case SETTING_RETRIES:
			return apply_int(&s->retries, value, 0, 100, errbuf, errlen);
		case SETTING_MAX_PARALLEL_MAINTENANCE_WORKERS:
			/* the server's own limit (max_worker_processes) is 262143 */
			return apply_int(&s->max_parallel_maintenance_workers, value, 0, 1024, errbuf, errlen);
		case SETTING_LOCK_TIMEOUT:
			return parse_duration(value, &s->lock_timeout_ms, errbuf, errlen);
		case SETTING_STATEMENT_TIMEOUT:
			return parse_duration(value, &s->statement_timeout_ms, errbuf, errlen);
		case SETTING_LOCK_WAIT:
			return parse_duration(value, &s->lock_wait_ms, errbuf, errlen);
		case SETTING_WAIT:
			return parse_duration(value, &s->wait_ms, errbuf, errlen);
		case SETTING_MAINTENANCE_WORK_MEM:
			return apply_maintenance_work_mem(s, value, errbuf, errlen);
		case SETTING_LOG_FORMAT:
			return apply_log_format(s, value, errbuf, errlen);
		case SETTING_PROGRESS:
			return apply_progress(s, value, errbuf, errlen);
		case SETTING_TIME_ZONE:
			return apply_time_zone(s, value, errbuf, errlen);
		case SETTING_MAX_RUNTIME:
			return parse_duration(value, &s->max_runtime_ms, errbuf, errlen);
		case SETTING_MAX_BUILDS:
			return apply_int(&s->max_builds, value, 1, 1000000, errbuf, errlen);
		case SETTING_MAX_INDEX_SIZE:
			return apply_size_bound(&s->max_index_size_kb, value, errbuf, errlen);
		case SETTING_ALLOW_UNKNOWN_SIZE:
			return apply_flag(&s->allow_unknown_size, value, errbuf, errlen);
		case SETTING_MAX_REPLICA_LAG:
			return parse_duration(strcmp(value, "off") == 0 ? "0" : value, &s->max_replica_lag_ms, errbuf,
								  errlen);
		case SETTING_MAX_REPLICA_LAG_BYTES:
			return apply_size_bound(&s->max_replica_lag_kb, value, errbuf, errlen);
		case SETTING_REPLICA_LAG_WAIT:
			return parse_duration(value, &s->replica_lag_wait_ms, errbuf, errlen);
		case SETTING_MAX_SLOT_WAL:
			return apply_size_bound(&s->max_slot_wal_kb, value, errbuf, errlen);
		case SETTING_METRICS_FILE:
			return apply_metrics(&s->metrics_file, value, false, errbuf, errlen);
		case SETTING_METRICS_PUSH:
			return apply_metrics(&s->metrics_push, value, true, errbuf, errlen);
		default:
			return apply_record_value(s, id, value, errbuf, errlen);
	}
}

bool
settings_apply(indexer_settings *s, setting_id id, const char *value, setting_origin origin, char *errbuf,
			   size_t errlen)
{
	bool ok;

	if (id == SETTING_WINDOW)
		ok = apply_window(s, value, origin == ORIGIN_COMMAND_LINE && s->origin[id] == ORIGIN_COMMAND_LINE,
						  errbuf, errlen);
	else
		ok = apply_value(s, id, value, errbuf, errlen);
	if (!ok)
		return false;
	s->origin[id] = origin;
	return true;
}

bool
settings_apply_environment(indexer_settings *s)
{
	bool ok = true;

	for (int i = 0; i < N_SETTINGS; i++)
	{
		const char *value = getenv(setting_table[i].env);
		char        why[256];

		if (value == NULL || value[0] == '\0')
			continue;
		if (!settings_apply(s, (setting_id) i, value, ORIGIN_ENV, why, sizeof(why)))
		{
			log_event(LOG_LEVEL_ERROR, "invalid_environment", NULL, "environment %s: %s",
					  setting_table[i].env, why);
			ok = false;
		}
	}
	return ok;
}
