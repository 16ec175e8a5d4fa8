#!/bin/bash
# sql_definition_check.sh -- exercise sql/install/20_definition.sql on its own
#
# Needs a running PostgreSQL 15 server (superuser connection) reachable with
# the usual PG* variables; defaults: PGHOST=/tmp PGPORT=5499 PGUSER=postgres.
# Creates (and drops at the start) databases pbdef_check and pbdef_check2,
# loads only CREATE SCHEMA partback + 20_definition.sql and the
# 21_dependencies.sql it calls, and checks:
# capture -> drop -> prepare (same name) -> load -> finish gives the same
# pg_dump -s; prepare into other names; existing targets (matching, column
# mismatch, key mismatch, ownership); drop_missing; matching by bound after a
# rename; _leaves errors; sequences; search_path safety.
# Exit status 0 = all passed.
set -u
export PGHOST=${PGHOST:-/tmp} PGPORT=${PGPORT:-5499} PGUSER=${PGUSER:-postgres}
HERE=$(cd "$(dirname "$0")" && pwd)
DEFSQL=$HERE/../sql/install/20_definition.sql
DB=pbdef_check
DB2=pbdef_check2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0

q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
ok() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; FAILS=$((FAILS + 1)); }
# check NAME SQL: SQL must print exactly "t"
check() {
	local out
	out=$(q -At -c "$2" 2>&1)
	if [ "$(echo "$out" | tail -n 1)" = "t" ] && ! echo "$out" | grep -q ERROR; then ok "$1"
	else fail "$1"; echo "$out" | sed 's/^/     /'; fi
}
# check_error NAME SQLSTATE SQL: SQL must fail with SQLSTATE; shows the error
check_error() {
	local out
	out=$(q -At -c "SELECT pbt.expect_error(\$pbt\$$3\$pbt\$, '$2')" 2>&1)
	if [ "$(echo "$out" | tail -n 1)" = "t" ]; then ok "$1 ($2)"; echo "$out" | grep -v '^t$' | sed 's/^/     /';
	else fail "$1"; echo "$out" | sed 's/^/     /'; fi
}
dump() { pg_dump -d "$1" -s -N keep -N partback -N pbt | grep -v '^\\\(un\)\?restrict' ; }

setup_db() {
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" || exit 1
	# as CREATE EXTENSION does, MODULE_PATHNAME names the library
	# with what 20_definition.sql calls in 21_dependencies.sql
	cat "$DEFSQL" "$HERE/../sql/install/21_dependencies.sql" | sed 's|MODULE_PATHNAME|$libdir/partback|g' |
		psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "CREATE SCHEMA partback" -f - || exit 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<'EOF' || exit 1
CREATE SCHEMA pbt;
CREATE FUNCTION pbt.expect_error(cmd text, state text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
	BEGIN
		EXECUTE cmd;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
		RAISE NOTICE '% ERROR: % | DETAIL: % | HINT: %', s, m, d, h;
		RETURN s = state;
	END;
	RAISE NOTICE 'no error';
	RETURN false;
END $$;
-- one row per relation of the tree of tbl: path, kind, bound, key, and
-- what is attached to it; names of the tables themselves left out
CREATE FUNCTION pbt.shape(tbl regclass) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT format('%s|%s|%s|%s', t.path, t.relkind, pg_get_expr(c.relpartbound, c.oid),
				  CASE WHEN t.relkind = 'p' THEN pg_get_partkeydef(t.relid) END)
	  FROM partback._def_tree(tbl) t JOIN pg_class c ON c.oid = t.relid
$$;
EOF
}

# ------------------------------------------------------------------ fixture
FIXTURE=$(cat <<'EOF'
CREATE SCHEMA app;
CREATE SCHEMA "other sch";
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.posint AS integer CHECK (VALUE > 0);
CREATE COLLATION app.mycoll (provider = icu, locale = 'de-DE');
CREATE EXTENSION btree_gist;

-- range by day + hash sub-partitions, default, empty intermediate
CREATE TABLE app.quotes (
  id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 5 CACHE 3),
  dropme int,
  ts date NOT NULL,
  sym text COLLATE "C" NOT NULL DEFAULT 'X',
  price numeric(12,4) CHECK (price >= 0),
  qty app.posint,
  mood app.mood DEFAULT 'ok',
  total numeric GENERATED ALWAYS AS (price * 2) STORED,
  note varchar(20) COLLATE app.mycoll,
  PRIMARY KEY (id, ts, sym),
  CONSTRAINT "uniq sym/ts" UNIQUE (sym, ts, id)
) PARTITION BY RANGE (ts);
ALTER TABLE app.quotes DROP COLUMN dropme;
COMMENT ON TABLE app.quotes IS 'quotes table';
COMMENT ON COLUMN app.quotes.price IS 'the price';
CREATE TABLE app.quotes_20120101 PARTITION OF app.quotes FOR VALUES FROM ('2012-01-01') TO ('2012-01-02') PARTITION BY HASH (sym);
CREATE TABLE app.quotes_20120101_h0 PARTITION OF app.quotes_20120101 FOR VALUES WITH (modulus 2, remainder 0);
CREATE TABLE app.quotes_20120101_h1 PARTITION OF app.quotes_20120101 FOR VALUES WITH (modulus 2, remainder 1);
CREATE TABLE app.quotes_20120102 PARTITION OF app.quotes FOR VALUES FROM ('2012-01-02') TO ('2012-01-03') PARTITION BY HASH (sym);
CREATE TABLE "other sch"."q/2..h0" PARTITION OF app.quotes_20120102 FOR VALUES WITH (modulus 2, remainder 0);
CREATE TABLE app."q ""2"" h1.x" PARTITION OF app.quotes_20120102 FOR VALUES WITH (modulus 2, remainder 1);
CREATE TABLE app.quotes_empty PARTITION OF app.quotes FOR VALUES FROM ('2012-01-03') TO ('2012-01-04') PARTITION BY HASH (sym);
CREATE TABLE app.quotes_def PARTITION OF app.quotes DEFAULT;
ALTER TABLE app.quotes_20120101_h0 ADD CONSTRAINT h0_local CHECK (qty < 1000);
CREATE INDEX quotes_sym_idx ON app.quotes (sym) WHERE price > 10;
CREATE INDEX "quotes expr USING idx" ON app.quotes ((lower(sym)), ts DESC);
CREATE INDEX h1_local_idx ON app.quotes_20120101_h1 (note);
CREATE INDEX q2_mood ON app.quotes_20120102 (mood);
COMMENT ON TABLE app.quotes_20120101_h1 IS 'h1 comment';
INSERT INTO app.quotes (ts, sym, price, qty, mood)
  SELECT '2012-01-01'::date + (CASE i % 3 WHEN 0 THEN 0 WHEN 1 THEN 1 ELSE 5 END), 'S' || i, i, i, 'happy'
    FROM generate_series(1, 40) i;

-- list with default; unicode and 63-byte names; serials; NOT VALID check
CREATE TABLE app."Ünïcødé tåble" (k text, v int NOT NULL, s serial, b bigserial,
  CONSTRAINT "check ü" CHECK (v > -1) NOT VALID) PARTITION BY LIST (k);
CREATE TABLE app."Ünïcødé tåble_a" PARTITION OF app."Ünïcødé tåble" FOR VALUES IN ('a', NULL);
CREATE TABLE app."xééééééééééééééééééééééééééééééé" PARTITION OF app."Ünïcødé tåble" FOR VALUES IN ('b', 'c');
CREATE TABLE app."Ünïcødé tåble_default" PARTITION OF app."Ünïcødé tåble" DEFAULT;
INSERT INTO app."Ünïcødé tåble" (k, v) VALUES ('a', 1), (NULL, 2), ('b', 3), ('zz', 4);

-- plain tables: identity by default, self FK, exclude, smallserial, FKs
CREATE TABLE app.items (
  id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  parent int REFERENCES app.items(id),
  r int4range,
  sid smallserial,
  EXCLUDE USING gist (r WITH &&)
);
INSERT INTO app.items (parent, r) VALUES (NULL, '[1,2)'), (1, '[3,4)');
INSERT INTO app.items (id, parent, r) VALUES (50, 1, '[5,6)');
CREATE TABLE app.orders (id int PRIMARY KEY, item int REFERENCES app.items(id) ON DELETE CASCADE, qsym text, qts date);
CREATE TABLE app.empty ();
CREATE TABLE app."we.ird/na..me" ("col ""x""" int DEFAULT 7, "USING " text);
CREATE INDEX "a USING b" ON app."we.ird/na..me" ("USING ");
CREATE UNLOGGED TABLE app.ul (a int) WITH (fillfactor = 70);
-- timestamptz bounds (TimeZone must not matter)
CREATE TABLE app.ev (t timestamptz, x float8) PARTITION BY RANGE (t);
CREATE TABLE app.ev_1 PARTITION OF app.ev FOR VALUES FROM ('2020-01-01 00:00+05') TO ('2020-01-02 00:00+05');
EOF
)

setup_db "$DB"
q -c "$FIXTURE" 2>&1 | grep -v 'will be truncated' || true

# search_path safety: every function pins search_path
check "every partback function pins search_path" "
	SELECT bool_and('search_path=pg_catalog, pg_temp' = ANY (proconfig))
	  FROM pg_proc WHERE pronamespace = 'partback'::regnamespace"

# -------------------------------------------------------------- _leaves
check "_leaves of a range/hash tree" "
	SELECT array_agg(path ORDER BY path COLLATE \"C\") = ARRAY['quotes_20120101/quotes_20120101_h0',
		'quotes_20120101/quotes_20120101_h1', 'quotes_20120102/other sch.q/2..h0',
		'quotes_20120102/q \"2\" h1.x', 'quotes_def']
	   AND array_agg(relid::regclass::text ORDER BY path COLLATE \"C\") = ARRAY['app.quotes_20120101_h0',
		'app.quotes_20120101_h1', '\"other sch\".\"q/2..h0\"', 'app.\"q \"\"2\"\" h1.x\"', 'app.quotes_def']
	  FROM partback._leaves('app.quotes')"
check "_leaves of a plain table" "
	SELECT array_agg(row(path, relid, path_elems)::text) = ARRAY[row('we.ird/na..me', 'app.\"we.ird/na..me\"'::regclass::oid, ARRAY['we.ird/na..me'])::text]
	  FROM partback._leaves('app.\"we.ird/na..me\"')"
check "_leaves: 63-byte names" "
	SELECT count(*) = 3 AND bool_or(octet_length(path) = 63) FROM partback._leaves('app.\"Ünïcødé tåble\"')"
q -c "CREATE VIEW app.v AS SELECT 1 AS a; CREATE SEQUENCE app.s; CREATE MATERIALIZED VIEW app.mv AS SELECT 1 AS a;
      CREATE FOREIGN DATA WRAPPER pbt_fdw; CREATE SERVER pbt_srv FOREIGN DATA WRAPPER pbt_fdw;
      CREATE TABLE app.withft (a int) PARTITION BY LIST (a);
      CREATE TABLE app.withft_1 PARTITION OF app.withft FOR VALUES IN (1);
      CREATE FOREIGN TABLE app.withft_2 PARTITION OF app.withft FOR VALUES IN (2) SERVER pbt_srv;
      CREATE TABLE app.noleaves (a int) PARTITION BY LIST (a);
      CREATE TABLE app.noleaves_1 PARTITION OF app.noleaves FOR VALUES IN (1) PARTITION BY LIST (a);"
check_error "_leaves of a view" 42809 "SELECT * FROM partback._leaves('app.v')"
check_error "_leaves of a sequence" 42809 "SELECT * FROM partback._leaves('app.s')"
check_error "_leaves of a matview" 42809 "SELECT * FROM partback._leaves('app.mv')"
check_error "_leaves of a foreign table" 42809 "SELECT * FROM partback._leaves('app.withft_2')"
check "_leaves leaves a foreign partition out" "SELECT array_agg(path) = ARRAY['withft_1'] FROM partback._leaves('app.withft')"
check "_foreign_partitions lists it" "SELECT array_agg(path) = ARRAY['withft_2'] FROM partback._foreign_partitions('app.withft')"
check "_capture_table marks it foreign" "
	SELECT array_agg((p->>'path') || ':' || (p->>'leaf') || ':' || (p->>'foreign') ORDER BY p->>'path')
		   = ARRAY['withft_1:true:false', 'withft_2:false:true']
	  FROM jsonb_array_elements(partback._capture_table('app.withft')->'partitions') p"
check "_leaves: intermediate without leaves has no rows" "SELECT count(*) = 0 FROM partback._leaves('app.noleaves')"
check "_leaves of a partition (taken as a table)" "
	SELECT array_agg(path ORDER BY path) = ARRAY['q \"2\" h1.x', 'other sch.q/2..h0'] OR array_agg(path ORDER BY path COLLATE \"C\") = ARRAY['other sch.q/2..h0', 'q \"2\" h1.x']
	  FROM partback._leaves('app.quotes_20120102')"
q -c "DROP VIEW app.v; DROP SEQUENCE app.s; DROP MATERIALIZED VIEW app.mv; DROP TABLE app.withft, app.noleaves;"

# -------------------------------------------------------------- _column_names
check "_column_names skips dropped and generated columns" "
	SELECT partback._column_names('app.quotes') = ARRAY['id','ts','sym','price','qty','mood','note']
	   AND partback._column_names('app.empty') = '{}'"

# -------------------------------------------------------------- _capture_table
check "capture: columns, types, collations, identity, generated" "
	WITH d AS (SELECT partback._capture_table('app.quotes') AS d)
	SELECT d->'columns'->0->>'identity' = 'always' AND (d->'columns'->0->'sequence'->>'increment')::int = 5
	   AND (d->'columns'->0->'sequence'->>'last_value')::int = 305
	   AND d->'columns'->2->>'collation' = 'pg_catalog.\"C\"' AND d->'columns'->7->>'collation' = 'app.mycoll'
	   AND d->'columns'->4->>'type' = 'app.posint' AND d->'columns'->5->>'default' = '''ok''::app.mood'
	   AND d->'columns'->6->>'generated' IS NOT NULL AND d->'columns'->6->>'default' IS NULL
	   AND d->>'partition_key' = 'RANGE (ts)' AND jsonb_array_length(d->'partitions') = 8
	   AND d->'partitions'->2->>'comment' = 'h1 comment'
	   AND d->'partitions'->1->'constraints'->0->>'name' = 'h0_local'
	   AND jsonb_array_length(d->'partitions'->0->'constraints') = 0
	   AND jsonb_array_length(d->'partitions'->0->'indexes') = 0
	   AND d->'partitions'->4->>'schema' = 'other sch' AND d->'partitions'->4->>'parent_path' = 'quotes_20120102'
	  FROM d"
check "capture: index definitions (names containing ' USING ')" "
	SELECT partback._capture_table('app.\"we.ird/na..me\"')->'indexes' = '[{\"name\": \"a USING b\", \"unique\": false, \"comment\": null, \"definition\": \"USING btree (\\\"USING \\\")\"}]'"
check "capture: serial and FKs" "
	WITH d AS (SELECT partback._capture_table('app.items') AS d)
	SELECT (d->'columns'->3->>'serial')::bool AND d->'columns'->3->>'type' = 'smallint'
	   AND d->'columns'->0->>'identity' = 'by default'
	   AND d->'foreign_keys'->0->>'definition' = 'FOREIGN KEY (parent) REFERENCES app.items(id)'
	   AND (d->'foreign_keys'->0->>'self')::bool
	   AND d->'constraints' @> '[{\"type\": \"x\"}]'
	  FROM d"
TZ1=$(q -At -c "SET TimeZone = 'America/New_York'; SELECT partback._capture_table('app.ev')->'partitions'->0->>'bound'")
TZ2=$(q -At -c "SET TimeZone = 'Asia/Tokyo'; SELECT partback._capture_table('app.ev')->'partitions'->0->>'bound'")
if [ "$TZ1" = "$TZ2" ]; then ok "bounds independent of TimeZone ($TZ1)"; else fail "bounds depend on TimeZone: $TZ1 / $TZ2"; fi
# bounds and the partitions' own defaults are printed without naming their
# relation (pg_get_expr(..., 0): naming it opens it, a relcache entry per
# partition); the text must be what naming it prints, for every kind
q -c "CREATE SCHEMA bnd;
	CREATE SEQUENCE bnd.s;
	CREATE TABLE bnd.r (a int, b text, c timestamptz DEFAULT now(), d numeric DEFAULT 1.5,
						e text DEFAULT 'it''s', f bigint DEFAULT nextval('bnd.s'))
		PARTITION BY RANGE (a, b);
	CREATE TABLE bnd.r1 PARTITION OF bnd.r (e DEFAULT 'own') FOR VALUES FROM (MINVALUE, MINVALUE) TO (10, 'x''y');
	CREATE TABLE bnd.r2 PARTITION OF bnd.r FOR VALUES FROM (10, 'x''y') TO (MAXVALUE, MAXVALUE);
	CREATE TABLE bnd.rd PARTITION OF bnd.r DEFAULT;
	CREATE TABLE bnd.l (a text, t timestamptz, n numeric) PARTITION BY LIST (a);
	CREATE TABLE bnd.l1 PARTITION OF bnd.l FOR VALUES IN ('a', 'b c', NULL, 'é\"x');
	CREATE TABLE bnd.l2 PARTITION OF bnd.l FOR VALUES IN ('z') PARTITION BY RANGE (t, n);
	CREATE TABLE bnd.l21 PARTITION OF bnd.l2 FOR VALUES FROM ('2020-01-01 10:00+03', -1.25) TO ('infinity', 1e10);
	CREATE TABLE bnd.h (a int, b text) PARTITION BY HASH (a, b);
	CREATE TABLE bnd.h0 PARTITION OF bnd.h FOR VALUES WITH (MODULUS 4, REMAINDER 3);
	CREATE TABLE bnd.k (a bigint) PARTITION BY LIST ((a % 10));
	CREATE TABLE bnd.k1 PARTITION OF bnd.k FOR VALUES IN (1, -3);"
check "bounds print the same without their relation (8 partitions)" "
	SET TimeZone = 'Asia/Tokyo';
	SELECT count(*) = 8 AND bool_and(pg_get_expr(c.relpartbound, c.oid) = pg_get_expr(c.relpartbound, 0))
	  FROM pg_class c WHERE c.relnamespace = 'bnd'::regnamespace AND c.relispartition AND c.relkind IN ('r', 'p')"
check "partitions' defaults print the same without their relation" "
	SELECT count(*) >= 12 AND bool_and(pg_get_expr(d.adbin, d.adrelid) = pg_get_expr(d.adbin, 0))
	  FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
	 WHERE c.relnamespace = 'bnd'::regnamespace AND c.relispartition"
check "a partition's own default is captured" "
	SELECT p->'defaults' = jsonb_build_array(jsonb_build_object('column', 'e', 'default', '''own''::text'))
	  FROM jsonb_array_elements(partback._capture_table('bnd.r')->'partitions') p
	 WHERE p->>'name' = 'r1'"
q -c "SET client_min_messages = warning" -c "DROP SCHEMA bnd CASCADE"

# ---------------------------------------- search_path attack: nothing of evil runs
q -c "CREATE SCHEMA evil;
      CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'evil format'; END\$\$;
      CREATE FUNCTION evil.format(text, regclass) RETURNS text LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'evil format'; END\$\$;
      CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'evil quote_ident'; END\$\$;
      CREATE FUNCTION evil.array_to_string(text[], text) RETURNS text LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'evil array_to_string'; END\$\$;
      CREATE FUNCTION evil.format_type(oid, integer) RETURNS text LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'evil format_type'; END\$\$;
      CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = texteq, NEGATOR = OPERATOR(evil.<>));
      CREATE TABLE evil.pg_class (oid oid);"
check "functions ignore the caller's search_path" "
	SET search_path = evil, public;
	SELECT (SELECT count(*) = 5 FROM partback._leaves('app.quotes'))
	   AND (SELECT partback._capture_table('app.quotes') = partback._capture_table('app.quotes'))
	   AND (SELECT count(*) = 1 FROM partback._prepare_target(partback._capture_table('app.items'), 'app', 'items_evil', NULL, false, false))"
q -c "DROP TABLE app.items_evil"
q -c "DROP SCHEMA evil CASCADE"

# ------------------------------------ roundtrip: capture, drop, prepare, load, finish
q <<'EOF'
CREATE SCHEMA keep;
CREATE TABLE keep.defs AS
  SELECT c.oid::regclass::text AS tname, partback._capture_table(c.oid) AS def,
		 row_number() OVER (ORDER BY c.oid) AS n
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'app' AND c.relkind IN ('r', 'p') AND NOT c.relispartition;
CREATE TABLE keep.q AS SELECT * FROM app.quotes;
CREATE TABLE keep.u AS SELECT * FROM app."Ünïcødé tåble";
CREATE TABLE keep.i AS SELECT * FROM app.items;
CREATE TABLE keep.seqs AS
  SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE schemaname = 'app';
CREATE TABLE keep.leaves AS
  SELECT d.tname, l.path, l.relid::regclass::text AS rel FROM keep.defs d, partback._leaves(d.tname::regclass) l;
EOF
dump "$DB" > "$TMP/before.sql"

q <<'EOF'
DROP TABLE app.orders, app.items, app.quotes, app."Ünïcødé tåble", app.empty, app."we.ird/na..me", app.ul, app.ev;
DROP SCHEMA "other sch";
CREATE TABLE keep.res AS
  SELECT d.tname, r.path, r.relid::regclass::text AS rel, r.created
	FROM keep.defs d,
		 partback._prepare_target(d.def, d.def->>'schema', d.def->>'name', NULL, false, true) r;
DO $$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT * FROM (VALUES ('app.quotes','keep.q'), ('app."Ünïcødé tåble"','keep.u'), ('app.items','keep.i')) v(t, k) LOOP
	SELECT string_agg(quote_ident(c), ', ') INTO cols FROM unnest(partback._column_names(r.t::regclass)) c;
	EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s', r.t, cols, cols, r.k);
  END LOOP;
END $$;
SELECT partback._finish_target(def, tname::regclass) FROM keep.defs ORDER BY n;
EOF
dump "$DB" > "$TMP/after.sql"
if diff "$TMP/before.sql" "$TMP/after.sql" > "$TMP/diff"; then ok "roundtrip: pg_dump -s identical"
else fail "roundtrip: pg_dump -s differs"; sed 's/^/     /' "$TMP/diff" | head -80; fi
check "roundtrip: one row per leaf, same paths and names, all created" "
	SELECT (SELECT array_agg(row(tname, path, rel)::text ORDER BY 1) FROM keep.leaves)
		 = (SELECT array_agg(row(tname, path, rel)::text ORDER BY 1) FROM keep.res)
	   AND (SELECT bool_and(created) FROM keep.res)"
check "roundtrip: data" "
	SELECT NOT EXISTS (SELECT * FROM keep.q EXCEPT ALL SELECT * FROM app.quotes)
	   AND NOT EXISTS (SELECT * FROM app.quotes EXCEPT ALL SELECT * FROM keep.q)"
check "roundtrip: sequence positions exactly the source's (items_id_seq too, behind max(id) = 50 as on the source)" "
	SELECT array_agg(row(s.sequencename, s.last_value)::text ORDER BY 1)
		 = (SELECT array_agg(row(sequencename, last_value)::text ORDER BY 1) FROM keep.seqs)
	  FROM pg_sequences s WHERE s.schemaname = 'app'"
check "roundtrip: identity continues" "
	WITH i AS (INSERT INTO app.quotes (ts, sym) VALUES ('2012-01-01', 'new') RETURNING id) SELECT id = 310 FROM i"
check "roundtrip: identity by default continues where the source was" "
	WITH i AS (INSERT INTO app.items (r) VALUES ('[100,101)') RETURNING id) SELECT id = 3 FROM i"
check "roundtrip: prepare again (existing target) matches everything, creates nothing" "
	SELECT bool_and(NOT r.created) AND count(*) = 5
	  FROM keep.defs d, partback._prepare_target(d.def, 'app', 'quotes', NULL, true, false) r WHERE d.tname = 'app.quotes'"

# ------------------------------------ prepare into other names
q -c "CREATE TABLE keep.res2 AS
  SELECT r.path, r.relid::regclass::text AS rel, r.created
	FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', NULL, false, false) r
   WHERE d.tname = 'app.quotes'"
check "other name: partitions renamed into the target schema" "
	SELECT array_agg(rel ORDER BY path COLLATE \"C\") = ARRAY['app2.quotes_copy_20120101_h0', 'app2.quotes_copy_20120101_h1',
		'app2.\"quotes_copy_q/2..h0\"', 'app2.\"quotes_copy_q \"\"2\"\" h1.x\"', 'app2.quotes_copy_def']
	   AND bool_and(created) FROM keep.res2"
check "other name: same shape (bounds, keys, depth)" "
	SELECT array_agg(regexp_replace(s, '^[^|]*', '') ORDER BY regexp_replace(s, '^[^|]*', ''))
		 = (SELECT array_agg(regexp_replace(s, '^[^|]*', '') ORDER BY regexp_replace(s, '^[^|]*', '')) FROM pbt.shape('app.quotes') s)
	  FROM pbt.shape('app2.quotes_copy') s"
check "other name: same columns, constraints, index definitions" "
	WITH a AS (SELECT partback._capture_table('app.quotes') d), b AS (SELECT partback._capture_table('app2.quotes_copy') d)
	SELECT jsonb_path_query_array(a.d, '\$.columns[*].name') = jsonb_path_query_array(b.d, '\$.columns[*].name')
	   AND jsonb_path_query_array(a.d, '\$.columns[*].type') = jsonb_path_query_array(b.d, '\$.columns[*].type')
	   AND jsonb_path_query_array(a.d, '\$.columns[*].collation') = jsonb_path_query_array(b.d, '\$.columns[*].collation')
	   AND jsonb_path_query_array(a.d, '\$.columns[*].generated') = jsonb_path_query_array(b.d, '\$.columns[*].generated')
	   AND jsonb_path_query_array(a.d, '\$.columns[*].sequence.increment') = jsonb_path_query_array(b.d, '\$.columns[*].sequence.increment')
	   AND (SELECT array_agg(x ORDER BY x) FROM jsonb_array_elements_text(jsonb_path_query_array(a.d, '\$.constraints[*].definition')) x)
		 = (SELECT array_agg(x ORDER BY x) FROM jsonb_array_elements_text(jsonb_path_query_array(b.d, '\$.constraints[*].definition')) x)
	   AND (SELECT array_agg(x ORDER BY x) FROM jsonb_array_elements_text(jsonb_path_query_array(a.d, '\$.indexes[*].definition')) x)
		 = (SELECT array_agg(x ORDER BY x) FROM jsonb_array_elements_text(jsonb_path_query_array(b.d, '\$.indexes[*].definition')) x)
	   AND b.d->>'comment' = 'quotes table'
	  FROM a, b"
check "other name in the same schema: taken index/constraint names left to PostgreSQL" "
	SELECT count(*) = 5 FROM keep.defs d, partback._prepare_target(d.def, 'app', 'quotes2', NULL, false, false) r
	 WHERE d.tname = 'app.quotes'"
check "other name: 63-byte names cut at a character boundary, keeping the partitions' suffixes" "
	CREATE TEMP TABLE r AS SELECT r.* FROM keep.defs d, partback._prepare_target(d.def, 'app', 'Ünïcødé tåble ' || repeat('é', 22), NULL, false, false) r
				WHERE d.tname = 'app.\"Ünïcødé tåble\"';
	WITH n AS (SELECT c.relname::text AS relname FROM r JOIN pg_class c ON c.oid = r.relid)
	SELECT array_agg(relname ORDER BY relname)
			 = (SELECT array_agg(x ORDER BY x)
				  FROM unnest(ARRAY['Ünïcødé tåble ' || repeat('é', 21) || '_a',
									'Ünïcødé tåble ' || repeat('é', 18) || '_default',
									'Ünïcødé tå_x' || repeat('é', 23)]) x)
	   AND bool_and(octet_length(relname) = 63) FROM n"
q -c "CREATE TABLE app2.quotes_copy3_def ()"
check "other name: derived name taken gets _1" "
	SELECT rel = 'app2.quotes_copy3_def_1'
	  FROM (SELECT r.relid::regclass::text AS rel, r.path FROM keep.defs d,
			partback._prepare_target(d.def, 'app2', 'quotes_copy3', ARRAY['quotes_def'], false, false) r WHERE d.tname = 'app.quotes') x"
check "other name: subset of leaves creates only what they need" "
	SELECT array_agg(s) = ARRAY['quotes_copy3_def_1|r|DEFAULT|'] FROM pbt.shape('app2.quotes_copy3') s"
check "plain table into another name; self FK points at the target" "
	SELECT count(*) = 1 FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'items', NULL, false, false) r WHERE d.tname = 'app.items';
	SELECT partback._finish_target(def, 'app2.items') FROM keep.defs WHERE tname = 'app.items';
	SELECT pg_get_constraintdef(oid) = 'FOREIGN KEY (parent) REFERENCES app2.items(id)' FROM pg_constraint WHERE conrelid = 'app2.items'::regclass AND contype = 'f'"
check "finish twice adds no second FK" "
	SELECT partback._finish_target(def, 'app2.items') FROM keep.defs WHERE tname = 'app.items';
	SELECT count(*) = 1 FROM pg_constraint WHERE conrelid = 'app2.items'::regclass AND contype = 'f'"
check "zero-column table into another name" "
	SELECT r.created FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'empty', NULL, false, false) r WHERE d.tname = 'app.empty'"

# ------------------------------------ existing targets
q -c "CREATE TABLE app2.items_same (sid smallint, r int4range, id int, parent int, extra int GENERATED ALWAYS AS (id + 1) STORED)"
check "existing plain table with the same columns in another order" "
	SELECT array_agg(row(r.path, r.relid::regclass::text, r.created)::text) = ARRAY[row('items', 'app2.items_same', false)::text]
	  FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'items_same', NULL, true, false) r WHERE d.tname = 'app.items'"
check_error "existing plain table, leaf path of a partitioned def" 22023 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'items_same', ARRAY['x'], true, false) r WHERE d.tname = 'app.items'"
check_error "must_not_exist" 42P07 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app', 'quotes', NULL, false, true) r WHERE d.tname = 'app.quotes'"
q -c "CREATE TABLE app2.wrongcols (id bigint, ts date, sym varchar, price numeric(12,4), extra int, qty app.posint, mood app.mood) PARTITION BY RANGE (ts)"
check_error "different column set" 42804 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'wrongcols', NULL, false, false) r WHERE d.tname = 'app.quotes'"
q -c "CREATE TABLE app2.wrongkey (LIKE app.quotes INCLUDING GENERATED) PARTITION BY LIST (sym)"
check_error "different partition key" 42P17 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'wrongkey', NULL, false, false) r WHERE d.tname = 'app.quotes'"
q -c "CREATE TABLE app2.notpart (LIKE app.quotes INCLUDING GENERATED)"
check_error "target not partitioned" 42P17 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'notpart', NULL, false, false) r WHERE d.tname = 'app.quotes'"
q -c "CREATE TABLE app2.subkey (LIKE app.quotes INCLUDING GENERATED) PARTITION BY RANGE (ts);
      CREATE TABLE app2.subkey_1 PARTITION OF app2.subkey FOR VALUES FROM ('2012-01-01') TO ('2012-01-02') PARTITION BY LIST (sym)"
check_error "different sub-partition key" 42P17 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'subkey', NULL, false, false) r WHERE d.tname = 'app.quotes'"
q -c "CREATE VIEW app2.aview AS SELECT 1"
check_error "target is a view" 42809 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'aview', NULL, false, false) r WHERE d.tname = 'app.quotes'"
check_error "unknown leaf path" 22023 "SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', ARRAY['nope'], false, false) r WHERE d.tname = 'app.quotes'"
check_error "missing type names the type" 42704 "SELECT * FROM keep.defs d, partback._prepare_target(jsonb_set(d.def, '{columns,1,type}', '\"app.nosuchtype\"'), 'app2', 'badtype', NULL, false, false) r WHERE d.tname = 'app.items'"
check_error "type text is not SQL" 42P17 "SELECT * FROM keep.defs d, partback._prepare_target(jsonb_set(d.def, '{columns,1,type}', '\"int); DROP TABLE app.items; --\"'), 'app2', 'badtype', NULL, false, false) r WHERE d.tname = 'app.items'"
q -c "DROP ROLE IF EXISTS pbdef_other; CREATE ROLE pbdef_other; GRANT USAGE, CREATE ON SCHEMA app2 TO pbdef_other; GRANT USAGE ON SCHEMA keep, app, partback TO pbdef_other; GRANT SELECT ON keep.defs TO pbdef_other;"
check_error "target owned by someone else" 42501 "SET ROLE pbdef_other; SELECT * FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', NULL, false, false) r WHERE d.tname = 'app.quotes'"

# ------------------------------------ matching by bound, drop_missing
q -c "ALTER TABLE app2.quotes_copy_20120101 RENAME TO renamed_day1;
      ALTER TABLE app2.quotes_copy_20120101_h0 RENAME TO renamed_h0;
      CREATE TABLE app2.extra PARTITION OF app2.quotes_copy FOR VALUES FROM ('2013-01-01') TO ('2013-01-02');"
q -c "DROP TABLE app2.\"quotes_copy_q \"\"2\"\" h1.x\"; CREATE TABLE app2.extra_sub PARTITION OF app2.quotes_copy_20120102 FOR VALUES WITH (modulus 4, remainder 3);"
q -c "CREATE TABLE keep.res3 AS SELECT r.path, r.relid::regclass::text AS rel, r.created
	FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', NULL, false, false) r WHERE d.tname = 'app.quotes'" 2>&1 | sed 's/^/     (expected) /'
check "without drop_missing, an overlapping extra partition makes creation fail" "SELECT to_regclass('keep.res3') IS NULL"
check "drop_missing: renamed partitions matched by bound, missing created, extras dropped" "
	CREATE TABLE keep.res3 AS SELECT r.path, r.relid::regclass::text AS rel, r.created
	  FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', NULL, true, false) r WHERE d.tname = 'app.quotes';
	SELECT (SELECT array_agg(row(rel, created)::text ORDER BY path COLLATE \"C\") FROM keep.res3)
		 = ARRAY[row('app2.renamed_h0', false)::text, row('app2.quotes_copy_20120101_h1', false)::text,
				 row('app2.\"quotes_copy_q/2..h0\"', false)::text, row('app2.\"quotes_copy_q \"\"2\"\" h1.x\"', true)::text,
				 row('app2.quotes_copy_def', false)::text]
	   AND to_regclass('app2.extra') IS NULL AND to_regclass('app2.extra_sub') IS NULL
	   AND to_regclass('app2.renamed_day1') IS NOT NULL"
q -c "CREATE TABLE app2.extra PARTITION OF app2.quotes_copy FOR VALUES FROM ('2013-01-01') TO ('2013-01-02')"
check "no drop_missing: extra partitions stay" "
	SELECT count(*) = 1 FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', ARRAY['quotes_def'], false, false) r WHERE d.tname = 'app.quotes';
	SELECT to_regclass('app2.extra') IS NOT NULL"
check "drop_missing with a subset of leaves keeps only what they pass through" "
	SELECT count(*) = 1 FROM keep.defs d, partback._prepare_target(d.def, 'app2', 'quotes_copy', ARRAY['quotes_20120101/quotes_20120101_h1'], true, false) r WHERE d.tname = 'app.quotes';
	SELECT array_agg(s ORDER BY s) = ARRAY['renamed_day1', 'renamed_day1/quotes_copy_20120101_h1'] FROM (SELECT split_part(s, '|', 1) s FROM pbt.shape('app2.quotes_copy') s) x"

# ------------------------------------ restore on another cluster-like database
setup_db "$DB2"
q -At -c "SELECT def FROM keep.defs WHERE tname = 'app.quotes'" > "$TMP/def.json"
DEF=$(cat "$TMP/def.json")
out=$(psql -X -q -At -d "$DB2" -c "SELECT pbt.expect_error(\$x\$SELECT * FROM partback._prepare_target(\$d\$$DEF\$d\$::jsonb - 'dependencies', 'app', 'quotes', NULL, false, true)\$x\$, '42704')" 2>&1)
if [ "$(echo "$out" | tail -n 1)" = "t" ]; then ok "new database, a definition without its dependencies (an older backup): the missing type or collation is named"; echo "$out" | grep -v '^t$' | sed 's/^/     /'; else fail "missing type on new database"; echo "$out"; fi
out=$(psql -X -q -At -d "$DB2" -c "SELECT count(*) FROM partback._prepare_target(\$d\$$DEF\$d\$, 'app', 'quotes', NULL, false, true)" 2>&1)
if [ "$out" = "5" ]; then ok "new database: migrate-style creation"; else fail "new database creation: $out"; fi
out=$(psql -X -q -At -d "$DB2" -c "SELECT to_regtype('app.mood') IS NOT NULL AND to_regtype('app.posint') IS NOT NULL
	AND (SELECT to_jsonb(c) ?| ARRAY['colliculocale', 'colllocale'] AND (c.collprovider = 'i') FROM pg_collation c WHERE collname = 'mycoll')" 2>&1)
if [ "$out" = "t" ]; then ok "new database: the enum, the domain and the ICU collation the table needs are created"; else fail "new database: types and collation: $out"; fi
pg_dump -d "$DB2" -s -t 'app.quotes' -t 'app.quotes_2012*' -t 'app.quotes_def' -t 'app.quotes_empty' -t 'app."q ""2"" h1.x"' -t '"other sch".*' -N partback -N pbt | grep -v '^\\\(un\)\?restrict' > "$TMP/db2.sql"
pg_dump -d "$DB" -s -t 'app.quotes' -t 'app.quotes_2012*' -t 'app.quotes_def' -t 'app.quotes_empty' -t 'app."q ""2"" h1.x"' -t '"other sch".*' -N partback -N pbt -N keep | grep -v '^\\\(un\)\?restrict' > "$TMP/db1.sql"
if diff "$TMP/db1.sql" "$TMP/db2.sql" > "$TMP/diff2"; then ok "new database: pg_dump -s of the table identical"
else fail "new database: pg_dump -s differs"; sed 's/^/     /' "$TMP/diff2" | head -60; fi

echo
if [ $FAILS -eq 0 ]; then echo "all passed"; else echo "$FAILS FAILED"; fi
if [ -z "${KEEP:-}" ]; then
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB2" -c "DROP DATABASE IF EXISTS $DB" -c "DROP ROLE IF EXISTS pbdef_other"
fi
[ $FAILS -eq 0 ]
