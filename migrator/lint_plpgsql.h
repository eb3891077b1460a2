/*-------------------------------------------------------------------------
 *
 * lint_plpgsql.h
 *	  The DO-block walker's state, shared by lint_plpgsql.c (the walk) and
 *	  lint_handlers.c (exception handlers).
 *
 * A do_walk lives for one DO statement: the body's text, where it stands in
 * the file (when it does byte for byte) and its tokens, scanned once when a
 * handler's line is first needed.  The JSON values are the PL/pgSQL
 * parser's output, read with jansson and owned by the walk.
 *
 * migrator/lint_plpgsql.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LINT_PLPGSQL_H
#define TOOLKIT_LINT_PLPGSQL_H

#include <jansson.h>

#include "lint_internal.h"

/* A DO body being walked. */
typedef struct do_walk
{
	lint_state          *st;
	const stmt_ctx      *ctx;       /* of the DO statement */
	int                  body_off;  /* file offset of the body; -1 if not in the
								 * file verbatim */
	int                  body_line; /* file line of the body's line 1 */
	const char          *body;      /* the body's text */
	PgQuery__ScanResult *tokens;    /* of body, scanned when first needed;
								 * NULL until then or if it does not scan */
	bool                 scanned;
	int                  handlers_end; /* body offset after the last handler
								 * condition placed so far */
} do_walk;

/*
 * The context of a statement on body line lineno of the DO block: its file
 * line and the column where query (NULL: the line's first non-blank) starts,
 * when the body is in the file verbatim; else the DO statement's.
 */
void lint_nested_ctx(const do_walk *w, int lineno, const char *query, stmt_ctx *out);

/*
 * swallowed-error for the exception handlers of one PLpgSQL_stmt_block
 * (block, starting on body line block_line), after the blocks inside it.
 */
void lint_check_exception_block(do_walk *w, json_t *block, int block_line);

#endif /* TOOLKIT_LINT_PLPGSQL_H */
