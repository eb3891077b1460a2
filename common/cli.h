/*-------------------------------------------------------------------------
 *
 * cli.h
 *	  The command line of both programs: one parser, driven by a table of
 *	  commands and a table of options that each program declares.
 *
 * The options both programs have are parsed here, once, with the same
 * checks and the same messages: --dsn, --schema, --wait, --log-format,
 * --lock-timeout, --statement-timeout, --retries, --lock-wait, --metrics-file,
 * --metrics-push (common/metrics.h; each program decides what it reports), -q/--quiet,
 * -v/--verbose, --color, -V/--version (the version string is the project's, from
 * CMake) and -h/--help.  A program adds its own options as rows of a
 * cli_option table (name, kind, where the value goes) and its commands as
 * rows of a cli_command table (name, handler, the options that apply,
 * whether it writes to the database, help line).
 *
 * Usage is "PROGRAM [COMMAND] [OPTION]... [ARGUMENT]": the first word that is
 * not an option names the command (the table's first row when none does).
 *
 * A hidden common option, --list-options, prints both tables as data (one
 * tab-separated line per command and per option word that applies to each
 * command) and exits 0: the build generates the bash completion from it
 * (scripts/package/completion.sh), so the completion cannot drift from the
 * parser.  --help does not name it.
 *
 * Errors are one line each, "option --NAME: why" for a bad value (JSON event
 * "invalid_option"), "invalid option ...", "unknown option ..." and
 * "unknown command ..." (with the nearest names: "did you mean ...?"),
 * "unexpected argument ..." with a "try --help" hint; the parser then
 * returns EXIT_USAGE.  "--version" with a value ("up --version 5") is such
 * an error, suggesting --target.  Nothing here exits.
 *
 * --color=auto|always|never is common too: it is read before anything is
 * logged (log_set_color), as --log-format is.
 *
 * common/cli.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_CLI_H
#define TOOLKIT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

/* cli_parse's return after --help or --version: done, exit 0. */
#define CLI_DONE (-1)

/*
 * What a program's dispatcher has set up before it calls a command (a
 * connection, the run lock, ...).  Each program defines the struct; this
 * module only carries pointers to it.
 */
struct cli_run;

/* cli_command.flags; a program's own flags start at CLI_CMD_PROGRAM. */
#define CLI_CMD_ARG     0x1   /* takes one argument (migrator new NAME) */
#define CLI_CMD_WRITES  0x2   /* writes to the database: needs a server that accepts writes */
#define CLI_CMD_ARGS    0x4   /* takes any number of arguments (migrator lint FILE...) */
#define CLI_CMD_PROGRAM 0x100 /* first bit free for the program */

/* The bit of program option id in cli_command.options. */
#define CLI_BIT(id) ((uint64_t) 1 << (id))

typedef struct cli_command
{
	const char *name;
	int (*run)(struct cli_run *rs); /* returns a code of exitcodes.h */
	unsigned    flags;              /* CLI_CMD_*, then the program's */
	uint64_t    options;            /* CLI_BIT()s of the program options that apply */
	const char *help;               /* one line for --help */
} cli_command;

/* How a program option's value is read and where it goes. */
typedef enum cli_kind
{
	CLI_FLAG,       /* no argument: a bool at offset becomes true */
	CLI_STRING,     /* a const char * at offset (argv memory) */
	CLI_NAME,       /* the same, but never empty ("option --NAME: empty name") */
	CLI_DURATION,   /* an int64_t of milliseconds at offset (options.h's units) */
	CLI_INT,        /* an int64_t at offset, a whole number in [min, max] */
	CLI_CUSTOM,     /* the program's custom() handler reads it */
	CLI_CUSTOM_FLAG /* no argument: the custom() handler is told (value NULL) */
} cli_kind;

typedef struct cli_option
{
	const char *name;       /* long name, without the dashes */
	int         short_name; /* 'd', or 0 for none */
	cli_kind    kind;
	size_t      offset;   /* into the program's options struct (not CLI_CUSTOM) */
	int64_t     min, max; /* CLI_INT */
	int         id;       /* the program's, below 64: its CLI_BIT in cli_command.options */
	/*
	 * Non-NULL: the row exists only when this word is on the command line,
	 * and then replaces a common option of the same long name (the
	 * migrator's "baseline --version N").
	 */
	const char *only_with;
	/*
	 * Non-NULL: the error when the option is given to a command whose
	 * options do not include it; a "%s" in it stands for the command's name.
	 * NULL: every command accepts it, and those it does not apply to ignore
	 * it.
	 */
	const char *refusal;
} cli_option;

/* The common options that take a value, as cli_common.given indexes them. */
typedef enum cli_common_id
{
	CLI_DSN,
	CLI_SCHEMA,
	CLI_WAIT,
	CLI_LOG_FORMAT,
	CLI_LOCK_TIMEOUT,
	CLI_STATEMENT_TIMEOUT,
	CLI_RETRIES,
	CLI_LOCK_WAIT,
	CLI_METRICS_FILE,
	CLI_METRICS_PUSH,
	CLI_N_COMMON
} cli_common_id;

/*
 * The common options as given.  A value is set only when given[] of its
 * option is not NULL; the program keeps its own defaults otherwise.
 */
typedef struct cli_common
{
	const char        *given[CLI_N_COMMON]; /* the last value on the command line, or NULL */
	const char        *dsn;                 /* conn_take_dsn_arg's copy */
	const char        *schema;              /* never empty */
	int64_t            wait_ms;
	int64_t            lock_timeout_ms;
	int64_t            statement_timeout_ms;
	int64_t            lock_wait_ms;
	int64_t            retries;      /* 0 to 100 */
	const char        *metrics_file; /* --metrics-file PATH ("" = none; metrics.h) */
	const char        *metrics_push; /* --metrics-push URL, http:// or https:// ("" = none) */
	log_format         format;       /* in: the default before the command line */
	int                verbosity;
	const cli_command *command;
	const char        *arg;  /* the argument of a CLI_CMD_ARG command */
	const char *const *args; /* the arguments of a CLI_CMD_ARGS command (argv memory) */
	int                n_args;
} cli_common;

/*
 * An option whose value is one of a fixed set: --list-options lists it
 * ("value=warn|fail|off"), so that the shell completion offers exactly
 * these words (tests/package/test_completion.py checks them against the
 * option's own error message).
 */
typedef struct cli_value_set
{
	const char *option; /* long name, without the dashes */
	const char *values; /* "warn|fail|off" */
} cli_value_set;

typedef struct cli_program
{
	const char        *progname;
	const cli_command *commands; /* the first is the default */
	int                n_commands;
	const cli_option  *options; /* the program's own */
	int                n_options;
	void (*usage)(FILE *out);
	/* reads a CLI_CUSTOM option; returns true, or false after logging */
	bool (*custom)(void *opts, const cli_option *o, const char *value);
	/*
	 * Optional: told of every common option once it is checked, in
	 * command-line order (the indexer records its settings' command-line
	 * values here); returns true, or false after logging.
	 */
	bool (*on_common)(void *opts, cli_common_id id, const char *value);
	/* Optional: the value sets of the program's own options, ended by {NULL, NULL}. */
	const cli_value_set *value_sets;
} cli_program;

/*
 * Parse argv: the common options into *common, the program's into *opts,
 * the command into common->command.  First sets up the logger with the
 * --log-format named on the command line (common->format otherwise,
 * verbosity 0), so that option errors already come out as asked; the
 * caller calls log_init again with the final format and verbosity.
 * Returns EXIT_OK, EXIT_USAGE after logging, or CLI_DONE after printing
 * --help or --version on stdout.
 */
int cli_parse(const cli_program *prog, int argc, char **argv, void *opts, cli_common *common);

/* The command named name, or NULL. */
const cli_command *cli_find_command(const cli_program *prog, const char *name);

/* "  NAME     help line" for every command, as --help lists them. */
void cli_print_commands(const cli_program *prog, FILE *out);

/*
 * How far a typed word is from a command or option name: git's weighted
 * Damerau-Levenshtein distance plus one (a swap of neighbours is free, an
 * insertion cheap, a deletion dear).  Below 7, the name is suggested
 * ("did you mean ...?") with an unknown command or option.
 */
int cli_similarity(const char *typed, const char *name);

/* The project's version, "0.1.0": the one place it is defined is CMake's project(). */
const char *cli_version(void);

#endif /* TOOLKIT_CLI_H */
