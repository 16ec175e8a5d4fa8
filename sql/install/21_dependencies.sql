-- 21_dependencies.sql
-- What a table needs besides itself: self-contained backups.
--
-- A backup holds, in its table definition's "dependencies" member, the
-- user-defined types its columns use (enums, domains, composites, ranges,
-- recursively; arrays and multiranges through their element and range),
-- the standalone sequences its defaults use, and the functions its
-- defaults, CHECKs, generated columns, indexes, triggers and policies,
-- and those types, call; an object that belongs to an extension is never
-- taken itself, the extension is recorded by name instead.  The
-- dependencies are found with pg_depend, not from the texts.
--
-- A restore checks them all before it changes anything (_dep_apply with
-- do_create false): an extension missing here must be available, an object
-- of the same name here must have the same definition.  Then it creates
-- the missing ones, deepest first, each from a single statement of its kind
-- (partback._execute_definition, src/ddl.c), as the restoring role.
--
-- The digest of the definitions of a table's column types
-- (_dep_types_digest) is part of the column signature of its partitions
-- (src/backup.c): a chunk is not taken over when a type changed.
--
-- Hooks in 20_definition.sql: _capture_table adds _dep_capture(),
-- _prepare_target calls _dep_apply(), _def_create_root calls
-- _dep_owned_sequences(); src/restore.c calls _dep_apply(def, false) for
-- every table of a job before it prepares any.

---------------------------------------------------------------------------
-- Finding them
---------------------------------------------------------------------------

-- The objects tbl (and its partitions) depends on: types, functions,
-- sequences, with the greatest depth at which each is reached (an object
-- is created before those at a lower depth), and the extension it belongs
-- to (not looked into further).  The walk goes through composite types'
-- relations and domains' constraints; not into the table's own identity and
-- serial sequences, nor into tables (a column of a table's row type).
-- For each of tbls (root) at once: a backup of thousands of tables walked
-- for each in turn, and most of the time went to starting the walk.
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

-- The definition of a type, function or sequence, as far as it must match
-- an object of the same name (no owner, comment nor sequence position).
-- Type and expression texts with search_path = pg_catalog: schema-qualified.
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

-- The "dependencies" member of tbl's definition: an array, in creation
-- order, of {"kind": "extension", "name", "schema", "version"} and of
-- _dep_describe() of each enum, domain, composite, range, function and
-- sequence, with "owner", "comment" and, for a sequence, "last_value" and
-- "is_called"; last, the sequences owned by a column of tbl (OWNED BY) that
-- are not its identity or serial sequence, with "owned_by" (the column).
-- {} when there is nothing.
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

-- For each of tbls, a digest of the definitions of the types its columns
-- use, through domains, arrays, composites and ranges (enum labels
-- included); no row when they are all built in.  Part of the column
-- signature (src/backup.c).
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

---------------------------------------------------------------------------
-- Creating them
---------------------------------------------------------------------------

-- The object here of the same kind and name as d (an element of a
-- definition's "dependencies"): its classid and oid, or nothing.  A type
-- name taken by another kind of type, or a sequence name by another kind of
-- relation, is found too (and then differs).
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

-- How d (an element of "dependencies") is named in messages.
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

-- Give the object obj (an ALTER ... OWNER TO target: 'TYPE x', 'FUNCTION
-- f(...)', 'SEQUENCE s'), just created, to owner where the role exists and
-- the restoring role may; else a WARNING naming it.
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

-- Give the object obj just created ('TYPE x', 'FUNCTION f(...)', 'SEQUENCE
-- s') the privileges acl (_def_acl's form) where the backup has them, as
-- pg_dump does: what PUBLIC gets by default is revoked, then each grant
-- made; the source owner's own stay the owner's.  A grantee that does not
-- exist is a WARNING naming it.
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

-- Check, then (do_create) create, what def's "dependencies" lists.  Before
-- anything is created: an extension not here must be available, an object
-- of the same name here must have the same definition (else an ERROR
-- naming it and the difference, and nothing changed).
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

-- After CREATE TABLE made relid from def, and gave it its owner: give each
-- identity or serial sequence its persistence in the backup and, when the
-- table has its backed-up name, its name too (where it is free; restored
-- under another name, the table's sequences are named after it, as
-- PostgreSQL names them; an owned sequence stays in its table's schema);
-- make the other sequences its columns own (OWNED BY) owned again.  (The
-- options and positions are set by _def_create_root and _finish_target.)
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
