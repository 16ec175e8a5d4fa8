--
-- 001_backup: backup_db, backup_table and backup, as a DBA calls them.
--
-- Job ids come from a sequence and depend on the order of the tests, so
-- they are never printed: calls show "> 0 AS submitted" or go to \gset.
-- Backup dirs are fixed paths under /tmp/partback_regress/, which the
-- runner empties before the suite.
--
CREATE EXTENSION partback;

-- Errors as "SQLSTATE: message", with DETAIL and HINT lines when there are
-- some.  Later tests use it too.  Job ids and temporary schema numbers,
-- which vary from run to run, are masked.
CREATE FUNCTION public.pb_err(cmd text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	EXECUTE cmd;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
							det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN regexp_replace(regexp_replace(
			st || ': ' || msg
			|| coalesce(E'\nDETAIL: ' || nullif(det, ''), '')
			|| coalesce(E'\nHINT: ' || nullif(hnt, ''), ''),
		'job \d+', 'job N', 'g'), 'pg_temp_\d+', 'pg_temp_N', 'g');
END
$$;

-- The test data, used by every later test:
--   pbr.quotes   range on d; q2020 is itself list-partitioned on sym;
--                q2021 a leaf; q2022 lives in another schema; a default
--   pbr.plain    a plain table (its own single partition)
--   pbr2.other   a plain table in a second schema (schemas filters)
CREATE SCHEMA pbr;
CREATE SCHEMA pbr2;
CREATE SCHEMA pbr_x;
CREATE TABLE pbr.quotes (
	d		date NOT NULL,
	sym		text NOT NULL,
	price	numeric(10,2) NOT NULL,
	vol		integer DEFAULT 0,
	PRIMARY KEY (d, sym)
) PARTITION BY RANGE (d);
CREATE TABLE pbr.q2020 PARTITION OF pbr.quotes
	FOR VALUES FROM ('2020-01-01') TO ('2021-01-01') PARTITION BY LIST (sym);
CREATE TABLE pbr.q2020_a PARTITION OF pbr.q2020 FOR VALUES IN ('A');
CREATE TABLE pbr.q2020_b PARTITION OF pbr.q2020 FOR VALUES IN ('B');
CREATE TABLE pbr.q2021 PARTITION OF pbr.quotes
	FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE TABLE pbr_x.q2022 PARTITION OF pbr.quotes
	FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
CREATE TABLE pbr.q_default PARTITION OF pbr.quotes DEFAULT;
INSERT INTO pbr.quotes
	SELECT date '2020-01-01' + i, CASE WHEN i % 2 = 0 THEN 'A' ELSE 'B' END,
		   i * 1.25, i
	  FROM generate_series(0, 199) i;
INSERT INTO pbr.quotes
	SELECT date '2021-01-01' + i, 'C', i, i FROM generate_series(0, 49) i;
INSERT INTO pbr.quotes
	SELECT date '2022-01-01' + i, 'D', i, i FROM generate_series(0, 29) i;
INSERT INTO pbr.quotes VALUES ('2030-06-01', 'Z', 1, 1);
CREATE TABLE pbr.plain (id integer PRIMARY KEY, v text);
INSERT INTO pbr.plain SELECT i, 'v' || i FROM generate_series(1, 10) i;
CREATE TABLE pbr2.other (a integer);
INSERT INTO pbr2.other SELECT generate_series(1, 5);

SELECT tableoid::regclass AS partition, count(*)
  FROM pbr.quotes GROUP BY 1 ORDER BY tableoid::regclass::text;

--
-- backup_db: the whole database, waiting for the job
--
SELECT partback.backup_db('/tmp/partback_regress/db', wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions
  FROM partback.list_backups('/tmp/partback_regress/db');
SELECT partition, bound, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.quotes');
SELECT partition, bound, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.plain');
SELECT * FROM partback.check_backup('/tmp/partback_regress/db');

-- the default compression is zstd
SELECT m->>'compression' AS compression, m->'files'->0->>'name' AS file
  FROM partback.get_backup_meta('/tmp/partback_regress/db', 'contrib_regression',
								'pbr.plain', 'plain') AS m;

--
-- compression per call: lz4, gzip, none (and zstd explicitly)
--
SELECT partback.backup_db('/tmp/partback_regress/lz4', compression => 'lz4', wait => true) > 0 AS submitted;
SELECT partback.backup_db('/tmp/partback_regress/gzip', compression => 'gzip', wait => true) > 0 AS submitted;
SELECT partback.backup_db('/tmp/partback_regress/none', compression => 'none', wait => true) > 0 AS submitted;
SELECT partback.backup_db('/tmp/partback_regress/zstd', compression => 'zstd', wait => true) > 0 AS submitted;
SELECT c AS dir, m->>'compression' AS compression, m->'files'->0->>'name' AS file,
	   m->>'rows' AS rows
  FROM unnest(ARRAY['lz4', 'gzip', 'none', 'zstd']) AS c,
	   partback.get_backup_meta('/tmp/partback_regress/' || c, 'contrib_regression',
								'pbr.quotes', 'q2020/q2020_a') AS m;
SELECT c AS dir,
	   (SELECT count(*) FROM partback.check_backup('/tmp/partback_regress/' || c)) AS problems
  FROM unnest(ARRAY['lz4', 'gzip', 'none', 'zstd']) AS c;
SELECT c AS dir, backup_id, tables, partitions
  FROM unnest(ARRAY['lz4', 'gzip', 'none', 'zstd']) AS c,
	   partback.list_backups('/tmp/partback_regress/' || c)
 ORDER BY 1;

--
-- backup_db with a schemas filter
--
SELECT partback.backup_db('/tmp/partback_regress/schemas', schemas => ARRAY['pbr2'],
						  wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions
  FROM partback.list_backups('/tmp/partback_regress/schemas');
SELECT partition, rows
  FROM partback.get_backup_list('/tmp/partback_regress/schemas', 'contrib_regression', 'pbr2.other');

--
-- backup_table: one table, plain or partitioned, regclass or text
--
SELECT partback.backup_table('/tmp/partback_regress/tbl', 'pbr.plain', wait => true) > 0 AS submitted;
SELECT partback.backup_table('/tmp/partback_regress/tbl', 'pbr.quotes'::regclass,
							 parallel => 1, wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions
  FROM partback.list_backups('/tmp/partback_regress/tbl');
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/tbl', 'contrib_regression', 'pbr.plain');
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/tbl', 'contrib_regression', 'pbr.quotes');
SELECT * FROM partback.check_backup('/tmp/partback_regress/tbl');

--
-- backup: chosen partitions, by path, intermediate name or leaf name
--
-- a partition path
SELECT partback.backup('/tmp/partback_regress/parts', 'pbr.quotes',
					   partitions => ARRAY['q2020/q2020_a'], wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/parts', 'contrib_regression',
								'pbr.quotes', backup_id => 1);
-- an intermediate partition selects every leaf below it
SELECT partback.backup('/tmp/partback_regress/parts', 'pbr.quotes',
					   partitions => ARRAY['q2020'], wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/parts', 'contrib_regression',
								'pbr.quotes', backup_id => 2);
-- leaf names, one of them in another schema (its path is schema-qualified)
SELECT partback.backup('/tmp/partback_regress/parts', 'pbr.quotes',
					   partitions => ARRAY['q2021', 'pbr_x.q2022', 'q_default'],
					   wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/parts', 'contrib_regression',
								'pbr.quotes', backup_id => 3);
-- a leaf named twice (by path and by name) is copied once
SELECT partback.backup('/tmp/partback_regress/parts', 'pbr.quotes',
					   partitions => ARRAY['q2020/q2020_b', 'q2020_b'], force => true,
					   wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/parts', 'contrib_regression',
								'pbr.quotes', backup_id => 4);
-- NULL partitions: every partition; a plain table is its own partition
SELECT partback.backup('/tmp/partback_regress/parts', 'pbr.plain',
					   partitions => ARRAY['plain'], wait => true) > 0 AS submitted;
SELECT partback.backup('/tmp/partback_regress/parts', 'pbr.quotes', wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions
  FROM partback.list_backups('/tmp/partback_regress/parts');
SELECT * FROM partback.check_backup('/tmp/partback_regress/parts');

--
-- incremental: a repeated backup_db copies only what changed; unchanged
-- partitions keep the backup_id of the backup that copied them
--
SELECT partback.backup_db('/tmp/partback_regress/db', wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.quotes');
UPDATE pbr.quotes SET vol = vol + 1 WHERE d = '2021-02-01';
INSERT INTO pbr.plain VALUES (11, 'v11');
SELECT partback.backup_db('/tmp/partback_regress/db', wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.quotes');
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.plain');
-- force => true copies every partition again
SELECT partback.backup_db('/tmp/partback_regress/db', force => true, wait => true) > 0 AS submitted;
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.quotes');
-- older backups stay as they were
SELECT partition, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.plain',
								backup_id => 1);
SELECT backup_id, tables, partitions
  FROM partback.list_backups('/tmp/partback_regress/db');
SELECT * FROM partback.check_backup('/tmp/partback_regress/db');

-- put the data back as it was at backup 1
UPDATE pbr.quotes SET vol = vol - 1 WHERE d = '2021-02-01';
DELETE FROM pbr.plain WHERE id = 11;

--
-- wait => false returns at once; wait_job waits
--
SELECT partback.backup_table('/tmp/partback_regress/nowait', 'pbr.plain') AS job \gset
SELECT :job > 0 AS submitted;
SELECT partback.wait_job(:job);
SELECT state, tables, partitions, completed, rows, backup_id, error
  FROM partback.jobs WHERE job_id = :job;
SELECT backup_id, tables, partitions
  FROM partback.list_backups('/tmp/partback_regress/nowait');
