/*-------------------------------------------------------------------------
 *
 * migration_lint.c
 *	  Linting migration files and reporting the findings.
 *
 * migrator/migration_lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "migration_lint.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "index_ensure.h"
#include "lint_files.h"
#include "lint_rules.h"
#include "log.h"
#include "memory.h"

/* One finding or problem, printed as lint prints them: on stdout. */
typedef struct lint_item
{
	const char *path; /* NULL: not in a file */
	int         line; /* 0: unknown (then column too) */
	int         column;
	bool        error;
	const char *rule;
	const char *message;
} lint_item;

static void
print_github(const lint_item *it)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(&sb, it->error ? "::error " : "::warning ");
	if (it->path != NULL)
	{
		textbuf_append(&sb, "file=");
		lint_github_escape_property(&sb, it->path);
		if (it->line > 0)
			textbuf_appendf(&sb, ",line=%d", it->line);
		if (it->column > 0)
			textbuf_appendf(&sb, ",col=%d", it->column);
		textbuf_append_char(&sb, ',');
	}
	textbuf_append(&sb, "title=");
	{
		char *title = xasprintf("migrator lint: %s", it->rule);

		lint_github_escape_property(&sb, title);
		free(title);
	}
	textbuf_append(&sb, "::");
	lint_github_escape_data(&sb, it->message);
	textbuf_append_char(&sb, '\n');
	fputs(sb.data, stdout);
	textbuf_free(&sb);
}

static void
print_json(const lint_item *it)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(&sb, "{\"file\":");
	if (it->path != NULL)
		textbuf_append_json(&sb, it->path);
	else
		textbuf_append(&sb, "null");
	if (it->line > 0)
		textbuf_appendf(&sb, ",\"line\":%d,\"column\":%d", it->line, it->column);
	else
		textbuf_append(&sb, ",\"line\":null,\"column\":null");
	textbuf_appendf(&sb, ",\"severity\":\"%s\",\"rule\":", it->error ? "error" : "warning");
	textbuf_append_json(&sb, it->rule);
	textbuf_append(&sb, ",\"message\":");
	textbuf_append_json(&sb, it->message);
	textbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	textbuf_free(&sb);
}

/* One item on stdout, in the log format. */
static void
print_item(const lint_item *it)
{
	const char *severity = it->error ? "error" : "warning";

	switch (log_get_format())
	{
		case LOG_FORMAT_GITHUB:
			print_github(it);
			return;
		case LOG_FORMAT_JSON:
			print_json(it);
			return;
		case LOG_FORMAT_TEXT:
			break;
	}
	if (it->path != NULL && it->line > 0)
		printf("%s:%d:%d: %s %s: %s\n", it->path, it->line, it->column, severity, it->rule, it->message);
	else if (it->path != NULL)
		printf("%s: %s %s: %s\n", it->path, severity, it->rule, it->message);
	else
		printf("%s: %s %s: %s\n", log_progname(), severity, it->rule, it->message);
}

/* A finding of up or plan: an event of their log. */
static void
log_finding(const char *path, const lint_finding *f)
{
	const char *severity = f->severity == LINT_ERROR ? "error" : "warning";
	char        line[16], column[16];
	log_field   fields[] = {{"file", path},         {"line", line},    {"column", column},
							{"severity", severity}, {"rule", f->rule}, {NULL, NULL}};

	snprintf(line, sizeof(line), "%d", f->line);
	snprintf(column, sizeof(column), "%d", f->column);
	log_event(f->severity == LINT_ERROR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING, "lint",
			  log_get_format() == LOG_FORMAT_JSON ? fields : NULL, "%s:%d:%d: %s: %s", path, f->line,
			  f->column, f->rule, f->message);
}

static void
report(const char *path, const lint_finding *f, bool to_stdout)
{
	lint_item it = {path, f->line, f->column, f->severity == LINT_ERROR, f->rule, f->message};

	if (to_stdout)
		print_item(&it);
	else
		log_finding(path, f);
}

bool
migration_lint(const migration *m, const lint_file_options *base, bool to_stdout, lint_totals *totals)
{
	lint_file_options opts = *base;
	lint_result       result = {0};
	lint_result       verify = {0};
	bool              clean;

	opts.no_transaction = m->no_transaction;
	opts.allow_dml = m->allow_dml;
	lint_script(m->source, &m->script, &opts, &result);
	if (m->verify_path != NULL)
		lint_verify_script(m->verify_source, &m->verify_script, &opts, &verify);
	for (int i = 0; i < result.n; i++)
		report(m->path, &result.items[i], to_stdout);
	for (int i = 0; i < verify.n; i++)
		report(m->verify_path, &verify.items[i], to_stdout);
	totals->files++;
	totals->errors += result.n_errors + verify.n_errors;
	totals->warnings += result.n_warnings + verify.n_warnings;
	clean = result.n_errors + verify.n_errors == 0;
	lint_result_free(&result);
	lint_result_free(&verify);
	return clean;
}

/* Does s contain word, ignoring case? */
static bool
mentions(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; s != NULL && *s != '\0'; s++)
		if (strncasecmp(s, word, n) == 0)
			return true;
	return false;
}

/* See migration_lint.h. */
void
migration_lint_carry(const migration *m, const lint_file_options *base)
{
	lint_file_options opts = *base;
	sql_script        script = {0};
	sql_parse_error   err = {0};
	lint_result       ignored = {0};

	/* only constraints are carried: most files need no parse at all */
	if (base->carry == NULL || m->source == NULL ||
		!(mentions(m->source, "check") || mentions(m->source, "references") ||
		  mentions(m->source, "foreign") || mentions(m->source, "validate")))
		return;
	if (!sql_parse_script(m->source, &script, &err))
	{
		sql_parse_error_free(&err);
		return;
	}
	opts.no_transaction = m->no_transaction;
	opts.allow_dml = m->allow_dml;
	opts.strict = false;
	lint_script(m->source, &script, &opts, &ignored);
	lint_result_free(&ignored);
	sql_script_free(&script);
}

/* ---- migrator lint [FILE|DIR]... ---- */

/* One directory to read, and the files of it that were named (none: all). */
typedef struct lint_target
{
	char  *dir;
	char  *real;  /* realpath(dir), to merge two spellings of one directory */
	char **named; /* "<dir>/<file>", as the directory load spells them */
	int    n_named;
	int    cap_named;
	bool   all;
} lint_target;

typedef struct lint_targets
{
	lint_target *items;
	int          n;
	int          cap;
} lint_targets;

/* What the log sink of one directory's load knows. */
typedef struct lint_sink_state
{
	const lint_target *target;
	lint_totals       *totals;
	char             **problem_paths; /* files with a problem: not linted */
	int                n_problem_paths;
	int                cap_problem_paths;
	bool               last_shown; /* the last problem was printed (for its source line) */
} lint_sink_state;

/* The stem path of a migration or verify path: "<dir>/109_x" of ".../109_x[.verify].sql". */
static char *
stem_of(const char *path)
{
	size_t n = strlen(path);

	if (n > 11 && strcmp(path + n - 11, ".verify.sql") == 0)
		return xstrndup(path, n - 11);
	if (n > 4 && strcmp(path + n - 4, ".sql") == 0)
		return xstrndup(path, n - 4);
	return xstrdup(path);
}

/* Does msg name path as a whole word (not as the tail or head of another name)? */
static bool
names_path(const char *msg, const char *path)
{
	size_t n = strlen(path);

	for (const char *p = strstr(msg, path); p != NULL; p = strstr(p + 1, path))
	{
		bool start = p == msg || strchr(" \"'(", p[-1]) != NULL;
		bool end = p[n] == '\0' || strchr(":\"') ,;", p[n]) != NULL;

		if (start && end)
			return true;
	}
	return false;
}

/* Is path (a migration or verify file of t's directory) one the user named, or its pair? */
static bool
target_names(const lint_target *t, const char *path)
{
	char *stem;
	bool  hit = false;

	if (t->all)
		return true;
	if (path == NULL)
		return false;
	stem = stem_of(path);
	for (int i = 0; i < t->n_named && !hit; i++)
	{
		char *named = stem_of(t->named[i]);

		hit = strcmp(named, stem) == 0;
		free(named);
	}
	free(stem);
	return hit;
}

/* Does a problem message involve the files named (a file, or its pair, named in it)? */
static bool
involves(const lint_target *t, const char *msg)
{
	if (t->all)
		return true;
	for (int i = 0; i < t->n_named; i++)
	{
		char *stem = stem_of(t->named[i]);
		char *mig = xasprintf("%s.sql", stem);
		char *ver = xasprintf("%s.verify.sql", stem);
		bool  hit = names_path(msg, mig) || names_path(msg, ver);

		free(stem);
		free(mig);
		free(ver);
		if (hit)
			return true;
	}
	return false;
}

/*
 * Split "path:line:column: message", "path:line: message" or "path:
 * message" (path a *.sql file of dir) into it; anything else has no path.  Returns
 * the path (caller frees) or NULL, and points *rest at the message.
 */
static char *
split_location(const char *msg, const char *dir, int *line, int *column, const char **rest)
{
	size_t      n = strlen(dir);
	const char *colon = strstr(msg, ".sql:");
	char       *end;
	long        v;

	*line = *column = 0;
	*rest = msg;
	/* the load names a file "<dir>/<name>", and dir may hold spaces */
	if (colon == NULL || strncmp(msg, dir, n) != 0 || msg[n] != '/')
		return NULL;
	*rest = colon + 5;
	v = strtol(*rest, &end, 10);
	if (end != *rest && *end == ':' && v > 0)
	{
		*line = (int) v;
		*rest = end + 1;
		v = strtol(*rest, &end, 10);
		if (end != *rest && *end == ':' && v > 0)
		{
			*column = (int) v;
			*rest = end + 1;
		}
	}
	while (**rest == ' ')
		(*rest)++;
	return xstrndup(msg, (size_t) (colon + 4 - msg));
}

/* "syntax_error" -> "syntax-error": the event names the problem */
static char *
rule_of_event(const char *event)
{
	char *rule = xstrdup(event ? event : "invalid-file");

	for (char *p = rule; *p; p++)
		if (*p == '_')
			*p = '-';
	return rule;
}

/*
 * The log sink while a directory is read and its files parsed: each problem
 * that involves the files named becomes an item on stdout; the others are
 * not this run's business.  The source line under a syntax error is shown
 * below it in the text format.
 */
static void
lint_sink(log_level level, const char *event, const char *msg, void *arg)
{
	lint_sink_state *s = arg;
	int              line, column;
	const char      *rest;
	char            *path;
	char            *rule;

	if (level < LOG_LEVEL_WARNING)
		return;
	if (event != NULL && strcmp(event, "syntax_error_line") == 0)
	{
		path = split_location(msg, s->target->dir, &line, &column, &rest);
		if (s->last_shown && log_get_format() == LOG_FORMAT_TEXT)
			printf("    %s\n", rest);
		free(path);
		return;
	}
	s->last_shown = involves(s->target, msg);
	if (!s->last_shown)
		return;
	path = split_location(msg, s->target->dir, &line, &column, &rest);
	rule = rule_of_event(event);
	{
		lint_item it = {path ? path : s->target->dir, line, column, level == LOG_LEVEL_ERROR, rule, rest};

		print_item(&it);
	}
	if (level == LOG_LEVEL_ERROR)
		s->totals->errors++;
	else
		s->totals->warnings++;
	if (path != NULL)
	{
		ARRAY_GROW(s->problem_paths, s->n_problem_paths + 1, s->cap_problem_paths);
		s->problem_paths[s->n_problem_paths++] = path;
	}
	free(rule);
}

static bool
had_problem(const lint_sink_state *s, const char *path)
{
	for (int i = 0; i < s->n_problem_paths; i++)
		if (path != NULL && strcmp(s->problem_paths[i], path) == 0)
			return true;
	return false;
}

/* An error item about a path on the command line, counted. */
static void
path_error(const char *path, const char *rule, const char *message, lint_totals *totals)
{
	lint_item it = {path, 0, 0, true, rule, message};

	print_item(&it);
	totals->errors++;
}

/* The target of dir, added if new (two spellings of one directory are one). */
static lint_target *
target_for(lint_targets *ts, const char *dir)
{
	char        *real = realpath(dir, NULL);
	size_t       n = strlen(dir);
	lint_target *t;

	for (int i = 0; i < ts->n; i++)
		if (strcmp(ts->items[i].dir, dir) == 0 ||
			(real && ts->items[i].real && strcmp(ts->items[i].real, real) == 0))
		{
			free(real);
			return &ts->items[i];
		}
	ARRAY_GROW(ts->items, ts->n + 1, ts->cap);
	t = &ts->items[ts->n++];
	memset(t, 0, sizeof(*t));
	/* "migrations/" and "migrations" are one directory: name its files one way */
	while (n > 1 && dir[n - 1] == '/')
		n--;
	t->dir = xstrndup(dir, n);
	t->real = real;
	return t;
}

/* Does path name a *.sql entry (as opposed to "dir/" or "dir")? */
static bool
named_sql(const char *path)
{
	size_t n = strlen(path);

	return n >= 4 && strcmp(path + n - 4, ".sql") == 0;
}

/* A file named on the command line: its directory's target names it. */
static void
add_file(lint_targets *ts, const char *path, lint_totals *totals)
{
	const char  *slash = strrchr(path, '/');
	char        *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t) (slash - path)) : xstrdup(".");
	const char  *base = slash ? slash + 1 : path;
	size_t       n = strlen(base);
	lint_target *t;

	if (n < 5 || strcmp(base + n - 4, ".sql") != 0)
	{
		path_error(path, "not-a-migration",
				   "not a migration file: lint reads <version>_<name>.sql files and their .verify.sql files",
				   totals);
		free(dir);
		return;
	}
	t = target_for(ts, dir);
	ARRAY_GROW(t->named, t->n_named + 1, t->cap_named);
	t->named[t->n_named++] = xasprintf("%s/%s", t->dir, base);
	free(dir);
}

static void add_path(lint_targets *ts, const char *path, bool from_glob, lint_totals *totals);

/* A path that does not exist: a glob pattern, or not found. */
static void
add_missing(lint_targets *ts, const char *path, lint_totals *totals)
{
	glob_t g;

	/* a shell that found no match passes the pattern on, and CI quotes it */
	if (strpbrk(path, "*?[") != NULL && glob(path, GLOB_NOSORT, NULL, &g) == 0)
	{
		for (size_t i = 0; i < g.gl_pathc; i++)
			add_path(ts, g.gl_pathv[i], true, totals);
		globfree(&g);
		return;
	}
	if (strpbrk(path, "*?[") != NULL)
		path_error(path, "not-found", "not found: no file matches this pattern", totals);
	else
		path_error(path, "not-found", "not found: no such file or directory", totals);
}

static void
add_path(lint_targets *ts, const char *path, bool from_glob, lint_totals *totals)
{
	struct stat st;

	if (stat(path, &st) != 0)
	{
		if (errno == ENOENT && !from_glob)
			add_missing(ts, path, totals);
		else
			path_error(path, errno == ENOENT ? "not-found" : "unreadable-file", strerror(errno), totals);
		return;
	}
	/*
	 * A directory named *.sql is an entry of its directory that is not a
	 * migration file: reported as the load reports it, never linted as a
	 * directory of migrations (its name says it is one file).
	 */
	if (S_ISDIR(st.st_mode) && !named_sql(path))
		target_for(ts, path)->all = true;
	else
		add_file(ts, path, totals);
}

/* The line and column of "-- migrator:requires-index NAME" in m, for its finding. */
static void
directive_position(const migration *m, const char *name, int *line, int *column)
{
	const char *p = m->source;
	size_t      n = strlen(name);

	*line = 1;
	*column = 1;
	for (int l = 1; *p; l++)
	{
		size_t      len = strcspn(p, "\r\n");
		const char *hit = strstr(p, "migrator:requires-index");

		if (hit != NULL && hit < p + len)
		{
			const char *q = hit + strlen("migrator:requires-index");

			while (*q == ' ' || *q == '\t')
				q++;
			if (strncmp(q, name, n) == 0 && (q + n == p + len || isspace((unsigned char) q[n])))
			{
				*line = l;
				*column = (int) (q - p) + 1;
				return;
			}
		}
		p += len;
		if (*p == '\r' && p[1] == '\n')
			p++;
		if (*p)
			p++;
	}
}

/* requires-index names against the index definitions: what plan would refuse. */
static void
check_required(const migration *m, const index_definitions *defs, const char *config, lint_totals *totals)
{
	for (int j = 0; defs != NULL && j < m->n_required_indexes; j++)
	{
		const char  *name = m->required_indexes[j];
		int          def_line = 0;
		index_lookup found = index_definitions_lookup(defs, name, &def_line);
		lint_item    it = {m->path, 0, 0, true, lint_rules[LINT_R_REQUIRES_INDEX].name, NULL};
		char        *msg = NULL;

		if (found == INDEX_LOOKUP_UNDEFINED)
			msg = xasprintf("requires-index \"%s\": no definition of that name in \"%s\"; add it there (the "
							"indexer builds it), or fix the name",
							name, config);
		else if (found == INDEX_LOOKUP_ABSENT)
			msg = xasprintf("requires-index \"%s\": its definition in %s:%d has state \"absent\"", name,
							config, def_line);
		if (msg == NULL)
			continue;
		directive_position(m, name, &it.line, &it.column);
		it.message = msg;
		print_item(&it);
		totals->errors++;
		free(msg);
	}
}

/* Lint one named migration of a directory: parse, rules, requires-index. */
static void
lint_named(migration *m, const lint_file_options *base, const index_definitions *defs, const char *config,
		   lint_totals *totals)
{
	totals->files++;
	if (migration_parse(m) != EXIT_OK)
		return;
	totals->files--; /* migration_lint counts it */
	migration_lint(m, base, true, totals);
	check_required(m, defs, config, totals);
	/* one file's parse tree at a time: memory stays flat over a big directory */
	sql_script_free(&m->script);
	sql_script_free(&m->verify_script);
	m->parsed = false;
	m->verify_parsed = false;
}

/* One directory's walk: what each file gets (lint_target_run). */
typedef struct target_walk
{
	const lint_target       *target;
	lint_sink_state         *sink;
	const lint_file_options *opts;
	const index_definitions *defs;
	const char              *config;
	lint_totals             *totals;
} target_walk;

static void
lint_one_of_target(int i, void *arg)
{
	const lint_walk   *walk = arg;
	const target_walk *tw = walk->arg;
	migration         *m = &walk->files[i];

	if (!target_names(tw->target, m->path) && !target_names(tw->target, m->verify_path))
		migration_lint_carry(m, tw->opts);
	else if (m->source == NULL || had_problem(tw->sink, m->path) || had_problem(tw->sink, m->verify_path))
		tw->totals->files++;
	else
		lint_named(m, tw->opts, tw->defs, tw->config, tw->totals);
}

/*
 * Read t's directory, lint the files named, report what involves them.
 * The files named are parsed ahead on the parser pool's threads
 * (lint_files.h); the rest only carry what later files need.
 */
static void
lint_target_run(const lint_target *t, const lint_file_options *base, const index_definitions *defs,
				const char *config, lint_totals *totals)
{
	lint_sink_state   s = {.target = t, .totals = totals};
	lint_file_options opts = *base;
	migration_set     set;
	target_walk       tw = {t, &s, &opts, defs, config, totals};
	lint_walk         walk = {0};
	bool             *ahead;

	opts.carry = lint_carry_new();
	log_set_sink(lint_sink, &s);
	(void) migration_set_load_all(t->dir, &set);
	/* fixed before the walk: the parsing threads read it while the sink grows */
	ahead = xcalloc(set.n > 0 ? set.n : 1, sizeof(bool));
	for (int i = 0; i < set.n; i++)
		ahead[i] = set.items[i].source != NULL && !had_problem(&s, set.items[i].path) &&
				   !had_problem(&s, set.items[i].verify_path) &&
				   (target_names(t, set.items[i].path) || target_names(t, set.items[i].verify_path));
	walk.files = set.items;
	walk.n = set.n;
	walk.parse_ahead = ahead;
	walk.each = lint_one_of_target;
	walk.arg = &tw;
	lint_files_each(&walk);
	free(ahead);
	log_set_sink(NULL, NULL);
	migration_set_free(&set);
	lint_carry_free(opts.carry);
	for (int i = 0; i < s.n_problem_paths; i++)
		free(s.problem_paths[i]);
	free(s.problem_paths);
}

/* The index definitions for requires-index; EXIT_USAGE when given and unusable. */
static int
load_definitions(const lint_request *req, const char *schema, index_definitions **defs, lint_totals *totals)
{
	struct stat st;

	*defs = NULL;
	if (req->index_config == NULL)
		return EXIT_OK;
	if (stat(req->index_config, &st) != 0 && errno == ENOENT)
	{
		if (!req->index_config_required)
			return EXIT_OK; /* the default file: requires-index is checked where it exists */
		path_error(req->index_config, "not-found",
				   "not found: the index definitions file (--index-config, $INDEXER_CONFIG)", totals);
		return EXIT_USAGE;
	}
	if (index_definitions_load(req->index_config, schema, defs) != EXIT_OK)
	{
		path_error(req->index_config, "invalid-index-config",
				   "the index definitions are not valid (see above); requires-index cannot be checked",
				   totals);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static void
free_targets(lint_targets *ts)
{
	for (int i = 0; i < ts->n; i++)
	{
		for (int j = 0; j < ts->items[i].n_named; j++)
			free(ts->items[i].named[j]);
		free(ts->items[i].named);
		free(ts->items[i].dir);
		free(ts->items[i].real);
	}
	free(ts->items);
}

/* See migration_lint.h. */
int
migration_lint_paths(const lint_request *req, const lint_file_options *base, lint_totals *totals)
{
	lint_targets       ts = {0};
	index_definitions *defs = NULL;
	int                errors_before = totals->errors;

	if (req->n_paths == 0)
		target_for(&ts, req->dir)->all = true;
	for (int i = 0; i < req->n_paths; i++)
		add_path(&ts, req->paths[i], false, totals);
	if (load_definitions(req, base->schema ? base->schema : "public", &defs, totals) == EXIT_OK)
		for (int i = 0; i < ts.n; i++)
			lint_target_run(&ts.items[i], base, defs, req->index_config, totals);
	index_definitions_free(defs);
	free_targets(&ts);
	return totals->errors > errors_before ? EXIT_USAGE : EXIT_OK;
}
