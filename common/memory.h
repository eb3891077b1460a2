/*-------------------------------------------------------------------------
 *
 * memory.h
 *	  Allocation wrappers and a growable string buffer.
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
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation; caller frees */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
void textbuf_reset(textbuf *sb);
/* hand the buffer to the caller (who frees it) and leave sb empty */
char *textbuf_detach(textbuf *sb);
void  textbuf_free(textbuf *sb);

#endif /* TOOLKIT_MEMORY_H */
