/*-------------------------------------------------------------------------
 *
 * cli.c
 *	  The command line of both programs: one parser, driven by a table of
 *	  commands and a table of options that each program declares.
 *
 * common/cli.c
 *
 *-------------------------------------------------------------------------
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "exitcodes.h"
#include "memory.h"
#include "metrics.h"
#include "options.h"
#include "toolkit_version.h"

/* The common options without a value, after cli_common_id's. */
enum
{
	COMMON_QUIET = CLI_N_COMMON,
	COMMON_VERBOSE,
	COMMON_VERSION,
	COMMON_HELP,
	COMMON_LIST_OPTIONS,
	COMMON_COLOR
};

/* getopt values of the rows without a short name: common ones, then the program's */
#define VAL_COMMON  256
#define VAL_PROGRAM 512

/* Offsets into cli_common: the common options read like a program's. */
static const cli_option common_options[] = {
	{"dsn", 0, CLI_CUSTOM, 0, 0, 0, CLI_DSN, NULL, NULL},
	{"schema", 0, CLI_NAME, offsetof(cli_common, schema), 0, 0, CLI_SCHEMA, NULL, NULL},
	{"wait", 0, CLI_DURATION, offsetof(cli_common, wait_ms), 0, 0, CLI_WAIT, NULL, NULL},
	{"log-format", 0, CLI_CUSTOM, 0, 0, 0, CLI_LOG_FORMAT, NULL, NULL},
	{"lock-timeout", 0, CLI_DURATION, offsetof(cli_common, lock_timeout_ms), 0, 0, CLI_LOCK_TIMEOUT, NULL,
	 NULL},
	{"statement-timeout", 0, CLI_DURATION, offsetof(cli_common, statement_timeout_ms), 0, 0,
	 CLI_STATEMENT_TIMEOUT, NULL, NULL},
	/* the same bound as the indexer's settings table */
	{"retries", 0, CLI_INT, offsetof(cli_common, retries), 0, 100, CLI_RETRIES, NULL, NULL},
	{"lock-wait", 0, CLI_DURATION, offsetof(cli_common, lock_wait_ms), 0, 0, CLI_LOCK_WAIT, NULL, NULL},
	{"metrics-file", 0, CLI_STRING, offsetof(cli_common, metrics_file), 0, 0, CLI_METRICS_FILE, NULL, NULL},
	{"metrics-push", 0, CLI_CUSTOM, 0, 0, 0, CLI_METRICS_PUSH, NULL, NULL},
	{"quiet", 'q', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_QUIET, NULL, NULL},
	{"verbose", 'v', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_VERBOSE, NULL, NULL},
	{"version", 'V', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_VERSION, NULL, NULL},
	{"help", 'h', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_HELP, NULL, NULL},
	/* hidden: not in --help, and not listed by itself (see list_options) */
	{"list-options", 0, CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_LIST_OPTIONS, NULL, NULL},
	{"color", 0, CLI_CUSTOM, 0, 0, 0, COMMON_COLOR, NULL, NULL},
};

#define N_COMMON_OPTIONS ((int) (sizeof(common_options) / sizeof(common_options[0])))

/* One parse: the tables getopt_long reads, and what was given. */
typedef struct parser
{
	const cli_program *prog;
	void              *opts;
	cli_common        *common;
	struct option     *longopts;
	char              *shortopts;
	uint64_t           given; /* CLI_BIT()s of the program options given */
	int                argc;
	char             **argv;
	bool               version_overridden; /* a program row is --version (baseline) */
} parser;

const char *
cli_version(void)
{
	return TOOLKIT_VERSION;
}

const cli_command *
cli_find_command(const cli_program *prog, const char *name)
{
	for (int i = 0; i < prog->n_commands; i++)
		if (strcmp(prog->commands[i].name, name) == 0)
			return &prog->commands[i];
	return NULL;
}

void
cli_print_commands(const cli_program *prog, FILE *out)
{
	for (int i = 0; i < prog->n_commands; i++)
		fprintf(out, "  %-8s  %s\n", prog->commands[i].name, prog->commands[i].help);
}

static bool
takes_value(const cli_option *o)
{
	return o->kind != CLI_FLAG && o->kind != CLI_CUSTOM_FLAG;
}

static bool
word_present(int argc, char **argv, const char *word)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], word) == 0)
			return true;
	return false;
}

/* Does a program row replace the common option o on this command line? */
static bool
overridden(const parser *p, int argc, char **argv, const cli_option *o)
{
	for (int j = 0; j < p->prog->n_options; j++)
	{
		const cli_option *r = &p->prog->options[j];

		if (r->only_with && strcmp(r->name, o->name) == 0 && word_present(argc, argv, r->only_with))
			return true;
	}
	return false;
}

/* A row into getopt_long's tables; with_long false: its short name only. */
static void
add_row(parser *p, int *n, const cli_option *o, int val, bool with_long)
{
	if (with_long)
	{
		p->longopts[*n].name = o->name;
		p->longopts[*n].has_arg = takes_value(o) ? required_argument : no_argument;
		p->longopts[*n].flag = NULL;
		p->longopts[*n].val = o->short_name ? o->short_name : val;
		(*n)++;
	}
	if (o->short_name)
	{
		size_t len = strlen(p->shortopts);

		p->shortopts[len++] = (char) o->short_name;
		if (takes_value(o))
			p->shortopts[len++] = ':';
		p->shortopts[len] = '\0';
	}
}

/* getopt_long's tables: the common rows, then the program's that apply. */
static void
build_tables(parser *p, int argc, char **argv)
{
	int n = 0;
	int rows = N_COMMON_OPTIONS + p->prog->n_options;

	p->longopts = xcalloc((size_t) rows + 1, sizeof(struct option));
	p->shortopts = xcalloc((size_t) rows * 2 + 1, 1);
	for (int i = 0; i < N_COMMON_OPTIONS; i++)
	{
		bool over = overridden(p, argc, argv, &common_options[i]);

		if (over && common_options[i].id == COMMON_VERSION)
			p->version_overridden = true;
		add_row(p, &n, &common_options[i], VAL_COMMON + i, !over);
	}
	for (int j = 0; j < p->prog->n_options; j++)
	{
		const cli_option *o = &p->prog->options[j];

		if (o->only_with == NULL || word_present(argc, argv, o->only_with))
			add_row(p, &n, o, VAL_PROGRAM + j, true);
	}
}

/* The row getopt_long returned c for; *common says which table. */
static const cli_option *
row_for(const parser *p, int c, bool *common)
{
	*common = c < VAL_PROGRAM;
	if (c >= VAL_PROGRAM)
		return &p->prog->options[c - VAL_PROGRAM];
	if (c >= VAL_COMMON)
		return &common_options[c - VAL_COMMON];
	for (int i = 0; i < N_COMMON_OPTIONS; i++)
		if (common_options[i].short_name == c)
			return &common_options[i];
	*common = false;
	for (int j = 0; j < p->prog->n_options; j++)
		if (p->prog->options[j].short_name == c)
			return &p->prog->options[j];
	return NULL;
}

/* A value of the generic kinds into base + o->offset; false after logging. */
static bool
read_value(const cli_option *o, const char *value, void *base)
{
	void *dest = (char *) base + o->offset;
	char  why[256];

	switch (o->kind)
	{
		case CLI_FLAG:
			*(bool *) dest = true;
			return true;
		case CLI_NAME:
			if (value[0] == '\0')
			{
				log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --%s: empty name", o->name);
				return false;
			}
			*(const char **) dest = value;
			return true;
		case CLI_STRING:
			*(const char **) dest = value;
			return true;
		case CLI_DURATION:
			if (parse_duration(value, (int64_t *) dest, why, sizeof(why)))
				return true;
			break;
		case CLI_INT:
			if (parse_int_range(value, o->min, o->max, (int64_t *) dest, why, sizeof(why)))
				return true;
			break;
		case CLI_CUSTOM:
		case CLI_CUSTOM_FLAG:
			snprintf(why, sizeof(why), "no reader");
			break;
	}
	log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --%s: %s", o->name, why);
	return false;
}

/* The common options whose value is one of a fixed set (log.h's parsers). */
static const cli_value_set common_value_sets[] = {
	{"log-format", "text|json|github"},
	{"color", "auto|always|never"},
	{NULL, NULL},
};

/* The fixed values of o ("a|b|c"), or NULL. */
static const char *
value_set_of(const cli_program *prog, const cli_option *o, bool common)
{
	const cli_value_set *sets = common ? common_value_sets : prog->value_sets;

	for (int i = 0; sets != NULL && sets[i].option != NULL; i++)
		if (strcmp(sets[i].option, o->name) == 0)
			return sets[i].values;
	return NULL;
}

/*
 * How a listed option's value is completed: nothing ("flag"), a file name
 * ("path"), one of a fixed set ("value=a|b|c"), or a word ("value").
 */
static void
print_kind(FILE *out, const cli_program *prog, const cli_option *o, bool common)
{
	const char *set = value_set_of(prog, o, common);

	if (!takes_value(o))
		fputs("flag\n", out);
	else if (o->kind == CLI_STRING)
		fputs("path\n", out);
	else if (set != NULL)
		fprintf(out, "value=%s\n", set);
	else
		fputs("value\n", out);
}

static void
list_option(FILE *out, const cli_program *prog, const cli_command *cmd, const cli_option *o, bool with_long,
			bool common)
{
	if (with_long)
	{
		fprintf(out, "option\t%s\t--%s\t", cmd->name, o->name);
		print_kind(out, prog, o, common);
	}
	if (o->short_name)
	{
		fprintf(out, "option\t%s\t-%c\t", cmd->name, o->short_name);
		print_kind(out, prog, o, common);
	}
}

/* Does a program row replace the common option o after this command's name? */
static bool
replaced_for(const cli_program *prog, const cli_command *cmd, const cli_option *o)
{
	for (int j = 0; j < prog->n_options; j++)
	{
		const cli_option *r = &prog->options[j];

		if (r->only_with && strcmp(r->only_with, cmd->name) == 0 && strcmp(r->name, o->name) == 0)
			return true;
	}
	return false;
}

/*
 * --list-options: the command line as data, so that the bash completion
 * (scripts/package/completion.sh) is generated from these tables and cannot
 * drift from them.  Tab-separated lines: "command NAME arg|files|-" (files:
 * any number of file or directory arguments), then "option COMMAND WORD
 * flag|path|value[=A|B|C]" for every option that applies to COMMAND: the
 * common ones and the program's rows whose bit the command has.
 */
static void
list_options(const cli_program *prog, FILE *out)
{
	for (int c = 0; c < prog->n_commands; c++)
		fprintf(out, "command\t%s\t%s\n", prog->commands[c].name,
				(prog->commands[c].flags & CLI_CMD_ARG)    ? "arg"
				: (prog->commands[c].flags & CLI_CMD_ARGS) ? "files"
														   : "-");
	for (int c = 0; c < prog->n_commands; c++)
	{
		const cli_command *cmd = &prog->commands[c];

		for (int i = 0; i < N_COMMON_OPTIONS; i++)
			if (common_options[i].id != COMMON_LIST_OPTIONS)
				list_option(out, prog, cmd, &common_options[i], !replaced_for(prog, cmd, &common_options[i]),
							true);
		for (int j = 0; j < prog->n_options; j++)
		{
			const cli_option *o = &prog->options[j];

			if ((cmd->options & CLI_BIT(o->id)) &&
				(o->only_with == NULL || strcmp(o->only_with, cmd->name) == 0))
				list_option(out, prog, cmd, o, true, false);
		}
	}
}

/*
 * The word after --version when it reads as a value: "up --version 5" means
 * a version to migrate to, not "print ours and exit 0".  A command name or
 * an option after it is not a value.
 */
static const char *
version_value(const parser *p)
{
	const char *next = optind < p->argc ? p->argv[optind] : NULL;

	if (next == NULL || next[0] == '-' || cli_find_command(p->prog, next) != NULL)
		return NULL;
	return next;
}

/* Does the program have an option of that long name? */
static bool
has_option(const cli_program *prog, const char *name)
{
	for (int j = 0; j < prog->n_options; j++)
		if (strcmp(prog->options[j].name, name) == 0)
			return true;
	return false;
}

static int
refuse_version_value(const parser *p, const char *value)
{
	if (has_option(p->prog, "target"))
		log_event(
			LOG_LEVEL_ERROR, "invalid_option", NULL,
			"option --version takes no value: it prints the program's version; to stop at version %s, use "
			"--target %s%s",
			value, value, has_option(p->prog, "baseline-version") ? " (baseline: --baseline-version)" : "");
	else
		log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
				  "option --version takes no value: it prints the program's version (\"%s\" is left over)",
				  value);
	return EXIT_USAGE;
}

/* A common option: EXIT_OK, EXIT_USAGE after logging, or CLI_DONE. */
static int
take_common(parser *p, const cli_option *o, const char *value)
{
	cli_common *c = p->common;

	switch (o->id)
	{
		case COMMON_QUIET:
		case COMMON_VERBOSE:
			c->verbosity = o->id == COMMON_QUIET ? -1 : 1;
			return EXIT_OK;
		case COMMON_VERSION:
			if (version_value(p) != NULL)
				return refuse_version_value(p, version_value(p));
			printf("%s %s\n", p->prog->progname, cli_version());
			return CLI_DONE;
		case COMMON_HELP:
			p->prog->usage(stdout);
			return CLI_DONE;
		case COMMON_LIST_OPTIONS:
			list_options(p->prog, stdout);
			return CLI_DONE;
		case COMMON_COLOR:
		{
			log_color mode;

			if (!log_parse_color(value, &mode))
			{
				log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
						  "option --color: invalid value \"%s\" (use auto, always or never)", value);
				return EXIT_USAGE;
			}
			log_set_color(mode);
			return EXIT_OK;
		}
		case CLI_DSN:
			/* the password in argv is masked: keep the copy */
			c->dsn = conn_take_dsn_arg((char *) value);
			value = c->dsn;
			break;
		case CLI_METRICS_PUSH:
		{
			char why[512];

			/* a typo is caught now, not after the run when the push fails; never shown with its password */
			if (value[0] != '\0' && !metrics_push_url_check(value, why, sizeof(why)))
			{
				log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --metrics-push: %s", why);
				return EXIT_USAGE;
			}
			/* the password in argv is masked: keep the copy */
			c->metrics_push = metrics_take_url_arg((char *) value);
			value = c->metrics_push;
			break;
		}
		case CLI_LOG_FORMAT:
			if (!log_parse_format(value, &c->format))
			{
				log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
						  "option --log-format: invalid value \"%s\" (use text, json or github)", value);
				return EXIT_USAGE;
			}
			break;
		default:
			if (!read_value(o, value, c))
				return EXIT_USAGE;
			break;
	}
	c->given[o->id] = value;
	if (p->prog->on_common && !p->prog->on_common(p->opts, (cli_common_id) o->id, value))
		return EXIT_USAGE;
	return EXIT_OK;
}

static int
take_program(parser *p, const cli_option *o, const char *value)
{
	bool ok;

	if (o->kind == CLI_CUSTOM || o->kind == CLI_CUSTOM_FLAG)
		ok = p->prog->custom(p->opts, o, value);
	else
		ok = read_value(o, value, p->opts);
	p->given |= CLI_BIT(o->id);
	return ok ? EXIT_OK : EXIT_USAGE;
}

/*
 * git's weighted Damerau-Levenshtein distance (help.c, levenshtein.c): a
 * swap of two neighbours costs w, a substitution s, an insertion a, a
 * deletion d, so that "stauts" is next to "status" and "foo" next to
 * nothing.
 */
static int
distance(const char *typed, const char *name, int w, int s, int a, int d)
{
	size_t len1 = strlen(typed), len2 = strlen(name);
	int   *row0 = xcalloc(len2 + 1, sizeof(int));
	int   *row1 = xcalloc(len2 + 1, sizeof(int));
	int   *row2 = xcalloc(len2 + 1, sizeof(int));
	int    result;

	for (size_t j = 0; j <= len2; j++)
		row1[j] = (int) j * a;
	for (size_t i = 0; i < len1; i++)
	{
		int *spare;

		row2[0] = (int) (i + 1) * d;
		for (size_t j = 0; j < len2; j++)
		{
			row2[j + 1] = row1[j] + s * (typed[i] != name[j]);
			if (i > 0 && j > 0 && typed[i - 1] == name[j] && typed[i] == name[j - 1] &&
				row2[j + 1] > row0[j - 1] + w)
				row2[j + 1] = row0[j - 1] + w;
			if (row2[j + 1] > row1[j + 1] + d)
				row2[j + 1] = row1[j + 1] + d;
			if (row2[j + 1] > row2[j] + a)
				row2[j + 1] = row2[j] + a;
		}
		spare = row0;
		row0 = row1;
		row1 = row2;
		row2 = spare;
	}
	result = row1[len2];
	free(row0);
	free(row1);
	free(row2);
	return result;
}

/* git's SIMILARITY_FLOOR: a candidate this far away or farther is no suggestion. */
#define SIMILARITY_FLOOR 7

int
cli_similarity(const char *typed, const char *name)
{
	return distance(typed, name, 0, 2, 1, 3) + 1;
}

/*
 * Appends ': did you mean "X"?' (or "X" or "Y") to sb for the names
 * nearest to typed, when any is near enough; prefix is "--" for options.
 */
static void
append_suggestion(textbuf *sb, const char *typed, const char *const *names, int n, const char *prefix)
{
	int best = SIMILARITY_FLOOR;
	int shown = 0;

	for (int i = 0; i < n; i++)
		if (cli_similarity(typed, names[i]) < best)
			best = cli_similarity(typed, names[i]);
	if (best >= SIMILARITY_FLOOR)
		return;
	for (int i = 0; i < n; i++)
	{
		bool dup = false;

		if (cli_similarity(typed, names[i]) != best)
			continue;
		for (int k = 0; k < i; k++)
			dup = dup || strcmp(names[k], names[i]) == 0;
		if (dup)
			continue;
		textbuf_appendf(sb, "%s\"%s%s\"", shown == 0 ? ": did you mean " : " or ", prefix, names[i]);
		shown++;
	}
	textbuf_append(sb, "?");
}

/* The long names getopt_long was given: the ones this command line may use. */
static void
suggest_option(const parser *p, textbuf *sb, const char *typed)
{
	const char **names;
	int          n = 0;

	while (p->longopts[n].name)
		n++;
	names = xcalloc((size_t) n + 1, sizeof(char *));
	for (int i = 0; i < n; i++)
		names[i] = p->longopts[i].name;
	append_suggestion(sb, typed, names, n, "--");
	free(names);
}

static void
report_invalid_option(const parser *p, char **argv)
{
	const char *arg = argv[optind - 1];
	textbuf     sb;

	if (strncmp(arg, "--version=", 10) == 0 && !p->version_overridden)
	{
		(void) refuse_version_value(p, arg + 10);
		return;
	}
	textbuf_init(&sb);
	if (optopt && optopt < VAL_COMMON && strncmp(arg, "--", 2) != 0)
		textbuf_appendf(&sb, "invalid option -%c", optopt);
	else if (optopt)
		textbuf_appendf(&sb, "invalid option \"%s\"", arg);
	else
	{
		size_t len = strcspn(arg + 2, "=");
		char  *typed = xstrndup(arg + 2, len);

		textbuf_appendf(&sb, "unknown option \"--%s\"", typed);
		suggest_option(p, &sb, typed);
		free(typed);
	}
	log_error("%s (try \"%s --help\")", sb.data, p->prog->progname);
	textbuf_free(&sb);
}

static void
report_unknown_command(const parser *p, const char *typed)
{
	const char **names = xcalloc((size_t) p->prog->n_commands + 1, sizeof(char *));
	textbuf      sb;

	for (int i = 0; i < p->prog->n_commands; i++)
		names[i] = p->prog->commands[i].name;
	textbuf_init(&sb);
	textbuf_appendf(&sb, "unknown command \"%s\"", typed);
	append_suggestion(&sb, typed, names, p->prog->n_commands, "");
	log_error("%s (try \"%s --help\")", sb.data, p->prog->progname);
	textbuf_free(&sb);
	free(names);
}

/* The command word and its argument; nothing may follow them. */
static int
take_command(parser *p, int argc, char **argv)
{
	cli_common *c = p->common;
	const char *progname = p->prog->progname;

	c->command = &p->prog->commands[0];
	if (optind < argc)
	{
		c->command = cli_find_command(p->prog, argv[optind]);
		if (c->command == NULL)
		{
			report_unknown_command(p, argv[optind]);
			return EXIT_USAGE;
		}
		optind++;
	}
	if (c->command->flags & CLI_CMD_ARG)
	{
		if (optind >= argc)
		{
			log_error("%s needs an argument (try \"%s --help\")", c->command->name, progname);
			return EXIT_USAGE;
		}
		c->arg = argv[optind++];
	}
	if (c->command->flags & CLI_CMD_ARGS)
	{
		c->args = (const char *const *) &argv[optind];
		c->n_args = argc - optind;
		optind = argc;
	}
	if (optind < argc)
	{
		log_error("unexpected argument \"%s\" (try \"%s --help\")", argv[optind], progname);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/*
 * An option that belongs to other commands is refused where its row says
 * so: silently ignoring it would make the operator believe it acted.
 */
static int
check_refusals(const parser *p)
{
	const cli_command *cmd = p->common->command;

	for (int j = 0; j < p->prog->n_options; j++)
	{
		const cli_option *o = &p->prog->options[j];
		const char       *at;

		if (o->refusal == NULL || !(p->given & CLI_BIT(o->id)) || (cmd->options & CLI_BIT(o->id)))
			continue;
		at = strstr(o->refusal, "%s");
		if (at)
			log_error("%.*s%s%s", (int) (at - o->refusal), o->refusal, cmd->name, at + 2);
		else
			log_error("%s", o->refusal);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int
cli_parse(const cli_program *prog, int argc, char **argv, void *opts, cli_common *common)
{
	parser p = {prog, opts, common, NULL, NULL, 0, argc, argv, false};
	int    rc = EXIT_OK;
	int    c;

	/* the log format and colour decide how option errors look: find them first */
	log_init(prog->progname, log_format_from_argv(argc, argv, common->format), 0);
	log_set_color(log_color_from_argv(argc, argv));
	build_tables(&p, argc, argv);
	opterr = 0;
	optind = 0; /* glibc: start afresh, also when a test parses many command lines */
	while (rc == EXIT_OK && (c = getopt_long(argc, argv, p.shortopts, p.longopts, NULL)) != -1)
	{
		bool              is_common;
		const cli_option *o = c == '?' ? NULL : row_for(&p, c, &is_common);

		if (o == NULL)
		{
			report_invalid_option(&p, argv);
			rc = EXIT_USAGE;
		}
		else if (is_common)
			rc = take_common(&p, o, optarg);
		else
			rc = take_program(&p, o, optarg);
	}
	free(p.longopts);
	free(p.shortopts);
	if (rc == EXIT_OK)
		rc = take_command(&p, argc, argv);
	if (rc == EXIT_OK)
		rc = check_refusals(&p);
	return rc;
}
