-- partback: which partitions of a restore hold the backup's content
-- (issue 13, item 7).

-- The backup's partitions each task of a restore loads (its plan), as
-- [{"path", "relid"}]: the paths when the job starts, the target
-- partitions once its target is prepared.
ALTER TABLE partback.task ADD COLUMN restore_partitions jsonb;

-- Per partition of a restore job: the target partition (NULL if there is
-- none: a partition the restore did not get to create) and its content --
-- 'backup' once the job loaded it (or found it holding the backup's content
-- already), 'old' while it keeps what it held before.  A restore that
-- stopped half-way (cancelled, failed, interrupted) leaves some of each;
-- an atomic one (atomic => true) leaves all of a table one way or the
-- other.  Rows of other users' jobs are hidden as in partback.task.
CREATE FUNCTION partback.get_restore_partitions(job_id bigint)
RETURNS TABLE (table_name text, target_table text, path text,
			   target_partition regclass, content text, atomic boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.table_name, t.target_table, p->>'path',
		   (SELECT c.oid::regclass FROM pg_class c
			 WHERE c.oid = coalesce(ch.relid, (p->>'relid')::oid)),
		   CASE WHEN ch.relid IS NOT NULL THEN 'backup' ELSE 'old' END,
		   coalesce((j.args->>'atomic')::boolean, false)
	  FROM partback.task t
	  JOIN partback.job j USING (job_id)
	 CROSS JOIN LATERAL jsonb_array_elements(t.restore_partitions) p
	  LEFT JOIN LATERAL (SELECT c.relid FROM partback.chunk c
						  WHERE c.job_id = t.job_id AND c.table_name = t.table_name
							AND c.path = p->>'path'
						  LIMIT 1) ch ON true
	 WHERE t.job_id = $1
	 ORDER BY 1, 3
$$;

COMMENT ON FUNCTION partback.get_restore_partitions(bigint) IS
	'which partitions of a restore job hold the backup''s content and which their old one';
