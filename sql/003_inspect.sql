--
-- 003_inspect: list_backups, get_backup_list, get_backup_meta and
-- check_backup, on healthy and on damaged backups, and their errors.
-- Uses the tables of 001_backup and the dir /tmp/partback_regress/db it
-- made (backups 1 to 4); makes /tmp/partback_regress/inspect and
-- /tmp/partback_regress/corrupt.
--

SELECT partback.backup_db('/tmp/partback_regress/inspect', wait => true) > 0 AS submitted;
SELECT partback.backup_table('/tmp/partback_regress/inspect', 'pbr.plain', wait => true) > 0 AS submitted;

--
-- list_backups: one row per backup, oldest first
--
SELECT backup_id, tables, partitions,
	   started_at <= finished_at AS ordered, bytes > 0 AS has_bytes,
	   new_bytes > 0 AS has_new_bytes, snapshot_lsn IS NOT NULL AS has_lsn
  FROM partback.list_backups('/tmp/partback_regress/inspect');
-- source_db defaults to the current database
SELECT count(*) FROM partback.list_backups('/tmp/partback_regress/inspect', 'contrib_regression');
-- snapshots move forward
SELECT bool_and(snapshot_lsn >= prev) AS lsn_increasing
  FROM (SELECT snapshot_lsn, lag(snapshot_lsn, 1, '0/0') OVER (ORDER BY backup_id) AS prev
		  FROM partback.list_backups('/tmp/partback_regress/db')) s;

--
-- get_backup_list: one row per partition of the newest backup holding the
-- table, or of backup_id
--
SELECT partition, bound, rows, backup_id,
	   bytes > 0 AS has_bytes, stored_bytes > 0 AS has_stored_bytes,
	   length(checksum) AS checksum_length, backed_up_at IS NOT NULL AS has_time
  FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.quotes');
-- the newest backup holding pbr.plain is backup 2
SELECT partition, bound, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.plain');
SELECT partition, bound, rows, backup_id
  FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.plain',
								backup_id => 1);
-- a table of the second schema
SELECT count(*)
  FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr2.other');
-- the newest backup of /tmp/partback_regress/db holds 11 rows of pbr.plain, the first 10
SELECT backup_id, rows
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.plain');
SELECT backup_id, rows
  FROM partback.get_backup_list('/tmp/partback_regress/db', 'contrib_regression', 'pbr.plain', 1);

--
-- get_backup_meta: everything about one partition
--
SELECT m->>'path' AS path, m->'path_elems' AS path_elems, m->>'bound' AS bound,
	   m->>'rows' AS rows, m->>'compression' AS compression, m->'columns' AS columns,
	   m->>'partition_schema' AS partition_schema, m->>'partition_name' AS partition_name,
	   m->>'schema' AS schema, m->>'table' AS table, m->>'backup_id' AS backup_id,
	   m->>'format' AS format, m->>'version' AS version
  FROM partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression',
								'pbr.quotes', 'q2020/q2020_a') AS m;
SELECT m->>'path' AS path, m->'path_elems' AS path_elems, m->>'bound' AS bound,
	   m->>'partition_schema' AS partition_schema, m->>'partition_name' AS partition_name
  FROM partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression',
								'pbr.quotes', 'pbr_x.q2022') AS m;
-- the files of the partition
SELECT f->>'name' AS name, f->>'rows' AS rows, length(f->>'sha256') AS sha256_length,
	   (f->>'stored_bytes')::bigint > 0 AS has_size
  FROM partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression',
								'pbr.quotes', 'q2021') AS m,
	   jsonb_array_elements(m->'files') AS f;
-- the checksum in get_backup_list is the metadata's
SELECT l.checksum = m->>'checksum' AS same_checksum,
	   l.rows = (m->>'rows')::bigint AS same_rows,
	   l.backup_id = (m->>'backup_id')::bigint AS same_backup
  FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.quotes') AS l,
	   partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression',
								'pbr.quotes', l.partition) AS m
 ORDER BY l.partition;
-- the table definition
CREATE TEMP TABLE def AS
	SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression',
									'pbr.quotes', 'q2021') -> 'definition' AS d;
SELECT d->>'schema' AS schema, d->>'name' AS name, d->>'partitioned' AS partitioned,
	   d->'partition_key' AS partition_key
  FROM def;
SELECT c->>'name' AS name, c->>'type' AS type, c->>'not_null' AS not_null, c->>'default' AS "default"
  FROM def, jsonb_array_elements(d->'columns') AS c;
SELECT c->>'name' AS name, c->>'definition' AS definition
  FROM def, jsonb_array_elements(d->'constraints') AS c;
SELECT p->>'path' AS path, p->>'leaf' AS leaf, p->>'bound' AS bound,
	   p->>'partition_key' AS partition_key
  FROM def, jsonb_array_elements(d->'partitions') AS p
 ORDER BY 1;
-- a plain table: no bound, no partition key
SELECT m->>'path' AS path, m->'bound' AS bound, m->'definition'->'partition_key' AS partition_key,
	   m->'columns' AS columns, m->>'rows' AS rows
  FROM partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression',
								'pbr.plain', 'plain') AS m;
SELECT m->>'rows' AS rows, m->>'backup_id' AS backup_id
  FROM partback.get_backup_meta('/tmp/partback_regress/db', 'contrib_regression',
								'pbr.plain', 'plain', backup_id => 1) AS m;

--
-- check_backup: empty when healthy, with or without filters
--
SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect');
SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', 'contrib_regression');
SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', source_table => 'pbr.quotes');
SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', source_table => 'pbr.quotes',
									partition => 'q2020/%');
SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', backup_id => 1);
SELECT * FROM partback.check_backup('/tmp/partback_regress/db', backup_id => 2);

--
-- check_backup on damaged backups: compression none, so that sizes and
-- checksums do not depend on the compressor's version
--
SELECT partback.backup_db('/tmp/partback_regress/corrupt', compression => 'none', wait => true) > 0 AS submitted;
SELECT * FROM partback.check_backup('/tmp/partback_regress/corrupt');
-- a data file with other bytes of the same size
DO $$
DECLARE
	f jsonb := partback.get_backup_meta('/tmp/partback_regress/corrupt', 'contrib_regression',
										'pbr.quotes', 'q2021') -> 'files' -> 0;
BEGIN
	EXECUTE format('COPY (SELECT repeat(%L, %s)) TO %L', 'x', (f->>'stored_bytes')::int - 1,
				   '/tmp/partback_regress/corrupt/contrib_regression/data/pbr/quotes/q2021/' || (f->>'name'));
END
$$;
-- a data file cut short
COPY (SELECT 'short') TO '/tmp/partback_regress/corrupt/contrib_regression/data/pbr/plain/plain/0000000001.00000.copy';
-- a file no manifest names, and a temporary file left behind
COPY (SELECT 'stray') TO '/tmp/partback_regress/corrupt/contrib_regression/data/pbr/plain/plain/stray';
COPY (SELECT 'stray') TO '/tmp/partback_regress/corrupt/contrib_regression/data/pbr/plain/plain/0000000009.00000.copy.tmp';
SELECT source_table, partition, file, problem,
	   expected IS NOT NULL AS has_expected, actual IS NOT NULL AS has_actual
  FROM partback.check_backup('/tmp/partback_regress/corrupt')
 ORDER BY file;
-- sizes and checksums as the manifest and the disk have them
SELECT c.file, c.problem,
	   c.expected = CASE WHEN c.problem = 'size mismatch' THEN f->>'stored_bytes' ELSE f->>'sha256' END
		 AS expected_is_metadata,
	   c.actual = CASE WHEN c.problem = 'size mismatch'
					   THEN (pg_stat_file('/tmp/partback_regress/corrupt/' || c.file)).size::text
					   ELSE encode(sha256(pg_read_binary_file('/tmp/partback_regress/corrupt/' || c.file)), 'hex')
				  END AS actual_is_disk
  FROM partback.check_backup('/tmp/partback_regress/corrupt') AS c,
	   LATERAL (SELECT partback.get_backup_meta('/tmp/partback_regress/corrupt', 'contrib_regression',
												c.source_table, c.partition) -> 'files' -> 0 AS f) m
 WHERE c.problem LIKE '%mismatch'
 ORDER BY c.file;
-- filters: a table, a partition pattern
SELECT source_table, partition, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt', source_table => 'pbr.quotes');
SELECT source_table, partition, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt', partition => 'q2020/%');
SELECT source_table, partition, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt', partition => 'plain');
-- a restore verifies every file's checksum while it reads it: a damaged
-- file fails the job and leaves the table as it was
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/corrupt', 'pbr.plain',
											 wait => true)$$);
SELECT count(*) FROM pbr.plain;
SELECT pb_err($$SELECT partback.restore('/tmp/partback_regress/corrupt', 'pbr.quotes', 'q2021',
									   wait => true)$$);
SELECT count(*) FROM pbr.q2021;
-- a file whose bytes still form a valid COPY stream, with other data
SELECT partback.backup_table('/tmp/partback_regress/corrupt2', 'pbr.plain', compression => 'none',
							 wait => true) > 0 AS submitted;
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; sed -i s/v5/v9/ /tmp/partback_regress/corrupt2/contrib_regression/data/pbr/plain/plain/0000000001.00000.copy';
SELECT source_table, partition, file, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt2');
UPDATE pbr.plain SET v = 'changed' WHERE id = 5;
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/corrupt2', 'pbr.plain',
											 wait => true)$$);
SELECT * FROM pbr.plain WHERE id = 5;
UPDATE pbr.plain SET v = 'v5' WHERE id = 5;
-- a missing data file and damaged metadata
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm /tmp/partback_regress/corrupt/contrib_regression/data/pbr2/other/other/0000000001.00000.copy';
COPY (SELECT '{}') TO '/tmp/partback_regress/corrupt/contrib_regression/data/pbr/quotes/q_default/0000000001.meta.json';
SELECT source_table, partition, file, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt', source_table => 'pbr2.other');
SELECT source_table, partition, file, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt', partition => 'q_default');
-- a damaged manifest
COPY (SELECT '{"backup_id": ') TO '/tmp/partback_regress/corrupt/contrib_regression/manifests/0000000002.json';
SELECT source_table, partition, file, problem
  FROM partback.check_backup('/tmp/partback_regress/corrupt', backup_id => 2);

--
-- errors
--
-- NULL arguments
SELECT pb_err($$SELECT * FROM partback.list_backups(NULL)$$);
SELECT pb_err($$SELECT * FROM partback.list_backups('/tmp/partback_regress/inspect', NULL)$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list(NULL, 'contrib_regression', 'pbr.plain')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', NULL, 'pbr.plain')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', NULL)$$);
SELECT pb_err($$SELECT partback.get_backup_meta(NULL, 'contrib_regression', 'pbr.plain', 'plain')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', NULL, 'pbr.plain', 'plain')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression', NULL, 'plain')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.plain', NULL)$$);
SELECT pb_err($$SELECT * FROM partback.check_backup(NULL)$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', NULL)$$);
-- bad backup dirs
SELECT pb_err($$SELECT * FROM partback.list_backups('')$$);
SELECT pb_err($$SELECT * FROM partback.list_backups('tmp/partback_regress/inspect')$$);
SELECT pb_err($$SELECT * FROM partback.list_backups('/tmp/partback_regress/nonexistent')$$);
SELECT pb_err($$SELECT * FROM partback.list_backups('/etc')$$);
SELECT pb_err($$SELECT * FROM partback.list_backups('/etc/passwd')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/etc', 'contrib_regression', 'pbr.plain')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/nonexistent', 'contrib_regression', 'pbr.plain', 'plain')$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('/etc')$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('')$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('relative')$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('/tmp/partback_regress/nonexistent')$$);
-- a trailing slash or a doubled one names the same dir
SELECT count(*) FROM partback.list_backups('/tmp/partback_regress//inspect/');
-- nonexistent database, table, partition, backup
SELECT pb_err($$SELECT * FROM partback.list_backups('/tmp/partback_regress/inspect', 'nosuchdb')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'nosuchdb', 'pbr.plain')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.nosuch')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'plain')$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.quotes', backup_id => 2)$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.plain', backup_id => 99)$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_list('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.plain', backup_id => -1)$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.quotes', 'q2020')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.quotes', 'q2020_a')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.quotes', 'q2022')$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'contrib_regression', 'pbr.plain', 'plain', backup_id => 3)$$);
SELECT pb_err($$SELECT partback.get_backup_meta('/tmp/partback_regress/inspect', 'nosuchdb', 'pbr.plain', 'plain')$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', 'nosuchdb')$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', backup_id => 99)$$);
SELECT pb_err($$SELECT * FROM partback.check_backup('/tmp/partback_regress/inspect', backup_id => 0)$$);
-- a misspelt table name is an error, not a healthy result
SELECT pb_err($$SELECT count(*) FROM partback.check_backup('/tmp/partback_regress/inspect', source_table => 'pbr.nosuch')$$);
-- nor a partition pattern that matches nothing
SELECT pb_err($$SELECT count(*) FROM partback.check_backup('/tmp/partback_regress/inspect', partition => 'nosuch%')$$);
