/*-------------------------------------------------------------------------
 *
 * help.h
 *	  indexer --help (kept apart from main.c, which parses what it names).
 *
 * indexer/help.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_HELP_H
#define INDEXER_HELP_H

#include <stdio.h>

#include "cli.h"

/* The default definitions file, relative to the working directory. */
#define INDEXER_DEFAULT_CONFIG "conf/indexes.cfg"

/* Print the whole --help text to out; program lists the commands. */
void indexer_help(FILE *out, const cli_program *program);

#endif /* INDEXER_HELP_H */
