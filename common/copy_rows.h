/*-------------------------------------------------------------------------
 *
 * copy_rows.h
 *	  The rows of a COPY ... TO STDOUT, decoded from its text format.
 *
 * A read that must never be planned (relation_trust.h: planning a query
 * over a table of another role runs code that role attached to it) copies
 * the table out instead: COPY of a table is a plain scan, with no planner,
 * no index and no constraint looked at.  This module turns the data rows
 * libpq hands out (PQgetCopyData, one row each) into cells, by the rules of
 * COPY's text format: tab between columns, \N for NULL, backslash escapes
 * (\b \f \n \r \t \v \\, octal \ooo, hex \xhh, any other character
 * stands for itself).
 *
 * common/copy_rows.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_COPY_ROWS_H
#define TOOLKIT_COPY_ROWS_H

#include <stdbool.h>

typedef struct copy_rows
{
	int    n_cols; /* set before the first row: each row must have as many */
	int    n_rows;
	int    cap;
	char **cells;     /* n_rows * n_cols, row by row; NULL for SQL NULL */
	bool   malformed; /* a row had another number of columns: rows stop there */
} copy_rows;

/* Empty rows of n_cols columns. */
void copy_rows_init(copy_rows *r, int n_cols);

/*
 * Add the row in data (len bytes, its final newline included or not).  A
 * row with another number of columns sets r->malformed and is not added.
 */
void copy_rows_add(copy_rows *r, const char *data, int len);

/* Cell col of row (NULL: SQL NULL). */
const char *copy_rows_cell(const copy_rows *r, int row, int col);

void copy_rows_free(copy_rows *r);

/*
 * A timestamptz cell as COPY writes it with DateStyle ISO and TimeZone UTC
 * (2026-12-01 10:00:00.123456+00) in seconds since 1970; false for
 * anything else (NULL, infinity, another zone), *epoch then 0.
 */
bool copy_rows_epoch(const char *cell, double *epoch);

/*
 * copy_rows_epoch for ordering and filtering: what is not a plain date
 * (infinity, -infinity, a year past 9999: a table of another role may hold
 * them) goes to the end its sign says, NULL to the start.
 */
double copy_rows_epoch_or_end(const char *cell);

#endif /* TOOLKIT_COPY_ROWS_H */
