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
#include "options.h"
#include "toolkit_version.h"

/* The common options without a value, after cli_common_id's. */
enum
{
	COMMON_QUIET = CLI_N_COMMON,
	COMMON_VERBOSE,
	COMMON_VERSION,
	COMMON_HELP,
	COMMON_LIST_OPTIONS
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
	{"quiet", 'q', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_QUIET, NULL, NULL},
	{"verbose", 'v', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_VERBOSE, NULL, NULL},
	{"version", 'V', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_VERSION, NULL, NULL},
	{"help", 'h', CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_HELP, NULL, NULL},
	/* hidden: not in --help, and not listed by itself (see list_options) */
	{"list-options", 0, CLI_CUSTOM_FLAG, 0, 0, 0, COMMON_LIST_OPTIONS, NULL, NULL},
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
		add_row(p, &n, &common_options[i], VAL_COMMON + i, !overridden(p, argc, argv, &common_options[i]));
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

/* How a listed option's value is completed: nothing, a file name, or a word. */
static const char *
kind_word(const cli_option *o)
{
	if (!takes_value(o))
		return "flag";
	return o->kind == CLI_STRING ? "path" : "value";
}

static void
list_option(FILE *out, const cli_command *cmd, const cli_option *o, bool with_long)
{
	if (with_long)
		fprintf(out, "option\t%s\t--%s\t%s\n", cmd->name, o->name, kind_word(o));
	if (o->short_name)
		fprintf(out, "option\t%s\t-%c\t%s\n", cmd->name, o->short_name, kind_word(o));
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
 * drift from them.  Tab-separated lines: "command NAME arg|-", then
 * "option COMMAND WORD flag|path|value" for every option that applies to
 * COMMAND: the common ones and the program's rows whose bit the command has.
 */
static void
list_options(const cli_program *prog, FILE *out)
{
	for (int c = 0; c < prog->n_commands; c++)
		fprintf(out, "command\t%s\t%s\n", prog->commands[c].name,
				(prog->commands[c].flags & CLI_CMD_ARG) ? "arg" : "-");
	for (int c = 0; c < prog->n_commands; c++)
	{
		const cli_command *cmd = &prog->commands[c];

		for (int i = 0; i < N_COMMON_OPTIONS; i++)
			if (common_options[i].id != COMMON_LIST_OPTIONS)
				list_option(out, cmd, &common_options[i], !replaced_for(prog, cmd, &common_options[i]));
		for (int j = 0; j < prog->n_options; j++)
		{
			const cli_option *o = &prog->options[j];

			if ((cmd->options & CLI_BIT(o->id)) &&
				(o->only_with == NULL || strcmp(o->only_with, cmd->name) == 0))
				list_option(out, cmd, o, true);
		}
	}
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
			printf("%s %s\n", p->prog->progname, cli_version());
			return CLI_DONE;
		case COMMON_HELP:
			p->prog->usage(stdout);
			return CLI_DONE;
		case COMMON_LIST_OPTIONS:
			list_options(p->prog, stdout);
			return CLI_DONE;
		case CLI_DSN:
			/* the password in argv is masked: keep the copy */
			c->dsn = conn_take_dsn_arg((char *) value);
			value = c->dsn;
			break;
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

static void
report_invalid_option(const parser *p, char **argv)
{
	if (optopt && optopt < VAL_COMMON)
		log_error("invalid option -%c (try \"%s --help\")", optopt, p->prog->progname);
	else
		log_error("invalid option \"%s\" (try \"%s --help\")", argv[optind - 1], p->prog->progname);
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
			log_error("unknown command \"%s\" (try \"%s --help\")", argv[optind], progname);
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
	parser p = {prog, opts, common, NULL, NULL, 0};
	int    rc = EXIT_OK;
	int    c;

	/* the log format decides how option errors look: find it first */
	log_init(prog->progname, log_format_from_argv(argc, argv, common->format), 0);
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
