"""
test_trust_capture.py
    The toolkit's own SQL cannot be captured (issue 9, part 1).

Threat model: migration files and index definitions are trusted; any role
that can create objects in the target schema is hostile.  Here that role is
"mallory": NOLOGIN, with only USAGE and CREATE on the schema "app".

The test lists, from the C string literals of common/, migrator/ and
indexer/ that look like SQL, every function name and operator symbol the
toolkit's own SQL uses, so that a new query cannot slip by; plants, as
mallory, an overload in "app" for every one of them that would beat
pg_catalog's if "app" were on the search path (a "name" argument where
pg_catalog takes "text", concrete types for polymorphic ones, numeric and
integer swapped, exact copies); sets "app" as the database's default
search_path (a realistic setting, and the worst case: any connection the
tools forget to reset runs with it); runs every command of both programs as
the superuser; and asserts that no planted body ran.

A planted body leaves three traces, so that neither a rolled-back nor a
read-only transaction hides it: a row in a world-writable log table, a
nextval() of a sequence (not transactional), and, when the caller is a
superuser, a server-side file written with COPY TO (allowed in read-only
transactions too).  It also tries ALTER ROLE mallory SUPERUSER, inside an
exception block, and always returns normally, like a careful attacker.

The last class: mallory creating the history table herself (with a trigger,
a rule, a row-level security policy, or just forged rows).  The migrator must
refuse such a table with exit 2 and say why.

tests/integration/test_trust_capture.py
"""

import bisect
import glob
import hashlib
import itertools
import os
import re
import shutil
import tempfile
import time

import psycopg2

from toolkit_test import ToolkitTestCase

SOURCE_DIR = os.environ.get("TOOLKIT_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
MALLORY = "mallory"
SCHEMA = "app"
DEADLINE = 120

# ---------------------------------------------------------------------------
# 1. What the toolkit's own SQL uses, read from its C sources.

# A C string (adjacent literals and string macros joined) is SQL when it
# starts, after SQL block comments, with one of these (uppercase, as the
# code writes SQL; messages start in lowercase), or when it is a fragment
# that a caller appends to a statement (textbuf_append(" WHERE ..."),
# ", pg_catalog.set_config(...)"): it starts with a clause keyword or holds
# a qualified name, a qualified cast or OPERATOR(...).  Over-reading a
# message only plants more overloads; under-reading would let a query by.
_SQL_START = re.compile(
    r"^\s*(?:/\*.*?\*/\s*)*(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|BEGIN|"
    r"COMMIT|ROLLBACK|SET|RESET|LOCK|VACUUM|ANALYZE|COPY|TABLE|VALUES|SHOW|DO|CALL|"
    r"DECLARE|FETCH|PREPARE|EXECUTE|LISTEN|NOTIFY|DISCARD|MERGE|TRUNCATE|REINDEX)\b", re.S)
_SQL_FRAGMENT = re.compile(
    r"^[\s,()]*(WHERE|FROM|AND|OR|ORDER|GROUP|JOIN|LEFT|ON|EXISTS|NOT|CASE|COALESCE|RETURNING|"
    r"LIMIT|UNION|HAVING|USING|WHEN|THEN|ELSE|END)\b"
    r"|\bpg_catalog\.\w|::\s*pg_catalog\.|\bOPERATOR\s*\(", re.S)
_C_TOKEN = re.compile(
    r'//[^\n]*|/\*.*?\*/'
    r'|#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+((?:[^\n\\]|\\\n|\\.)*)'
    r'|#(?:[^\n\\]|\\\n|\\.)*'
    r'|"(?:\\.|[^"\\\n])*"'
    r"|'(?:\\.|[^'\\\n])*'"
    r'|[A-Za-z_]\w*|\S', re.S)
_MACRO_BODY = re.compile(r'"(?:\\.|[^"\\\n])*"|[A-Za-z_]\w*|\\\n|\s+')
_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "?": "?"}

# Files whose strings are never sent to a server by the programs.
_EXCLUDED = {"common/pg_volatile_functions.c"}  # the generated volatility table


def _c_unescape(s):
    return re.sub(r'\\(x[0-9a-fA-F]+|[0-7]{1,3}|.)',
                  lambda m: _C_ESCAPES.get(m.group(1), " "), s)


def _is_sql(s):
    return bool(_SQL_START.match(s) or _SQL_FRAGMENT.search(s))


def _string_macro(body, macros):
    """The text of a #define whose body is only string literals and string
    macros (over backslash-continued lines), else None."""
    out, pos = [], 0
    for m in _MACRO_BODY.finditer(body):
        if m.start() != pos:
            return None
        pos = m.end()
        tok = m.group(0)
        if tok.startswith('"'):
            out.append(_c_unescape(tok[1:-1]))
        elif tok in macros:
            out.append(macros[tok])
        elif tok.strip() and tok != "\\\n":
            return None
    if pos != len(body.rstrip()) and body[pos:].strip():
        return None
    return "".join(out) if out else None


def c_sql_strings(path):
    """[(line, text)] of every C string expression in path that reads as SQL
    (a string macro's own text counts as one too, where it is defined)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    macros, out = {}, []
    cur, cur_line = None, 0
    for m in _C_TOKEN.finditer(text):
        tok = m.group(0)
        line = bisect.bisect_right(starts, m.start())
        if m.group(1):
            value = _string_macro(m.group(2), macros)
            if value is not None:
                macros[m.group(1)] = value
                out.append((line, value))
            continue
        if tok.startswith(("//", "/*", "#")):
            continue
        if tok.startswith('"') or tok in macros:
            piece = _c_unescape(tok[1:-1]) if tok.startswith('"') else macros[tok]
            if cur is None:
                cur, cur_line = "", line
            cur += piece
            continue
        if cur is not None:
            out.append((cur_line, cur))
        cur = None
    if cur is not None:
        out.append((cur_line, cur))
    return [(ln, s) for ln, s in out if _is_sql(s)]


def c_string_literals(path):
    """[(line, text)] of every single C string literal in path."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    return [(bisect.bisect_right(starts, m.start()), _c_unescape(m.group(0)[1:-1]))
            for m in _C_TOKEN.finditer(text) if m.group(0).startswith('"')]


def _strip_sql(s):
    """SQL text without comments, literals, quoted identifiers, printf specs."""
    s = re.sub(r"/\*.*?\*/", " ", s, flags=re.S)
    s = re.sub(r"--[^\n]*", " ", s)
    s = re.sub(r"'(?:[^']|'')*'", " '' ", s)
    s = re.sub(r'"(?:[^"]|"")*"', " x ", s)
    s = re.sub(r"%(?:\d+\$)?[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z)?[sdiuxXc%]", " x ", s)
    return s


# Syntax that PostgreSQL turns into an operator lookup by name.
_KEYWORD_OPERATORS = [
    (r"\bIN\s*\(", ["="]), (r"\bNOT\s+IN\b", ["<>"]), (r"\bIS\s+(?:NOT\s+)?DISTINCT\s+FROM\b", ["="]),
    (r"\bNULLIF\s*\(", ["="]), (r"\bBETWEEN\b", [">=", "<="]), (r"\bNOT\s+LIKE\b", ["!~~"]),
    (r"\bLIKE\b", ["~~"]), (r"\bNOT\s+ILIKE\b", ["!~~*"]), (r"\bILIKE\b", ["~~*"]),
    (r"\bSIMILAR\s+TO\b", ["~"]), (r"\bCASE\s+(?!WHEN)\S", ["="]), (r"\b(?:ANY|ALL|SOME)\s*\(", ["="]),
]


def toolkit_sql_usage(source_dir=SOURCE_DIR):
    """({function name: {file:line}}, {operator symbol: {file:line}}, [(where, sql)])."""
    funcs, ops, statements = {}, {}, []
    paths = []
    for d in ("common", "migrator", "indexer"):
        paths += sorted(glob.glob(os.path.join(source_dir, d, "*.c")))
    for path in paths:
        rel = os.path.relpath(path, source_dir)
        if rel in _EXCLUDED:
            continue
        for line, sql in c_sql_strings(path):
            where = "%s:%d" % (rel, line)
            statements.append((where, sql))
            t = _strip_sql(sql)
            for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", t):
                funcs.setdefault(m.group(1).lower(), set()).add(where)
            for m in re.finditer(r"[-+*/<>=~!@#%^&|`?]+", t):
                ops.setdefault(m.group(0), set()).add(where)
            for pattern, symbols in _KEYWORD_OPERATORS:
                if re.search(pattern, t, re.I):
                    for sym in symbols:
                        ops.setdefault(sym, set()).add(where)
    return funcs, ops, statements


# ---------------------------------------------------------------------------
# 2. The planted overloads.

# Per argument type: what would beat, or tie with, pg_catalog's signature.
_STRINGY = {"text", "character varying", "character", '"char"'}
_ALTERNATIVES = {
    "text": ["name", "character varying"],
    "character varying": ["name", "text"],
    "character": ["name", "text"],
    '"char"': ["name", "text"],
    "name": ["text", "character varying"],
    "smallint": ["integer"],
    "integer": ["bigint", "numeric", "smallint"],
    "bigint": ["integer", "numeric"],
    "numeric": ["integer", "bigint"],
    "double precision": ["numeric", "bigint"],
    "real": ["numeric"],
    "oid": ["integer", "bigint"],
    "regclass": ["oid", "text", "name"],
    "timestamp with time zone": ["timestamp without time zone"],
    "timestamp without time zone": ["timestamp with time zone"],
    '"any"': ["text", "name", "integer", "bigint"],
}
# Concrete stand-ins for a polymorphic signature, one family at a time.
_CONCRETE = ["text", "name", "integer", "bigint", "oid"]
_POLY_ELEMENT = {"anyelement", "anynonarray", "anycompatible", "anycompatiblenonarray"}
_POLY_ARRAY = {"anyarray", "anycompatiblearray"}
_UNPLANTABLE = {"internal", "cstring", "trigger", "event_trigger", "language_handler",
                "fdw_handler", "tsm_handler", "index_am_handler", "table_am_handler",
                "void", "record", "anyenum", "anyrange", "anymultirange",
                "anycompatiblerange", "anycompatiblemultirange", "pg_ddl_command"}
_MAX_VARIANTS = 128

# Types an operator symbol is planted on (both sides, and prefix).
_OPERATOR_TYPES = ["name", "text", "character varying", '"char"', "character", "smallint",
                   "integer", "bigint", "numeric", "oid", "boolean", "timestamp with time zone",
                   "timestamp without time zone", "interval", "bit", "double precision"]


def _trace_block(sig_literal, dir_literal):
    """PL/pgSQL that leaves the three traces and tries to escalate; never raises."""
    return """
  BEGIN
    INSERT INTO tk_log.hits (who, what, query)
      VALUES (current_user, {sig}, pg_catalog.current_query());
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    PERFORM pg_catalog.nextval('tk_log.hits_seq'::pg_catalog.regclass);
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE pg_catalog.format('COPY (SELECT %L::text, %L::text, %L::text) TO %L',
      current_user, {sig}, pg_catalog.current_query(),
      {dir} OPERATOR(pg_catalog.||) '/hit_' OPERATOR(pg_catalog.||)
        pg_catalog.md5(pg_catalog.random()::text OPERATOR(pg_catalog.||) pg_catalog.clock_timestamp()::text));
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE 'ALTER ROLE {mallory} SUPERUSER';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;""".format(sig=sig_literal, dir=dir_literal, mallory=MALLORY)


def _lit(s):
    return "'" + s.replace("'", "''") + "'"


def _qop(sym):
    return "OPERATOR(pg_catalog.%s)" % sym


class Planter:
    """Generates mallory's overloads from the catalog; data-driven."""

    def __init__(self, cur, trace_dir):
        self.cur = cur
        self.trace = lambda sig: _trace_block(_lit(sig), _lit(trace_dir))
        self.ddl = []
        self.planted = []      # signatures, for the output
        self.skipped = []      # (signature, why)
        self.seen = set()
        self.n = 0
        self._typename = {}

    # -- asking the server (as the superuser, search_path empty) --------------

    def _result_type(self, expr):
        """format_type of expr's result when pg_catalog alone resolves it, else None."""
        self.cur.execute("SAVEPOINT probe")
        try:
            self.cur.execute("SELECT %s LIMIT 0" % expr)
            oid = self.cur.description[0].type_code
            self.cur.execute("RELEASE SAVEPOINT probe")
        except psycopg2.Error:
            self.cur.execute("ROLLBACK TO SAVEPOINT probe")
            return None
        if oid not in self._typename:
            self.cur.execute("SELECT pg_catalog.format_type(%s, NULL)", (oid,))
            self._typename[oid] = self.cur.fetchone()[0]
        return self._typename[oid]

    # -- functions ---------------------------------------------------------------

    def _variants(self, argtypes, variadic):
        """Argument-type lists to plant for one pg_catalog signature."""
        families = [None]
        if any(t in _POLY_ELEMENT or t in _POLY_ARRAY for t in argtypes):
            families = _CONCRETE
        out = []
        for elem in families:
            base = []
            for t in argtypes:
                if elem and t in _POLY_ELEMENT:
                    base.append([elem])
                elif elem and t in _POLY_ARRAY:
                    base.append([elem + "[]"])
                elif t == '"any"':
                    base.append(_ALTERNATIVES[t])
                else:
                    base.append([t] + _ALTERNATIVES.get(t, []))
            if variadic and argtypes[-1] == '"any"':
                base[-1] = [x + "[]" for x in base[-1]]
            elif variadic:
                base[-1] = [x if x.endswith("[]") else x + "[]" for x in base[-1]]
            n = 1
            for b in base:
                n *= len(b)
            if n <= _MAX_VARIANTS:
                out += [list(c) for c in itertools.product(*base)]
            else:
                # every single substitution, and all strings at once as name
                first = [b[0] for b in base]
                out.append(first)
                for i, b in enumerate(base):
                    for alt in b[1:]:
                        out.append(first[:i] + [alt] + first[i + 1:])
                out.append(["name" if (t in _STRINGY) else f for t, f in zip(argtypes, first)])
        return out

    def plant_function(self, proname, prokind, retset, variadic, argtypes):
        for args in self._variants(argtypes, variadic):
            if any(a.rstrip("[]") in _UNPLANTABLE or (a.startswith("any") and prokind == "a")
                   for a in args):
                continue
            key = ("f", proname, tuple(args))
            if key in self.seen:
                continue
            self.seen.add(key)
            shown = list(args)
            if variadic:
                shown[-1] = "VARIADIC " + shown[-1]
            sig = "%s.%s(%s)" % (SCHEMA, proname, ", ".join(shown))
            call_args = ["NULL::%s" % a for a in args]
            if variadic:
                call_args[-1] = "VARIADIC " + call_args[-1]
            ret = self._result_type("pg_catalog.%s(%s)" % (_ident(proname), ", ".join(call_args)))
            if ret is None:
                self.skipped.append((sig, "pg_catalog cannot take these types"))
                continue
            if ret in ("record", "unknown") or ret.startswith("any"):
                self.skipped.append((sig, "returns %s" % ret))
                continue
            self.n += 1
            params = ", ".join(
                ("VARIADIC " if variadic and i == len(args) - 1 else "") + "a%d %s" % (i + 1, a)
                for i, a in enumerate(args))
            if prokind == "a":
                sfunc = "%s.tk_sfunc_%d" % (SCHEMA, self.n)
                sparams = ", ".join(["s %s" % ret] + ["a%d %s" % (i + 1, a) for i, a in enumerate(args)])
                self.ddl.append(
                    "CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp "
                    "AS $tk$\nBEGIN%s\n  RETURN s;\nEND\n$tk$" % (sfunc, sparams, ret, self.trace(sig)))
                self.ddl.append("CREATE AGGREGATE %s.%s(%s) (SFUNC = %s, STYPE = %s)"
                                % (SCHEMA, _ident(proname), ", ".join(args), sfunc, ret))
            else:
                passed = ["a%d" % (i + 1) for i in range(len(args))]
                if variadic:
                    passed[-1] = "VARIADIC " + passed[-1]
                call = "pg_catalog.%s(%s)" % (_ident(proname), ", ".join(passed))
                body = ("RETURN QUERY SELECT * FROM %s;" % call) if retset else ("RETURN %s;" % call)
                self.ddl.append(
                    "CREATE FUNCTION %s.%s(%s) RETURNS %s%s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp "
                    "AS $tk$\nBEGIN%s\n  %s\nEND\n$tk$"
                    % (SCHEMA, _ident(proname), params, "SETOF " if retset else "", ret, self.trace(sig), body))
            self.planted.append(sig)

    # -- operators ----------------------------------------------------------------

    def plant_operator(self, sym, left, right):
        key = ("o", sym, left, right)
        if key in self.seen:
            return
        self.seen.add(key)
        sig = "%s.%s(%s, %s)" % (SCHEMA, sym, left or "NONE", right)
        expr = ("NULL::%s %s NULL::%s" % (left, _qop(sym), right)) if left else \
            ("%s NULL::%s" % (_qop(sym), right))
        ret = self._result_type(expr)
        if ret is None or ret in ("record", "unknown"):
            return  # pg_catalog has nothing these types could have called
        self.n += 1
        fn = "%s.tk_op_%d" % (SCHEMA, self.n)
        if left:
            self.ddl.append(
                "CREATE FUNCTION %s(l %s, r %s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp "
                "AS $tk$\nBEGIN%s\n  RETURN l %s r;\nEND\n$tk$" % (fn, left, right, ret, self.trace(sig), _qop(sym)))
            self.ddl.append("CREATE OPERATOR %s.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)"
                            % (SCHEMA, sym, left, right, fn))
        else:
            self.ddl.append(
                "CREATE FUNCTION %s(r %s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp "
                "AS $tk$\nBEGIN%s\n  RETURN %s r;\nEND\n$tk$" % (fn, right, ret, self.trace(sig), _qop(sym)))
            self.ddl.append("CREATE OPERATOR %s.%s (RIGHTARG = %s, FUNCTION = %s)" % (SCHEMA, sym, right, fn))
        self.planted.append(sig)


def _ident(name):
    return name if re.match(r"^[a-z_][a-z0-9_]*$", name) else '"%s"' % name.replace('"', '""')


# ---------------------------------------------------------------------------

def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class TrustTestCase(ToolkitTestCase):
    """A database with schema "app", hostile role mallory, and the trace log."""

    def setUp(self):
        super().setUp()
        # mallory is a cluster-wide role: made once, never a superuser at start
        with self._admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (MALLORY,))
            if cur.fetchone() is None:
                try:
                    cur.execute("CREATE ROLE %s NOLOGIN" % MALLORY)
                except psycopg2.errors.DuplicateObject:
                    pass
            cur.execute("ALTER ROLE %s NOSUPERUSER NOCREATEROLE NOCREATEDB NOLOGIN" % MALLORY)
        self.addCleanup(self._demote_mallory)
        # server-side trace files land here (the server may run as another user)
        self.trace_dir = tempfile.mkdtemp(prefix="tk_trace_")
        os.chmod(self.trace_dir, 0o1777)
        self.addCleanup(shutil.rmtree, self.trace_dir, True)
        self.su = self.connect(options="-c search_path=")  # our own SQL: pg_catalog only
        self.sql("""
            CREATE SCHEMA app;
            GRANT USAGE, CREATE ON SCHEMA app TO mallory;
            CREATE SCHEMA tk_log;
            CREATE TABLE tk_log.hits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
                                      who text, what text, query text);
            CREATE SEQUENCE tk_log.hits_seq;
            GRANT USAGE ON SCHEMA tk_log TO PUBLIC;
            GRANT INSERT ON tk_log.hits TO PUBLIC;
            GRANT USAGE ON SEQUENCE tk_log.hits_id_seq, tk_log.hits_seq TO PUBLIC;
        """)
        # every new session of this database starts with "app" on its path
        self.sql("ALTER DATABASE %s SET search_path = app" % self.ident(self.dbname))

    def _demote_mallory(self):
        with self._admin.cursor() as cur:
            cur.execute("ALTER ROLE %s NOSUPERUSER" % MALLORY)

    def sql(self, text, params=None):
        with self.su.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall() if cur.description is not None else []

    def as_mallory(self, text):
        with self.su.cursor() as cur:
            cur.execute("SET ROLE %s" % MALLORY)
            try:
                cur.execute(text)
            finally:
                cur.execute("RESET ROLE")

    # ---- traces ---------------------------------------------------------------

    def traces(self):
        """(log rows, sequence calls, trace files' contents, mallory is superuser)."""
        rows = self.sql("SELECT who, what, pg_catalog.left(query, 400), id FROM tk_log.hits ORDER BY id")
        seq = self.sql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tk_log.hits_seq")[0][0]
        files = []
        for name in sorted(os.listdir(self.trace_dir)):
            with open(os.path.join(self.trace_dir, name), encoding="utf-8", errors="replace") as f:
                files.append((name, f.read().strip()[:600]))
        su = self.sql("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s", (MALLORY,))[0][0]
        return rows, seq, files, su

    def clean_traces(self):
        return ([], 0, [], False)

    def describe_traces(self, t, before=None):
        """What t shows beyond before (the traces of an earlier moment)."""
        rows, seq, files, su = t
        if before is not None:
            rows = [r for r in rows if r not in before[0]]
            files = [f for f in files if f not in before[2]]
            seq -= before[1]
        out = ["mallory is superuser: %s; new sequence calls: %d; new log rows: %d; new trace files: %d"
               % (su, seq, len(rows), len(files))]
        seen = set()
        for who, what, query, _ in rows:
            k = (what, query)
            if k not in seen:
                seen.add(k)
                out.append("  ran %s as %s in: %s" % (what, who, re.sub(r"\s+", " ", query or "")))
        if len(files) != len(rows):  # a rolled-back or read-only transaction lost its rows
            for _, f in files:
                out.append("  trace file: %s" % re.sub(r"\s+", " ", f))
        return "\n".join(out)


# ---------------------------------------------------------------------------
class PlantedOverloadsTest(TrustTestCase):
    """Every command of both programs, with an overload planted for every
    function and operator of the toolkit's own SQL."""

    def plant_everything(self):
        funcs, ops, statements = toolkit_sql_usage()
        self.assertGreater(len(statements), 20, "the SQL of the sources was not found")
        with self.su.cursor() as cur:
            cur.execute("SELECT DISTINCT proname FROM pg_catalog.pg_proc "
                        "WHERE pronamespace = 'pg_catalog'::pg_catalog.regnamespace "
                        "AND proname OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.name[])", (sorted(funcs),))
            catalog_funcs = sorted(r[0] for r in cur.fetchall())
            cur.execute("SELECT DISTINCT oprname FROM pg_catalog.pg_operator "
                        "WHERE oprnamespace = 'pg_catalog'::pg_catalog.regnamespace "
                        "AND oprname OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.name[])", (sorted(ops),))
            catalog_ops = sorted(r[0] for r in cur.fetchall())
        # the names the grammar turns into pg_catalog calls count too (md5 is no longer
        # among them: no SQL of the toolkit calls the server's md5(), issue 10; nor to_char:
        # the history reads are copied out and their dates formatted by the client, session 9)
        for must in ("left", "unnest", "substr", "now", "quote_ident", "to_regclass",
                     "concat_ws", "regexp_replace", "round", "length", "chr", "clock_timestamp"):
            self.assertIn(must, catalog_funcs, "the extraction missed a function the sources use")
        for must in ("||", "=", "<>", "-", ">="):
            self.assertIn(must, catalog_ops, "the extraction missed an operator the sources use")
        print("\ntoolkit SQL: %d statements" % len(statements))
        print("functions (in pg_catalog) used by the toolkit's own SQL:")
        for f in catalog_funcs:
            print("  %-24s %s" % (f, ", ".join(sorted(funcs[f]))))
        print("operators (in pg_catalog) used by the toolkit's own SQL:")
        for o in catalog_ops:
            print("  %-6s %s" % (o, ", ".join(sorted(ops[o]))))

        planter = Planter(self.su.cursor(), self.trace_dir)
        with self.su.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(
                "SELECT p.proname, p.prokind, p.proretset, p.provariadic <> 0, "
                "       array(SELECT pg_catalog.format_type(t.t, NULL) FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) "
                "             WITH ORDINALITY AS t(t, n) ORDER BY t.n) "
                "FROM pg_catalog.pg_proc p "
                "WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace "
                "  AND p.proname OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.name[]) "
                "  AND p.prokind IN ('f', 'a') AND p.proallargtypes IS NULL "
                "ORDER BY 1, 5", (catalog_funcs,))
            procs = cur.fetchall()
            for proname, prokind, retset, variadic, argtypes in procs:
                planter.plant_function(proname, prokind, retset, variadic, list(argtypes))
            for sym in catalog_ops:
                for t in _OPERATOR_TYPES:
                    planter.plant_operator(sym, None, t)
                    for u in _OPERATOR_TYPES:
                        planter.plant_operator(sym, t, u)
            cur.execute("COMMIT")
        self.as_mallory(";\n".join(planter.ddl))
        n_app = self.sql("SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner "
                         "WHERE p.pronamespace = 'app'::pg_catalog.regnamespace AND r.rolname = %s", (MALLORY,))[0][0]
        n_ops = self.sql("SELECT count(*) FROM pg_catalog.pg_operator "
                         "WHERE oprnamespace = 'app'::pg_catalog.regnamespace")[0][0]
        print("planted as %s in \"app\": %d functions/aggregates (%d of them operator functions), %d operators"
              % (MALLORY, n_app, n_ops, n_ops))
        per_name = {}
        for sig in planter.planted:
            name = sig[len(SCHEMA) + 1:sig.rindex("(")]
            per_name[name] = per_name.get(name, 0) + 1
        print("not planted: %d variants pg_catalog itself cannot take (or that return a record)"
              % len(planter.skipped))
        print("planted overloads per name: " + ", ".join("%s %d" % kv for kv in sorted(per_name.items())))
        self.assertGreater(n_ops, 50)
        # the plant works: with "app" on the path, a planted overload wins,
        # and every trace shows it
        with self.su.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SET LOCAL search_path = app")
            cur.execute("SELECT session_user || '@' || 'x', left(current_user, 1)")
            cur.execute("COMMIT")
        rows, seq, files, su = self.traces()
        self.assertTrue(rows and seq and files and su,
                        "the planted overloads do not capture a call with \"app\" on the path: "
                        + self.describe_traces((rows, seq, files, su)))
        self.sql("TRUNCATE tk_log.hits")
        self.sql("SELECT pg_catalog.setval('tk_log.hits_seq', 1, false)")
        for f in os.listdir(self.trace_dir):
            os.unlink(os.path.join(self.trace_dir, f))
        self.sql("ALTER ROLE mallory NOSUPERUSER")
        return planter

    # ---- the run ----------------------------------------------------------------

    def files(self):
        """The migrations: a verify file, a no-transaction one, a requires-index one."""
        return {
            "1_widgets.sql":
                "CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL);\n"
                "CREATE TABLE blocked (id bigint PRIMARY KEY);\n"
                "CREATE TABLE events (id bigint NOT NULL, day integer NOT NULL) PARTITION BY RANGE (day);\n"
                "CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100);\n"
                "CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (100) TO (200);\n",
            # unqualified names: user SQL resolves in --schema
            "1_widgets.verify.sql":
                "SELECT pg_catalog.to_regclass('widgets') IS NOT NULL;\n"
                "SELECT NOT EXISTS (SELECT FROM widgets);\n",
            "2_widgets_note.sql":
                "-- migrator:no-transaction\n"
                "ALTER TABLE widgets ADD COLUMN IF NOT EXISTS note text;\n",
            "2_widgets_note.verify.sql":
                "SELECT pg_catalog.to_regclass('widgets') IS NOT NULL;\n",
            "3_widgets_name_key.sql":
                "-- migrator:requires-index widgets_name_key_idx\n"
                "ALTER TABLE widgets ADD CONSTRAINT widgets_name_key_idx UNIQUE USING INDEX widgets_name_key_idx;\n",
        }

    def index_config(self, extra=()):
        defs = [
            ("widgets_name_key_idx", "widgets", "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS widgets_name_key_idx ON widgets (name)", True, None),
            # an operator class that exists only in "app"
            ("widgets_qty_idx", "widgets", "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_qty_idx ON widgets (qty tk_int4_ops)", True, None),
            ("widgets_repair_idx", "widgets", "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_repair_idx ON widgets (name, qty)", False, None),
            ("widgets_drift_idx", "widgets", "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_drift_idx ON widgets (id, qty)", False, None),
            ("events_day_idx", "events", "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_day_idx ON events (day)", False, None),
            ("widgets_gone_idx", "widgets", None, False, "absent"),
        ] + list(extra)
        lines = ["indexes = ("]
        for i, (name, table, sql, critical, state) in enumerate(defs):
            body = 'name = "%s"; table = "%s"; ' % (name, table)
            body += ('state = "%s"; ' % state) if state else ('sql = "%s"; critical = %s; ' % (sql, "true" if critical else "false"))
            lines.append("  { %s}%s" % (body, "," if i < len(defs) - 1 else ""))
        lines.append(");")
        d = self.make_dir({"indexes.cfg": "\n".join(lines) + "\n"})
        return os.path.join(d, "indexes.cfg")

    def test_no_command_runs_planted_code(self):
        planter = self.plant_everything()
        self.assertTrue(planter.planted)
        # an operator class only "app" has (CREATE OPERATOR CLASS needs a superuser)
        self.sql("CREATE OPERATOR CLASS app.tk_int4_ops FOR TYPE integer USING btree AS "
                 "OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=, "
                 "OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>, "
                 "FUNCTION 1 pg_catalog.btint4cmp(integer, integer)")

        mdir = self.make_dir(self.files())
        cfg = self.index_config()
        common = ["--schema", SCHEMA, "--history-table", "tk_history", "--index-config", cfg]
        captured = []   # (command, description)
        runs = []
        last = [self.clean_traces()]

        def note(label, r, expect):
            runs.append((label, r.rc))
            t = self.traces()
            if t != last[0]:
                captured.append((label, self.describe_traces(t, last[0])))
                if t[3]:
                    self._demote_mallory()  # so that the next escalation shows too
                last[0] = self.traces()
            if expect is not None and r.rc not in (expect if isinstance(expect, tuple) else (expect,)):
                captured.append((label, "unexpected exit code %r (expected %r)\n%s" % (r.rc, expect, r.describe())))
            return r

        def mig(label, *args, expect=0, dir=mdir):
            return note("migrator " + label, self.run_migrator(*(list(args) + ["-d", dir] + common)), expect)

        def idx(label, *args, expect=0, config=cfg):
            return note("indexer " + label, self.run_indexer("-c", config, "--schema", SCHEMA, *args), expect)

        # offline commands first
        scratch = self.make_dir(self.files())
        note("migrator new", self.run_migrator("new", "extra", "-d", scratch, dsn=None), 0)
        mig("lint", "lint", expect=0)
        mig("plan (nothing applied)", "plan")
        mig("status (no history)", "status")
        mig("check (no history)", "check", expect=5)
        # plan predicts build: critical definitions without their table are exit 1 (issue 14)
        idx("plan (no tables)", "plan", expect=1)
        idx("check (no tables)", "check", expect=5)
        mig("up --target 1", "up", "--target", "1")
        mig("status --log-format json", "status", "--log-format", "json")
        mig("check (behind)", "check", expect=5)

        # what the indexer must find: an invalid leftover, a drifted index, an absent one
        self.sql("INSERT INTO app.widgets VALUES (1, 'a', 1), (2, 'a', 2)")
        with self.assertRaises(psycopg2.Error):
            self.connect(options="-c search_path=").cursor().execute(
                "CREATE UNIQUE INDEX CONCURRENTLY widgets_repair_idx ON app.widgets (name, name)")
        self.sql("DELETE FROM app.widgets")
        self.sql("CREATE INDEX widgets_drift_idx ON app.widgets (qty, id)")
        self.sql("CREATE INDEX widgets_gone_idx ON app.widgets (qty)")
        self.sql("INSERT INTO app.events VALUES (1, 5), (2, 150)")

        mig("up (no-transaction, requires-index)", "up")
        mig("check (current)", "check")
        mig("check --wait-current", "check", "--wait-current", "1s")
        mig("status", "status")
        mig("plan (nothing pending)", "plan")
        idx("plan", "plan")
        idx("check (repair, drift, absent pending)", "check", expect=5)
        idx("status", "status")
        idx("build -j 2", "build", "-j", "2")
        idx("check (drifted)", "check", expect=5)
        idx("plan --rebuild-drifted", "plan", "--rebuild-drifted")
        idx("build --rebuild-drifted", "build", "--rebuild-drifted")
        idx("check", "check")
        idx("check --critical-only", "check", "--critical-only")
        idx("status --log-format json", "status", "--log-format", "json")
        idx("build (no-op)", "build")
        # what issue 15 added: the history command, the replica and slot
        # guard before a build, the size estimate, windows, run limits and
        # metrics (each reads the catalog or the history with its own SQL);
        # the start-up retry of --wait
        mfile = os.path.join(self.make_dir(), "indexer.prom")
        gcfg = self.index_config(extra=[("widgets_guarded_idx", "widgets",
                                         "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_guarded_idx ON widgets (qty, name)",
                                         False, None)])
        self.sql("INSERT INTO app.widgets SELECT 100 + i, 'g' || i, i FROM generate_series(1, 50) i")
        self.sql("ANALYZE app.widgets")  # the size estimate reads the statistics
        shut = time.gmtime(time.time() + 3 * 3600)
        closed = "%02d:00-%02d:30" % (shut.tm_hour, shut.tm_hour)  # not now, whatever the hour
        idx("plan --window (closed)", "plan", "--window", closed, "--metrics-file", mfile, config=gcfg)
        idx("build --window (closed)", "build", "--window", closed, "--metrics-file", mfile, config=gcfg)
        gr = idx("build (replica guard, size, limits, metrics, --wait)", "build", "--max-replica-lag", "10s",
            "--max-replica-lag-bytes", "64MB", "--max-slot-wal", "1GB", "--max-index-size", "10GB",
            "--max-builds", "5", "--max-runtime", "10min", "--window", "any", "--metrics-file", mfile,
            "--wait", "5s", config=gcfg)
        self.assertRegex(gr.stderr, r'built "widgets_guarded_idx"', gr.describe())
        idx("check --metrics-file", "check", "--metrics-file", mfile, config=gcfg)
        idx("status --metrics-file", "status", "--metrics-file", mfile, config=gcfg)
        idx("history", "history", config=gcfg)
        idx("history --since --only", "history", "--since", "1d", "--only", "widgets_guarded_idx",
            "--log-format", "json", config=gcfg)
        idx("plan --retry-failed --backoff-after 1", "plan", "--retry-failed", "--backoff-after", "1", config=gcfg)
        self.assertTrue(os.path.exists(mfile), "no metrics were written")
        mig("status --wait", "status", "--wait", "5s")
        mig("check --wait", "check", "--wait", "5s")

        # lock waits: preflight, the blockers of a waiting statement, the run lock holder
        with open(os.path.join(mdir, "4_blocked.sql"), "w") as f:
            f.write("ALTER TABLE blocked ADD COLUMN IF NOT EXISTS x integer;\n")
        holder = self.connect(autocommit=False, options="-c search_path=", application_name="tk_holder")
        holder.cursor().execute("LOCK TABLE app.blocked IN ACCESS SHARE MODE")
        time.sleep(1.2)  # older than --lock-timeout: preflight names it
        started = time.monotonic()
        r = self.run_migrator("up", "--preflight", "fail", "--lock-timeout", "1s", "-d", mdir, *common)
        took = time.monotonic() - started
        note("migrator up --preflight fail", r, 1)
        # The first migrator must still hold the run lock (blocked until its
        # lock timeout) when the second one asks for it.  A run like the one
        # above (start, connect, exit) bounds how long the asking takes:
        # 4 s when plain, but a minute under valgrind on a loaded machine,
        # where a fixed 4 s ran out first.
        hold = max(4, int(3 * took) + 2)
        first = self.start_migrator("up", "--lock-timeout", "%ds" % hold, "--retries", "0", "-d", mdir, *common)
        self.wait_for_stderr(first, r"applying 4_blocked", timeout=DEADLINE)
        time.sleep(0.5)
        mig("up while another holds the run lock", "up", "--lock-wait", "1s", expect=4)
        note("migrator up (lock timeout, blockers sampled)", self.finish(first, timeout=DEADLINE + hold), 1)
        holder.rollback()
        mig("up (after the lock)", "up")

        # indexer: the watchdog, the monitor, blockers, the leftover of a cancelled build
        lcfg = self.index_config(extra=[("blocked_id_idx", "blocked", "CREATE INDEX CONCURRENTLY IF NOT EXISTS blocked_id_idx ON blocked (id, x)", False, None)])
        holder.cursor().execute("LOCK TABLE app.blocked IN SHARE ROW EXCLUSIVE MODE")
        # a long bound: under valgrind the first build must still hold the run
        # lock when the second one asks (at least as long as the migrator's
        # above); the holder lets it go after that, so it costs no time
        proc = self.start_indexer("-c", lcfg, "--schema", SCHEMA, "build", "--lock-timeout", "%ds" % max(60, hold),
                                  "--retries", "0")
        self.wait_for_stderr(proc, r"building .*blocked_id_idx", timeout=DEADLINE)
        time.sleep(0.5)
        idx("build while another holds the run lock", "build", "--lock-wait", "1s", expect=4, config=lcfg)
        holder.rollback()
        note("indexer build (watchdog)", self.finish(proc, timeout=DEADLINE), (0, 1))
        idx("build (after the lock)", "build", config=lcfg)

        # repair after a deliberate change; forget a removed file
        with open(os.path.join(mdir, "4_blocked.sql"), "a") as f:
            f.write("-- reviewed again\n")
        mig("check (changed)", "check", expect=6)
        mig("up (changed)", "up", expect=6)
        mig("repair", "repair")
        os.unlink(os.path.join(mdir, "2_widgets_note.sql"))
        os.unlink(os.path.join(mdir, "2_widgets_note.verify.sql"))
        mig("check (missing)", "check", expect=6)
        mig("repair --forget-missing", "repair", "--forget-missing")
        mig("check (after repair)", "check")

        # a failed no-transaction migration is recorded as failed, then run again;
        # a failed verify rolls back
        with open(os.path.join(mdir, "5_later.sql"), "w") as f:
            f.write("-- migrator:no-transaction\n"
                    "ALTER TABLE widgets ADD COLUMN IF NOT EXISTS five integer;\n"
                    "ALTER TABLE later ADD COLUMN IF NOT EXISTS x integer;\n")
        mig("up (no-transaction fails)", "up", "--retries", "0", expect=1)
        mig("status (failed)", "status")
        mig("check (failed)", "check", expect=5)
        self.sql("CREATE TABLE app.later (id bigint)")
        mig("up (failed one again)", "up")
        # a migration that (wrongly, past lint's reach) resets the session: the
        # search_path falls back to the database's default, "app"
        # (lint refuses RESET ALL even in a computed EXECUTE: a function
        # created outside the files is past its reach)
        self.sql("CREATE FUNCTION public.tk_reset_all() RETURNS void LANGUAGE plpgsql "
                 "AS $f$ BEGIN RESET ALL; END $f$")
        with open(os.path.join(mdir, "7_reset.sql"), "w") as f:
            f.write("DO $$ BEGIN PERFORM public.tk_reset_all(); END $$;\n")
        with open(os.path.join(mdir, "8_after_reset.sql"), "w") as f:
            f.write("CREATE TABLE after_reset (id bigint);\n")
        mig("up (a migration runs RESET ALL)", "up")
        with open(os.path.join(mdir, "9_six.sql"), "w") as f:
            f.write("CREATE TABLE six (id bigint);\n")
        with open(os.path.join(mdir, "9_six.verify.sql"), "w") as f:
            f.write("SELECT pg_catalog.to_regclass('six') IS NULL;\n")
        mig("up (verify fails)", "up", expect=1)
        os.unlink(os.path.join(mdir, "9_six.sql"))
        os.unlink(os.path.join(mdir, "9_six.verify.sql"))
        mig("check (end)", "check")

        # adoption: --version, --from dbmate (same name as ours), --from flyway
        bdir = self.make_dir({"1_a.sql": "CREATE TABLE adopted_a (id bigint);\n",
                              "2_b.sql": "CREATE TABLE adopted_b (id bigint);\n"})

        def base(label, *args, expect=0):
            return note("migrator " + label, self.run_migrator(*(list(args) + ["-d", bdir, "--schema", SCHEMA])), expect)

        base("baseline --version", "baseline", "--version", "2", "--history-table", "hist_version")
        self.sql("CREATE TABLE app.schema_migrations (version varchar(255) PRIMARY KEY); "
                 "INSERT INTO app.schema_migrations VALUES ('1'), ('2')")
        base("baseline --from dbmate", "baseline", "--from", "dbmate")
        self.sql("CREATE TABLE app.flyway_schema_history (installed_rank integer PRIMARY KEY, version varchar(50), "
                 "success boolean NOT NULL); INSERT INTO app.flyway_schema_history VALUES (1, '1', true), (2, '2', true)")
        base("baseline --from flyway", "baseline", "--from", "flyway", "--history-table", "hist_flyway")
        base("check after baseline", "check")
        # golang-migrate's table has our table's name too: another schema (the
        # database's default search_path still has "app" on it)
        self.sql("CREATE SCHEMA app2; CREATE TABLE app2.schema_migrations (version bigint NOT NULL PRIMARY KEY, "
                 "dirty boolean NOT NULL); INSERT INTO app2.schema_migrations VALUES (2, false)")
        note("migrator baseline --from golang-migrate",
             self.run_migrator("baseline", "--from", "golang-migrate", "-d", bdir, "--schema", "app2"), 0)
        note("migrator status (app2)", self.run_migrator("status", "-d", bdir, "--schema", "app2"), 0)

        print("ran: " + "; ".join("%s -> %r" % r for r in runs))

        # nothing of mallory's ran
        if captured:
            self.fail("planted code ran, or a command did not do what it should:\n"
                      + "\n".join("== %s\n%s" % c for c in captured))
        self.assertEqual(self.traces(), self.clean_traces())

        # user SQL still resolves in the schema
        self.assertEqual(self.sql(
            "SELECT version FROM app.tk_history WHERE status = 'applied' ORDER BY version"), [(1,), (3,), (4,), (5,), (7,), (8,)])
        self.assertEqual(self.sql(
            "SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = 'app.widgets'::pg_catalog.regclass "
            "AND attname IN ('note')"), [(1,)])
        self.assertEqual(self.sql(
            "SELECT i.indisvalid, oc.opcname, ns.nspname FROM pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[0] "
            "JOIN pg_catalog.pg_namespace ns ON ns.oid = oc.opcnamespace "
            "WHERE i.indexrelid = 'app.widgets_qty_idx'::pg_catalog.regclass"), [(True, "tk_int4_ops", "app")])
        self.assertEqual(self.sql(
            "SELECT conname FROM pg_catalog.pg_constraint WHERE conindid = 'app.widgets_name_key_idx'::pg_catalog.regclass"),
            [("widgets_name_key_idx",)])
        self.assertEqual(self.sql(
            "SELECT count(*) FILTER (WHERE i.indisvalid) FROM pg_catalog.pg_inherits h "
            "JOIN pg_catalog.pg_index i ON i.indexrelid = h.inhrelid "
            "WHERE h.inhparent = 'app.events_day_idx'::pg_catalog.regclass"), [(2,)])
        self.assertIsNone(self.sql("SELECT pg_catalog.to_regclass('app.widgets_gone_idx')")[0][0])
        self.assertTrue(self.sql("SELECT indisvalid FROM pg_catalog.pg_index "
                                 "WHERE indexrelid = 'app.widgets_repair_idx'::pg_catalog.regclass")[0][0])
        # the guarded build ran (the guards and the size estimate let it)
        self.assertTrue(self.sql("SELECT indisvalid FROM pg_catalog.pg_index "
                                 "WHERE indexrelid = 'app.widgets_guarded_idx'::pg_catalog.regclass")[0][0])
        self.assertGreater(self.sql("SELECT count(*) FROM app.indexer_history "
                                    "WHERE definition = 'widgets_guarded_idx' AND action = 'built'")[0][0], 0)



# ---------------------------------------------------------------------------
class HostileHistoryTableTest(TrustTestCase):
    """A history table the current role does not own, or with a trigger, a
    rule or a row-level security policy, is refused (exit 2, saying why)
    by every command that reads or writes it."""

    MIGRATION = "CREATE TABLE widgets (id bigint PRIMARY KEY);\n"
    SHAPE = ("(version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
             "status text NOT NULL CHECK (status IN ('applied', 'failed')), "
             "applied_at timestamp with time zone NOT NULL DEFAULT pg_catalog.now(), "
             "duration_ms bigint, applied_by text, failure text)")

    def evil_function(self, name, returns="boolean", ret="true"):
        self.as_mallory(
            "CREATE FUNCTION app.%s() RETURNS %s LANGUAGE plpgsql AS $tk$\nBEGIN%s\n  RETURN %s;\nEND\n$tk$"
            % (name, returns, _trace_block(_lit("app.%s()" % name), _lit(self.trace_dir)), ret))

    def test_hostile_history_tables_are_refused(self):
        mdir = self.make_dir({"1_widgets.sql": self.MIGRATION})
        checksum = sha256_file(os.path.join(mdir, "1_widgets.sql"))
        forged = ("INSERT INTO app.%%s VALUES (1, 'widgets', '%s', 'applied', pg_catalog.now(), 1, 'x@y', NULL)"
                  % checksum)
        self.evil_function("tk_trigger_hit", returns="trigger", ret="NEW")
        self.evil_function("tk_hit")

        # (history table, how it is made, what the refusal must name)
        cases = [
            ("hist_forged", ["CREATE TABLE app.hist_forged " + self.SHAPE, forged % "hist_forged"], None,
             r"own"),
            ("hist_trigger", ["CREATE TABLE app.hist_trigger " + self.SHAPE,
                              "CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON app.hist_trigger "
                              "FOR EACH ROW EXECUTE FUNCTION app.tk_trigger_hit()"], None, r"own|trigger"),
            ("hist_rule", ["CREATE TABLE app.hist_rule " + self.SHAPE,
                           "CREATE RULE r AS ON DELETE TO app.hist_rule DO ALSO SELECT app.tk_hit()"], None,
             r"own|rule"),
            ("hist_rls", ["CREATE TABLE app.hist_rls " + self.SHAPE,
                          "ALTER TABLE app.hist_rls ENABLE ROW LEVEL SECURITY",
                          "ALTER TABLE app.hist_rls FORCE ROW LEVEL SECURITY",
                          "CREATE POLICY p ON app.hist_rls USING (app.tk_hit())"], None,
             r"own|row.level security|polic"),
            # ours, but GRANT ALL (which includes TRIGGER) let mallory add a trigger
            ("hist_granted", None, ["CREATE TABLE app.hist_granted " + self.SHAPE,
                                    "GRANT ALL ON app.hist_granted TO mallory"], r"trigger"),
            # ours, with a rule and with a policy of its owner's
            ("hist_our_rule", None, ["CREATE TABLE app.hist_our_rule " + self.SHAPE,
                                     "CREATE RULE r AS ON UPDATE TO app.hist_our_rule DO ALSO SELECT app.tk_hit()"],
             r"rule"),
            ("hist_our_policy", None, ["CREATE TABLE app.hist_our_policy " + self.SHAPE,
                                       "ALTER TABLE app.hist_our_policy ENABLE ROW LEVEL SECURITY",
                                       "CREATE POLICY p ON app.hist_our_policy USING (app.tk_hit())"],
             r"row.level security|polic"),
        ]
        failures = []
        for table, mallory_sql, our_sql, why in cases:
            for stmt in our_sql or []:
                self.sql(stmt)
            if table == "hist_granted":
                self.as_mallory("CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON app.hist_granted "
                                "FOR EACH ROW EXECUTE FUNCTION app.tk_trigger_hit()")
            for stmt in mallory_sql or []:
                self.as_mallory(stmt)
            for cmd in (["up"], ["check"], ["status"], ["repair"], ["plan"], ["baseline", "--version", "1"]):
                with self.subTest(table=table, command=cmd[0]):
                    r = self.run_migrator(*(cmd + ["-d", mdir, "--schema", SCHEMA, "--history-table", table]))
                    t = self.traces()
                    problems = []
                    if r.rc != 2:
                        problems.append("exit %r, not 2" % r.rc)
                    if not re.search(r"(?im)^migrator: error: .*%s.*(%s)" % (table, why), r.stderr):
                        problems.append("no error line naming %s and why (/%s/)" % (table, why))
                    if self.sql("SELECT pg_catalog.to_regclass('app.widgets')")[0][0] is not None:
                        problems.append("the migration was applied")
                        self.sql("DROP TABLE app.widgets")
                    if t != self.clean_traces():
                        problems.append("planted code ran: " + self.describe_traces(t))
                    if problems:
                        failures.append("%s %s: %s\n%s" % (table, cmd[0], "; ".join(problems),
                                                           "\n".join(r.lines[-3:])))
                        self.sql("TRUNCATE tk_log.hits")
                        self.sql("SELECT pg_catalog.setval('tk_log.hits_seq', 1, false)")
                        for f in os.listdir(self.trace_dir):
                            os.unlink(os.path.join(self.trace_dir, f))
                        self.sql("ALTER ROLE mallory NOSUPERUSER")
                    self.assertFalse(problems, "\n".join(problems) + "\n" + r.describe())
        if failures:
            print("\nhostile history tables not refused:\n" + "\n".join(failures))

    def test_trigger_added_while_the_migrator_runs_never_fires(self):
        """The history table is ours and clean when the run starts, but
        GRANT ALL (TRIGGER included, as "GRANT ALL ON ALL TABLES IN SCHEMA"
        gives) let mallory add a trigger in a transaction she commits only
        once the migrator waits for the table.  A check made before the
        insert's transaction, or without a lock that CREATE TRIGGER
        conflicts with, passes; the trigger would then run as the migrator."""
        mdir = self.make_dir({"1_widgets.sql": self.MIGRATION})
        self.evil_function("tk_trigger_hit", returns="trigger", ret="NEW")
        self.sql("CREATE TABLE app.hist_race " + self.SHAPE)
        self.sql("GRANT ALL ON app.hist_race TO mallory")
        mallory = self.connect(autocommit=False, options="-c search_path=")
        cur = mallory.cursor()
        cur.execute("SET ROLE mallory")
        cur.execute("CREATE TRIGGER t AFTER INSERT OR UPDATE ON app.hist_race "
                    "FOR EACH ROW EXECUTE FUNCTION app.tk_trigger_hit()")
        proc = self.start_migrator("up", "-d", mdir, "--schema", SCHEMA, "--history-table", "hist_race",
                                   "--lock-timeout", "30s")
        deadline = time.monotonic() + DEADLINE
        waiting = False
        while time.monotonic() < deadline and proc.poll() is None:
            waiting = self.sql(
                "SELECT count(*) > 0 FROM pg_catalog.pg_locks WHERE NOT granted "
                "AND relation = 'app.hist_race'::pg_catalog.regclass")[0][0]
            if waiting:
                break
            time.sleep(0.05)
        mallory.commit()  # the trigger exists from now on
        r = self.finish(proc, timeout=DEADLINE)
        t = self.traces()
        if t != self.clean_traces():
            self.fail("the trigger ran as the migrator (it waited for the table: %s)\n%s\n%s"
                      % (waiting, self.describe_traces(t), r.describe()))
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"(?m)^migrator: error: .*hist_race.*(trigger|privilege|grant)")
        self.assertIsNone(self.sql("SELECT pg_catalog.to_regclass('app.widgets')")[0][0])
        self.assertEqual(self.sql("SELECT count(*) FROM app.hist_race"), [(0,)])

    def test_foreign_table_of_another_role_is_not_imported(self):
        """baseline --from dbmate renames dbmate's table (it writes it) and
        records what it says: one that mallory owns, with versions she
        forged, is refused, not adopted."""
        mdir = self.make_dir({"1_widgets.sql": self.MIGRATION, "2_more.sql": "CREATE TABLE more (id bigint);\n"})
        self.as_mallory("CREATE TABLE app.schema_migrations (version varchar(255) PRIMARY KEY); "
                        "INSERT INTO app.schema_migrations VALUES ('1'), ('2')")
        r = self.run_migrator("baseline", "--from", "dbmate", "-d", mdir, "--schema", SCHEMA)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"(?m)^migrator: error: .*schema_migrations.*(own)")
        self.assertEqual(self.sql("SELECT c.relname, r.rolname FROM pg_catalog.pg_class c "
                                  "JOIN pg_catalog.pg_roles r ON r.oid = c.relowner "
                                  "WHERE c.relnamespace = 'app'::pg_catalog.regnamespace AND c.relkind = 'r' "
                                  "ORDER BY 1"), [("schema_migrations", MALLORY)])
