/*-------------------------------------------------------------------------
 *
 * window.c
 *	  Build windows: parsing, and whether the clock is inside one.
 *
 * Local time is the system's: TZ is set to the zone around each
 * localtime_r() and restored afterwards, so the tz database decides every
 * offset and every daylight-saving change (see window.h for the rules).
 *
 * indexer/window.c
 *
 *-------------------------------------------------------------------------
 */
#include "window.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "memory.h"

#define DAY_SECONDS 86400
#define EVERY_DAY   0x7fu

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
static const char *const day_full[7] = {"sunday",   "monday", "tuesday", "wednesday",
										"thursday", "friday", "saturday"};

/* ---- parsing ------------------------------------------------------------------ */

static int
day_index(const char *s, size_t len)
{
	for (int d = 0; d < 7; d++)
		if ((len == 3 && strncasecmp(s, day_names[d], 3) == 0) ||
			(len == strlen(day_full[d]) && strncasecmp(s, day_full[d], len) == 0))
			return d;
	return -1;
}

/* "Sat-Sun", "Mon,Wed", "Fri-Mon" (wraps) into a day mask; false with a reason. */
static bool
parse_days(const char *s, size_t len, unsigned *mask, char *errbuf, size_t errlen)
{
	size_t i = 0;

	*mask = 0;
	while (i < len)
	{
		size_t j = i, dash = 0;
		int    a, b;

		while (j < len && s[j] != ',')
		{
			if (s[j] == '-' && dash == 0)
				dash = j;
			j++;
		}
		a = day_index(s + i, (dash ? dash : j) - i);
		b = dash ? day_index(s + dash + 1, j - dash - 1) : a;
		if (a < 0 || b < 0)
		{
			snprintf(errbuf, errlen, "unknown day \"%.*s\" (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)",
					 (int) (j - i), s + i);
			return false;
		}
		for (int d = a;; d = (d + 1) % 7)
		{
			*mask |= 1u << d;
			if (d == b)
				break;
		}
		i = j + 1;
	}
	return *mask != 0;
}

/* "HH:MM" into minutes (0..1439, or 1440 for "24:00" when allow_24). */
static bool
parse_clock(const char *s, size_t len, bool allow_24, int *minutes)
{
	int h, m;

	if (len != 5 || !isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1]) || s[2] != ':' ||
		!isdigit((unsigned char) s[3]) || !isdigit((unsigned char) s[4]))
		return false;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return false;
	*minutes = h * 60 + m;
	return true;
}

/* One window "[DAYS ]HH:MM-HH:MM", trimmed, into span. */
static bool
parse_span(const char *s, size_t len, window_span *span, char *errbuf, size_t errlen)
{
	const char *sp = memchr(s, ' ', len);
	const char *t = sp ? sp + 1 : s;
	size_t      tlen = len - (size_t) (t - s);

	span->days = EVERY_DAY;
	if (sp && !parse_days(s, (size_t) (sp - s), &span->days, errbuf, errlen))
	{
		if (errbuf[0] == '\0')
			snprintf(errbuf, errlen, "no day in \"%.*s\"", (int) len, s);
		return false;
	}
	while (tlen > 0 && *t == ' ')
		t++, tlen--;
	if (tlen != 11 || t[5] != '-' || !parse_clock(t, 5, false, &span->start_min) ||
		!parse_clock(t + 6, 5, true, &span->end_min))
	{
		snprintf(errbuf, errlen,
				 "invalid window \"%.*s\" (use [DAYS ]HH:MM-HH:MM, e.g. \"Sat-Sun 01:00-05:00\")", (int) len,
				 s);
		return false;
	}
	if (span->start_min == span->end_min)
	{
		snprintf(errbuf, errlen, "window \"%.*s\" is empty (a whole day is 00:00-24:00)", (int) len, s);
		return false;
	}
	return true;
}

bool
window_parse(const char *text, window_list *out, char *errbuf, size_t errlen)
{
	const char *p = text;

	errbuf[0] = '\0';
	for (;;)
	{
		const char *end = strchr(p, ';');
		size_t      len = end ? (size_t) (end - p) : strlen(p);
		window_span span;

		while (len > 0 && isspace((unsigned char) *p))
			p++, len--;
		while (len > 0 && isspace((unsigned char) p[len - 1]))
			len--;
		if (len == 3 && strncasecmp(p, "any", 3) == 0)
			out->any = true;
		else if (len == 0 || !parse_span(p, len, &span, errbuf, errlen))
		{
			if (errbuf[0] == '\0')
				snprintf(errbuf, errlen, "empty window in \"%s\"", text);
			return false;
		}
		else
		{
			ARRAY_GROW(out->spans, out->n + 1, out->cap);
			out->spans[out->n++] = span;
		}
		if (end == NULL)
			return true;
		p = end + 1;
	}
}

void
window_list_free(window_list *w)
{
	if (w == NULL)
		return;
	free(w->spans);
	memset(w, 0, sizeof(*w));
}

bool
window_zone_valid(const char *zone, char *errbuf, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char        path[4096];
	struct stat st;

	if (strcmp(zone, "UTC") == 0)
		return true;
	if (zone[0] == '\0' || zone[0] == '/' || strstr(zone, "..") != NULL)
	{
		snprintf(errbuf, errlen, "invalid time zone \"%s\" (use an IANA name such as \"Europe/Berlin\")",
				 zone);
		return false;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", zone);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
	{
		snprintf(errbuf, errlen, "unknown time zone \"%s\" (not in the tz database, %s)", zone, path);
		return false;
	}
	return true;
}

/* ---- local time ------------------------------------------------------------------- */

/* TZ set to a zone for a while; restored by zone_leave. */
typedef struct zone_scope
{
	char *saved;
	bool  had;
} zone_scope;

static void
zone_enter(zone_scope *z, const char *zone)
{
	const char *old = getenv("TZ");

	z->had = old != NULL;
	z->saved = old ? xstrdup(old) : NULL;
	setenv("TZ", zone && zone[0] ? zone : "UTC", 1);
	tzset();
}

static void
zone_leave(zone_scope *z)
{
	if (z->had)
		setenv("TZ", z->saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(z->saved);
}

static long
offset_at(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return tm.tm_gmtoff;
}

/* The wall clock at t, counted as seconds as if it were UTC. */
static time_t
wall_at(time_t t)
{
	return t + offset_at(t);
}

/*
 * The first instant at which the local clock reads wall (a wall-clock time
 * counted as if UTC), or, when the clock jumps over it, the instant the
 * jump lands.
 */
static time_t
resolve_wall(time_t wall)
{
	long   o1 = offset_at(wall - DAY_SECONDS);
	long   o2 = offset_at(wall + DAY_SECONDS);
	time_t c1 = wall - o1, c2 = wall - o2;
	bool   v1 = wall_at(c1) == wall, v2 = wall_at(c2) == wall;
	time_t lo, hi;

	if (v1 && v2)
		return c1 < c2 ? c1 : c2;
	if (v1 || v2)
		return v1 ? c1 : c2;
	/* a gap: the first instant whose clock reads past wall */
	lo = c1 < c2 ? c1 : c2;
	hi = c1 < c2 ? c2 : c1;
	while (lo < hi)
	{
		time_t mid = lo + (hi - lo) / 2;

		if (wall_at(mid) >= wall)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Midnight of the local day of now, plus days, as a wall time; *wday its weekday. */
static time_t
local_midnight(time_t now, int days, int *wday)
{
	time_t    w = wall_at(now);
	time_t    mid = w - (((w % DAY_SECONDS) + DAY_SECONDS) % DAY_SECONDS) + (time_t) days * DAY_SECONDS;
	struct tm tm;

	gmtime_r(&mid, &tm);
	*wday = tm.tm_wday;
	return mid;
}

/* The span's occurrence starting on the local day midnight: [*open, *close). */
static void
occurrence(const window_span *s, time_t midnight, time_t *open, time_t *close)
{
	int    len = s->end_min > s->start_min ? s->end_min - s->start_min : s->end_min + 1440 - s->start_min;
	time_t end_wall = midnight + (time_t) (s->start_min + len) * 60;
	time_t nominal;

	*open = resolve_wall(midnight + (time_t) s->start_min * 60);
	*close = resolve_wall(end_wall);
	nominal = *open + (time_t) len * 60;
	if (*close < nominal)
		*close = nominal;
}

/*
 * Scan the occurrences of every span near t: the latest close of those
 * open at t (or t itself when none is), and the earliest opening after t.
 */
static time_t
scan(const window_list *w, time_t t, time_t *next)
{
	time_t until = t;

	for (int i = 0; i < w->n; i++)
	{
		const window_span *s = &w->spans[i];

		/* occurrences that started up to two days ago may still be open */
		for (int d = -2; d <= 8; d++)
		{
			int    wday;
			time_t mid = local_midnight(t, d, &wday);
			time_t o, c;

			if (!(s->days & (1u << wday)))
				continue;
			occurrence(s, mid, &o, &c);
			if (o <= t && t < c && c > until)
				until = c;
			else if (o > t && (*next == (time_t) -1 || o < *next))
				*next = o;
		}
	}
	return until;
}

bool
window_is_open(const window_list *w, const char *zone, time_t now, time_t *next_open, time_t *closes)
{
	zone_scope z;
	time_t     next = (time_t) -1, until, later;
	bool       open;

	if (w == NULL || w->any || w->n == 0)
	{
		if (closes)
			*closes = (time_t) -1;
		return true;
	}
	zone_enter(&z, zone);
	until = scan(w, now, &next);
	open = until > now;
	/* a window that another continues: they close together, at the last one's end */
	for (int hop = 0; open && hop < 16; hop++)
	{
		time_t ignored = (time_t) -1;

		later = scan(w, until, &ignored);
		if (later <= until)
			break;
		until = later;
	}
	zone_leave(&z);
	if (!open && next_open)
		*next_open = next;
	if (open && closes)
		*closes = until;
	return open;
}

void
window_format_time(time_t t, const char *zone, char *buf, size_t buflen)
{
	zone_scope z;
	struct tm  tm;

	zone_enter(&z, zone);
	localtime_r(&t, &tm);
	if (strftime(buf, buflen, "%a %Y-%m-%d %H:%M %Z", &tm) == 0 && buflen > 0)
		buf[0] = '\0';
	zone_leave(&z);
}
