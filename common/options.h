/*-------------------------------------------------------------------------
 *
 * options.h
 *	  Bounds-checked parsing of option values: durations, counts, sizes.
 *
 * Every parser returns true and stores the value, or returns false and
 * writes a one-line reason (no trailing period, without the option name,
 * which the caller adds) into errbuf.  Nothing is stored on failure.
 *
 * common/options.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_OPTIONS_H
#define TOOLKIT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A duration takes a unit: "500ms", "5s", "2min", "1h" (fractions such as
 * "1.5s" are allowed).  "0" alone means none and yields 0.  Any other bare
 * number is refused with a reason that names the units, so that "5" is never
 * silently read as five milliseconds or five seconds.  Result in ms.
 */
bool parse_duration(const char *s, int64_t *ms_out, char *errbuf, size_t errlen);

/* "1.5s", "500ms", "2min"; 0 prints as "0" */
void format_duration(int64_t ms, char *buf, size_t buflen);

/* A whole decimal number in [min, max]. */
bool parse_int_range(const char *s, int64_t min, int64_t max, int64_t *out, char *errbuf, size_t errlen);

/*
 * A memory size as PostgreSQL writes it: a whole number and a unit of kB, MB,
 * GB or TB ("256MB").  Stored normalised in kB.
 */
bool parse_memory_size(const char *s, int64_t *kb_out, char *errbuf, size_t errlen);

#endif /* TOOLKIT_OPTIONS_H */
