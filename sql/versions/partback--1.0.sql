-- partback: job catalog.  Everything a job did is kept here, so status
-- survives restarts.

\echo Use "CREATE EXTENSION partback" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it.
CREATE SCHEMA partback;

CREATE SEQUENCE partback.job_id_seq;

CREATE TABLE partback.job (
	job_id		bigint PRIMARY KEY,
	user_name	name NOT NULL,
	job_type	text NOT NULL CHECK (job_type IN ('backup_db', 'backup_table', 'backup',
										 'restore_db', 'restore_table', 'restore',
										 'migrate')),
	backup_dir	text NOT NULL,
	source_db	text NOT NULL,
	args		jsonb NOT NULL,
	state		text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
											'cancelled', 'interrupted')),
	backup_id	bigint,
	worker_pid	integer,
	submitted_at timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at timestamptz,
	error_code	text,
	error		text,
	-- foreign keys a restore set aside; added again when it ends
	dropped_foreign_keys jsonb,
	-- calls with the same key continue each other's interrupted work
	resume_key	text
);

CREATE INDEX job_resume_key ON partback.job (resume_key, job_id);

COMMENT ON TABLE partback.job IS 'one row per call of a partback backup or restore function';

-- One row per job and table: what DolphinDB calls a task.
CREATE TABLE partback.task (
	job_id		bigint NOT NULL REFERENCES partback.job ON DELETE CASCADE,
	table_name	text NOT NULL,
	target_table text,
	partitions	integer NOT NULL DEFAULT 0,
	completed	integer NOT NULL DEFAULT 0,
	-- units of work (chunks to back up, partitions to restore), for progress
	units		integer NOT NULL DEFAULT 0,
	rows		bigint NOT NULL DEFAULT 0,
	bytes		bigint NOT NULL DEFAULT 0,
	stored_bytes bigint NOT NULL DEFAULT 0,
	-- partitions taken over whole from an interrupted call instead of copied,
	-- and the stored bytes taken over (whole partitions or some chunks)
	reused		integer NOT NULL DEFAULT 0,
	reused_bytes bigint NOT NULL DEFAULT 0,
	state		text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
											'cancelled', 'interrupted')),
	started_at	timestamptz,
	finished_at timestamptz,
	error		text,
	PRIMARY KEY (job_id, table_name)
);

COMMENT ON TABLE partback.task IS 'one row per job and table';

-- One row per unit of work done and safely on disk: a chunk of a partition
-- written by a backup, or a partition loaded by a restore.  What lets an
-- interrupted job be resumed without copying it again.
CREATE TABLE partback.chunk (
	job_id		bigint NOT NULL REFERENCES partback.job ON DELETE CASCADE,
	table_name	text NOT NULL,
	path		text NOT NULL,
	chunk		integer NOT NULL,
	nchunks		integer NOT NULL,
	relid		oid NOT NULL,
	relfilenode oid NOT NULL,
	start_block bigint NOT NULL,
	nblocks		bigint NOT NULL,
	to_end		boolean NOT NULL,
	file		text NOT NULL,		-- backup: data file; restore: metadata file
	rows		bigint NOT NULL,
	bytes		bigint NOT NULL,
	stored_bytes bigint NOT NULL,
	sha256		text NOT NULL,
	-- the relation was unchanged since this chunk was done if none of its
	-- pages is newer than lsn and no transaction was in progress on it
	lsn			pg_lsn NOT NULL,
	inflight	boolean NOT NULL,
	columns		text NOT NULL,
	done_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (job_id, table_name, path, chunk)
);

COMMENT ON TABLE partback.chunk IS 'units of work of each job that are safely done';
-- 20_definition.sql
--	Table definitions: capture at backup time, recreate/match at restore time.
--
-- Every function runs with search_path = pg_catalog, pg_temp, so that
-- format_type(), pg_get_expr(), pg_get_constraintdef(), pg_get_indexdef() and
-- regclass output schema-qualify everything outside pg_catalog, and so that
-- nothing a user creates can capture a name used here.  Functions that print
-- or compare partition bounds and default expressions also pin TimeZone,
-- DateStyle, IntervalStyle and extra_float_digits, so that the text of a bound
-- captured on one server compares equal to the text printed on another.
--
-- The JSON document built by _capture_table() ("def") is described at that
-- function.  Helpers are named partback._def_*.

---------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------

-- s cut to at most maxbytes bytes, at a character boundary (as PostgreSQL
-- truncates identifiers to NAMEDATALEN - 1 bytes).
CREATE FUNCTION partback._def_trunc(s text, maxbytes integer DEFAULT 63)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r text := s;
BEGIN
	IF pg_catalog.octet_length(r) <= maxbytes THEN
		RETURN r;
	END IF;
	r := pg_catalog.left(r, maxbytes);
	WHILE pg_catalog.octet_length(r) > maxbytes LOOP
		r := pg_catalog.left(r, -1);
	END LOOP;
	RETURN r;
END;
$$;

-- Is name used by a relation or a type in schema nsp?  (CREATE TABLE also
-- creates a row type of the same name.)
CREATE FUNCTION partback._def_name_taken(nsp text, name text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
					 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
					WHERE n.nspname = $1 AND c.relname = $2)
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t
					 JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
					WHERE n.nspname = $1 AND t.typname = $2)
$$;

-- A free relation name in schema nsp derived from base: base itself (cut to
-- 63 bytes), else base_1, base_2, ... (still within 63 bytes).
CREATE FUNCTION partback._def_free_name(nsp text, base text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n text := partback._def_trunc(base);
	suffix text;
BEGIN
	IF NOT partback._def_name_taken(nsp, n) THEN
		RETURN n;
	END IF;
	FOR i IN 1..1000000 LOOP
		suffix := '_' || i::text;
		n := partback._def_trunc(base, 63 - pg_catalog.octet_length(suffix)) || suffix;
		IF NOT partback._def_name_taken(nsp, n) THEN
			RETURN n;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'could not choose a free name for relation "%" in schema "%"', base, nsp
		USING ERRCODE = 'duplicate_table';
END;
$$;

-- Create schema nsp unless it exists (checked first: CREATE SCHEMA IF NOT
-- EXISTS wants CREATE on the database even when the schema exists).
CREATE FUNCTION partback._def_ensure_schema(nsp text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = nsp) THEN
		EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', nsp);
	END IF;
END;
$$;

-- The sequence owned by column attname of rel: identity (deptype 'i') or
-- serial (deptype 'a').
CREATE FUNCTION partback._def_owned_seq(rel oid, attname text)
RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT d.objid
	  FROM pg_catalog.pg_attribute a
	  JOIN pg_catalog.pg_depend d
		ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum
	   AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.deptype IN ('a', 'i')
	  JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
	 WHERE a.attrelid = $1 AND a.attname = $2 AND NOT a.attisdropped
	 ORDER BY d.objid
	 LIMIT 1
$$;

-- Sequence options as SQL (for GENERATED ... AS IDENTITY (...) and ALTER
-- SEQUENCE).  Numbers are cast, so nothing but numbers reaches the SQL.
CREATE FUNCTION partback._def_seq_options(seq jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.concat_ws(' ',
		'INCREMENT BY ' || ($1->>'increment')::bigint,
		'MINVALUE ' || ($1->>'min')::bigint,
		'MAXVALUE ' || ($1->>'max')::bigint,
		'START WITH ' || ($1->>'start')::bigint,
		'CACHE ' || ($1->>'cache')::bigint,
		CASE WHEN ($1->>'cycle')::boolean THEN 'CYCLE'
			 WHEN ($1->>'cycle') IS NOT NULL THEN 'NO CYCLE' END)
$$;

-- Part of pg_get_indexdef(idx) from "USING " on: the exact prefix
-- "CREATE [UNIQUE ]INDEX <name> ON [ONLY ]<schema>.<table> " is computed and
-- stripped (names may contain " USING ").
CREATE FUNCTION partback._def_index_body(idx oid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d text := pg_catalog.pg_get_indexdef(idx);
	p text;
	r record;
BEGIN
	SELECT i.indisunique, ic.relname AS iname, tn.nspname, tc.relname AS tname
	  INTO r
	  FROM pg_catalog.pg_index i
	  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	  JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
	  JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
	 WHERE i.indexrelid = idx;
	FOREACH p IN ARRAY ARRAY['ONLY ', ''] LOOP
		p := 'CREATE ' || CASE WHEN r.indisunique THEN 'UNIQUE ' ELSE '' END
			|| 'INDEX ' || pg_catalog.quote_ident(r.iname) || ' ON ' || p
			|| pg_catalog.quote_ident(r.nspname) || '.'
			|| pg_catalog.quote_ident(r.tname) || ' ';
		IF pg_catalog.starts_with(d, p) THEN
			RETURN pg_catalog.substr(d, pg_catalog.length(p) + 1);
		END IF;
	END LOOP;
	RAISE EXCEPTION 'unexpected definition of index %: %', idx::regclass, d
		USING ERRCODE = 'internal_error';
END;
$$;

-- Indexes of rel as JSON: all of them that do not back a constraint
-- (local_only: also only those not attached to an index of the parent).
-- Failed CREATE INDEX CONCURRENTLY leftovers are skipped.
CREATE FUNCTION partback._def_indexes(rel oid, local_only boolean)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'name', ic.relname::text,
				'unique', i.indisunique,
				'definition', partback._def_index_body(i.indexrelid))
			ORDER BY ic.relname COLLATE "C"), '[]'::jsonb)
	  FROM pg_catalog.pg_index i
	  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	 WHERE i.indrelid = $1
	   AND (i.indisvalid OR ic.relkind = 'I')
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
					   WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid
						 AND c.contype IN ('p', 'u', 'x'))
	   AND (NOT $2 OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h
								  WHERE h.inhrelid = i.indexrelid))
$$;

-- Non-FK constraints (CHECK, PRIMARY KEY, UNIQUE, EXCLUDE) of rel as JSON
-- (local_only: only those defined on rel itself, not inherited).
CREATE FUNCTION partback._def_constraints(rel oid, local_only boolean)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'name', c.conname::text,
				'type', c.contype::text,
				'definition', pg_catalog.pg_get_constraintdef(c.oid),
				'valid', c.convalidated)
			ORDER BY c.conname COLLATE "C"), '[]'::jsonb)
	  FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid = $1
	   AND c.contype IN ('c', 'p', 'u', 'x')
	   AND (NOT $2 OR (c.conislocal AND c.coninhcount = 0 AND c.conparentid = 0))
$$;

-- The partition tree below tbl (nothing for a plain table), ordered by path,
-- so parents come before their children.
CREATE FUNCTION partback._def_tree(tbl regclass)
RETURNS TABLE(path text, relid oid, path_elems text[], parent_path text,
			  parent oid, relkind "char")
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE root AS (
		SELECT c.oid, c.relnamespace, c.relkind
		  FROM pg_catalog.pg_class c WHERE c.oid = $1
	), t(relid, parent, path_elems, parent_path, relkind) AS (
		SELECT c.oid, r.oid,
			   ARRAY[CASE WHEN c.relnamespace = r.relnamespace THEN c.relname::text
					 ELSE n.nspname::text || '.' || c.relname::text END],
			   ''::text COLLATE "C", c.relkind
		  FROM root r
		  JOIN pg_catalog.pg_inherits i ON i.inhparent = r.oid
		  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE r.relkind = 'p'
		UNION ALL
		SELECT c.oid, t.relid,
			   t.path_elems || CASE WHEN c.relnamespace = r.relnamespace THEN c.relname::text
								ELSE n.nspname::text || '.' || c.relname::text END,
			   pg_catalog.array_to_string(t.path_elems, '/'), c.relkind
		  FROM t
		  JOIN pg_catalog.pg_inherits i ON i.inhparent = t.relid
		  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 CROSS JOIN root r
		 WHERE t.relkind = 'p'
	)
	SELECT pg_catalog.array_to_string(t.path_elems, '/'), t.relid, t.path_elems,
		   t.parent_path, t.parent, t.relkind
	  FROM t
	 ORDER BY pg_catalog.array_to_string(t.path_elems, '/') COLLATE "C"
$$;

---------------------------------------------------------------------------
-- _leaves
---------------------------------------------------------------------------

-- The leaf partitions of tbl (tbl itself for a plain table), ordered by path.
CREATE FUNCTION partback._leaves(tbl regclass)
RETURNS TABLE(path text, relid oid, path_elems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r record;
	f record;
BEGIN
	SELECT c.oid, c.relname::text AS relname, c.relkind, c.relpersistence
	  INTO r
	  FROM pg_catalog.pg_class c WHERE c.oid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid
			USING ERRCODE = 'undefined_table';
	END IF;
	IF r.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', tbl::text
			USING ERRCODE = 'wrong_object_type',
				  DETAIL = pg_catalog.format('"%s" is %s.', tbl::text,
					CASE r.relkind WHEN 'v' THEN 'a view'
						WHEN 'm' THEN 'a materialized view'
						WHEN 'f' THEN 'a foreign table'
						WHEN 'S' THEN 'a sequence'
						WHEN 'i' THEN 'an index'
						WHEN 'I' THEN 'a partitioned index'
						WHEN 'c' THEN 'a composite type'
						WHEN 't' THEN 'a TOAST table'
						ELSE 'not a table' END),
				  HINT = 'Only plain and partitioned tables can be backed up and restored.';
	END IF;
	IF r.relpersistence = 't' THEN
		RAISE EXCEPTION 'cannot back up temporary table "%"', tbl::text
			USING ERRCODE = 'feature_not_supported';
	END IF;

	IF r.relkind = 'r' THEN
		path := r.relname;
		relid := r.oid;
		path_elems := ARRAY[r.relname];
		RETURN NEXT;
		RETURN;
	END IF;

	SELECT t.path, t.relid INTO f
	  FROM partback._def_tree(tbl) t
	 WHERE t.relkind NOT IN ('r', 'p')
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot back up table "%": partition "%" is a foreign table', tbl::text, f.relid::regclass::text
			USING ERRCODE = 'wrong_object_type',
				  DETAIL = pg_catalog.format('Foreign tables cannot be backed up; the partition path is "%s".', f.path),
				  HINT = 'Detach the foreign partition, or back up its remote table where it lives.';
	END IF;

	RETURN QUERY
		SELECT t.path, t.relid, t.path_elems
		  FROM partback._def_tree(tbl) t
		 WHERE t.relkind = 'r'
		 ORDER BY t.path COLLATE "C";
END;
$$;

---------------------------------------------------------------------------
-- _capture_table
---------------------------------------------------------------------------

-- Everything needed to recreate tbl elsewhere:
--	{"schema", "name", "partitioned", "partition_key", "unlogged", "options",
--	 "columns": [{"name", "type", "collation", "not_null", "default",
--				  "identity", "generated", "serial", "sequence", "comment"}],
--	 "constraints": [{"name", "type", "definition", "valid"}],
--	 "foreign_keys": [{"name", "definition", "columns", "referenced", "self"}],
--	 "indexes": [{"name", "unique", "definition"}],
--	 "comment",
--	 "partitions": [{"path", "path_elems", "schema", "name", "parent_path",
--					 "bound", "partition_key", "leaf", "unlogged", "options",
--					 "constraints", "indexes", "comment"}]}
-- Types, collations and expressions are printed with search_path =
-- pg_catalog, so everything outside pg_catalog is schema-qualified.
CREATE FUNCTION partback._capture_table(tbl regclass)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	rel record;
	a record;
	seqoid oid;
	seqj jsonb;
	s record;
	lv bigint;
	called boolean;
	is_serial boolean;
	cols jsonb := '[]';
	parts jsonb := '[]';
	fks jsonb;
BEGIN
	-- validates tbl (kind, foreign partitions) with the errors of _leaves
	PERFORM 1 FROM partback._leaves(tbl);

	SELECT c.oid, n.nspname::text AS nspname, c.relname::text AS relname,
		   c.relkind, c.relpersistence, c.reloptions
	  INTO rel
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = tbl;

	FOR a IN
		SELECT att.attnum, att.attname::text AS attname, att.atttypid,
			   pg_catalog.format_type(att.atttypid, att.atttypmod) AS typ,
			   CASE WHEN att.attcollation <> 0 AND att.attcollation <> ty.typcollation
					THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END AS coll,
			   att.attnotnull, att.attidentity, att.attgenerated,
			   CASE WHEN att.attstorage <> ty.typstorage THEN att.attstorage END AS storage,
			   pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr,
			   pg_catalog.col_description(att.attrelid, att.attnum) AS comment
		  FROM pg_catalog.pg_attribute att
		  JOIN pg_catalog.pg_type ty ON ty.oid = att.atttypid
		  LEFT JOIN pg_catalog.pg_collation co ON co.oid = att.attcollation
		  LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
		  LEFT JOIN pg_catalog.pg_attrdef d
			ON d.adrelid = att.attrelid AND d.adnum = att.attnum
		 WHERE att.attrelid = tbl AND att.attnum > 0 AND NOT att.attisdropped
		 ORDER BY att.attnum
	LOOP
		-- identity (deptype 'i') or serial-like (deptype 'a') sequence
		seqoid := NULL;
		is_serial := false;
		IF a.attidentity <> '' THEN
			SELECT d.objid INTO seqoid
			  FROM pg_catalog.pg_depend d
			 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.refobjid = tbl AND d.refobjsubid = a.attnum
			   AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.deptype = 'i'
			 LIMIT 1;
		ELSIF a.attgenerated = '' AND a.expr IS NOT NULL
			  AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype,
								 'pg_catalog.int4'::pg_catalog.regtype,
								 'pg_catalog.int8'::pg_catalog.regtype) THEN
			SELECT d.objid INTO seqoid
			  FROM pg_catalog.pg_depend d
			  JOIN pg_catalog.pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
			 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.refobjid = tbl AND d.refobjsubid = a.attnum
			   AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.deptype = 'a'
			   AND a.expr = pg_catalog.format('nextval(%L::regclass)', d.objid::pg_catalog.regclass::text)
			 LIMIT 1;
			is_serial := seqoid IS NOT NULL;
		END IF;

		seqj := NULL;
		IF seqoid IS NOT NULL THEN
			SELECT * INTO s FROM pg_catalog.pg_sequence WHERE seqrelid = seqoid;
			lv := NULL;
			called := NULL;
			IF pg_catalog.has_sequence_privilege(seqoid, 'SELECT') THEN
				EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %s',
										  seqoid::pg_catalog.regclass)
				   INTO lv, called;
			END IF;
			seqj := pg_catalog.jsonb_build_object(
				'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
				'start', s.seqstart, 'cache', s.seqcache, 'cycle', s.seqcycle,
				'last_value', lv, 'is_called', called);
		END IF;

		cols := cols || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'name', a.attname,
			'type', a.typ,
			'collation', a.coll,
			'not_null', a.attnotnull,
			'default', CASE WHEN a.attidentity = '' AND a.attgenerated = '' THEN a.expr END,
			'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
			'generated', CASE WHEN a.attgenerated <> '' THEN a.expr END,
			'serial', is_serial,
			'sequence', seqj,
			-- only where it differs from the type's
			'storage', CASE a.storage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL'
									  WHEN 'm' THEN 'MAIN' WHEN 'x' THEN 'EXTENDED' END,
			'comment', a.comment));
	END LOOP;

	-- foreign keys of the table itself (not the per-partition clones made
	-- when the referenced table is partitioned)
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'name', c.conname::text,
				'definition', pg_catalog.pg_get_constraintdef(c.oid),
				'columns', (SELECT pg_catalog.jsonb_agg(att.attname::text ORDER BY k.ord)
							  FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
							  JOIN pg_catalog.pg_attribute att
								ON att.attrelid = c.conrelid AND att.attnum = k.attnum),
				'referenced', c.confrelid::pg_catalog.regclass::text,
				'self', c.confrelid = c.conrelid)
			ORDER BY c.conname COLLATE "C"), '[]'::jsonb)
	  INTO fks
	  FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid = tbl AND c.contype = 'f'
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint pc
					   WHERE pc.oid = c.conparentid AND pc.conrelid = c.conrelid);

	-- one aggregate (not a loop of appends: trees may have many thousand
	-- partitions)
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'path', t.path,
				'path_elems', pg_catalog.to_jsonb(t.path_elems),
				'schema', n.nspname::text,
				'name', c.relname::text,
				'parent_path', t.parent_path,
				'bound', pg_catalog.pg_get_expr(c.relpartbound, c.oid),
				'partition_key', CASE WHEN t.relkind = 'p'
									  THEN pg_catalog.pg_get_partkeydef(t.relid) END,
				'leaf', t.relkind = 'r',
				'unlogged', c.relpersistence = 'u',
				'options', pg_catalog.to_jsonb(c.reloptions),
				'constraints', partback._def_constraints(t.relid, true),
				'indexes', partback._def_indexes(t.relid, true),
				'comment', pg_catalog.obj_description(t.relid, 'pg_class'))
			ORDER BY t.path COLLATE "C"), '[]'::jsonb)
	  INTO parts
	  FROM partback._def_tree(tbl) t
	  JOIN pg_catalog.pg_class c ON c.oid = t.relid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace;

	RETURN pg_catalog.jsonb_build_object(
		'schema', rel.nspname,
		'name', rel.relname,
		'partitioned', rel.relkind = 'p',
		'partition_key', CASE WHEN rel.relkind = 'p'
							  THEN pg_catalog.pg_get_partkeydef(rel.oid) END,
		'unlogged', rel.relpersistence = 'u',
		'options', pg_catalog.to_jsonb(rel.reloptions),
		'columns', cols,
		'constraints', partback._def_constraints(rel.oid, false),
		'foreign_keys', fks,
		'indexes', partback._def_indexes(rel.oid, false),
		'comment', pg_catalog.obj_description(rel.oid, 'pg_class'),
		'partitions', parts);
END;
$$;

---------------------------------------------------------------------------
-- Creating relations from a def
---------------------------------------------------------------------------

-- " WITH (...)" for stored reloptions, or ''.
CREATE FUNCTION partback._def_with(options jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(' WITH (' || pg_catalog.string_agg(
				pg_catalog.format('%I=%L', pg_catalog.split_part(o, '=', 1),
								  pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)),
				', ' ORDER BY k) || ')', '')
	  FROM pg_catalog.jsonb_array_elements_text(
			CASE WHEN pg_catalog.jsonb_typeof($1) = 'array' THEN $1 ELSE '[]'::jsonb END)
		   WITH ORDINALITY AS x(o, k)
$$;

-- May a constraint named conname of type contype be added to rel (in schema
-- nsp; rel NULL = about to be created)?  Index-backed constraints need a
-- free relation name in the schema.
CREATE FUNCTION partback._def_constraint_name_free(rel oid, nsp text, conname text, contype text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
					   WHERE c.conrelid = $1 AND c.conname = $3)
	   AND ($4 NOT IN ('p', 'u', 'x') OR NOT partback._def_name_taken($2, $3))
$$;

-- Add constraints (a def's "constraints" array) to the existing relation
-- rel.  Valid ones are added now; NOT VALID ones are appended to *deferred
-- (as [relid, constraint]) to be added once the partitions below exist.
CREATE FUNCTION partback._def_add_constraints(rel oid, cons jsonb, INOUT deferred jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c jsonb;
	nsp text;
BEGIN
	SELECT n.nspname::text INTO nsp
	  FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
	 WHERE r.oid = rel;
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(cons, '[]')) LOOP
		IF (c->>'valid')::boolean IS FALSE AND deferred IS NOT NULL THEN
			deferred := deferred || pg_catalog.jsonb_build_array(
				pg_catalog.jsonb_build_array(rel, c));
			CONTINUE;
		END IF;
		IF partback._def_constraint_name_free(rel, nsp, c->>'name', c->>'type') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s',
									  rel::pg_catalog.regclass, c->>'name', c->>'definition');
		ELSE
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD %s',
									  rel::pg_catalog.regclass, c->>'definition');
		END IF;
	END LOOP;
END;
$$;

-- Create the indexes of a def's "indexes" array on rel; a name taken in the
-- schema is left for PostgreSQL to choose.
CREATE FUNCTION partback._def_add_indexes(rel oid, idxs jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	i jsonb;
	nsp text;
	u text;
BEGIN
	SELECT n.nspname::text INTO nsp
	  FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
	 WHERE r.oid = rel;
	FOR i IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(idxs, '[]')) LOOP
		u := CASE WHEN (i->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END;
		IF NOT pg_catalog.starts_with(i->>'definition', 'USING ') THEN
			RAISE EXCEPTION 'invalid definition of index "%" in backup: %', i->>'name', i->>'definition'
				USING ERRCODE = 'invalid_object_definition';
		END IF;
		IF i->>'name' IS NOT NULL AND NOT partback._def_name_taken(nsp, i->>'name') THEN
			EXECUTE pg_catalog.format('CREATE %sINDEX %I ON %s %s', u, i->>'name',
									  rel::pg_catalog.regclass, i->>'definition');
		ELSE
			EXECUTE pg_catalog.format('CREATE %sINDEX ON %s %s', u,
									  rel::pg_catalog.regclass, i->>'definition');
		END IF;
	END LOOP;
END;
$$;

-- Create the root table of def as nsp.name (which must not exist); returns
-- its oid.  Appends NOT VALID constraints to deferred.
CREATE FUNCTION partback._def_create_root(def jsonb, nsp text, name text, INOUT deferred jsonb, OUT relid oid)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	c jsonb;
	items text[] := '{}';
	item text;
	typ text;
	typoid oid;
	seq oid;
BEGIN
	PERFORM partback._def_ensure_schema(nsp);

	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) LOOP
		-- the type (and collation) must exist here; also rejects anything
		-- but a type name
		BEGIN
			typoid := pg_catalog.to_regtype(c->>'type');
		EXCEPTION WHEN syntax_error OR invalid_name OR invalid_parameter_value THEN
			RAISE EXCEPTION 'invalid type % of column "%" in the backup of table %.%',
				pg_catalog.quote_literal(c->>'type'), c->>'name',
				pg_catalog.quote_ident(def->>'schema'), pg_catalog.quote_ident(def->>'name')
				USING ERRCODE = 'invalid_object_definition';
		END;
		IF typoid IS NULL THEN
			RAISE EXCEPTION 'type % of column "%" of table %.% does not exist',
				c->>'type', c->>'name', pg_catalog.quote_ident(nsp), pg_catalog.quote_ident(name)
				USING ERRCODE = 'undefined_object',
					  HINT = 'Create the type (enum, domain, extension...) in this database before restoring.';
		END IF;
		IF c->>'collation' IS NOT NULL AND pg_catalog.to_regcollation(c->>'collation') IS NULL THEN
			RAISE EXCEPTION 'collation % of column "%" of table %.% does not exist',
				c->>'collation', c->>'name', pg_catalog.quote_ident(nsp), pg_catalog.quote_ident(name)
				USING ERRCODE = 'undefined_object',
					  HINT = 'Create the collation in this database before restoring.';
		END IF;

		typ := c->>'type';
		IF COALESCE((c->>'serial')::boolean, false) THEN
			typ := CASE pg_catalog.to_regtype(typ)
					WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN 'smallserial'
					WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 'serial'
					WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'bigserial'
					ELSE typ END;
		END IF;
		item := pg_catalog.format('%I %s', c->>'name', typ);
		IF c->>'collation' IS NOT NULL THEN
			item := item || ' COLLATE ' || (c->>'collation');
		END IF;
		IF c->>'identity' IS NOT NULL THEN
			item := item || CASE c->>'identity' WHEN 'always' THEN ' GENERATED ALWAYS AS IDENTITY'
								ELSE ' GENERATED BY DEFAULT AS IDENTITY' END
				|| COALESCE(' (' || NULLIF(partback._def_seq_options(c->'sequence'), '') || ')', '');
		ELSIF c->>'generated' IS NOT NULL THEN
			item := item || ' GENERATED ALWAYS AS (' || (c->>'generated') || ') STORED';
		ELSIF c->>'default' IS NOT NULL AND NOT COALESCE((c->>'serial')::boolean, false) THEN
			item := item || ' DEFAULT ' || (c->>'default');
		END IF;
		IF (c->>'not_null')::boolean THEN
			item := item || ' NOT NULL';
		END IF;
		items := items || item;
	END LOOP;

	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'constraints', '[]')) LOOP
		IF (c->>'valid')::boolean IS FALSE THEN
			-- CREATE TABLE would mark it valid: add it after the partitions
			deferred := deferred || pg_catalog.jsonb_build_array(
				pg_catalog.jsonb_build_array(NULL, c));
			CONTINUE;
		END IF;
		IF partback._def_constraint_name_free(NULL, nsp, c->>'name', c->>'type') THEN
			items := items || pg_catalog.format('CONSTRAINT %I %s', c->>'name', c->>'definition');
		ELSE
			items := items || (c->>'definition');
		END IF;
	END LOOP;

	EXECUTE pg_catalog.format('CREATE %sTABLE %I.%I (%s)%s%s',
		CASE WHEN (def->>'unlogged')::boolean THEN 'UNLOGGED ' ELSE '' END,
		nsp, name, pg_catalog.array_to_string(items, ', '),
		CASE WHEN (def->>'partitioned')::boolean
			 THEN ' PARTITION BY ' || (def->>'partition_key') ELSE '' END,
		partback._def_with(def->'options'));
	relid := pg_catalog.format('%I.%I', nsp, name)::pg_catalog.regclass;

	-- the deferred constraints of the root now know their table
	deferred := (SELECT COALESCE(pg_catalog.jsonb_agg(
					CASE WHEN e->0 = 'null'::jsonb
						 THEN pg_catalog.jsonb_build_array(relid, e->1) ELSE e END
					ORDER BY k), '[]'::jsonb)
				   FROM pg_catalog.jsonb_array_elements(deferred) WITH ORDINALITY x(e, k));

	-- serial columns: PostgreSQL chose a free sequence name; give it the
	-- stored options
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) LOOP
		IF COALESCE((c->>'serial')::boolean, false) AND pg_catalog.jsonb_typeof(c->'sequence') = 'object' THEN
			seq := partback._def_owned_seq(relid, c->>'name');
			IF seq IS NOT NULL THEN
				EXECUTE pg_catalog.format('ALTER SEQUENCE %s %s', seq::pg_catalog.regclass,
										  partback._def_seq_options(c->'sequence'));
			END IF;
		END IF;
	END LOOP;

	PERFORM partback._def_add_indexes(relid, def->'indexes');

	IF def->>'comment' IS NOT NULL THEN
		EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', relid::pg_catalog.regclass, def->>'comment');
	END IF;
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) LOOP
		IF c->>'comment' IS NOT NULL THEN
			EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', relid::pg_catalog.regclass,
									  c->>'name', c->>'comment');
		END IF;
		IF c->>'storage' IN ('PLAIN', 'EXTERNAL', 'MAIN', 'EXTENDED') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STORAGE %s',
									  relid::pg_catalog.regclass, c->>'name', c->>'storage');
		END IF;
	END LOOP;
END;
$$;

-- Create partition part (an element of a def's "partitions") of parent as
-- nsp.name, with its local constraints, indexes and comment.
CREATE FUNCTION partback._def_create_partition(part jsonb, parent oid, nsp text, name text,
											   INOUT deferred jsonb, OUT relid oid)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
BEGIN
	IF part->>'bound' IS NULL
	   OR NOT (part->>'bound' = 'DEFAULT' OR pg_catalog.starts_with(part->>'bound', 'FOR VALUES ')) THEN
		RAISE EXCEPTION 'invalid bound of partition "%" in backup: %', part->>'path', part->>'bound'
			USING ERRCODE = 'invalid_object_definition';
	END IF;
	PERFORM partback._def_ensure_schema(nsp);
	EXECUTE pg_catalog.format('CREATE %sTABLE %I.%I PARTITION OF %s %s%s%s',
		CASE WHEN (part->>'unlogged')::boolean AND (part->>'leaf')::boolean THEN 'UNLOGGED ' ELSE '' END,
		nsp, name, parent::pg_catalog.regclass, part->>'bound',
		CASE WHEN NOT (part->>'leaf')::boolean AND part->>'partition_key' IS NOT NULL
			 THEN ' PARTITION BY ' || (part->>'partition_key') ELSE '' END,
		CASE WHEN (part->>'leaf')::boolean THEN partback._def_with(part->'options') ELSE '' END);
	relid := pg_catalog.format('%I.%I', nsp, name)::pg_catalog.regclass;
	deferred := partback._def_add_constraints(relid, part->'constraints', deferred);
	PERFORM partback._def_add_indexes(relid, part->'indexes');
	IF part->>'comment' IS NOT NULL THEN
		EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', relid::pg_catalog.regclass, part->>'comment');
	END IF;
END;
$$;

-- Check that existing target partition rel can stand for def partition part.
CREATE FUNCTION partback._def_check_partition(rel oid, part jsonb, is_restored_leaf boolean)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	key text;
BEGIN
	SELECT c.relkind, c.relowner INTO r FROM pg_catalog.pg_class c WHERE c.oid = rel;
	IF r.relkind = 'f' THEN
		RAISE EXCEPTION 'partition % of the target matching "%" is a foreign table', rel::pg_catalog.regclass, part->>'path'
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Detach or drop the foreign partition before restoring.';
	END IF;
	IF (part->>'leaf')::boolean AND r.relkind <> 'r' THEN
		RAISE EXCEPTION 'partition % is partitioned by %, but partition "%" of the backup is not partitioned',
			rel::pg_catalog.regclass, pg_catalog.pg_get_partkeydef(rel), part->>'path'
			USING ERRCODE = 'invalid_object_definition',
				  HINT = 'Drop or detach the partition, or restore into another table.';
	END IF;
	IF NOT (part->>'leaf')::boolean THEN
		key := CASE WHEN r.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(rel) END;
		IF key IS NULL THEN
			RAISE EXCEPTION 'partition % is not partitioned, but partition "%" of the backup is partitioned by %',
				rel::pg_catalog.regclass, part->>'path', part->>'partition_key'
				USING ERRCODE = 'invalid_object_definition',
					  HINT = 'Drop or detach the partition, or restore into another table.';
		ELSIF key IS DISTINCT FROM part->>'partition_key' THEN
			RAISE EXCEPTION 'partition % is partitioned by %, but partition "%" of the backup is partitioned by %',
				rel::pg_catalog.regclass, key, part->>'path', part->>'partition_key'
				USING ERRCODE = 'invalid_object_definition',
					  HINT = 'Drop or detach the partition, or restore into another table.';
		END IF;
	END IF;
	IF is_restored_leaf AND NOT pg_catalog.pg_has_role(r.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', rel::pg_catalog.regclass
			USING ERRCODE = 'insufficient_privilege';
	END IF;
END;
$$;

---------------------------------------------------------------------------
-- _prepare_target
---------------------------------------------------------------------------

-- Make target_schema.target_name ready to receive the leaves leaf_paths of
-- def (NULL: all): create it, or check that it matches; match partitions by
-- bound and create the missing ones; with drop_missing, drop the target's
-- partitions no restored leaf passes through.  One row per restored leaf.
--
-- The tree is processed level by level with set-based matching, so that
-- trees of many thousand partitions cost O(n), not O(n^2).
CREATE FUNCTION partback._prepare_target(def jsonb, target_schema text, target_name text,
										 leaf_paths text[], drop_missing boolean,
										 must_not_exist boolean)
RETURNS TABLE(path text, relid oid, created boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
#variable_conflict use_column
DECLARE
	sschema text := def->>'schema';
	sname text := def->>'name';
	squal text;
	tschema text;
	tname text;
	tqual text;
	same boolean;
	is_part boolean := COALESCE((def->>'partitioned')::boolean, false);
	terminals text[] := '{}';	-- def paths to realise (leaves, empty intermediates)
	restored text[] := '{}';	-- def leaf paths restored (rows returned)
	needed text[];				-- terminals and their ancestors
	t record;
	troot oid;
	root_created boolean := false;
	bad text;
	d_only_b text;
	d_only_t text;
	d_types text;
	tkey text;
	deferred jsonb := '[]';
	map jsonb := '{}';			-- def path -> [target oid, created]
	lvl integer := 0;
	prev_parents oid[];
	next_parents oid[];
	lvl_paths text[];
	lvl_oids oid[];
	lvl_created boolean[];
	um_parts jsonb[];
	um_parents oid[];
	part jsonb;
	child oid;
	nsp text;
	nm text;
	e jsonb;
	x record;
BEGIN
	IF def IS NULL OR pg_catalog.jsonb_typeof(def) <> 'object' OR sschema IS NULL OR sname IS NULL
	   OR pg_catalog.jsonb_typeof(def->'columns') IS DISTINCT FROM 'array'
	   OR (is_part AND pg_catalog.jsonb_typeof(def->'partitions') IS DISTINCT FROM 'array') THEN
		RAISE EXCEPTION 'invalid table definition in backup'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The definition must be an object with "schema", "name", "columns" and, if partitioned, "partitions".';
	END IF;
	squal := pg_catalog.format('%I.%I', sschema, sname);
	tschema := partback._def_trunc(COALESCE(target_schema, sschema));
	tname := partback._def_trunc(COALESCE(target_name, sname));
	tqual := pg_catalog.format('%I.%I', tschema, tname);
	same := tschema = sschema AND tname = sname;

	-- what to restore
	IF is_part THEN
		SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', p->>'path'), ', ')
		  INTO bad
		  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
		 WHERE p->>'path' IS NULL OR p->>'parent_path' IS NULL OR p->>'bound' IS NULL
			OR pg_catalog.jsonb_typeof(p->'path_elems') IS DISTINCT FROM 'array'
			OR (p->>'parent_path' <> ''
				AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(def->'partitions') q
								 WHERE q->>'path' = p->>'parent_path'));
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'invalid definition of partition % in the backup of table %', bad, squal
				USING ERRCODE = 'invalid_object_definition';
		END IF;
		IF leaf_paths IS NOT NULL THEN
			SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', l), ', ')
			  INTO bad
			  FROM pg_catalog.unnest(leaf_paths) l
			 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(def->'partitions') p
								WHERE p->>'path' = l AND (p->>'leaf')::boolean);
			IF bad IS NOT NULL THEN
				RAISE EXCEPTION 'partition % is not a leaf partition in the backup of table %', bad, squal
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
		SELECT COALESCE(pg_catalog.array_agg(p->>'path' ORDER BY p->>'path' COLLATE "C"), '{}')
		  INTO restored
		  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
		 WHERE (p->>'leaf')::boolean
		   AND (leaf_paths IS NULL OR p->>'path' IN (SELECT pg_catalog.unnest(leaf_paths)));
		terminals := restored;
		IF leaf_paths IS NULL THEN
			-- a full restore recreates empty intermediate partitions too
			SELECT terminals || COALESCE(pg_catalog.array_agg(p->>'path'), '{}')
			  INTO terminals
			  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
			 WHERE NOT (p->>'leaf')::boolean
			   AND p->>'path' NOT IN (SELECT q->>'parent_path'
										FROM pg_catalog.jsonb_array_elements(def->'partitions') q);
		END IF;
		WITH RECURSIVE dp AS (
			SELECT p->>'path' AS path, p->>'parent_path' AS parent_path
			  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
		), n(path) AS (
			SELECT pg_catalog.unnest(terminals)
			UNION
			SELECT dp.parent_path FROM n JOIN dp ON dp.path = n.path WHERE dp.parent_path <> ''
		)
		SELECT COALESCE(pg_catalog.array_agg(n.path), '{}') INTO needed FROM n;
	ELSIF leaf_paths IS NOT NULL AND NOT (sname = ANY (leaf_paths)) THEN
		SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', l), ', ')
		  INTO bad
		  FROM pg_catalog.unnest(leaf_paths) l WHERE l IS DISTINCT FROM sname;
		RAISE EXCEPTION 'partition % is not in the backup of table %', bad, squal
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The table is not partitioned; its only partition is "%s".', sname);
	END IF;

	-- the target
	SELECT c.oid, c.relkind, c.relowner INTO t
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = tschema AND c.relname = tname;

	IF NOT FOUND THEN
		SELECT * INTO x FROM partback._def_create_root(def, tschema, tname, deferred);
		troot := x.relid;
		deferred := x.deferred;
		root_created := true;
	ELSE
		troot := t.oid;
		IF must_not_exist THEN
			RAISE EXCEPTION 'table % already exists', tqual
				USING ERRCODE = 'duplicate_table',
					  HINT = 'migrate only restores into an empty database; use restore_table to restore into an existing table.';
		END IF;
		IF t.relkind NOT IN ('r', 'p') THEN
			RAISE EXCEPTION '"%" is not a table', tqual
				USING ERRCODE = 'wrong_object_type',
					  HINT = 'Restore into another table name, or drop the existing object.';
		END IF;
		IF NOT pg_catalog.pg_has_role(t.relowner, 'USAGE') THEN
			RAISE EXCEPTION 'must be owner of table %', tqual
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		-- one prepare of a table at a time; readers and writers go on
		EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE',
								  troot::pg_catalog.regclass);

		-- same set of (name, type) of stored columns
		WITH b AS (
			SELECT c->>'name' AS name, c->>'type' AS typ
			  FROM pg_catalog.jsonb_array_elements(def->'columns') c
			 WHERE c->>'generated' IS NULL
		), tc AS (
			SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid = troot AND a.attnum > 0 AND NOT a.attisdropped
			   AND a.attgenerated = ''
		)
		SELECT (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', b.name, b.typ), ', ' ORDER BY b.name COLLATE "C")
				  FROM b WHERE NOT EXISTS (SELECT 1 FROM tc WHERE tc.name = b.name)),
			   (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', tc.name, tc.typ), ', ' ORDER BY tc.name COLLATE "C")
				  FROM tc WHERE NOT EXISTS (SELECT 1 FROM b WHERE tc.name = b.name)),
			   (SELECT pg_catalog.string_agg(pg_catalog.format('%I (%s in the backup, %s in the target)', b.name, b.typ, tc.typ),
											 ', ' ORDER BY b.name COLLATE "C")
				  FROM b JOIN tc ON tc.name = b.name WHERE tc.typ <> b.typ)
		  INTO d_only_b, d_only_t, d_types;
		IF d_only_b IS NOT NULL OR d_only_t IS NOT NULL OR d_types IS NOT NULL THEN
			RAISE EXCEPTION 'columns of table % do not match the backup of table %', tqual, squal
				USING ERRCODE = 'datatype_mismatch',
					  DETAIL = pg_catalog.concat_ws(' ',
						'Only in the backup: ' || d_only_b || '.',
						'Only in the target: ' || d_only_t || '.',
						'Different types: ' || d_types || '.'),
					  HINT = 'Alter the target table to match, or restore into another table.';
		END IF;

		tkey := CASE WHEN t.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(troot) END;
		IF is_part AND tkey IS NULL THEN
			RAISE EXCEPTION 'table % is not partitioned, but the backed-up table % is partitioned by %',
				tqual, squal, def->>'partition_key'
				USING ERRCODE = 'invalid_object_definition',
					  HINT = 'Restore into another table.';
		ELSIF NOT is_part AND tkey IS NOT NULL THEN
			RAISE EXCEPTION 'table % is partitioned by %, but the backed-up table % is not partitioned',
				tqual, tkey, squal
				USING ERRCODE = 'invalid_object_definition',
					  HINT = 'Restore into another table.';
		ELSIF is_part AND tkey IS DISTINCT FROM def->>'partition_key' THEN
			RAISE EXCEPTION 'table % is partitioned by %, but the backed-up table % is partitioned by %',
				tqual, tkey, squal, def->>'partition_key'
				USING ERRCODE = 'invalid_object_definition',
					  HINT = 'Restore into another table.';
		END IF;
	END IF;

	-- Level by level from the root: match the needed partitions of the def
	-- to the children of their parent's counterpart by bound; with
	-- drop_missing drop the other children (before creating anything, so
	-- that no new partition collides with one that is going away); create
	-- what did not match.
	prev_parents := CASE WHEN is_part THEN ARRAY[troot] ELSE '{}' END;
	WHILE pg_catalog.cardinality(prev_parents) > 0 LOOP
		lvl := lvl + 1;
		lvl_paths := '{}';
		lvl_oids := '{}';
		lvl_created := '{}';
		um_parts := '{}';
		um_parents := '{}';
		next_parents := '{}';
		FOR x IN
			WITH need AS MATERIALIZED (
				SELECT p AS part, p->>'path' AS path, p->>'bound' AS bound,
					   CASE WHEN p->>'parent_path' = '' THEN troot
							ELSE (map->(p->>'parent_path')->>0)::oid END AS tparent
				  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
				  JOIN pg_catalog.unnest(needed) nd(path) ON nd.path = p->>'path'
				 WHERE pg_catalog.jsonb_array_length(p->'path_elems') = lvl
			), tc AS MATERIALIZED (
				SELECT i.inhparent AS tparent, c.oid AS child,
					   pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
				  FROM pg_catalog.pg_inherits i
				  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
				 WHERE i.inhparent IN (SELECT need.tparent FROM need) AND c.relispartition
			)
			SELECT need.part, need.path, need.tparent, tc.child
			  FROM need LEFT JOIN tc ON tc.tparent = need.tparent AND tc.bound = need.bound
			 ORDER BY need.path COLLATE "C"
		LOOP
			IF x.child IS NOT NULL THEN
				PERFORM partback._def_check_partition(x.child, x.part, (x.part->>'leaf')::boolean);
				lvl_paths := lvl_paths || x.path;
				lvl_oids := lvl_oids || x.child;
				lvl_created := lvl_created || false;
				IF NOT (x.part->>'leaf')::boolean THEN
					next_parents := next_parents || x.child;
				END IF;
			ELSE
				um_parts := um_parts || x.part;
				um_parents := um_parents || x.tparent;
			END IF;
		END LOOP;

		IF drop_missing AND NOT root_created THEN
			FOR x IN
				SELECT c.oid
				  FROM pg_catalog.pg_inherits i
				  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
				 WHERE i.inhparent = ANY (prev_parents) AND c.relispartition
				   AND c.oid NOT IN (SELECT pg_catalog.unnest(lvl_oids))
				 ORDER BY c.oid
			LOOP
				EXECUTE pg_catalog.format('DROP TABLE %s', x.oid::pg_catalog.regclass);
			END LOOP;
		END IF;

		FOR i IN 1..pg_catalog.cardinality(um_parts) LOOP
			part := um_parts[i];
			IF same THEN
				nsp := part->>'schema';
				nm := part->>'name';
			ELSE
				nsp := tschema;
				nm := CASE WHEN pg_catalog.starts_with(part->>'name', sname)
						   THEN tname || pg_catalog.substr(part->>'name', pg_catalog.length(sname) + 1)
						   ELSE tname || '_' || (part->>'name') END;
			END IF;
			nm := partback._def_free_name(nsp, nm);
			SELECT * INTO x FROM partback._def_create_partition(part, um_parents[i], nsp, nm, deferred);
			child := x.relid;
			deferred := x.deferred;
			lvl_paths := lvl_paths || (part->>'path');
			lvl_oids := lvl_oids || child;
			lvl_created := lvl_created || true;
			IF NOT (part->>'leaf')::boolean THEN
				next_parents := next_parents || child;
			END IF;
		END LOOP;

		map := map || COALESCE((SELECT pg_catalog.jsonb_object_agg(u.p, pg_catalog.jsonb_build_array(u.o, u.c))
								  FROM ROWS FROM (pg_catalog.unnest(lvl_paths), pg_catalog.unnest(lvl_oids),
												 pg_catalog.unnest(lvl_created)) u(p, o, c)),
							   '{}'::jsonb);
		prev_parents := next_parents;
	END LOOP;

	-- NOT VALID constraints of created relations, now that their
	-- partitions exist (so that these get them NOT VALID too)
	FOR e IN SELECT * FROM pg_catalog.jsonb_array_elements(deferred) LOOP
		PERFORM partback._def_add_constraints((e->>0)::oid, pg_catalog.jsonb_build_array(e->1), NULL);
	END LOOP;

	IF NOT is_part THEN
		path := sname;
		relid := troot;
		created := root_created;
		RETURN NEXT;
		RETURN;
	END IF;
	RETURN QUERY
		SELECT r.p, (map->r.p->>0)::oid, (map->r.p->>1)::boolean
		  FROM pg_catalog.unnest(restored) r(p)
		 ORDER BY r.p COLLATE "C";
END;
$$;

---------------------------------------------------------------------------
-- _finish_target
---------------------------------------------------------------------------

-- After the data is loaded: sequence positions, then foreign keys.
CREATE FUNCTION partback._finish_target(def jsonb, target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	c jsonb;
	fk jsonb;
	seq oid;
	s record;
	lv bigint;
	called boolean;
	ext bigint;
	v bigint;
	defn text;
	prefix text;
	cols text;
	msg text;
	det text;
BEGIN
	-- sequences: the stored position, but never behind the data
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) LOOP
		CONTINUE WHEN c->>'identity' IS NULL AND NOT COALESCE((c->>'serial')::boolean, false);
		seq := partback._def_owned_seq(target, c->>'name');
		CONTINUE WHEN seq IS NULL;
		SELECT * INTO s FROM pg_catalog.pg_sequence WHERE seqrelid = seq;
		lv := (c->'sequence'->>'last_value')::bigint;
		called := COALESCE((c->'sequence'->>'is_called')::boolean, true);
		EXECUTE pg_catalog.format('SELECT %s(%I)::bigint FROM %s',
								  CASE WHEN s.seqincrement > 0 THEN 'pg_catalog.max' ELSE 'pg_catalog.min' END,
								  c->>'name', target)
		   INTO ext;
		IF ext IS NOT NULL AND (lv IS NULL
								OR (s.seqincrement > 0 AND ext >= lv)
								OR (s.seqincrement < 0 AND ext <= lv)) THEN
			v := ext;
			called := true;
		ELSIF lv IS NOT NULL THEN
			v := lv;
		ELSE
			CONTINUE;
		END IF;
		IF v > s.seqmax THEN
			v := s.seqmax;
			called := true;
		ELSIF v < s.seqmin THEN
			v := s.seqmin;
			called := true;
		END IF;
		PERFORM pg_catalog.setval(seq::pg_catalog.regclass, v, called);
	END LOOP;

	-- foreign keys the target lacks
	FOR fk IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'foreign_keys', '[]')) LOOP
		defn := fk->>'definition';
		IF (fk->>'self')::boolean THEN
			-- REFERENCES the source table itself: point it at the target
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(x), ', ' ORDER BY k)
			  INTO cols
			  FROM pg_catalog.jsonb_array_elements_text(fk->'columns') WITH ORDINALITY a(x, k);
			prefix := 'FOREIGN KEY (' || cols || ') REFERENCES ' || (fk->>'referenced') || '(';
			IF pg_catalog.starts_with(defn, prefix) THEN
				defn := 'FOREIGN KEY (' || cols || ') REFERENCES ' || target::text || '('
					|| pg_catalog.substr(defn, pg_catalog.length(prefix) + 1);
			END IF;
		END IF;
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
							   WHERE k.conrelid = target AND k.contype = 'f'
								 AND (k.conname = fk->>'name'
									  OR pg_catalog.pg_get_constraintdef(k.oid) = defn));
		BEGIN
			IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
						WHERE k.conrelid = target AND k.conname = fk->>'name') THEN
				EXECUTE pg_catalog.format('ALTER TABLE %s ADD %s', target, defn);
			ELSE
				EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', target, fk->>'name', defn);
			END IF;
		EXCEPTION WHEN undefined_table OR undefined_column OR invalid_foreign_key THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
			RAISE EXCEPTION 'cannot add foreign key "%" to table %: %', fk->>'name', target, msg
				USING ERRCODE = SQLSTATE,
					  DETAIL = pg_catalog.concat_ws(' ', NULLIF(det, ''), 'The definition is: ' || defn),
					  HINT = 'Restore the referenced table first.';
		END;
	END LOOP;
END;
$$;

---------------------------------------------------------------------------
-- _column_names
---------------------------------------------------------------------------

-- The columns a binary COPY of tbl carries: not dropped, not generated, in
-- attnum order.
CREATE FUNCTION partback._column_names(tbl regclass)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.array_agg(a.attname::text ORDER BY a.attnum), '{}')
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attgenerated = ''
$$;
-- partback: foreign keys around a restore.  Emptying a partition that a
-- foreign key references is refused by PostgreSQL, and loading tables one by
-- one would break such keys for a while anyway; so a restore sets aside the
-- keys among the tables it replaces and adds them again after the data.

-- Drop the foreign keys that reference any relation in the trees of
-- targets, and return them (table, name, definition) to be added again.  A
-- key whose referencing table this restore does not replace makes it fail
-- before anything changes.
CREATE FUNCTION partback._drop_foreign_keys(targets oid[])
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rels oid[];
	fk record;
	result jsonb := '[]';
BEGIN
	-- pg_partition_tree() has no row for a plain table
	SELECT targets || coalesce(array_agg(r.relid::oid), '{}') INTO rels
	  FROM unnest(targets) AS t(relid),
		   LATERAL pg_partition_tree(t.relid) AS r;
	FOR fk IN
		SELECT c.conname, c.conrelid::regclass AS tbl, c.confrelid::regclass AS ref,
			   pg_get_constraintdef(c.oid) AS def
		  FROM pg_constraint c
		 WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = ANY (rels)
		 ORDER BY c.conrelid, c.conname
	LOOP
		IF NOT fk.tbl::oid = ANY (rels) THEN
			RAISE EXCEPTION 'table % is referenced by foreign key "%" of table %, which this restore does not replace',
				fk.ref, fk.conname, fk.tbl
				USING ERRCODE = 'dependent_objects_still_exist',
					  HINT = 'Restore the referencing table in the same job (restore_db), or drop the constraint first.';
		END IF;
		result := result || jsonb_build_object('table', fk.tbl::text, 'name', fk.conname,
											   'definition', fk.def);
	END LOOP;
	FOR fk IN SELECT * FROM jsonb_to_recordset(result) AS x("table" text, name text, definition text)
	LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk."table", fk.name);
	END LOOP;
	RETURN result;
END
$$;

-- Add again the keys _drop_foreign_keys returned; not_valid after a failed
-- restore, when the data may not satisfy them.
CREATE FUNCTION partback._add_foreign_keys(fks jsonb, not_valid boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fk record;
BEGIN
	FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x("table" text, name text, definition text)
	LOOP
		CONTINUE WHEN EXISTS (SELECT FROM pg_constraint
							   WHERE conrelid = fk."table"::regclass AND conname = fk.name);
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', fk."table", fk.name,
					   fk.definition,
					   CASE WHEN not_valid AND fk.definition !~ 'NOT VALID$' THEN ' NOT VALID' ELSE '' END);
	END LOOP;
END
$$;
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

-- The tables backup_db copies: plain and partitioned tables that are not
-- partitions, outside the system schemas and not part of an extension.
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
									wait boolean DEFAULT false)
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
									   wait boolean DEFAULT false)
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
								 wait boolean DEFAULT false)
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

-- A partition's metadata file, verified against the manifest's checksum.
CREATE FUNCTION partback._partition_meta(backup_dir text, source_db text,
										 meta_file text, sha256 text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'partback_partition_meta'
LANGUAGE C VOLATILE;

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
	FOR m IN SELECT x FROM partback._manifests(backup_dir, source_db) AS x
			 ORDER BY (x->>'backup_id')::bigint DESC
	LOOP
		CONTINUE WHEN backup_id IS NOT NULL AND (m->>'backup_id')::bigint <> backup_id;
		SELECT e INTO t FROM jsonb_array_elements(m->'tables') AS e
		 WHERE partback._table_name_matches(e, source_table)
		 LIMIT 1;
		IF t IS NOT NULL THEN
			RETURN t || jsonb_build_object('backup_id', m->'backup_id',
										   'finished_at', m->'finished_at',
										   'snapshot_lsn', m->'snapshot_lsn',
										   'made_by', m->'user');
		END IF;
		IF backup_id IS NOT NULL THEN
			EXIT;
		END IF;
	END LOOP;
	IF backup_id IS NOT NULL AND NOT EXISTS
		(SELECT FROM partback._manifests(backup_dir, source_db) AS x
		  WHERE (x->>'backup_id')::bigint = backup_id) THEN
		RAISE EXCEPTION 'backup % of database "%" does not exist in "%"',
			backup_id, source_db, backup_dir
			USING ERRCODE = 'undefined_object',
				  HINT = 'partback.list_backups() lists the backups in a directory.';
	END IF;
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
			   snapshot_lsn pg_lsn)
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
		   (m->>'snapshot_lsn')::pg_lsn
	  FROM partback._manifests(backup_dir, source_db) AS m
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

CREATE FUNCTION partback.wait_job(job_id bigint, timeout interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + timeout;
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
		ELSIF NOT FOUND THEN
			PERFORM partback._no_such_job(job_id);
		END IF;
		IF st NOT IN ('queued', 'running') OR clock_timestamp() >= deadline THEN
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

-- The table entries a restore job works on, each with its backup's id:
-- one table (restore_table, restore), or every table of one backup
-- (restore_db, migrate) -- backup_id's, or else the newest made by
-- backup_db, or else the newest.
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
		RETURN NEXT partback._table_entry(backup_dir, source_db, source_table, backup_id);
		RETURN;
	END IF;
	IF backup_id IS NOT NULL THEN
		m := partback._manifest(backup_dir, source_db, backup_id);
	ELSE
		SELECT x INTO m FROM partback._manifests(backup_dir, source_db) AS x
		 ORDER BY (x->>'job_type' = 'backup_db') DESC, (x->>'backup_id')::bigint DESC
		 LIMIT 1;
	END IF;
	RETURN QUERY
		SELECT t || jsonb_build_object('backup_id', m->'backup_id', 'made_by', m->'user')
		  FROM jsonb_array_elements(m->'tables') AS t
		 WHERE schemas IS NULL OR t->>'schema' = ANY (schemas)
		 ORDER BY t->>'schema', t->>'name';
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
			   coalesce(t.error, j.error) AS error
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
			(SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
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
		   j.error_code, j.error
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
CREATE POLICY own_jobs ON partback.job FOR SELECT
	USING (user_name = current_user);
CREATE POLICY own_tasks ON partback.task FOR SELECT
	USING (EXISTS (SELECT FROM partback.job j WHERE j.job_id = task.job_id));
CREATE POLICY own_chunks ON partback.chunk FOR SELECT
	USING (EXISTS (SELECT FROM partback.job j WHERE j.job_id = chunk.job_id));
