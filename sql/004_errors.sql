--
-- 004_errors: bad calls of the backup and restore functions.  Each error
-- shows its SQLSTATE, message, DETAIL and HINT (through pb_err() of
-- 001_backup).  A bad call must fail at once and change nothing; where a
-- mistake is only found by the job, wait => true raises the job's error.
-- Uses the tables of 001_backup and the backup in /tmp/partback_regress/db.
--

-- restore_db and migrate say which backup they chose, with its point in
-- time in a DETAIL that differs from run to run: show messages alone
\set VERBOSITY terse

-- what a failed call must not change
SELECT count(*) AS jobs_before FROM partback.jobs \gset

--
-- backup_db
--
-- NULL for each argument that needs a value
SELECT pb_err($$SELECT partback.backup_db(NULL)$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', force => NULL)$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e_wait1', wait => NULL)$$);
-- a refused call leaves no backup dir behind
SELECT pg_stat_file('/tmp/partback_regress/e_wait1', missing_ok => true) IS NULL AS no_dir;
-- bad backup dirs
SELECT pb_err($$SELECT partback.backup_db('')$$);
SELECT pb_err($$SELECT partback.backup_db('partback_regress/e')$$);
SELECT pb_err($$SELECT partback.backup_db('./e')$$);
SELECT pb_err($$SELECT partback.backup_db('/etc')$$);
SELECT pb_err($$SELECT partback.backup_db('/etc/hostname')$$);
-- schemas
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', schemas => ARRAY['pbr', 'nosuch'])$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', schemas => ARRAY[]::text[])$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', schemas => ARRAY['pbr', NULL])$$);
-- parallel
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', parallel => 0)$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', parallel => -1)$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', parallel => 100000)$$);
-- compression
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', compression => 'brotli')$$);
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/e', compression => '')$$);
-- none of these created the dir
SELECT pg_stat_file('/tmp/partback_regress/e', missing_ok => true) IS NULL AS no_dir;
-- (method names are not case-sensitive, as in PostgreSQL's own settings)
SELECT partback.backup_table('/tmp/partback_regress/e_upper', 'pbr.plain', compression => 'LZ4',
							 wait => true) > 0 AS submitted;
SELECT m->>'compression' AS compression, m->'files'->0->>'name' AS file
  FROM partback.get_backup_meta('/tmp/partback_regress/e_upper', 'contrib_regression',
								'pbr.plain', 'plain') AS m;

--
-- backup_table
--
SELECT pb_err($$SELECT partback.backup_table(NULL, 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', NULL)$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.plain', force => NULL)$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e_wait2', 'pbr.plain', wait => NULL)$$);
SELECT pb_err($$SELECT partback.backup_table('', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.backup_table('e', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.backup_table('/etc', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.plain', parallel => 0)$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.plain', parallel => -5)$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.plain', compression => 'xz')$$);
-- relations that are not tables partback backs up
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.nosuch')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 0::regclass)$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 4294967295::oid::regclass)$$);
CREATE VIEW pbr.v AS SELECT * FROM pbr.plain;
CREATE MATERIALIZED VIEW pbr.mv AS SELECT * FROM pbr.plain;
CREATE SEQUENCE pbr.seq;
CREATE TEMP TABLE tmp_t (a integer);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.v')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.mv')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.seq')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.plain_pkey')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pg_class')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pg_catalog.pg_proc')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'tmp_t')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.q2021')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.q2020')$$);
SELECT pb_err($$SELECT partback.backup_table('/tmp/partback_regress/e', 'pbr.q2020_a')$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.v')$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'tmp_t')$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.q2021')$$);
DROP VIEW pbr.v;
DROP MATERIALIZED VIEW pbr.mv;
DROP SEQUENCE pbr.seq;
DROP TABLE tmp_t;
SELECT pg_stat_file('/tmp/partback_regress/e', missing_ok => true) IS NULL AS no_dir;

--
-- backup: partitions
--
SELECT pb_err($$SELECT partback.backup(NULL, 'pbr.quotes')$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', NULL)$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', force => NULL)$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e_wait3', 'pbr.quotes', wait => NULL)$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', parallel => 0)$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', compression => 'lzma')$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY[]::text[])$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['q2021', NULL])$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['nosuch'])$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['q2021', 'q2019'])$$);
-- not a partition of this table
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['plain'])$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['quotes'])$$);
-- a path must run from the table's child down
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['q2020_a/q2020'])$$);
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['quotes/q2021'])$$);
-- a partition in another schema is named with its schema
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['q2022'])$$);
-- names are case-sensitive, as the paths show them
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.quotes', partitions => ARRAY['Q2021'])$$);
-- a plain table is its own only partition
SELECT pb_err($$SELECT partback.backup('/tmp/partback_regress/e', 'pbr.plain', partitions => ARRAY['q2021'])$$);
SELECT pg_stat_file('/tmp/partback_regress/e', missing_ok => true) IS NULL AS no_dir;

--
-- restore_db
--
SELECT pb_err($$SELECT partback.restore_db(NULL)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', source_db => NULL)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', force => NULL)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', wait => NULL)$$);
SELECT pb_err($$SELECT partback.restore_db('')$$);
SELECT pb_err($$SELECT partback.restore_db('tmp/partback_regress/db')$$);
SELECT pb_err($$SELECT partback.restore_db('/etc')$$);
SELECT pb_err($$SELECT partback.restore_db('/etc/hostname')$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/nonexistent')$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', source_db => 'nosuchdb')$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', source_db => '')$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', backup_id => 99)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', backup_id => 0)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', backup_id => -1)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', schemas => ARRAY[]::text[])$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', schemas => ARRAY[NULL]::text[])$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', parallel => 0)$$);
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', parallel => -1)$$);
-- a schema the backup does not hold: refused by the call
SELECT pb_err($$SELECT partback.restore_db('/tmp/partback_regress/db', schemas => ARRAY['nosuch'],
										   wait => true)$$);

--
-- restore_table
--
SELECT pb_err($$SELECT partback.restore_table(NULL, 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', NULL)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', source_db => NULL)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', force => NULL)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', wait => NULL)$$);
SELECT pb_err($$SELECT partback.restore_table('', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.restore_table('db', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.restore_table('/etc', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/nonexistent', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', source_db => 'nosuchdb')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.nosuch')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'plain')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.q2021')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', '')$$);
-- the SQL identifier form of a name is recognised too
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', '"pbr"."plain"',
										 target_table => 'pbr.plain_quoted', wait => true)$$);
SELECT count(*) FROM pbr.plain_quoted;
DROP TABLE pbr.plain_quoted;
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', backup_id => 99)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', backup_id => 0)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', backup_id => -1)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', parallel => 0)$$);
-- a table that is not in the backup named by backup_id
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/parts', 'pbr.plain', backup_id => 1)$$);
-- target_table
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', target_table => '')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', target_table => 'a..b')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', target_table => '"open')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain', target_table => 'pbr.')$$);
-- too many dots: refused by the call
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain',
											 target_table => 'db.pbr.plain_copy', wait => true)$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain',
											 target_table => 'a.b.c.d', wait => true)$$);
-- an existing target that is not a table
CREATE VIEW pbr.plain_view AS SELECT 1 AS id;
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain',
											 target_table => 'pbr.plain_view', wait => true)$$);
SELECT * FROM pbr.plain_view;
DROP VIEW pbr.plain_view;
-- a target_table that is a partition of another table
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/db', 'pbr.plain',
											 target_table => 'pbr.q2021', wait => true)$$);
SELECT count(*) FROM pbr.q2021;

--
-- restore
--
SELECT pb_err($$SELECT partback.restore(NULL, 'pbr.quotes', '%')$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', NULL, '%')$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', NULL)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', source_db => NULL)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', force => NULL)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', wait => NULL)$$);
SELECT pb_err($$SELECT partback.restore('', 'pbr.quotes', '%')$$);
SELECT pb_err($$SELECT partback.restore('/etc', 'pbr.quotes', '%')$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/nonexistent', 'pbr.quotes', '%')$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', source_db => 'nosuchdb')$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.nosuch', '%')$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', backup_id => 99)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', backup_id => -1)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', parallel => -1)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '%', target_table => 'x..y')$$);
-- a pattern that matches no partition: the job fails
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', 'q1999%', wait => true)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', '', wait => true)$$);
-- an intermediate partition's own path matches no leaf
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', 'q2020', wait => true)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', 'q2022', wait => true)$$);
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/db', 'pbr.quotes', 'q2021',
									   target_table => 'a.b.c.d', wait => true)$$);

--
-- migrate
--
SELECT pb_err($$SELECT partback.migrate(NULL)$$);
SELECT pb_err($$SELECT partback.migrate('/tmp/partback_regress/db', wait => NULL)$$);
SELECT pb_err($$SELECT partback.migrate('')$$);
SELECT pb_err($$SELECT partback.migrate('db')$$);
SELECT pb_err($$SELECT partback.migrate('/etc')$$);
SELECT pb_err($$SELECT partback.migrate('/tmp/partback_regress/nonexistent')$$);
SELECT pb_err($$SELECT partback.migrate('/tmp/partback_regress/db', source_db => 'nosuchdb')$$);
SELECT pb_err($$SELECT partback.migrate('/tmp/partback_regress/db', parallel => 0)$$);
-- the tables exist here: the job refuses before creating anything
SELECT pb_err($$SELECT partback.migrate('/tmp/partback_regress/db', wait => true)$$);

-- only the calls that reached a worker left a job
SELECT count(*) - :jobs_before AS jobs FROM partback.jobs;
SELECT job_type, state, error_code, error
  FROM partback.jobs
 WHERE job_id > (SELECT max(job_id) FROM partback.jobs) - (SELECT count(*) - :jobs_before FROM partback.jobs)
 ORDER BY job_id;
-- and the data is as it was
SELECT tableoid::regclass AS partition, count(*)
  FROM pbr.quotes GROUP BY 1 ORDER BY tableoid::regclass::text;
SELECT count(*) FROM pbr.plain;
