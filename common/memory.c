/*-------------------------------------------------------------------------
 *
 * memory.c
 *	  Allocation wrappers, a growable array helper and a growable string
 *	  buffer.
 *
 * common/memory.c
 *
 *-------------------------------------------------------------------------
 */
#include "memory.h"

#include <limits.h>
#include <stdint.h>
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

void *
xgrow_array(void *items, size_t elem_size, int want, int *cap)
{
	int new_cap;

	if (want <= *cap)
		return items;
	/* doubling: n appends copy O(n) elements in total, not O(n^2) */
	if (*cap < 8)
		new_cap = 8;
	else if (*cap > INT_MAX / 2)
		new_cap = INT_MAX;
	else
		new_cap = *cap * 2;
	if (new_cap < want)
		new_cap = want;
	/* a size that wraps would hand back a short buffer: treat it as exhaustion */
	if (elem_size != 0 && (size_t) new_cap > SIZE_MAX / elem_size)
		out_of_memory();
	items = xrealloc(items, elem_size * (size_t) new_cap);
	*cap = new_cap;
	return items;
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
	textbuf sb;
	va_list ap;

	textbuf_init(&sb);
	va_start(ap, fmt);
	textbuf_vappendf(&sb, fmt, ap);
	va_end(ap);
	return textbuf_detach(&sb);
}

void
textbuf_init(textbuf *sb)
{
	sb->cap = 64;
	sb->len = 0;
	sb->data = xmalloc(sb->cap);
	sb->data[0] = '\0';
}

static void
textbuf_reserve(textbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	while (sb->len + extra + 1 > sb->cap)
		sb->cap *= 2;
	sb->data = xrealloc(sb->data, sb->cap);
}

void
textbuf_append_len(textbuf *sb, const char *s, size_t n)
{
	textbuf_reserve(sb, n);
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
textbuf_append(textbuf *sb, const char *s)
{
	textbuf_append_len(sb, s, strlen(s));
}

void
textbuf_append_char(textbuf *sb, char c)
{
	textbuf_append_len(sb, &c, 1);
}

void
textbuf_vappendf(textbuf *sb, const char *fmt, va_list ap)
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
		textbuf_reserve(sb, (size_t) n);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	}
	sb->len += (size_t) n;
}

void
textbuf_appendf(textbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	textbuf_vappendf(sb, fmt, ap);
	va_end(ap);
}

void
textbuf_append_visible(textbuf *sb, const char *s, bool cell)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (cell && *p == '\\')
			textbuf_append(sb, "\\\\");
		else if (*p == '\n' || *p == '\r')
			textbuf_append(sb, !cell ? " " : *p == '\n' ? "\\n" : "\\r");
		else if (*p == '\t')
			textbuf_append(sb, cell ? "\\t" : "\t");
		else if (*p < 0x20 || *p == 0x7f)
			textbuf_appendf(sb, "\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			textbuf_appendf(sb, "\\u%04x", *++p);
		else
			textbuf_append_char(sb, (char) *p);
	}
}

char *
text_visible(const char *s, bool cell)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append_visible(&sb, s, cell);
	return textbuf_detach(&sb);
}

void
textbuf_append_json(textbuf *sb, const char *s)
{
	textbuf_append_char(sb, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				textbuf_append(sb, "\\\"");
				break;
			case '\\':
				textbuf_append(sb, "\\\\");
				break;
			case '\n':
				textbuf_append(sb, "\\n");
				break;
			case '\r':
				textbuf_append(sb, "\\r");
				break;
			case '\t':
				textbuf_append(sb, "\\t");
				break;
			default:
				/* every control character escaped, DEL and C1 too (as text_visible), so that
				 * a JSON log read on a terminal carries no raw escape sequence either */
				if (*p < 0x20 || *p == 0x7f)
					textbuf_appendf(sb, "\\u%04x", *p);
				else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
					textbuf_appendf(sb, "\\u%04x", *++p);
				else
					textbuf_append_char(sb, (char) *p);
		}
	}
	textbuf_append_char(sb, '"');
}

void
textbuf_reset(textbuf *sb)
{
	sb->len = 0;
	sb->data[0] = '\0';
}

char *
textbuf_detach(textbuf *sb)
{
	char *p = sb->data;

	sb->data = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void
textbuf_free(textbuf *sb)
{
	if (sb == NULL)
		return;
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}
