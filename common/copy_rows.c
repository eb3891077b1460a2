/*-------------------------------------------------------------------------
 *
 * copy_rows.c
 *	  The rows of a COPY ... TO STDOUT, decoded from its text format.
 *
 * common/copy_rows.c
 *
 *-------------------------------------------------------------------------
 */
#define _DEFAULT_SOURCE /* timegm */

#include "copy_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory.h"

void
copy_rows_init(copy_rows *r, int n_cols)
{
	memset(r, 0, sizeof(*r));
	r->n_cols = n_cols;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The escape at s[*i] (after its backslash) into out; *i moves past it. */
static void
decode_escape(const char *s, int end, int *i, textbuf *out)
{
	static const char plain[] = "b\bf\fn\nr\rt\tv\v";
	char              c = s[*i];
	const char       *p = strchr(plain, c);
	int               v = 0, k = 0;

	(*i)++;
	if (c != '\0' && p != NULL && (p - plain) % 2 == 0)
		textbuf_append_char(out, p[1]);
	else if (c >= '0' && c <= '7')
	{
		/* up to three octal digits, the first one already read */
		for (v = c - '0'; k < 2 && *i < end && s[*i] >= '0' && s[*i] <= '7'; k++)
			v = v * 8 + (s[(*i)++] - '0');
		textbuf_append_char(out, (char) v);
	}
	else if (c == 'x' && *i < end && hex_value(s[*i]) >= 0)
	{
		v = hex_value(s[(*i)++]);
		if (*i < end && hex_value(s[*i]) >= 0)
			v = v * 16 + hex_value(s[(*i)++]);
		textbuf_append_char(out, (char) v);
	}
	else
		textbuf_append_char(out, c); /* \\ and any other: the character itself */
}

/* One field, s[start .. end), decoded; NULL for \N. */
static char *
decode_field(const char *s, int start, int end)
{
	textbuf out;

	if (end - start == 2 && s[start] == '\\' && s[start + 1] == 'N')
		return NULL;
	textbuf_init(&out);
	textbuf_append(&out, ""); /* an empty field is "", never NULL */
	for (int i = start; i < end;)
	{
		if (s[i] == '\\' && i + 1 < end)
		{
			i++;
			decode_escape(s, end, &i, &out);
		}
		else
			textbuf_append_char(&out, s[i++]);
	}
	return textbuf_detach(&out);
}

void
copy_rows_add(copy_rows *r, const char *data, int len)
{
	char **row;
	int    col = 0, start = 0;

	if (r->malformed)
		return;
	if (len > 0 && data[len - 1] == '\n')
		len--;
	ARRAY_GROW(r->cells, (r->n_rows + 1) * r->n_cols, r->cap);
	row = &r->cells[r->n_rows * r->n_cols];
	for (int i = 0; i <= len; i++)
	{
		if (i < len && data[i] != '\t')
		{
			/* a backslash escapes the next byte (COPY writes a tab in data as \t) */
			if (data[i] == '\\' && i + 1 < len)
				i++;
			continue;
		}
		if (col < r->n_cols)
			row[col] = decode_field(data, start, i < len ? i : len);
		col++;
		start = i + 1;
	}
	if (col != r->n_cols)
	{
		for (int k = 0; k < col && k < r->n_cols; k++)
			free(row[k]);
		r->malformed = true;
		return;
	}
	r->n_rows++;
}

const char *
copy_rows_cell(const copy_rows *r, int row, int col)
{
	return r->cells[row * r->n_cols + col];
}

void
copy_rows_free(copy_rows *r)
{
	for (int i = 0; i < r->n_rows * r->n_cols; i++)
		free(r->cells[i]);
	free(r->cells);
	memset(r, 0, sizeof(*r));
}

bool
copy_rows_epoch(const char *cell, double *epoch)
{
	struct tm tm = {0};
	double    sec = 0;
	int       used = 0;

	*epoch = 0;
	if (cell == NULL ||
		sscanf(cell, "%4d-%2d-%2d %2d:%2d:%lf%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			   &tm.tm_min, &sec, &used) != 6 ||
		strcmp(cell + used, "+00") != 0)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*epoch = (double) timegm(&tm) + sec;
	return true;
}

double
copy_rows_epoch_or_end(const char *cell)
{
	double epoch;

	if (copy_rows_epoch(cell, &epoch))
		return epoch;
	return cell && cell[0] != '-' ? 1e300 : -1e300;
}
