-- partback: status for people and monitoring.

CREATE FUNCTION partback.get_backup_status(user_name name DEFAULT NULL)
RETURNS TABLE (job_id bigint, user_name name, job_type text, source_db text,
			   table_name text, partitions integer, completed integer,
			   percent numeric, rows bigint, bytes bigint, state text,
			   started_at timestamptz, finished_at timestamptz,
			   estimated_end timestamptz, error text, reused integer,
			   reused_bytes bigint)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH live AS (
		SELECT l.job_id, l.table_name, sum(l.rows)::bigint AS rows,
			   sum(l.bytes)::bigint AS bytes
		  FROM partback._live() l
		 WHERE l.table_name IS NOT NULL
		 GROUP BY 1, 2
	), jt AS (
		SELECT j.job_id, j.user_name, j.job_type, j.source_db, t.table_name,
			   t.partitions, t.completed, t.reused, t.reused_bytes, t.units,
			   (SELECT count(*) FROM partback.chunk c
				 WHERE c.job_id = j.job_id AND c.table_name = t.table_name) AS units_done,
			   t.rows + coalesce(CASE WHEN t.state = 'running' THEN lv.rows END, 0) AS rows,
			   t.bytes + coalesce(CASE WHEN t.state = 'running' THEN lv.bytes END, 0) AS bytes,
			   -- a task not finished is in its job's state
			   CASE WHEN t.state IS NULL OR t.state IN ('queued', 'running')
					THEN partback._effective_state(j.state, j.worker_pid, j.job_id)
					ELSE t.state END AS state,
			   coalesce(t.started_at, j.started_at) AS started_at,
			   t.finished_at,
			   -- a running task waiting for a lock says for which, held by whom
			   coalesce(t.error, j.error,
						CASE WHEN t.state IN ('queued', 'running') THEN
							(SELECT string_agg(w.waiting, '; ' ORDER BY w.waiting)
							   FROM partback._live_waits() w
							  WHERE w.job_id = j.job_id AND w.table_name = t.table_name)
						END) AS error
		  FROM partback.job j
		  LEFT JOIN partback.task t USING (job_id)
		  LEFT JOIN live lv ON lv.job_id = j.job_id AND lv.table_name = t.table_name
	)
	SELECT job_id, user_name, job_type, source_db, table_name, partitions,
		   completed,
		   -- by units of work, finer than partitions
		   CASE WHEN state = 'succeeded' THEN 100.0
				WHEN coalesce(units, 0) = 0 THEN 0.0
				ELSE round(100.0 * least(units_done, units) / units, 1) END,
		   rows, bytes, state, started_at, finished_at,
		   CASE WHEN state = 'running' AND units_done > 0 AND units_done < units
				THEN started_at + (clock_timestamp() - started_at) * units / units_done
		   END,
		   error, reused, reused_bytes
	  FROM jt
	 WHERE $1 IS NULL OR jt.user_name = $1
	UNION ALL
	SELECT q.job_id, q.user_name, q.job_type, q.source_db, NULL, NULL, NULL,
		   0.0, 0, 0, 'queued', NULL, NULL, NULL, NULL, NULL, NULL
	  FROM partback._queued() q
	 WHERE ($1 IS NULL OR q.user_name = $1)
	   AND (q.user_name = current_user OR
			(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR
			pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'))
	 ORDER BY 1, 5
$$;

CREATE VIEW partback.jobs WITH (security_invoker = true) AS
	SELECT s.job_id, s.user_name, s.job_type, j.backup_dir, s.source_db,
		   coalesce(partback._effective_state(j.state, j.worker_pid, j.job_id), 'queued') AS state,
		   j.backup_id,
		   count(s.table_name)::integer AS tables,
		   coalesce(sum(s.partitions), 0)::integer AS partitions,
		   coalesce(sum(s.completed), 0)::integer AS completed,
		   coalesce(sum(s.reused), 0)::integer AS reused,
		   coalesce(sum(s.reused_bytes), 0)::bigint AS reused_bytes,
		   coalesce(sum(s.rows), 0)::bigint AS rows,
		   coalesce(sum(s.bytes), 0)::bigint AS bytes,
		   (SELECT coalesce(sum(t.stored_bytes), 0)::bigint
			  FROM partback.task t WHERE t.job_id = s.job_id) AS stored_bytes,
		   j.submitted_at, j.started_at, j.finished_at,
		   j.error_code, j.error, j.error_detail, j.error_hint, j.error_context
	  FROM partback.get_backup_status() s
	  LEFT JOIN partback.job j USING (job_id)
	 GROUP BY s.job_id, s.user_name, s.job_type, s.source_db, j.job_id;

CREATE VIEW partback.backup_status WITH (security_invoker = true) AS
	SELECT * FROM partback.get_backup_status();

-- Only superusers run jobs unless EXECUTE is granted; whoever may see the
-- status sees only their own jobs (superusers see all).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA partback FROM PUBLIC;
GRANT SELECT ON partback.job, partback.task, partback.chunk,
	partback.jobs, partback.backup_status TO PUBLIC;
ALTER TABLE partback.job ENABLE ROW LEVEL SECURITY;
ALTER TABLE partback.task ENABLE ROW LEVEL SECURITY;
ALTER TABLE partback.chunk ENABLE ROW LEVEL SECURITY;
-- Members of pg_read_all_stats (pg_monitor among them) see every job, as
-- pg_stat_activity shows them every session.
CREATE POLICY own_jobs ON partback.job FOR SELECT
	USING (user_name = current_user
		   OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'));
CREATE POLICY own_tasks ON partback.task FOR SELECT
	USING (EXISTS (SELECT FROM partback.job j WHERE j.job_id = task.job_id));
CREATE POLICY own_chunks ON partback.chunk FOR SELECT
	USING (EXISTS (SELECT FROM partback.job j WHERE j.job_id = chunk.job_id));

-- Which relations are restores' transient tables: backup_db, run as its
-- caller, leaves them out (partback._db_tables).
GRANT SELECT ON partback.transient_heap TO PUBLIC;

-- A job's messages: the tables it failed, its warnings and notices.
GRANT SELECT ON partback.job_message TO PUBLIC;
ALTER TABLE partback.job_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_messages ON partback.job_message FOR SELECT
	USING (EXISTS (SELECT FROM partback.job j WHERE j.job_id = job_message.job_id));
