/*-------------------------------------------------------------------------
 *
 * main.c
 *	  indexer: concurrent index builds from a libconfig file (placeholder
 *	  until its own issue lands; it refuses to pretend it did anything).
 *
 * indexer/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "log.h"

int
main(int argc, char **argv)
{
	log_init("indexer", LOG_FORMAT_TEXT, 0);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
	{
		printf("indexer: not implemented yet\n\n%s", EXIT_CODES_HELP);
		return EXIT_OK;
	}
	log_error("not implemented yet");
	return EXIT_USAGE;
}
