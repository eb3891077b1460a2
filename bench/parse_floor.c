/*-------------------------------------------------------------------------
 *
 * parse_floor.c
 *	  Benchmark baseline: PostgreSQL's parser alone over a list of SQL files.
 *
 * Reads each file named on the command line and parses it once with
 * pg_query_parse_protobuf(), the same libpg_query entry point (and the same
 * shared library) that "migrator lint" starts from, then throws the result
 * away.  No lexer pass, no unpacking of the tree, no PL/pgSQL parse of DO
 * bodies, no lint rules, no checksum, no file-name checks: this is the floor
 * that any linter built on PostgreSQL's own parser cannot go below, so
 * "migrator lint" time divided by this time is what the migrator adds on top
 * of parsing.
 *
 * Exit 0 when every file parsed, 1 when one did not (the first error is
 * printed), 2 on usage or I/O errors.  Built by bench/run.sh, not by CMake.
 *
 * bench/parse_floor.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>

/* Read the whole file into a NUL-terminated buffer; NULL on error. */
static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long  len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto done;
	buf = malloc((size_t) len + 1);
	if (buf == NULL)
		goto done;
	if (fread(buf, 1, (size_t) len, f) != (size_t) len)
	{
		free(buf);
		buf = NULL;
		goto done;
	}
	buf[len] = '\0';
done:
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2)
	{
		fprintf(stderr, "usage: parse_floor FILE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
	{
		char                      *text = read_file(argv[i]);
		PgQueryProtobufParseResult res;

		if (text == NULL)
		{
			fprintf(stderr, "parse_floor: could not read \"%s\"\n", argv[i]);
			return 2;
		}
		res = pg_query_parse_protobuf(text);
		if (res.error != NULL && rc == 0)
		{
			fprintf(stderr, "parse_floor: %s: %s\n", argv[i], res.error->message);
			rc = 1;
		}
		pg_query_free_protobuf_parse_result(res);
		free(text);
	}
	return rc;
}
