--
-- 005_status: get_backup_status, the views partback.jobs and
-- partback.backup_status, wait_job and cancel_job; default privileges.
-- The last test: it drops what the tests made, and the extension.
--
-- Timestamps and job ids vary, so only their relations are shown.

--
-- a finished job, submitted without waiting
--
SELECT partback.backup_db('/tmp/partback_regress/status', parallel => 2) AS job \gset
SELECT partback.wait_job(:job);
-- waiting again returns at once, with or without a timeout
SELECT partback.wait_job(:job);
SELECT partback.wait_job(:job, '1 min');
SELECT partback.wait_job(:job, timeout => '0 s');
SELECT partback.wait_job(:job, NULL);
-- a finished job cannot be cancelled
SELECT partback.cancel_job(:job);

-- partback.jobs: one row per job
SELECT job_type, backup_dir, source_db, state, backup_id, tables, partitions, completed,
	   rows, bytes > 0 AS has_bytes, stored_bytes > 0 AS has_stored_bytes,
	   user_name = current_user AS mine,
	   submitted_at <= started_at AS submitted_first, started_at <= finished_at AS started_first,
	   error_code, error
  FROM partback.jobs WHERE job_id = :job;
-- get_backup_status(): one row per job and table
SELECT job_type, source_db, table_name, partitions, completed, percent, rows,
	   bytes > 0 AS has_bytes, state, user_name = current_user AS mine,
	   started_at <= finished_at AS ordered, estimated_end, error
  FROM partback.get_backup_status() WHERE job_id = :job;
-- the view partback.backup_status is the same
SELECT (SELECT count(*) FROM partback.backup_status) = (SELECT count(*) FROM partback.get_backup_status())
	   AS same_rows;
SELECT table_name, partitions, completed, percent, rows, state
  FROM partback.backup_status WHERE job_id = :job;
-- the user filter
SELECT count(*) = (SELECT count(*) FROM partback.get_backup_status()) AS all_mine
  FROM partback.get_backup_status(current_user);
SELECT count(*) FROM partback.get_backup_status('regress_nobody');
SELECT count(*) FROM partback.get_backup_status(user_name => 'regress_nobody');
-- every job so far has ended; rows and partitions add up
SELECT count(*) FILTER (WHERE state IN ('queued', 'running', 'interrupted')) AS unfinished
  FROM partback.jobs;
SELECT bool_and(j.partitions = s.partitions AND j.completed = s.completed AND j.rows = s.rows) AS consistent
  FROM partback.jobs j
  JOIN (SELECT job_id, sum(partitions) AS partitions, sum(completed) AS completed, sum(rows) AS rows
		  FROM partback.get_backup_status() GROUP BY job_id) s USING (job_id)
 WHERE j.state = 'succeeded';

-- restore jobs show up the same way
SELECT partback.restore_table('/tmp/partback_regress/status', 'pbr.quotes',
							  target_table => 'pbr.quotes_status') AS job \gset
SELECT partback.wait_job(:job, '5 min');
SELECT job_type, state, tables, partitions, completed, rows, backup_id, error
  FROM partback.jobs WHERE job_id = :job;
SELECT job_type, table_name, partitions, completed, percent, rows, state
  FROM partback.get_backup_status() WHERE job_id = :job;
SELECT count(*) FROM pbr.quotes_status;
DROP TABLE pbr.quotes_status;

-- a failed job: state, SQLSTATE and message
-- a job that ends before it has tasks shows its state in get_backup_status()
SELECT partback.restore('/tmp/partback_regress/status', 'pbr.quotes', 'nomatch') AS job \gset
SELECT partback.wait_job(:job);
SELECT job_type, state, tables, error_code, error FROM partback.jobs WHERE job_id = :job;
SELECT job_type, table_name, state, error FROM partback.get_backup_status() WHERE job_id = :job;
SELECT partback.cancel_job(:job);

--
-- a running job: the worker waits for a lock this session holds
--
BEGIN;
LOCK pbr.plain IN ACCESS EXCLUSIVE MODE;
SELECT partback.backup_table('/tmp/partback_regress/status', 'pbr.plain') AS job \gset
-- the timeout ends the wait, not the job
SELECT partback.wait_job(:job, '100 ms');
SELECT job_type, state, finished_at IS NULL AS not_finished FROM partback.jobs WHERE job_id = :job;
SELECT partback.cancel_job(:job);
COMMIT;
SELECT partback.wait_job(:job);
SELECT job_type, state, error_code, error, finished_at IS NOT NULL AS finished
  FROM partback.jobs WHERE job_id = :job;
SELECT job_type, table_name, state, error FROM partback.get_backup_status() WHERE job_id = :job;
SELECT partback.cancel_job(:job);
-- calling it again runs it to the end
SELECT partback.backup_table('/tmp/partback_regress/status', 'pbr.plain', wait => true) > 0 AS submitted;
SELECT backup_id, tables, partitions FROM partback.list_backups('/tmp/partback_regress/status');

-- a caller that waits (wait => true) and is cancelled cancels its job
BEGIN;
LOCK pbr.plain IN ACCESS EXCLUSIVE MODE;
SET LOCAL statement_timeout = '300ms';
SELECT partback.backup_table('/tmp/partback_regress/status', 'pbr.plain', wait => true);
ROLLBACK;
SELECT max(job_id) AS job FROM partback.jobs \gset
SELECT partback.wait_job(:job);
SELECT job_type, state, error_code FROM partback.jobs WHERE job_id = :job;
SELECT backup_id, tables, partitions FROM partback.list_backups('/tmp/partback_regress/status');

--
-- errors of wait_job and cancel_job
--
SELECT pb_err($$SELECT partback.wait_job(NULL)$$);
SELECT pb_err($$SELECT partback.wait_job(-1)$$);
SELECT pb_err($$SELECT partback.wait_job(9223372036854775807)$$);
SELECT pb_err($$SELECT partback.wait_job(9223372036854775807, '1 s')$$);
SELECT pb_err($$SELECT partback.cancel_job(-1)$$);
SELECT pb_err($$SELECT partback.cancel_job(9223372036854775807)$$);
SELECT pb_err($$SELECT partback.cancel_job(NULL)$$);
-- wait_job cannot see progress in a REPEATABLE READ snapshot
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pb_err(format('SELECT partback.wait_job(%s)', :job));
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT pb_err(format('SELECT partback.wait_job(%s, %L)', :job, '1 s'));
ROLLBACK;
-- a negative timeout returns the current state at once
SELECT partback.wait_job(:job, '-1 s');

--
-- only superusers may run jobs unless they are granted the right
--
CREATE ROLE regress_partback_user;
SET ROLE regress_partback_user;
SELECT pb_err($$SELECT partback.backup_db('/tmp/partback_regress/priv')$$);
SELECT pb_err($$SELECT partback.restore_table('/tmp/partback_regress/status', 'pbr.plain')$$);
SELECT pb_err($$SELECT * FROM partback.jobs$$);
SELECT pb_err($$SELECT * FROM partback.get_backup_status()$$);
SELECT pb_err($$SELECT * FROM partback.list_backups('/tmp/partback_regress/status')$$);
RESET ROLE;
DROP ROLE regress_partback_user;
SELECT pg_stat_file('/tmp/partback_regress/priv', missing_ok => true) IS NULL AS no_dir;

--
-- clean up
--
SET client_min_messages = warning;
DROP SCHEMA pbr, pbr2, pbr_x CASCADE;
RESET client_min_messages;
DROP FUNCTION public.pb_err(text), public.pb_content(regclass), public.pb_tree(regclass);
DROP EXTENSION partback;
SELECT count(*) AS objects_left FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'partback';
-- the schema partback belongs to the extension and goes with it
SELECT count(*) AS schema_left FROM pg_namespace WHERE nspname = 'partback';
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS partback;
RESET client_min_messages;
