/*-------------------------------------------------------------------------
 *
 * definitions.c
 *	  The index definitions file (libconfig): reading and validation.
 *
 * libconfig gives every setting its source line
 * (config_setting_source_line) and a syntax error its line and text, so
 * each problem is reported where it is.  The file is read through our own
 * fopen() so that a missing or unreadable file is reported with errno's
 * reason rather than libconfig's generic "file I/O error".
 *
 * indexer/definitions.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE /* qsort_r */
#include "definitions.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"

/* The fields a definition may have, as listed in messages. */
static const char *const index_fields[] = {"name",        "table",  "sql",   "critical",
										   "description", "schema", "state", "window"};

#define N_INDEX_FIELDS    ((int) (sizeof(index_fields) / sizeof(index_fields[0])))
#define INDEX_FIELDS_LIST "name, table, sql, critical, description, schema, state, window"

/* Keys that would put a connection or a secret into the file. */
static const char *const credential_keys[] = {"dsn",        "database_url", "url",     "conninfo",
											  "connection", "password",     "passfile"};

/*
 * Log one problem as "<file>:<line>: <who>: <message>"; line 0 leaves the
 * line out, who NULL leaves the subject out.
 */
static void problem(const char *path, int line, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
problem(const char *path, int line, const char *who, const char *fmt, ...)
{
	textbuf   msg;
	char      linebuf[16];
	va_list   ap;
	log_field fields[] = {{"file", path}, {"line", linebuf}, {NULL, NULL}};

	textbuf_init(&msg);
	va_start(ap, fmt);
	textbuf_vappendf(&msg, fmt, ap);
	va_end(ap);
	snprintf(linebuf, sizeof(linebuf), "%d", line);
	if (line <= 0)
		fields[1].key = NULL;
	if (line > 0 && who)
		log_event(LOG_LEVEL_ERROR, "invalid_config", fields, "%s:%d: %s: %s", path, line, who, msg.data);
	else if (line > 0)
		log_event(LOG_LEVEL_ERROR, "invalid_config", fields, "%s:%d: %s", path, line, msg.data);
	else if (who)
		log_event(LOG_LEVEL_ERROR, "invalid_config", fields, "%s: %s: %s", path, who, msg.data);
	else
		log_event(LOG_LEVEL_ERROR, "invalid_config", fields, "%s: %s", path, msg.data);
	textbuf_free(&msg);
}

static const char *
type_name(const config_setting_t *s)
{
	switch (config_setting_type(s))
	{
		case CONFIG_TYPE_GROUP:
			return "a group";
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			return "an integer";
		case CONFIG_TYPE_FLOAT:
			return "a floating-point number";
		case CONFIG_TYPE_STRING:
			return "a string";
		case CONFIG_TYPE_BOOL:
			return "a boolean";
		case CONFIG_TYPE_ARRAY:
			return "an array";
		case CONFIG_TYPE_LIST:
			return "a list";
		default:
			return "empty";
	}
}

static int
line_of(const config_setting_t *s)
{
	return (int) config_setting_source_line(s);
}

/*
 * Whether s is valid UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF): the server refuses anything else with an encoding error, which
 * would only surface after connecting, as if the database were at fault.
 */
static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int      len = *p < 0x80             ? 1
					   : (*p & 0xe0) == 0xc0 ? 2
					   : (*p & 0xf0) == 0xe0 ? 3
					   : (*p & 0xf8) == 0xf0 ? 4
											 : 0;
		uint32_t cp = len == 1 ? *p : len == 2 ? (*p & 0x1fu) : len == 3 ? (*p & 0x0fu) : (*p & 0x07u);

		if (len == 0)
			return false;
		for (int k = 1; k < len; k++)
		{
			if ((p[k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[k] & 0x3fu);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

/*
 * A string field that must be set, valid UTF-8 and at most max_len bytes
 * (0: no limit).  Returns a copy, or NULL after logging.
 */
static char *
string_field(const char *path, const char *who, const config_setting_t *f, bool allow_empty, size_t max_len)
{
	const char *v;

	if (config_setting_type(f) != CONFIG_TYPE_STRING)
	{
		problem(path, line_of(f), who, "field \"%s\" must be a string, not %s", config_setting_name(f),
				type_name(f));
		return NULL;
	}
	v = config_setting_get_string(f);
	if (!utf8_valid(v))
	{
		problem(path, line_of(f), who, "field \"%s\" is not valid UTF-8", config_setting_name(f));
		return NULL;
	}
	if (!allow_empty && v[0] == '\0')
	{
		problem(path, line_of(f), who, "field \"%s\" is empty", config_setting_name(f));
		return NULL;
	}
	if (max_len > 0 && strlen(v) > max_len)
	{
		problem(path, line_of(f), who,
				"field \"%s\": \"%s\" is longer than %zu bytes (PostgreSQL would cut the name short)",
				config_setting_name(f), v, max_len);
		return NULL;
	}
	return xstrdup(v);
}

/* Is field one of the definition's fields (index_fields)? */
static bool
known_index_field(const char *field)
{
	for (int k = 0; k < N_INDEX_FIELDS; k++)
		if (strcmp(field, index_fields[k]) == 0)
			return true;
	return false;
}

/* The field "critical": a boolean. */
static bool
read_critical(const char *path, const char *who, const config_setting_t *m, index_def *def)
{
	if (config_setting_type(m) != CONFIG_TYPE_BOOL)
	{
		problem(path, line_of(m), who, "field \"critical\" must be a boolean (true or false), not %s",
				type_name(m));
		return false;
	}
	def->critical = config_setting_get_bool(m) != 0;
	return true;
}

/* The field "state": "present" or "absent". */
static bool
read_state(const char *path, const char *who, const config_setting_t *m, index_def *def)
{
	char *state = string_field(path, who, m, false, 0);
	bool  ok = true;

	if (state == NULL)
		return false;
	if (strcmp(state, "present") == 0)
		def->state = INDEX_STATE_PRESENT;
	else if (strcmp(state, "absent") == 0)
		def->state = INDEX_STATE_ABSENT;
	else
	{
		problem(path, line_of(m), who, "field \"state\" must be \"present\" or \"absent\", not \"%s\"",
				state);
		ok = false;
	}
	free(state);
	return ok;
}

/* The field "window": "any" or its own windows (window.h). */
static bool
read_window(const char *path, const char *who, const config_setting_t *m, index_def *def)
{
	char *text = string_field(path, who, m, false, 0);
	char  why[256];
	bool  ok;

	if (text == NULL)
		return false;
	ok = window_parse(text, &def->window, why, sizeof(why));
	if (!ok)
		problem(path, line_of(m), who, "field \"window\": %s", why);
	def->has_window = ok;
	free(text);
	return ok;
}

/* One member m of a definition into def; false after logging. */
static bool
read_index_field(const char *path, const char *who, const config_setting_t *m, index_def *def)
{
	const char *field = config_setting_name(m);

	if (!known_index_field(field))
	{
		problem(path, line_of(m), who, "unknown field \"%s\" (known fields: " INDEX_FIELDS_LIST ")", field);
		return false;
	}
	if (strcmp(field, "name") == 0)
		return (def->name = string_field(path, who, m, false, INDEX_SQL_MAX_IDENT)) != NULL;
	if (strcmp(field, "table") == 0)
		return (def->table = string_field(path, who, m, false, INDEX_SQL_MAX_IDENT)) != NULL;
	if (strcmp(field, "schema") == 0)
	{
		def->schema = string_field(path, who, m, false, INDEX_SQL_MAX_IDENT);
		def->schema_given = def->schema != NULL;
		return def->schema != NULL;
	}
	if (strcmp(field, "description") == 0)
		return (def->description = string_field(path, who, m, true, 0)) != NULL;
	if (strcmp(field, "sql") == 0)
	{
		def->sql_line = line_of(m);
		return (def->sql = string_field(path, who, m, false, 0)) != NULL;
	}
	if (strcmp(field, "critical") == 0)
		return read_critical(path, who, m, def);
	if (strcmp(field, "window") == 0)
		return read_window(path, who, m, def);
	return read_state(path, who, m, def); /* the last known field */
}

/* The fields a definition must have, and its statement parsed. */
static bool
check_index_def(const char *path, const config_setting_t *g, const char *who, index_def *def)
{
	bool ok = true;

	if (config_setting_get_member(g, "name") == NULL)
	{
		problem(path, def->line, who, "missing field \"name\"");
		ok = false;
	}
	if (config_setting_get_member(g, "table") == NULL)
	{
		problem(path, def->line, who, "missing field \"table\"");
		ok = false;
	}
	/* an index to drop needs no statement; one to build does */
	if (config_setting_get_member(g, "sql") == NULL && def->state == INDEX_STATE_PRESENT)
	{
		problem(path, def->line, who, "missing field \"sql\"");
		ok = false;
	}
	if (def->sql != NULL)
	{
		char *why = NULL;

		def->parsed = index_sql_parse(def->sql, &why);
		if (def->parsed == NULL)
		{
			problem(path, def->sql_line, who, "field \"sql\": %s", why);
			ok = false;
		}
		free(why);
	}
	return ok;
}

/* Read one element of the indexes list into def; false after logging. */
static bool
load_index(const char *path, const config_setting_t *g, int ordinal, index_def *def)
{
	const config_setting_t *f;
	char                   *who;
	bool                    ok = true;

	def->line = line_of(g);
	def->state = INDEX_STATE_PRESENT;

	/* name the definition in messages by its name if it has a usable one */
	f = config_setting_get_member(g, "name");
	if (f && config_setting_type(f) == CONFIG_TYPE_STRING && config_setting_get_string(f)[0] != '\0' &&
		utf8_valid(config_setting_get_string(f)))
		who = xasprintf("index \"%s\"", config_setting_get_string(f));
	else
		who = xasprintf("index #%d", ordinal);

	for (int i = 0; i < config_setting_length(g); i++)
		ok = read_index_field(path, who, config_setting_get_elem(g, (unsigned) i), def) && ok;
	ok = check_index_def(path, g, who, def) && ok;
	free(who);
	return ok;
}

/* Check one member of the settings group and keep its value. */
static bool
load_setting(const char *path, const config_setting_t *m, index_config *cfg, indexer_settings *scratch)
{
	const char           *key = config_setting_name(m);
	int                   id = settings_find_key(key);
	char                 *text;
	char                  why[256];
	config_setting_value *v;

	for (size_t i = 0; i < sizeof(credential_keys) / sizeof(credential_keys[0]); i++)
	{
		if (strcmp(key, credential_keys[i]) == 0)
		{
			problem(
				path, line_of(m), "settings",
				"\"%s\" is not allowed in the file: no connection strings or passwords here; use --dsn, DATABASE_URL or libpq's PG* variables",
				key);
			return false;
		}
	}
	if (id < 0)
	{
		textbuf known;

		/* from the settings table, so that it names every setting */
		textbuf_init(&known);
		for (int i = 0; i < N_SETTINGS; i++)
			textbuf_appendf(&known, "%s%s", i ? ", " : "", settings_key((setting_id) i));
		problem(path, line_of(m), "settings", "unknown setting \"%s\" (known: %s)", key, known.data);
		textbuf_free(&known);
		return false;
	}
	switch (settings_type((setting_id) id))
	{
		case SETTING_TYPE_STRING:
			if (config_setting_type(m) != CONFIG_TYPE_STRING)
			{
				problem(path, line_of(m), "settings", "field \"%s\" must be a string, not %s", key,
						type_name(m));
				return false;
			}
			text = xstrdup(config_setting_get_string(m));
			break;
		case SETTING_TYPE_INT:
			if (config_setting_type(m) != CONFIG_TYPE_INT && config_setting_type(m) != CONFIG_TYPE_INT64)
			{
				problem(path, line_of(m), "settings", "field \"%s\" must be an integer, not %s", key,
						type_name(m));
				return false;
			}
			text = xasprintf("%lld", (long long) config_setting_get_int64(m));
			break;
		case SETTING_TYPE_BOOL:
		default:
			if (config_setting_type(m) != CONFIG_TYPE_BOOL)
			{
				problem(path, line_of(m), "settings",
						"field \"%s\" must be a boolean (true or false), not %s", key, type_name(m));
				return false;
			}
			text = xstrdup(config_setting_get_bool(m) ? "true" : "false");
			break;
	}
	if (!settings_apply(scratch, (setting_id) id, text, ORIGIN_FILE, why, sizeof(why)))
	{
		problem(path, line_of(m), "settings", "field \"%s\": %s", key, why);
		free(text);
		return false;
	}
	ARRAY_GROW(cfg->settings, cfg->n_settings + 1, cfg->cap_settings);
	v = &cfg->settings[cfg->n_settings++];
	v->id = (setting_id) id;
	v->value = text;
	v->line = line_of(m);
	return true;
}

/* The settings group m: each member checked and kept in cfg. */
static bool
load_settings_group(const char *path, const config_setting_t *m, index_config *cfg)
{
	indexer_settings scratch;
	bool             ok = true;

	if (config_setting_type(m) != CONFIG_TYPE_GROUP)
	{
		problem(path, line_of(m), NULL, "\"settings\" must be a group: settings = { jobs = 2; ... };");
		return false;
	}
	settings_init(&scratch);
	for (int k = 0; k < config_setting_length(m); k++)
		ok = load_setting(path, config_setting_get_elem(m, (unsigned) k), cfg, &scratch) && ok;
	settings_free(&scratch);
	return ok;
}

/* The indexes list (NULL: missing) into cfg->defs. */
static bool
load_index_list(const char *path, const config_setting_t *list, index_config *cfg)
{
	int  n;
	bool ok = true;

	if (list == NULL)
	{
		problem(path, 0, NULL, "no \"indexes\" list: indexes = ( { name = ...; table = ...; sql = ...; } );");
		return false;
	}
	if (config_setting_type(list) != CONFIG_TYPE_LIST &&
		!(config_setting_type(list) == CONFIG_TYPE_ARRAY && config_setting_length(list) == 0))
	{
		problem(
			path, line_of(list), NULL,
			"\"indexes\" must be a list of groups in parentheses: indexes = ( { name = ...; }, { ... } ); not %s",
			type_name(list));
		return false;
	}
	n = config_setting_length(list);
	cfg->defs = xcalloc((size_t) (n > 0 ? n : 1), sizeof(index_def));
	for (int i = 0; i < n; i++)
	{
		const config_setting_t *g = config_setting_get_elem(list, (unsigned) i);

		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		{
			problem(path, line_of(g), NULL, "index #%d must be a group { name = ...; ... }, not %s", i + 1,
					type_name(g));
			ok = false;
			continue;
		}
		ok = load_index(path, g, i + 1, &cfg->defs[cfg->n_defs]) && ok;
		cfg->n_defs++;
	}
	return ok;
}

/* Parse path with libconfig into *lc; false after logging. */
static bool
read_config_file(const char *path, config_t *lc)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_config", NULL, "could not read config file \"%s\": %s", path,
				  strerror(errno));
		return false;
	}
	config_init(lc);
	if (config_read(lc, fp) != CONFIG_TRUE)
	{
		problem(path, config_error_line(lc), NULL, "%s",
				config_error_text(lc) ? config_error_text(lc) : "cannot parse the file");
		config_destroy(lc);
		fclose(fp);
		return false;
	}
	fclose(fp);
	return true;
}

int
config_load(const char *path, index_config *cfg)
{
	config_t                lc;
	const config_setting_t *root;
	const config_setting_t *list = NULL;
	bool                    ok = true;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = xstrdup(path);
	if (!read_config_file(path, &lc))
		return EXIT_USAGE;
	root = config_root_setting(&lc);
	for (int i = 0; i < config_setting_length(root); i++)
	{
		const config_setting_t *m = config_setting_get_elem(root, (unsigned) i);
		const char             *key = config_setting_name(m);

		if (strcmp(key, "indexes") == 0)
			list = m;
		else if (strcmp(key, "settings") == 0)
			ok = load_settings_group(path, m, cfg) && ok;
		else
		{
			problem(path, line_of(m), NULL,
					"unknown top-level setting \"%s\" (expected \"indexes\" and \"settings\")", key);
			ok = false;
		}
	}
	ok = load_index_list(path, list, cfg) && ok;
	config_destroy(&lc);
	return ok ? EXIT_OK : EXIT_USAGE;
}

void
config_apply_settings(const index_config *cfg, indexer_settings *s)
{
	for (int i = 0; i < cfg->n_settings; i++)
	{
		char why[256];

		/* checked by config_load() on a scratch copy: cannot fail here */
		(void) settings_apply(s, cfg->settings[i].id, cfg->settings[i].value, ORIGIN_FILE, why, sizeof(why));
	}
}

/* Definitions by schema, name and then place in the file. */
static int
compare_by_name(const void *a, const void *b, void *arg)
{
	const index_def *defs = arg;
	int              i = *(const int *) a;
	int              k = *(const int *) b;
	int              c = strcmp(defs[i].schema, defs[k].schema);

	if (c == 0)
		c = strcmp(defs[i].name, defs[k].name);
	return c != 0 ? c : (i > k) - (i < k);
}

/*
 * For each definition, the first one before it with its schema and name, or
 * -1 (caller frees): sorted once, not compared pairwise, so that 5,000
 * definitions cost no more than linear time and a sort (issue 13's growth).
 */
static int *
first_of_each_name(const index_config *cfg)
{
	int *first = xcalloc((size_t) cfg->n_defs + 1, sizeof(int));
	int *order = xcalloc((size_t) cfg->n_defs + 1, sizeof(int));
	int  n = 0;

	for (int i = 0; i < cfg->n_defs; i++)
	{
		first[i] = -1;
		if (cfg->defs[i].name != NULL)
			order[n++] = i;
	}
	qsort_r(order, (size_t) n, sizeof(int), compare_by_name, cfg->defs);
	for (int j = 1; j < n; j++)
	{
		const index_def *prev = &cfg->defs[order[j - 1]];
		const index_def *d = &cfg->defs[order[j]];

		if (strcmp(prev->schema, d->schema) == 0 && strcmp(prev->name, d->name) == 0)
			first[order[j]] = first[order[j - 1]] >= 0 ? first[order[j - 1]] : order[j - 1];
	}
	free(order);
	return first;
}

int
config_resolve(index_config *cfg, const char *default_schema)
{
	bool ok = true;
	int *first;

	for (int i = 0; i < cfg->n_defs; i++)
	{
		index_def *d = &cfg->defs[i];

		if (!d->schema_given)
		{
			free(d->schema);
			d->schema = xstrdup(default_schema);
		}
	}
	first = first_of_each_name(cfg);
	for (int i = 0; i < cfg->n_defs; i++)
	{
		index_def *d = &cfg->defs[i];
		char      *who;

		if (d->name == NULL || d->table == NULL)
			continue; /* reported by config_load() */
		who = xasprintf("index \"%s\"", d->name);
		if (first[i] >= 0)
		{
			problem(cfg->path, d->line, who,
					"duplicate name \"%s\" in schema \"%s\" (first defined at line %d)", d->name, d->schema,
					cfg->defs[first[i]].line);
			ok = false;
		}
		if (d->parsed != NULL)
		{
			char *why = NULL;

			if (!index_sql_check_definition(d->parsed, d->name, d->schema, d->table, &why))
			{
				problem(cfg->path, d->sql_line, who, "field \"sql\": %s", why);
				ok = false;
			}
			free(why);
		}
		free(who);
	}
	free(first);
	return ok ? EXIT_OK : EXIT_USAGE;
}

const index_def *
config_find(const index_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_defs; i++)
		if (cfg->defs[i].name && strcmp(cfg->defs[i].name, name) == 0)
			return &cfg->defs[i];
	return NULL;
}

void
config_free(index_config *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < cfg->n_defs; i++)
	{
		index_def *d = &cfg->defs[i];

		free(d->name);
		free(d->table);
		free(d->schema);
		free(d->sql);
		free(d->description);
		window_list_free(&d->window);
		index_sql_free(d->parsed);
	}
	free(cfg->defs);
	for (int i = 0; i < cfg->n_settings; i++)
		free(cfg->settings[i].value);
	free(cfg->settings);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}
