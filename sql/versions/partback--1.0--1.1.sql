-- partback: upgrade from 1.0 to 1.1 (ALTER EXTENSION partback UPDATE).
--
-- What goes here: every change to the extension's objects between the
-- released 1.0 (sql/versions/partback--1.0.sql, frozen) and the current
-- 1.1 (the concatenation of sql/install/*.sql): a function changed in
-- sql/install/ is repeated here as CREATE OR REPLACE FUNCTION (or DROP and
-- CREATE when its signature or result type changes, then its GRANTs and
-- REVOKEs again); a catalog table or column added there is added here with
-- ALTER TABLE, keeping the rows already in it; new objects are created here
-- as there.  Objects created here become members of the extension.
--
-- test/t/005_upgrade.pl checks that CREATE EXTENSION partback VERSION '1.0'
-- followed by ALTER EXTENSION partback UPDATE gives the same pg_dump of
-- schema partback as a fresh CREATE EXTENSION partback, and that jobs
-- recorded under 1.0 are still listed by 1.1's status functions.
--
-- 1.1: PostgreSQL 17 and 18 (the library serves 1.0 and 1.1 alike).  Table
-- definitions carry 18's named NOT NULL constraints and virtual generated
-- columns, and what pg_dump gives a table besides its columns (owner,
-- privileges, row security and policies, replica identity, clustering
-- index, TOAST and column options, comments on indexes and constraints;
-- after the load, triggers and their states, rules, extended statistics,
-- publication memberships and NOT VALID constraints); foreign-table
-- partitions are skipped with a NOTICE; restore_db without backup_id takes
-- the newest backup that covers what it is asked for; a backup of a newer
-- PostgreSQL major is refused at call time.  Later in 1.1: stored pieces of
-- definitions are parsed on their own before use; inheritance, typed
-- tables, tablespaces, ON ONLY indexes, partitions' own defaults and
-- foreign keys; backups hold the types, functions, sequences and
-- extensions their tables use.  Functions copied from
-- sql/install/ as they are there, in its order; a function whose arguments
-- changed is dropped first; new ones are revoked from PUBLIC at the end, as
-- the install script revokes all.

\echo Use "ALTER EXTENSION partback UPDATE" to load this file. \quit

-- catalog: what a job reports besides its end state
ALTER TABLE partback.job
	ADD COLUMN error_detail text,
	ADD COLUMN error_hint text,
	ADD COLUMN error_context text;
ALTER TABLE partback.task ADD COLUMN target_relid oid;

CREATE TABLE partback.transient_heap (
	relid		oid PRIMARY KEY,
	job_id		bigint NOT NULL,
	target		oid NOT NULL	-- the partition whose content it becomes
);

COMMENT ON TABLE partback.transient_heap IS 'relations restores load partitions into from several workers, until swapped in';
GRANT SELECT ON partback.transient_heap TO PUBLIC;

CREATE TABLE partback.job_message (
	job_id		bigint NOT NULL REFERENCES partback.job ON DELETE CASCADE,
	seq			integer NOT NULL,
	level		text NOT NULL CHECK (level IN ('NOTICE', 'WARNING', 'ERROR')),
	table_name	text,
	sqlstate	text,
	message		text NOT NULL,
	detail		text,
	hint		text,
	context		text,
	raised_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (job_id, seq)
);

COMMENT ON TABLE partback.job_message IS 'errors of the tables a job failed, and the warnings and notices it raised';
GRANT SELECT ON partback.job_message TO PUBLIC;
ALTER TABLE partback.job_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_messages ON partback.job_message FOR SELECT
	USING (EXISTS (SELECT FROM partback.job j WHERE j.job_id = job_message.job_id));

-- which partitions of a restore hold the backup's content
ALTER TABLE partback.task ADD COLUMN restore_partitions jsonb;

-- wait_job tells a job id that was handed out from one that never was
GRANT SELECT ON SEQUENCE partback.job_id_seq TO PUBLIC;

CREATE FUNCTION partback._definition_piece(piece text, kind text, what text)
RETURNS text
AS 'MODULE_PATHNAME', 'partback_definition_piece'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION partback._def_name_taken(nsp text, name text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL, not SQL: a SQL function with SET is planned again at every
	-- call, and a restore asks for every constraint of every table it makes
	RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_class c
					 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
					WHERE n.nspname = $1 AND c.relname = $2)
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t
					 JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
					WHERE n.nspname = $1 AND t.typname = $2);
END;
$$;

CREATE OR REPLACE FUNCTION partback._def_constraint_name_free(rel oid, nsp text, conname text, contype text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL, not SQL: as _def_name_taken
	RETURN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
					   WHERE c.conrelid = $1 AND c.conname = $3)
	   AND ($4 NOT IN ('p', 'u', 'x') OR NOT partback._def_name_taken($2, $3));
END;
$$;

CREATE FUNCTION partback._def_partition_name(target text, source text, part text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT partback._def_trunc(partback._def_trunc($1, GREATEST(15, 63 - pg_catalog.octet_length(x.suffix)))
							   || x.suffix)
	  FROM (SELECT CASE WHEN pg_catalog.starts_with($3, $2) THEN pg_catalog.substr($3, pg_catalog.length($2) + 1)
						ELSE '_' || $3 END AS suffix) x
$$;

CREATE FUNCTION partback._def_tablespace(spc oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.spcname::text FROM pg_catalog.pg_tablespace t WHERE t.oid = $1 AND $1 <> 0
$$;

CREATE FUNCTION partback._def_tablespace_ok(spc text, what text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_tablespace t WHERE t.spcname = spc) THEN
		RAISE WARNING '% is in the default tablespace, not in tablespace "%" as in the backup: the tablespace does not exist',
			what, spc;
		RETURN false;
	ELSIF NOT pg_catalog.has_tablespace_privilege(spc, 'CREATE') THEN
		RAISE WARNING '% is in the default tablespace, not in tablespace "%" as in the backup: % may not create in it',
			what, spc, current_user;
		RETURN false;
	END IF;
	RETURN true;
END;
$$;

CREATE FUNCTION partback._def_tablespace_clause(spc text, what text, parent oid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF spc IS NOT NULL AND partback._def_tablespace_ok(spc, what) THEN
		RETURN pg_catalog.format(' TABLESPACE %I', spc);
	ELSIF parent IS NOT NULL
		  AND EXISTS (SELECT 1 FROM pg_catalog.pg_class p WHERE p.oid = parent AND p.reltablespace <> 0) THEN
		RETURN ' TABLESPACE pg_default';
	END IF;
	RETURN '';
END;
$$;

CREATE FUNCTION partback._def_use_tablespace(spc text, what text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	prev text := pg_catalog.current_setting('default_tablespace');
BEGIN
	PERFORM pg_catalog.set_config('default_tablespace',
		CASE WHEN spc IS NOT NULL AND partback._def_tablespace_ok(spc, what) THEN spc ELSE '' END, true);
	RETURN prev;
END;
$$;

CREATE FUNCTION partback._def_index_only(idx oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ic.relkind = 'I'
		   AND (NOT i.indisvalid
				OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h
							 JOIN pg_catalog.pg_index ci ON ci.indexrelid = h.inhrelid
							 JOIN pg_catalog.pg_constraint k ON k.conindid = ci.indexrelid
														   AND k.conrelid = ci.indrelid
						    WHERE h.inhparent = i.indexrelid
							  AND k.contype IN ('p', 'u', 'x') AND k.conparentid = 0))
	  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	 WHERE i.indexrelid = $1
$$;

CREATE FUNCTION partback._def_index_attach_to(idx oid, only_idx oid[] DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pc.relname::text
	  FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent
	 WHERE h.inhrelid = $1
	   AND CASE WHEN $2 IS NULL THEN partback._def_index_only(h.inhparent)
				ELSE h.inhparent = ANY ($2) END
$$;

DROP FUNCTION partback._def_indexes(oid, boolean);
CREATE FUNCTION partback._def_indexes(rels oid[], local_only boolean, only_idx oid[] DEFAULT NULL)
RETURNS TABLE(relid oid, indexes jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT i.indrelid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'name', ic.relname::text,
				'unique', i.indisunique,
				'definition', partback._def_index_body(i.indexrelid),
				'comment', pg_catalog.obj_description(i.indexrelid, 'pg_class'))
			-- left out where they hold nothing
			|| pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
				'only', CASE WHEN CASE WHEN $3 IS NULL THEN partback._def_index_only(i.indexrelid)
									   ELSE i.indexrelid = ANY ($3) END THEN true END,
				'tablespace', (SELECT t.spcname::text FROM pg_catalog.pg_tablespace t
								WHERE t.oid = ic.reltablespace AND ic.reltablespace <> 0),
				-- ALTER INDEX ... ALTER COLUMN n SET STATISTICS (expression columns)
				'statistics', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(ia.attnum, ia.attstattarget)
														   ORDER BY ia.attnum)
								 FROM pg_catalog.pg_attribute ia
								WHERE ia.attrelid = i.indexrelid AND ia.attstattarget > 0),
				'attach_to', att.name))
			ORDER BY ic.relname COLLATE "C")
	  FROM pg_catalog.pg_index i
	  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	  -- _def_index_attach_to, inline: a LANGUAGE sql function called from
	  -- one is parsed and planned again at each call of the caller
	  LEFT JOIN LATERAL (SELECT pc.relname::text AS name
						   FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent
						  WHERE h.inhrelid = i.indexrelid
							AND CASE WHEN $3 IS NULL THEN partback._def_index_only(h.inhparent)
									 ELSE h.inhparent = ANY ($3) END
						  LIMIT 1) att ON true
	 WHERE i.indrelid = ANY ($1)
	   AND (i.indisvalid OR ic.relkind = 'I')
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
					   WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid
						 AND c.contype IN ('p', 'u', 'x'))
	   AND (NOT $2 OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h
								  WHERE h.inhrelid = i.indexrelid)
			OR att.name IS NOT NULL)
	 GROUP BY i.indrelid;
END
$$;

DROP FUNCTION partback._def_constraints(oid, boolean);
CREATE FUNCTION partback._def_constraints(rels oid[], local_only boolean, only_idx oid[] DEFAULT NULL)
RETURNS TABLE(relid oid, constraints jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT c.conrelid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'name', c.conname::text,
				'type', c.contype::text,
				'definition', pg_catalog.pg_get_constraintdef(c.oid),
				'valid', c.convalidated,
				'comment', pg_catalog.obj_description(c.oid, 'pg_constraint'))
			-- left out where they hold nothing
			|| pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
				-- inherited (legacy inheritance) and not declared here too
				'local', CASE WHEN NOT c.conislocal THEN false END,
				-- _def_index_attach_to and _def_tablespace, inline (as in
				-- _def_indexes)
				'attach_to', CASE WHEN c.contype IN ('p', 'u', 'x')
								  THEN (SELECT pc.relname::text
										  FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent
										 WHERE h.inhrelid = c.conindid
										   AND CASE WHEN $3 IS NULL THEN partback._def_index_only(h.inhparent)
													ELSE h.inhparent = ANY ($3) END
										 LIMIT 1) END,
				'tablespace', CASE WHEN c.contype IN ('p', 'u', 'x')
								   THEN (SELECT t.spcname::text
										   FROM pg_catalog.pg_class ic JOIN pg_catalog.pg_tablespace t ON t.oid = ic.reltablespace
										  WHERE ic.oid = c.conindid AND ic.reltablespace <> 0) END))
			ORDER BY c.conname COLLATE "C")
	  FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid = ANY ($1)
	   AND c.contype IN ('c', 'p', 'u', 'x')
	   AND (NOT $2 OR (c.conislocal AND c.coninhcount = 0 AND c.conparentid = 0))
	 GROUP BY c.conrelid;
END
$$;

CREATE FUNCTION partback._def_foreign_keys(rels oid[])
RETURNS TABLE(relid oid, foreign_keys jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT c.conrelid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'name', c.conname::text,
				'definition', pg_catalog.pg_get_constraintdef(c.oid),
				'columns', (SELECT pg_catalog.jsonb_agg(att.attname::text ORDER BY k.ord)
							  FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
							  JOIN pg_catalog.pg_attribute att
								ON att.attrelid = c.conrelid AND att.attnum = k.attnum),
				'referenced', c.confrelid::pg_catalog.regclass::text,
				'self', c.confrelid = c.conrelid)
			ORDER BY c.conname COLLATE "C")
	  FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid = ANY ($1) AND c.contype = 'f' AND c.conparentid = 0
	 GROUP BY c.conrelid;
END
$$;

CREATE FUNCTION partback._def_own_defaults(rels oid[])
RETURNS TABLE(relid oid, defaults jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT i.inhrelid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('column', a.attname::text,
																		  'default', x.own)
											ORDER BY a.attnum)
	  FROM pg_catalog.pg_inherits i
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.inhrelid
	  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
	  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	  LEFT JOIN pg_catalog.pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum,
		   -- relation 0: a default (not generated) names no column, and
		   -- naming the partition opens it (see the top of this file)
		   LATERAL (SELECT pg_catalog.pg_get_expr(d.adbin, 0) AS own,
						   pg_catalog.pg_get_expr(pd.adbin, 0) AS parent) x
	 WHERE i.inhrelid = ANY ($1) AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attgenerated = '' AND a.attidentity = ''
	   AND x.own IS DISTINCT FROM x.parent
	 GROUP BY i.inhrelid;
END
$$;

CREATE FUNCTION partback._def_not_null_of(not_null jsonb, col text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT n FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof($1) = 'array' THEN $1 ELSE '[]' END) n
	 WHERE n->>'column' = $2
	 LIMIT 1
$$;

CREATE FUNCTION partback._def_not_null_clause(n jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN $1 IS NULL OR ($1->>'valid')::boolean IS FALSE THEN ''
				ELSE CASE WHEN $1->>'name' IS NOT NULL THEN pg_catalog.format(' CONSTRAINT %I', $1->>'name') ELSE '' END || ' NOT NULL'
					 || CASE WHEN ($1->>'no_inherit')::boolean THEN ' NO INHERIT' ELSE '' END END
$$;

CREATE FUNCTION partback._def_acl(acl pg_catalog.aclitem[])
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	-- aclexplode() refuses an empty array
	SELECT CASE WHEN $1 IS NULL THEN NULL
				WHEN pg_catalog.cardinality($1) = 0 THEN '[]'::jsonb
				ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							'grantee', CASE WHEN x.grantee <> 0 THEN pg_catalog.pg_get_userbyid(x.grantee)::text END,
							'privilege', x.privilege_type,
							'grantable', x.is_grantable)
						ORDER BY x.grantee, x.privilege_type)
						FROM pg_catalog.aclexplode($1) x) END
$$;

CREATE FUNCTION partback._def_rel_props(rels oid[])
RETURNS TABLE (relid oid, props jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan for the session: a SQL function
	-- with SET is planned again at each call, and so are custom plans;
	-- planning was most of each call, made for each table of a backup
	-- of many tables
	RETURN QUERY
	-- The members that look at each relation's columns and indexes are
	-- computed for all of rels at once: as subqueries per relation they
	-- were most of the time a capture of 10,000 partitions took.
	WITH not_nulls AS (
		SELECT a.attrelid AS relid,
			   pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
					'column', a.attname::text,
					'name', nn.conname::text,
					'valid', COALESCE(nn.convalidated, true),
					'no_inherit', COALESCE(nn.connoinherit, false))
				 -- 18: one a partition only inherits
				 || CASE WHEN NOT nn.conislocal THEN '{"local": false}'::jsonb ELSE '{}' END
				ORDER BY a.attnum) AS not_null
		  FROM pg_catalog.pg_attribute a
		  -- a lookup per column (one such constraint at most): joined, the
		  -- generic plan read all of pg_constraint for each table
		  LEFT JOIN LATERAL (
			SELECT nn.conname, nn.convalidated, nn.connoinherit, nn.conislocal
			  FROM pg_catalog.pg_constraint nn
			 WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum
			 LIMIT 1) nn ON true
		 WHERE a.attrelid = ANY ($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
		 GROUP BY a.attrelid
	), cp AS (
		SELECT i.inhrelid AS relid,
		   pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
					'name', a.attname::text,
					'comment', d.description,
					'statistics', NULLIF(a.attstattarget, -1),
					'options', (SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(o))
								  FROM pg_catalog.unnest(a.attoptions) o WHERE o NOT LIKE 'pg\_attver=%'),
					'acl', partback._def_acl(a.attacl),
					'storage', CASE WHEN a.attstorage <> pa.attstorage THEN
									CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL'
													  WHEN 'm' THEN 'MAIN' WHEN 'x' THEN 'EXTENDED' END END,
					'compression', CASE WHEN a.attcompression <> pa.attcompression THEN
										CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4'
															  ELSE 'default' END END))
				ORDER BY a.attnum) AS column_props
		  FROM pg_catalog.pg_inherits i
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.inhrelid
		  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
		  LEFT JOIN pg_catalog.pg_description d
			ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.objsubid = a.attnum
		 WHERE i.inhrelid = ANY ($1) AND a.attnum > 0 AND NOT a.attisdropped
		   AND (a.attstattarget <> -1 OR a.attacl IS NOT NULL
				OR EXISTS (SELECT 1 FROM pg_catalog.unnest(a.attoptions) o WHERE o NOT LIKE 'pg\_attver=%')
				OR a.attstorage <> pa.attstorage OR a.attcompression <> pa.attcompression
				OR d.description IS NOT NULL)
		 GROUP BY i.inhrelid
	), ixn AS (
		SELECT i.indrelid AS relid,
		   pg_catalog.jsonb_object_agg(pc.relname::text, ic.relname::text) AS index_names
		  FROM pg_catalog.pg_index i
		  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		  JOIN pg_catalog.pg_inherits h ON h.inhrelid = i.indexrelid
		  JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent
		  JOIN pg_catalog.pg_class r ON r.oid = i.indrelid
		  LEFT JOIN pg_catalog.pg_constraint ct
			ON ct.conindid = i.indexrelid AND ct.conrelid = i.indrelid AND ct.contype IN ('u', 'x')
		 WHERE i.indrelid = ANY ($1)
		   AND ic.relname::text IS DISTINCT FROM (
				SELECT r.relname::text || '_'
					   || CASE WHEN i.indisprimary THEN 'pkey'
							   ELSE pg_catalog.string_agg(COALESCE(a.attname::text, 'expr'), '_' ORDER BY k.n) || '_'
									|| CASE ct.contype WHEN 'u' THEN 'key' WHEN 'x' THEN 'excl' ELSE 'idx' END END
				  FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, n)
				  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
				HAVING pg_catalog.count(*) FILTER (WHERE k.attnum = 0) <= 1)
		 GROUP BY i.indrelid
	)
	-- members left out where they hold nothing (most partitions): manifests
	-- of many thousand partitions stay small
	SELECT c.oid, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		'not_null', COALESCE(not_nulls.not_null, '[]'::jsonb),
		'owner', pg_catalog.pg_get_userbyid(c.relowner)::text,
		'tablespace', partback._def_tablespace(c.reltablespace),
		-- aclexplode() refuses an empty array
		'acl', CASE WHEN pg_catalog.cardinality(c.relacl) = 0 THEN '[]'::jsonb
					ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
								'grantee', CASE WHEN x.grantee <> 0 THEN pg_catalog.pg_get_userbyid(x.grantee)::text END,
								'privilege', x.privilege_type,
								'grantable', x.is_grantable)
							ORDER BY x.grantee, x.privilege_type)
							FROM pg_catalog.aclexplode(c.relacl) x) END,
		-- what the owner gave up of its default privileges (so that a
		-- privilege a newer major adds, like MAINTAIN, stays the owner's)
		'owner_revoked', CASE WHEN c.relacl IS NOT NULL THEN
			(SELECT pg_catalog.jsonb_agg(d.privilege_type ORDER BY d.privilege_type)
			   FROM pg_catalog.aclexplode(pg_catalog.acldefault('r', c.relowner)) d
			  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(
									CASE WHEN pg_catalog.cardinality(c.relacl) > 0 THEN c.relacl END) x
								 WHERE x.grantee = c.relowner AND x.privilege_type = d.privilege_type)) END,
		'row_security', NULLIF(c.relrowsecurity, false),
		'force_row_security', NULLIF(c.relforcerowsecurity, false),
		'policies', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							'name', p.polname::text,
							'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
											WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
							'permissive', p.polpermissive,
							'roles', (SELECT pg_catalog.jsonb_agg(CASE WHEN r.r = 0 THEN NULL
																	ELSE pg_catalog.pg_get_userbyid(r.r)::text END
																ORDER BY r.k)
										FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY r(r, k)),
							'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
							'with_check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid),
							'comment', pg_catalog.obj_description(p.oid, 'pg_policy'))
						ORDER BY p.polname COLLATE "C")
					   FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid),
		'replica_identity', CASE c.relreplident WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full'
											  WHEN 'i' THEN 'index' END,
		'replica_identity_index', (SELECT ic.relname::text
									 FROM pg_catalog.pg_index i
									 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
									WHERE c.relhasindex AND i.indrelid = c.oid AND i.indisreplident),
		'clustered_on', (SELECT ic.relname::text
						   FROM pg_catalog.pg_index i
						   JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
						  WHERE c.relhasindex AND i.indrelid = c.oid AND i.indisclustered),
		'toast_options', (SELECT pg_catalog.to_jsonb(t.reloptions)
							FROM pg_catalog.pg_class t WHERE t.oid = c.reltoastrelid),
		-- post-data, added after the load: triggers (a partition's clones
		-- for their enable state), rules, extended statistics, publications
		'triggers', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							'name', t.tgname::text,
							'definition', pg_catalog.pg_get_triggerdef(t.oid),
							'enabled', t.tgenabled::text,
							'cloned', t.tgparentid <> 0,
							'comment', pg_catalog.obj_description(t.oid, 'pg_trigger'))
						ORDER BY t.tgname COLLATE "C")
					   FROM pg_catalog.pg_trigger t
					  WHERE c.relhastriggers AND t.tgrelid = c.oid AND NOT t.tgisinternal),
		'rules', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
						'name', r.rulename::text,
						'definition', pg_catalog.pg_get_ruledef(r.oid),
						'comment', pg_catalog.obj_description(r.oid, 'pg_rewrite'))
					ORDER BY r.rulename COLLATE "C")
					FROM pg_catalog.pg_rewrite r
				   WHERE c.relhasrules AND r.ev_class = c.oid AND r.rulename <> '_RETURN'),
		'statistics', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							 'name', s.stxname::text,
							 'schema', sn.nspname::text,
							 'definition', pg_catalog.pg_get_statisticsobjdef(s.oid),
							 'target', NULLIF(s.stxstattarget, -1))
						 ORDER BY s.stxname COLLATE "C")
						 FROM pg_catalog.pg_statistic_ext s
						 JOIN pg_catalog.pg_namespace sn ON sn.oid = s.stxnamespace
						WHERE s.stxrelid = c.oid),
		'publications', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							   'name', pb.pubname::text,
							   'where', pg_catalog.pg_get_expr(pr.prqual, pr.prrelid),
							   'columns', (SELECT pg_catalog.jsonb_agg(a.attname::text ORDER BY a.attnum)
											 FROM pg_catalog.pg_attribute a
											WHERE a.attrelid = pr.prrelid
											  AND a.attnum = ANY (pr.prattrs::pg_catalog.int2[])))
						   ORDER BY pb.pubname COLLATE "C")
						   FROM pg_catalog.pg_publication_rel pr
						   JOIN pg_catalog.pg_publication pb ON pb.oid = pr.prpubid
						  WHERE pr.prrelid = c.oid),
		-- security labels of the relation and of its columns
		'security_labels', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
								  'provider', sl.provider,
								  'label', sl.label,
								  'column', sa.attname::text)
							  ORDER BY sl.objsubid, sl.provider COLLATE "C")
							  FROM pg_catalog.pg_seclabel sl
							  LEFT JOIN pg_catalog.pg_attribute sa
								ON sa.attrelid = sl.objoid AND sa.attnum = sl.objsubid AND sl.objsubid > 0
							 WHERE sl.objoid = c.oid
							   AND sl.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
							   AND (sl.objsubid = 0 OR NOT sa.attisdropped)),
		-- a partition's columns' properties that it does not get from
		-- being made PARTITION OF its parent (pg_dump sets them on the
		-- partition): comment, statistics target, attribute options,
		-- privileges, and storage and compression where they differ from
		-- the parent's
		'column_props', CASE WHEN c.relispartition THEN cp.column_props END,
		-- the names of a partition's indexes attached to an index of its
		-- parent, where they differ from the name PostgreSQL gives the index
		-- it makes for the partition (ChooseIndexName: the partition's name,
		-- the columns' names or "expr", and pkey, key, excl or idx; a longer
		-- name is always kept): {"parent's index name": "name"}
		'index_names', CASE WHEN c.relispartition THEN ixn.index_names END))
	  FROM pg_catalog.pg_class c
	  LEFT JOIN not_nulls ON not_nulls.relid = c.oid
	  LEFT JOIN cp ON cp.relid = c.oid
	  LEFT JOIN ixn ON ixn.relid = c.oid
	 WHERE c.oid = ANY ($1);
END
$$;

CREATE OR REPLACE FUNCTION partback._leaves(tbl regclass)
RETURNS TABLE(path text, relid oid, path_elems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r record;
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

	-- foreign partitions hold no data here: see _foreign_partitions
	RETURN QUERY
		SELECT t.path, t.relid, t.path_elems
		  FROM partback._def_tree(tbl) t
		 WHERE t.relkind = 'r'
		 ORDER BY t.path COLLATE "C";
END;
$$;

-- PL/pgSQL since 1.1, for its plan kept for the session
CREATE OR REPLACE FUNCTION partback._def_tree(tbl regclass)
RETURNS TABLE(path text, relid oid, path_elems text[], parent_path text,
			  parent oid, relkind "char")
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
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
	 ORDER BY pg_catalog.array_to_string(t.path_elems, '/') COLLATE "C";
END
$$;

CREATE FUNCTION partback._foreign_partitions(tbl regclass)
RETURNS TABLE(path text, relid oid, path_elems text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT t.path, t.relid, t.path_elems
	  FROM partback._def_tree($1) t
	 WHERE t.relkind = 'f'
	 ORDER BY t.path COLLATE "C";
END
$$;

CREATE FUNCTION partback._notice_foreign_partitions(tbl regclass, partitions text[])
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f record;
	n integer := 0;
BEGIN
	FOR f IN SELECT * FROM partback._foreign_partitions(tbl) fp
			  WHERE partitions IS NULL OR fp.path = ANY (partitions)
				 OR fp.path_elems && partitions LOOP
		RAISE NOTICE 'partition % of table % is a foreign table: its data is not backed up',
			f.relid::pg_catalog.regclass, tbl
			USING DETAIL = pg_catalog.format('Its rows live on a foreign server; the partition path is "%s".', f.path);
		n := n + 1;
	END LOOP;
	RETURN n;
END;
$$;

-- The sequence behind column attnum of rel, for _def_columns: {"serial",
-- "sequence"}, or NULL when it has none.  An identity column's (deptype
-- 'i'), or a serial-like column's (deptype 'a'): expr is the column's
-- default or generation expression.
CREATE FUNCTION partback._def_column_sequence(rel oid, attnum smallint, attidentity "char",
											  attgenerated "char", expr text, atttypid oid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	seqoid oid;
	is_serial boolean := false;
	s record;
	lv bigint;
	called boolean;
BEGIN
	IF attidentity <> '' THEN
		SELECT d.objid INTO seqoid
		  FROM pg_catalog.pg_depend d
		 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.refobjid = rel AND d.refobjsubid = attnum
		   AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.deptype = 'i'
		 LIMIT 1;
	ELSIF attgenerated = '' AND expr IS NOT NULL
		  AND atttypid IN ('pg_catalog.int2'::pg_catalog.regtype,
						   'pg_catalog.int4'::pg_catalog.regtype,
						   'pg_catalog.int8'::pg_catalog.regtype) THEN
		-- serial makes a sequence of the column's type: one of another type
		-- is a sequence of its own that the column owns
		SELECT d.objid INTO seqoid
		  FROM pg_catalog.pg_depend d
		  JOIN pg_catalog.pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
		  JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = d.objid AND sq.seqtypid = atttypid
		 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.refobjid = rel AND d.refobjsubid = attnum
		   AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.deptype = 'a'
		   AND expr = pg_catalog.format('nextval(%L::regclass)', d.objid::pg_catalog.regclass::text)
		 LIMIT 1;
		is_serial := seqoid IS NOT NULL;
	END IF;
	IF seqoid IS NULL THEN
		RETURN NULL;
	END IF;

	SELECT * INTO s FROM pg_catalog.pg_sequence WHERE seqrelid = seqoid;
	IF pg_catalog.has_sequence_privilege(seqoid, 'SELECT') THEN
		EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %s',
								  seqoid::pg_catalog.regclass)
		   INTO lv, called;
	END IF;
	RETURN pg_catalog.jsonb_build_object(
		'serial', is_serial,
		'sequence', pg_catalog.jsonb_build_object(
			'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
			'start', s.seqstart, 'cache', s.seqcache, 'cycle', s.seqcycle,
			'last_value', lv, 'is_called', called)
			-- its name and persistence (21_dependencies.sql)
			|| (SELECT pg_catalog.jsonb_build_object('schema', sn.nspname::text, 'name', sc.relname::text,
													 'unlogged', sc.relpersistence = 'u',
													 'acl', partback._def_acl(sc.relacl))
				  FROM pg_catalog.pg_class sc JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
				 WHERE sc.oid = seqoid));
END;
$$;

-- The columns of each of rels, in order: the "columns" of _capture_table.
CREATE FUNCTION partback._def_columns(rels oid[])
RETURNS TABLE(relid oid, columns jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT a.attrelid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
			'name', a.attname::text,
			'type', a.typ,
			'collation', a.coll,
			'not_null', a.attnotnull,
			'default', CASE WHEN a.attidentity = '' AND a.attgenerated = '' THEN a.expr END,
			'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
			'generated', CASE WHEN a.attgenerated <> '' THEN a.expr END,
			'generated_kind', CASE a.attgenerated WHEN 's' THEN 'stored' WHEN 'v' THEN 'virtual' END,
			'serial', COALESCE((a.seq ->> 'serial')::boolean, false),
			'sequence', a.seq -> 'sequence',
			-- only where it differs from the type's
			'storage', CASE a.storage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL'
									  WHEN 'm' THEN 'MAIN' WHEN 'x' THEN 'EXTENDED' END,
			'statistics', a.stattarget,
			'options', pg_catalog.to_jsonb(a.attoptions),
			'compression', CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END,
			'acl', a.acl,
			'comment', a.comment,
			-- only inherited (legacy inheritance) or from the table's type
			'local', CASE WHEN NOT a.attislocal THEN false END)
			ORDER BY a.attnum)
	  FROM (SELECT c.*,
				   -- an identity column, or one that may be a serial
				   CASE WHEN c.attidentity <> ''
							 OR (c.attgenerated = '' AND c.expr IS NOT NULL
								 AND c.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype,
													'pg_catalog.int4'::pg_catalog.regtype,
													'pg_catalog.int8'::pg_catalog.regtype))
						THEN partback._def_column_sequence(c.attrelid, c.attnum, c.attidentity,
														   c.attgenerated, c.expr, c.atttypid)
				   END AS seq
			  FROM (SELECT att.attrelid, att.attnum, att.attname, att.atttypid,
						   pg_catalog.format_type(att.atttypid, att.atttypmod) AS typ,
						   CASE WHEN att.attcollation <> 0 AND att.attcollation <> ty.typcollation
								THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END AS coll,
						   att.attnotnull, att.attidentity, att.attgenerated, att.attislocal,
						   CASE WHEN att.attstorage <> ty.typstorage THEN att.attstorage END AS storage,
						   NULLIF(att.attstattarget, -1) AS stattarget,
						   -- pg_attver is the server's own (back branches' attribute version)
						   (SELECT pg_catalog.array_agg(o) FROM pg_catalog.unnest(att.attoptions) o
							 WHERE o NOT LIKE 'pg\_attver=%') AS attoptions,
						   att.attcompression, partback._def_acl(att.attacl) AS acl,
						   pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr,
						   ds.description AS comment
					  FROM pg_catalog.pg_attribute att
					  JOIN pg_catalog.pg_type ty ON ty.oid = att.atttypid
					  LEFT JOIN pg_catalog.pg_collation co ON co.oid = att.attcollation
					  LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
					  LEFT JOIN pg_catalog.pg_attrdef d
						ON d.adrelid = att.attrelid AND d.adnum = att.attnum
					  LEFT JOIN pg_catalog.pg_description ds
						ON ds.objoid = att.attrelid AND ds.objsubid = att.attnum
						   AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
					 WHERE att.attrelid = ANY ($1) AND att.attnum > 0 AND NOT att.attisdropped) c) a
	 GROUP BY a.attrelid;
END
$$;

-- What _capture_table holds of each of rels but its "partitions" (see
-- there); only_idx: the tree's indexes made ON ONLY.
CREATE FUNCTION partback._def_heads(rels oid[], only_idx oid[])
RETURNS TABLE(relid oid, head jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT c.oid,
		   pg_catalog.jsonb_build_object(
			'schema', n.nspname::text,
			'name', c.relname::text,
			'partitioned', c.relkind = 'p',
			'partition_key', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
			'unlogged', c.relpersistence = 'u',
			'options', pg_catalog.to_jsonb(c.reloptions),
			'columns', COALESCE(col.columns, '[]'),
			'constraints', COALESCE(con.constraints, '[]'),
			'foreign_keys', COALESCE(fk.foreign_keys, '[]'),
			'indexes', COALESCE(ix.indexes, '[]'),
			'comment', ds.description,
			'of_type', CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END,
			'inherits', (SELECT pg_catalog.jsonb_agg(i.inhparent::pg_catalog.regclass::text ORDER BY i.inhseqno)
						   FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid))
		   || rp.props
		   -- the types, sequences, functions and extensions it needs (21_dependencies.sql)
		   || COALESCE(dep.dependencies, '{}')
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	  JOIN partback._def_rel_props($1) rp ON rp.relid = c.oid
	  LEFT JOIN partback._dep_captures($1) dep ON dep.relid = c.oid
	  LEFT JOIN partback._def_columns($1) col ON col.relid = c.oid
	  LEFT JOIN partback._def_constraints($1, false, $2) con ON con.relid = c.oid
	  LEFT JOIN partback._def_foreign_keys($1) fk ON fk.relid = c.oid
	  LEFT JOIN partback._def_indexes($1, false, $2) ix ON ix.relid = c.oid
	  LEFT JOIN pg_catalog.pg_description ds
		ON ds.objoid = c.oid AND ds.objsubid = 0
		   AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
	 WHERE c.oid = ANY ($1);
END
$$;

CREATE FUNCTION partback._capture_table_text(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
SET jit = off
AS $$
DECLARE
	kind "char";
	parts text := '[]';
	only_idx oid[];
	tree oid[];
	part_cons jsonb;
	part_defaults jsonb;
	part_fks jsonb;
	part_indexes jsonb;
	head text;
BEGIN
	-- validates tbl (kind, persistence) with the errors of _leaves
	PERFORM 1 FROM partback._leaves(tbl);

	SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = tbl;

	-- a plain table has no partitions and no index made ON ONLY (and is
	-- the common case of a database of many tables: no planning of these)
	only_idx := '{}';
	IF kind = 'p' THEN
		tree := ARRAY(SELECT x.relid FROM partback._def_tree(tbl) x);
		-- the tree's partitioned indexes (relkind 'I': the root's and its
		-- partitioned partitions') made ON ONLY, found once: asked per
		-- partition's index, each question scans every sibling (quadratic in
		-- the partitions)
		only_idx := ARRAY(SELECT i.indexrelid
							FROM pg_catalog.pg_index i
							JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
						   WHERE (i.indrelid = tbl OR i.indrelid = ANY (tree))
							 AND ic.relkind = 'I' AND partback._def_index_only(i.indexrelid));

		-- the partitions' own constraints, defaults, foreign keys and
		-- indexes, for all of them at once, by relation; looked up below
		-- (joined instead, the plan sorted and kept the partitions' rows
		-- several times over: 51 MB against 19 MB at 1,500 leaves)
		part_cons := (SELECT pg_catalog.jsonb_object_agg(x.relid::text, x.constraints)
						FROM partback._def_constraints(tree, true, only_idx) x);
		part_defaults := (SELECT pg_catalog.jsonb_object_agg(x.relid::text, x.defaults)
							FROM partback._def_own_defaults(tree) x);
		part_fks := (SELECT pg_catalog.jsonb_object_agg(x.relid::text, x.foreign_keys)
					   FROM partback._def_foreign_keys(tree) x);
		part_indexes := (SELECT pg_catalog.jsonb_object_agg(x.relid::text, x.indexes)
						   FROM partback._def_indexes(tree, true, only_idx) x);

		-- one aggregate (not a loop of appends: trees may have many thousand
		-- partitions), of text: jsonb_agg holds every partition unpacked
		-- until it ends (142 MB against 75 MB in all at 10,000 leaves); the
		-- columns' names of every relation of the tree read at once, not
		-- per partition
		WITH names AS (
			SELECT pa.attrelid AS relid,
				   pg_catalog.array_agg(pa.attname::text ORDER BY pa.attnum) AS names
			  FROM pg_catalog.pg_attribute pa
			 WHERE pa.attrelid = ANY (tree || tbl::oid) AND pa.attnum > 0 AND NOT pa.attisdropped
			 GROUP BY pa.attrelid
		)
		SELECT '[' || COALESCE(pg_catalog.string_agg((pg_catalog.jsonb_build_object(
					'path', t.path,
					'path_elems', pg_catalog.to_jsonb(t.path_elems),
					'schema', n.nspname::text,
					'name', c.relname::text,
					'parent_path', t.parent_path,
					'bound', pg_catalog.pg_get_expr(c.relpartbound, 0),
					'partition_key', CASE WHEN t.relkind = 'p'
										  THEN pg_catalog.pg_get_partkeydef(t.relid) END,
					'leaf', t.relkind = 'r',
					'foreign', t.relkind = 'f',
					'unlogged', c.relpersistence = 'u',
					'options', pg_catalog.to_jsonb(c.reloptions),
					-- its columns' order where it differs from its parent's (a
					-- table made on its own and attached)
					'column_order', CASE WHEN COALESCE(own.names, '{}') IS DISTINCT FROM COALESCE(par.names, '{}')
										 THEN pg_catalog.to_jsonb(COALESCE(own.names, '{}')) END,
					'constraints', COALESCE(part_cons -> t.relid::text, '[]'),
					'defaults', part_defaults -> t.relid::text,
					'foreign_keys', CASE WHEN t.relkind <> 'f' THEN COALESCE(part_fks -> t.relid::text, '[]') END,
					'indexes', COALESCE(part_indexes -> t.relid::text, '[]'),
					'comment', d.description)
				|| rp.props)::text, ', '
				ORDER BY t.path COLLATE "C"), '') || ']'
		  INTO parts
		  FROM partback._def_tree(tbl) t
		  JOIN pg_catalog.pg_class c ON c.oid = t.relid
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		  JOIN partback._def_rel_props(tree) rp ON rp.relid = t.relid
		  LEFT JOIN names own ON own.relid = t.relid
		  LEFT JOIN names par ON par.relid = t.parent
		  LEFT JOIN pg_catalog.pg_description d
			ON d.objoid = t.relid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.objsubid = 0;
	END IF;

	-- the partitions join last, as text: a jsonb built from jsonb unpacks
	-- all of its parts into working memory at once (75 MB more at 10,000
	-- leaves)
	head := (SELECT h.head FROM partback._def_heads(ARRAY[tbl::oid], only_idx) h)::text;
	RETURN pg_catalog.left(head, -1) || ', "partitions": ' || parts || '}';
END;
$$;

-- The definition of tbl ("def", described at the top of this file), as
-- jsonb; backups read _capture_table_text.
CREATE OR REPLACE FUNCTION partback._capture_table(tbl regclass)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT partback._capture_table_text(tbl)::jsonb
$$;

-- _capture_table of each plain table among rels, all at once (the others
-- are left out): a backup of thousands of tables spent most of its time
-- starting the same small queries for each.
CREATE FUNCTION partback._capture_tables(rels oid[])
RETURNS TABLE(relid oid, definition jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT h.relid, h.head || pg_catalog.jsonb_build_object('partitions', '[]'::jsonb)
	  FROM partback._def_heads(ARRAY(SELECT c.oid FROM pg_catalog.pg_class c
									  WHERE c.oid = ANY ($1) AND c.relkind = 'r'
										AND c.relpersistence <> 't'), '{}') h;
END
$$;

CREATE FUNCTION partback._def_options(options jsonb, prefix text DEFAULT '')
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.jsonb_typeof(options) IS DISTINCT FROM 'array'
	   OR pg_catalog.jsonb_array_length(options) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN (SELECT pg_catalog.string_agg(
						prefix || pg_catalog.format('%I=%L', pg_catalog.split_part(o, '=', 1),
													pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)),
						', ' ORDER BY k)
			  FROM pg_catalog.jsonb_array_elements_text(options) WITH ORDINALITY AS x(o, k));
END;
$$;

DROP FUNCTION partback._def_with(jsonb);
CREATE FUNCTION partback._def_with(options jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN COALESCE(' WITH (' || partback._def_options(options) || ')', '');
END;
$$;

DROP FUNCTION partback._def_add_constraints(oid, jsonb, jsonb);
CREATE FUNCTION partback._def_add_constraints(rel oid, cons jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c jsonb;
	nsp text;
	what text;
	prev text;
BEGIN
	SELECT n.nspname::text INTO nsp
	  FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
	 WHERE r.oid = rel;
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(cons, '[]')) LOOP
		CONTINUE WHEN (c->>'valid')::boolean IS FALSE;
		what := pg_catalog.format('constraint "%s" of table %s', c->>'name', rel::pg_catalog.regclass);
		prev := partback._def_use_tablespace(c->>'tablespace', what);
		PERFORM partback._execute_definition(pg_catalog.format('ALTER TABLE %s ADD %s%s',
				rel::pg_catalog.regclass,
				CASE WHEN partback._def_constraint_name_free(rel, nsp, c->>'name', c->>'type')
					 THEN pg_catalog.format('CONSTRAINT %I ', c->>'name') ELSE '' END,
				partback._definition_piece(c->>'definition', 'constraint', what)),
			'alter table', what);
		PERFORM pg_catalog.set_config('default_tablespace', prev, true);
	END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION partback._def_add_indexes(rel oid, idxs jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	i jsonb;
	nsp text;
	u text;
	what text;
	body text;
	prev text;
BEGIN
	SELECT n.nspname::text INTO nsp
	  FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
	 WHERE r.oid = rel;
	FOR i IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(idxs, '[]')) LOOP
		-- after the partitions: _def_add_only_indexes
		CONTINUE WHEN (i->>'only')::boolean;
		u := CASE WHEN (i->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END;
		IF NOT pg_catalog.starts_with(i->>'definition', 'USING ') THEN
			RAISE EXCEPTION 'invalid definition of index "%" in backup: %', i->>'name', i->>'definition'
				USING ERRCODE = 'invalid_object_definition';
		END IF;
		what := pg_catalog.format('index "%s" of table %s', i->>'name', rel::pg_catalog.regclass);
		body := partback._definition_piece(i->>'definition', 'index', what);
		prev := partback._def_use_tablespace(i->>'tablespace', what);
		IF i->>'name' IS NOT NULL AND NOT partback._def_name_taken(nsp, i->>'name') THEN
			PERFORM partback._execute_definition(pg_catalog.format('CREATE %sINDEX %I ON %s %s', u, i->>'name',
																   rel::pg_catalog.regclass, body),
												 'index', what);
			IF i->>'comment' IS NOT NULL THEN
				EXECUTE pg_catalog.format('COMMENT ON INDEX %I.%I IS %L', nsp, i->>'name', i->>'comment');
			END IF;
		ELSE
			PERFORM partback._execute_definition(pg_catalog.format('CREATE %sINDEX ON %s %s', u,
																   rel::pg_catalog.regclass, body),
												 'index', what);
		END IF;
		PERFORM pg_catalog.set_config('default_tablespace', prev, true);
		PERFORM partback._def_index_statistics(rel, i);
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_index_statistics(rel oid, i jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	idx oid;
	st jsonb;
BEGIN
	IF pg_catalog.jsonb_typeof(i->'statistics') IS DISTINCT FROM 'array' THEN
		RETURN;
	END IF;
	SELECT x.indexrelid INTO idx
	  FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
	 WHERE x.indrelid = rel AND ic.relname = i->>'name';
	IF idx IS NULL THEN
		RETURN;
	END IF;
	FOR st IN SELECT * FROM pg_catalog.jsonb_array_elements(i->'statistics') LOOP
		EXECUTE pg_catalog.format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS %s', idx::pg_catalog.regclass,
								  (st->>0)::smallint, (st->>1)::integer);
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_comment_constraints(rel oid, cons jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c jsonb;
BEGIN
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(cons) = 'array' THEN cons ELSE '[]' END)
			  WHERE value->>'comment' IS NOT NULL LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
								   WHERE k.conrelid = rel AND k.conname = c->>'name');
		EXECUTE pg_catalog.format('COMMENT ON CONSTRAINT %I ON %s IS %L',
								  c->>'name', rel::pg_catalog.regclass, c->>'comment');
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_grant(rel oid, acl jsonb, col text, source_owner text,
									owner_revoked jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
	grantee text;
	owner text := (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
				   WHERE c.oid = rel);
	target text := CASE WHEN col IS NULL THEN 'TABLE ' || rel::pg_catalog.regclass::text
						ELSE rel::pg_catalog.regclass::text END;
	cols text := CASE WHEN col IS NULL THEN '' ELSE pg_catalog.format(' (%I)', col) END;
BEGIN
	IF pg_catalog.jsonb_typeof(acl) IS DISTINCT FROM 'array' THEN
		RETURN;
	END IF;
	FOR g IN SELECT * FROM pg_catalog.jsonb_array_elements(acl) LOOP
		CONTINUE WHEN col IS NULL AND g->>'grantee' = source_owner;
		grantee := CASE WHEN g->>'grantee' = source_owner THEN owner ELSE g->>'grantee' END;
		g := g || pg_catalog.jsonb_build_object('grantee', grantee);
		IF g->>'grantee' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
														WHERE r.rolname = g->>'grantee') THEN
			RAISE WARNING 'privilege % on % not granted to role "%": the role does not exist',
				g->>'privilege', rel::pg_catalog.regclass || COALESCE(' column ' || pg_catalog.quote_ident(col), ''),
				g->>'grantee';
			CONTINUE;
		END IF;
		-- the privilege is a keyword from aclexplode(): only letters and spaces
		CONTINUE WHEN g->>'privilege' !~ '^[A-Z ]+$';
		EXECUTE pg_catalog.format('GRANT %s%s ON %s TO %s%s', g->>'privilege', cols, target,
								  COALESCE(pg_catalog.quote_ident(g->>'grantee'), 'PUBLIC'),
								  CASE WHEN (g->>'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
	-- after the grants, which make the default privileges explicit
	FOR g IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN col IS NULL AND pg_catalog.jsonb_typeof(owner_revoked) = 'array'
						 THEN owner_revoked ELSE '[]' END) LOOP
		CONTINUE WHEN g #>> '{}' !~ '^[A-Z ]+$';
		EXECUTE pg_catalog.format('REVOKE %s ON %s FROM %I', g #>> '{}', target, owner);
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_security_labels(rel oid, labels jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	relname text := rel::pg_catalog.regclass::text;
	l jsonb;
	target text;
	what text;
BEGIN
	IF pg_catalog.jsonb_typeof(labels) IS DISTINCT FROM 'array' THEN
		RETURN;
	END IF;
	FOR l IN SELECT * FROM pg_catalog.jsonb_array_elements(labels) LOOP
		CONTINUE WHEN pg_catalog.jsonb_typeof(l) IS DISTINCT FROM 'object'
			OR l->>'provider' IS NULL OR l->>'label' IS NULL;
		IF l->>'column' IS NULL THEN
			target := 'TABLE ' || relname;
			what := 'table ' || relname;
		ELSE
			target := pg_catalog.format('COLUMN %s.%I', relname, l->>'column');
			what := pg_catalog.format('column %I of table %s', l->>'column', relname);
			IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
							WHERE a.attrelid = rel AND a.attname = l->>'column'
							  AND a.attnum > 0 AND NOT a.attisdropped) THEN
				RAISE WARNING 'security label % of provider "%" on % not restored: the column does not exist',
					pg_catalog.quote_literal(l->>'label'), l->>'provider', what;
				CONTINUE;
			END IF;
		END IF;
		BEGIN
			EXECUTE pg_catalog.format('SECURITY LABEL FOR %I ON %s IS %L',
									  l->>'provider', target, l->>'label');
		EXCEPTION WHEN invalid_parameter_value THEN
			RAISE WARNING 'security label % of provider "%" on % not restored: %',
				pg_catalog.quote_literal(l->>'label'), l->>'provider', what, SQLERRM
				USING HINT = 'Load the label provider (shared_preload_libraries) and set the label with SECURITY LABEL.';
		END;
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_apply_props(rel oid, props jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	relname text := rel::pg_catalog.regclass::text;
	nsp oid := (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = rel);
	owner text := props->>'owner';
	p jsonb;
	roles text;
	missing text;
	idx text;
BEGIN
	IF owner IS NOT NULL AND owner <> current_user THEN
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner) THEN
			RAISE WARNING 'table % is owned by %, not by its owner "%" in the backup: the role does not exist',
				relname, current_user, owner;
		ELSIF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
			  AND (NOT pg_catalog.pg_has_role(current_user, owner, 'MEMBER')
				   OR NOT pg_catalog.has_schema_privilege(owner, nsp, 'CREATE')) THEN
			RAISE WARNING 'table % is owned by %, not by its owner "%" in the backup: % may not give it to that role',
				relname, current_user, owner, current_user;
		ELSE
			EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', relname, owner);
		END IF;
	END IF;

	PERFORM partback._def_grant(rel, props->'acl', NULL, props->>'owner', props->'owner_revoked');

	IF (props->>'row_security')::boolean THEN
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', relname);
	END IF;
	IF (props->>'force_row_security')::boolean THEN
		EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', relname);
	END IF;
	FOR p IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(props->'policies') = 'array' THEN props->'policies' ELSE '[]' END) LOOP
		CONTINUE WHEN p->>'command' NOT IN ('ALL', 'SELECT', 'INSERT', 'UPDATE', 'DELETE');
		SELECT pg_catalog.string_agg(COALESCE(pg_catalog.quote_ident(r), 'PUBLIC'), ', ')
				 FILTER (WHERE r IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r)),
			   pg_catalog.string_agg(pg_catalog.quote_ident(r), ', ')
				 FILTER (WHERE r IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r))
		  INTO roles, missing
		  FROM pg_catalog.jsonb_array_elements_text(COALESCE(p->'roles', '[null]')) AS t(r);
		IF missing IS NOT NULL THEN
			RAISE WARNING 'policy "%" on % applies to %: role % does not exist',
				p->>'name', relname, COALESCE(roles, 'no role; it is not created'), missing;
		END IF;
		CONTINUE WHEN roles IS NULL;
		PERFORM partback._execute_definition(pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s',
				p->>'name', relname,
				CASE WHEN (p->>'permissive')::boolean THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
				p->>'command', roles,
				COALESCE(' USING ' || partback._definition_piece(p->>'using', 'expression',
						pg_catalog.format('USING expression of policy "%s" of table %s', p->>'name', relname)), ''),
				COALESCE(' WITH CHECK ' || partback._definition_piece(p->>'with_check', 'expression',
						pg_catalog.format('WITH CHECK expression of policy "%s" of table %s', p->>'name', relname)), '')),
			'policy', pg_catalog.format('policy "%s" of table %s', p->>'name', relname));
		IF p->>'comment' IS NOT NULL THEN
			EXECUTE pg_catalog.format('COMMENT ON POLICY %I ON %s IS %L', p->>'name', relname, p->>'comment');
		END IF;
	END LOOP;

	IF props->>'replica_identity' IN ('nothing', 'full') THEN
		EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY %s', relname,
								  pg_catalog.upper(props->>'replica_identity'));
	ELSIF props->>'replica_identity' = 'index' THEN
		SELECT pg_catalog.quote_ident(ic.relname) INTO idx
		  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		 WHERE i.indrelid = rel AND ic.relname = props->>'replica_identity_index';
		IF idx IS NULL THEN
			RAISE WARNING 'table % keeps the default replica identity: its index "%" was not restored under that name',
				relname, props->>'replica_identity_index';
		ELSE
			EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %s', relname, idx);
		END IF;
	END IF;

	IF props->>'clustered_on' IS NOT NULL THEN
		SELECT pg_catalog.quote_ident(ic.relname) INTO idx
		  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		 WHERE i.indrelid = rel AND ic.relname = props->>'clustered_on';
		IF idx IS NOT NULL THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s CLUSTER ON %s', relname, idx);
		END IF;
	END IF;

	IF partback._def_options(props->'toast_options') IS NOT NULL
	   AND (SELECT c.reltoastrelid <> 0 FROM pg_catalog.pg_class c WHERE c.oid = rel) THEN
		EXECUTE pg_catalog.format('ALTER TABLE %s SET (%s)', relname,
								  partback._def_options(props->'toast_options', 'toast.'));
	END IF;

	PERFORM partback._def_comment_constraints(rel, props->'constraints');

	PERFORM partback._def_security_labels(rel, props->'security_labels');
END;
$$;

CREATE FUNCTION partback._def_of_type(def jsonb, what text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	typ oid;
BEGIN
	IF def->>'of_type' IS NULL THEN
		RETURN NULL;
	END IF;
	BEGIN
		typ := pg_catalog.to_regtype(def->>'of_type');
	EXCEPTION WHEN syntax_error OR invalid_name OR invalid_parameter_value THEN
		RAISE EXCEPTION 'invalid type % of typed table % in the backup', pg_catalog.quote_literal(def->>'of_type'), what
			USING ERRCODE = 'invalid_object_definition';
	END;
	IF typ IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = typ AND t.typtype = 'c') THEN
		RAISE EXCEPTION 'composite type % of typed table % does not exist', def->>'of_type', what
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create the type in this database before restoring.';
	END IF;
	RETURN pg_catalog.format_type(typ, NULL);
END;
$$;

CREATE FUNCTION partback._def_inherits(def jsonb, what text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent text;
	parents text[] := '{}';
	rel oid;
BEGIN
	IF pg_catalog.jsonb_typeof(def->'inherits') IS DISTINCT FROM 'array' THEN
		RETURN NULL;
	END IF;
	FOR parent IN SELECT * FROM pg_catalog.jsonb_array_elements_text(def->'inherits') LOOP
		BEGIN
			rel := pg_catalog.to_regclass(parent);
		EXCEPTION WHEN syntax_error OR invalid_name OR invalid_parameter_value THEN
			RAISE EXCEPTION 'invalid parent % of table % in the backup', pg_catalog.quote_literal(parent), what
				USING ERRCODE = 'invalid_object_definition';
		END;
		IF rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
									   WHERE c.oid = rel AND c.relkind = 'r' AND NOT c.relispartition) THEN
			RAISE EXCEPTION 'parent table % of table % does not exist', parent, what
				USING ERRCODE = 'undefined_table',
					  DETAIL = pg_catalog.format('%s inherits from %s.', what, parent),
					  HINT = 'Restore the parent first: restore_db and migrate restore parents before their children.';
		END IF;
		parents := parents || rel::pg_catalog.regclass::text;
	END LOOP;
	RETURN NULLIF(pg_catalog.array_to_string(parents, ', '), '');
END;
$$;

CREATE FUNCTION partback._def_check_inherited_columns(rel oid, def jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	have text;
	want text;
	c jsonb;
	a record;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', x->>'name', x->>'type'), ', '
								 ORDER BY x->>'name' COLLATE "C")
	  INTO want
	  FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) x;
	SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', att.attname, pg_catalog.format_type(att.atttypid, att.atttypmod)),
								 ', ' ORDER BY att.attname::text COLLATE "C")
	  INTO have
	  FROM pg_catalog.pg_attribute att
	 WHERE att.attrelid = rel AND att.attnum > 0 AND NOT att.attisdropped;
	IF have IS DISTINCT FROM want THEN
		RAISE EXCEPTION 'table % does not get the columns of its backup from %', rel::pg_catalog.regclass,
			COALESCE('type ' || (def->>'of_type'), 'its parents')
			USING ERRCODE = 'datatype_mismatch',
				  DETAIL = pg_catalog.format('The backup has (%s); here it has (%s).', want, have),
				  HINT = 'Make the type or parent tables here match the backup''s, or restore under another name into a table made by hand.';
	END IF;
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]'))
			  WHERE (value->>'local')::boolean IS FALSE LOOP
		SELECT att.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr INTO a
		  FROM pg_catalog.pg_attribute att
		  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = att.attrelid AND d.adnum = att.attnum
		 WHERE att.attrelid = rel AND att.attname = c->>'name';
		IF c->>'default' IS NOT NULL AND a.expr IS DISTINCT FROM c->>'default' THEN
			PERFORM partback._execute_definition(pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s',
					rel::pg_catalog.regclass, c->>'name',
					partback._definition_piece(c->>'default', 'expression',
						pg_catalog.format('default of column "%s" of table %s', c->>'name', rel::pg_catalog.regclass))),
				'alter table', pg_catalog.format('default of column "%s" of table %s', c->>'name', rel::pg_catalog.regclass));
		ELSIF c->>'default' IS NULL AND c->>'generated' IS NULL AND c->>'identity' IS NULL AND a.expr IS NOT NULL THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', rel::pg_catalog.regclass, c->>'name');
		END IF;
		IF (c->>'not_null')::boolean AND NOT a.attnotnull THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', rel::pg_catalog.regclass, c->>'name');
		END IF;
	END LOOP;
END;
$$;

DROP FUNCTION partback._def_create_root(jsonb, text, text, jsonb);
CREATE FUNCTION partback._def_create_root(def jsonb, nsp text, name text)
RETURNS oid
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
	relid oid;
	what text := pg_catalog.format('%I.%I', nsp, name);
	of_type text;
	inherits text;
BEGIN
	PERFORM partback._def_ensure_schema(nsp);
	of_type := partback._def_of_type(def, what);
	inherits := partback._def_inherits(def, what);

	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) LOOP
		-- a column of the type or the parents only: theirs, with what the
		-- table changed set below
		CONTINUE WHEN (c->>'local')::boolean IS FALSE AND (of_type IS NOT NULL OR inherits IS NOT NULL);
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
		item := pg_catalog.format('%I %s', c->>'name', CASE WHEN of_type IS NULL THEN typ ELSE 'WITH OPTIONS' END);
		IF c->>'collation' IS NOT NULL AND of_type IS NULL THEN
			item := item || ' COLLATE ' || (c->>'collation');
		END IF;
		IF c->>'identity' IS NOT NULL THEN
			item := item || CASE c->>'identity' WHEN 'always' THEN ' GENERATED ALWAYS AS IDENTITY'
								ELSE ' GENERATED BY DEFAULT AS IDENTITY' END
				|| COALESCE(' (' || NULLIF(partback._def_seq_options(c->'sequence'), '') || ')', '');
		ELSIF c->>'generated' IS NOT NULL THEN
			item := item || ' GENERATED ALWAYS AS ' || partback._definition_piece(c->>'generated', 'expression',
					pg_catalog.format('generated expression of column "%s" of table %s', c->>'name', what))
				|| CASE WHEN c->>'generated_kind' = 'virtual' THEN ' VIRTUAL' ELSE ' STORED' END;
		ELSIF c->>'default' IS NOT NULL AND NOT COALESCE((c->>'serial')::boolean, false) THEN
			item := item || ' DEFAULT ' || partback._definition_piece(c->>'default', 'expression',
					pg_catalog.format('default of column "%s" of table %s', c->>'name', what));
		END IF;
		IF pg_catalog.jsonb_typeof(def->'not_null') = 'array' THEN
			item := item || partback._def_not_null_clause(
				partback._def_not_null_of(def->'not_null', c->>'name'));
		ELSIF (c->>'not_null')::boolean THEN
			item := item || ' NOT NULL';
		END IF;
		items := items || item;
	END LOOP;

	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'constraints', '[]')) LOOP
		-- CREATE TABLE would mark it valid
		CONTINUE WHEN (c->>'valid')::boolean IS FALSE;
		-- the parents give it
		CONTINUE WHEN (c->>'local')::boolean IS FALSE AND inherits IS NOT NULL;
		-- CREATE TABLE would merge two alike into one: added below
		CONTINUE WHEN c->>'type' IN ('p', 'u', 'x');
		items := items || (CASE WHEN partback._def_constraint_name_free(NULL, nsp, c->>'name', c->>'type')
								THEN pg_catalog.format('CONSTRAINT %I ', c->>'name') ELSE '' END
						   || partback._definition_piece(c->>'definition', 'constraint',
								pg_catalog.format('constraint "%s" of table %s', c->>'name', what)));
	END LOOP;

	PERFORM partback._execute_definition(pg_catalog.format('CREATE %sTABLE %I.%I %s%s%s%s%s',
		CASE WHEN (def->>'unlogged')::boolean THEN 'UNLOGGED ' ELSE '' END,
		nsp, name,
		COALESCE('OF ' || of_type || ' ', ''),
		CASE WHEN of_type IS NULL OR items <> '{}'
			 THEN '(' || pg_catalog.array_to_string(items, ', ') || ')' ELSE '' END,
		COALESCE(' INHERITS (' || inherits || ')', ''),
		CASE WHEN (def->>'partitioned')::boolean
			 THEN ' PARTITION BY ' || partback._definition_piece(def->>'partition_key', 'partition key',
										'partition key of table ' || what) ELSE '' END,
		partback._def_with(def->'options')
		|| partback._def_tablespace_clause(def->>'tablespace', 'table ' || what, NULL)), 'table', 'table ' || what);
	relid := pg_catalog.format('%I.%I', nsp, name)::pg_catalog.regclass;
	IF of_type IS NOT NULL OR inherits IS NOT NULL THEN
		PERFORM partback._def_check_inherited_columns(relid, def);
	END IF;
	PERFORM partback._def_add_constraints(relid,
		(SELECT pg_catalog.jsonb_agg(x) FROM pg_catalog.jsonb_array_elements(def->'constraints') x
		  WHERE x->>'type' IN ('p', 'u', 'x')));

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
	PERFORM partback._def_column_props(relid, def->'columns', def->>'owner');
	PERFORM partback._def_apply_props(relid, def);
	-- its sequences' names, persistence and OWNED BY (21_dependencies.sql)
	PERFORM partback._dep_owned_sequences(relid, def);
	RETURN relid;
END;
$$;

CREATE FUNCTION partback._def_rename_attached_indexes(relid oid, parent oid, names jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	IF pg_catalog.jsonb_typeof(names) IS DISTINCT FROM 'object' THEN
		RETURN;
	END IF;
	FOR r IN
		SELECT i.indexrelid, n.value AS name, ic.relnamespace
		  FROM pg_catalog.jsonb_each_text(names) n
		  JOIN pg_catalog.pg_class pc ON pc.relname = n.key
		  JOIN pg_catalog.pg_index pi ON pi.indexrelid = pc.oid AND pi.indrelid = parent
		  JOIN pg_catalog.pg_inherits h ON h.inhparent = pc.oid
		  JOIN pg_catalog.pg_index i ON i.indexrelid = h.inhrelid AND i.indrelid = relid
		  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		 WHERE ic.relname <> n.value
	LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c
							   WHERE c.relnamespace = r.relnamespace AND c.relname = r.name);
		EXECUTE pg_catalog.format('ALTER INDEX %s RENAME TO %I', r.indexrelid::pg_catalog.regclass, r.name);
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_column_props(relid oid, cols jsonb, owner text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c jsonb;
	rel text := relid::pg_catalog.regclass::text;
BEGIN
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(cols) = 'array' THEN cols ELSE '[]' END) LOOP
		IF c->>'comment' IS NOT NULL THEN
			EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', rel, c->>'name', c->>'comment');
		END IF;
		IF c->>'storage' IN ('PLAIN', 'EXTERNAL', 'MAIN', 'EXTENDED') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STORAGE %s', rel, c->>'name', c->>'storage');
		END IF;
		IF c->>'statistics' IS NOT NULL THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', rel, c->>'name',
									  (c->>'statistics')::integer);
		END IF;
		IF partback._def_options(c->'options') IS NOT NULL THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET (%s)', rel, c->>'name',
									  partback._def_options(c->'options'));
		END IF;
		IF c->>'compression' IN ('pglz', 'lz4', 'default') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET COMPRESSION %s', rel, c->>'name',
									  c->>'compression');
		END IF;
		PERFORM partback._def_grant(relid, c->'acl', c->>'name', owner);
	END LOOP;
END;
$$;

DROP FUNCTION partback._def_create_partition(jsonb, oid, text, text, jsonb);
CREATE FUNCTION partback._def_create_partition(part jsonb, parent oid, nsp text, name text)
RETURNS oid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	not_null text;
	cols text;
	relid oid;
	what text;
	bound text;
	key text;
	d jsonb;
	own_names boolean;
BEGIN
	IF part->>'bound' IS NULL
	   OR NOT (part->>'bound' = 'DEFAULT' OR pg_catalog.starts_with(part->>'bound', 'FOR VALUES ')) THEN
		RAISE EXCEPTION 'invalid bound of partition "%" in backup: %', part->>'path', part->>'bound'
			USING ERRCODE = 'invalid_object_definition';
	END IF;
	what := pg_catalog.format('partition %I.%I', nsp, name);
	bound := partback._definition_piece(part->>'bound', 'bound', 'bound of ' || what);
	IF NOT (part->>'leaf')::boolean THEN
		key := partback._definition_piece(part->>'partition_key', 'partition key', 'partition key of ' || what);
	END IF;
	PERFORM partback._def_ensure_schema(nsp);
	own_names := false;
	IF pg_catalog.jsonb_typeof(part->'not_null') = 'array' AND part->'not_null' <> '[]' THEN
		-- the partition's own NOT NULL columns (and names, 18), which may differ
		-- from its parent's; one without a name (a backup from before 18), or
		-- one it only inherits (18), that the parent has too is left to be
		-- inherited, with the parent's name
		SELECT pg_catalog.string_agg(pg_catalog.format('%I WITH OPTIONS', n->>'column')
									 || partback._def_not_null_clause(n), ', ' ORDER BY k)
		  INTO not_null
		  FROM pg_catalog.jsonb_array_elements(part->'not_null') WITH ORDINALITY x(n, k)
		 WHERE partback._def_not_null_clause(n) <> ''
		   AND NOT ((n->>'name' IS NULL OR (n->>'local')::boolean IS FALSE)
					AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
								 WHERE a.attrelid = parent AND a.attname = n->>'column' AND a.attnotnull));
		-- 18: a NOT NULL it inherits under a name of its own (made on its own
		-- and attached)
		own_names := EXISTS (
			SELECT 1 FROM pg_catalog.jsonb_array_elements(part->'not_null') n
			 WHERE (n->>'local')::boolean IS FALSE
			   AND n->>'name' IS DISTINCT FROM (
					SELECT c.conname::text FROM pg_catalog.pg_constraint c
					  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
					 WHERE c.conrelid = parent AND c.contype = 'n' AND a.attname = n->>'column'));
	END IF;
	IF pg_catalog.jsonb_typeof(part->'column_order') = 'array' OR own_names THEN
		-- a column order (or NOT NULL names) of its own: made on its own, as
		-- the parent's columns (types, collations, defaults, generated
		-- expressions) and CHECK constraints in that order, then attached,
		-- as it was made
		SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname,
										pg_catalog.format_type(a.atttypid, a.atttypmod))
									 || CASE WHEN a.attcollation <> ty.typcollation
											 THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname)
											 ELSE '' END
									 || CASE WHEN d.adbin IS NULL THEN ''
											 ELSE pg_catalog.format(CASE a.attgenerated
																	WHEN 's' THEN ' GENERATED ALWAYS AS (%s) STORED'
																	WHEN 'v' THEN ' GENERATED ALWAYS AS (%s) VIRTUAL'
																	ELSE ' DEFAULT %s' END,
																	pg_catalog.pg_get_expr(d.adbin, d.adrelid)) END
									 || partback._def_not_null_clause(partback._def_not_null_of(part->'not_null', o.col)),
									 ', ' ORDER BY o.k)
			   || COALESCE((SELECT ', ' || pg_catalog.string_agg(pg_catalog.format('CONSTRAINT %I ', pc.conname)
																|| pg_catalog.pg_get_constraintdef(pc.oid), ', ')
							  FROM pg_catalog.pg_constraint pc
							 WHERE pc.conrelid = parent AND pc.contype = 'c' AND NOT pc.connoinherit), '')
		  INTO cols
		  FROM pg_catalog.jsonb_array_elements_text(
				CASE WHEN pg_catalog.jsonb_typeof(part->'column_order') = 'array' THEN part->'column_order'
					 ELSE (SELECT pg_catalog.jsonb_agg(pa.attname ORDER BY pa.attnum) FROM pg_catalog.pg_attribute pa
							WHERE pa.attrelid = parent AND pa.attnum > 0 AND NOT pa.attisdropped) END)
				 WITH ORDINALITY o(col, k)
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = parent AND a.attname = o.col
		  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
		  LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
		  LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
		  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum;
		PERFORM partback._execute_definition(pg_catalog.format('CREATE %sTABLE %I.%I (%s)%s%s',
			CASE WHEN (part->>'unlogged')::boolean AND (part->>'leaf')::boolean THEN 'UNLOGGED ' ELSE '' END,
			nsp, name, cols, COALESCE(' PARTITION BY ' || key, ''),
			CASE WHEN (part->>'leaf')::boolean THEN partback._def_with(part->'options') ELSE '' END
			|| partback._def_tablespace_clause(part->>'tablespace', what, parent)),
			'table', what);
		PERFORM partback._execute_definition(pg_catalog.format('ALTER TABLE %s ATTACH PARTITION %I.%I %s',
																parent::pg_catalog.regclass, nsp, name, bound),
											 'alter table', what);
	ELSE
		PERFORM partback._execute_definition(pg_catalog.format('CREATE %sTABLE %I.%I PARTITION OF %s%s %s%s%s',
			CASE WHEN (part->>'unlogged')::boolean AND (part->>'leaf')::boolean THEN 'UNLOGGED ' ELSE '' END,
			nsp, name, parent::pg_catalog.regclass, COALESCE(' (' || not_null || ')', ''), bound,
			COALESCE(' PARTITION BY ' || key, ''),
			CASE WHEN (part->>'leaf')::boolean THEN partback._def_with(part->'options') ELSE '' END
			|| partback._def_tablespace_clause(part->>'tablespace', what, parent)),
			'table', what);
	END IF;
	relid := pg_catalog.format('%I.%I', nsp, name)::pg_catalog.regclass;
	FOR d IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(part->'defaults') = 'array' THEN part->'defaults' ELSE '[]' END) LOOP
		IF d->>'default' IS NULL THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', relid::pg_catalog.regclass, d->>'column');
		ELSE
			PERFORM partback._execute_definition(pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s',
					relid::pg_catalog.regclass, d->>'column',
					partback._definition_piece(d->>'default', 'expression',
						pg_catalog.format('default of column "%s" of %s', d->>'column', what))),
				'alter table', pg_catalog.format('default of column "%s" of %s', d->>'column', what));
		END IF;
	END LOOP;
	-- most partitions have none of these: no call (with its query) for them
	IF COALESCE(part->'column_props', '[]') <> '[]' THEN
		PERFORM partback._def_column_props(relid, part->'column_props', part->>'owner');
	END IF;
	IF COALESCE(part->'index_names', '{}') <> '{}' THEN
		PERFORM partback._def_rename_attached_indexes(relid, parent, part->'index_names');
	END IF;
	IF COALESCE(part->'constraints', '[]') <> '[]' THEN
		PERFORM partback._def_add_constraints(relid, part->'constraints');
	END IF;
	IF COALESCE(part->'indexes', '[]') <> '[]' THEN
		PERFORM partback._def_add_indexes(relid, part->'indexes');
	END IF;
	IF part->>'comment' IS NOT NULL THEN
		EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', relid::pg_catalog.regclass, part->>'comment');
	END IF;
	PERFORM partback._def_apply_props(relid, part);
	RETURN relid;
END;
$$;

DROP FUNCTION partback._prepare_target(jsonb, text, text, text[], boolean, boolean);
CREATE FUNCTION partback._prepare_target(def jsonb, target_schema text, target_name text,
										 leaf_paths text[], drop_missing boolean,
										 must_not_exist boolean,
										 lock_budget integer DEFAULT NULL,
										 done oid[] DEFAULT NULL)
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
	x record;
	dropped_rows bigint;
	spent integer := 0;			-- locks taken, as lock_budget counts them
	cost integer;
	counted_parent oid;			-- the parent whose indexes parent_indexes counts
	parent_indexes integer;
	stopped boolean := false;	-- at lock_budget
	more boolean := false;		-- partitions left for the next call
	kept oid[] := '{}';			-- done and their ancestors
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
			   AND NOT COALESCE((p->>'foreign')::boolean, false)
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

	-- the types, sequences, functions and extensions the table needs: checked,
	-- and created where missing (21_dependencies.sql)
	PERFORM partback._dep_apply(def);

	-- the target
	SELECT c.oid, c.relkind, c.relowner INTO t
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = tschema AND c.relname = tname;

	IF NOT FOUND THEN
		troot := partback._def_create_root(def, tschema, tname);
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

	IF done IS NOT NULL THEN
		WITH RECURSIVE up(relid) AS (
			SELECT pg_catalog.unnest(done)
			UNION
			SELECT i.inhparent FROM up JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.relid
		)
		SELECT pg_catalog.array_agg(up.relid) INTO kept FROM up;
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
				-- from the few parents: a semi-join to need, rows of which the
				-- planner cannot estimate, read need again for every partition
				-- of the database (a minute at 10,000)
				SELECT i.inhparent AS tparent, c.oid AS child,
					   pg_catalog.pg_get_expr(c.relpartbound, 0) AS bound
				  FROM (SELECT DISTINCT need.tparent FROM need) np
				  JOIN pg_catalog.pg_inherits i ON i.inhparent = np.tparent
				  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
				 WHERE c.relispartition
				   AND c.oid NOT IN (SELECT pg_catalog.unnest(COALESCE(done, '{}')))
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
			ELSIF lock_budget IS NULL OR pg_catalog.cardinality(um_parts) < lock_budget / 3 THEN
				um_parts := um_parts || x.part;
				um_parents := um_parents || x.tparent;
			ELSE
				-- more than this call can make (3 locks each at least): the
				-- next call makes them, and they are not copied here
				more := true;
			END IF;
		END LOOP;

		IF drop_missing AND NOT root_created THEN
			FOR x IN
				-- from the parents, as tc above (inhparent = ANY (prev_parents)
				-- read the parent's index entries again for every partition)
				SELECT c.oid, c.relkind
				  FROM pg_catalog.unnest(prev_parents) pp(oid)
				  JOIN pg_catalog.pg_inherits i ON i.inhparent = pp.oid
				  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
				 WHERE c.relispartition
				   AND c.oid NOT IN (SELECT pg_catalog.unnest(lvl_oids))
				   AND c.oid NOT IN (SELECT pg_catalog.unnest(kept))
				   -- a foreign partition the backup has too (without its
				   -- data) stays
				   AND NOT (c.relkind = 'f' AND EXISTS (
						SELECT 1 FROM pg_catalog.jsonb_array_elements(def->'partitions') p
						 WHERE (p->>'foreign')::boolean
						   AND p->>'bound' = pg_catalog.pg_get_expr(c.relpartbound, 0)
						   AND i.inhparent = CASE WHEN p->>'parent_path' = '' THEN troot
												  ELSE (map->(p->>'parent_path')->>0)::oid END))
				 ORDER BY c.oid
			LOOP
				cost := 3 + (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_index xi
							  WHERE xi.indrelid = x.oid);
				IF spent > 0 AND spent + cost > lock_budget THEN
					stopped := true;
					EXIT;
				END IF;
				spent := spent + cost;
				-- never without a word: a NOTICE (recorded in the job) per
				-- partition, with the rows it held
				dropped_rows := NULL;
				IF x.relkind <> 'f' THEN
					EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', x.oid::pg_catalog.regclass)
					   INTO dropped_rows;
				END IF;
				RAISE NOTICE 'partition % of table % is not in the backup: dropped with its %',
					x.oid::pg_catalog.regclass, tqual,
					CASE WHEN dropped_rows IS NULL THEN 'rows on a foreign server'
						 WHEN dropped_rows = 1 THEN '1 row'
						 ELSE dropped_rows || ' rows' END
					USING HINT = 'keep_new_partitions => true keeps the partitions a backup lacks.';
				EXECUTE pg_catalog.format('DROP TABLE %s', x.oid::pg_catalog.regclass);
			END LOOP;
		END IF;

		FOR i IN 1..pg_catalog.cardinality(um_parts) LOOP
			EXIT WHEN stopped;
			part := um_parts[i];
			IF lock_budget IS NOT NULL THEN
				-- siblings follow each other: their parent's indexes counted once
				IF um_parents[i] IS DISTINCT FROM counted_parent THEN
					counted_parent := um_parents[i];
					parent_indexes := (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_index xi
										WHERE xi.indrelid = counted_parent);
				END IF;
				cost := 3 + COALESCE(pg_catalog.jsonb_array_length(
							CASE WHEN pg_catalog.jsonb_typeof(part->'indexes') = 'array' THEN part->'indexes' END), 0)
					+ parent_indexes;
				IF spent > 0 AND spent + cost > lock_budget THEN
					stopped := true;
					EXIT;
				END IF;
				spent := spent + cost;
			END IF;
			IF same THEN
				nsp := part->>'schema';
				nm := part->>'name';
			ELSE
				nsp := tschema;
				nm := partback._def_partition_name(tname, sname, part->>'name');
			END IF;
			nm := partback._def_free_name(nsp, nm);
			child := partback._def_create_partition(part, um_parents[i], nsp, nm);
			lvl_paths := lvl_paths || (part->>'path');
			lvl_oids := lvl_oids || child;
			lvl_created := lvl_created || true;
			IF NOT (part->>'leaf')::boolean THEN
				next_parents := next_parents || child;
			END IF;
		END LOOP;

		stopped := stopped OR more;
		map := map || COALESCE((SELECT pg_catalog.jsonb_object_agg(u.p, pg_catalog.jsonb_build_array(u.o, u.c))
								  FROM ROWS FROM (pg_catalog.unnest(lvl_paths), pg_catalog.unnest(lvl_oids),
												 pg_catalog.unnest(lvl_created)) u(p, o, c)),
							   '{}'::jsonb);
		EXIT WHEN stopped;
		prev_parents := next_parents;
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
		 WHERE NOT stopped OR map ? r.p
		 ORDER BY r.p COLLATE "C";
	IF stopped THEN
		RETURN QUERY SELECT NULL::text, NULL::oid, NULL::boolean;
	END IF;
END;
$$;

CREATE FUNCTION partback._def_target_partitions(def jsonb, target regclass)
RETURNS TABLE(path text, relid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
	WITH RECURSIVE dp AS MATERIALIZED (
		SELECT p->>'path' AS path, p->>'parent_path' AS parent_path, p->>'bound' AS bound
		  FROM pg_catalog.jsonb_array_elements(COALESCE($1->'partitions', '[]')) p
	), m(path, relid) AS (
		SELECT dp.path, c.oid
		  FROM dp
		  JOIN pg_catalog.pg_inherits i ON i.inhparent = $2
		  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND c.relispartition
		 WHERE dp.parent_path = '' AND pg_catalog.pg_get_expr(c.relpartbound, 0) = dp.bound
		UNION ALL
		SELECT dp.path, c.oid
		  FROM m
		  JOIN dp ON dp.parent_path = m.path
		  JOIN pg_catalog.pg_inherits i ON i.inhparent = m.relid
		  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND c.relispartition
		 WHERE pg_catalog.pg_get_expr(c.relpartbound, 0) = dp.bound
	)
	SELECT m.path, m.relid FROM m
$$;

CREATE FUNCTION partback._def_add_not_valid(rel oid, cons jsonb, not_null jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c jsonb;
BEGIN
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(cons) = 'array' THEN cons ELSE '[]' END)
			  WHERE (value->>'valid')::boolean IS FALSE LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
							   WHERE k.conrelid = rel AND k.conname = c->>'name');
		PERFORM partback._execute_definition(pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s',
				rel::pg_catalog.regclass, c->>'name',
				partback._definition_piece(c->>'definition', 'constraint',
					pg_catalog.format('constraint "%s" of table %s', c->>'name', rel::pg_catalog.regclass))),
			'alter table', pg_catalog.format('constraint "%s" of table %s', c->>'name', rel::pg_catalog.regclass));
		PERFORM partback._def_comment_constraints(rel, pg_catalog.jsonb_build_array(c));
	END LOOP;
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(not_null) = 'array' THEN not_null ELSE '[]' END)
			  WHERE (value->>'valid')::boolean IS FALSE LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
							   WHERE a.attrelid = rel AND a.attname = c->>'column' AND a.attnotnull);
		EXECUTE pg_catalog.format('ALTER TABLE %s ADD%s NOT NULL %I NOT VALID',
								  rel::pg_catalog.regclass,
								  CASE WHEN c->>'name' IS NOT NULL THEN pg_catalog.format(' CONSTRAINT %I', c->>'name') ELSE '' END,
								  c->>'column');
	END LOOP;
END;
$$;

CREATE FUNCTION partback._execute_definition(sql text, kind text, what text)
RETURNS void
AS 'MODULE_PATHNAME', 'partback_execute_definition'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION partback._def_retarget(definition text, keyword text, source text, target text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN pos > 0
				THEN pg_catalog.overlay($1, ' ' || $2 || ' ' || $4, pos,
										pg_catalog.length(' ' || $2 || ' ' || $3)) END
	  FROM (SELECT COALESCE(NULLIF(pg_catalog.strpos($1, ' ' || $2 || ' ' || $3 || ' '), 0),
							pg_catalog.strpos($1, ' ' || $2 || ' ' || $3 || E'\n')) AS pos) AS p
$$;

CREATE FUNCTION partback._def_add_post_data(rel oid, props jsonb, source text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	target text := rel::pg_catalog.regclass::text;
	nsp text;
	stx_nsp text;
	qual text;
	x jsonb;
	defn text;
	head text;
	name text;
	k integer;
BEGIN
	SELECT n.nspname::text, pg_catalog.format('%I.%I', n.nspname, c.relname)
	  INTO nsp, qual
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = rel;
	PERFORM partback._def_add_not_valid(rel, props->'constraints', props->'not_null');

	FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(props->'triggers', '[]')) LOOP
		IF NOT COALESCE((x->>'cloned')::boolean, false)
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
							WHERE t.tgrelid = rel AND t.tgname = x->>'name') THEN
			defn := partback._def_retarget(x->>'definition', 'ON', source, qual);
			IF defn IS NULL THEN
				RAISE EXCEPTION 'invalid definition of trigger "%" in the backup of table %', x->>'name', source
					USING ERRCODE = 'invalid_object_definition';
			END IF;
			PERFORM partback._execute_definition(defn, 'trigger',
				pg_catalog.format('trigger "%s" of table %s', x->>'name', source));
		END IF;
		IF x->>'comment' IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
												 WHERE t.tgrelid = rel AND t.tgname = x->>'name') THEN
			EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %s IS %L', x->>'name', target, x->>'comment');
		END IF;
		-- O is the default; D disabled, R replica only, A always
		IF x->>'enabled' IN ('D', 'R', 'A') AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
														WHERE t.tgrelid = rel AND t.tgname = x->>'name'
														  AND t.tgenabled::text <> x->>'enabled') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s %s TRIGGER %I', target,
				CASE x->>'enabled' WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
								   ELSE 'ENABLE ALWAYS' END, x->>'name');
		END IF;
	END LOOP;

	FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(props->'rules', '[]')) LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r
							   WHERE r.ev_class = rel AND r.rulename = x->>'name');
		defn := partback._def_retarget(x->>'definition', 'TO', source, qual);
		IF defn IS NULL THEN
			RAISE EXCEPTION 'invalid definition of rule "%" in the backup of table %', x->>'name', source
				USING ERRCODE = 'invalid_object_definition';
		END IF;
		PERFORM partback._execute_definition(defn, 'rule',
			pg_catalog.format('rule "%s" of table %s', x->>'name', source));
		IF x->>'comment' IS NOT NULL THEN
			EXECUTE pg_catalog.format('COMMENT ON RULE %I ON %s IS %L', x->>'name', target, x->>'comment');
		END IF;
	END LOOP;

	-- extended statistics of a table restored under its own name go into
	-- their own schema, of one restored under another name into the
	-- table's; under their own name where it is free there
	FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(props->'statistics', '[]')) LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext s
							   WHERE s.stxrelid = rel AND s.stxname = x->>'name');
		stx_nsp := CASE WHEN source = qual AND x->>'schema' IS NOT NULL THEN x->>'schema' ELSE nsp END;
		PERFORM partback._def_ensure_schema(stx_nsp);
		defn := x->>'definition';
		head := 'CREATE STATISTICS ' || pg_catalog.format('%I.%I', x->>'schema', x->>'name') || ' ';
		IF NOT pg_catalog.starts_with(defn, head)
		   OR pg_catalog.right(defn, pg_catalog.length(' FROM ' || source)) <> ' FROM ' || source THEN
			RAISE EXCEPTION 'invalid definition of statistics object "%" in the backup of table %', x->>'name', source
				USING ERRCODE = 'invalid_object_definition';
		END IF;
		name := x->>'name';
		k := 0;
		WHILE EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext s
					   JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
					  WHERE n.nspname = stx_nsp AND s.stxname = name) LOOP
			k := k + 1;
			name := partback._def_trunc(x->>'name', 63 - pg_catalog.length('_' || k)) || '_' || k;
		END LOOP;
		-- between the name and " FROM source": the kinds and columns
		defn := 'CREATE STATISTICS ' || pg_catalog.format('%I.%I', stx_nsp, name) || ' '
			|| pg_catalog.substr(defn, pg_catalog.length(head) + 1,
								 pg_catalog.length(defn) - pg_catalog.length(head)
								 - pg_catalog.length(' FROM ' || source))
			|| ' FROM ' || qual;
		PERFORM partback._execute_definition(defn, 'statistics',
			pg_catalog.format('statistics object "%s" of table %s', x->>'name', source));
		IF x->>'target' IS NOT NULL THEN
			EXECUTE pg_catalog.format('ALTER STATISTICS %I.%I SET STATISTICS %s', stx_nsp, name,
									  (x->>'target')::integer);
		END IF;
	END LOOP;

	FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(props->'publications', '[]')) LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr
								JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
							   WHERE pr.prrelid = rel AND p.pubname = x->>'name');
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication p WHERE p.pubname = x->>'name') THEN
			RAISE WARNING 'table % is not added to publication "%": the publication does not exist',
				target, x->>'name';
			CONTINUE;
		END IF;
		PERFORM partback._execute_definition(pg_catalog.format('ALTER PUBLICATION %I ADD TABLE %s%s%s',
				x->>'name', target,
				(SELECT ' (' || pg_catalog.string_agg(pg_catalog.quote_ident(col), ', ') || ')'
				   FROM pg_catalog.jsonb_array_elements_text(
						 CASE WHEN pg_catalog.jsonb_typeof(x->'columns') = 'array' THEN x->'columns' ELSE '[]' END) col),
				COALESCE(' WHERE (' || (x->>'where') || ')', '')),
			'publication', pg_catalog.format('membership of table %s in publication "%s"', source, x->>'name'));
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_add_only_indexes(def jsonb, target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	what text;
	parent_idx oid;
	child_idx oid;
	prev text;
BEGIN
	FOR r IN
		SELECT x.rel, x.parent, x.item, x.is_constraint
		  FROM (SELECT target::oid AS rel, NULL::oid AS parent, def AS d
				UNION ALL
				SELECT m.relid, (SELECT h.inhparent FROM pg_catalog.pg_inherits h WHERE h.inhrelid = m.relid), p
				  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
				  JOIN partback._def_target_partitions(def, target) m ON m.path = p->>'path') t,
			   LATERAL (SELECT t.rel, t.parent, i AS item, false AS is_constraint
						  FROM pg_catalog.jsonb_array_elements(
								CASE WHEN pg_catalog.jsonb_typeof(t.d->'indexes') = 'array' THEN t.d->'indexes' ELSE '[]' END) i
						UNION ALL
						SELECT t.rel, t.parent, c, true
						  FROM pg_catalog.jsonb_array_elements(
								CASE WHEN pg_catalog.jsonb_typeof(t.d->'constraints') = 'array' THEN t.d->'constraints' ELSE '[]' END) c) x
		 WHERE (x.item->>'only')::boolean OR x.item->>'attach_to' IS NOT NULL
		 -- parents' ON ONLY indexes first
		 ORDER BY (x.item->>'only')::boolean IS NOT TRUE, pg_catalog.array_length(ARRAY(
					SELECT 1 FROM pg_catalog.pg_partition_ancestors(x.rel)), 1)
	LOOP
		what := pg_catalog.format('index "%s" of table %s', r.item->>'name', r.rel::pg_catalog.regclass);
		IF (r.item->>'only')::boolean AND NOT r.is_constraint
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
							WHERE i.indrelid = r.rel AND ic.relname = r.item->>'name') THEN
			prev := partback._def_use_tablespace(r.item->>'tablespace', what);
			PERFORM partback._execute_definition(pg_catalog.format('CREATE %sINDEX %I ON ONLY %s %s',
					CASE WHEN (r.item->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END, r.item->>'name',
					r.rel::pg_catalog.regclass, partback._definition_piece(r.item->>'definition', 'index', what)),
				'index', what);
			PERFORM pg_catalog.set_config('default_tablespace', prev, true);
			PERFORM partback._def_index_statistics(r.rel, r.item);
			IF r.item->>'comment' IS NOT NULL THEN
				EXECUTE pg_catalog.format('COMMENT ON INDEX %s IS %L',
					(SELECT i.indexrelid::pg_catalog.regclass FROM pg_catalog.pg_index i
					   JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
					  WHERE i.indrelid = r.rel AND ic.relname = r.item->>'name'), r.item->>'comment');
			END IF;
		END IF;
		CONTINUE WHEN r.item->>'attach_to' IS NULL OR r.parent IS NULL;
		SELECT i.indexrelid INTO parent_idx
		  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		 WHERE i.indrelid = r.parent AND ic.relname = r.item->>'attach_to';
		IF r.is_constraint THEN
			SELECT k.conindid INTO child_idx FROM pg_catalog.pg_constraint k
			 WHERE k.conrelid = r.rel AND k.conname = r.item->>'name';
		ELSE
			SELECT i.indexrelid INTO child_idx
			  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
			 WHERE i.indrelid = r.rel AND ic.relname = r.item->>'name';
		END IF;
		IF parent_idx IS NULL OR child_idx IS NULL THEN
			RAISE WARNING '% is not attached to index "%" of its parent: one of them was not restored under its name',
				what, r.item->>'attach_to';
			CONTINUE;
		END IF;
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h
							   WHERE h.inhrelid = child_idx AND h.inhparent = parent_idx);
		EXECUTE pg_catalog.format('ALTER INDEX %s ATTACH PARTITION %s',
								  parent_idx::pg_catalog.regclass, child_idx::pg_catalog.regclass);
	END LOOP;
END;
$$;

CREATE FUNCTION partback._def_add_foreign_keys(target regclass, fks jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fk jsonb;
	defn text;
	prefix text;
	cols text;
	msg text;
	det text;
BEGIN
	FOR fk IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(fks) = 'array' THEN fks ELSE '[]' END) LOOP
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
			PERFORM partback._execute_definition(pg_catalog.format('ALTER TABLE %s ADD %s%s', target,
					CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
									   WHERE k.conrelid = target AND k.conname = fk->>'name')
						 THEN '' ELSE pg_catalog.format('CONSTRAINT %I ', fk->>'name') END,
					partback._definition_piece(defn, 'constraint',
						pg_catalog.format('foreign key "%s" of table %s', fk->>'name', target))),
				'alter table', pg_catalog.format('foreign key "%s" of table %s', fk->>'name', target));
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

CREATE OR REPLACE FUNCTION partback._finish_target(def jsonb, target regclass)
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
	seq oid;
	s record;
	lv bigint;
	called boolean;
	ext bigint;
	v bigint;
	part record;
BEGIN
	PERFORM partback._def_add_post_data(target, def,
										pg_catalog.format('%I.%I', def->>'schema', def->>'name'));
	-- partitions are looked up only when one has something to add
	IF pg_catalog.jsonb_path_exists(def, '$.partitions[*].constraints[*] ? (@.valid == false)')
	   OR pg_catalog.jsonb_path_exists(def, '$.partitions[*].not_null[*] ? (@.valid == false)')
	   OR pg_catalog.jsonb_path_exists(def, '$.partitions[*].triggers[*] ? (@.cloned == false || @.enabled != "O")')
	   OR pg_catalog.jsonb_path_exists(def, '$.partitions[*].rules[*]')
	   OR pg_catalog.jsonb_path_exists(def, '$.partitions[*].statistics[*]')
	   OR pg_catalog.jsonb_path_exists(def, '$.partitions[*].publications[*]') THEN
		FOR part IN
			SELECT p AS pdef, m.relid
			  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
			  JOIN partback._def_target_partitions(def, target) m ON m.path = p->>'path'
		LOOP
			PERFORM partback._def_add_post_data(part.relid, part.pdef,
				pg_catalog.format('%I.%I', part.pdef->>'schema', part.pdef->>'name'));
		END LOOP;
	END IF;

	-- sequences: the source's position exactly; the data's end only where
	-- the backup could not read the position
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]')) LOOP
		CONTINUE WHEN c->>'identity' IS NULL AND NOT COALESCE((c->>'serial')::boolean, false);
		seq := partback._def_owned_seq(target, c->>'name');
		CONTINUE WHEN seq IS NULL;
		SELECT * INTO s FROM pg_catalog.pg_sequence WHERE seqrelid = seq;
		lv := (c->'sequence'->>'last_value')::bigint;
		called := COALESCE((c->'sequence'->>'is_called')::boolean, true);
		-- the data's end only where needed: reading it locks every partition
		ext := NULL;
		IF lv IS NULL THEN
			EXECUTE pg_catalog.format('SELECT %s(%I)::bigint FROM %s',
									  CASE WHEN s.seqincrement > 0 THEN 'pg_catalog.max' ELSE 'pg_catalog.min' END,
									  c->>'name', target)
			   INTO ext;
		END IF;
		IF ext IS NOT NULL AND lv IS NULL THEN
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

	IF pg_catalog.jsonb_path_exists(def, '$.**.indexes[*] ? (@.only == true)') THEN
		PERFORM partback._def_add_only_indexes(def, target);
	END IF;

	-- foreign keys the target lacks, the table's and then its partitions'
	PERFORM partback._def_add_foreign_keys(target, def->'foreign_keys');
	IF pg_catalog.jsonb_path_exists(def, '$.partitions[*].foreign_keys[*]') THEN
		FOR part IN
			SELECT p AS pdef, m.relid
			  FROM pg_catalog.jsonb_array_elements(def->'partitions') p
			  JOIN partback._def_target_partitions(def, target) m ON m.path = p->>'path'
			 WHERE pg_catalog.jsonb_typeof(p->'foreign_keys') = 'array'
		LOOP
			PERFORM partback._def_add_foreign_keys(part.relid, part.pdef->'foreign_keys');
		END LOOP;
	END IF;
END;
$$;

CREATE FUNCTION partback._dep_objects_of(tbls oid[])
RETURNS TABLE(root oid, classid oid, objid oid, depth integer, extension oid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	-- each relation's catalog rows looked up by its oid (LATERAL, OFFSET 0:
	-- not joined, where the plan for an unknown number of roots scanned
	-- the catalogs whole for one)
	WITH RECURSIVE rels(root, relid) AS (
		SELECT r, r FROM pg_catalog.unnest($1) r
		UNION
		-- its partitions, at any depth (_def_tree's, without the paths);
		-- looked for below partitioned tables only: the planner expects as
		-- many children of any relation as a parent has, and read all of
		-- pg_inherits for each leaf (20 s at 20,000)
		SELECT rels.root, p.inhrelid
		  FROM rels
		  JOIN pg_catalog.pg_class pt ON pt.oid = rels.relid AND pt.relkind = 'p'
		 CROSS JOIN LATERAL (
				SELECT i.inhrelid
				  FROM pg_catalog.pg_inherits i
				  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND c.relispartition
				 WHERE i.inhparent = rels.relid OFFSET 0) p
	), owned AS MATERIALIZED (
		SELECT rels.root, d.objid
		  FROM rels
		 CROSS JOIN LATERAL (
				SELECT d.objid
				  FROM pg_catalog.pg_depend d
				 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
				   AND d.refobjid = rels.relid
				   AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
				   AND d.deptype IN ('a', 'i') OFFSET 0) d
	), start(root, classid, objid) AS (
		SELECT rels.root, x.classid, x.objid
		  FROM rels
		 CROSS JOIN LATERAL (
				SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, rels.relid
				UNION ALL
				SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass::oid, ad.oid
				  FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid = rels.relid
				UNION ALL
				SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, c.oid
				  FROM pg_catalog.pg_constraint c WHERE c.conrelid = rels.relid
				UNION ALL
				SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, i.indexrelid
				  FROM pg_catalog.pg_index i WHERE i.indrelid = rels.relid
				UNION ALL
				SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::oid, t.oid
				  FROM pg_catalog.pg_trigger t WHERE t.tgrelid = rels.relid AND NOT t.tgisinternal
				UNION ALL
				SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::oid, p.oid
				  FROM pg_catalog.pg_policy p WHERE p.polrelid = rels.relid
				OFFSET 0) x(classid, objid)
	), walk(root, classid, objid, depth, member) AS (
		-- UNION: an object reached on many ways at one depth (each
		-- partition's CHECK calling one function) is walked on once; a
		-- cycle ends at depth 64
		SELECT DISTINCT s.root, s.classid, s.objid, 0, NULL::oid FROM start s
		UNION
		SELECT w.root, r.classid, r.objid, w.depth + 1,
			   (SELECT e.refobjid FROM pg_catalog.pg_depend e
				 WHERE e.classid = r.classid AND e.objid = r.objid AND e.deptype = 'e'
				   AND e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
				 LIMIT 1)
		  FROM walk w
		 CROSS JOIN LATERAL (
				-- what w depends on (normally, or as an array on its
				-- element, a composite type on its relation...)
				SELECT d.refclassid AS classid, d.refobjid AS objid
				  FROM pg_catalog.pg_depend d
				 WHERE d.classid = w.classid AND d.objid = w.objid AND d.deptype IN ('n', 'i')
				   -- not from a composite type's relation back to the type
				   AND NOT (w.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'i'
							AND d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass)
				UNION
				-- a domain's constraints
				SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, c.oid
				  FROM pg_catalog.pg_constraint c
				 WHERE w.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND c.contypid = w.objid
				UNION
				-- a composite type's relation (which depends on the type)
				SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, ty.typrelid
				  FROM pg_catalog.pg_type ty
				 WHERE w.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid = w.objid
				   AND ty.typrelid <> 0
			) r
		 WHERE w.member IS NULL AND w.depth < 64
		   AND r.objid >= 16384		-- FirstNormalObjectId: not built in
		   AND r.classid IN ('pg_catalog.pg_type'::pg_catalog.regclass,
							 'pg_catalog.pg_proc'::pg_catalog.regclass,
							 'pg_catalog.pg_class'::pg_catalog.regclass,
							 'pg_catalog.pg_constraint'::pg_catalog.regclass,
							 -- only for the extensions they belong to (an
							 -- index's operator class of pg_trgm...)
							 'pg_catalog.pg_operator'::pg_catalog.regclass,
							 'pg_catalog.pg_opclass'::pg_catalog.regclass,
							 'pg_catalog.pg_language'::pg_catalog.regclass,
							 'pg_catalog.pg_collation'::pg_catalog.regclass)
		   AND (r.classid <> 'pg_catalog.pg_class'::pg_catalog.regclass
				OR EXISTS (SELECT 1 FROM pg_catalog.pg_class k
							WHERE k.oid = r.objid
							  AND (k.relkind = 'c'
								   OR (k.relkind = 'S'
									   AND NOT EXISTS (SELECT 1 FROM owned o
														WHERE o.root = w.root AND o.objid = k.oid)))))
	)
	SELECT w.root, w.classid, w.objid, pg_catalog.max(w.depth), pg_catalog.max(w.member)
	  FROM walk w
	 WHERE w.depth > 0
	 GROUP BY w.root, w.classid, w.objid;
END
$$;

-- _dep_objects_of of tbl alone
CREATE FUNCTION partback._dep_objects(tbl regclass)
RETURNS TABLE(classid oid, objid oid, depth integer, extension oid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT x.classid, x.objid, x.depth, x.extension FROM partback._dep_objects_of(ARRAY[$1::oid]) x;
END
$$;

CREATE FUNCTION partback._dep_describe(classid oid, objid oid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	t record;
	r record;
	base jsonb;
BEGIN
	IF classid = 'pg_catalog.pg_type'::pg_catalog.regclass THEN
		SELECT ty.*, n.nspname::text AS nsp INTO t
		  FROM pg_catalog.pg_type ty JOIN pg_catalog.pg_namespace n ON n.oid = ty.typnamespace
		 WHERE ty.oid = objid;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
		base := pg_catalog.jsonb_build_object('schema', t.nsp, 'name', t.typname::text);
		IF t.typtype = 'e' THEN
			RETURN base || pg_catalog.jsonb_build_object('kind', 'enum',
				'labels', (SELECT COALESCE(pg_catalog.jsonb_agg(e.enumlabel::text ORDER BY e.enumsortorder), '[]')
							 FROM pg_catalog.pg_enum e WHERE e.enumtypid = objid));
		ELSIF t.typtype = 'd' THEN
			RETURN base || pg_catalog.jsonb_build_object('kind', 'domain',
				'base', pg_catalog.format_type(t.typbasetype, t.typtypmod),
				'collation', (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname)
								FROM pg_catalog.pg_collation co
								JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
								JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
							   WHERE co.oid = t.typcollation AND t.typcollation <> bt.typcollation),
				'default', pg_catalog.pg_get_expr(t.typdefaultbin, 0),
				'not_null', t.typnotnull,
				'constraints', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
											'name', c.conname::text,
											'definition', pg_catalog.pg_get_constraintdef(c.oid),
											'valid', c.convalidated)
										ORDER BY c.conname COLLATE "C"), '[]')
								  FROM pg_catalog.pg_constraint c
								 WHERE c.contypid = objid AND c.contype = 'c'));
		ELSIF t.typtype = 'c' THEN
			RETURN base || pg_catalog.jsonb_build_object('kind', 'composite',
				'table', (SELECT k.relkind <> 'c' FROM pg_catalog.pg_class k WHERE k.oid = t.typrelid),
				'attributes', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
											'name', a.attname::text,
											'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
											'collation', CASE WHEN a.attcollation <> 0 AND a.attcollation <> at.typcollation
															  THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END)
										ORDER BY a.attnum), '[]')
								 FROM pg_catalog.pg_attribute a
								 JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
								 LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
								 LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
								WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped));
		ELSIF t.typtype = 'r' THEN
			SELECT rg.*, st.typcollation AS subcoll INTO r
			  FROM pg_catalog.pg_range rg JOIN pg_catalog.pg_type st ON st.oid = rg.rngsubtype
			 WHERE rg.rngtypid = objid;
			RETURN base || pg_catalog.jsonb_build_object('kind', 'range',
				'subtype', pg_catalog.format_type(r.rngsubtype, NULL),
				'opclass', (SELECT pg_catalog.format('%I.%I', n.nspname, oc.opcname)
							  FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_namespace n ON n.oid = oc.opcnamespace
							 WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault),
				'collation', (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname)
								FROM pg_catalog.pg_collation co
								JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
							   WHERE co.oid = r.rngcollation AND r.rngcollation <> r.subcoll),
				'canonical', CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::pg_catalog.regproc::text END,
				'subtype_diff', CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::pg_catalog.regproc::text END,
				'multirange', (SELECT pg_catalog.format('%I.%I', n.nspname, mt.typname)
								 FROM pg_catalog.pg_type mt JOIN pg_catalog.pg_namespace n ON n.oid = mt.typnamespace
								WHERE mt.oid = r.rngmultitypid));
		ELSIF t.typelem <> 0 AND t.typlen = -1 THEN
			-- an array: made with its element type
			RETURN base || pg_catalog.jsonb_build_object('kind', 'array',
				'element', pg_catalog.format_type(t.typelem, NULL));
		ELSIF t.typtype = 'm' THEN
			RETURN base || pg_catalog.jsonb_build_object('kind', 'multirange');
		ELSE
			RETURN base || pg_catalog.jsonb_build_object('kind', 'base', 'type', t.typtype::text);
		END IF;
	ELSIF classid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
		SELECT p.proname::text AS name, n.nspname::text AS nsp, p.prokind INTO t
		  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		 WHERE p.oid = objid;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
		RETURN pg_catalog.jsonb_build_object('schema', t.nsp, 'name', t.name,
			'kind', CASE WHEN t.prokind = 'p' THEN 'procedure' ELSE 'function' END,
			'identity', pg_catalog.pg_get_function_identity_arguments(objid),
			'definition', CASE WHEN t.prokind IN ('f', 'p', 'w') THEN pg_catalog.pg_get_functiondef(objid) END);
	ELSIF classid = 'pg_catalog.pg_collation'::pg_catalog.regclass THEN
		-- the row as JSON: the ICU locale is colliculocale in 15 and 16,
		-- colllocale from 17, which also has builtin ones
		SELECT pg_catalog.to_jsonb(co.*) AS j, co.collname::text AS name, n.nspname::text AS nsp INTO t
		  FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
		 WHERE co.oid = objid;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
		RETURN pg_catalog.jsonb_build_object('schema', t.nsp, 'name', t.name, 'kind', 'collation',
			'provider', CASE t.j->>'collprovider' WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu'
												 WHEN 'b' THEN 'builtin' END,
			'deterministic', (t.j->>'collisdeterministic')::boolean,
			'lc_collate', t.j->>'collcollate',
			'lc_ctype', t.j->>'collctype',
			'locale', COALESCE(t.j->>'colllocale', t.j->>'colliculocale'),
			'rules', t.j->>'collicurules');
	ELSIF classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN
		SELECT k.relname::text AS name, n.nspname::text AS nsp, k.relkind, k.relpersistence, s.*,
			   pg_catalog.format_type(s.seqtypid, NULL) AS typ INTO t
		  FROM pg_catalog.pg_class k
		  JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
		  LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = k.oid
		 WHERE k.oid = objid;
		IF NOT FOUND THEN
			RETURN NULL;
		ELSIF t.relkind <> 'S' THEN
			RETURN pg_catalog.jsonb_build_object('schema', t.nsp, 'name', t.name, 'kind', 'relation');
		END IF;
		RETURN pg_catalog.jsonb_build_object('schema', t.nsp, 'name', t.name, 'kind', 'sequence',
			'type', t.typ, 'increment', t.seqincrement, 'min', t.seqmin, 'max', t.seqmax,
			'start', t.seqstart, 'cache', t.seqcache, 'cycle', t.seqcycle,
			'unlogged', t.relpersistence = 'u');
	END IF;
	RETURN NULL;
END;
$$;

CREATE FUNCTION partback._dep_capture(tbl regclass)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	d jsonb;
	deps jsonb := '[]';
	exts jsonb := '[]';
	lv bigint;
	called boolean;
BEGIN
	FOR o IN SELECT * FROM partback._dep_objects(tbl) x ORDER BY x.depth DESC, x.classid, x.objid LOOP
		IF o.extension IS NOT NULL THEN
			CONTINUE WHEN exts @> pg_catalog.to_jsonb(o.extension);
			exts := exts || pg_catalog.to_jsonb(o.extension);
			SELECT pg_catalog.jsonb_build_object('kind', 'extension', 'name', e.extname::text,
												 'schema', n.nspname::text, 'version', e.extversion)
			  INTO d
			  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
			 WHERE e.oid = o.extension;
			deps := deps || pg_catalog.jsonb_build_array(d);
			CONTINUE;
		END IF;
		CONTINUE WHEN o.classid NOT IN ('pg_catalog.pg_type'::pg_catalog.regclass,
										'pg_catalog.pg_proc'::pg_catalog.regclass,
										'pg_catalog.pg_class'::pg_catalog.regclass,
										'pg_catalog.pg_collation'::pg_catalog.regclass);
		d := partback._dep_describe(o.classid, o.objid);
		CONTINUE WHEN d IS NULL
			OR d->>'kind' NOT IN ('enum', 'domain', 'composite', 'range', 'function', 'procedure', 'sequence',
								  'collation')
			OR (d->>'kind' = 'collation' AND d->>'provider' IS NULL)
			OR (d->>'kind' = 'composite' AND (d->>'table')::boolean)
			OR (d->>'kind' IN ('function', 'procedure') AND d->>'definition' IS NULL);
		IF o.classid = 'pg_catalog.pg_type'::pg_catalog.regclass THEN
			d := d || pg_catalog.jsonb_build_object(
				'owner', (SELECT ty.typowner::pg_catalog.regrole::text FROM pg_catalog.pg_type ty WHERE ty.oid = o.objid),
				'acl', (SELECT partback._def_acl(ty.typacl) FROM pg_catalog.pg_type ty WHERE ty.oid = o.objid),
				'comment', pg_catalog.obj_description(o.objid, 'pg_type'));
		ELSIF o.classid = 'pg_catalog.pg_collation'::pg_catalog.regclass THEN
			d := d || pg_catalog.jsonb_build_object(
				'owner', (SELECT co.collowner::pg_catalog.regrole::text FROM pg_catalog.pg_collation co
						   WHERE co.oid = o.objid),
				'comment', pg_catalog.obj_description(o.objid, 'pg_collation'));
		ELSIF o.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
			d := d || pg_catalog.jsonb_build_object(
				'owner', (SELECT p.proowner::pg_catalog.regrole::text FROM pg_catalog.pg_proc p WHERE p.oid = o.objid),
				'acl', (SELECT partback._def_acl(p.proacl) FROM pg_catalog.pg_proc p WHERE p.oid = o.objid),
				'comment', pg_catalog.obj_description(o.objid, 'pg_proc'));
		ELSE
			lv := NULL;
			called := NULL;
			IF pg_catalog.has_sequence_privilege(o.objid, 'SELECT') THEN
				EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %s', o.objid::pg_catalog.regclass)
				   INTO lv, called;
			END IF;
			d := d || pg_catalog.jsonb_build_object(
				'owner', (SELECT k.relowner::pg_catalog.regrole::text FROM pg_catalog.pg_class k WHERE k.oid = o.objid),
				'acl', (SELECT partback._def_acl(k.relacl) FROM pg_catalog.pg_class k WHERE k.oid = o.objid),
				'comment', pg_catalog.obj_description(o.objid, 'pg_class'),
				'last_value', lv, 'is_called', called);
		END IF;
		deps := deps || pg_catalog.jsonb_build_array(d);
	END LOOP;

	-- sequences owned by a column of tbl (OWNED BY) that are not its
	-- identity or serial sequence (_capture_table's column "sequence"):
	-- used by another column's default, or by nothing
	FOR o IN
		SELECT d.objid, a.attname::text AS col
		  FROM pg_catalog.pg_depend d
		  JOIN pg_catalog.pg_class sq ON sq.oid = d.objid AND sq.relkind = 'S'
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
		 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.refobjid = tbl AND d.deptype = 'a'
		   AND NOT (a.attidentity = '' AND a.attgenerated = ''
					AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
									   'pg_catalog.int8'::pg_catalog.regtype)
					AND pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) IS NOT DISTINCT FROM
						pg_catalog.format('nextval(%L::regclass)', d.objid::pg_catalog.regclass::text)
					AND EXISTS (SELECT 1 FROM pg_catalog.pg_sequence s
								 WHERE s.seqrelid = d.objid AND s.seqtypid = a.atttypid))
		 ORDER BY d.objid
	LOOP
		lv := NULL;
		called := NULL;
		IF pg_catalog.has_sequence_privilege(o.objid, 'SELECT') THEN
			EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %s', o.objid::pg_catalog.regclass)
			   INTO lv, called;
		END IF;
		deps := deps || pg_catalog.jsonb_build_array(
			partback._dep_describe('pg_catalog.pg_class'::pg_catalog.regclass, o.objid)
			|| pg_catalog.jsonb_build_object(
				'owner', (SELECT k.relowner::pg_catalog.regrole::text FROM pg_catalog.pg_class k WHERE k.oid = o.objid),
				'acl', (SELECT partback._def_acl(k.relacl) FROM pg_catalog.pg_class k WHERE k.oid = o.objid),
				'comment', pg_catalog.obj_description(o.objid, 'pg_class'),
				'last_value', lv, 'is_called', called, 'owned_by', o.col));
	END LOOP;

	IF pg_catalog.jsonb_array_length(deps) = 0 THEN
		RETURN '{}';
	END IF;
	RETURN pg_catalog.jsonb_build_object('dependencies', deps);
END;
$$;

-- _dep_capture of each of tbls that may have dependencies (no row for the
-- others, which have none): one walk for them all finds which.
CREATE FUNCTION partback._dep_captures(tbls oid[])
RETURNS TABLE(relid oid, dependencies jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT r.relid, partback._dep_capture(r.relid)
	  FROM (SELECT x.root AS relid FROM partback._dep_objects_of($1) x
			 -- what _dep_capture keeps of them
			 WHERE x.extension IS NOT NULL
				OR x.classid IN ('pg_catalog.pg_type'::pg_catalog.regclass,
								 'pg_catalog.pg_proc'::pg_catalog.regclass,
								 'pg_catalog.pg_class'::pg_catalog.regclass,
								 'pg_catalog.pg_collation'::pg_catalog.regclass)
			UNION
			-- its sequences (_dep_capture's owned ones among them)
			SELECT d.refobjid
			  FROM pg_catalog.pg_depend d
			  JOIN pg_catalog.pg_class sq ON sq.oid = d.objid AND sq.relkind = 'S'
			 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
			   AND d.refobjid = ANY ($1) AND d.deptype = 'a') r;
END
$$;

CREATE FUNCTION partback._dep_types_digests(tbls oid[])
RETURNS TABLE(relid oid, digest text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
	-- PL/pgSQL with one generic plan, as _def_rel_props (why: there)
	RETURN QUERY
	SELECT x.root, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
				pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(x.objid, partback._dep_describe(x.classid, x.objid))
									 ORDER BY x.objid)::text, 'UTF8')), 'hex')
	  FROM partback._dep_objects_of($1) x
	 WHERE x.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
	 GROUP BY x.root;
END
$$;

-- _dep_types_digests of tbl alone; NULL when its types are all built in
CREATE FUNCTION partback._dep_types_digest(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
BEGIN
	RETURN (SELECT x.digest FROM partback._dep_types_digests(ARRAY[tbl::oid]) x);
END
$$;

CREATE FUNCTION partback._dep_find(d jsonb)
RETURNS TABLE(classid oid, objid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::oid, ty.oid
	  FROM pg_catalog.pg_type ty JOIN pg_catalog.pg_namespace n ON n.oid = ty.typnamespace
	 WHERE $1->>'kind' IN ('enum', 'domain', 'composite', 'range')
	   AND n.nspname = $1->>'schema' AND ty.typname = $1->>'name'
	UNION ALL
	SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid
	  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
	 WHERE $1->>'kind' IN ('function', 'procedure')
	   AND n.nspname = $1->>'schema' AND p.proname = $1->>'name'
	   AND pg_catalog.pg_get_function_identity_arguments(p.oid) = $1->>'identity'
	UNION ALL
	SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, k.oid
	  FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
	 WHERE $1->>'kind' = 'sequence'
	   AND n.nspname = $1->>'schema' AND k.relname = $1->>'name'
	UNION ALL
	-- one for any encoding or for the database's
	SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, co.oid
	  FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
	 WHERE $1->>'kind' = 'collation'
	   AND n.nspname = $1->>'schema' AND co.collname = $1->>'name'
	   AND co.collencoding IN (-1, pg_catalog.pg_char_to_encoding(pg_catalog.getdatabaseencoding()))
$$;

CREATE FUNCTION partback._dep_what(d jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN $1->>'kind' = 'extension' THEN pg_catalog.format('extension "%s"', $1->>'name')
				WHEN $1->>'kind' IN ('function', 'procedure')
				THEN pg_catalog.format('%s %I.%I(%s)', $1->>'kind', $1->>'schema', $1->>'name', $1->>'identity')
				WHEN $1->>'kind' IN ('sequence', 'collation')
				THEN pg_catalog.format('%s %I.%I', $1->>'kind', $1->>'schema', $1->>'name')
				ELSE pg_catalog.format('%s type %I.%I', $1->>'kind', $1->>'schema', $1->>'name') END
$$;

CREATE FUNCTION partback._dep_set_owner(obj text, nsp text, owner text, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text;
BEGIN
	IF owner IS NULL OR owner = current_user THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner) THEN
		RAISE WARNING '% is owned by %, not by its owner "%" in the backup: the role does not exist',
			what, current_user, owner;
		RETURN;
	END IF;
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
	   AND (NOT pg_catalog.pg_has_role(current_user, owner, 'MEMBER')
			OR NOT pg_catalog.has_schema_privilege(owner, nsp, 'CREATE')) THEN
		RAISE WARNING '% is owned by %, not by its owner "%" in the backup: % may not give it to that role',
			what, current_user, owner, current_user;
		RETURN;
	END IF;
	BEGIN
		EXECUTE pg_catalog.format('ALTER %s OWNER TO %I', obj, owner);
	EXCEPTION WHEN insufficient_privilege THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
		RAISE WARNING '% is owned by %, not by its owner "%" in the backup: %', what, current_user, owner, msg;
	END;
END;
$$;

CREATE FUNCTION partback._dep_grant(obj text, acl jsonb, source_owner text, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	g jsonb;
BEGIN
	IF pg_catalog.jsonb_typeof(acl) IS DISTINCT FROM 'array' THEN
		RETURN;
	END IF;
	EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', obj);
	FOR g IN SELECT * FROM pg_catalog.jsonb_array_elements(acl) LOOP
		-- the privilege is a keyword from aclexplode(): only letters and spaces
		CONTINUE WHEN g->>'grantee' IS NOT DISTINCT FROM source_owner AND g->>'grantee' IS NOT NULL
			OR COALESCE(g->>'privilege', '') !~ '^[A-Z ]+$';
		IF g->>'grantee' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
														WHERE r.rolname = g->>'grantee') THEN
			RAISE WARNING 'privilege % on % not granted to role "%": the role does not exist',
				g->>'privilege', what, g->>'grantee';
			CONTINUE;
		END IF;
		EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g->>'privilege', obj,
								  COALESCE(pg_catalog.quote_ident(g->>'grantee'), 'PUBLIC'),
								  CASE WHEN (g->>'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END;
$$;

CREATE FUNCTION partback._dep_apply(def jsonb, do_create boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET "DateStyle" = 'ISO, MDY'
SET "IntervalStyle" = 'postgres'
SET extra_float_digits = 1
AS $$
DECLARE
	deps jsonb := def->'dependencies';
	tbl text := pg_catalog.format('%I.%I', def->>'schema', def->>'name');
	d jsonb;
	here jsonb;
	found_oid oid;
	found_class oid;
	diff text;
	todo jsonb := '[]';
	stmt text;
	items text[];
	x jsonb;
	obj oid;
	cur bigint;
BEGIN
	IF deps IS NULL OR pg_catalog.jsonb_typeof(deps) = 'null' THEN
		RETURN;
	END IF;
	IF pg_catalog.jsonb_typeof(deps) <> 'array'
	   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(deps) e
				   WHERE pg_catalog.jsonb_typeof(e) <> 'object'
					  OR e->>'kind' IS NULL OR e->>'name' IS NULL OR e->>'schema' IS NULL
					  OR e->>'kind' NOT IN ('extension', 'enum', 'domain', 'composite', 'range',
											'function', 'procedure', 'sequence', 'collation')
					  OR (e->>'kind' = 'collation'
						  AND COALESCE(e->>'provider', '') NOT IN ('libc', 'icu', 'builtin'))
					  OR (e->>'kind' IN ('function', 'procedure')
						  AND (e->>'identity' IS NULL OR e->>'definition' IS NULL))) THEN
		RAISE EXCEPTION 'invalid "dependencies" in the backup of table %', tbl
			USING ERRCODE = 'invalid_object_definition',
				  HINT = 'The backup''s manifest was changed after it was written; restore from another backup.';
	END IF;

	-- check everything first
	FOR d IN SELECT * FROM pg_catalog.jsonb_array_elements(deps) LOOP
		IF d->>'kind' = 'extension' THEN
			CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = d->>'name');
			IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions a WHERE a.name = d->>'name') THEN
				RAISE EXCEPTION 'extension "%" needed by table % is not available on this server', d->>'name', tbl
					USING ERRCODE = 'undefined_object',
						  DETAIL = pg_catalog.format('Table %s uses objects of extension "%s" (version %s in the backup).',
													 tbl, d->>'name', d->>'version'),
						  HINT = 'Install the extension on this server (its package), then restore again.';
			END IF;
			todo := todo || pg_catalog.jsonb_build_array(d);
			CONTINUE;
		END IF;
		SELECT f.classid, f.objid INTO found_class, found_oid FROM partback._dep_find(d) f LIMIT 1;
		IF NOT FOUND THEN
			todo := todo || pg_catalog.jsonb_build_array(d);
			CONTINUE;
		END IF;
		here := partback._dep_describe(found_class, found_oid);
		SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s in the backup, %s here', k,
									 COALESCE(d->k, 'null'), COALESCE(here->k, 'null')), '; '
									 ORDER BY k COLLATE "C")
		  INTO diff
		  FROM (SELECT pg_catalog.jsonb_object_keys(d) AS k
				UNION SELECT pg_catalog.jsonb_object_keys(here)) keys
		 WHERE k NOT IN ('owner', 'acl', 'comment', 'last_value', 'is_called', 'owned_by')
		   AND d->k IS DISTINCT FROM here->k
		   -- absent and null are the same
		   AND NOT (COALESCE(d->k, 'null') = 'null' AND COALESCE(here->k, 'null') = 'null');
		IF diff IS NOT NULL THEN
			RAISE EXCEPTION '% needed by table % differs from the one in the backup', partback._dep_what(d), tbl
				USING ERRCODE = CASE WHEN d->>'kind' IN ('enum', 'domain', 'composite', 'range')
									 THEN 'datatype_mismatch' ELSE 'duplicate_object' END,
					  DETAIL = diff || '.',
					  HINT = 'Make it match the backup, drop it, or restore into another database.';
		END IF;
		IF d->>'kind' = 'sequence' AND d->>'last_value' IS NOT NULL THEN
			todo := todo || pg_catalog.jsonb_build_array(d || pg_catalog.jsonb_build_object('exists', found_oid));
		END IF;
	END LOOP;
	IF NOT do_create THEN
		RETURN;
	END IF;

	FOR d IN SELECT * FROM pg_catalog.jsonb_array_elements(todo) LOOP
		IF d->>'kind' = 'extension' THEN
			CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = d->>'name');
			PERFORM partback._def_ensure_schema(d->>'schema');
			PERFORM partback._execute_definition(
				pg_catalog.format('CREATE EXTENSION %I SCHEMA %I CASCADE', d->>'name', d->>'schema'),
				'extension', partback._dep_what(d) || ' of table ' || tbl);
			CONTINUE;
		END IF;
		IF d->>'exists' IS NOT NULL THEN
			-- an existing sequence is never moved back, but never left
			-- behind the backup's position
			obj := (d->>'exists')::oid;
			EXECUTE pg_catalog.format('SELECT last_value FROM %s', obj::pg_catalog.regclass) INTO cur;
			IF ((d->>'increment')::bigint > 0 AND cur < (d->>'last_value')::bigint)
			   OR ((d->>'increment')::bigint < 0 AND cur > (d->>'last_value')::bigint) THEN
				PERFORM pg_catalog.setval(obj::pg_catalog.regclass, (d->>'last_value')::bigint,
										  COALESCE((d->>'is_called')::boolean, true));
			END IF;
			CONTINUE;
		END IF;
		-- created in the meantime (an earlier element made it)
		CONTINUE WHEN EXISTS (SELECT 1 FROM partback._dep_find(d));
		PERFORM partback._def_ensure_schema(d->>'schema');
		CASE d->>'kind'
		WHEN 'enum' THEN
			PERFORM partback._execute_definition(
				pg_catalog.format('CREATE TYPE %I.%I AS ENUM (%s)', d->>'schema', d->>'name',
					(SELECT COALESCE(pg_catalog.string_agg(pg_catalog.quote_literal(l), ', ' ORDER BY k), '')
					   FROM pg_catalog.jsonb_array_elements_text(d->'labels') WITH ORDINALITY a(l, k))),
				'enum', partback._dep_what(d));
		WHEN 'domain' THEN
			stmt := pg_catalog.format('CREATE DOMAIN %I.%I AS %s', d->>'schema', d->>'name', d->>'base');
			IF d->>'collation' IS NOT NULL THEN
				stmt := stmt || ' COLLATE ' || (d->>'collation');
			END IF;
			IF d->>'default' IS NOT NULL THEN
				stmt := stmt || ' DEFAULT ' || (d->>'default');
			END IF;
			IF (d->>'not_null')::boolean THEN
				stmt := stmt || ' NOT NULL';
			END IF;
			FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(d->'constraints', '[]'))
					  WHERE COALESCE((value->>'valid')::boolean, true) LOOP
				stmt := stmt || pg_catalog.format(' CONSTRAINT %I %s', x->>'name', x->>'definition');
			END LOOP;
			PERFORM partback._execute_definition(stmt, 'domain', partback._dep_what(d));
			-- NOT VALID ones stay so
			FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(d->'constraints', '[]'))
					  WHERE (value->>'valid')::boolean IS FALSE LOOP
				PERFORM partback._execute_definition(
					pg_catalog.format('ALTER DOMAIN %I.%I ADD CONSTRAINT %I %s%s',
									  d->>'schema', d->>'name', x->>'name', x->>'definition',
									  CASE WHEN x->>'definition' LIKE '% NOT VALID' THEN '' ELSE ' NOT VALID' END),
					'domain constraint',
					pg_catalog.format('constraint "%s" of %s', x->>'name', partback._dep_what(d)));
			END LOOP;
		WHEN 'composite' THEN
			SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I %s', a->>'name', a->>'type')
					|| COALESCE(' COLLATE ' || (a->>'collation'), '') ORDER BY k), '{}')
			  INTO items
			  FROM pg_catalog.jsonb_array_elements(COALESCE(d->'attributes', '[]')) WITH ORDINALITY e(a, k);
			PERFORM partback._execute_definition(
				pg_catalog.format('CREATE TYPE %I.%I AS (%s)', d->>'schema', d->>'name',
								  pg_catalog.array_to_string(items, ', ')),
				'composite', partback._dep_what(d));
		WHEN 'range' THEN
			items := ARRAY['SUBTYPE = ' || (d->>'subtype')];
			IF d->>'opclass' IS NOT NULL THEN
				items := items || ('SUBTYPE_OPCLASS = ' || (d->>'opclass'));
			END IF;
			IF d->>'collation' IS NOT NULL THEN
				items := items || ('COLLATION = ' || (d->>'collation'));
			END IF;
			IF d->>'canonical' IS NOT NULL THEN
				items := items || ('CANONICAL = ' || (d->>'canonical'));
			END IF;
			IF d->>'subtype_diff' IS NOT NULL THEN
				items := items || ('SUBTYPE_DIFF = ' || (d->>'subtype_diff'));
			END IF;
			IF d->>'multirange' IS NOT NULL THEN
				items := items || ('MULTIRANGE_TYPE_NAME = ' || (d->>'multirange'));
			END IF;
			PERFORM partback._execute_definition(
				pg_catalog.format('CREATE TYPE %I.%I AS RANGE (%s)', d->>'schema', d->>'name',
								  pg_catalog.array_to_string(items, ', ')),
				'range', partback._dep_what(d));
		WHEN 'function', 'procedure' THEN
			-- pg_get_functiondef's text, created, never replacing one
			stmt := d->>'definition';
			IF NOT pg_catalog.starts_with(stmt, 'CREATE OR REPLACE FUNCTION ')
			   AND NOT pg_catalog.starts_with(stmt, 'CREATE OR REPLACE PROCEDURE ') THEN
				RAISE EXCEPTION 'invalid definition of % in the backup of table %', partback._dep_what(d), tbl
					USING ERRCODE = 'invalid_object_definition';
			END IF;
			stmt := 'CREATE ' || pg_catalog.substr(stmt, pg_catalog.length('CREATE OR REPLACE ') + 1);
			PERFORM partback._execute_definition(stmt, 'function', partback._dep_what(d));
			IF NOT EXISTS (SELECT 1 FROM partback._dep_find(d)) THEN
				RAISE EXCEPTION 'invalid definition of % in the backup of table %', partback._dep_what(d), tbl
					USING ERRCODE = 'invalid_object_definition',
						  DETAIL = 'It creates another function: ' || (d->>'definition');
			END IF;
		WHEN 'collation' THEN
			PERFORM partback._execute_definition(
				pg_catalog.format('CREATE COLLATION %I.%I (provider = %s, %s, deterministic = %s%s)',
					d->>'schema', d->>'name',
					CASE d->>'provider' WHEN 'icu' THEN 'icu' WHEN 'builtin' THEN 'builtin' ELSE 'libc' END,
					CASE WHEN d->>'provider' = 'libc'
						 THEN pg_catalog.format('lc_collate = %L, lc_ctype = %L', d->>'lc_collate', d->>'lc_ctype')
						 ELSE pg_catalog.format('locale = %L', d->>'locale') END,
					CASE WHEN (d->>'deterministic')::boolean IS FALSE THEN 'false' ELSE 'true' END,
					CASE WHEN d->>'rules' IS NOT NULL THEN pg_catalog.format(', rules = %L', d->>'rules') ELSE '' END),
				'collation', partback._dep_what(d));
		WHEN 'sequence' THEN
			PERFORM partback._execute_definition(
				pg_catalog.format('CREATE %sSEQUENCE %I.%I AS %s %s',
					CASE WHEN (d->>'unlogged')::boolean THEN 'UNLOGGED ' ELSE '' END,
					d->>'schema', d->>'name', d->>'type', partback._def_seq_options(d)),
				'sequence', partback._dep_what(d));
		END CASE;

		SELECT f.objid INTO obj FROM partback._dep_find(d) f LIMIT 1;
		IF obj IS NULL THEN
			RAISE EXCEPTION 'invalid definition of % in the backup of table %', partback._dep_what(d), tbl
				USING ERRCODE = 'invalid_object_definition';
		END IF;
		CASE d->>'kind'
		WHEN 'collation' THEN
			PERFORM partback._dep_set_owner(pg_catalog.format('COLLATION %I.%I', d->>'schema', d->>'name'),
											d->>'schema', d->>'owner', partback._dep_what(d));
			IF d->>'comment' IS NOT NULL THEN
				EXECUTE pg_catalog.format('COMMENT ON COLLATION %I.%I IS %L', d->>'schema', d->>'name', d->>'comment');
			END IF;
		WHEN 'function', 'procedure' THEN
			PERFORM partback._dep_set_owner(pg_catalog.upper(d->>'kind') || ' ' || obj::pg_catalog.regprocedure::text,
											d->>'schema', d->>'owner', partback._dep_what(d));
			PERFORM partback._dep_grant(pg_catalog.upper(d->>'kind') || ' ' || obj::pg_catalog.regprocedure::text,
										d->'acl', d->>'owner', partback._dep_what(d));
			IF d->>'comment' IS NOT NULL THEN
				EXECUTE pg_catalog.format('COMMENT ON %s %s IS %L', pg_catalog.upper(d->>'kind'),
										  obj::pg_catalog.regprocedure, d->>'comment');
			END IF;
		WHEN 'sequence' THEN
			IF d->>'last_value' IS NOT NULL THEN
				PERFORM pg_catalog.setval(obj::pg_catalog.regclass, (d->>'last_value')::bigint,
										  COALESCE((d->>'is_called')::boolean, true));
			END IF;
			PERFORM partback._dep_set_owner('SEQUENCE ' || obj::pg_catalog.regclass::text,
											d->>'schema', d->>'owner', partback._dep_what(d));
			PERFORM partback._dep_grant('SEQUENCE ' || obj::pg_catalog.regclass::text,
										d->'acl', d->>'owner', partback._dep_what(d));
			IF d->>'comment' IS NOT NULL THEN
				EXECUTE pg_catalog.format('COMMENT ON SEQUENCE %s IS %L', obj::pg_catalog.regclass, d->>'comment');
			END IF;
		ELSE
			PERFORM partback._dep_set_owner('TYPE ' || obj::pg_catalog.regtype::text,
											d->>'schema', d->>'owner', partback._dep_what(d));
			PERFORM partback._dep_grant('TYPE ' || obj::pg_catalog.regtype::text,
										d->'acl', d->>'owner', partback._dep_what(d));
			IF d->>'comment' IS NOT NULL THEN
				EXECUTE pg_catalog.format('COMMENT ON TYPE %s IS %L', obj::pg_catalog.regtype, d->>'comment');
			END IF;
		END CASE;
	END LOOP;
END;
$$;

CREATE FUNCTION partback._dep_owned_sequences(relid oid, def jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c jsonb;
	seq oid;
	cur record;
	same_name boolean;
BEGIN
	SELECT n.nspname = def->>'schema' AND k.relname = def->>'name' INTO same_name
	  FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
	 WHERE k.oid = relid;
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(COALESCE(def->'columns', '[]'))
			  WHERE pg_catalog.jsonb_typeof(value->'sequence') = 'object' LOOP
		seq := partback._def_owned_seq(relid, c->>'name');
		CONTINUE WHEN seq IS NULL;
		SELECT k.relname::text AS name, n.nspname::text AS nsp, k.relpersistence INTO cur
		  FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
		 WHERE k.oid = seq;
		IF same_name AND c->'sequence'->>'name' IS NOT NULL AND c->'sequence'->>'name' <> cur.name
		   AND NOT partback._def_name_taken(cur.nsp, c->'sequence'->>'name') THEN
			EXECUTE pg_catalog.format('ALTER SEQUENCE %s RENAME TO %I', seq::pg_catalog.regclass,
									  c->'sequence'->>'name');
		END IF;
		IF (c->'sequence'->>'unlogged')::boolean AND cur.relpersistence = 'p' THEN
			EXECUTE pg_catalog.format('ALTER SEQUENCE %s SET UNLOGGED', seq::pg_catalog.regclass);
		END IF;
		PERFORM partback._dep_grant('SEQUENCE ' || seq::pg_catalog.regclass::text, c->'sequence'->'acl',
									def->>'owner', 'sequence ' || seq::pg_catalog.regclass::text);
	END LOOP;

	-- the other sequences its columns own, made by _dep_apply: owned by
	-- the column again, unless something else owns them
	FOR c IN SELECT * FROM pg_catalog.jsonb_array_elements(
					CASE WHEN pg_catalog.jsonb_typeof(def->'dependencies') = 'array' THEN def->'dependencies' ELSE '[]' END)
			  WHERE value->>'kind' = 'sequence' AND value->>'owned_by' IS NOT NULL LOOP
		SELECT f.objid INTO seq FROM partback._dep_find(c) f LIMIT 1;
		CONTINUE WHEN seq IS NULL
			OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
							WHERE a.attrelid = relid AND a.attname = c->>'owned_by' AND a.attnum > 0
							  AND NOT a.attisdropped)
			OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
						WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = seq
						  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
						  AND d.deptype IN ('a', 'i'));
		IF (SELECT k.relowner FROM pg_catalog.pg_class k WHERE k.oid = seq)
		   <> (SELECT k.relowner FROM pg_catalog.pg_class k WHERE k.oid = relid) THEN
			RAISE WARNING 'sequence % is not owned by column "%" of table % as in the backup: the sequence and the table have different owners',
				seq::pg_catalog.regclass, c->>'owned_by', relid::pg_catalog.regclass;
			CONTINUE;
		END IF;
		EXECUTE pg_catalog.format('ALTER SEQUENCE %s OWNED BY %s.%I', seq::pg_catalog.regclass,
								  relid::pg_catalog.regclass, c->>'owned_by');
	END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION partback._drop_foreign_keys(targets oid[])
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rels oid[];
	fk record;
	result jsonb := '[]';
BEGIN
	-- the targets and their partitions, from pg_inherits: not
	-- pg_partition_tree(), which locks every partition, all in this one
	-- transaction
	WITH RECURSIVE tree(relid) AS (
		SELECT unnest(targets)
		UNION
		SELECT i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.relid
		  JOIN pg_class c ON c.oid = i.inhrelid AND c.relispartition AND c.relkind IN ('r', 'p', 'f')
	)
	SELECT coalesce(array_agg(relid), '{}') INTO rels FROM tree;
	FOR fk IN
		SELECT c.conname, c.conrelid::regclass AS tbl, c.confrelid::regclass AS ref,
			   pg_get_constraintdef(c.oid) AS def
		  FROM pg_constraint c
		 WHERE c.contype = 'f' AND c.conparentid = 0
		   AND c.confrelid IN (SELECT unnest(rels))
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

CREATE OR REPLACE FUNCTION partback._add_foreign_keys(fks jsonb, not_valid boolean)
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
		-- A key that was NOT VALID when set aside (an earlier failed restore
		-- put it back so, say) is validated again when the data allows.
		IF NOT not_valid AND fk.definition ~ ' NOT VALID$' THEN
			BEGIN
				EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk."table", fk.name,
							   regexp_replace(fk.definition, ' NOT VALID$', ''));
				CONTINUE;
			EXCEPTION WHEN foreign_key_violation THEN
				NULL;			-- added NOT VALID below, as it was
			END;
		END IF;
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', fk."table", fk.name,
					   fk.definition,
					   CASE WHEN not_valid AND fk.definition !~ 'NOT VALID$' THEN ' NOT VALID' ELSE '' END);
	END LOOP;
END
$$;

CREATE FUNCTION partback._recover_foreign_keys()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j record;
	fk record;
	n integer := 0;
	seq integer;
	how text;
	err_state text;
	err_text text;
BEGIN
	FOR j IN SELECT job_id, state, worker_pid, dropped_foreign_keys
			   FROM partback.job
			  WHERE dropped_foreign_keys IS NOT NULL
				AND state IN ('queued', 'running', 'interrupted', 'failed', 'cancelled')
			  ORDER BY job_id
				FOR UPDATE SKIP LOCKED
	LOOP
		CONTINUE WHEN partback._effective_state(j.state, j.worker_pid, j.job_id)
			IN ('queued', 'running');
		SELECT coalesce(max(m.seq), 0) INTO seq FROM partback.job_message m
		 WHERE m.job_id = j.job_id;
		FOR fk IN SELECT * FROM jsonb_to_recordset(j.dropped_foreign_keys)
							AS x("table" text, name text, definition text)
		LOOP
			how := NULL;
			BEGIN
				IF to_regclass(fk."table") IS NULL THEN
					how := 'gone';
				ELSIF EXISTS (SELECT FROM pg_constraint
							   WHERE conrelid = fk."table"::regclass AND conname = fk.name) THEN
					how := 'present';
				ELSE
					BEGIN
						EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk."table", fk.name,
									   regexp_replace(fk.definition, ' NOT VALID$', ''));
						how := 'valid';
					EXCEPTION WHEN foreign_key_violation THEN
						EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s NOT VALID', fk."table",
									   fk.name, regexp_replace(fk.definition, ' NOT VALID$', ''));
						how := 'not valid';
					END;
				END IF;
			EXCEPTION WHEN undefined_table OR undefined_column OR undefined_object
						   OR invalid_foreign_key OR duplicate_object OR wrong_object_type THEN
				GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_text = MESSAGE_TEXT;
				how := 'error';
			END;
			CONTINUE WHEN how = 'present';
			seq := seq + 1;
			INSERT INTO partback.job_message (job_id, seq, level, table_name, sqlstate,
											 message, detail, hint)
			VALUES (j.job_id, seq,
					CASE how WHEN 'valid' THEN 'NOTICE' ELSE 'WARNING' END,
					fk."table",
					CASE how WHEN 'error' THEN err_state WHEN 'not valid' THEN '01000' ELSE '00000' END,
					CASE how
						WHEN 'valid' THEN format('foreign key %I on %s put back after the interrupted restore',
												 fk.name, fk."table")
						WHEN 'not valid' THEN format('foreign key %I on %s put back NOT VALID after the interrupted restore',
													 fk.name, fk."table")
						WHEN 'gone' THEN format('foreign key %I on %s not put back after the interrupted restore: the table no longer exists',
												fk.name, fk."table")
						ELSE format('foreign key %I on %s could not be put back after the interrupted restore: %s',
									fk.name, fk."table", err_text)
					END,
					format('Its definition: %s', fk.definition),
					CASE how
						WHEN 'not valid' THEN 'The rows do not satisfy it: calling the same restore again loads the backup whole; once the data fits, ALTER TABLE ... VALIDATE CONSTRAINT checks it.'
						WHEN 'error' THEN 'Add it again by hand with ALTER TABLE ... ADD CONSTRAINT and the definition above.'
					END);
			IF how IN ('valid', 'not valid') THEN
				n := n + 1;
			END IF;
		END LOOP;
		UPDATE partback.job SET dropped_foreign_keys = NULL WHERE job_id = j.job_id;
	END LOOP;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION partback._select_leaves(tbl regclass, partitions text[])
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
CREATE OR REPLACE FUNCTION partback._db_tables(schemas text[])
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

DROP FUNCTION partback.restore_db(text, text, text[], bigint, boolean, integer, boolean);
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

DROP FUNCTION partback.restore_table(text, text, text, text, bigint, boolean, integer, boolean);
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

DROP FUNCTION partback.restore(text, text, text, text, text, bigint, boolean, integer, boolean);
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

CREATE FUNCTION partback._manifests_listed(backup_dir text, source_db text)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'partback_manifests_listed'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback._concat_objects(a jsonb, b jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'partback_concat_objects'
LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION partback._same_cluster(manifest jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'partback_same_cluster'
LANGUAGE C STABLE STRICT;

CREATE FUNCTION partback._pickable(manifest jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'partback_pickable'
LANGUAGE C STABLE STRICT;

CREATE OR REPLACE FUNCTION partback._table_entry(backup_dir text, source_db text,
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

DROP FUNCTION partback.list_backups(text, text);
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

CREATE FUNCTION partback._live_waits()
RETURNS TABLE (job_id bigint, table_name text, waiting text)
AS 'MODULE_PATHNAME', 'partback_live_waits'
LANGUAGE C VOLATILE;

CREATE FUNCTION partback._raise_job_messages(job_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'partback_raise_job_messages'
LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION partback.wait_job(job_id bigint, timeout interval DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION partback._restore_tables(backup_dir text, source_db text,
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

CREATE OR REPLACE FUNCTION partback.get_backup_status(user_name name DEFAULT NULL)
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

REVOKE ALL ON FUNCTION partback._definition_piece(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_partition_name(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_tablespace(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_tablespace_ok(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_tablespace_clause(text, text, oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_use_tablespace(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_index_only(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_index_attach_to(oid, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_indexes(oid[], boolean, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_constraints(oid[], boolean, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_foreign_keys(oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_own_defaults(oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_not_null_of(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_not_null_clause(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_acl(pg_catalog.aclitem[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_rel_props(oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._foreign_partitions(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._notice_foreign_partitions(regclass, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_options(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_with(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_add_constraints(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_index_statistics(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_comment_constraints(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_grant(oid, jsonb, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_security_labels(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_apply_props(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_of_type(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_inherits(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_check_inherited_columns(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_create_root(jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_rename_attached_indexes(oid, oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_column_props(oid, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_create_partition(jsonb, oid, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._prepare_target(jsonb, text, text, text[], boolean, boolean, integer, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_target_partitions(jsonb, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_add_not_valid(oid, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._execute_definition(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_retarget(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_add_post_data(oid, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_add_only_indexes(jsonb, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._def_add_foreign_keys(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_objects(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_describe(oid, oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_capture(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_types_digest(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_find(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_what(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_set_owner(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_grant(text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_apply(jsonb, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._dep_owned_sequences(oid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._recover_foreign_keys() FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._db_foreign_tables(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._notice_db_foreign(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback.restore_db(text, text, text[], bigint, boolean, integer, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback.restore_table(text, text, text, text, bigint, boolean, integer, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback.restore(text, text, text, text, text, bigint, boolean, integer, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._manifests_listed(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._same_cluster(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._pickable(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback.list_backups(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._live_waits() FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._raise_job_messages(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._check_source_version(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._restore_db_backup(text, text, text[], bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._backup_ids(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback._manifest_at(text, text, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partback.get_restore_partitions(bigint) FROM PUBLIC;

-- the status view shows the error's whole story
CREATE OR REPLACE VIEW partback.jobs WITH (security_invoker = true) AS
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

-- members of pg_read_all_stats (pg_monitor among them) see every job
ALTER POLICY own_jobs ON partback.job
	USING (user_name = current_user
		   OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'));

COMMENT ON FUNCTION partback.get_restore_partitions(bigint) IS
	'which partitions of a restore job hold the backup''s content and which their old one';

-- who may execute which function (sql/install/90_privileges.sql): the
-- public functions are granted by name, the internal ones to PUBLIC and
-- guarded by src/gate.c
DO $$
DECLARE
	f record;
BEGIN
	FOR f IN SELECT pg_catalog.format('partback.%I(%s)', p.proname,
									  pg_catalog.pg_get_function_identity_arguments(p.oid)) AS sig,
					pg_catalog.starts_with(p.proname, '_') AS internal
			   FROM pg_catalog.pg_proc p
			  WHERE p.pronamespace = 'partback'::pg_catalog.regnamespace
			  ORDER BY p.oid
	LOOP
		IF f.internal THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f.sig);
		ELSE
			EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.sig);
		END IF;
	END LOOP;
END
$$;
