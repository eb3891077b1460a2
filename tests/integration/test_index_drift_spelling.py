"""
test_index_drift_spelling.py
    The comparison of a definition with the database's index never takes a
    qualifier or a cast the file wrote for spelling (adversarial review of
    session 12).  Both sides used to lose "pg_catalog." and "<schema>." and
    every cast around a column or a constant, so that:

    - a file that qualifies pg_catalog.lower(email), as the README advises
      where a schema is shared, was "in line" with an index calling the
      public.lower(varchar) overload that a role with CREATE on public had
      planted, and --rebuild-drifted never replaced it;
    - an index on ((flag)::text) was "in line" with a file's
      ((flag::bigint)), and one WHERE (flag)::numeric > 1.5 with a file's
      WHERE flag::integer > 1.5::integer.

    Each case asserts check's exit code and line, what --rebuild-drifted
    does, and the database's definition afterwards; the spellings the
    server really adds stay in line.

tests/integration/test_index_drift_spelling.py
"""

from test_indexer import ERROR, IndexerTestCase

TABLE = "CREATE TABLE t (id int, email varchar(100), flag int)"


def definition(name, tail):
    return {"name": name, "table": "t", "critical": True,
            "sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON t %s" % (name, tail)}


class QualifiedNames(IndexerTestCase):

    def setUp(self):
        super().setUp()
        self.query(TABLE)
        # the overload a role with CREATE on public plants: an exact match for varchar
        self.query("CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql IMMUTABLE "
                   "AS $$ SELECT 'pwned'::text $$")

    def calls(self, index):
        """The functions outside pg_catalog that the index's expressions call."""
        return [r[0] for r in self.query(
            "SELECT p.pronamespace::regnamespace::text || '.' || p.proname FROM pg_depend d "
            "JOIN pg_proc p ON p.oid = d.refobjid WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = %s::regclass AND d.refclassid = 'pg_proc'::regclass ORDER BY 1",
            ("public." + index,))]

    def test_the_files_pg_catalog_is_not_the_planted_overload(self):
        self.query("CREATE INDEX idx_e ON t (public.lower(email))")
        self.assertEqual(self.calls("idx_e"), ["public.lower"])
        cfg = self.config([definition("idx_e", "(pg_catalog.lower(email))")])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_e" on "public.t" drifted: the database has '
                                            r'"CREATE INDEX idx_e ON public.t USING btree \(public\.lower\(email\)\)"')
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'^indexer: rebuilt "idx_e" on "public.t" in ')
        self.assertEqual(self.calls("idx_e"), [])  # pg_catalog's are pinned: no pg_depend row
        self.assertExit(self.indexer(cfg, "check"), 0)

    def test_an_unqualified_name_that_shadows_pg_catalog_is_never_in_line_unchecked(self):
        # the build resolves an unqualified lower with pg_catalog first: an index calling the
        # schema's lower may be what it made (the planted varchar overload fits better) or the
        # planted object itself (one of the same signature, second review of session 12);
        # offline the two cannot be told apart, so check says so instead of "in line"
        cfg = self.config([definition("idx_u", "(lower(email))")])
        self.assertExit(self.indexer(cfg), 0)
        self.assertEqual(self.calls("idx_u"), ["public.lower"])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_u" on "public.t" is not known to be in line: '
                                            r'cannot compare: .*may shadow pg_catalog\'s object of that name')
        # qualified in the file, as the database has it: compared, and in line
        cfg = self.config([definition("idx_u", "(public.lower(email))")])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"is in line")

    def test_a_function_pg_catalog_does_not_have_is_the_schemas(self):
        self.query("CREATE FUNCTION public.my_unaccent(varchar) RETURNS text LANGUAGE sql IMMUTABLE "
                   "AS $$ SELECT $1::text $$")
        cfg = self.config([definition("idx_m", "(my_unaccent(email))")])
        self.assertExit(self.indexer(cfg), 0)
        r = self.indexer(cfg, "check")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"is in line")


class Casts(IndexerTestCase):

    def setUp(self):
        super().setUp()
        self.query(TABLE)

    def check_drifted(self, name, db_tail, file_tail, db_def):
        self.query("CREATE INDEX %s ON t %s" % (name, db_tail))
        cfg = self.config([definition(name, file_tail)])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'critical index "%s" on "public.t" drifted: ' % name)
        self.assertEqual(self.indexdef(name), db_def)
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertNotEqual(self.indexdef(name), db_def)
        self.assertExit(self.indexer(cfg, "check"), 0)

    def test_a_key_cast_to_another_type_is_drift(self):
        self.check_drifted("idx_c", "((flag::text))", "((flag::bigint))",
                           "CREATE INDEX idx_c ON public.t USING btree (((flag)::text))")

    def test_a_predicate_cast_to_another_type_is_drift(self):
        self.check_drifted("idx_p", "(id) WHERE flag::numeric > 2", "(id) WHERE flag::bigint > 2",
                           "CREATE INDEX idx_p ON public.t USING btree (id) WHERE ((flag)::numeric > (2)::numeric)")

    def test_a_cast_only_the_database_shows_around_a_key_is_drift(self):
        self.check_drifted("idx_k", "((email::text))", "((email))",
                           "CREATE INDEX idx_k ON public.t USING btree (((email)::text))")

    def test_a_cast_only_the_file_writes_is_never_in_line_unchecked(self):
        # the server leaves out a cast to the type a column has (flag is an integer), so
        # flag::integer is not compared: never "in line" by assumption, and the line says why
        cfg = self.config([definition("idx_r", "(id) WHERE flag::integer > 1")])
        self.assertExit(self.indexer(cfg), 0)
        self.assertEqual(self.indexdef("idx_r"), "CREATE INDEX idx_r ON public.t USING btree (id) WHERE (flag > 1)")
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_r" on "public.t" is not known to be in line: '
                                            r'cannot compare: .*a cast that the file writes and the database')

    def test_the_casts_the_server_adds_stay_in_line(self):
        defs = [definition("idx_l", "(lower(email))"),
                definition("idx_w", "(id) WHERE flag > 1.5 AND email LIKE 'a%'"),
                definition("idx_x", "((flag::text))")]
        self.assertExit(self.indexer(self.config(defs)), 0)
        self.assertEqual(self.indexdef("idx_w"), "CREATE INDEX idx_w ON public.t USING btree (id) WHERE "
                                                 "(((flag)::numeric > 1.5) AND ((email)::text ~~ 'a%'::text))")
        r = self.indexer(self.config(defs), "check")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"check: all 3 defined indexes checked are in line")

    def test_a_keys_collate_is_its_collation(self):
        # the server strips a key's top-level COLLATE into the key's collation: the file's
        # ((lower(email) COLLATE "C")) was "drifted" after its own build, and --rebuild-drifted
        # rebuilt it on every run (second review of session 12)
        cfg = self.config([definition("idx_k", '((lower(email) COLLATE "C"))')])
        self.assertExit(self.indexer(cfg), 0)
        self.assertEqual(self.indexdef("idx_k"),
                         'CREATE INDEX idx_k ON public.t USING btree (lower((email)::text) COLLATE "C")')
        r = self.indexer(cfg, "check")
        self.assertExit(r, 0)
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertNoLine(r, r'rebuilding|rebuilt "idx_k"')
        self.assertLastLineMatches(r, r"summary: 0 built, 1 present, 0 repaired, 0 rebuilt")
