/*-------------------------------------------------------------------------
 *
 * exitcodes.h
 *	  The one exit-code table of the toolkit, shared by migrator and indexer.
 *
 * Only main() exits; everything below it returns one of these codes (or
 * EXIT_OK) up the call chain.  The table is printed by --help and README.md
 * repeats it; keep the three in step.
 *
 * common/exitcodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_EXITCODES_H
#define TOOLKIT_EXITCODES_H

typedef enum toolkit_exit
{
	EXIT_OK = 0,               /* success */
	EXIT_CHANGE_FAILED = 1,    /* a change failed while applying */
	EXIT_USAGE = 2,            /* invalid usage or input */
	EXIT_UNREACHABLE = 3,      /* database unreachable, auth failure, no db */
	EXIT_LOCKED = 4,           /* another run holds the lock past --lock-wait */
	EXIT_BEHIND = 5,           /* check: database behind the files */
	EXIT_HISTORY_MISMATCH = 6, /* history disagrees with the files */
	EXIT_SIGINT = 130,         /* interrupted by SIGINT */
	EXIT_SIGTERM = 143         /* interrupted by SIGTERM */
} toolkit_exit;

/* The table as --help prints it: one line a code, no trailing newline. */
#define EXIT_CODES_HELP                                                                                      \
	"Exit codes:\n"                                                                                          \
	"  0    success\n"                                                                                       \
	"  1    a change failed while applying\n"                                                                \
	"  2    invalid usage or input\n"                                                                        \
	"  3    database unreachable (also authentication failure, missing database)\n"                          \
	"  4    another run holds the lock past --lock-wait\n"                                                   \
	"  5    check: the database is behind the files\n"                                                       \
	"  6    the history disagrees with the files (an applied file changed or is missing)\n"                  \
	"  130  interrupted by SIGINT\n"                                                                         \
	"  143  interrupted by SIGTERM\n"

#endif /* TOOLKIT_EXITCODES_H */
