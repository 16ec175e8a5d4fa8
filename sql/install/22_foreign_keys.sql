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

-- Put back the foreign keys that interrupted restores of this database set
-- aside (their leader is gone: a crash, a kill, a shutdown): each valid if
-- the data satisfies it, else NOT VALID.  Each job's messages
-- (partback.job_message) say what was put back and how.  Run by a worker
-- the launcher starts when the server starts, and by every restore before
-- it sets keys aside.  Returns how many keys were put back.
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
