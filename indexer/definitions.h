/*-------------------------------------------------------------------------
 *
 * definitions.h
 *	  The index definitions file (libconfig): reading and validation.
 *
 *	  indexes = (
 *	    { name = "idx_x"; table = "t"; critical = false;
 *	      sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_x ON t (a)"; }
 *	  );
 *	  settings = { jobs = 2; lock_timeout = "5s"; };
 *
 * The whole file is validated before the database is touched, in two
 * steps: config_load() reads the file and checks everything that does not
 * depend on the default schema (syntax, fields, their types and values,
 * the settings group, the parse of every statement); config_resolve()
 * then gives each definition its schema (its own, or the default that the
 * settings and options decided) and checks what depends on it: duplicate
 * names, and that each statement creates exactly its index on its table.
 * Each problem is logged as one error line
 *
 *	  <file>:<line>: index "idx_x": field "critical" must be a boolean ...
 *
 * and both steps go on to report every problem before they fail.
 *
 * indexer/definitions.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_DEFINITIONS_H
#define INDEXER_DEFINITIONS_H

#include <stdbool.h>

#include "index_sql.h"
#include "settings.h"
#include "window.h"

typedef enum index_state
{
	INDEX_STATE_PRESENT, /* build it if it is missing */
	INDEX_STATE_ABSENT   /* drop it concurrently if it exists */
} index_state;

/* One definition of the file. */
typedef struct index_def
{
	char       *name;
	char       *table;
	char       *schema;       /* its own, or the default once resolved */
	bool        schema_given; /* schema came from the definition */
	char       *sql;          /* NULL only for an absent one without sql */
	index_sql  *parsed;       /* parse of sql, NULL with it */
	char       *description;  /* NULL if none */
	bool        critical;
	index_state state;
	bool        has_window; /* its own window (or "any"): the run's does not apply */
	window_list window;
	int         line;     /* line of its group in the file */
	int         sql_line; /* line of its sql field */
} index_def;

/* A value of the settings group, applied by the caller in its turn. */
typedef struct config_setting_value
{
	setting_id id;
	char      *value; /* as text, e.g. "5s", "4", "true" */
	int        line;
} config_setting_value;

typedef struct index_config
{
	char                 *path;
	index_def            *defs;
	int                   n_defs;
	config_setting_value *settings;
	int                   n_settings;
	int                   cap_settings; /* allocated length (memory.h) */
} index_config;

/*
 * Read and check path (see the header comment).  Returns EXIT_OK with *cfg
 * filled, or EXIT_USAGE after logging every problem found (*cfg then holds
 * what could be read and must still be freed).  Never connects anywhere.
 */
int config_load(const char *path, index_config *cfg);

/*
 * Apply the file's settings group to s (origin ORIGIN_FILE).  Every value
 * was checked by config_load(), so this cannot fail.
 */
void config_apply_settings(const index_config *cfg, indexer_settings *s);

/*
 * Give every definition without a schema default_schema, then check
 * duplicate names and each statement against its name, table and schema.
 * Returns EXIT_OK or EXIT_USAGE after logging every problem.
 */
int config_resolve(index_config *cfg, const char *default_schema);

/* The definition named name (in any schema), or NULL. */
const index_def *config_find(const index_config *cfg, const char *name);

/* Release everything cfg holds; accepts NULL. */
void config_free(index_config *cfg);

#endif /* INDEXER_DEFINITIONS_H */
