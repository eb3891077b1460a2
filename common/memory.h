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
typedef struct strbuf
{
	char  *data; /* always NUL-terminated once initialised */
	size_t len;
	size_t cap;
} strbuf;

void strbuf_init(strbuf *sb);
void strbuf_append(strbuf *sb, const char *s);
void strbuf_append_len(strbuf *sb, const char *s, size_t n);
void strbuf_appendf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vappendf(strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void strbuf_append_char(strbuf *sb, char c);
/* append s as a JSON string literal, quotes included */
void strbuf_append_json(strbuf *sb, const char *s);
void strbuf_reset(strbuf *sb);
/* hand the buffer to the caller (who frees it) and leave sb empty */
char *strbuf_detach(strbuf *sb);
void  strbuf_free(strbuf *sb);

#endif /* TOOLKIT_MEMORY_H */
