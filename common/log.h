/*-------------------------------------------------------------------------
 *
 * log.h
 *	  One line per event on stderr, as text or as one JSON object a line.
 *
 * Text:  "migrator: error: migration 109 failed ..."
 *        "migrator: hint: ..."  (a server's HINT, after its error)
 * On a terminal the level word is coloured (--color, NO_COLOR: see
 * log_paint); the JSON form never is.
 * JSON:  {"ts":"2026-11-25T15:25:21.123Z","level":"error","program":"migrator",
 *         "event":"migration_failed","msg":"...", <fields>}
 *
 * Messages are lower case, one line, no trailing period, identifiers in
 * double quotes (PostgreSQL's frontend style).  Fields are extra key/value
 * pairs that only the JSON form carries; the text form must say everything
 * in the message itself.
 *
 * The logger's settings are written once by log_init() from main() before
 * anything else runs and only read afterwards; they are configuration, not
 * mutable state.
 *
 * common/log.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LOG_H
#define TOOLKIT_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum log_format
{
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
	LOG_FORMAT_GITHUB /* migrator lint: GitHub Actions annotations; text otherwise */
} log_format;

typedef enum log_level
{
	LOG_LEVEL_DEBUG,   /* shown with -v */
	LOG_LEVEL_INFO,    /* shown unless -q */
	LOG_LEVEL_WARNING, /* always shown */
	LOG_LEVEL_ERROR,   /* always shown */
	/*
	 * The parts that follow an error or a warning, as PostgreSQL's frontend
	 * programs print them ("migrator: detail: ...", "migrator: hint: ..."):
	 * always shown, never an error of their own.
	 */
	LOG_LEVEL_DETAIL,
	LOG_LEVEL_HINT
} log_level;

/* --color: when the text form and the tables on stdout are coloured. */
typedef enum log_color
{
	LOG_COLOR_AUTO,   /* on a terminal, unless NO_COLOR is set and not empty */
	LOG_COLOR_ALWAYS, /* even through a pipe, and despite NO_COLOR */
	LOG_COLOR_NEVER
} log_color;

/* What a coloured word means: the colour follows (red, yellow, green, cyan). */
typedef enum log_tone
{
	LOG_TONE_ERROR,   /* red: errors, failed, missing */
	LOG_TONE_WARNING, /* yellow: warnings, pending, drifted */
	LOG_TONE_OK,      /* green: applied, present */
	LOG_TONE_NOTE     /* cyan: detail, hint */
} log_tone;

/* A JSON-only extra field; arrays of these end with a {NULL, NULL} entry. */
typedef struct log_field
{
	const char *key;
	const char *value; /* NULL prints as JSON null */
} log_field;

/* verbosity: -1 quiet (warnings and errors), 0 normal, 1 verbose (debug) */
void log_init(const char *progname, log_format format, int verbosity);

/* "auto", "always" or "never"; returns false for anything else */
bool log_parse_color(const char *s, log_color *out);

/*
 * The colour mode for the rest of the run (LOG_COLOR_AUTO until called);
 * log_init() keeps it.  Written from main()'s parser only, like log_init().
 */
void log_set_color(log_color mode);

/*
 * The --color=WHEN named on a command line ("--color=X" or "--color X"),
 * else LOG_COLOR_AUTO; an invalid value is left for the option parser.
 */
log_color log_color_from_argv(int argc, char *const *argv);

/*
 * The escape sequence that starts tone on stream (stdout or stderr), or ""
 * when that stream is not coloured: --color=never, the JSON form, or (auto)
 * not a terminal, TERM=dumb or NO_COLOR set and not empty.  log_paint_end()
 * is the matching reset ("" likewise).  Never NULL.
 */
const char *log_paint(FILE *stream, log_tone tone);
const char *log_paint_end(FILE *stream);

/* "text", "json" or "github"; returns false for anything else */
bool log_parse_format(const char *s, log_format *out);

/*
 * The --log-format named on a command line (either "--log-format=X" or
 * "--log-format X"), else dflt: options are parsed after the logger is set
 * up, and their own errors must already come out in the format asked for.
 * An invalid value is left for the option parser to report.
 */
log_format log_format_from_argv(int argc, char *const *argv, log_format dflt);

log_format  log_get_format(void);
const char *log_progname(void);
bool        log_enabled(log_level level);

/*
 * Emit one event.  event is a stable snake_case name for machines (may be
 * NULL); fields may be NULL.  Embedded newlines in the message are folded
 * into spaces in the text form so that one event stays one line.
 */
void log_event(log_level level, const char *event, const log_field *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Optional: every event that log_event would print goes to sink instead
 * (the message formatted, before any folding), with arg; NULL restores
 * stderr.  migrator lint puts the problems of loading and parsing its files
 * among its findings this way.
 */
typedef void (*log_sink)(log_level level, const char *event, const char *msg, void *arg);
void log_set_sink(log_sink sink, void *arg);

#define log_error(...)   log_event(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_event(LOG_LEVEL_WARNING, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_event(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...)   log_event(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_detail(...)  log_event(LOG_LEVEL_DETAIL, NULL, NULL, __VA_ARGS__)
#define log_hint(...)    log_event(LOG_LEVEL_HINT, NULL, NULL, __VA_ARGS__)

#endif /* TOOLKIT_LOG_H */
