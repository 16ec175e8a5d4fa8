--
-- 002_restore: restore_table, restore, restore_db and migrate.
-- Uses the tables of 001_backup; backs them up into a dir of its own.
--

-- restore_db and migrate say which backup they chose, with its point in
-- time in a DETAIL that differs from run to run: show messages alone
\set VERBOSITY terse

-- A table's content as one comparable value: row count and md5 of its
-- rows in a stable order (partitioned tables include every partition).
CREATE FUNCTION public.pb_content(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE format('SELECT count(*) || '' rows '' || md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) FROM %s t', rel)
	   INTO r;
	RETURN r;
END
$$;

-- The partition tree of a table: name, level, bound.
CREATE FUNCTION public.pb_tree(rel regclass)
RETURNS TABLE (partition text, parent text, level int, bound text)
LANGUAGE sql AS $$
	SELECT t.relid::regclass::text, t.parentrelid::regclass::text, t.level,
		   pg_get_expr(c.relpartbound, c.oid)
	  FROM pg_partition_tree(rel) t JOIN pg_class c ON c.oid = t.relid
	 ORDER BY t.level, 4 NULLS FIRST, 1
$$;

-- The content before anything is restored: every restore must give it back.
CREATE TEMP TABLE saved AS
	SELECT r AS rel, pb_content(r::regclass) AS content
	  FROM unnest(ARRAY['pbr.quotes', 'pbr.plain', 'pbr2.other',
						'pbr.q2020_a', 'pbr.q2021']) AS r;
SELECT rel, content ~ '^\d+ rows [0-9a-f]{32}$' AS ok, split_part(content, ' ', 1) AS rows
  FROM saved ORDER BY rel;

SELECT partback.backup_db('/tmp/partback_regress/restore', wait => true) > 0 AS submitted;

--
-- restore_table in place
--
DELETE FROM pbr.quotes WHERE sym = 'A' AND d < '2020-03-01';
UPDATE pbr.quotes SET price = 0 WHERE sym = 'C';
TRUNCATE pbr.q_default;
SELECT pb_content('pbr.quotes') = content AS same FROM saved WHERE rel = 'pbr.quotes';
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.quotes', wait => true) > 0 AS submitted;
SELECT pb_content('pbr.quotes') = content AS same FROM saved WHERE rel = 'pbr.quotes';
SELECT tableoid::regclass AS partition, count(*)
  FROM pbr.quotes GROUP BY 1 ORDER BY tableoid::regclass::text;
-- indexes and the primary key are still there
SELECT indexrelid::regclass AS index, indisprimary
  FROM pg_index WHERE indrelid = 'pbr.quotes'::regclass;

-- a plain table in place
DELETE FROM pbr.plain WHERE id > 5;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain', wait => true) > 0 AS submitted;
SELECT pb_content('pbr.plain') = content AS same FROM saved WHERE rel = 'pbr.plain';

-- a partition the backup does not have is dropped by restore_table
CREATE TABLE pbr.q2023 PARTITION OF pbr.quotes FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
INSERT INTO pbr.quotes VALUES ('2023-05-05', 'E', 5, 5);
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.quotes', wait => true) > 0 AS submitted;
SELECT to_regclass('pbr.q2023') AS q2023;
SELECT pb_content('pbr.quotes') = content AS same FROM saved WHERE rel = 'pbr.quotes';
-- a dropped partition comes back, with its bound
DROP TABLE pbr.q2021;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.quotes', wait => true) > 0 AS submitted;
SELECT * FROM pb_tree('pbr.quotes');
SELECT pb_content('pbr.quotes') = content AS same FROM saved WHERE rel = 'pbr.quotes';

-- a dropped table comes back: definition, partitions, indexes, data
DROP TABLE pbr.plain;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain', wait => true) > 0 AS submitted;
SELECT pb_content('pbr.plain') = content AS same FROM saved WHERE rel = 'pbr.plain';
SELECT indexrelid::regclass AS index, indisprimary
  FROM pg_index WHERE indrelid = 'pbr.plain'::regclass;
\d pbr.plain

--
-- restore_table to a new name
--
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.quotes',
							  target_table => 'pbr.quotes_copy', wait => true) > 0 AS submitted;
SELECT pb_content('pbr.quotes_copy') = content AS same FROM saved WHERE rel = 'pbr.quotes';
SELECT count(*) AS partitions, count(*) FILTER (WHERE isleaf) AS leaves
  FROM pg_partition_tree('pbr.quotes_copy');
SELECT pg_get_partkeydef('pbr.quotes_copy'::regclass) AS partition_key;
-- the source is untouched
SELECT pb_content('pbr.quotes') = content AS same FROM saved WHERE rel = 'pbr.quotes';
-- into a schema that does not exist yet
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain',
							  target_table => 'pbr_new.plain_copy', wait => true) > 0 AS submitted;
SELECT pb_content('pbr_new.plain_copy') = content AS same FROM saved WHERE rel = 'pbr.plain';
-- an unqualified target_table goes into the source table's schema
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr2.other',
							  target_table => 'other_copy', wait => true) > 0 AS submitted;
SELECT pb_content('pbr2.other_copy') = content AS same FROM saved WHERE rel = 'pbr2.other';
-- restoring into the copy again (it exists now, same columns) works too
DELETE FROM pbr2.other_copy;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr2.other',
							  target_table => 'pbr2.other_copy', wait => true) > 0 AS submitted;
SELECT pb_content('pbr2.other_copy') = content AS same FROM saved WHERE rel = 'pbr2.other';

-- names that need quotes: source_table is 'schema.name' or its SQL quoted
-- form; target_table is SQL identifier syntax (unquoted names fold to lower case)
CREATE TABLE pbr."Mixed Case" ("Id" integer, "a b" text);
INSERT INTO pbr."Mixed Case" VALUES (1, 'x'), (2, 'y');
SELECT partback.backup_table('/tmp/partback_regress/mixed', 'pbr."Mixed Case"', wait => true) > 0 AS submitted;
SELECT partition, rows
  FROM partback.get_backup_list('/tmp/partback_regress/mixed', 'contrib_regression', 'pbr.Mixed Case');
SELECT partition, rows
  FROM partback.get_backup_list('/tmp/partback_regress/mixed', 'contrib_regression', 'pbr."Mixed Case"');
SELECT partback.restore_table('/tmp/partback_regress/mixed', 'pbr."Mixed Case"',
							  target_table => 'pbr."Other Name"', wait => true) > 0 AS submitted;
SELECT * FROM pbr."Other Name" ORDER BY "Id";
SELECT partback.restore_table('/tmp/partback_regress/mixed', 'pbr.Mixed Case',
							  target_table => 'pbr.MixedUpper', wait => true) > 0 AS submitted;
SELECT * FROM pbr.mixedupper ORDER BY "Id";
DELETE FROM pbr."Mixed Case";
SELECT partback.restore_table('/tmp/partback_regress/mixed', 'pbr.Mixed Case', wait => true) > 0 AS submitted;
SELECT * FROM pbr."Mixed Case" ORDER BY "Id";
DROP TABLE pbr."Mixed Case", pbr."Other Name", pbr.mixedupper;

--
-- restore: partitions chosen by a LIKE pattern on their paths
--
TRUNCATE pbr.q2020_a, pbr.q2020_b;
UPDATE pbr.quotes SET vol = -1 WHERE sym = 'C';
SELECT partback.restore('/tmp/partback_regress/restore', 'pbr.quotes', 'q2020/%', wait => true) > 0 AS submitted;
SELECT tableoid::regclass AS partition, count(*)
  FROM pbr.quotes GROUP BY 1 ORDER BY tableoid::regclass::text;
SELECT pb_content('pbr.q2020_a') = content AS same FROM saved WHERE rel = 'pbr.q2020_a';
-- q2021 did not match the pattern: it keeps its new content
SELECT count(*) FILTER (WHERE vol = -1) AS changed_rows FROM pbr.q2021;
-- a single partition by its exact path, and '_' matching one character
SELECT partback.restore('/tmp/partback_regress/restore', 'pbr.quotes', 'q202_', wait => true) > 0 AS submitted;
SELECT pb_content('pbr.quotes') = content AS same FROM saved WHERE rel = 'pbr.quotes';
-- a partition in another schema is matched by its schema-qualified path
DELETE FROM pbr_x.q2022;
SELECT partback.restore('/tmp/partback_regress/restore', 'pbr.quotes', 'pbr_x.%', wait => true) > 0 AS submitted;
SELECT count(*) FROM pbr_x.q2022;
-- restore with a pattern into a new table creates only the matching partitions
SELECT partback.restore('/tmp/partback_regress/restore', 'pbr.quotes', 'q2020/%_b',
						target_table => 'pbr.quotes_b', wait => true) > 0 AS submitted;
SELECT count(*) AS partitions, count(*) FILTER (WHERE isleaf) AS leaves
  FROM pg_partition_tree('pbr.quotes_b');
SELECT sym, count(*) FROM pbr.quotes_b GROUP BY sym ORDER BY sym;
-- restore does not drop partitions the pattern leaves out
SELECT partback.restore('/tmp/partback_regress/restore', 'pbr.quotes', 'q2021',
						target_table => 'pbr.quotes_b', wait => true) > 0 AS submitted;
SELECT sym, count(*) FROM pbr.quotes_b GROUP BY sym ORDER BY sym;

--
-- restore_db
--
-- only the schemas given
DROP TABLE pbr2.other;
UPDATE pbr.plain SET v = 'changed' WHERE id = 1;
SELECT partback.restore_db('/tmp/partback_regress/restore', schemas => ARRAY['pbr2'],
						   wait => true) > 0 AS submitted;
SELECT pb_content('pbr2.other') = content AS same FROM saved WHERE rel = 'pbr2.other';
SELECT v FROM pbr.plain WHERE id = 1;
-- every table of the backup (source_db defaults to the current database)
DELETE FROM pbr2.other;
SELECT partback.restore_db('/tmp/partback_regress/restore', wait => true) > 0 AS submitted;
SELECT rel, pb_content(rel::regclass) = content AS same FROM saved ORDER BY rel;
-- source_db named explicitly, several schemas
UPDATE pbr.plain SET v = 'changed' WHERE id = 1;
DELETE FROM pbr2.other;
SELECT partback.restore_db('/tmp/partback_regress/restore', source_db => 'contrib_regression',
						   schemas => ARRAY['pbr', 'pbr2'], parallel => 2,
						   wait => true) > 0 AS submitted;
SELECT rel, pb_content(rel::regclass) = content AS same FROM saved ORDER BY rel;

--
-- backup_id: restore an older backup
--
UPDATE pbr.plain SET v = 'second' WHERE id = 2;
SELECT partback.backup_table('/tmp/partback_regress/restore', 'pbr.plain', wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions FROM partback.list_backups('/tmp/partback_regress/restore');
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain', wait => true) > 0 AS submitted;
SELECT v FROM pbr.plain WHERE id = 2;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain', backup_id => 1,
							  wait => true) > 0 AS submitted;
SELECT v FROM pbr.plain WHERE id = 2;
SELECT pb_content('pbr.plain') = content AS same FROM saved WHERE rel = 'pbr.plain';
-- restore_db without backup_id takes the newest backup made by backup_db
UPDATE pbr.plain SET v = 'third' WHERE id = 2;
SELECT partback.restore_db('/tmp/partback_regress/restore', schemas => ARRAY['pbr'],
						   wait => true) > 0 AS submitted;
SELECT v FROM pbr.plain WHERE id = 2;
-- with backup_id 2 (backup_table of pbr.plain) it restores only that table
UPDATE pbr.plain SET v = 'third' WHERE id = 2;
SELECT partback.restore_db('/tmp/partback_regress/restore', backup_id => 2,
						   wait => true) > 0 AS submitted;
SELECT v FROM pbr.plain WHERE id = 2;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain', backup_id => 1,
							  wait => true) > 0 AS submitted;

--
-- an existing target with another column set: the job fails, naming the
-- table and the differing columns, and the target is unchanged
--
CREATE TABLE pbr.plain_bad (id integer, w text, extra integer);
INSERT INTO pbr.plain_bad VALUES (1, 'keep me', 1);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain',
							  target_table => 'pbr.plain_bad', wait => true)$$);
SELECT * FROM pbr.plain_bad;
SELECT state, error_code, error FROM partback.jobs
 WHERE job_id = (SELECT max(job_id) FROM partback.jobs);
-- same columns, other types
CREATE TABLE pbr.plain_types (id bigint, v text);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.plain',
							  target_table => 'pbr.plain_types', wait => true)$$);
SELECT count(*) FROM pbr.plain_types;
-- a plain target for a partitioned backup
CREATE TABLE pbr.quotes_flat (d date, sym text, price numeric(10,2), vol integer);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr.quotes',
							  target_table => 'pbr.quotes_flat', wait => true)$$);
SELECT count(*) FROM pbr.quotes_flat;
DROP TABLE pbr.plain_bad, pbr.plain_types, pbr.quotes_flat;

--
-- migrate: the bulk path for an empty database
--
-- it refuses a database where a table of the backup exists, creating nothing
DROP TABLE pbr2.other;
SELECT pb_err($$SELECT partback.migrate('/tmp/partback_regress/restore', wait => true)$$);
SELECT to_regclass('pbr2.other') AS other;
SELECT partback.restore_table('/tmp/partback_regress/restore', 'pbr2.other', wait => true) > 0 AS submitted;

-- leave the tables as 001_backup made them
DROP TABLE pbr.quotes_copy, pbr.quotes_b, pbr2.other_copy;
DROP SCHEMA pbr_new CASCADE;
SELECT rel, pb_content(rel::regclass) = content AS same FROM saved ORDER BY rel;

-- into a new database: every table comes back
SELECT pb_content('pbr.quotes') AS quotes_content, pb_content('pbr.plain') AS plain_content \gset
CREATE DATABASE regression_partback_migrate;
\c regression_partback_migrate
CREATE EXTENSION partback;
SELECT partback.migrate('/tmp/partback_regress/restore', source_db => 'contrib_regression',
						wait => true) > 0 AS submitted;
SELECT n.nspname, c.relname, c.relkind, c.relispartition
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname LIKE 'pbr%'
 ORDER BY 1, 2;
SELECT count(*) || ' rows ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))
	   = :'quotes_content' AS same
  FROM pbr.quotes t;
SELECT count(*) || ' rows ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))
	   = :'plain_content' AS same
  FROM pbr.plain t;
SELECT count(*) FROM pbr2.other;
SELECT pg_get_partkeydef('pbr.quotes'::regclass) AS partition_key,
	   pg_get_partkeydef('pbr.q2020'::regclass) AS sub_key;
SELECT job_type, state, tables, partitions, completed, rows FROM partback.jobs;
-- and a second migrate refuses
DO $$
BEGIN
	PERFORM partback.migrate('/tmp/partback_regress/restore', wait => true);
EXCEPTION WHEN duplicate_table THEN
	RAISE NOTICE 'duplicate_table: %', SQLERRM;
END
$$;
\c contrib_regression
DROP DATABASE regression_partback_migrate;

