-- partback: choosing what a job copies.

-- The leaves of tbl selected by backup()'s partitions argument: each entry
-- is a partition path or the name of any partition in the tree (an
-- intermediate partition selects every leaf below it).  NULL = all leaves.
CREATE FUNCTION partback._select_leaves(tbl regclass, partitions text[])
RETURNS TABLE (path text, relid oid, path_elems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p text;
BEGIN
	IF partitions IS NULL THEN
		RETURN QUERY SELECT * FROM partback._leaves(tbl);
		RETURN;
	END IF;
	IF cardinality(partitions) = 0 THEN
		RAISE EXCEPTION 'partitions must not be an empty array'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to back up every partition.';
	END IF;
	FOREACH p IN ARRAY partitions LOOP
		IF p IS NULL THEN
			RAISE EXCEPTION 'partitions must not contain NULL'
				USING ERRCODE = 'null_value_not_allowed';
		END IF;
		IF NOT EXISTS (SELECT FROM partback._leaves(tbl) l
						WHERE l.path = p OR p = ANY (l.path_elems))
		   AND EXISTS (SELECT FROM partback._foreign_partitions(tbl) f
						WHERE f.path = p OR p = f.path_elems[pg_catalog.cardinality(f.path_elems)]) THEN
			RAISE EXCEPTION 'partition "%" of table % is a foreign table', p, tbl
				USING ERRCODE = 'wrong_object_type',
					  DETAIL = 'Its rows live on a foreign server; partback backs up no data of foreign tables.',
					  HINT = 'Back up its remote table where it lives.';
		END IF;
		IF NOT EXISTS (SELECT FROM partback._leaves(tbl) l
						WHERE l.path = p OR p = ANY (l.path_elems)) THEN
			RAISE EXCEPTION 'table % has no partition "%"', tbl, p
				USING ERRCODE = 'undefined_table',
					  HINT = 'Give a partition path (names from the table''s child down to the leaf, joined by "/") or the name of one of its partitions.';
		END IF;
	END LOOP;
	RETURN QUERY SELECT l.* FROM partback._leaves(tbl) l
				  WHERE l.path = ANY (partitions) OR l.path_elems && partitions
				  ORDER BY l.path;
END
$$;

-- The foreign tables backup_db leaves out (those that are not partitions;
-- foreign partitions are _foreign_partitions of the tables it copies).
CREATE FUNCTION partback._db_foreign_tables(schemas text[])
RETURNS TABLE (relid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid
	  FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relkind = 'f'
	   AND NOT c.relispartition
	   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'partback')
	   AND (schemas IS NULL OR n.nspname = ANY (schemas))
	   AND NOT EXISTS (SELECT FROM pg_depend d
					    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
						  AND d.deptype = 'e')
	 ORDER BY n.nspname, c.relname
$$;

-- A NOTICE for each table that backup_db(schemas) finds but whose data it
-- does not copy: foreign tables, and foreign partitions of the tables it
-- copies.
CREATE FUNCTION partback._notice_db_foreign(schemas text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM partback._db_foreign_tables(schemas) LOOP
		RAISE NOTICE 'foreign table % is not backed up', r.relid::regclass
			USING DETAIL = 'Its rows live on a foreign server.';
	END LOOP;
	-- only a partitioned table can have foreign partitions
	PERFORM partback._notice_foreign_partitions(t.relid, NULL)
	   FROM partback._db_tables(schemas) t
	   JOIN pg_catalog.pg_class c ON c.oid = t.relid AND c.relkind = 'p';
END;
$$;

-- The tables backup_db copies: plain and partitioned tables that are not
-- partitions, outside the system schemas, not part of an extension, and
-- not a restore's transient table (partback.transient_heap).
CREATE FUNCTION partback._db_tables(schemas text[])
RETURNS TABLE (relid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid
	  FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relkind IN ('r', 'p')
	   AND NOT c.relispartition
	   AND c.relpersistence <> 't'
	   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'partback')
	   AND n.nspname !~ '^pg_toast'
	   AND n.nspname !~ '^pg_temp_'
	   AND (schemas IS NULL OR n.nspname = ANY (schemas))
	   AND NOT EXISTS (SELECT FROM pg_depend d
					    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
						  AND d.deptype = 'e')
	   AND NOT EXISTS (SELECT FROM partback.transient_heap t WHERE t.relid = c.oid)
	 ORDER BY n.nspname, c.relname
$$;

-- Calls of one function with the same arguments share this key, so that a
-- call continues the interrupted work of an earlier one.  How many workers
-- and whether the caller waits do not matter.
CREATE FUNCTION partback._resume_key(args jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT md5((args - ARRAY['job_id', 'parallel', 'max_rate', 'allowed_dirs']
					 - CASE WHEN args->>'job_type' LIKE 'backup%' THEN '{}'::text[]
							ELSE ARRAY['compression', 'compression_level', 'chunk_size_mb'] END)::text)
$$;
