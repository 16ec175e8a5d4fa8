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
-- Bounds are printed with pg_get_expr(relpartbound, 0): they hold no column,
-- and naming the partition opens it (a relcache entry per partition, 30 MB
-- at 10,000 leaves).
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

-- piece, a part of a statement read from a backup (a default, CHECK, index
-- body, partition key or bound...), parsed on its own as exactly one item of
-- kind and ready to be put into a statement; else an error naming what
-- (src/ddl.c).  No stored text reaches EXECUTE unchecked.
CREATE FUNCTION partback._definition_piece(piece text, kind text, what text)
RETURNS text
AS 'MODULE_PATHNAME', 'partback_definition_piece'
LANGUAGE C STRICT;

-- Is name used by a relation or a type in schema nsp?  (CREATE TABLE also
-- creates a row type of the same name.)
CREATE FUNCTION partback._def_name_taken(nsp text, name text)
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

-- The name of source partition part of source table source when the table
-- is restored as target: target with what part's name adds to source's
-- (else "_" and part's name), target cut (to no less than 15 bytes) so that
-- the whole stays within 63 bytes and the part that tells partitions apart
-- is kept.
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

-- The name of tablespace spc, NULL for the database's default (0).
CREATE FUNCTION partback._def_tablespace(spc oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.spcname::text FROM pg_catalog.pg_tablespace t WHERE t.oid = $1 AND $1 <> 0
$$;

-- May the restore put what (a table, partition, index) into tablespace
-- spc?  It must exist and be usable; else a WARNING, and the default.
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

-- " TABLESPACE x" for a table made from a def (or def partition) whose
-- "tablespace" is spc, where it may go there; else the database's default,
-- which a partition must name when its parent (parent) has one.
-- (PL/pgSQL, as _def_options: its query planned once, not at every call.)
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

-- Make default_tablespace spc (NULL: the database's) for the index about to
-- be made for what; returns the setting to put back.  pg_dump does the
-- same: an index body has no place for the clause.
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

-- Must partitioned index idx be made ON ONLY its table, its partitions'
-- indexes made on their own and attached, as pg_dump does?  When it is not
-- valid (some partitions have no index attached), or when one attached to
-- it backs a partition's own constraint (else the restore would make that
-- partition a second index).
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

-- The name of the index that index idx is attached to, where that one is
-- made ON ONLY (_def_index_only, or one of only_idx when given: the
-- caller found them once for a whole tree), else NULL.
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

-- Indexes of each of rels as JSON (no row for a relation without any): all
-- of them that do not back a constraint (local_only: also only those not
-- attached to an index of the parent, or attached to one made ON ONLY:
-- "attach_to").  "only": made ON ONLY.  Failed CREATE INDEX CONCURRENTLY
-- leftovers are skipped.  Like the three below, it takes every relation of
-- a tree at once: a LANGUAGE sql function is planned again at each call,
-- and a call per partition was a third of a capture's time.
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

-- Non-FK constraints (CHECK, PRIMARY KEY, UNIQUE, EXCLUDE) of each of rels
-- as JSON (local_only: only those defined on the relation itself, not
-- inherited); no row for a relation without any.
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

-- Foreign keys declared on each of rels itself as JSON (no row for a
-- relation without any): not those a partition has from its parent's, nor
-- the clones made when the referenced table is partitioned (conparentid,
-- both).
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

-- The defaults of the columns of each partition of rels that differ from
-- its parent's (NULL "default": it has none where the parent has one); no
-- row for a partition without any.
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


-- The NOT NULL entry of column col in a def's (or a def partition's)
-- "not_null" array, or NULL.
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

-- " NOT NULL" for a column, as a column constraint with its name where the
-- backup has one; '' for a NOT VALID one (added after the load).
CREATE FUNCTION partback._def_not_null_clause(n jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN $1 IS NULL OR ($1->>'valid')::boolean IS FALSE THEN ''
				ELSE CASE WHEN $1->>'name' IS NOT NULL THEN pg_catalog.format(' CONSTRAINT %I', $1->>'name') ELSE '' END || ' NOT NULL'
					 || CASE WHEN ($1->>'no_inherit')::boolean THEN ' NO INHERIT' ELSE '' END END
$$;

-- A relation's privileges as JSON: [{"grantee" (a role name, or NULL for
-- PUBLIC), "privilege", "grantable"}], or NULL for the default ones.
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

-- What pg_dump emits for each relation of rels besides its columns,
-- constraints and indexes: the NOT NULL columns in column order (PostgreSQL
-- 18 records each as a constraint with a name, and lets it be NOT VALID or
-- NO INHERIT; before 18 only the column's flag exists: name NULL, valid),
-- owner, privileges, row security and its policies, replica identity, the
-- index it is clustered on, TOAST options, security labels, and what is
-- added after the data.  One query for all of a table's relations, planned once: trees may
-- have many thousand partitions.  (LANGUAGE sql: as PL/pgSQL, whose RETURN
-- QUERY keeps the rows for the caller, a capture of 1,500 partitions took
-- 13 MB more.)
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

-- The partition tree below tbl (nothing for a plain table), ordered by path,
-- so parents come before their children.
CREATE FUNCTION partback._def_tree(tbl regclass)
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

---------------------------------------------------------------------------
-- _leaves
---------------------------------------------------------------------------

-- The leaf partitions of tbl (tbl itself for a plain table), ordered by path;
-- not its foreign partitions, whose data lives on a foreign server.
CREATE FUNCTION partback._leaves(tbl regclass)
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

-- The foreign tables among the partitions of tbl, ordered by path.  A
-- backup copies no data of theirs (it lives on a foreign server); the
-- definition marks them "foreign", and a restore neither loads nor creates
-- them.
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

-- A NOTICE for each foreign partition of tbl that a backup of its
-- partitions (NULL: all; else as _select_leaves takes them) leaves out.
-- Returns how many.
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

---------------------------------------------------------------------------
-- _capture_table
---------------------------------------------------------------------------

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

-- Everything needed to recreate tbl elsewhere:
--	{"schema", "name", "partitioned", "partition_key", "unlogged", "options",
--	 "columns": [{"name", "type", "collation", "not_null", "default",
--				  "identity", "generated", "generated_kind", "serial",
--				  "sequence", "storage", "statistics", "options",
--				  "compression", "acl", "comment", "local"}],
--	 "not_null": [{"column", "name", "valid", "no_inherit"}],
--	 "constraints": [{"name", "type", "definition", "valid", "comment", "local"}],
--	 "of_type", "inherits",
--	 "foreign_keys": [{"name", "definition", "columns", "referenced", "self"}],
--	 "indexes": [{"name", "unique", "definition", "comment"}],
--	 "comment",
--	 "partitions": [{"path", "path_elems", "schema", "name", "parent_path",
--					 "bound", "partition_key", "leaf", "foreign", "unlogged",
--					 "options", "not_null", "constraints", "indexes", "comment",
--					 and the members of _def_rel_props}],
--	 and the members of _def_rel_props: "owner", "acl", "row_security",
--	 "force_row_security", "policies", "replica_identity",
--	 "replica_identity_index", "clustered_on", "toast_options", "triggers",
--	 "rules", "statistics", "publications", "security_labels"; and
--	 "dependencies" (21_dependencies.sql)}
-- Types, collations and expressions are printed with search_path =
-- pg_catalog, so everything outside pg_catalog is schema-qualified.
-- "generated_kind" is "stored" or "virtual" (PostgreSQL 18); "not_null"
-- lists the NOT NULL columns, with their constraint's name and validity
-- where PostgreSQL records them as constraints (18).  Backups without these
-- members mean stored generated columns and columns' "not_null".  "of_type"
-- is the type of a typed table (CREATE TABLE ... OF); "inherits" its
-- parents under legacy inheritance, in order; a column or constraint with
-- "local": false comes from them (or from the type) only.  Never compiled
-- by JIT (nor is anything a job leader runs): its plans over thousands of
-- partitions cost enough to be, which took time and memory for nothing.
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
CREATE FUNCTION partback._capture_table(tbl regclass)
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

---------------------------------------------------------------------------
-- Creating relations from a def
---------------------------------------------------------------------------

-- Stored options ("name=value" strings) as "name='value', ...", each name
-- prefixed by prefix (toast.); NULL for none.  PL/pgSQL, not SQL: called
-- for every partition a restore creates, where a SQL function's query was
-- planned again at each call, and most relations have no options at all.
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

-- " WITH (...)" for stored reloptions, or ''.
CREATE FUNCTION partback._def_with(options jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN COALESCE(' WITH (' || partback._def_options(options) || ')', '');
END;
$$;

-- May a constraint named conname of type contype be added to rel (in schema
-- nsp; rel NULL = about to be created)?  Index-backed constraints need a
-- free relation name in the schema.
CREATE FUNCTION partback._def_constraint_name_free(rel oid, nsp text, conname text, contype text)
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

-- Add the valid constraints of a def's "constraints" array to the existing
-- relation rel.  NOT VALID ones hold for new rows, which the backup's rows
-- may break: _finish_target adds them after the load.
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

-- Give the index of rel made from def index i (by its name) the statistics
-- targets of its columns.
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

-- The comments of a def's "constraints" on rel's constraints of the same
-- names.
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

-- Grant the privileges of a def's "acl" array on rel (or on its column col)
-- to the roles that exist here; a missing grantee is a WARNING.  On the
-- table, the backup's owner (source_owner) keeps its defaults but for
-- owner_revoked, whoever owns rel here; on a column, what it was granted
-- goes to rel's owner.
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

-- Put on rel and its columns the security labels of a def's (or def
-- partition's) "security_labels", [{"provider", "label", "column"}], each
-- in a subtransaction: a provider that is not loaded here (22023) makes a
-- WARNING naming the table, column, provider and label, and the label is
-- left off; so does a column that rel lacks.
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

-- Give rel, just created from a def (or a def partition), what
-- _def_rel_props captured: owner (where the role exists and may own it, else
-- a WARNING), privileges, row security and policies, replica identity,
-- clustering index, TOAST options, security labels.
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

-- The type of typed table def (CREATE TABLE ... OF), as SQL, or NULL; it
-- must exist here.  what names the table.
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

-- The parents of def under legacy inheritance (INHERITS), as SQL, or NULL;
-- they must exist here.  what names the table.
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

-- rel, just made from typed or inheriting def, must have def's columns (the
-- type or a parent here may differ from the source's); then the columns it
-- took from them get what def says of their defaults and NOT NULL.
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

-- Create the root table of def as nsp.name (which must not exist); returns
-- its oid.  NOT VALID constraints are left to _finish_target.
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

-- Give the indexes of partition relid that PostgreSQL made for the indexes
-- of its parent the names they had (a partition's "index_names": {"parent's
-- index name": "name"}), where that name is free.
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

-- Set the column properties of cols (a def's "columns", or a partition's
-- "column_props") on relid: comment, storage, statistics target, attribute
-- options, compression, privileges.
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

-- Create partition part (an element of a def's "partitions") of parent as
-- nsp.name, with its local constraints, indexes and comment.
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
--
-- With lock_budget, it stops once the partitions it created or dropped
-- hold about that many locks (each partition, its TOAST table and its
-- indexes one each), returns the rows of the leaves it has matched or made
-- so far and then one row of NULLs: the caller commits, releasing the
-- locks, and calls again for the other leaves, passing in done the target
-- leaves it has (which, with their ancestors, are then neither matched
-- again nor dropped).  So a tree of any size is made with the server's
-- max_locks_per_transaction, and no call matches every partition again.
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

---------------------------------------------------------------------------
-- _finish_target
---------------------------------------------------------------------------

-- The partitions of target standing for the def's partitions, found as
-- _prepare_target matched them: level by level, by bound.
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

-- Add to rel the NOT VALID constraints and NOT NULLs (a def's or a def
-- partition's "constraints" and "not_null") that it lacks.  After the load:
-- they hold for new rows only, and the backup's rows may break them.
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

-- Run sql, a definition built from a backup: it must parse as exactly one
-- statement of kind (trigger, rule, statistics, policy, publication, table,
-- alter table, index), or
-- nothing runs (src/ddl.c).  what names the item for the error.
CREATE FUNCTION partback._execute_definition(sql text, kind text, what text)
RETURNS void
AS 'MODULE_PATHNAME', 'partback_execute_definition'
LANGUAGE C STRICT VOLATILE;

-- The text of a captured definition made for table source (schema.name,
-- quoted) made for table target instead: its first " <keyword> source"
-- followed by a space or a line break becomes " <keyword> target".  NULL if
-- it is not there.
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

-- Add to rel what a def (or def partition) props holds that is added after
-- the data, as pg_restore does: NOT VALID constraints, triggers and their
-- enable states, rules, extended statistics, publication memberships --
-- those rel lacks.  source is the table the definitions were captured
-- from (schema.name, quoted).
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

-- Make the indexes of def (root and partitions, target their counterparts)
-- that are ON ONLY their table, then attach to them the partitions' indexes
-- and constraints that were ("attach_to"); those were made with the
-- partitions.
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

-- Add to target the foreign keys of a def's (or a def partition's)
-- "foreign_keys" that it lacks; one referencing the source table itself
-- references target.
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

-- After the data is loaded: what pg_restore adds after the data
-- (_def_add_post_data), sequence positions, then foreign keys.
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
