-- partback: status for people and monitoring.

CREATE FUNCTION partback.get_backup_status(user_name name DEFAULT NULL)
RETURNS TABLE (job_id bigint, user_name name, job_type text, source_db text,
			   table_name text, partitions integer, completed integer,
			   percent numeric, rows bigint, bytes bigint, state text,
			   started_at timestamptz, finished_at timestamptz,
			   estimated_end timestamptz, error text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT j.job_id, j.user_name, j.job_type, j.source_db,
		   t.table_name, t.partitions, t.completed,
		   CASE WHEN t.partitions = 0 THEN
					CASE WHEN t.state = 'succeeded' THEN 100.0 ELSE 0.0 END
				ELSE round(100.0 * t.completed / t.partitions, 1) END,
		   t.rows, t.bytes,
		   CASE WHEN t.state IS NULL OR t.state IN ('queued', 'running')
				THEN partback._effective_state(coalesce(t.state, j.state), j.worker_pid)
				ELSE t.state END,
		   coalesce(t.started_at, j.started_at),
		   t.finished_at,
		   CASE WHEN t.state = 'running' AND t.completed > 0 AND t.completed < t.partitions
				THEN t.started_at + (now() - t.started_at) * t.partitions / t.completed
		   END,
		   coalesce(t.error, j.error)
	  FROM partback.job j
	  LEFT JOIN partback.task t USING (job_id)
	 WHERE $1 IS NULL OR j.user_name = $1
	 ORDER BY j.job_id, t.table_name
$$;

CREATE VIEW partback.jobs AS
	SELECT j.job_id, j.user_name, j.job_type, j.backup_dir, j.source_db,
		   partback._effective_state(j.state, j.worker_pid) AS state, j.backup_id,
		   count(t.table_name)::integer AS tables,
		   coalesce(sum(t.partitions), 0)::integer AS partitions,
		   coalesce(sum(t.completed), 0)::integer AS completed,
		   coalesce(sum(t.rows), 0)::bigint AS rows,
		   coalesce(sum(t.bytes), 0)::bigint AS bytes,
		   coalesce(sum(t.stored_bytes), 0)::bigint AS stored_bytes,
		   j.submitted_at, j.started_at, j.finished_at,
		   j.error_code, j.error
	  FROM partback.job j
	  LEFT JOIN partback.task t USING (job_id)
	 GROUP BY j.job_id;

CREATE VIEW partback.backup_status AS
	SELECT * FROM partback.get_backup_status();

-- Only superusers run jobs unless EXECUTE is granted.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA partback FROM PUBLIC;
