--
-- 006_hostile: the catalogue of bad calls, argument by argument, for every
-- function of the SQL surface.  Each call shows "SQLSTATE: message" with its
-- DETAIL and HINT, one call after the other.  004_errors has the common
-- mistakes of the backup and restore functions; this file has the rest:
-- NULL and '' for every argument, paths that are relative, escape through
-- '..' or lie outside partback.allowed_dirs, dirs that are no backup or of a
-- newer format, relations partback does not copy, names that are too long or
-- odd, numbers out of range, and the calls of a role that is not allowed.
--
-- 005_status dropped the extension, so this test makes its own: the schema
-- hz and backups in /tmp/partback_regress/hostile.  It drops them again.
--
CREATE EXTENSION partback;

-- Every bad call goes through hostile(), which logs it, so that the end of
-- the file can count the calls and show that each was refused.
CREATE TABLE public.hostile_log (cmd text, sqlstate text);
CREATE FUNCTION public.hostile(cmd text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	EXECUTE cmd;
	INSERT INTO public.hostile_log VALUES (cmd, NULL);
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
							det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	INSERT INTO public.hostile_log VALUES (cmd, st);
	-- PostgreSQL 16 and later give a setting's range with its unit
	RETURN regexp_replace(regexp_replace(regexp_replace(
			st || ': ' || msg
			|| coalesce(E'\nDETAIL: ' || nullif(det, ''), '')
			|| coalesce(E'\nHINT: ' || nullif(hnt, ''), ''),
		'job \d+', 'job N', 'g'), 'pg_temp_\d+', 'pg_temp_N', 'g'),
		'\((\d+) MB \.\. (\d+) MB\)', '(\1 .. \2)', 'g');
END
$$;

-- test data: a partitioned table, a plain one, and a table whose schema,
-- name and partitions have odd names, one of 63 bytes
CREATE SCHEMA hz;
CREATE TABLE hz.t (k integer NOT NULL, v text) PARTITION BY RANGE (k);
CREATE TABLE hz.t_1 PARTITION OF hz.t FOR VALUES FROM (0) TO (100);
CREATE TABLE hz.t_2 PARTITION OF hz.t FOR VALUES FROM (100) TO (200);
INSERT INTO hz.t SELECT i, 'v' || i FROM generate_series(0, 199) AS i;
CREATE TABLE hz.p (id integer PRIMARY KEY, v text);
INSERT INTO hz.p SELECT i, 'p' || i FROM generate_series(1, 10) AS i;
CREATE SCHEMA "hz odd/..";
CREATE TABLE "hz odd/.."."We""ird ü.tab" (k integer NOT NULL) PARTITION BY LIST (k);
CREATE TABLE "hz odd/..".".." PARTITION OF "hz odd/.."."We""ird ü.tab" FOR VALUES IN (1);
CREATE TABLE "hz odd/..".x PARTITION OF "hz odd/.."."We""ird ü.tab" FOR VALUES IN (2);
INSERT INTO "hz odd/.."."We""ird ü.tab" VALUES (1), (2), (2);
SELECT repeat('n', 61) || 'ü' AS name63 \gset
CREATE TABLE hz.:"name63" (a integer);
INSERT INTO hz.:"name63" VALUES (63);
SELECT octet_length(relname) AS bytes FROM pg_class WHERE relname = :'name63';
-- the other kinds of relation
CREATE VIEW hz.v AS SELECT * FROM hz.p;
CREATE FOREIGN DATA WRAPPER hz_fdw;
CREATE SERVER hz_server FOREIGN DATA WRAPPER hz_fdw;
CREATE FOREIGN TABLE hz.f (a integer) SERVER hz_server;
CREATE TYPE hz.comp AS (a integer, b text);
CREATE UNLOGGED TABLE hz.unlogged (a integer);
CREATE TEMP TABLE hz_temp (a integer);
CREATE INDEX t_k ON hz.t (k);
-- a table with the name of hz.p but another shape
CREATE SCHEMA hz2;
CREATE TABLE hz2.p (id integer PRIMARY KEY, other date);
INSERT INTO hz2.p VALUES (1, '2020-01-01');
-- and tables with the columns of hz.t and hz.p, but partitioned otherwise
CREATE TABLE hz2.t_plain (k integer NOT NULL, v text);
INSERT INTO hz2.t_plain VALUES (1, 'plain');
CREATE TABLE hz2.t_list (k integer NOT NULL, v text) PARTITION BY LIST (k);
CREATE TABLE hz2.t_list_1 PARTITION OF hz2.t_list FOR VALUES IN (1);
INSERT INTO hz2.t_list VALUES (1, 'list');
CREATE TABLE hz2.p_range (id integer NOT NULL, v text) PARTITION BY RANGE (id);
CREATE TABLE hz2.p_range_1 PARTITION OF hz2.p_range FOR VALUES FROM (0) TO (1000);
INSERT INTO hz2.p_range VALUES (1, 'range');
-- what the failed calls must leave as it is
CREATE FUNCTION public.hz_content() RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
		SELECT tableoid::regclass::text || k || v AS x FROM hz.t
		UNION ALL SELECT 'p' || id || v FROM hz.p
		UNION ALL SELECT 'hz2' || id || other FROM hz2.p
		UNION ALL SELECT 'hz2.t_plain' || k || v FROM hz2.t_plain
		UNION ALL SELECT tableoid::regclass::text || k || v FROM hz2.t_list
		UNION ALL SELECT tableoid::regclass::text || id || v FROM hz2.p_range
		UNION ALL SELECT 'odd' || tableoid::regclass::text || k FROM "hz odd/.."."We""ird ü.tab") s
$$;
SELECT public.hz_content() AS content_before \gset

-- the backup every call below reads: it works (positive controls)
SELECT partback.backup_db('/tmp/partback_regress/hostile/good', schemas => ARRAY['hz', 'hz odd/..'],
						  wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions FROM partback.list_backups('/tmp/partback_regress/hostile/good');
SELECT count(*) AS problems FROM partback.check_backup('/tmp/partback_regress/hostile/good');
SELECT partition, rows
  FROM partback.get_backup_list('/tmp/partback_regress/hostile/good', current_database(),
								'hz odd/...We"ird ü.tab');
SELECT octet_length(partition) AS bytes, rows
  FROM partback.get_backup_list('/tmp/partback_regress/hostile/good', current_database(),
								'hz.' || :'name63');
SELECT partback.restore_table('/tmp/partback_regress/hostile/good', '"hz odd/.."."We""ird ü.tab"',
							  target_table => '"We""ird ü.copy"', wait => true) > 0 AS submitted;
SELECT tableoid::regclass AS partition, count(*) FROM "hz odd/.."."We""ird ü.copy" GROUP BY 1 ORDER BY 1;
DROP TABLE "hz odd/.."."We""ird ü.copy";

-- dirs that are not what they seem: made with COPY ... TO PROGRAM
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; mkdir -p /tmp/partback_regress/hostile/empty /tmp/partback_regress/hostile/foreign /tmp/partback_regress/hostile/newer /tmp/partback_regress/hostile/v0 /tmp/partback_regress/hostile/notjson /tmp/partback_regress/hostile/other /tmp/partback_regress/hostile/hugever /tmp/partback_regress/hostile/allowed /tmp/partback_regress/hostile/allowed2';
COPY (SELECT 'not a backup') TO '/tmp/partback_regress/hostile/foreign/README';
COPY (SELECT '{"format": "partback", "version": 2}') TO '/tmp/partback_regress/hostile/newer/PARTBACK_FORMAT';
COPY (SELECT '{"format": "partback", "version": 0}') TO '/tmp/partback_regress/hostile/v0/PARTBACK_FORMAT';
COPY (SELECT 'version 1') TO '/tmp/partback_regress/hostile/notjson/PARTBACK_FORMAT';
COPY (SELECT '{"format": "other", "version": 1}') TO '/tmp/partback_regress/hostile/other/PARTBACK_FORMAT';
COPY (SELECT '{"format": "partback", "version": 99999999999999999999}') TO '/tmp/partback_regress/hostile/hugever/PARTBACK_FORMAT';

\pset tuples_only on
\pset format unaligned

--
-- backup_db(backup_dir, schemas, force, parallel, wait, compression)
--
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', parallel => NULL, compression => NULL, schemas => NULL, wait => NULL)$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/../../../etc')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/good/PARTBACK_FORMAT')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/good/contrib_regression')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/foreign')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/newer')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/v0')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/notjson')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/other')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/hugever')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY[''])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY['pg_catalog'])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY['partback'])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY['pg_toast'])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY['HZ'])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY[repeat('s', 64)])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', schemas => ARRAY[['hz'], ['hz2']])$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', parallel => -2147483648)$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', compression => 'zstd ')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', compression => 'zstd:3')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', compression => 'gzip', parallel => 17)$$);
-- the settings behind the defaults
SELECT hostile($$SET partback.compression = 'brotli'$$);
SELECT hostile($$SET partback.compression_level = 23$$);
SELECT hostile($$SET partback.chunk_size = 0$$);
SELECT hostile($$SET partback.chunk_size = '2 TB'$$);
SELECT hostile($$SET partback.max_workers_per_job = 0$$);
SELECT hostile($$SET partback.max_rate = -1$$);
SELECT hostile($$SET partback.no_such_setting = 1$$);
-- a level valid for zstd but not for the method asked for
SET partback.compression_level = 22;
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', compression => 'gzip')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/x', compression => 'lz4')$$);
RESET partback.compression_level;
SELECT pg_stat_file('/tmp/partback_regress/hostile/x', missing_ok => true) IS NULL AS no_dir;

--
-- backup_table(backup_dir, tbl, force, parallel, wait, compression)
--
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.f')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.comp')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.t_k')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz_temp')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'partback.job')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'information_schema.sql_features')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'information_schema.tables')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'pg_toast.pg_toast_1255')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.t_2')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz."T"')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', '')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.p', parallel => 2147483647)$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.p', compression => 'none; rm -rf /')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.p', compression => '')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/newer', 'hz.p')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x/../foreign', 'hz.p')$$);
SELECT pg_stat_file('/tmp/partback_regress/hostile/x', missing_ok => true) IS NULL AS no_dir;

--
-- backup(backup_dir, tbl, partitions, force, parallel, wait, compression)
--
SELECT hostile($$SELECT partback.backup('', 'hz.t')$$);
SELECT hostile($$SELECT partback.backup('hostile/x', 'hz.t')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', '')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.f')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'pg_class')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY[''])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY['%'])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY['..'])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY['t_1/'])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY['/t_1'])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY['hz.t_1'])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY[repeat('t', 64)])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', partitions => ARRAY[['t_1'], ['t_2']])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', '"hz odd/.."."We""ird ü.tab"', partitions => ARRAY['.'])$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', parallel => -1)$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', compression => 'ZSTD!')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', compression => '')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/x', 'hz.t', wait => NULL)$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/v0', 'hz.t')$$);
SELECT pg_stat_file('/tmp/partback_regress/hostile/x', missing_ok => true) IS NULL AS no_dir;

--
-- restore_db(backup_dir, source_db, schemas, backup_id, force, parallel, wait)
--
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/empty')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/foreign')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/newer')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/notjson')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good/PARTBACK_FORMAT')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good/../good/../../hostile/empty')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', source_db => 'template1')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', source_db => '..')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', source_db => '../good/contrib_regression')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', source_db => repeat('d', 64))$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', schemas => ARRAY[''])$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', schemas => ARRAY['hz2'])$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', backup_id => 9223372036854775807)$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', backup_id => -9223372036854775808)$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', parallel => 2147483647)$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good', parallel => -2147483648)$$);

--
-- restore_table(backup_dir, source_table, target_table, source_db, backup_id,
--				 force, parallel, wait)
--
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/empty', 'hz.p')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/newer', 'hz.p')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', '.')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', '.p')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'contrib_regression.hz.p')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', '"hz.p"')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', '"HZ"."P"')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.t_1')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.v')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', E'hz.p\nDROP TABLE hz.t')$$);
SELECT hostile(format('SELECT partback.restore_table(%L, %L)', '/tmp/partback_regress/hostile/good', 'hz.' || :'name63' || 'x'));
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz odd/...We"ird ü.tab', source_db => '')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', backup_id => 2)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', parallel => 17)$$);
-- targets that are not tables partback may write
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => '.', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => '""', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'hz.f', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'hz.comp', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'hz.p_pkey', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'hz2.p', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'hz.t', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.t', target_table => 'hz.p', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.t', target_table => 'hz2.t_plain', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.t', target_table => 'hz2.t_list', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'hz2.p_range', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'pg_catalog.pg_class', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'pg_catalog.hz_new', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'pg_temp.hz_new', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'information_schema.hz_new', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'partback.job', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'partback.hz_new', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p', target_table => 'information_schema.tables', wait => true)$$);

--
-- restore(backup_dir, source_table, partition, target_table, source_db,
--		   backup_id, force, parallel, wait)
--
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/empty', 'hz.t', '%')$$);
SELECT hostile($$SELECT partback.restore('relative', 'hz.t', '%')$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', '', '%')$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%', source_db => '')$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%', backup_id => 0)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%', parallel => 0)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%', force => NULL)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%', target_table => '')$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%', target_table => 'hz2.p', wait => true)$$);
-- patterns that match nothing, or are no valid LIKE pattern
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', 't\_3', wait => true)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', 'T_1', wait => true)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', 't_1\', wait => true)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', 'hz.t_1', wait => true)$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz odd/...We"ird ü.tab', '../%', wait => true)$$);

--
-- migrate(backup_dir, source_db, parallel, wait)
--
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/empty')$$);
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/newer')$$);
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/other')$$);
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/good', source_db => '')$$);
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/good', parallel => -1)$$);
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/good', parallel => 1000)$$);

--
-- check_backup(backup_dir, source_db, source_table, partition, backup_id)
--
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/empty')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/foreign')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/newer')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/v0')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good/PARTBACK_FORMAT')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', '')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', source_table => '')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', source_table => 'hz.t_1')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', partition => '')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', source_table => 'hz.t', partition => 'T_%')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', backup_id => -1)$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good', backup_id => 2)$$);

--
-- list_backups(backup_dir, source_db)
--
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/empty')$$);
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/newer')$$);
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/hugever')$$);
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/good', '')$$);
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/good', 'contrib_regression/..')$$);

--
-- get_backup_list(backup_dir, source_db, source_table, backup_id)
--
SELECT hostile($$SELECT * FROM partback.get_backup_list('', current_database(), 'hz.t')$$);
SELECT hostile($$SELECT * FROM partback.get_backup_list('good', current_database(), 'hz.t')$$);
SELECT hostile($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/hostile/newer', current_database(), 'hz.t')$$);
SELECT hostile($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/hostile/good', '', 'hz.t')$$);
SELECT hostile($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/hostile/good', current_database(), '')$$);
SELECT hostile($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/hostile/good', current_database(), 'hz.t', backup_id => 0)$$);

--
-- get_backup_meta(backup_dir, source_db, source_table, partition, backup_id)
--
SELECT hostile($$SELECT partback.get_backup_meta('', current_database(), 'hz.t', 't_1')$$);
SELECT hostile($$SELECT partback.get_backup_meta('../good', current_database(), 'hz.t', 't_1')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', '', 'hz.t', 't_1')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', current_database(), '', 't_1')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', current_database(), 'hz.t', '')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', current_database(), 'hz.t', 't_%')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', current_database(), 'hz.t', '../t_1')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', current_database(), 'hz.t', 't_1', backup_id => -1)$$);

-- the internal functions: a superuser may call them, never to leave the dir
SELECT hostile($$SELECT partback._partition_meta('/tmp/partback_regress/hostile/good', current_database(), '../../foreign/README', NULL)$$);
SELECT hostile($$SELECT partback._partition_meta('/tmp/partback_regress/hostile/good', current_database(), '/etc/passwd', NULL)$$);
SELECT hostile($$SELECT partback._manifest('/tmp/partback_regress/hostile/good', current_database(), 0)$$);

--
-- purge_backups(backup_dir, keep, source_db)
--
SELECT hostile($$SELECT partback.purge_backups(NULL, 1)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', NULL)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', 1, NULL)$$);
SELECT hostile($$SELECT partback.purge_backups('', 1)$$);
SELECT hostile($$SELECT partback.purge_backups('good', 1)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/nonexistent', 1)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/foreign', 1)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/newer', 1)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', 0)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', -1)$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', 1, '')$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', 1, 'nosuchdb')$$);

--
-- delete_backup(backup_dir, backup_id, source_db)
--
SELECT hostile($$SELECT partback.delete_backup(NULL, 1)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', NULL)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', 1, NULL)$$);
SELECT hostile($$SELECT partback.delete_backup('', 1)$$);
SELECT hostile($$SELECT partback.delete_backup('./good', 1)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/empty', 1)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/newer', 1)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', 0)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', -1)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', 2)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', 1, '')$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', 1, 'nosuchdb')$$);

--
-- wait_job(job_id, timeout), cancel_job(job_id), get_backup_status(user_name)
--
SELECT hostile($$SELECT partback.wait_job(0)$$);
SELECT hostile($$SELECT partback.cancel_job(0)$$);
SELECT hostile($$SELECT partback.wait_job(-9223372036854775808, '1 s')$$);

\pset tuples_only off
\pset format aligned
-- none of this changed the data or the backup
SELECT public.hz_content() = :'content_before' AS data_unchanged;
SELECT backup_id, tables, partitions FROM partback.list_backups('/tmp/partback_regress/hostile/good');
SELECT count(*) AS problems FROM partback.check_backup('/tmp/partback_regress/hostile/good');
SELECT count(*) AS stray_tables FROM pg_class WHERE relname = 'hz_new';
SELECT pg_stat_file('/tmp/partback_regress/hostile/x', missing_ok => true) IS NULL AS no_dir;

--
-- a role that is not a superuser, with partback.allowed_dirs set
--
CREATE ROLE regress_hostile LOGIN;
CREATE ROLE regress_hostile_nologin IN ROLE regress_hostile;
GRANT USAGE ON SCHEMA partback, hz TO regress_hostile;
GRANT EXECUTE ON FUNCTION partback.backup_db, partback.backup_table,
	partback.backup, partback.restore_db, partback.restore_table,
	partback.restore, partback.migrate, partback.check_backup,
	partback.get_backup_list, partback.get_backup_meta,
	partback.list_backups, partback.get_backup_status,
	partback.wait_job, partback.cancel_job, partback.purge_backups,
	partback.delete_backup TO regress_hostile;
GRANT SELECT ON hz.p TO regress_hostile;
GRANT INSERT ON public.hostile_log TO regress_hostile;
SELECT max(job_id) AS superuser_job FROM partback.job \gset
-- (set in this session only: a job checks its dir against its caller's
-- setting, as the call does)
SET partback.allowed_dirs = '/tmp/partback_regress/hostile/allowed, /tmp/partback_regress/hostile/allowed2/';
SET ROLE regress_hostile;
-- it works under allowed_dirs (positive control)
SELECT partback.backup_table('/tmp/partback_regress/hostile/allowed/mine', 'hz.p', wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions FROM partback.list_backups('/tmp/partback_regress/hostile/allowed/mine');
\pset tuples_only on
\pset format unaligned
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/x', 'hz.p')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/allowed/../x', 'hz.p')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/allowed_not', 'hz.p')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile', 'hz.p')$$);
SELECT hostile($$SELECT partback.backup_table('/', 'hz.p')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/allowed/mine2', 'hz.t')$$);
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/allowed/mine2', 'hz.v')$$);
SELECT hostile($$SELECT partback.backup_db('/tmp/partback_regress/hostile/good')$$);
SELECT hostile($$SELECT partback.backup('/tmp/partback_regress/hostile/good', 'hz.p')$$);
SELECT hostile($$SELECT partback.restore_db('/tmp/partback_regress/hostile/good')$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/good', 'hz.p')$$);
SELECT hostile($$SELECT partback.restore('/tmp/partback_regress/hostile/good', 'hz.t', '%')$$);
SELECT hostile($$SELECT partback.migrate('/tmp/partback_regress/hostile/good')$$);
SELECT hostile($$SELECT * FROM partback.check_backup('/tmp/partback_regress/hostile/good')$$);
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/good')$$);
SELECT hostile($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/hostile/good', current_database(), 'hz.p')$$);
SELECT hostile($$SELECT partback.get_backup_meta('/tmp/partback_regress/hostile/good', current_database(), 'hz.p', 'p')$$);
SELECT hostile($$SELECT partback.purge_backups('/tmp/partback_regress/hostile/good', 1)$$);
SELECT hostile($$SELECT partback.delete_backup('/tmp/partback_regress/hostile/good', 1)$$);
SELECT hostile($$SET partback.allowed_dirs = '/'$$);
SHOW partback.allowed_dirs;
-- a job of another role: hidden, so it does not exist for this one
SELECT hostile(format('SELECT partback.cancel_job(%s)', :superuser_job));
SELECT hostile(format('SELECT partback.wait_job(%s)', :superuser_job));
-- restoring into a table of another role
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/allowed/mine', 'hz.p', wait => true)$$);
-- a role without LOGIN: its workers could not connect
SET ROLE regress_hostile_nologin;
SELECT hostile($$SELECT partback.backup_table('/tmp/partback_regress/hostile/allowed/nologin', 'hz.p', wait => true)$$);
SELECT hostile($$SELECT partback.restore_table('/tmp/partback_regress/hostile/allowed/mine', 'hz.p', target_table => 'hz.nologin')$$);
SET ROLE regress_hostile;
\pset tuples_only off
\pset format aligned
RESET ROLE;
-- allowed_dirs binds superusers too
\pset tuples_only on
\pset format unaligned
SELECT hostile($$SELECT * FROM partback.list_backups('/tmp/partback_regress/hostile/good')$$);
\pset tuples_only off
\pset format aligned
RESET partback.allowed_dirs;
-- settings of allowed_dirs that could never match a backup dir
\pset tuples_only on
\pset format unaligned
SELECT hostile($$SET partback.allowed_dirs = 'tmp/partback_regress'$$);
SELECT hostile($$SET partback.allowed_dirs = '/tmp/partback_regress, ../x'$$);
SELECT hostile($$SET partback.allowed_dirs = '/tmp/partback_regress, "/unterminated'$$);
\pset tuples_only off
\pset format aligned
SHOW partback.allowed_dirs;

--
-- the count: every call was refused, none with an internal error
--
SELECT count(*) AS calls, count(DISTINCT cmd) AS distinct_calls,
	   count(*) FILTER (WHERE sqlstate IS NULL) AS not_refused,
	   count(*) FILTER (WHERE sqlstate LIKE 'XX%' AND sqlstate <> 'XX001') AS internal_errors
  FROM public.hostile_log;
SELECT cmd FROM public.hostile_log WHERE sqlstate IS NULL;
SELECT sqlstate, count(*) FROM public.hostile_log GROUP BY 1 ORDER BY 1;
SELECT public.hz_content() = :'content_before' AS data_unchanged;

--
-- clean up
--
SET client_min_messages = warning;
DROP SCHEMA hz, hz2, "hz odd/.." CASCADE;
DROP SERVER hz_server;
DROP FOREIGN DATA WRAPPER hz_fdw;
DROP TABLE hz_temp;
RESET client_min_messages;
DROP OWNED BY regress_hostile, regress_hostile_nologin;
DROP ROLE regress_hostile_nologin, regress_hostile;
DROP FUNCTION public.hostile(text), public.hz_content();
DROP TABLE public.hostile_log;
DROP EXTENSION partback;
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/partback_regress/hostile';
