/*-------------------------------------------------------------------------
 *
 * migration_directives.h
 *	  The "-- migrator:WORD ARG" directives of a migration or verify file.
 *
 * A directive is a comment line of the file's leading comment block
 * ("-- migrator:no-transaction", "-- migrator:allow-dml",
 * "-- migrator:requires-index NAME"), or "-- migrator:allow RULE" anywhere;
 * anything else that starts "-- migrator:" is an error, so that a typo
 * never silently runs a file under the wrong rules.
 *
 * migrator/migration_directives.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATOR_MIGRATION_DIRECTIVES_H
#define MIGRATOR_MIGRATION_DIRECTIVES_H

#include <stdbool.h>

#include "migration_files.h"

/*
 * Read the directives of src (the text of the file at path, used only in
 * messages) into m: no_transaction, allow_dml, required_indexes (appended,
 * owned by m).  is_verify refuses every directive but "allow RULE".  Returns
 * false after logging one line per unknown or misplaced directive; m may
 * then hold the directives read before and after it.  Exposed for the
 * fuzzer (tests/fuzz/migration_files_fuzz.c).
 */
bool migration_read_directives(migration *m, const char *path, const char *src, bool is_verify);

#endif /* MIGRATOR_MIGRATION_DIRECTIVES_H */
