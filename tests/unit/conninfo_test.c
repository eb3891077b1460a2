/*-------------------------------------------------------------------------
 *
 * conninfo_test.c
 *	  Unit tests for common/conninfo.c: refusing misencoded URIs, masking,
 *	  scrubbing argv, and one attempt per host with the toolkit's defaults.
 *
 * No server is needed: everything here works on connection strings.
 *
 * tests/unit/conninfo_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conninfo.h"

static void
test_uri_needs_encoding(void **state)
{
	(void) state;
	assert_true(conninfo_uri_needs_encoding("postgresql://u:p@ss@host/db"));
	assert_true(conninfo_uri_needs_encoding("postgresql://u:pa/ss@host/db"));
	assert_true(conninfo_uri_needs_encoding("postgres://u:a@b/c@host:5432/db"));
	assert_false(conninfo_uri_needs_encoding("postgresql://u:p%40ss%2F@host/db"));
	assert_false(conninfo_uri_needs_encoding("postgresql://host/db?user=a@b"));
	assert_false(conninfo_uri_needs_encoding("postgresql://u@h1:5432,h2:5433/db"));
	assert_false(conninfo_uri_needs_encoding("host=x password=p@ss/word"));
	assert_false(conninfo_uri_needs_encoding(""));
}

static void
test_has_password(void **state)
{
	(void) state;
	assert_true(conninfo_has_password("host=x password=secret"));
	assert_true(conninfo_has_password("postgresql://u:secret@h/db"));
	assert_true(conninfo_has_password("postgresql://u@h/db?password=secret"));
	assert_false(conninfo_has_password("host=x user=u"));
	assert_false(conninfo_has_password("postgresql://u@h/db"));
	/* does not parse: assume the worst */
	assert_true(conninfo_has_password("host=x password=s bogus=1"));
	assert_true(conninfo_has_password("postgresql://u:s@[::1/x"));
}

static void
test_mask_quoted(void **state)
{
	char *m;

	(void) state;
	m = conninfo_mask_quoted("invalid integer value \"S3cr\" for connection option \"port\"");
	assert_string_equal(m, "invalid integer value \"***\" for connection option \"***\"");
	free(m);
	m = conninfo_mask_quoted("unterminated \"abc");
	assert_string_equal(m, "unterminated \"***\"");
	free(m);
	m = conninfo_mask_quoted("nothing quoted");
	assert_string_equal(m, "nothing quoted");
	free(m);
	m = conninfo_reason("first \"line\"  \nsecond \"line\"\n", true);
	assert_string_equal(m, "first \"***\"");
	free(m);
	m = conninfo_reason("first \"line\"\nsecond", false);
	assert_string_equal(m, "first \"line\"");
	free(m);
}

static void
test_scrub(void **state)
{
	static const struct
	{
		const char *in;
		const char *out;
	} cases[] = {
		{"host=x password=secret user=u", "host=x password=****** user=u"},
		{"host=x password = 'se cr\\'et' user=u", "host=x password = '*********' user=u"},
		{"host=x mypassword=keep", "host=x mypassword=keep"},
		{"postgresql://u:secret@h:5432/db", "postgresql://u:******@h:5432/db"},
		{"postgresql://u:p@ss@h/db", "postgresql://u:****@h/db"},
		{"postgresql://u@h/db?sslmode=require&password=secret&x=1",
		 "postgresql://u@h/db?sslmode=require&password=******&x=1"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *buf = strdup(cases[i].in);

		conninfo_scrub_in_place(buf);
		assert_string_equal(buf, cases[i].out);
		free(buf);
	}
}

static const char *
value_of(const conninfo_attempt *at, const char *keyword)
{
	for (int i = 0; at->keywords[i]; i++)
		if (strcmp(at->keywords[i], keyword) == 0)
			return at->values[i];
	return NULL;
}

static void
test_attempts_per_host(void **state)
{
	conninfo_attempts a;
	char             *why = NULL;

	(void) state;
	assert_true(conninfo_attempts_build("host=a,b port=1,2 dbname=d connect_timeout=3 keepalives_idle=99 "
										"options='-c x=1'",
										"prog", false, &a, &why));
	assert_int_equal(a.n, 2);
	assert_int_equal(a.connect_timeout_ms, 3000);
	assert_string_equal(value_of(&a.items[0], "host"), "a");
	assert_string_equal(value_of(&a.items[0], "port"), "1");
	assert_string_equal(value_of(&a.items[1], "host"), "b");
	assert_string_equal(value_of(&a.items[1], "port"), "2");
	/* the string's own settings win; ours fill the gaps */
	assert_string_equal(value_of(&a.items[1], "keepalives_idle"), "99");
	assert_string_equal(value_of(&a.items[1], "tcp_user_timeout"), "60000");
	assert_string_equal(value_of(&a.items[1], "options"), "-c x=1");
	assert_string_equal(value_of(&a.items[1], "fallback_application_name"), "prog");
	assert_string_equal(value_of(&a.items[1], "dbname"), "d");
	conninfo_attempts_free(&a);

	/* one port for every host; the default bound is 10s */
	assert_true(conninfo_attempts_build("host=h1,h2 port=7", "prog", false, &a, &why));
	assert_int_equal(a.n, 2);
	assert_int_equal(a.connect_timeout_ms, 10000);
	assert_string_equal(value_of(&a.items[1], "port"), "7");
	conninfo_attempts_free(&a);

	/* a URI host without a port: libpq's default port for that host */
	assert_true(conninfo_attempts_build("postgresql://u@h1,h2:7/db", "prog", false, &a, &why));
	assert_int_equal(a.n, 2);
	assert_null(value_of(&a.items[0], "port"));
	assert_string_equal(value_of(&a.items[1], "port"), "7");
	conninfo_attempts_free(&a);

	/* counts libpq refuses stay whole, for libpq to report */
	assert_true(conninfo_attempts_build("host=a,b,c port=1,2", "prog", false, &a, &why));
	assert_int_equal(a.n, 1);
	assert_string_equal(value_of(&a.items[0], "host"), "a,b,c");
	conninfo_attempts_free(&a);

	assert_false(conninfo_attempts_build("host=x bogus=1", "prog", false, &a, &why));
	assert_non_null(why);
	free(why);
}

/* A writing command asks every host for a writable session, unless told otherwise. */
static void
test_attempts_read_write(void **state)
{
	conninfo_attempts a;
	char             *why = NULL;

	(void) state;
	unsetenv("PGTARGETSESSIONATTRS");
	/* a reading command: libpq's default, "any" */
	assert_true(conninfo_attempts_build("host=a,b", "prog", false, &a, &why));
	assert_null(value_of(&a.items[0], "target_session_attrs"));
	assert_false(a.want_writable);
	conninfo_attempts_free(&a);

	/* a writing command: read-write on every host */
	assert_true(conninfo_attempts_build("host=a,b", "prog", true, &a, &why));
	assert_string_equal(value_of(&a.items[0], "target_session_attrs"), "read-write");
	assert_string_equal(value_of(&a.items[1], "target_session_attrs"), "read-write");
	assert_true(a.want_writable);
	conninfo_attempts_free(&a);

	/* the string's own setting wins, whatever it is */
	assert_true(conninfo_attempts_build("host=a target_session_attrs=any", "prog", true, &a, &why));
	assert_string_equal(value_of(&a.items[0], "target_session_attrs"), "any");
	assert_false(a.want_writable);
	conninfo_attempts_free(&a);
	assert_true(
		conninfo_attempts_build("postgresql://h/db?target_session_attrs=primary", "prog", true, &a, &why));
	assert_string_equal(value_of(&a.items[0], "target_session_attrs"), "primary");
	assert_true(a.want_writable);
	conninfo_attempts_free(&a);

	/* so does libpq's variable: not overridden, left to libpq */
	setenv("PGTARGETSESSIONATTRS", "prefer-standby", 1);
	assert_true(conninfo_attempts_build("host=a", "prog", true, &a, &why));
	assert_null(value_of(&a.items[0], "target_session_attrs"));
	assert_false(a.want_writable);
	conninfo_attempts_free(&a);
	unsetenv("PGTARGETSESSIONATTRS");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_needs_encoding), cmocka_unit_test(test_has_password),
		cmocka_unit_test(test_mask_quoted),        cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_attempts_per_host),  cmocka_unit_test(test_attempts_read_write),
	};

	unsetenv("PGHOST");
	unsetenv("PGPORT");
	unsetenv("PGHOSTADDR");
	unsetenv("PGSERVICE");
	unsetenv("PGCONNECT_TIMEOUT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
