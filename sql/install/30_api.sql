-- partback: the SQL surface.  Every backup and restore function submits a
-- job to a background worker and returns its id at once; wait => true
-- blocks until the job ends and raises its error.

CREATE FUNCTION partback.backup_db(backup_dir text,
								   schemas text[] DEFAULT NULL,
								   force boolean DEFAULT false,
								   parallel integer DEFAULT NULL,
								   wait boolean DEFAULT false,
								   compression text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_backup_db'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.backup_table(backup_dir text,
									  tbl regclass,
									  force boolean DEFAULT false,
									  parallel integer DEFAULT NULL,
									  wait boolean DEFAULT false,
									  compression text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_backup_table'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.backup(backup_dir text,
								tbl regclass,
								partitions text[] DEFAULT NULL,
								force boolean DEFAULT false,
								parallel integer DEFAULT NULL,
								wait boolean DEFAULT false,
								compression text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_backup'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.restore_db(backup_dir text,
									source_db text DEFAULT current_database(),
									schemas text[] DEFAULT NULL,
									backup_id bigint DEFAULT NULL,
									force boolean DEFAULT false,
									parallel integer DEFAULT NULL,
									wait boolean DEFAULT false,
									keep_new_partitions boolean DEFAULT false,
									atomic boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_restore_db'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.restore_table(backup_dir text,
									   source_table text,
									   target_table text DEFAULT NULL,
									   source_db text DEFAULT current_database(),
									   backup_id bigint DEFAULT NULL,
									   force boolean DEFAULT false,
									   parallel integer DEFAULT NULL,
									   wait boolean DEFAULT false,
									   keep_new_partitions boolean DEFAULT false,
									   atomic boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_restore_table'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.restore(backup_dir text,
								 source_table text,
								 partition text,
								 target_table text DEFAULT NULL,
								 source_db text DEFAULT current_database(),
								 backup_id bigint DEFAULT NULL,
								 force boolean DEFAULT false,
								 parallel integer DEFAULT NULL,
								 wait boolean DEFAULT false,
								 atomic boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_restore'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.migrate(backup_dir text,
								 source_db text DEFAULT NULL,
								 parallel integer DEFAULT NULL,
								 wait boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'partback_migrate'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.check_backup(backup_dir text,
									  source_db text DEFAULT current_database(),
									  source_table text DEFAULT NULL,
									  partition text DEFAULT NULL,
									  backup_id bigint DEFAULT NULL)
RETURNS TABLE (source_table text, partition text, file text,
			   problem text, expected text, actual text)
AS 'MODULE_PATHNAME', 'partback_check_backup'
LANGUAGE C VOLATILE;

-- The newest manifest (or backup_id's) of source_db in backup_dir, parsed.
CREATE FUNCTION partback._manifest(backup_dir text, source_db text,
								   backup_id bigint DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'partback_manifest'
LANGUAGE C VOLATILE;

-- Every manifest of source_db in backup_dir, oldest first.
CREATE FUNCTION partback._manifests(backup_dir text, source_db text)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'partback_manifests'
LANGUAGE C VOLATILE;

-- The ids of source_db's finished backups in backup_dir, oldest first.
CREATE FUNCTION partback._backup_ids(backup_dir text, source_db text)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'partback_backup_ids'
LANGUAGE C VOLATILE;

-- One manifest, for a reader walking the backups newest first (_backup_ids)
-- that stops at the one it takes: a damaged one is NULL with a WARNING,
-- but for the newest (an ERROR naming it).
CREATE FUNCTION partback._manifest_at(backup_dir text, source_db text,
									  backup_id bigint, newest boolean)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'partback_manifest_at'
LANGUAGE C VOLATILE;

-- Every manifest as _manifests gives them, and each damaged one as
-- {"backup_id": id, "problem": "..."} instead of a WARNING (list_backups).
CREATE FUNCTION partback._manifests_listed(backup_dir text, source_db text)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'partback_manifests_listed'
LANGUAGE C VOLATILE;

-- a || b of two objects, their members taken as they are encoded (||
-- decodes both whole: tens of times the size of a manifest entry of many
-- partitions).
CREATE FUNCTION partback._concat_objects(a jsonb, b jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'partback_concat_objects'
LANGUAGE C IMMUTABLE STRICT;

-- Was the manifest made by this cluster (or names none, being older)?  A
-- restore that names no backup uses only those (migrate: any).
CREATE FUNCTION partback._same_cluster(manifest jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'partback_same_cluster'
LANGUAGE C STABLE STRICT;

-- A partition's metadata file, verified against the manifest's checksum.
CREATE FUNCTION partback._partition_meta(backup_dir text, source_db text,
										 meta_file text, sha256 text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'partback_partition_meta'
LANGUAGE C VOLATILE;

-- May a call without backup_id pick this backup (src/roles.c)?  Made by a
-- role the caller is a member of; for a superuser, made by a superuser.
CREATE FUNCTION partback._pickable(manifest jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'partback_pickable'
LANGUAGE C STABLE STRICT;

-- Does a manifest's table entry match a 'schema.table' argument?  The plain
-- form (names joined by a dot, as the status shows them) and SQL identifier
-- syntax ('"My Schema".tbl', as parse_ident reads it) are both taken.
CREATE FUNCTION partback._table_name_matches(entry jsonb, source_table text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	names text[];
BEGIN
	IF (entry->>'schema') || '.' || (entry->>'name') = source_table THEN
		RETURN true;
	END IF;
	BEGIN
		names := parse_ident(source_table);
	EXCEPTION WHEN invalid_parameter_value THEN
		RETURN false;
	END;
	RETURN names = ARRAY[entry->>'schema', entry->>'name'];
END
$$;

-- The manifest's entry for one table; the backup is the newest one holding it.
CREATE FUNCTION partback._table_entry(backup_dir text, source_db text,
									  source_table text, backup_id bigint)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids bigint[];
	m jsonb;
	t jsonb;
BEGIN
	IF source_table IS NULL THEN
		RAISE EXCEPTION 'source_table must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF backup_id <= 0 THEN
		RAISE EXCEPTION 'backup_id must be positive, not %', backup_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- a backup named is read alone (its damage is an error naming the file;
	-- other backups' does not matter); else newest first, no further than
	-- the first that holds the table
	ids := CASE WHEN backup_id IS NULL THEN partback._backup_ids(backup_dir, source_db)
				ELSE ARRAY[backup_id] END;
	FOR i IN REVERSE pg_catalog.cardinality(ids) .. 1 LOOP
		m := CASE WHEN backup_id IS NOT NULL THEN partback._manifest(backup_dir, source_db, backup_id)
				  ELSE partback._manifest_at(backup_dir, source_db, ids[i],
											 i = pg_catalog.cardinality(ids)) END;
		CONTINUE WHEN m IS NULL;
		-- naming no backup means one of this cluster's, and of the caller's
		-- (a superuser's: of a superuser)
		CONTINUE WHEN backup_id IS NULL AND NOT (partback._same_cluster(m) AND partback._pickable(m));
		SELECT e INTO t FROM jsonb_array_elements(m->'tables') AS e
		 WHERE partback._table_name_matches(e, source_table)
		 LIMIT 1;
		IF t IS NOT NULL THEN
			RETURN partback._concat_objects(t, jsonb_build_object(
				'backup_id', m->'backup_id',
				'finished_at', m->'finished_at',
				'snapshot_lsn', m->'snapshot_lsn',
				'server_version_num', m->'server_version_num',
				'made_by', m->'user'));
		END IF;
		IF backup_id IS NOT NULL THEN
			EXIT;
		END IF;
	END LOOP;
	IF backup_id IS NULL AND EXISTS
		(SELECT FROM partback._manifests(backup_dir, source_db) AS x
		  WHERE NOT partback._same_cluster(x)
			AND EXISTS (SELECT FROM jsonb_array_elements(x->'tables') AS e
						 WHERE partback._table_name_matches(e, source_table))) THEN
		RAISE EXCEPTION 'table "%" is not in any backup of database "%" in "%" made by this cluster',
			source_table, source_db, backup_dir
			USING ERRCODE = 'undefined_table',
				  DETAIL = 'Backups made by other clusters hold it.',
				  HINT = 'Name one with backup_id (partback.list_backups() lists them), or move the database with partback.migrate().';
	END IF;
	-- a partition's name: say how to restore it
	FOR m IN SELECT x FROM partback._manifest(backup_dir, source_db, backup_id) AS x
			  WHERE backup_id IS NOT NULL
			 UNION ALL
			 SELECT x FROM (SELECT x FROM partback._manifests(backup_dir, source_db) AS x
							 WHERE backup_id IS NULL
							 ORDER BY (x->>'backup_id')::bigint DESC) AS s
	LOOP
		CONTINUE WHEN backup_id IS NOT NULL AND (m->>'backup_id')::bigint <> backup_id;
		SELECT e || jsonb_build_object('path', p->>'path') INTO t
		  FROM jsonb_array_elements(m->'tables') AS e,
			   jsonb_array_elements(CASE WHEN jsonb_typeof(e->'definition'->'partitions') = 'array'
										 THEN e->'definition'->'partitions' ELSE '[]' END) AS p
		 WHERE partback._table_name_matches(p, source_table)
		 LIMIT 1;
		IF t IS NOT NULL THEN
			RAISE EXCEPTION '"%" is a partition of table %.% in the backup, not a table', source_table,
				quote_ident(t->>'schema'), quote_ident(t->>'name')
				USING ERRCODE = 'wrong_object_type',
					  HINT = format('Restore the partition with partback.restore(%L, %L, %L).',
									backup_dir, (t->>'schema') || '.' || (t->>'name'), t->>'path');
		END IF;
	END LOOP;
	RAISE EXCEPTION 'table "%" is not in % of database "%" in "%"', source_table,
		CASE WHEN backup_id IS NULL THEN 'any backup' ELSE 'backup ' || backup_id END,
		source_db, backup_dir
		USING ERRCODE = 'undefined_table',
			  HINT = 'Name the table as schema.table, as partback.list_backups() and get_backup_list() show it.';
END
$$;

CREATE FUNCTION partback.get_backup_list(backup_dir text, source_db text,
										 source_table text,
										 backup_id bigint DEFAULT NULL)
RETURNS TABLE (partition text, bound text, rows bigint, bytes bigint,
			   stored_bytes bigint, checksum text, backed_up_at timestamptz,
			   backup_id bigint)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p->>'path',
		   p->>'bound',
		   (p->>'rows')::bigint,
		   (p->>'bytes')::bigint,
		   (p->>'stored_bytes')::bigint,
		   p->>'meta_sha256',
		   (p->>'backed_up_at')::timestamptz,
		   (p->>'backup_id')::bigint
	  FROM partback._table_entry(backup_dir, source_db, source_table, backup_id) AS t,
		   jsonb_array_elements(t->'partitions') AS p
	 ORDER BY 1
$$;

CREATE FUNCTION partback.get_backup_meta(backup_dir text, source_db text,
										 source_table text, partition text,
										 backup_id bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t jsonb := partback._table_entry(backup_dir, source_db, source_table, backup_id);
	p jsonb;
BEGIN
	IF partition IS NULL THEN
		RAISE EXCEPTION 'partition must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT e INTO p FROM jsonb_array_elements(t->'partitions') AS e
	 WHERE e->>'path' = partition;
	IF p IS NULL THEN
		RAISE EXCEPTION 'partition "%" of table "%" is not in backup %',
			partition, source_table, t->>'backup_id'
			USING ERRCODE = 'undefined_table',
				  HINT = 'partback.get_backup_list() lists the partition paths of a table.';
	END IF;
	RETURN partback._partition_meta(backup_dir, source_db, p->>'meta', p->>'meta_sha256')
		   || jsonb_build_object('definition', t->'definition',
								 'backup_id', t->'backup_id',
								 'snapshot_lsn', t->'snapshot_lsn',
								 'checksum', p->'meta_sha256');
END
$$;

CREATE FUNCTION partback.list_backups(backup_dir text,
									  source_db text DEFAULT current_database())
RETURNS TABLE (backup_id bigint, started_at timestamptz, finished_at timestamptz,
			   tables integer, partitions integer, bytes bigint, new_bytes bigint,
			   snapshot_lsn pg_lsn, failed_tables text[], problem text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT (m->>'backup_id')::bigint,
		   (m->>'started_at')::timestamptz,
		   (m->>'finished_at')::timestamptz,
		   jsonb_array_length(m->'tables'),
		   (SELECT count(*)::integer FROM jsonb_array_elements(m->'tables') t,
				   jsonb_array_elements(t->'partitions') p),
		   (SELECT coalesce(sum((p->>'stored_bytes')::bigint), 0)::bigint
			  FROM jsonb_array_elements(m->'tables') t,
				   jsonb_array_elements(t->'partitions') p),
		   -- what this backup wrote; the rest it shares with earlier ones
		   (SELECT coalesce(sum(coalesce(p->>'new_stored_bytes', p->>'stored_bytes')::bigint), 0)::bigint
			  FROM jsonb_array_elements(m->'tables') t,
				   jsonb_array_elements(t->'partitions') p),
		   (m->>'snapshot_lsn')::pg_lsn,
		   -- a partial backup: the tables its job failed on
		   (SELECT array_agg((f->>'schema') || '.' || (f->>'name')
							 ORDER BY f->>'schema', f->>'name')
			  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m->'failed_tables') = 'array'
											 THEN m->'failed_tables' END) f),
		   -- a damaged backup: why its manifest cannot be used (its figures NULL or 0)
		   m->>'problem'
	  FROM partback._manifests_listed(backup_dir, source_db) AS m
	 ORDER BY 1
$$;

-- The live figures of partback processes in this database: what they copied
-- since their unit of work began (shared memory; committed figures are in
-- partback.task).
CREATE FUNCTION partback._live()
RETURNS TABLE (job_id bigint, pid integer, table_name text, rows bigint,
			   bytes bigint, queued boolean)
AS 'MODULE_PATHNAME', 'partback_live'
LANGUAGE C VOLATILE;

-- What processes of jobs of this database wait for (a partition's lock).
CREATE FUNCTION partback._live_waits()
RETURNS TABLE (job_id bigint, table_name text, waiting text)
AS 'MODULE_PATHNAME', 'partback_live_waits'
LANGUAGE C VOLATILE;

-- Jobs of this database waiting for a worker slot to start.
CREATE FUNCTION partback._queued()
RETURNS TABLE (job_id bigint, user_name name, job_type text, source_db text,
			   queued_at timestamptz)
AS 'MODULE_PATHNAME', 'partback_queued'
LANGUAGE C VOLATILE;

-- A job whose leader is gone while its row says queued or running was
-- interrupted (worker killed, server crash or immediate shutdown); a leader
-- waiting for copy workers is queued.  The leader is recognised by its
-- backend type, which names the job: after a restart its pid may belong to
-- any other process, another job's included.
CREATE FUNCTION partback._effective_state(state text, worker_pid integer, job_id bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	recorded text;
BEGIN
	IF state IS NULL OR state NOT IN ('queued', 'running') THEN
		RETURN state;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_stat_get_activity(_effective_state.worker_pid) a
				   WHERE a.backend_type = 'partback job ' || _effective_state.job_id || ' leader') THEN
		-- It may have recorded the job's end and exited after the caller's
		-- snapshot was taken: this statement's newer one shows that end.
		SELECT j.state INTO recorded FROM partback.job j
		 WHERE j.job_id = _effective_state.job_id;
		IF recorded IS NULL OR recorded IN ('queued', 'running') THEN
			RETURN 'interrupted';
		END IF;
		RETURN recorded;
	END IF;
	IF state = 'running' AND EXISTS
		(SELECT FROM partback._live() l
		  WHERE l.pid = _effective_state.worker_pid AND l.job_id = _effective_state.job_id
			AND l.queued) THEN
		RETURN 'queued';
	END IF;
	RETURN state;
END
$$;

-- Row security hides the jobs of other roles from a non-superuser, so for
-- them a job of another role does not exist; the hint says so, whether the
-- job exists or not.
CREATE FUNCTION partback._no_such_job(job_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'partback job % does not exist', job_id
			USING ERRCODE = 'undefined_object';
	END IF;
	RAISE EXCEPTION 'partback job % does not exist', job_id
		USING ERRCODE = 'undefined_object',
			  HINT = 'A role that is not a superuser sees only its own jobs.';
END
$$;

-- Raise again the WARNINGs and NOTICEs a job recorded (partback.job_message).
CREATE FUNCTION partback._raise_job_messages(job_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'partback_raise_job_messages'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION partback.wait_job(job_id bigint, timeout interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + timeout;
	-- a job leaves the queue as its leader starts, and has its row once
	-- the leader has recorded it: in between it is in neither
	starting_until timestamptz := clock_timestamp() + interval '10 seconds';
	st text;
BEGIN
	IF job_id IS NULL THEN
		RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'wait_job needs a READ COMMITTED transaction'
			USING ERRCODE = 'active_sql_transaction',
				  HINT = 'A transaction''s snapshot would hide the job''s progress; call wait_job outside a REPEATABLE READ or SERIALIZABLE transaction.';
	END IF;
	LOOP
		SELECT partback._effective_state(j.state, j.worker_pid, j.job_id) INTO st
		  FROM partback.job j WHERE j.job_id = wait_job.job_id;
		IF st = 'interrupted' THEN
			-- the leader records its end, then exits: it may have done both
			-- after the row above was read and before it was found gone
			SELECT CASE WHEN j.state IN ('queued', 'running') THEN 'interrupted'
						ELSE j.state END INTO st
			  FROM partback.job j WHERE j.job_id = wait_job.job_id;
		END IF;
		IF NOT FOUND AND EXISTS (SELECT FROM partback._queued() q
								  WHERE q.job_id = wait_job.job_id) THEN
			st := 'queued';
		ELSIF NOT FOUND AND job_id > 0 AND clock_timestamp() < starting_until
			  AND job_id <= (SELECT s.last_value FROM partback.job_id_seq s) THEN
			st := 'queued';
		ELSIF NOT FOUND THEN
			PERFORM partback._no_such_job(job_id);
		END IF;
		IF st NOT IN ('queued', 'running') THEN
			-- what the job reported besides its end state
			PERFORM partback._raise_job_messages(job_id);
			RETURN st;
		ELSIF clock_timestamp() >= deadline THEN
			RETURN st;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;

-- Cancel a job still waiting in the queue for a worker slot.
CREATE FUNCTION partback._dequeue(job_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'partback_dequeue'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION partback.cancel_job(job_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j partback.job;
BEGIN
	IF job_id IS NULL THEN
		RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO j FROM partback.job WHERE partback.job.job_id = cancel_job.job_id;
	IF NOT FOUND AND partback._dequeue(job_id) THEN
		RETURN true;
	ELSIF NOT FOUND THEN
		PERFORM partback._no_such_job(job_id);
	END IF;
	IF partback._effective_state(j.state, j.worker_pid, j.job_id) NOT IN ('queued', 'running') THEN
		RETURN false;
	END IF;
	RETURN pg_cancel_backend(j.worker_pid);
END
$$;

-- A backup restores into the PostgreSQL major it was taken on or a newer
-- one: an older server may lack the types, the catalog properties and the
-- binary formats of a newer one's definitions and data.  backup is a
-- manifest or a table entry of one.
CREATE FUNCTION partback._check_source_version(backup_dir text, source_db text,
											   backup jsonb)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	source_major integer := (backup->>'server_version_num')::integer / 10000;
	own_major integer := current_setting('server_version_num')::integer / 10000;
BEGIN
	IF source_major > own_major THEN
		RAISE EXCEPTION 'backup % of database "%" in "%" was taken on PostgreSQL %, newer than this server''s PostgreSQL %',
			backup->>'backup_id', source_db, backup_dir, source_major, own_major
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'A backup restores into the PostgreSQL major version it was taken on or a newer one.',
				  HINT = format('Restore it into a server of PostgreSQL %s or later.', source_major);
	END IF;
END
$$;

-- The backup restore_db and migrate restore (its manifest): backup_id's;
-- without it the newest made by backup_db that covers what is asked (the
-- whole database, or the schemas given), else the newest made by backup_db,
-- else the newest.  A manifest without "schemas" (written before they were
-- recorded) counts as covering the whole database.
CREATE FUNCTION partback._restore_db_backup(backup_dir text, source_db text,
											schemas text[], backup_id bigint)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids bigint[];
	m jsonb;
	of_backup_db jsonb;
	newest jsonb;
BEGIN
	IF backup_id IS NOT NULL THEN
		RETURN partback._manifest(backup_dir, source_db, backup_id);
	END IF;
	-- newest first, and no further than the first that covers what is
	-- asked: a database of many partitions has manifests of megabytes
	ids := partback._backup_ids(backup_dir, source_db);
	FOR i IN REVERSE pg_catalog.cardinality(ids) .. 1 LOOP
		m := partback._manifest_at(backup_dir, source_db, ids[i], i = pg_catalog.cardinality(ids));
		CONTINUE WHEN m IS NULL OR NOT (partback._same_cluster(m) AND partback._pickable(m));
		IF m->>'job_type' = 'backup_db' THEN
			IF pg_catalog.jsonb_typeof(m->'schemas') IS DISTINCT FROM 'array'
			   OR (schemas IS NOT NULL AND m->'schemas' @> pg_catalog.to_jsonb(schemas)) THEN
				RETURN m;
			END IF;
			of_backup_db := COALESCE(of_backup_db, m);
		ELSE
			newest := COALESCE(newest, m);
		END IF;
	END LOOP;
	RETURN COALESCE(of_backup_db, newest);
END
$$;

-- The table entries a restore job works on, each with its backup's id:
-- one table (restore_table, restore), or every table of one backup
-- (restore_db, migrate; _restore_db_backup).  Backups of a newer
-- PostgreSQL major are refused.
CREATE FUNCTION partback._restore_tables(backup_dir text, source_db text,
										 schemas text[], source_table text,
										 backup_id bigint)
RETURNS SETOF jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m jsonb;
BEGIN
	IF source_table IS NOT NULL THEN
		m := partback._table_entry(backup_dir, source_db, source_table, backup_id);
		PERFORM partback._check_source_version(backup_dir, source_db, m);
		RETURN NEXT m;
		RETURN;
	END IF;
	m := partback._restore_db_backup(backup_dir, source_db, schemas, backup_id);
	IF m IS NULL THEN
		RAISE EXCEPTION 'backup directory "%" holds no backup of database "%" made by a role you may restore from without naming it',
			backup_dir, source_db
			USING ERRCODE = 'undefined_object',
				  HINT = 'Name the backup with backup_id; a superuser''s call without it picks only backups made by superusers, another role''s only its own.';
	END IF;
	PERFORM partback._check_source_version(backup_dir, source_db, m);
	-- parents under legacy inheritance before their children (a tampered
	-- cycle stops at a depth no real tree has)
	RETURN QUERY
		WITH RECURSIVE e AS (
			SELECT t, format('%I.%I', t->>'schema', t->>'name') AS qname,
				   CASE WHEN jsonb_typeof(t->'definition'->'inherits') = 'array'
						THEN ARRAY(SELECT jsonb_array_elements_text(t->'definition'->'inherits')) END AS parents
			  FROM jsonb_array_elements(m->'tables') AS t
			 WHERE schemas IS NULL OR t->>'schema' = ANY (schemas)
		), edge AS (
			SELECT e.qname AS child, p.parent FROM e, unnest(e.parents) AS p(parent)
		), d(qname, depth) AS (
			SELECT qname, 0 FROM e
			UNION ALL
			SELECT edge.child, d.depth + 1 FROM d JOIN edge ON edge.parent = d.qname WHERE d.depth < 1000
		), deepest AS (
			-- by equality, so that thousands of tables are hashed, not
			-- compared pairwise
			SELECT qname, max(depth) AS depth FROM d GROUP BY qname
		)
		SELECT partback._concat_objects(e.t, jsonb_build_object('backup_id', m->'backup_id',
																 'made_by', m->'user'))
		  FROM e JOIN deepest USING (qname)
		 ORDER BY deepest.depth, e.t->>'schema', e.t->>'name';
END
$$;

-- The table (schema.name) a restore of a table entry writes into: the
-- source's name, or target_table (SQL identifier syntax; without a schema,
-- in the source's schema).  Never a table of a system schema, of partback's
-- own or of a temporary one (the worker's, which would vanish with it).
CREATE FUNCTION partback._restore_target(entry jsonb, target_table text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	names text[] := CASE
		WHEN target_table IS NULL THEN ARRAY[entry->>'schema', entry->>'name']
		WHEN cardinality(parse_ident(target_table)) = 1
			THEN ARRAY[entry->>'schema', (parse_ident(target_table))[1]]
		ELSE (parse_ident(target_table))[1:2] END;
BEGIN
	IF names[1] IN ('information_schema', 'partback') OR names[1] LIKE 'pg\_%' THEN
		RAISE EXCEPTION 'cannot restore into table "%.%": schema "%" is %', names[1], names[2],
			names[1], CASE WHEN names[1] = 'partback' THEN 'partback''s own'
						   WHEN names[1] LIKE 'pg\_temp%' THEN 'temporary'
						   ELSE 'a system schema' END
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Restore into a table of a user schema: target_table => ''schema.table''.';
	END IF;
	RETURN names[1] || '.' || names[2];
END
$$;

-- A backup holds data its maker could read; other roles (but superusers
-- and members of the maker's role) may not restore it.
CREATE FUNCTION partback._check_may_restore(entry jsonb)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		RETURN;
	END IF;
	IF entry->>'made_by' IS NULL OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = entry->>'made_by')
	   OR NOT pg_has_role(current_user, entry->>'made_by', 'MEMBER') THEN
		RAISE EXCEPTION 'permission denied to restore table %.% from backup %',
			entry->>'schema', entry->>'name', entry->>'backup_id'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('The backup was made by role %s.', coalesce(entry->>'made_by', 'unknown')),
				  HINT = 'Only the role that made a backup, its members and superusers may restore from it.';
	END IF;
END
$$;

-- Retention (RocksDB's PurgeOldBackups): keep the newest backups, remove the
-- manifests of the others and then every file no remaining backup needs.
CREATE FUNCTION partback.purge_backups(backup_dir text, keep integer,
									   source_db text DEFAULT current_database())
RETURNS integer
AS 'MODULE_PATHNAME', 'partback_purge_backups'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback.delete_backup(backup_dir text, backup_id bigint,
									   source_db text DEFAULT current_database())
RETURNS void
AS 'MODULE_PATHNAME', 'partback_delete_backup'
LANGUAGE C VOLATILE;
