-- partback: job catalog.  Everything a job did is kept here, so status
-- survives restarts.

\echo Use "CREATE EXTENSION partback" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it.
CREATE SCHEMA partback;

CREATE SEQUENCE partback.job_id_seq;
-- wait_job tells a job id that was handed out (its job may be starting)
-- from one that never was
GRANT SELECT ON SEQUENCE partback.job_id_seq TO PUBLIC;

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
	resume_key	text,
	-- the rest of the error's story: what a waiting caller gets
	error_detail text,
	error_hint	text,
	error_context text
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
	-- a restore's target table, once prepared
	target_relid oid,
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

-- Relations a restore loads one partition into from several copy workers
-- at once, until the worker that loads the last data file swaps the
-- relation's content in (restore.c, "parts").  One left by a job that did
-- not get that far is dropped by the next restore in the database.
CREATE TABLE partback.transient_heap (
	relid		oid PRIMARY KEY,
	job_id		bigint NOT NULL,
	target		oid NOT NULL	-- the partition whose content it becomes
);

COMMENT ON TABLE partback.transient_heap IS 'relations restores load partitions into from several workers, until swapped in';

-- What a job reports besides its end state: each table that failed (level
-- ERROR; the job went on with the others), and the WARNINGs and NOTICEs
-- raised while it ran (a role missing for an owner or GRANT, a partition a
-- restore dropped with its row count, ...).  A caller waiting for the job
-- gets them again, raised at their level.
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
