-- fidelity_schema.sql: the tricky schema of partback's fidelity TAP tests
-- (test/t/010_roundtrip.pl, test/t/020_new_cluster.pl).
--
-- The file has four sections, each starting with a marker line; the tests
-- run them separately:
--
--   @@cluster  once per cluster: a tablespace (in place, under pg_tblspc).
--   @@types    enums, domains, composites, trigger functions.  A backup
--              holds those its tables use, and a restore creates them
--              (020 migrates into a database without them); an existing
--              one must match.
--   @@helpers  schema pbtest: functions that fingerprint content and
--              structure (no tables, so never part of a backup).
--   @@tables   the tables and their data, in schemas fid, fid_parts,
--              "we""ird sch" and public.
--
-- Plain SQL only (no psql meta-commands); the database must be UTF8.
-- Data is modest: about 12,000 rows and 10 MB of TOASTed values.

-- @@cluster ----------------------------------------------------------------
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE fid_ts LOCATION '';
RESET allow_in_place_tablespaces;

-- @@types ------------------------------------------------------------------
CREATE SCHEMA fidt;
CREATE TYPE fidt.mood AS ENUM ('sad', 'ok', 'happy ü', 'it''s "quoted"');
CREATE DOMAIN fidt.posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN fidt.short_text AS text COLLATE "C" CHECK (length(VALUE) <= 20);
-- a composite of built-in types
CREATE TYPE fidt.pair AS (a integer, b text, c numeric[]);
-- a composite holding user types
CREATE TYPE fidt.tagged AS (m fidt.mood, p fidt.pair, d fidt.posint);
-- a range over a user type; a composite holding a type without binary I/O
CREATE TYPE fidt.moodrange AS RANGE (subtype = fidt.mood);
CREATE TYPE fidt.withacl AS (a aclitem, n integer);
-- the type of a typed table
CREATE TYPE fidt.person AS (name text, age integer, mood fidt.mood);
-- collations of no extension: ICU, not deterministic; libc
CREATE COLLATION fidt.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE COLLATION fidt.libc_c (provider = libc, lc_collate = 'C', lc_ctype = 'C');
COMMENT ON COLLATION fidt.ci IS 'case-insensitive';

-- roles that own and may read tables (cluster-wide: made once per cluster)
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['pbfid_owner', 'pbfid_reader', 'pbfid_tenant'] LOOP
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I', r);
		END IF;
	END LOOP;
END
$$;

-- what triggers call, and a publication tables join (per database)
CREATE FUNCTION fidt.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION fidt.nothing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
-- privileges of what tables need: not every role may run or use them
REVOKE EXECUTE ON FUNCTION fidt.keep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fidt.keep() TO pbfid_owner WITH GRANT OPTION;
REVOKE USAGE ON TYPE fidt.mood FROM PUBLIC;
GRANT USAGE ON TYPE fidt.mood TO pbfid_reader;
GRANT USAGE ON DOMAIN fidt.posint TO pbfid_tenant;
SET client_min_messages = error;	-- wal_level is not logical
CREATE PUBLICATION fid_pub;
RESET client_min_messages;

-- @@helpers ----------------------------------------------------------------
CREATE SCHEMA pbtest;

-- Every user table that is not a partition: the unit of backup_table.
-- name is 'schema.table' unquoted, as partback's source_table wants it.
CREATE FUNCTION pbtest.roots()
RETURNS TABLE (name text, rel regclass)
LANGUAGE sql STABLE AS $$
	SELECT n.nspname || '.' || c.relname, c.oid::regclass
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
	   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'partback', 'pbtest')
	   AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
	 ORDER BY n.nspname || '.' || c.relname COLLATE "C"
$$;

-- Row count and md5 of all rows as text, in a fixed order, under fixed
-- output settings.  cond filters rows of alias t.  Works for zero columns.
CREATE FUNCTION pbtest.fp(rel regclass, cond text DEFAULT 'true')
RETURNS text
LANGUAGE plpgsql STABLE
SET timezone = 'UTC' SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres'
SET bytea_output = 'hex' SET extra_float_digits = 1 SET lc_monetary = 'C'
AS $$
DECLARE
	n bigint;
	h text;
BEGIN
	EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text COLLATE "C"), ''''))'
				   ' FROM %s AS t WHERE %s', rel, cond) INTO n, h;
	RETURN n || ' rows ' || h;
END
$$;

-- Partition path of rel below root, as DESIGN.md defines it.
CREATE FUNCTION pbtest.path(root regclass, rel regclass)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN root = rel THEN (SELECT relname::text FROM pg_class WHERE oid = rel)
		   ELSE (SELECT string_agg(CASE WHEN c.relnamespace = r.relnamespace THEN c.relname::text
										ELSE n.nspname || '.' || c.relname END,
								   '/' ORDER BY a.ord DESC)
				   FROM pg_partition_ancestors(rel) WITH ORDINALITY AS a(relid, ord)
				   JOIN pg_class c ON c.oid = a.relid
				   JOIN pg_namespace n ON n.oid = c.relnamespace,
						pg_class r
				  WHERE r.oid = root AND a.relid <> root) END
$$;

-- The bounds from the root's child down to rel: identifies a partition
-- whatever its name.  '' for the root.
CREATE FUNCTION pbtest.chain(root regclass, rel regclass)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT coalesce(string_agg(pg_get_expr(c.relpartbound, c.oid), ' / ' ORDER BY a.ord DESC), '')
	  FROM pg_partition_ancestors(rel) WITH ORDINALITY AS a(relid, ord)
	  JOIN pg_class c ON c.oid = a.relid
	 WHERE a.relid <> root
$$;

-- Root and every partition of a table, with chain, path, level, leaf flag.
CREATE FUNCTION pbtest.tree(root regclass)
RETURNS TABLE (rel regclass, chain text, path text, isleaf boolean)
LANGUAGE sql STABLE AS $$
	SELECT root, '', NULL, (SELECT relkind = 'r' FROM pg_class WHERE oid = root)
	UNION ALL
	SELECT t.relid, pbtest.chain(root, t.relid), pbtest.path(root, t.relid), t.isleaf
	  FROM pg_partition_tree(root) AS t
	 WHERE t.relid <> root
$$;

-- One line per leaf partition: chain, path, row count and md5 of its rows
-- (read through the root, so in the root's column order).
CREATE FUNCTION pbtest.leaves(root regclass)
RETURNS TABLE (chain text, path text, fp text)
LANGUAGE sql STABLE AS $$
	SELECT t.chain, t.path, pbtest.fp(root, format('t.tableoid = %s', t.rel::oid))
	  FROM pbtest.tree(root) AS t
	 WHERE t.isleaf AND t.rel <> root
	 ORDER BY t.chain COLLATE "C"
$$;

-- Privileges, in a stable order: grantee:privilege[*] (* = grantable).
CREATE FUNCTION pbtest.acl(acl aclitem[])
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(e, ',' ORDER BY e COLLATE "C")
	  FROM (SELECT format('%s:%s%s', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee)::text END,
						  x.privilege_type, CASE WHEN x.is_grantable THEN '*' ELSE '' END) AS e
			  FROM aclexplode(CASE WHEN cardinality(acl) > 0 THEN acl END) x) AS s
$$;

-- Structure of one relation, free of its own name and of the names of its
-- indexes, constraints and sequences (a copy restored under another name
-- compares equal).  Columns in attnum order, unless by_name.
CREATE FUNCTION pbtest.relstruct(r regclass, by_name boolean DEFAULT false)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT concat_ws(E'\n',
		format('kind %s persistence %s partkey %s comment %s options %s of %s inherits %s tablespace %s',
			   c.relkind, c.relpersistence, pg_get_partkeydef(c.oid),
			   quote_nullable(obj_description(c.oid, 'pg_class')), c.reloptions,
			   CASE WHEN c.reloftype <> 0 THEN format_type(c.reloftype, NULL) END,
			   (SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)
				  FROM pg_inherits i WHERE i.inhrelid = c.oid AND NOT c.relispartition),
			   (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace)),
		format('owner %s acl %s row security %s force %s replica identity %s toast options %s',
			   pg_get_userbyid(c.relowner), pbtest.acl(c.relacl), c.relrowsecurity, c.relforcerowsecurity,
			   c.relreplident, (SELECT t.reloptions FROM pg_class t WHERE t.oid = c.reltoastrelid)),
		(SELECT string_agg(format('policy %s %s %s to %s using %s check %s', quote_ident(p.polname), p.polcmd,
								  CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
								  (SELECT string_agg(rn, ',' ORDER BY rn COLLATE "C")
									 FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END AS rn
											 FROM unnest(p.polroles) r) AS rs),
								  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)),
						   E'\n' ORDER BY p.polname COLLATE "C")
		   FROM pg_policy p WHERE p.polrelid = c.oid),
		(SELECT string_agg(format('column %s %s%s%s%s%s%s storage %s comment %s statistics %s options %s compression %s acl %s local %s inherited %s',
								  quote_ident(a.attname),
								  format_type(a.atttypid, a.atttypmod),
								  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
								  CASE WHEN a.attcollation <> 0 AND a.attcollation IS DISTINCT FROM
											(SELECT typcollation FROM pg_type WHERE oid = a.atttypid)
									   THEN ' COLLATE ' || (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation)
									   ELSE '' END,
								  CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS ' || pg_get_expr(d.adbin, d.adrelid) || ' STORED'
									   WHEN a.attgenerated = 'v' THEN ' GENERATED ALWAYS AS ' || pg_get_expr(d.adbin, d.adrelid) || ' VIRTUAL'
									   WHEN a.atthasdef THEN ' DEFAULT ' || regexp_replace(pg_get_expr(d.adbin, d.adrelid),
																						   'nextval\(''[^)]*''::regclass\)', 'nextval(SEQ)')
									   ELSE '' END,
								  CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
													 WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END,
								  (SELECT format(' SEQUENCE(%s start %s inc %s min %s max %s cache %s cycle %s)',
												 format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
												 s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
									 FROM pg_depend dep JOIN pg_sequence s ON s.seqrelid = dep.objid
									WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
									  AND dep.refobjid = c.oid AND dep.refobjsubid = a.attnum
									  AND dep.deptype IN ('a', 'i')),
								  a.attstorage,
								  quote_nullable(col_description(c.oid, a.attnum)),
								  nullif(a.attstattarget, -1),
								  (SELECT array_agg(o) FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\_attver=%'),
								  nullif(a.attcompression, ''),
								  pbtest.acl(a.attacl), a.attislocal, a.attinhcount),
						   E'\n' ORDER BY CASE WHEN by_name THEN a.attname::text COLLATE "C" END, a.attnum)
		   FROM pg_attribute a
		   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
		(SELECT string_agg(format('constraint %s %s%s comment %s local %s inherited %s', con.contype, pg_get_constraintdef(con.oid),
								  CASE WHEN con.condeferrable THEN ' deferrable' ELSE '' END,
								  quote_nullable(obj_description(con.oid, 'pg_constraint')),
								  con.conislocal, con.coninhcount),
						   E'\n' ORDER BY con.contype, pg_get_constraintdef(con.oid) COLLATE "C")
		   FROM pg_constraint con WHERE con.conrelid = c.oid),
		(SELECT string_agg(format('trigger %s enabled %s', replace(pg_get_triggerdef(t.oid),
											' ON ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ', ' ON TABLE '),
								  t.tgenabled),
						   E'\n' ORDER BY t.tgname COLLATE "C")
		   FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
		(SELECT string_agg('rule ' || replace(pg_get_ruledef(r.oid),
											 ' TO ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ', ' TO TABLE '),
						   E'\n' ORDER BY r.rulename COLLATE "C")
		   FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN'),
		(SELECT string_agg(format('statistics %s target %s',
								  regexp_replace(pg_get_statisticsobjdef(s.oid), '^CREATE STATISTICS \S+ (.*) FROM .*$', '\1'),
								  nullif(s.stxstattarget, -1)),
						   E'\n' ORDER BY s.stxname COLLATE "C")
		   FROM pg_statistic_ext s WHERE s.stxrelid = c.oid),
		(SELECT string_agg(format('publication %s columns %s where %s', p.pubname, pr.prattrs,
								  pg_get_expr(pr.prqual, pr.prrelid)),
						   E'\n' ORDER BY p.pubname COLLATE "C")
		   FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE pr.prrelid = c.oid),
		(SELECT string_agg('index ' || x.def, E'\n' ORDER BY x.def COLLATE "C")
		   FROM (SELECT replace(replace(pg_get_indexdef(i.indexrelid),
										' INDEX ' || quote_ident(ic.relname) || ' ON ', ' INDEX ON '),
								quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' USING ',
								'TABLE USING ')
						|| CASE WHEN i.indisclustered THEN ' clustered' ELSE '' END
						|| CASE WHEN i.indisreplident THEN ' replica identity' ELSE '' END
						|| CASE WHEN NOT i.indisvalid THEN ' invalid' ELSE '' END
						|| COALESCE(' tablespace ' || (SELECT spcname FROM pg_tablespace WHERE oid = ic.reltablespace), '')
						|| COALESCE(' statistics ' || (SELECT string_agg(ia.attnum || '=' || ia.attstattarget, ',' ORDER BY ia.attnum)
														 FROM pg_attribute ia
														WHERE ia.attrelid = i.indexrelid AND ia.attstattarget > 0), '')
						|| ' comment ' || quote_nullable(obj_description(i.indexrelid, 'pg_class')) AS def
				   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
				  WHERE i.indrelid = c.oid) AS x))
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = r
$$;

-- Structure of a whole table: the root, then each partition by chain.
-- Partitions list their columns by name (their physical order is checked
-- separately by pbtest.colorder).
CREATE FUNCTION pbtest.struct(root regclass)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('[%s]%s', t.chain, E'\n' || pbtest.relstruct(t.rel, t.rel <> root)),
					  E'\n' ORDER BY t.chain COLLATE "C")
	  FROM pbtest.tree(root) AS t
$$;

-- Physical column order of every relation of a table, by chain.
CREATE FUNCTION pbtest.colorder(root regclass)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('[%s] %s', t.chain,
							 (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
								FROM pg_attribute a
							   WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped)),
					  E'\n' ORDER BY t.chain COLLATE "C")
	  FROM pbtest.tree(root) AS t
$$;

-- The names a table's restore should keep: relation per chain (with its
-- schema), indexes, constraints, owned sequences.
CREATE FUNCTION pbtest.names(root regclass)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('[%s] %s.%s indexes(%s) constraints(%s) sequences(%s)', t.chain,
							 quote_ident(n.nspname), quote_ident(c.relname),
							 (SELECT string_agg(quote_ident(ic.relname), ', ' ORDER BY ic.relname COLLATE "C")
								FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
							   WHERE i.indrelid = t.rel),
							 (SELECT string_agg(quote_ident(con.conname), ', ' ORDER BY con.conname COLLATE "C")
								FROM pg_constraint con WHERE con.conrelid = t.rel),
							 (SELECT string_agg(dep.objid::regclass::text, ', ' ORDER BY dep.objid::regclass::text COLLATE "C")
								FROM pg_depend dep JOIN pg_sequence s ON s.seqrelid = dep.objid
							   WHERE dep.classid = 'pg_class'::regclass AND dep.refobjid = t.rel
								 AND dep.deptype IN ('a', 'i'))),
					  E'\n' ORDER BY t.chain COLLATE "C")
	  FROM pbtest.tree(root) AS t
	  JOIN pg_class c ON c.oid = t.rel JOIN pg_namespace n ON n.oid = c.relnamespace
$$;

-- Positions of the sequences owned by a table's columns (identity, serial).
CREATE FUNCTION pbtest.seqpos(root regclass)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('%s: last_value %s', quote_ident(a.attname),
							 coalesce(pg_sequence_last_value(dep.objid)::text, 'unset')),
					  ', ' ORDER BY a.attnum)
	  FROM pg_depend dep
	  JOIN pg_sequence s ON s.seqrelid = dep.objid
	  JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
	 WHERE dep.classid = 'pg_class'::regclass AND dep.refobjid = root
	   AND dep.deptype IN ('a', 'i')
$$;

-- One line per user table: name, then its fingerprint.
CREATE FUNCTION pbtest.fingerprints()
RETURNS TABLE (name text, fp text)
LANGUAGE sql STABLE AS $$
	SELECT r.name, pbtest.fp(r.rel) FROM pbtest.roots() AS r ORDER BY r.name COLLATE "C"
$$;

-- @@tables -----------------------------------------------------------------
CREATE SCHEMA fid;
CREATE SCHEMA fid_parts;
CREATE SCHEMA "we""ird sch";

-- Every built-in scalar type at its extremes.  No primary key, so that one
-- row can be entirely NULL; id is UNIQUE (NULLs allowed).
CREATE TABLE fid.scalars (
	id		integer UNIQUE,
	i2		smallint,
	i4		integer,
	i8		bigint,
	num		numeric,
	num_ts	numeric(20, 6),
	f4		real,
	f8		double precision,
	m		money,
	b		boolean,
	ch		char(5),
	vc		varchar(10),
	t		text,
	t_c		text COLLATE "C",
	nm		name,
	by		bytea,
	d		date,
	ts		timestamp,
	ts3		timestamp(3),
	tstz	timestamptz,
	tm		time,
	ttz		timetz,
	iv		interval,
	u		uuid,
	ip		inet,
	cn		cidr,
	mac		macaddr,
	mac8	macaddr8,
	bt		bit(8),
	vb		varbit,
	js		json,
	jb		jsonb,
	x		xml,
	o		oid,
	tsv		tsvector,
	tsq		tsquery,
	pt		point,
	bx		box,
	lsn		pg_lsn
);
COMMENT ON TABLE fid.scalars IS 'built-in scalars at their extremes; one row all NULL';
COMMENT ON COLUMN fid.scalars.f8 IS 'NaN, ±Infinity, -0, denormals';

INSERT INTO fid.scalars VALUES
	-- the row of all NULLs
	(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	-- minima
	(1, -32768, -2147483648, -9223372036854775808, '-Infinity', -99999999999999.999999,
	 '-Infinity', '-Infinity', (-92233720368547758.08)::numeric::money, false, '', '',
	 '', '', '', '\x',
	 '-infinity', '-infinity', '-infinity', '-infinity', '00:00:00', '00:00:00+15:59',
	 '-178956970 years -7 mons -2147483647 days -2562047788:00:54.775807',
	 '00000000-0000-0000-0000-000000000000', '0.0.0.0/0', '0.0.0.0/0', '00:00:00:00:00:00',
	 '00:00:00:00:00:00:00:00', B'00000000', B'', '""', '""', '', 0, '', '!a', '(0,0)',
	 '(0,0),(0,0)', '0/0'),
	-- maxima
	(2, 32767, 2147483647, 9223372036854775807, 'Infinity', 99999999999999.999999,
	 'Infinity', 'Infinity', (92233720368547758.07)::numeric::money, true, 'zzzzz', 'zzzzzzzzzz',
	 repeat('z', 1000), 'Z', repeat('n', 63), '\xffffffff',
	 'infinity', 'infinity', 'infinity', 'infinity', '24:00:00', '24:00:00-15:59',
	 '178956970 years 7 mons 2147483647 days 2562047788:00:54.775807',
	 'ffffffff-ffff-ffff-ffff-ffffffffffff', '255.255.255.255/32', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128',
	 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', B'11111111', B'1010101010101010101',
	 '{"a":1,  "a":2, "b" : [1, 2.50, null, true], "c": "\u00fc\"\\", "z": "\u0000"}',
	 '{"z": 1, "a": [{}, [], null, 1.0e-5, "\u0001x\ud83d\udc18"], "": ""}',
	 '<a b="1">x &amp; y<![CDATA[<raw>]]></a>', 4294967295,
	 'a fat:1A cat:2B,3C sat ''it''''s''', 'fat & (rat | !cat) <-> mat', '(1e300,-1e-300)',
	 '(1,2),(-3.5,-4.25)', 'FFFFFFFF/FFFFFFFF'),
	-- NaN, zeros, precision, the oldest dates
	(3, 0, 0, 0, 'NaN', 0, 'NaN', 'NaN', 0, NULL, 'ab', 'ab',
	 'NULL', '\N', 'NULL', '\x00',
	 '4713-01-01 BC', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00.123 BC', '4713-01-01 00:00:00+00 BC',
	 '23:59:59.999999', '12:34:56.789-05:30', '0 seconds',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '::1', '::/0', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
	 B'10101010', B'1', 'null', 'null', 'text<b/>', 1,
	 'a:1 b:2', 'a', '(NaN,Infinity)', '(1,1),(1,1)', '0/1'),
	-- negative zero, denormals, long numerics, the latest dates
	(4, -1, -1, -1, '-0.000000000000000000000000000000000000000000000000001', '-0.000001',
	 '-0', '-0', '-0.01', true, 'ü', 'üüüüüüüüüü',
	 'x', 'x', 'x', '\x0000ff00',
	 '5874897-12-31', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999',
	 '294276-12-31 23:59:59.999999+00', '00:00:00.000001', '00:00:00-15:59', '-00:00:00.000001',
	 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2001:db8::1/64', '2001:db8::/32', '08-00-2b-01-02-03',
	 '0800.2b01.0203.0405', B'00000001', B'0000000000000000000000000000000000000000000000000000000000000000001',
	 '[1e400, -0, 0.1]', '[1e400, -0, 0.1, 123456789012345678901234567890.123456789]',
	 '<?xml version="1.0"?><r/>', 12345, '', '''a b'':*', '(-0,0)', '(0,0),(-1,-1)', '16/B374D848'),
	-- float limits
	(5, 1, 1, 1, ('1' || repeat('0', 1000))::numeric, 1, 1.17549435e-38, 2.2250738585072014e-308,
	 0.01, false, 'a''b', 'a\b', 'b', 'b', 'b', '\x5c', '2000-02-29', '2000-02-29 12:00:00',
	 '2000-02-29 12:00:00.5', '2000-02-29 12:00:00+14', '12:00:00', '12:00:00+00', '1 mon -1 days 00:00:00.000001',
	 '11111111-1111-1111-1111-111111111111', '10.1.2.3/8', '10.0.0.0/8', '01:02:03:04:05:06',
	 '01:02:03:04:05:06:07:08', B'01010101', B'10', '[]', '[]', '<e/>', 2, 'é', 'é', '(1,2)',
	 '(3,4),(1,2)', '1/0'),
	(6, 2, 2, 2, ('0.' || repeat('0', 999) || '1')::numeric, 2, 1e-45, 5e-324,
	 1, true, 'c', 'c', 'c', 'c', 'c', '\x0d0a09', '1999-12-31', '1999-12-31 23:59:59',
	 '1999-12-31 23:59:59.999', '1999-12-31 23:59:59-12', '23:59:59', '23:59:59+01', '-1 days',
	 '22222222-2222-2222-2222-222222222222', '192.168.0.1', '192.168.0.0/24', '0a:0b:0c:0d:0e:0f',
	 '0a:0b:0c:0d:0e:0f:10:11', B'11110000', B'01', '3.14', '3.14', '', 3, '', 'a', '(-1,-2)',
	 '(1,1),(0,0)', 'A/B'),
	(7, 3, 3, 3, '1.10', 3, 3.4028235e38, 1.7976931348623157e308,
	 2, false, '     ', '     ', '   ', ' ', ' ', '\x20', '2024-01-01', '2024-01-01 00:00:00',
	 '2024-01-01 00:00:00', '2024-01-01 00:00:00+00', '00:00:00', '00:00:00+00', '1 year',
	 '33333333-3333-3333-3333-333333333333', '10.0.0.1/32', '10.0.0.1/32', 'ff:00:00:00:00:01',
	 'ff:00:00:00:00:00:00:01', B'00001111', B'1111', '"a\tb"', '"a\tb"', '<e>  </e>', 4,
	 'x:1,2,3', 'x & y', '(0,0)', '(0,0),(0,0)', '2/2');

-- bulk rows, so that the table spans several 1 MB chunks
INSERT INTO fid.scalars (id, i2, i4, i8, num, num_ts, f4, f8, m, b, ch, vc, t, t_c, nm, by, d, ts, ts3, tstz,
						 tm, ttz, iv, u, ip, cn, mac, mac8, bt, vb, js, jb, x, o, tsv, tsq, pt, bx, lsn)
SELECT i, (i % 32767)::smallint, i * 7919, i::bigint * 1000000007, i / 7.0, i / 3.0, i / 3.0::real,
	   i / 7.0::float8, (i * 1.25)::numeric::money, i % 2 = 0, (i % 100)::text, md5(i::text)::varchar(10),
	   repeat(md5(i::text), 5), chr(65 + i % 26), 'n' || i, decode(md5(i::text), 'hex'),
	   date '2000-01-01' + i, timestamp '2000-01-01' + i * interval '1 minute 1.000001 second',
	   timestamp '2000-01-01' + i * interval '1.001 second', timestamptz '2000-01-01 00:00:00+00' + i * interval '1 hour',
	   time '00:00' + i * interval '1 second', timetz '00:00+02' + i * interval '1 second',
	   i * interval '1 day 1 microsecond', md5(i::text)::uuid, ('10.0.' || i % 256 || '.' || i / 256 % 256)::inet,
	   ('10.' || i % 256 || '.0.0/16')::cidr, ('08:00:2b:00:' || lpad(to_hex(i / 256 % 256), 2, '0') || ':' || lpad(to_hex(i % 256), 2, '0'))::macaddr,
	   ('08:00:2b:00:00:00:' || lpad(to_hex(i / 256 % 256), 2, '0') || ':' || lpad(to_hex(i % 256), 2, '0'))::macaddr8,
	   (i % 256)::bit(8), (i % 1024)::bit(10)::varbit, json_build_object('i', i, 's', md5(i::text)),
	   jsonb_build_object('i', i, 'a', jsonb_build_array(i, i::text, i % 2 = 0)), xmlelement(name e, i),
	   i, to_tsvector('simple', 'row ' || i || ' of many'), to_tsquery('simple', 'row & n' || i),
	   point(i, -i), box(point(i, i), point(0, 0)), ('0/' || to_hex(i * 4096))::pg_lsn
  FROM generate_series(100, 5099) AS i;

-- Text with every ASCII character but NUL, and unicode.
CREATE TABLE fid.texts (
	id		integer PRIMARY KEY,
	t		text NOT NULL,
	v		varchar(100),
	c		char(3)
);
INSERT INTO fid.texts
SELECT i, 'c' || chr(i) || 'c', chr(i), chr(i) FROM generate_series(1, 127) AS i;
INSERT INTO fid.texts VALUES
	(1001, E'single '' double " backslash \\ tab \t newline \n cr \r end', E'\\N', E'\\'),
	(1002, '', '', ''),
	(1003, 'ü ä ö ß € 日本語 עברית العربية 🐘 😀 𝄞 ﬁ', '🐘', '日本語'),
	(1004, E'\\N', 'NULL', 'NUL'),
	(1005, E'\\.', E'\\.', E'\\.'),
	(1006, E'line1\nline2\r\nline3\n', E'\n', E'\r\n'),
	(1007, E'\u0001\u0002\u001f\u007f', E'\u007f', E'\u0001'),
	(1008, repeat('ab', 5000), repeat('x', 100), 'abc'),
	(1009, E'"quoted", with, commas; and ''single''', '"', ''''),
	(1010, E'\u200b zero width \ufeff bom \u00a0 nbsp', E'\ufeff', E'\u00a0'),
	(1011, '{"not": "json"}', '{a,b}', '()');

-- Arrays, ranges, multiranges.
CREATE TABLE fid.arrays (
	id		integer PRIMARY KEY,
	ia		integer[],
	ta		text[],
	a2		integer[][],
	fa		float8[],
	na		numeric[],
	ba		bytea[],
	ja		jsonb[],
	ir		int4range,
	nr		numrange,
	tr		tstzrange,
	dr		daterange,
	mr		int4multirange,
	tsr		tsrange
);
INSERT INTO fid.arrays VALUES
	(1, '{1,NULL,3}', '{"a\"b",NULL,"NULL","","with,comma","back\\slash","{}","ü 🐘"}', '{{1,2},{3,4}}',
	 '{NaN,Infinity,-Infinity,-0,5e-324}', '{NaN,1.10,-0.0}', '{"\\x00","\\x","\\xff00"}',
	 ARRAY['{"a":1}'::jsonb, 'null', NULL], 'empty', 'empty', '[-infinity,infinity]', 'empty', '{}',
	 '[-infinity,infinity)'),
	(2, '{}', '{}', '{{NULL,NULL},{NULL,NULL}}', '{}', '{}', '{}', '{}', '(,)', '(,)', '(,)', '(,)',
	 '{[1,3),[5,7)}', '(,)'),
	(3, '[0:2]={1,2,3}', '[-5:-4]={x,y}', '[1:2][3:4]={{1,2},{3,4}}', '{1.5}', '{1e-1000}', '{NULL}',
	 '{}', '[-2147483648,2147483647)', '[NaN,NaN]', '["2000-01-01 00:00+00","2000-01-02 00:00+00")',
	 '[2000-01-01,)', '{(,5),[10,)}', '["2000-01-01 00:00","2000-01-01 00:00"]'),
	(4, ARRAY[NULL]::int[], ARRAY[NULL, NULL]::text[], '{{{1},{2}},{{3},{4}}}', NULL, NULL, NULL, NULL,
	 '[1,1]', '[1.5,2.5)', '(-infinity,infinity)', '(,2000-01-01]', '{[1,2),[2,3)}', 'empty'),
	(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO fid.arrays
SELECT i, ARRAY[i, -i, NULL], ARRAY[md5(i::text), NULL, ''], ARRAY[[i, i], [i, i]], ARRAY[i / 3.0],
	   ARRAY[i / 7.0], ARRAY[decode(md5(i::text), 'hex')], ARRAY[jsonb_build_object('i', i)],
	   int4range(i, i + 10), numrange(i, i + 0.5), tstzrange(timestamptz '2000-01-01+00' + i * interval '1 h', NULL),
	   daterange(date '2000-01-01' + i, date '2000-01-01' + 2 * i), int4multirange(int4range(i, i + 1), int4range(i + 5, i + 9)),
	   tsrange(NULL, timestamp '2000-01-01' + i * interval '1 s')
  FROM generate_series(10, 509) AS i;

-- User types: enums, domains, composites, and arrays of them (the binary
-- forms of those arrays and composites carry type OIDs, which differ
-- between databases).
CREATE TABLE fid.usertypes (
	id		fidt.posint PRIMARY KEY,
	mood	fidt.mood NOT NULL DEFAULT 'ok',
	st		fidt.short_text,
	pr		fidt.pair,
	tg		fidt.tagged,
	moods	fidt.mood[],
	prs		fidt.pair[],
	pis		fidt.posint[],
	rec		fidt.pair[][]
);
INSERT INTO fid.usertypes VALUES
	(1, 'sad', 'short', ROW(1, 'a', '{1.5,NaN}'), ROW('happy ü', ROW(2, 'b"c', '{}'), 7),
	 '{sad,ok,"happy ü"}', ARRAY[ROW(1, 'x', NULL)::fidt.pair, NULL, ROW(NULL, NULL, NULL)::fidt.pair],
	 '{1,2,NULL}', ARRAY[[ROW(1, 'a', '{1}')::fidt.pair], [ROW(2, 'b', '{2}')::fidt.pair]]),
	(2, 'it''s "quoted"', '', ROW(NULL, NULL, NULL), ROW(NULL, NULL, NULL), '{}', '{}', '{}', '{}'),
	(3, 'happy ü', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(4, 'ok', E'\\ "x" ''', ROW(-1, E'a,b\\c(d)', '{NULL}'),
	 ROW('it''s "quoted"', ROW(0, '', '{-0}'), 2147483647), '{"it''s \"quoted\""}',
	 ARRAY[ROW(3, E'(,)"\\', '{1,2}')::fidt.pair], '{2147483647}', NULL);
INSERT INTO fid.usertypes
SELECT i, (enum_range(NULL::fidt.mood))[1 + i % 4], 's' || i, ROW(i, md5(i::text), ARRAY[i / 3.0])::fidt.pair,
	   ROW((enum_range(NULL::fidt.mood))[1 + i % 4], ROW(i, 'p', NULL)::fidt.pair, i)::fidt.tagged,
	   enum_range(NULL::fidt.mood), ARRAY[ROW(i, 'q', NULL)::fidt.pair], ARRAY[i, i + 1]::fidt.posint[], NULL
  FROM generate_series(10, 209) AS i;

-- Columns partback writes in their text form (FORMAT.md): types without
-- binary send/receive functions (aclitem, the only built-in one whose
-- values can be built; gtsvector's cannot, so it holds NULL), and arrays
-- and composites of user types, whose binary forms carry type OIDs that
-- differ between clusters (020_new_cluster.pl creates decoy types first on
-- its restore node, so they do).  A range over an enum stays binary.
-- Role 10 is the bootstrap superuser, the same name on every test node.
CREATE TABLE fid.textforms (
	id		integer PRIMARY KEY,
	acl		aclitem,
	acls	aclitem[],
	gts		gtsvector,
	moods	fidt.mood[],
	tg		fidt.tagged,
	tgs		fidt.tagged[],
	nested	fidt.tagged[][],
	mr		fidt.moodrange,
	mrs		fidt.moodrange[],
	wa		fidt.withacl,
	was		fidt.withacl[],
	plain	text
);
INSERT INTO fid.textforms VALUES
	(1, makeaclitem(0, 10, 'UPDATE', false), acldefault('r', 10), NULL,
	 '{sad,"happy ü","it''s \"quoted\""}',
	 ROW('it''s "quoted"', ROW(1, E'tab\there\nnewline \\ back\rslash', '{1.5}'), 3),
	 ARRAY[ROW('ok', ROW(NULL, '', '{}'), 1)::fidt.tagged, NULL],
	 ARRAY[[ROW('sad', NULL, 1)::fidt.tagged, ROW('happy ü', ROW(2, E'{"x"}\\', NULL), 2)::fidt.tagged],
		   [NULL, ROW(NULL, NULL, NULL)::fidt.tagged]],
	 '[sad,"happy ü")', ARRAY['empty'::fidt.moodrange, '(,ok]', NULL],
	 ROW(makeaclitem(10, 10, 'INSERT', true), 7), ARRAY[ROW(NULL, 1)::fidt.withacl, NULL],
	 E'plain \t text'),
	(2, NULL, '{}', NULL, '{}', ROW(NULL, NULL, NULL), '{}', '{}', 'empty', '{}', ROW(NULL, NULL), '{}', ''),
	(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO fid.textforms
SELECT i, makeaclitem(0, 10, 'SELECT', false), acldefault(CASE WHEN i % 2 = 0 THEN 'r' ELSE 's' END::"char", 10), NULL,
	   ARRAY[(enum_range(NULL::fidt.mood))[1 + i % 4]],
	   ROW((enum_range(NULL::fidt.mood))[1 + i % 4], ROW(i, md5(i::text), ARRAY[i]), i)::fidt.tagged,
	   ARRAY[ROW('ok', ROW(i, 'q', NULL), i)::fidt.tagged], NULL,
	   fidt.moodrange('sad', (enum_range(NULL::fidt.mood))[1 + i % 4], '[]'), NULL,
	   ROW(NULL, i)::fidt.withacl, NULL, 'row ' || i
  FROM generate_series(10, 309) AS i;

-- Values TOASTed at several MB: 3 MB of md5 text, 2 MB of bytea (with zero
-- bytes), a highly compressible 5 MB value, and small ones beside them.
CREATE TABLE fid.toasty (
	id		integer PRIMARY KEY,
	t		text,
	b		bytea,
	j		jsonb
);
INSERT INTO fid.toasty VALUES
	(1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 98304) AS i),
	 (SELECT decode(string_agg(md5(i::text) || '00', ''), 'hex') FROM generate_series(1, 123362) AS i),
	 NULL),
	(2, repeat('compressible ', 400000), '\x00', (SELECT jsonb_agg(md5(i::text)) FROM generate_series(1, 20000) AS i)),
	(3, 'small', '\x0102', '{"small": true}'),
	(4, NULL, NULL, NULL);
ALTER TABLE fid.toasty ALTER COLUMN b SET STORAGE EXTERNAL;
INSERT INTO fid.toasty VALUES
	(5, NULL, (SELECT decode(string_agg(md5((-i)::text), ''), 'hex') FROM generate_series(1, 65536) AS i), NULL);

-- Identity (ALWAYS and BY DEFAULT, with options), serial, and a STORED
-- generated column.
CREATE TABLE fid.gen (
	id		integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id2		bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 100 INCREMENT BY 5 MAXVALUE 1000000000 CACHE 3),
	ser		bigserial,
	a		integer NOT NULL DEFAULT 7 CHECK (a >= 0),
	g		integer GENERATED ALWAYS AS (a * 2 + 1) STORED,
	gt		text GENERATED ALWAYS AS ('a=' || a) STORED,
	created	timestamptz DEFAULT '2000-01-01 00:00:00+00'
);
COMMENT ON COLUMN fid.gen.g IS 'a * 2 + 1';
INSERT INTO fid.gen (a) SELECT i % 50 FROM generate_series(1, 1000) AS i;
INSERT INTO fid.gen (id2, a) VALUES (3, 3);		-- BY DEFAULT takes an explicit value
DELETE FROM fid.gen WHERE id > 990 AND id < 1000;
INSERT INTO fid.gen (a) VALUES (1), (2);		-- the sequences moved past the deleted rows

-- Dropped columns (data written before the drop) and a fast default
-- (attmissingval) added after the rows.
CREATE TABLE fid.dropped (
	a		integer,
	b		text,
	c		integer,
	d		text,
	e		bigint
);
INSERT INTO fid.dropped SELECT i, md5(i::text), i * 2, 'd' || i, i FROM generate_series(1, 500) AS i;
ALTER TABLE fid.dropped DROP COLUMN b;
ALTER TABLE fid.dropped DROP COLUMN e;
ALTER TABLE fid.dropped ADD COLUMN f text NOT NULL DEFAULT 'fast default';
ALTER TABLE fid.dropped ADD COLUMN g integer DEFAULT 42;
INSERT INTO fid.dropped (a, c, d, f, g) VALUES (1000, 2000, 'after', 'explicit', NULL);

-- Empty tables.
CREATE TABLE fid.empty (
	id		integer PRIMARY KEY,
	t		text DEFAULT 'x' CHECK (t <> ''),
	UNIQUE (t, id)
);
CREATE INDEX ON fid.empty (lower(t)) WHERE id > 0;

-- A table with zero columns, with rows.
CREATE TABLE fid.z ();
INSERT INTO fid.z DEFAULT VALUES;
INSERT INTO fid.z DEFAULT VALUES;
INSERT INTO fid.z DEFAULT VALUES;

-- A partitioned table without partitions.
CREATE TABLE fid.noparts (k date NOT NULL, v text) PARTITION BY RANGE (k);

-- Three levels: range by date -> list by region (with default) -> hash,
-- with a range default partition and partitions in another schema.
CREATE TABLE fid.sales (
	id			bigint NOT NULL,
	sale_date	date NOT NULL,
	region		text NOT NULL,
	amount		numeric(12, 2) CHECK (amount >= 0),
	note		text,
	PRIMARY KEY (id, sale_date, region)
) PARTITION BY RANGE (sale_date);
COMMENT ON TABLE fid.sales IS 'three levels: range -> list -> hash';
COMMENT ON COLUMN fid.sales.region IS 'list key of level 2';
CREATE INDEX sales_region_amount ON fid.sales (region, amount DESC NULLS LAST);
CREATE INDEX sales_note_lower ON fid.sales (lower(note)) WHERE amount > 100;

CREATE TABLE fid.sales_2024_01 PARTITION OF fid.sales
	FOR VALUES FROM ('2024-01-01') TO ('2024-02-01') PARTITION BY LIST (region);
CREATE TABLE fid.sales_2024_01_eu PARTITION OF fid.sales_2024_01
	FOR VALUES IN ('eu', 'uk') PARTITION BY HASH (id);
CREATE TABLE fid.sales_2024_01_eu_h0 PARTITION OF fid.sales_2024_01_eu FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE fid.sales_2024_01_eu_h1 PARTITION OF fid.sales_2024_01_eu FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE fid.sales_2024_01_us PARTITION OF fid.sales_2024_01 FOR VALUES IN ('us');
CREATE TABLE fid.sales_2024_01_other PARTITION OF fid.sales_2024_01 DEFAULT;

CREATE TABLE fid.sales_2024_02 PARTITION OF fid.sales
	FOR VALUES FROM ('2024-02-01') TO ('2024-03-01') PARTITION BY LIST (region);
CREATE TABLE fid.sales_2024_02_eu PARTITION OF fid.sales_2024_02
	FOR VALUES IN ('eu', 'uk') PARTITION BY HASH (id);
CREATE TABLE fid.sales_2024_02_eu_h0 PARTITION OF fid.sales_2024_02_eu FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE fid.sales_2024_02_eu_h1 PARTITION OF fid.sales_2024_02_eu FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE fid.sales_2024_02_eu_h2 PARTITION OF fid.sales_2024_02_eu FOR VALUES WITH (MODULUS 3, REMAINDER 2);
CREATE TABLE fid.sales_2024_02_us PARTITION OF fid.sales_2024_02 FOR VALUES IN ('us', NULL);
CREATE TABLE fid.sales_2024_02_other PARTITION OF fid.sales_2024_02 DEFAULT;

-- March lives in schema fid_parts; below it, one partition back in fid.
CREATE TABLE fid_parts.sales_2024_03 PARTITION OF fid.sales
	FOR VALUES FROM ('2024-03-01') TO ('2024-04-01') PARTITION BY LIST (region);
CREATE TABLE fid_parts.sales_2024_03_eu PARTITION OF fid_parts.sales_2024_03
	FOR VALUES IN ('eu') PARTITION BY HASH (id);
CREATE TABLE fid_parts.sales_2024_03_eu_h0 PARTITION OF fid_parts.sales_2024_03_eu FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE fid.sales_2024_03_eu_h1 PARTITION OF fid_parts.sales_2024_03_eu FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE fid_parts.sales_2024_03_other PARTITION OF fid_parts.sales_2024_03 DEFAULT;
-- an empty leaf
CREATE TABLE fid.sales_2024_04 PARTITION OF fid.sales FOR VALUES FROM ('2024-04-01') TO ('2024-05-01');
-- the range default
CREATE TABLE fid.sales_rest PARTITION OF fid.sales DEFAULT;

INSERT INTO fid.sales
SELECT i, date '2024-01-01' + (i % 91), (ARRAY['eu', 'uk', 'us', 'apac', 'latam'])[1 + i % 5],
	   (i % 1000) / 4.0, CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || md5(i::text) END
  FROM generate_series(1, 3000) AS i;
INSERT INTO fid.sales VALUES
	(10001, '1999-12-31', 'eu', 1, 'to the range default'),
	(10002, '2030-01-01', 'us', 2, 'to the range default'),
	(10003, '2024-01-15', '', 3, 'empty region -> list default'),
	(10004, '2024-02-15', 'us', 0, 'us'),
	(10005, '2024-03-15', 'eu', 999.99, E'march\teu');

-- List by an expression -> multi-column range with MINVALUE/MAXVALUE.
CREATE TABLE fid.events (
	id		integer NOT NULL,
	code	text NOT NULL,
	yr		integer NOT NULL,
	mo		integer NOT NULL,
	payload	jsonb,
	CONSTRAINT "month ok" CHECK (mo BETWEEN 1 AND 12)
) PARTITION BY LIST (lower(code));
CREATE TABLE fid.events_a PARTITION OF fid.events FOR VALUES IN ('a', 'aa')
	PARTITION BY RANGE (yr, mo);
CREATE TABLE fid.events_a_old PARTITION OF fid.events_a FOR VALUES FROM (MINVALUE, MINVALUE) TO (2020, 6);
CREATE TABLE fid.events_a_new PARTITION OF fid.events_a FOR VALUES FROM (2020, 6) TO (MAXVALUE, MAXVALUE);
CREATE TABLE fid.events_b PARTITION OF fid.events FOR VALUES IN ('b');
CREATE TABLE fid.events_rest PARTITION OF fid.events DEFAULT;
CREATE INDEX events_payload ON fid.events USING gin (payload jsonb_path_ops);
INSERT INTO fid.events
SELECT i, (ARRAY['A', 'a', 'aa', 'B', 'c', 'Cc'])[1 + i % 6], 2015 + i % 10, 1 + i % 12,
	   CASE WHEN i % 3 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'tags', jsonb_build_array('x', i % 5)) END
  FROM generate_series(1, 600) AS i;

-- Hash at the top, with leaves whose physical column order differs from
-- the parent's (one created standalone with a dropped column, then
-- attached).
CREATE TABLE fid.hashed (
	k		integer NOT NULL,
	v		text,
	w		numeric DEFAULT 0
) PARTITION BY HASH (k);
CREATE TABLE fid.hashed_0 (w numeric DEFAULT 0, junk text, v text, k integer NOT NULL);
ALTER TABLE fid.hashed_0 DROP COLUMN junk;
ALTER TABLE fid.hashed ATTACH PARTITION fid.hashed_0 FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE fid.hashed_1 PARTITION OF fid.hashed FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE fid.hashed_2 PARTITION OF fid.hashed FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE fid.hashed_3 PARTITION OF fid.hashed FOR VALUES WITH (MODULUS 4, REMAINDER 3);
CREATE INDEX ON fid.hashed (k) INCLUDE (v);
INSERT INTO fid.hashed SELECT i, md5(i::text), i / 3.0 FROM generate_series(1, 1000) AS i;

-- A foreign key (added after the data on restore).
CREATE TABLE fid.ref_parent (
	id		integer PRIMARY KEY,
	name	text UNIQUE
);
CREATE TABLE fid.ref_child (
	id			integer PRIMARY KEY,
	parent_id	integer REFERENCES fid.ref_parent (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	parent_name	text,
	CONSTRAINT child_name_fk FOREIGN KEY (parent_name) REFERENCES fid.ref_parent (name) ON UPDATE CASCADE
);
INSERT INTO fid.ref_parent SELECT i, 'p' || i FROM generate_series(1, 100) AS i;
INSERT INTO fid.ref_child SELECT i, 1 + i % 100, CASE WHEN i % 2 = 0 THEN 'p' || (1 + i % 100) END
  FROM generate_series(1, 300) AS i;

-- Odd names: a plain table with quotes, a slash, dots, '..', a space and
-- unicode in its name, odd column names, and a 63-byte column name.
CREATE TABLE "we""ird sch"."a/b..c ü" (
	"col ""q"""		text PRIMARY KEY,
	"sp ace"		integer DEFAULT 1,
	"UPPER"			integer,
	"select"		text,
	"oid"			integer,
	"ü_cccccccccccccccccccccccccccccccccccccccccccccccccccccccccc63"	text,
	"a.b/c"			integer CHECK ("a.b/c" IS DISTINCT FROM 0)
);
COMMENT ON TABLE "we""ird sch"."a/b..c ü" IS 'it''s "odd"';
COMMENT ON COLUMN "we""ird sch"."a/b..c ü"."col ""q""" IS 'quoted "q"';
CREATE INDEX "idx ""odd"" ü" ON "we""ird sch"."a/b..c ü" ("UPPER", "select" DESC);
INSERT INTO "we""ird sch"."a/b..c ü"
SELECT 'k' || i || CASE WHEN i % 3 = 0 THEN E'"\'\\/' ELSE '' END, i, -i, 'sel' || i, i,
	   repeat('ü', i % 10), NULLIF(i % 5, 0)
  FROM generate_series(1, 200) AS i;

-- A partitioned table with a 63-byte name, partitioned by the quoted
-- column, with partitions named '.', '..', with a slash, 63 bytes long, and
-- one in another schema.
CREATE TABLE "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63" (
	"col ""q"""	text NOT NULL,
	n		integer
) PARTITION BY LIST ("col ""q""");
CREATE TABLE "we""ird sch"."." PARTITION OF "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63"
	FOR VALUES IN ('dot');
CREATE TABLE "we""ird sch"."p/1..x ü" PARTITION OF "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63"
	FOR VALUES IN ('slash', 'a/b', '..');
CREATE TABLE "we""ird sch"."püüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü" PARTITION OF "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63"
	FOR VALUES IN ('long');
CREATE TABLE fid_parts."Q""uoted" PARTITION OF "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63"
	FOR VALUES IN ('elsewhere', E'it''s "x"');
CREATE TABLE "we""ird sch".".." PARTITION OF "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63"
	DEFAULT;
INSERT INTO "we""ird sch"."üttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt63"
SELECT (ARRAY['dot', 'slash', 'a/b', '..', 'long', 'elsewhere', E'it''s "x"', 'other', ''])[1 + i % 9], i
  FROM generate_series(1, 450) AS i;

-- A table in schema public.
CREATE TABLE public.t_public (id serial PRIMARY KEY, v text);
INSERT INTO public.t_public (v) SELECT 'v' || i FROM generate_series(1, 50) AS i;

-- NOT VALID CHECK constraints, on the table and on one partition, that rows
-- added before them break: the restore adds them NOT VALID after the load.
CREATE TABLE fid.notvalid (id integer NOT NULL, qty integer, kind text NOT NULL)
	PARTITION BY LIST (kind);
CREATE TABLE fid.notvalid_a PARTITION OF fid.notvalid FOR VALUES IN ('a');
CREATE TABLE fid.notvalid_b PARTITION OF fid.notvalid FOR VALUES IN ('b');
INSERT INTO fid.notvalid VALUES (1, -5, 'a'), (2, 3, 'a'), (3, -1, 'b'), (4, 7, 'b');
ALTER TABLE fid.notvalid ADD CONSTRAINT notvalid_qty_positive CHECK (qty > 0) NOT VALID;
ALTER TABLE fid.notvalid_b ADD CONSTRAINT notvalid_b_id_small CHECK (id < 4) NOT VALID;
COMMENT ON CONSTRAINT notvalid_b_id_small ON fid.notvalid_b IS 'added NOT VALID, after the rows';
ALTER TABLE fid.notvalid_b OWNER TO pbfid_owner;
ALTER TABLE fid.notvalid_b REPLICA IDENTITY FULL;
GRANT SELECT ON fid.notvalid_b TO pbfid_reader;

-- What pg_dump emits for a table besides its columns: owner, privileges of
-- the table and of columns (one grantable), row security (forced) and
-- policies (permissive for one role, restrictive for everyone), replica
-- identity, statistics target, n_distinct, column compression, TOAST
-- options, the index it is clustered on, comments on an index and a
-- constraint.
CREATE TABLE fid.props (
	id		integer PRIMARY KEY,
	tenant	text NOT NULL,
	body	text COMPRESSION pglz,
	score	integer CONSTRAINT props_score_small CHECK (score < 1000000)
) WITH (fillfactor = 90, toast.autovacuum_enabled = false);
ALTER TABLE fid.props OWNER TO pbfid_owner;
GRANT SELECT ON fid.props TO pbfid_reader;
GRANT SELECT (id, tenant), UPDATE (score) ON fid.props TO pbfid_tenant;
GRANT INSERT ON fid.props TO pbfid_tenant WITH GRANT OPTION;
REVOKE TRUNCATE ON fid.props FROM pbfid_owner;
ALTER TABLE fid.props ENABLE ROW LEVEL SECURITY;
ALTER TABLE fid.props FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON fid.props FOR SELECT TO pbfid_tenant, pbfid_reader
	USING (tenant = current_user);
CREATE POLICY no_negative ON fid.props AS RESTRICTIVE FOR ALL
	USING (score >= 0 OR score IS NULL) WITH CHECK (score >= 0);
ALTER TABLE fid.props REPLICA IDENTITY FULL;
ALTER TABLE fid.props ALTER COLUMN score SET STATISTICS 500;
ALTER TABLE fid.props ALTER COLUMN tenant SET (n_distinct = 42);
CREATE INDEX props_score_idx ON fid.props (score);
COMMENT ON INDEX fid.props_score_idx IS 'for reports';
COMMENT ON CONSTRAINT props_score_small ON fid.props IS 'scores stay below a million';
ALTER TABLE fid.props CLUSTER ON props_score_idx;
INSERT INTO fid.props SELECT i, 't' || i % 3, repeat('b', i), i * 7 FROM generate_series(1, 30) AS i;
-- post-data: triggers (one disabled, one firing on replicas only, one a
-- partition's own, one cloned to partitions and disabled on one), a rule,
-- extended statistics, a publication with a column list and a row filter
CREATE TRIGGER props_keep BEFORE UPDATE OF score ON fid.props
	FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score) EXECUTE FUNCTION fidt.keep();
CREATE TRIGGER props_gone AFTER DELETE ON fid.props FOR EACH STATEMENT EXECUTE FUNCTION fidt.nothing();
ALTER TABLE fid.props DISABLE TRIGGER props_gone;
CREATE TRIGGER notvalid_keep BEFORE UPDATE ON fid.notvalid FOR EACH ROW EXECUTE FUNCTION fidt.keep();
ALTER TABLE fid.notvalid_b DISABLE TRIGGER notvalid_keep;
CREATE TRIGGER notvalid_a_own AFTER UPDATE ON fid.notvalid_a FOR EACH ROW EXECUTE FUNCTION fidt.nothing();
ALTER TABLE fid.notvalid_a ENABLE REPLICA TRIGGER notvalid_a_own;
CREATE RULE props_keep_negative AS ON DELETE TO fid.props WHERE OLD.score < 0 DO INSTEAD NOTHING;
CREATE STATISTICS fid.props_stats (ndistinct, dependencies) ON tenant, score FROM fid.props;
ALTER STATISTICS fid.props_stats SET STATISTICS 200;
ALTER PUBLICATION fid_pub ADD TABLE fid.props (id, tenant, score) WHERE (score > 0);

-- Legacy inheritance: a parent, a child with a column, a CHECK and a
-- default of its own, a grandchild of two parents that declares an
-- inherited column itself, and a child whose name sorts before its
-- parent's; each holds rows of its own.  A typed table with options on
-- its type's columns.
CREATE TABLE fid.inh_parent (id integer NOT NULL, note text DEFAULT 'p', CHECK (id > 0));
CREATE TABLE fid.inh_other (extra_o integer DEFAULT 5);
CREATE TABLE fid.inh_child (extra text CHECK (extra <> '')) INHERITS (fid.inh_parent);
ALTER TABLE fid.inh_child ALTER COLUMN note SET DEFAULT 'c';
CREATE TABLE fid.inh_grand (id integer NOT NULL, g integer, CHECK (g <> 0)) INHERITS (fid.inh_child, fid.inh_other);
CREATE TABLE fid.a_inh_kid () INHERITS (fid.inh_parent);
ALTER TABLE fid.a_inh_kid ALTER COLUMN note SET NOT NULL;
INSERT INTO fid.inh_parent VALUES (1, 'parent row');
INSERT INTO fid.inh_child VALUES (2, 'child row', 'x');
INSERT INTO fid.inh_grand (id, note, extra, extra_o, g) VALUES (3, 'grand row', 'y', 9, 7);
INSERT INTO fid.a_inh_kid VALUES (4, 'kid row');
CREATE TABLE fid.people OF fidt.person (age WITH OPTIONS DEFAULT 0 CHECK (age >= 0), PRIMARY KEY (name));
INSERT INTO fid.people VALUES ('ann', 41, 'happy ü'), ('bob', 7, NULL);
INSERT INTO fid.people (name) VALUES ('cy');

-- Two UNIQUE constraints on the same columns (CREATE TABLE would make
-- them one); a partition's own column default, its dropped default and a
-- foreign key declared on the partition alone.
CREATE TABLE fid.twice (a integer, b integer, CONSTRAINT twice_u1 UNIQUE (a), CONSTRAINT twice_u2 UNIQUE (a));
INSERT INTO fid.twice VALUES (1, 1), (2, NULL);
CREATE TABLE fid.pdefs (k integer NOT NULL, v text DEFAULT 'parent', w integer DEFAULT 1, r integer)
	PARTITION BY RANGE (k);
CREATE TABLE fid.pdefs_1 PARTITION OF fid.pdefs FOR VALUES FROM (0) TO (10);
CREATE TABLE fid.pdefs_2 PARTITION OF fid.pdefs FOR VALUES FROM (10) TO (20);
ALTER TABLE fid.pdefs_1 ALTER COLUMN v SET DEFAULT 'own';
ALTER TABLE fid.pdefs_2 ALTER COLUMN w DROP DEFAULT;
ALTER TABLE fid.pdefs_2 ADD CONSTRAINT pdefs_2_r_fk FOREIGN KEY (r) REFERENCES fid.twice (a);
INSERT INTO fid.pdefs VALUES (1, DEFAULT, DEFAULT, NULL), (11, 'x', NULL, 2);

-- Tablespaces: a table and its index, a partitioned table (new partitions'
-- default) with one partition in it and one not, a partition's own index and
-- a primary key's index in it.
CREATE TABLE fid.spaced (id integer PRIMARY KEY USING INDEX TABLESPACE fid_ts, v text) TABLESPACE fid_ts;
CREATE INDEX spaced_v ON fid.spaced (v) TABLESPACE fid_ts;
CREATE INDEX spaced_lower ON fid.spaced (id, lower(v));
ALTER INDEX fid.spaced_lower ALTER COLUMN 2 SET STATISTICS 321;
INSERT INTO fid.spaced VALUES (1, 'a'), (2, 'b');
CREATE TABLE fid.pspaced (k integer NOT NULL, v text) PARTITION BY LIST (k) TABLESPACE fid_ts;
CREATE TABLE fid.pspaced_1 PARTITION OF fid.pspaced FOR VALUES IN (1);
CREATE TABLE fid.pspaced_2 PARTITION OF fid.pspaced FOR VALUES IN (2) TABLESPACE pg_default;
CREATE INDEX pspaced_2_v ON fid.pspaced_2 (v) TABLESPACE fid_ts;
INSERT INTO fid.pspaced VALUES (1, 'one'), (2, 'two');

-- A partition with a column order of its own under a parent with a
-- generated column.
CREATE TABLE fid.genorder (k integer NOT NULL, a integer, g integer GENERATED ALWAYS AS (a * 3) STORED)
	PARTITION BY RANGE (k);
CREATE TABLE fid.genorder_1 PARTITION OF fid.genorder FOR VALUES FROM (0) TO (10);
CREATE TABLE fid.genorder_2 (a integer, g integer GENERATED ALWAYS AS (a * 3) STORED, k integer NOT NULL);
ALTER TABLE fid.genorder ATTACH PARTITION fid.genorder_2 FOR VALUES FROM (10) TO (20);
INSERT INTO fid.genorder (k, a) VALUES (1, 1), (11, 2), (12, NULL);
-- ... and under a parent with an identity column
CREATE TABLE fid.idorder (id bigint GENERATED ALWAYS AS IDENTITY, k integer NOT NULL, v text)
	PARTITION BY RANGE (k);
CREATE TABLE fid.idorder_1 PARTITION OF fid.idorder FOR VALUES FROM (0) TO (10);
CREATE TABLE fid.idorder_2 (v text, k integer NOT NULL, id bigint NOT NULL);
ALTER TABLE fid.idorder ATTACH PARTITION fid.idorder_2 FOR VALUES FROM (10) TO (20);
INSERT INTO fid.idorder (k, v) VALUES (1, 'a'), (11, 'b'), (12, NULL);

-- Indexes made ON ONLY the parent: one no partition has, one only some
-- partitions have attached; a parent's unique index to which a partition's
-- own primary key is attached.
CREATE TABLE fid.only_idx (k integer NOT NULL, v integer, w integer) PARTITION BY LIST (k);
CREATE TABLE fid.only_idx_1 PARTITION OF fid.only_idx FOR VALUES IN (1);
CREATE TABLE fid.only_idx_2 PARTITION OF fid.only_idx FOR VALUES IN (2);
CREATE INDEX only_idx_v_none ON ONLY fid.only_idx (v);
CREATE INDEX only_idx_w_some ON ONLY fid.only_idx (w);
CREATE INDEX only_idx_1_w ON fid.only_idx_1 (w);
ALTER INDEX fid.only_idx_w_some ATTACH PARTITION fid.only_idx_1_w;
CREATE UNIQUE INDEX only_idx_kv ON ONLY fid.only_idx (k, v);
ALTER TABLE fid.only_idx_1 ADD CONSTRAINT only_idx_1_pk PRIMARY KEY (k, v);
ALTER INDEX fid.only_idx_kv ATTACH PARTITION fid.only_idx_1_pk;
CREATE UNIQUE INDEX only_idx_2_kv ON fid.only_idx_2 (k, v);
ALTER INDEX fid.only_idx_kv ATTACH PARTITION fid.only_idx_2_kv;
INSERT INTO fid.only_idx VALUES (1, 1, 1), (2, 2, 2);

-- Less common table properties: an unlogged table; NULLS NOT DISTINCT; an
-- exclusion constraint; a self-referencing foreign key with MATCH FULL, ON
-- DELETE SET NULL of some columns, deferred; a constraint trigger; a trigger
-- enabled ALWAYS; comments on a trigger, a rule and a policy; BRIN, hash and
-- GIN indexes with storage parameters, an opclass with a parameter, a
-- partial index with INCLUDE and NULLS FIRST; a table's storage parameters.
CREATE UNLOGGED TABLE fid.misc_log (id integer PRIMARY KEY, v text);
INSERT INTO fid.misc_log VALUES (1, 'u'), (2, NULL);
CREATE TABLE fid.misc (
	id		integer,
	t		integer,
	during	tsrange,
	tags	text[],
	note	text,
	pid		integer,
	pt		integer,
	CONSTRAINT misc_nnd UNIQUE NULLS NOT DISTINCT (id, t),
	CONSTRAINT misc_excl EXCLUDE USING gist (during WITH &&) WHERE (t > 0),
	CONSTRAINT misc_fk FOREIGN KEY (pid, pt) REFERENCES fid.misc (id, t) MATCH FULL
		ON DELETE SET NULL (pid, pt) DEFERRABLE INITIALLY DEFERRED
) WITH (fillfactor = 70, autovacuum_enabled = false, parallel_workers = 2, toast_tuple_target = 256);
CREATE INDEX misc_brin ON fid.misc USING brin (id) WITH (pages_per_range = 16);
CREATE INDEX misc_hash ON fid.misc USING hash (note);
CREATE INDEX misc_gin ON fid.misc USING gin (tags) WITH (fastupdate = off);
CREATE INDEX misc_ts ON fid.misc USING gist (to_tsvector('simple', note) tsvector_ops (siglen = 16));
CREATE INDEX misc_part ON fid.misc (t DESC NULLS LAST, id NULLS FIRST) INCLUDE (note) WHERE t > 0;
CREATE INDEX misc_pattern ON fid.misc (note text_pattern_ops) WITH (fillfactor = 80);
CREATE CONSTRAINT TRIGGER misc_check AFTER INSERT OR UPDATE ON fid.misc
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fidt.nothing();
CREATE TRIGGER misc_always BEFORE UPDATE ON fid.misc FOR EACH ROW EXECUTE FUNCTION fidt.keep();
ALTER TABLE fid.misc ENABLE ALWAYS TRIGGER misc_always;
COMMENT ON TRIGGER misc_always ON fid.misc IS 'fires on replicas too';
CREATE RULE misc_no_negative AS ON DELETE TO fid.misc WHERE OLD.t < 0 DO INSTEAD NOTHING;
COMMENT ON RULE misc_no_negative ON fid.misc IS 'negative rows stay';
ALTER TABLE fid.misc ENABLE ROW LEVEL SECURITY;
CREATE POLICY misc_visible ON fid.misc FOR SELECT USING (t IS DISTINCT FROM -1);
COMMENT ON POLICY misc_visible ON fid.misc IS 'hides the -1 rows';
INSERT INTO fid.misc VALUES
	(1, 1, '[2024-01-01,2024-01-02)', '{a,b}', 'one', NULL, NULL),
	(NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(2, -1, '[2024-01-01,2024-01-03)', '{}', 'minus', 1, 1),
	(3, 3, '[2024-02-01,2024-02-02)', NULL, 'three', 2, -1);

-- A partition key with a collation and an operator class; a partition's own
-- CHECK and index; statistics on an expression; a statement trigger with a
-- transition table; a standalone smallint sequence that cycles, used by a
-- default; a column privilege with grant option.
CREATE SEQUENCE fid.misc_seq AS smallint MINVALUE -5 MAXVALUE 5 START 3 CYCLE CACHE 2;
CREATE TABLE fid.misc_keys (
	v		text COLLATE "C" NOT NULL,
	n		smallint DEFAULT nextval('fid.misc_seq'),
	w		text
) PARTITION BY RANGE (v COLLATE "C" text_pattern_ops);
CREATE TABLE fid.misc_keys_a PARTITION OF fid.misc_keys FOR VALUES FROM ('a') TO ('m');
CREATE TABLE fid.misc_keys_m PARTITION OF fid.misc_keys FOR VALUES FROM ('m') TO (MAXVALUE);
ALTER TABLE fid.misc_keys_m ADD CONSTRAINT misc_keys_m_w CHECK (w <> 'forbidden');
CREATE INDEX misc_keys_m_w_idx ON fid.misc_keys_m (lower(w));
CREATE STATISTICS fid.misc_keys_m_stats (mcv) ON lower(w), n FROM fid.misc_keys_m;
-- statistics in another schema than their table's; a partition's index of
-- its own name that an index made later on the parent took over (the other
-- partition gets one PostgreSQL names), and a unique one
CREATE STATISTICS fid_parts.misc_keys_stats (ndistinct) ON n, w FROM fid.misc_keys;
CREATE INDEX misc_keys_a_own_w ON fid.misc_keys_a (w);
CREATE INDEX misc_keys_w ON fid.misc_keys (w);
CREATE UNIQUE INDEX misc_keys_m_own_vn ON fid.misc_keys_m (v, n) INCLUDE (w);
CREATE UNIQUE INDEX misc_keys_vn ON fid.misc_keys (v, n) INCLUDE (w);
-- a partition's own column properties: comment, statistics target, options,
-- privileges, storage and compression other than its parent's
COMMENT ON COLUMN fid.misc_keys_a.w IS 'the a partition''s w';
ALTER TABLE fid.misc_keys_a ALTER COLUMN w SET STATISTICS 55, ALTER COLUMN w SET (n_distinct = 7),
	ALTER COLUMN w SET STORAGE EXTERNAL, ALTER COLUMN w SET COMPRESSION pglz;
GRANT UPDATE (w) ON fid.misc_keys_a TO pbfid_tenant;
-- privileges of a standalone sequence a default uses, and of an identity
-- sequence
GRANT USAGE ON SEQUENCE fid.misc_seq TO pbfid_reader;
GRANT SELECT, UPDATE ON SEQUENCE fid.gen_id_seq TO pbfid_tenant;
-- columns and an index with collations of no extension
CREATE TABLE fid.misc_coll (a text COLLATE fidt.ci, b text COLLATE fidt.libc_c);
CREATE INDEX misc_coll_b ON fid.misc_coll (b COLLATE "POSIX", a);
INSERT INTO fid.misc_coll VALUES ('A', 'b'), ('a', 'B'), (NULL, NULL);
-- OID alias types: their values are names (a table, a type, a function, a
-- role that have other OIDs in another cluster)
CREATE TABLE fid.misc_regs (r regclass, t regtype, p regprocedure[], o regrole, n regnamespace);
INSERT INTO fid.misc_regs VALUES
	('fid.misc', 'fidt.pair', '{fidt.keep(),now()}', 'pbfid_reader', 'fid_parts'),
	('pg_class', 'integer', NULL, NULL, 'pg_catalog'),
	(NULL, NULL, NULL, NULL, NULL);
-- a bigint sequence owned by the integer column whose default uses it (not
-- a serial: that makes an integer sequence)
CREATE SEQUENCE fid.misc_owned_seq START 10;
CREATE TABLE fid.misc_owned (id integer DEFAULT nextval('fid.misc_owned_seq'), v text);
ALTER SEQUENCE fid.misc_owned_seq OWNED BY fid.misc_owned.id;
INSERT INTO fid.misc_owned (v) VALUES ('a'), ('b');
CREATE TABLE fid.misc_audit (v text, n smallint, w text);
GRANT SELECT (v), UPDATE (w) ON fid.misc_audit TO pbfid_reader WITH GRANT OPTION;
CREATE FUNCTION fidt.audit_new() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER misc_audit_new AFTER INSERT ON fid.misc_audit REFERENCING NEW TABLE AS added
	FOR EACH STATEMENT EXECUTE FUNCTION fidt.audit_new();
INSERT INTO fid.misc_keys (v, w) SELECT chr(97 + i % 26) || i, 'w' || i FROM generate_series(1, 40) AS i;
INSERT INTO fid.misc_audit SELECT * FROM fid.misc_keys WHERE v LIKE 'z%';

-- PostgreSQL 18: NOT NULL constraints with names of their own (a
-- partition's differing from its parent's; NO INHERIT), NOT VALID ones over
-- NULLs, and virtual generated columns.
DO $$
BEGIN
	IF current_setting('server_version_num')::integer < 180000 THEN
		RETURN;
	END IF;
	EXECUTE $sql$
		CREATE TABLE fid.pg18 (
			id		integer CONSTRAINT pg18_id_named NOT NULL,
			a		integer,
			b		integer,
			v		integer GENERATED ALWAYS AS (a * 10) VIRTUAL,
			s		integer GENERATED ALWAYS AS (a + 1) STORED
		) PARTITION BY RANGE (id);
		CREATE TABLE fid.pg18_1 PARTITION OF fid.pg18 (
			CONSTRAINT pg18_1_a_own NOT NULL a
		) FOR VALUES FROM (0) TO (100);
		CREATE TABLE fid.pg18_2 (
			id		integer CONSTRAINT pg18_2_id_own NOT NULL,
			a		integer,
			b		integer,
			v		integer GENERATED ALWAYS AS (a * 10) VIRTUAL,
			s		integer GENERATED ALWAYS AS (a + 1) STORED
		);
		ALTER TABLE fid.pg18 ATTACH PARTITION fid.pg18_2 FOR VALUES FROM (100) TO (200);
		INSERT INTO fid.pg18 (id, a, b) SELECT i, i % 7, NULLIF(i % 5, 0) FROM generate_series(1, 199) AS i;
		ALTER TABLE fid.pg18 ADD CONSTRAINT pg18_b_later NOT NULL b NOT VALID;
		ALTER TABLE fid.pg18_2 ADD CONSTRAINT pg18_2_a_later NOT NULL a NOT VALID;

		CREATE TABLE fid.pg18_plain (
			x		integer CONSTRAINT pg18_plain_x_local NOT NULL NO INHERIT,
			y		integer,
			g		text GENERATED ALWAYS AS ('x=' || x) VIRTUAL
		);
		INSERT INTO fid.pg18_plain (x, y) VALUES (1, NULL), (2, 20);
		ALTER TABLE fid.pg18_plain ADD CONSTRAINT pg18_plain_y_later NOT NULL y NOT VALID;
	$sql$;
END
$$;

ANALYZE;
