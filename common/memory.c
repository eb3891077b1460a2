/*-------------------------------------------------------------------------
 *
 * memory.c
 *	  Allocation wrappers and a growable string buffer.
 *
 * common/memory.c
 *
 *-------------------------------------------------------------------------
 */
#include "memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
out_of_memory(void)
{
	/* fputs, not the logger: the logger itself allocates */
	fputs("out of memory\n", stderr);
	exit(1);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		out_of_memory();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		out_of_memory();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	strbuf  sb;
	va_list ap;

	strbuf_init(&sb);
	va_start(ap, fmt);
	strbuf_vappendf(&sb, fmt, ap);
	va_end(ap);
	return strbuf_detach(&sb);
}

void
strbuf_init(strbuf *sb)
{
	sb->cap = 64;
	sb->len = 0;
	sb->data = xmalloc(sb->cap);
	sb->data[0] = '\0';
}

static void
strbuf_reserve(strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	while (sb->len + extra + 1 > sb->cap)
		sb->cap *= 2;
	sb->data = xrealloc(sb->data, sb->cap);
}

void
strbuf_append_len(strbuf *sb, const char *s, size_t n)
{
	strbuf_reserve(sb, n);
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
strbuf_append(strbuf *sb, const char *s)
{
	strbuf_append_len(sb, s, strlen(s));
}

void
strbuf_append_char(strbuf *sb, char c)
{
	strbuf_append_len(sb, &c, 1);
}

void
strbuf_vappendf(strbuf *sb, const char *fmt, va_list ap)
{
	va_list ap2;
	int     n;

	va_copy(ap2, ap);
	n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t) n >= sb->cap - sb->len)
	{
		strbuf_reserve(sb, (size_t) n);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	}
	sb->len += (size_t) n;
}

void
strbuf_appendf(strbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vappendf(sb, fmt, ap);
	va_end(ap);
}

void
strbuf_append_json(strbuf *sb, const char *s)
{
	strbuf_append_char(sb, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				strbuf_append(sb, "\\\"");
				break;
			case '\\':
				strbuf_append(sb, "\\\\");
				break;
			case '\n':
				strbuf_append(sb, "\\n");
				break;
			case '\r':
				strbuf_append(sb, "\\r");
				break;
			case '\t':
				strbuf_append(sb, "\\t");
				break;
			default:
				if (*p < 0x20)
					strbuf_appendf(sb, "\\u%04x", *p);
				else
					strbuf_append_char(sb, (char) *p);
		}
	}
	strbuf_append_char(sb, '"');
}

void
strbuf_reset(strbuf *sb)
{
	sb->len = 0;
	sb->data[0] = '\0';
}

char *
strbuf_detach(strbuf *sb)
{
	char *p = sb->data;

	sb->data = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void
strbuf_free(strbuf *sb)
{
	if (sb == NULL)
		return;
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}
