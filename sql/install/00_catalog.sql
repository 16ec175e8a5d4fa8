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
	dropped_foreign_keys jsonb
);

COMMENT ON TABLE partback.job IS 'one row per call of a partback backup or restore function';

-- One row per job and table: what DolphinDB calls a task.
CREATE TABLE partback.task (
	job_id		bigint NOT NULL REFERENCES partback.job ON DELETE CASCADE,
	table_name	text NOT NULL,
	target_table text,
	partitions	integer NOT NULL DEFAULT 0,
	completed	integer NOT NULL DEFAULT 0,
	rows		bigint NOT NULL DEFAULT 0,
	bytes		bigint NOT NULL DEFAULT 0,
	stored_bytes bigint NOT NULL DEFAULT 0,
	state		text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
											'cancelled', 'interrupted')),
	started_at	timestamptz,
	finished_at timestamptz,
	error		text,
	PRIMARY KEY (job_id, table_name)
);

COMMENT ON TABLE partback.task IS 'one row per job and table';
