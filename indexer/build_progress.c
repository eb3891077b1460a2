/*-------------------------------------------------------------------------
 *
 * build_progress.c
 *	  What the user sees of a build in flight: the progress bar on a
 *	  terminal, progress lines otherwise, and log lines that never tear
 *	  the bar.
 *
 * The numbers come from the monitor's query (build_monitor.c), which joins
 * pg_stat_progress_create_index: the phase, and the counter that moves in
 * that phase.  Nothing here talks to the server.
 *
 * indexer/build_progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "retry.h"

/* a progress line this often when stderr is not a terminal */
#define PROGRESS_LOG_MS 10000
/* the bar is one line of at most this many columns */
#define BAR_COLUMNS 100

void
progress_bar_clear(engine *e)
{
	if (e->bar_drawn)
	{
		fputs("\r\033[K", stderr);
		fflush(stderr);
		e->bar_drawn = false;
	}
}

void
build_log(engine *e, log_level level, const char *event, const log_field *fields, const char *fmt, ...)
{
	va_list ap;
	textbuf sb;

	progress_bar_clear(e);
	textbuf_init(&sb);
	va_start(ap, fmt);
	textbuf_vappendf(&sb, fmt, ap);
	va_end(ap);
	log_event(level, event, fields, "%s", sb.data);
	textbuf_free(&sb);
}

void
progress_format_ms(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long) ms);
	else
		snprintf(buf, len, "%.1fs", (double) ms / 1000.0);
}

void
progress_bar_draw(engine *e)
{
	textbuf sb;

	textbuf_init(&sb);
	for (int i = 0; i < e->n_slots; i++)
	{
		slot *s = &e->slots[i];
		unit *u;

		if (!s->ps.busy || s->job == NULL)
			continue;
		u = &s->job->units[s->job->cur];
		textbuf_appendf(&sb, "%s[%s %s", sb.len ? " " : "", u->name, s->phase[0] ? s->phase : "starting");
		if (s->pct >= 0)
			textbuf_appendf(&sb, " %d%%", s->pct);
		textbuf_append(&sb, "]");
	}
	if (sb.len > 0)
	{
		/* one line: cut to BAR_COLUMNS */
		if (sb.len > BAR_COLUMNS)
		{
			sb.data[BAR_COLUMNS - 3] = sb.data[BAR_COLUMNS - 2] = sb.data[BAR_COLUMNS - 1] = '.';
			sb.data[BAR_COLUMNS] = '\0';
		}
		fprintf(stderr, "\r\033[K%s", sb.data);
		fflush(stderr);
		e->bar_drawn = true;
	}
	textbuf_free(&sb);
}

static int
percent(long long done, long long total)
{
	if (total <= 0)
		return -1;
	if (done < 0)
		done = 0;
	if (done > total)
		done = total;
	return (int) (done * 100 / total);
}

void
progress_read_row(slot *s, const PGresult *res, int row)
{
	const char *phase = PQgetvalue(res, row, 3);
	long long   bt = atoll(PQgetvalue(res, row, 4)), bd = atoll(PQgetvalue(res, row, 5)),
			  tt = atoll(PQgetvalue(res, row, 6)), td = atoll(PQgetvalue(res, row, 7)),
			  lt = atoll(PQgetvalue(res, row, 8)), ld = atoll(PQgetvalue(res, row, 9)),
			  pt = atoll(PQgetvalue(res, row, 10)), pd = atoll(PQgetvalue(res, row, 11));

	snprintf(s->phase, sizeof(s->phase), "%s", phase);
	/* the counter that moves in this phase */
	if (strncmp(phase, "waiting for", 11) == 0)
	{
		s->pct = percent(ld, lt);
		snprintf(s->progress_detail, sizeof(s->progress_detail), "lockers %lld of %lld", ld, lt);
	}
	else if (bt > 0)
	{
		s->pct = percent(bd, bt);
		snprintf(s->progress_detail, sizeof(s->progress_detail), "blocks %lld of %lld", bd, bt);
	}
	else if (tt > 0)
	{
		s->pct = percent(td, tt);
		snprintf(s->progress_detail, sizeof(s->progress_detail), "tuples %lld of %lld", td, tt);
	}
	else if (pt > 0)
	{
		s->pct = percent(pd, pt);
		snprintf(s->progress_detail, sizeof(s->progress_detail), "partitions %lld of %lld", pd, pt);
	}
	else
	{
		s->pct = -1;
		s->progress_detail[0] = '\0';
	}
}

void
progress_log_line(engine *e, slot *s, int64_t now)
{
	unit *u = &s->job->units[s->job->cur];
	char  dur[32];
	char  pct[16] = "";

	if (!e->set->progress || e->bar || s->phase[0] == '\0' || now - s->ps.sent_ms < PROGRESS_LOG_MS ||
		(s->last_progress_log != 0 && now - s->last_progress_log < PROGRESS_LOG_MS))
		return;
	progress_format_ms(now - s->ps.sent_ms, dur, sizeof(dur));
	if (s->pct >= 0)
		snprintf(pct, sizeof(pct), " %d%%", s->pct);
	build_log(e, LOG_LEVEL_INFO, "progress", NULL, "progress: %s: %s%s%s%s%s, %s", u->label, s->phase, pct,
			  s->progress_detail[0] ? " (" : "", s->progress_detail, s->progress_detail[0] ? ")" : "", dur);
	s->last_progress_log = now;
}
