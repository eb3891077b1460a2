/*-------------------------------------------------------------------------
 *
 * log.c
 *	  One line per event on stderr, as text or JSON.
 *
 * common/log.c
 *
 *-------------------------------------------------------------------------
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "memory.h"

/* Written once by log_init(), read-only afterwards (see log.h). */
static const char *log_program = "toolkit";
static log_format  log_fmt = LOG_FORMAT_TEXT;
static int         log_verbosity = 0;
static log_sink    log_sink_fn = NULL; /* log_set_sink: migrator lint only */
static void       *log_sink_arg = NULL;
static log_color   log_color_mode = LOG_COLOR_AUTO;

static const char *const level_names[] = {"debug", "info", "warning", "error", "detail", "hint"};

/* SGR sequences by log_tone: bold red, bold yellow, green, bold cyan (git's and PostgreSQL's). */
static const char *const tone_sgr[] = {"\033[1;31m", "\033[1;33m", "\033[32m", "\033[1;36m"};

void
log_init(const char *progname, log_format format, int verbosity)
{
	log_program = progname;
	log_fmt = format;
	log_verbosity = verbosity;
}

bool
log_parse_format(const char *s, log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else if (strcmp(s, "github") == 0)
		*out = LOG_FORMAT_GITHUB;
	else
		return false;
	return true;
}

bool
log_parse_color(const char *s, log_color *out)
{
	if (strcmp(s, "auto") == 0)
		*out = LOG_COLOR_AUTO;
	else if (strcmp(s, "always") == 0)
		*out = LOG_COLOR_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*out = LOG_COLOR_NEVER;
	else
		return false;
	return true;
}

void
log_set_color(log_color mode)
{
	log_color_mode = mode;
}

log_color
log_color_from_argv(int argc, char *const *argv)
{
	log_color mode = LOG_COLOR_AUTO;

	for (int i = 1; i < argc; i++)
	{
		if (strncmp(argv[i], "--color=", 8) == 0)
			(void) log_parse_color(argv[i] + 8, &mode);
		else if (strcmp(argv[i], "--color") == 0 && i + 1 < argc)
			(void) log_parse_color(argv[i + 1], &mode);
	}
	return mode;
}

/* https://no-color.org: any non-empty NO_COLOR disables colour, except --color=always. */
static bool
colored(FILE *stream)
{
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	if (log_fmt == LOG_FORMAT_JSON || log_color_mode == LOG_COLOR_NEVER)
		return false;
	if (log_color_mode == LOG_COLOR_ALWAYS)
		return true;
	if (no_color && no_color[0])
		return false;
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(stream)) == 1;
}

const char *
log_paint(FILE *stream, log_tone tone)
{
	return colored(stream) ? tone_sgr[tone] : "";
}

const char *
log_paint_end(FILE *stream)
{
	return colored(stream) ? "\033[0m" : "";
}

/* The tone of a level's word in the text form; -1: none. */
static int
level_tone(log_level level)
{
	switch (level)
	{
		case LOG_LEVEL_ERROR:
			return LOG_TONE_ERROR;
		case LOG_LEVEL_WARNING:
			return LOG_TONE_WARNING;
		case LOG_LEVEL_DETAIL:
		case LOG_LEVEL_HINT:
			return LOG_TONE_NOTE;
		default:
			return -1;
	}
}

log_format
log_format_from_argv(int argc, char *const *argv, log_format dflt)
{
	log_format format = dflt;

	for (int i = 1; i < argc; i++)
	{
		if (strncmp(argv[i], "--log-format=", 13) == 0)
			(void) log_parse_format(argv[i] + 13, &format);
		else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc)
			(void) log_parse_format(argv[i + 1], &format);
	}
	return format;
}

void
log_set_sink(log_sink sink, void *arg)
{
	log_sink_fn = sink;
	log_sink_arg = arg;
}

log_format
log_get_format(void)
{
	return log_fmt;
}

const char *
log_progname(void)
{
	return log_program;
}

bool
log_enabled(log_level level)
{
	if (level >= LOG_LEVEL_WARNING)
		return true;
	if (level == LOG_LEVEL_INFO)
		return log_verbosity >= 0;
	return log_verbosity >= 1;
}

static void
append_timestamp(textbuf *sb)
{
	struct timeval tv;
	struct tm      tm;
	char           buf[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	textbuf_appendf(sb, "%s.%03dZ", buf, (int) (tv.tv_usec / 1000));
}

/*
 * The text form of one event: one line, whatever the message holds (server
 * messages have newlines, and may quote rows another role wrote: no
 * control character reaches the terminal raw, memory.h).
 */
static void
append_text_line(textbuf *line, log_level level, const char *msg)
{
	textbuf shown;
	int     tone = level_tone(level);

	textbuf_init(&shown);
	textbuf_append_visible(&shown, msg, false);
	while (shown.len > 0 && shown.data[shown.len - 1] == ' ')
		shown.data[--shown.len] = '\0';
	if (level == LOG_LEVEL_INFO)
		textbuf_appendf(line, "%s: %s\n", log_program, shown.data);
	else if (tone >= 0)
		textbuf_appendf(line, "%s: %s%s:%s %s\n", log_program, log_paint(stderr, (log_tone) tone),
						level_names[level], log_paint_end(stderr), shown.data);
	else
		textbuf_appendf(line, "%s: %s: %s\n", log_program, level_names[level], shown.data);
	textbuf_free(&shown);
}

void
log_event(log_level level, const char *event, const log_field *fields, const char *fmt, ...)
{
	textbuf msg;
	textbuf line;
	va_list ap;

	if (!log_enabled(level))
		return;

	textbuf_init(&msg);
	va_start(ap, fmt);
	textbuf_vappendf(&msg, fmt, ap);
	va_end(ap);
	if (log_sink_fn != NULL)
	{
		log_sink_fn(level, event, msg.data, log_sink_arg);
		textbuf_free(&msg);
		return;
	}

	textbuf_init(&line);
	if (log_fmt == LOG_FORMAT_JSON)
	{
		textbuf_append(&line, "{\"ts\":\"");
		append_timestamp(&line);
		textbuf_appendf(&line, "\",\"level\":\"%s\",\"program\":", level_names[level]);
		textbuf_append_json(&line, log_program);
		if (event)
		{
			textbuf_append(&line, ",\"event\":");
			textbuf_append_json(&line, event);
		}
		textbuf_append(&line, ",\"msg\":");
		textbuf_append_json(&line, msg.data);
		for (const log_field *f = fields; f && f->key; f++)
		{
			textbuf_append_char(&line, ',');
			textbuf_append_json(&line, f->key);
			textbuf_append_char(&line, ':');
			if (f->value)
				textbuf_append_json(&line, f->value);
			else
				textbuf_append(&line, "null");
		}
		textbuf_append(&line, "}\n");
	}
	else
		append_text_line(&line, level, msg.data);

	/* a single write keeps lines whole when several processes share stderr */
	fwrite(line.data, 1, line.len, stderr);
	fflush(stderr);
	textbuf_free(&line);
	textbuf_free(&msg);
}
