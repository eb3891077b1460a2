/*-------------------------------------------------------------------------
 *
 * pg_volatile_functions.h
 *	  Volatility of PostgreSQL 15's built-in functions, by name.
 *
 * A column default that calls a volatile function (random(),
 * gen_random_uuid(), clock_timestamp(), nextval(), ...) is evaluated once
 * per row, so ADD COLUMN rewrites the whole table; a default that calls only
 * immutable or stable functions (now(), current_date, lower(), ...) is
 * evaluated once and stored in the catalog (PostgreSQL 11+).
 *
 * Functions are known by name only, as the parser sees them (no argument
 * types), from two lists generated from a real PostgreSQL 15 catalog
 * (pg_catalog only; see pg_volatile_functions.c for the SQL):
 * - volatile: some overload of the name is volatile (provolatile = 'v');
 * - non-volatile: every overload is immutable or stable.
 * A name with both volatile and non-volatile overloads (ts_rewrite) counts
 * as volatile.  Any other name, and any function in another schema, is
 * unknown; callers treat unknown as volatile.
 *
 * common/pg_volatile_functions.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_PG_VOLATILE_FUNCTIONS_H
#define TOOLKIT_PG_VOLATILE_FUNCTIONS_H

#include <stdbool.h>

typedef enum pg_func_volatility
{
	PG_FUNC_UNKNOWN,      /* not a built-in function of pg_catalog */
	PG_FUNC_NON_VOLATILE, /* every overload immutable or stable */
	PG_FUNC_VOLATILE      /* some overload volatile */
} pg_func_volatility;

/*
 * Volatility of the pg_catalog function called name (as the parser folds
 * it: unquoted names are lower case; the match is exact, case-sensitive).
 * NULL gives PG_FUNC_UNKNOWN.  Binary search over static sorted arrays; no
 * allocation.
 */
pg_func_volatility pg_builtin_function_volatility(const char *name);

/*
 * Self-check for the unit tests: true if each list is in strictly ascending
 * strcmp() order (so bsearch() finds every name) and no name is on both.
 */
bool pg_builtin_function_lists_valid(void);

#endif /* TOOLKIT_PG_VOLATILE_FUNCTIONS_H */
