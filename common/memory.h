/*-------------------------------------------------------------------------
 *
 * memory.h
 *	  Allocation wrappers, a growable array helper and a growable string
 *	  buffer.
 *
 * The x* functions never return NULL: on exhaustion they print
 * "out of memory" and exit (the one exception to "only main exits", as in
 * PostgreSQL's pg_malloc), so callers never check.  All free functions
 * accept NULL.
 *
 * common/memory.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_MEMORY_H
#define TOOLKIT_MEMORY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation; caller frees */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Growable arrays, in the style of git's ALLOC_GROW: an array is a pointer,
 * a count and a capacity.  Start with items NULL and cap 0; the count is the
 * caller's business.  To append one element:
 *
 *		ARRAY_GROW(list->items, list->n + 1, list->cap);
 *		list->items[list->n++] = value;
 *
 * xgrow_array returns items (possibly moved) with room for at least want
 * elements of elem_size bytes.  If want <= *cap it returns items unchanged
 * and allocates nothing.  Otherwise the new capacity is the larger of want
 * and max(2 * *cap, 8), so n appends cost O(n) copying in total.  The first
 * *cap elements are kept; the rest are uninitialised.  *cap is updated to
 * the allocated capacity and must only ever be changed by this function (a
 * caller that resets its count to 0 keeps cap and items; one that frees
 * items sets cap back to 0).  want < 0 is a caller bug and is treated as 0.
 * If the capacity or capacity * elem_size would overflow int or size_t it
 * prints "out of memory" and exits, like the other x* functions.
 */
void *xgrow_array(void *items, size_t elem_size, int want, int *cap);
#define ARRAY_GROW(items, want, cap) ((items) = xgrow_array((items), sizeof(*(items)), (want), &(cap)))

/* A NUL-terminated string that grows as it is appended to. */
typedef struct textbuf
{
	char  *data; /* always NUL-terminated once initialised */
	size_t len;
	size_t cap;
} textbuf;

void textbuf_init(textbuf *sb);
void textbuf_append(textbuf *sb, const char *s);
void textbuf_append_len(textbuf *sb, const char *s, size_t n);
void textbuf_appendf(textbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void textbuf_vappendf(textbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void textbuf_append_char(textbuf *sb, char c);
/* append s as a JSON string literal, quotes included */
void textbuf_append_json(textbuf *sb, const char *s);
/*
 * s as a terminal may safely show it: the text can come from the server
 * and from rows other roles wrote (an error's "Key (k)=(...)", a stored
 * failure), so no control character reaches the terminal raw (an ESC
 * sequence can clear or rewrite what the operator reads).  C0 controls and
 * DEL become \xNN, C1 controls (UTF-8 U+0080..U+009F) \u00NN.  As a table
 * cell (cell true) a backslash is doubled and \n, \r, \t are written so,
 * which makes the escapes unambiguous; in a log line (cell false) a newline
 * or carriage return becomes a space (one event, one line) and a tab stays.
 */
void textbuf_append_visible(textbuf *sb, const char *s, bool cell);
/* the same, as a new string (caller frees) */
char *text_visible(const char *s, bool cell);
void  textbuf_reset(textbuf *sb);
/* hand the buffer to the caller (who frees it) and leave sb empty */
char *textbuf_detach(textbuf *sb);
void  textbuf_free(textbuf *sb);

#endif /* TOOLKIT_MEMORY_H */
