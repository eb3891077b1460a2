/*-------------------------------------------------------------------------
 *
 * migration_directives.c
 *	  The "-- migrator:WORD ARG" directives of a migration or verify file.
 *
 * migrator/migration_directives.c
 *
 *-------------------------------------------------------------------------
 */
#include "migration_directives.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "memory.h"

#define DIRECTIVE_PREFIX "migrator:"

/*
 * Act on the directive "migrator:WORD ARG" found at path:line (in_header:
 * still in the file's leading comment block): set what it says in m.
 * Returns false after logging when it is misplaced, unknown or lacks its
 * argument.
 */
static bool
apply_directive(migration *m, const char *path, int line, const char *word, const char *arg, bool in_header,
				bool is_verify)
{
	if (strcmp(word, "allow") == 0)
	{
		if (*arg == '\0')
		{
			log_event(LOG_LEVEL_ERROR, "invalid_file", NULL,
					  "%s:%d: directive \"migrator:allow\" needs a rule name", path, line);
			return false;
		}
	}
	else if (!in_header)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_file", NULL,
				  "%s:%d: directive \"migrator:%s\" must be in the file's leading comment block", path, line,
				  word);
		return false;
	}
	else if (is_verify)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_file", NULL,
				  "%s:%d: directive \"migrator:%s\" has no meaning in a verify file", path, line, word);
		return false;
	}
	else if (strcmp(word, "no-transaction") == 0 && *arg == '\0')
		m->no_transaction = true;
	else if (strcmp(word, "allow-dml") == 0 && *arg == '\0')
		m->allow_dml = true;
	else if (strcmp(word, "requires-index") == 0 && *arg != '\0' && strcspn(arg, " \t") == strlen(arg))
	{
		ARRAY_GROW(m->required_indexes, m->n_required_indexes + 1, m->cap_required_indexes);
		m->required_indexes[m->n_required_indexes++] = xstrdup(arg);
	}
	else
	{
		log_event(
			LOG_LEVEL_ERROR, "invalid_file", NULL,
			"%s:%d: unknown directive \"migrator:%s%s%s\" (known: no-transaction, allow-dml, requires-index NAME, allow RULE)",
			path, line, word, *arg ? " " : "", arg);
		return false;
	}
	return true;
}

/*
 * The text of a "--" comment from c to end (blanks after the dashes and at
 * the end already skipped): when it is a directive, split it into its word
 * and argument and act on it.  Returns false only for a bad directive.
 */
static bool
read_comment_directive(migration *m, const char *path, int line, const char *c, const char *end,
					   bool in_header, bool is_verify)
{
	char *word;
	char *arg;
	bool  ok;

	if ((size_t) (end - c) < strlen(DIRECTIVE_PREFIX) ||
		strncmp(c, DIRECTIVE_PREFIX, strlen(DIRECTIVE_PREFIX)) != 0)
		return true;
	word = xstrndup(c + strlen(DIRECTIVE_PREFIX), (size_t) (end - c) - strlen(DIRECTIVE_PREFIX));
	arg = word + strcspn(word, " \t");
	/* "allow RULE" excuses the statement below it: it may stand anywhere */
	if (*arg)
	{
		*arg++ = '\0';
		arg += strspn(arg, " \t");
	}
	ok = apply_directive(m, path, line, word, arg, in_header, is_verify);
	free(word);
	return ok;
}

bool
migration_read_directives(migration *m, const char *path, const char *src, bool is_verify)
{
	const char *p = src;
	int         line = 1;
	bool        in_header = true;
	bool        ok = true;

	/* a UTF-8 byte-order mark is not part of the first line */
	if ((unsigned char) p[0] == 0xEF && (unsigned char) p[1] == 0xBB && (unsigned char) p[2] == 0xBF)
		p += 3;
	while (*p)
	{
		/* LF, CRLF and a lone CR end a line, as for the parser and the lint */
		const char *eol = p + strcspn(p, "\r\n");
		size_t      len = (size_t) (eol - p);
		const char *s = p;
		const char *end = p + len;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (s < end && !(end - s >= 2 && s[0] == '-' && s[1] == '-'))
			in_header = false;
		else if (end - s >= 2)
		{
			const char *c = s + 2;

			while (c < end && (*c == ' ' || *c == '\t'))
				c++;
			if (!read_comment_directive(m, path, line, c, end, in_header, is_verify))
				ok = false;
		}
		if (*eol == '\0')
			break;
		p = eol + (eol[0] == '\r' && eol[1] == '\n' ? 2 : 1);
		line++;
	}
	return ok;
}
