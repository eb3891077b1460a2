/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Bounds-checked parsing of option values: durations, counts, sizes.
 *
 * common/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The largest duration accepted: 24 days, which still fits the int32
 * milliseconds of lock_timeout and statement_timeout (2147483647ms).
 */
#define MAX_DURATION_MS ((int64_t) 24 * 24 * 3600 * 1000)

static const struct
{
	const char *unit;
	double      ms;
} duration_units[] = {
	{"ms", 1}, {"s", 1000}, {"min", 60 * 1000}, {"h", 3600 * 1000}, {"d", 24 * 3600 * 1000},
};

bool
parse_duration(const char *s, int64_t *ms_out, char *errbuf, size_t errlen)
{
	char  *end;
	double value;

	if (s == NULL || *s == '\0')
	{
		snprintf(errbuf, errlen, "empty duration");
		return false;
	}
	if (strcmp(s, "0") == 0)
	{
		*ms_out = 0;
		return true;
	}
	/*
	 * Only digits and one '.': strtod alone would also take "0x10", "1e3",
	 * "inf" and a locale's decimal comma.
	 */
	{
		size_t      numlen = strspn(s, "0123456789.");
		const char *dot = memchr(s, '.', numlen);

		if (numlen == 0 || (dot && memchr(dot + 1, '.', numlen - (size_t) (dot - s) - 1)) ||
			(numlen == 1 && s[0] == '.'))
		{
			snprintf(errbuf, errlen,
					 "invalid duration \"%s\": expected a number and a unit (ms, s, min, h, d)", s);
			return false;
		}
		errno = 0;
		value = strtod(s, &end);
		if (end != s + numlen)
			errno = EINVAL;
	}
	if (errno != 0 || end == s || !isfinite(value))
	{
		snprintf(errbuf, errlen, "invalid duration \"%s\": expected a number and a unit (ms, s, min, h, d)",
				 s);
		return false;
	}
	if (*end == '\0')
	{
		snprintf(errbuf, errlen,
				 "invalid duration \"%s\": a unit is required, for example \"%sms\", \"%ss\" or \"%smin\"", s,
				 s, s, s);
		return false;
	}
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
	{
		if (strcmp(end, duration_units[i].unit) == 0)
		{
			double ms = value * duration_units[i].ms;

			if (ms > (double) MAX_DURATION_MS)
			{
				snprintf(errbuf, errlen, "duration \"%s\" is out of range (at most 24d)", s);
				return false;
			}
			if (ms > 0 && ms < 1)
			{
				snprintf(errbuf, errlen, "duration \"%s\" is shorter than 1ms", s);
				return false;
			}
			*ms_out = (int64_t) llround(ms);
			return true;
		}
	}
	snprintf(errbuf, errlen, "invalid duration \"%s\": unknown unit \"%s\" (use ms, s, min, h or d)", s, end);
	return false;
}

void
format_duration(int64_t ms, char *buf, size_t buflen)
{
	if (ms == 0)
		snprintf(buf, buflen, "0");
	else if (ms < 1000)
		snprintf(buf, buflen, "%lldms", (long long) ms);
	else if (ms < 60 * 1000 || ms % 1000 != 0)
	{
		if (ms % 1000 == 0)
			snprintf(buf, buflen, "%llds", (long long) (ms / 1000));
		else
		{
			/* exact milliseconds, trailing zeros dropped: 12345 -> 12.345s */
			char frac[4];
			int  n;

			snprintf(frac, sizeof(frac), "%03d", (int) (ms % 1000));
			for (n = 3; n > 0 && frac[n - 1] == '0'; n--)
				;
			frac[n] = '\0';
			snprintf(buf, buflen, "%lld.%ss", (long long) (ms / 1000), frac);
		}
	}
	else if (ms % (3600 * 1000) == 0)
		snprintf(buf, buflen, "%lldh", (long long) (ms / 3600000));
	else if (ms % (60 * 1000) == 0)
		snprintf(buf, buflen, "%lldmin", (long long) (ms / 60000));
	else
		snprintf(buf, buflen, "%llds", (long long) (ms / 1000));
}

bool
parse_int_range(const char *s, int64_t min, int64_t max, int64_t *out, char *errbuf, size_t errlen)
{
	char     *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
	{
		snprintf(errbuf, errlen, "invalid number \"%s\"", s ? s : "");
		return false;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
	{
		snprintf(errbuf, errlen, "invalid number \"%s\": expected a whole number", s);
		return false;
	}
	if (errno == ERANGE || v < min || v > max)
	{
		snprintf(errbuf, errlen, "%s is out of range (%lld to %lld)", s, (long long) min, (long long) max);
		return false;
	}
	*out = v;
	return true;
}

bool
parse_memory_size(const char *s, int64_t *kb_out, char *errbuf, size_t errlen)
{
	static const struct
	{
		const char *unit;
		int64_t     kb;
	} units[] = {{"kB", 1}, {"MB", 1024}, {"GB", 1024 * 1024}, {"TB", (int64_t) 1024 * 1024 * 1024}};
	char     *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char) *s))
	{
		snprintf(errbuf, errlen, "invalid size \"%s\": expected a number and a unit (kB, MB, GB, TB)",
				 s ? s : "");
		return false;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
	{
		snprintf(errbuf, errlen, "size \"%s\" is out of range (at most 2TB)", s);
		return false;
	}
	if (v <= 0)
	{
		snprintf(errbuf, errlen, "invalid size \"%s\": must be positive", s);
		return false;
	}
	if (*end == '\0')
	{
		snprintf(errbuf, errlen, "invalid size \"%s\": a unit is required, for example \"%sMB\"", s, s);
		return false;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
	{
		if (strcmp(end, units[i].unit) == 0)
		{
			/* maintenance_work_mem tops out at 2TB; refuse overflow early */
			if (v > (int64_t) 2 * 1024 * 1024 * 1024 / units[i].kb)
			{
				snprintf(errbuf, errlen, "size \"%s\" is out of range (at most 2TB)", s);
				return false;
			}
			*kb_out = v * units[i].kb;
			return true;
		}
	}
	snprintf(errbuf, errlen, "invalid size \"%s\": unknown unit \"%s\" (use kB, MB, GB or TB)", s, end);
	return false;
}
