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
