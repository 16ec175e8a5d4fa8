/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Background workers: submitting a job, its leader, its copy workers.
 *
 *		The caller hands the job's arguments to a new leader through a small
 *		pinned DSM segment (or queues it when no worker slot is free; the
 *		launcher starts it later).  The leader records the job in
 *		partback.job in its own transaction, acknowledges, plans the job
 *		and hands units of work -- chunks to back up, partitions to restore
 *		-- to its copy workers through a second DSM segment.  So a job does
 *		not depend on the caller's transaction, and a caller who waits
 *		(wait => true) can do so inside a single statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "partback.h"
#include "gate.h"

/*
 * A queued job is either started by its leader or cancelled before; the
 * first to claim it wins.
 */
#define CLAIMED_BY_NONE		0
#define CLAIMED_BY_LEADER	1
#define CLAIMED_BY_CANCEL	2

/* How far the leader has come, as seen by the caller. */
#define STAGE_SUBMITTED	0
#define STAGE_ACCEPTED	1		/* job row committed */
#define STAGE_FINISHED	2		/* final state below is set */

typedef struct PbHandoff
{
	pg_atomic_uint32 stage;
	pg_atomic_uint32 claimed;	/* CLAIMED_BY_*: who unpins the segment */
	dsm_handle	handle;			/* of this segment */
	int			caller_procno;
	Oid			database;
	Oid			user;
	int64		job_id;
	pid_t		leader_pid;
	char		final_state[16];
	PbError		error;
	/* the backup dir's identity when the call checked it, if it existed */
	bool		dir_known;
	uint64		dir_dev;
	uint64		dir_ino;
	Size		args_len;
	char		args[FLEXIBLE_ARRAY_MEMBER];
} PbHandoff;

/*
 * Copy src into dst of size bytes, cut at a character boundary: a message
 * naming long non-ASCII names must not end in half a character.
 */
static void
copy_clipped(char *dst, const char *src, size_t size)
{
	int			len = pg_mbcliplen(src, strlen(src), (int) size - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
save_error(PbError *error, ErrorData *edata)
{
	memcpy(error->sqlstate, unpack_sql_state(edata->sqlerrcode), 5);
	copy_clipped(error->message, edata->message, sizeof(error->message));
	if (edata->detail)
		copy_clipped(error->detail, edata->detail, sizeof(error->detail));
	if (edata->hint)
		copy_clipped(error->hint, edata->hint, sizeof(error->hint));
	if (edata->context)
		copy_clipped(error->context, edata->context, sizeof(error->context));
}

/* Raise an error saved by another process as this one's. */
static void
raise_error(PbError *error, const char *context)
{
	char	   *s = error->sqlstate;

	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])),
			 errmsg("%s", error->message),
			 error->detail[0] ? errdetail("%s", error->detail) : 0,
			 error->hint[0] ? errhint("%s", error->hint) : 0,
			 error->context[0] ? errcontext("%s", error->context) : 0,
			 context ? errcontext("%s", context) : 0));
}

static void
set_caller_latch(PbHandoff *handoff)
{
	SetLatch(&ProcGlobal->allProcs[handoff->caller_procno].procLatch);
}

static int64
next_job_id(void)
{
	Oid			nsp = get_namespace_oid("partback", false);
	Oid			seq = get_relname_relid("job_id_seq", nsp);
	int64		id;

	pb_catalog_begin();
	id = DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq)));
	pb_catalog_end();
	return id;
}

/*
 * Cancel a job before its leader starts: claim it, take it out of the
 * queue, tell a waiting caller, record it as cancelled (unless the caller
 * is in an aborted transaction).  False if its
 * leader has claimed it first.
 */
static bool
cancel_queued(PbHandoff *handoff, bool record)
{
	uint32		expected = CLAIMED_BY_NONE;
	PbJob	   *job;

	if (!pg_atomic_compare_exchange_u32(&handoff->claimed, &expected, CLAIMED_BY_CANCEL))
		return false;
	(void) pb_queue_remove(handoff->job_id, NULL);
	strlcpy(handoff->final_state, "cancelled", sizeof(handoff->final_state));
	memcpy(handoff->error.sqlstate, unpack_sql_state(ERRCODE_QUERY_CANCELED), 5);
	strlcpy(handoff->error.message, "partback job was cancelled before it started",
			sizeof(handoff->error.message));
	pg_write_barrier();
	pg_atomic_write_u32(&handoff->stage, STAGE_FINISHED);
	set_caller_latch(handoff);
	dsm_unpin_segment(handoff->handle);

	if (record)
	{
		job = pb_job_from_json(handoff->args);
		pb_job_insert(job, GetUserNameFromId(handoff->user, false), "cancelled");
		pb_job_finish(job->job_id, "cancelled", 0, "57014",
					  "partback job was cancelled before it started");
	}
	return true;
}

/*
 * Wait until the leader reaches stage, or exits.  Returns false if it
 * exited first.  A caller interrupted while waiting cancels the job.
 */
static bool
wait_for_stage(PbHandoff *handoff, uint32 stage)
{
	bool		reached = false;

	PG_TRY();
	{
		for (;;)
		{
			pid_t		pid = handoff->leader_pid;

			if (pg_atomic_read_u32(&handoff->stage) >= stage)
			{
				reached = true;
				break;
			}
			/*
			 * The leader sets its pid before it connects to the database,
			 * so it is not in the proc array yet: ask the kernel whether
			 * the process is gone.
			 */
			if (pid != 0 && kill(pid, 0) != 0 && errno == ESRCH)
			{
				pg_memory_barrier();
				reached = pg_atomic_read_u32(&handoff->stage) >= stage;
				break;
			}
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		if (handoff->leader_pid != 0)
			kill(handoff->leader_pid, SIGINT);
		else
			(void) cancel_queued(handoff, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return reached;
}

/*
 * Register a dynamic background worker of partback's, in a database,
 * passing it a DSM segment.  False when no worker slot is free.
 */
static bool
register_worker(const char *function, const char *name, const char *type,
				dsm_handle handle, bool notify_me, BackgroundWorkerHandle **bgw_handle,
				int64 job_id)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *ignored;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "partback");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	worker.bgw_main_arg = UInt32GetDatum(handle);
	worker.bgw_notify_pid = notify_me ? MyProcPid : 0;
	memcpy(worker.bgw_extra, &job_id, sizeof(job_id));
	return RegisterDynamicBackgroundWorker(&worker, bgw_handle ? bgw_handle : &ignored);
}

/*
 * Register the leader of a job whose arguments are in the DSM segment
 * handle.  False when no worker slot is free.
 */
bool
pb_start_leader(int64 job_id, dsm_handle handle, bool notify_me)
{
	return register_worker("partback_leader_main",
						   psprintf("partback job " INT64_FORMAT " leader", job_id),
						   psprintf("partback job " INT64_FORMAT " leader", job_id),
						   handle, notify_me, NULL, job_id);
}

/*
 * Start a job and return its id once it is recorded -- or at once, when it
 * has to wait in the queue for a worker slot.  With wait, return only when
 * it ended, raising its error if it failed.
 */
int64
pb_submit_job(PbJob *job, bool wait)
{
	char	   *args;
	Size		args_len;
	dsm_segment *seg;
	PbHandoff  *handoff;
	bool		started;
	bool		limited;
	int			running;

	job->job_id = next_job_id();
	args = pb_job_to_json(job);
	args_len = strlen(args) + 1;

	seg = dsm_create(offsetof(PbHandoff, args) + args_len, 0);
	handoff = dsm_segment_address(seg);
	memset(handoff, 0, offsetof(PbHandoff, args));
	pg_atomic_init_u32(&handoff->stage, STAGE_SUBMITTED);
	pg_atomic_init_u32(&handoff->claimed, CLAIMED_BY_NONE);
	handoff->handle = dsm_segment_handle(seg);
	handoff->caller_procno = PB_MY_PROC_NUMBER;
	handoff->database = MyDatabaseId;
	handoff->user = GetUserId();
	handoff->job_id = job->job_id;
	handoff->dir_known = pb_backup_dir_identity(job->backup_dir, &handoff->dir_dev,
												&handoff->dir_ino);
	handoff->args_len = args_len;
	memcpy(handoff->args, args, args_len);
	/* the leader may start after this caller is gone */
	dsm_pin_segment(seg);

	/*
	 * A role other than a superuser runs at most partback.max_jobs_per_role
	 * jobs at a time; its others wait in the queue, so that its jobs leave
	 * worker slots to other roles.
	 */
	limited = !superuser();
	if (pb_leader_reserve(job->job_id, GetUserId(), limited, &running))
	{
		started = pb_start_leader(job->job_id, dsm_segment_handle(seg), true);
		if (!started)
			pb_leader_unreserve(job->job_id);
	}
	else
	{
		started = false;
		if (limited && partback_max_jobs_per_role > 0 && running >= partback_max_jobs_per_role)
			ereport(NOTICE,
					(errmsg("partback job " INT64_FORMAT " waits in the queue: role %s runs %d partback jobs, partback.max_jobs_per_role",
							job->job_id, GetUserNameFromId(GetUserId(), false), running),
					 errhint("It starts when one of them ends.")));
	}
	if (!started)
	{
		PbQueuedJob queued;

		memset(&queued, 0, sizeof(queued));
		queued.job_id = job->job_id;
		queued.database = MyDatabaseId;
		queued.handle = dsm_segment_handle(seg);
		queued.queued_at = GetCurrentTimestamp();
		strlcpy(queued.user_name, GetUserNameFromId(GetUserId(), false), NAMEDATALEN);
		strlcpy(queued.job_type, pb_job_type_name(job->type), sizeof(queued.job_type));
		strlcpy(queued.source_db, job->source_db, NAMEDATALEN);
		queued.user = GetUserId();
		queued.limited = limited;
		if (!pb_queue_add(&queued))
		{
			dsm_unpin_segment(dsm_segment_handle(seg));
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a partback job: no background worker slot is free and the queue of waiting jobs is full"),
					 errhint("Raise max_worker_processes, or wait for other jobs to end.")));
		}
	}

	if (!wait)
	{
		/* a started job is recorded before the call returns */
		if (started && !wait_for_stage(handoff, STAGE_ACCEPTED))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("partback job " INT64_FORMAT " exited before it started", job->job_id),
					 errhint("See the server log.")));
		dsm_detach(seg);
		return job->job_id;
	}

	if (!wait_for_stage(handoff, STAGE_FINISHED))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("partback job " INT64_FORMAT " was interrupted: its leader exited",
						job->job_id),
				 errhint("Call the same function again to resume it.")));
	/* what the job reported besides its end, then its error */
	pb_messages_raise(job->job_id);
	if (strcmp(handoff->final_state, "succeeded") != 0)
		raise_error(&handoff->error,
					psprintf("partback job " INT64_FORMAT " %s", job->job_id,
							 handoff->final_state));
	dsm_detach(seg);
	return job->job_id;
}

PG_FUNCTION_INFO_V1(partback_dequeue);

/*
 * _dequeue(job_id): cancel a job still waiting in the queue for a worker
 * slot; a caller waiting for it gets the cancel as the job's error.
 */
Datum
partback_dequeue(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	PbQueuedJob job;
	dsm_segment *seg;
	bool		cancelled;

	pb_gate_check_call(fcinfo);
	if (!pb_queue_first_of(job_id, &job))
		PG_RETURN_BOOL(false);
	if (!superuser() && strcmp(job.user_name, GetUserNameFromId(GetUserId(), false)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to cancel partback job " INT64_FORMAT, job_id),
				 errdetail("Only its user and superusers may cancel a job.")));
	seg = dsm_attach(job.handle);
	if (seg == NULL)
		PG_RETURN_BOOL(false);
	cancelled = cancel_queued(dsm_segment_address(seg), true);
	dsm_detach(seg);
	PG_RETURN_BOOL(cancelled);
}

/* Each job records its own success, in its last transaction. */
static void
run_job(PbJob *job)
{
	if (pb_job_is_backup(job))
		(void) pb_run_backup(job);
	else
		pb_run_restore(job);
}

static void
finish(PbHandoff *handoff, const char *state, ErrorData *edata)
{
	strlcpy(handoff->final_state, state, sizeof(handoff->final_state));
	if (edata)
		save_error(&handoff->error, edata);
	pg_write_barrier();
	pg_atomic_write_u32(&handoff->stage, STAGE_FINISHED);
	set_caller_latch(handoff);
}

static void
worker_signals(void)
{
	/* SIGINT (cancel_job, a waiting caller's cancel) ends the job as cancelled */
	pqsignal(SIGINT, StatementCancelHandler);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
}

void
partback_leader_main(Datum main_arg)
{
	dsm_handle	handle = DatumGetUInt32(main_arg);
	dsm_segment *seg;
	PbHandoff  *handoff;
	PbJob	   *job;
	MemoryContext job_context;

	worker_signals();
	{
		int64		job_id;

		/* this leader counts against its role's limit until it exits */
		memcpy(&job_id, MyBgworkerEntry->bgw_extra, sizeof(job_id));
		pb_leader_attach(job_id);
	}
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "partback leader");
	seg = dsm_attach(handle);
	if (seg == NULL)
		proc_exit(0);			/* nobody waits for this job any more */
	handoff = dsm_segment_address(seg);
	{
		uint32		expected = CLAIMED_BY_NONE;

		if (!pg_atomic_compare_exchange_u32(&handoff->claimed, &expected,
											CLAIMED_BY_LEADER))
			proc_exit(0);		/* cancelled while it waited */
	}
	dsm_unpin_segment(handle);
	handoff->leader_pid = MyProcPid;

	BackgroundWorkerInitializeConnectionByOid(handoff->database, handoff->user, 0);
	pb_live_claim(handoff->job_id);
	pb_gate_open_worker();

	job_context = AllocSetContextCreate(TopMemoryContext, "partback job",
										ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(job_context);

	pb_xact_begin();
	job = pb_job_from_json(handoff->args);

	/*
	 * A worker's own partback.allowed_dirs comes from the server's, the
	 * database's and the role's settings; the job checks its backup dir
	 * against the caller's, as the call did.  Only a superuser can have set
	 * it, so the role this worker runs as may take it over.
	 */
	if (job->allowed_dirs)
		SetConfigOption("partback.allowed_dirs", job->allowed_dirs, PGC_SUSET, PGC_S_SESSION);
	/*
	 * The leader's catalog queries over thousands of partitions are
	 * estimated dear enough to be JIT-compiled, which took longer than
	 * running them (half of a 10,000-leaf backup's planning).
	 */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname(psprintf("partback job " INT64_FORMAT " %s", job->job_id,
								   pb_job_type_name(job->type)));
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("partback job " INT64_FORMAT " %s", job->job_id,
									pb_job_type_name(job->type)));
	pb_job_insert(job, GetUserNameFromId(GetUserId(), false), "running");
	pb_xact_end();
	pb_messages_capture(job->job_id);

	pg_atomic_write_u32(&handoff->stage, STAGE_ACCEPTED);
	set_caller_latch(handoff);

	PG_TRY();
	{
		/*
		 * The dir as the call checked it: a job may wait long in the queue,
		 * and the dir be replaced meanwhile (by a link out of
		 * partback.allowed_dirs, say).
		 */
		pb_xact_begin();
		pb_backup_dir_recheck(job->backup_dir, handoff->dir_known,
							  handoff->dir_dev, handoff->dir_ino);
		pb_xact_end();
		/* the jobs that ended long ago go (history.c) */
		pb_prune_job_history(job->job_id);
		run_job(job);
		finish(handoff, "succeeded", NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		const char *state;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(job_context);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		QueryCancelPending = false;
		RESUME_INTERRUPTS();

		state = edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? "cancelled" : "failed";

		pb_release_claims();
		pb_xact_begin();
		pb_messages_set_table(NULL);
		pb_messages_flush(job->job_id);
		pb_job_finish(job->job_id, state, 0, unpack_sql_state(edata->sqlerrcode),
					  edata->message);
		pb_job_error_story(job->job_id, edata);
		pb_xact_end();

		finish(handoff, state, edata);
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

/* ---------- copy workers ---------- */

/* the string space a unit's strings take in a PbWork */
Size
pb_unit_strings(const char *path, const char *file)
{
	return strlen(path) + strlen(file) + 2;
}

static Size
work_put_str(PbWork *work, const char *s)
{
	Size		len = strlen(s) + 1;
	Size		off = work->str_start + work->str_used;

	if (work->str_used + len > work->str_size)
		elog(ERROR, "partback work area has no room for \"%s\"", s);
	memcpy((char *) work + off, s, len);
	work->str_used += len;
	return off;
}

const char *
pb_work_str(PbWork *work, Size off)
{
	return (const char *) work + off;
}

/*
 * The shared work of job's copy workers: nunits units, whose strings take
 * unit_strings bytes (pb_unit_strings).  No string has a size limit here:
 * each takes what it needs.
 */
PbWork *
pb_work_create(PbJob *job, int nunits, Size unit_strings, dsm_segment **seg)
{
	char	   *db_dir = pb_db_dir(job->backup_dir, job->source_db);
	const char *allowed = job->allowed_dirs ? job->allowed_dirs : "";
	Size		str_start = add_size(offsetof(PbWork, units), mul_size(nunits, sizeof(PbUnit)));
	Size		str_size = add_size(unit_strings,
									strlen(db_dir) + strlen(job->backup_dir) + strlen(allowed) + 3);
	Size		size = add_size(str_start, str_size);
	PbWork	   *work;

	*seg = dsm_create(size, 0);
	work = dsm_segment_address(*seg);
	memset(work, 0, size);
	work->nunits = nunits;
	work->database = MyDatabaseId;
	work->user = GetUserId();
	work->str_start = str_start;
	work->str_size = str_size;
	work->db_dir_off = work_put_str(work, db_dir);
	work->backup_dir_off = work_put_str(work, job->backup_dir);
	work->allowed_dirs_off = work_put_str(work, allowed);
	work->dir_known = pb_backup_dir_identity(job->backup_dir, &work->dir_dev,
											 &work->dir_ino);
	pg_atomic_init_u32(&work->next_unit, 0);
	pg_atomic_init_u32(&work->units_ready, nunits);
	pg_atomic_init_u32(&work->publishing, 0);
	pg_atomic_init_u32(&work->units_done, 0);
	pg_atomic_init_u32(&work->failed, 0);
	pg_atomic_init_u32(&work->workers_exited, 0);
	pg_atomic_init_u32(&work->leader_gone, 0);
	SpinLockInit(&work->mutex);
	return work;
}

/* Make unit i of work a copy of unit, its strings included. */
void
pb_work_set_unit(PbWork *work, int i, const PbUnit *unit)
{
	PbUnit	   *u = &work->units[i];

	*u = *unit;
	u->path_off = work_put_str(work, unit->path);
	u->file_off = work_put_str(work, unit->file);
	u->path = NULL;
	u->file = NULL;
}

/*
 * Publishing: the units of work are made ready as the leader prepares
 * them, while copy workers do those ready (pb_work_run's leader_step
 * publishes them).  Before pb_work_run; nunits of pb_work_create is then
 * the room for units, and the units ready when publishing ends are the
 * work.
 */
void
pb_work_begin_publishing(PbWork *work)
{
	pg_atomic_write_u32(&work->units_ready, 0);
	pg_atomic_write_u32(&work->publishing, 1);
}

/* Units [0, nready) are set (pb_work_set_unit) and may be taken. */
void
pb_work_publish(PbWork *work, int nready)
{
	Assert(nready <= work->nunits);
	pg_write_barrier();
	pg_atomic_write_u32(&work->units_ready, (uint32) nready);
}

void
pb_work_end_publishing(PbWork *work)
{
	work->nunits = (int) pg_atomic_read_u32(&work->units_ready);
	pg_write_barrier();
	pg_atomic_write_u32(&work->publishing, 0);
}

/*
 * Wait until unit i of work is ready.  False if it never will be: the
 * leader published fewer units, or the job ended.
 */
static bool
wait_for_unit(PbWork *work, uint32 i)
{
	while (i >= pg_atomic_read_u32(&work->units_ready))
	{
		if (!pg_atomic_read_u32(&work->publishing))
		{
			pg_read_barrier();
			return i < pg_atomic_read_u32(&work->units_ready);
		}
		if (pg_atomic_read_u32(&work->failed) ||
			pg_atomic_read_u32(&work->leader_gone))
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 5L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pg_read_barrier();
	return true;
}

/*
 * Unit i of work, its strings' pointers valid in this process.  Only the
 * process that took the unit may do this (pointers differ per process).
 */
PbUnit *
pb_work_unit(PbWork *work, int i)
{
	PbUnit	   *u = &work->units[i];

	u->path = pb_work_str(work, u->path_off);
	u->file = pb_work_str(work, u->file_off);
	return u;
}

static BackgroundWorkerHandle *
start_copy_worker(PbWork *work, dsm_segment *seg, int i)
{
	BackgroundWorkerHandle *handle;

	if (!register_worker("partback_copy_main",
						 psprintf("partback job " INT64_FORMAT " copy %d", work->job_id, i),
						 psprintf("partback job " INT64_FORMAT " copy", work->job_id),
						 dsm_segment_handle(seg), true, &handle, work->job_id))
		return NULL;
	return handle;
}

static void
stop_copy_workers(BackgroundWorkerHandle **handles, int n)
{
	for (int i = 0; i < n; i++)
		if (handles[i])
			TerminateBackgroundWorker(handles[i]);
	/* their temporary files are removed as they exit */
	for (int i = 0; i < n; i++)
		if (handles[i])
			(void) WaitForBackgroundWorkerShutdown(handles[i]);
}

/*
 * The leader's detach (also when it exits by FATAL, which bypasses
 * pb_work_run's cleanup): its copy workers must not go on with a job that
 * shows interrupted and may be resumed by another call.
 */
static void
leader_detached(dsm_segment *seg, Datum arg)
{
	PbWork	   *work = (PbWork *) DatumGetPointer(arg);

	pg_atomic_write_u32(&work->leader_gone, 1);
}

/*
 * Copy one unit of work.  One table's problem fails that table alone: it is
 * recorded and the worker goes on with the next unit; anything else ends
 * the job.
 */
static void
run_unit(PbWork *work, PbUnit *unit)
{
	pb_messages_set_table(unit->table_name);
	PG_TRY();
	{
		if (work->is_backup)
			pb_backup_unit(work, unit);
		else
			pb_restore_unit(work, unit);
	}
	PG_CATCH();
	{
		pb_catch_table_failure(unit->table_name, TopMemoryContext);
		unit->failed = true;
		pb_xact_begin();
		pb_messages_flush(work->job_id);
		pb_xact_end();
	}
	PG_END_TRY();
}

/*
 * Have up to nworkers copy workers do every unit of work, and wait for
 * them.  While no worker slot is free the job is queued.  The first error
 * of a copy worker becomes the leader's; a cancel of the leader stops them.
 *
 * Meanwhile the leader does its own part of the job, if any: leader_step
 * (not NULL) is called with arg between its checks of the workers until it
 * returns false, each call a short piece of work.
 */
void
pb_work_run(PbWork *work, dsm_segment *seg, int nworkers,
			bool (*leader_step) (void *arg), void *arg)
{
	BackgroundWorkerHandle **handles;
	int			started = 0;
	uint32		stopped = 0;
	bool		leader_busy = (leader_step != NULL);

	if (work->nunits == 0)
	{
		while (leader_busy)
			leader_busy = leader_step(arg);
		return;
	}
	work->parallel = nworkers;
	nworkers = Min(nworkers, work->nunits);

	/*
	 * A backup's copy workers read relations this leader holds ACCESS SHARE
	 * locks on until they are done.  In its lock group they share those
	 * locks; with locks of their own, a worker's request would queue behind
	 * a DDL waiting for the leader, which waits for the worker: a deadlock
	 * the deadlock detector cannot see.  (A restore's workers take ACCESS
	 * EXCLUSIVE locks that must keep conflicting with each other's, and its
	 * leader holds no relation lock meanwhile, so they stay on their own.)
	 */
	if (work->is_backup)
	{
		BecomeLockGroupLeader();
		work->leader_pgprocno = PB_MY_PROC_NUMBER;
		work->leader_pid = MyProcPid;
	}
	handles = palloc0(sizeof(BackgroundWorkerHandle *) * nworkers);
	on_dsm_detach(seg, leader_detached, PointerGetDatum(work));

	PG_TRY();
	{
		for (;;)
		{
			int			running = 0;

			/* start workers up to nworkers, as slots allow */
			for (int i = 0; i < nworkers; i++)
			{
				pid_t		pid;

				if (handles[i] &&
					GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED)
				{
					pfree(handles[i]);
					handles[i] = NULL;
					stopped++;
				}
				if (!handles[i] &&
					pg_atomic_read_u32(&work->next_unit) <
					pg_atomic_read_u32(&work->units_ready))
					handles[i] = start_copy_worker(work, seg, started++);
				if (handles[i])
					running++;
			}
			/* waiting for a worker slot, not for the leader's preparation */
			pb_live_set_queued(running == 0 &&
							   pg_atomic_read_u32(&work->next_unit) <
							   pg_atomic_read_u32(&work->units_ready));

			if (pg_atomic_read_u32(&work->failed))
				raise_error(&work->error, NULL);
			if (pg_atomic_read_u32(&work->units_done) == (uint32) work->nunits &&
				!leader_busy)
				break;

			/*
			 * A copy worker that ended by FATAL (pg_terminate_backend, say)
			 * left its unit of work undone and recorded no error: without
			 * this the job would wait for that unit forever.
			 */
			if (pg_atomic_read_u32(&work->workers_exited) < stopped)
				ereport(ERROR,
						(errcode(ERRCODE_OPERATOR_INTERVENTION),
						 errmsg("a copy worker of partback job " INT64_FORMAT " exited before finishing its work",
								work->job_id),
						 errdetail("It was terminated, or failed in a way the server log shows."),
						 errhint("Calling the same function again resumes the job.")));

			if (leader_busy)
				leader_busy = leader_step(arg);
			else
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 running == 0 ? 250L : 100L, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		stop_copy_workers(handles, nworkers);
		RESUME_INTERRUPTS();
		PG_RE_THROW();
	}
	PG_END_TRY();

	stop_copy_workers(handles, nworkers);
	pb_live_set_queued(false);
}

static void
record_failure(PbWork *work, ErrorData *edata)
{
	SpinLockAcquire(&work->mutex);
	if (pg_atomic_read_u32(&work->failed) == 0)
	{
		save_error(&work->error, edata);
		pg_write_barrier();
		pg_atomic_write_u32(&work->failed, 1);
	}
	SpinLockRelease(&work->mutex);
}

/* at a copy worker's exit, whatever ended it */
static void
forget_unpublished(int code, Datum arg)
{
	pb_backup_forget_unpublished();
}

void
partback_copy_main(Datum main_arg)
{
	dsm_segment *seg;
	PbWork	   *work;
	MemoryContext unit_context;

	worker_signals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "partback copy worker");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);
	work = dsm_segment_address(seg);

	/* before taking any lock; see pb_work_run */
	if (work->is_backup &&
		!BecomeLockGroupMember(&ProcGlobal->allProcs[work->leader_pgprocno],
							   work->leader_pid))
		proc_exit(0);			/* the leader is gone */

	BackgroundWorkerInitializeConnectionByOid(work->database, work->user, 0);
	pb_live_claim(work->job_id);
	pb_gate_open_worker();
	pgstat_report_appname(psprintf("partback job " INT64_FORMAT " copy", work->job_id));
	pb_messages_capture(work->job_id);

	/*
	 * With wal_level = minimal, a partition loaded into a new relation file
	 * is WAL-logged at commit when small: its pages would get LSNs after the
	 * one a restore records for it (see pb_restore_unit).  Sync it instead.
	 */
	if (!work->is_backup)
		SetConfigOption("wal_skip_threshold", "0", PGC_USERSET, PGC_S_SESSION);

	/*
	 * The directories a backup's copy worker renames its data files into
	 * are fsynced by the leader before it writes the manifest
	 * (pb_sync_defer).
	 */
	if (work->is_backup)
	{
		pb_sync_defer(false);
		before_shmem_exit(forget_unpublished, (Datum) 0);
	}

	/*
	 * A unit's commit does not wait for its WAL to reach the disk: the
	 * leader's commit of the job's end does, and it comes after every
	 * unit's.  A crash before that loses at most the last units' work,
	 * which a resume then does again: a restored partition's load commits
	 * with its record, and a backup's data file gets its name only once its
	 * record is on disk (pb_backup_unit).  Waiting for a flush at each of
	 * a backup unit's two commits took more than half of the copying time
	 * at 3,000 small leaves.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION);

	/*
	 * The job's own workers are its parallelism: an index build after a
	 * load stays in this process, unless other copy workers have run out
	 * of units (pb_restore_unit).  And JIT-compiling the few expressions a
	 * copy evaluates costs more than it saves.
	 */
	SetConfigOption("max_parallel_maintenance_workers", "0", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_SESSION);

	unit_context = AllocSetContextCreate(TopMemoryContext, "partback unit",
										 ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		/*
		 * The backup dir, checked again against the caller's
		 * partback.allowed_dirs, and still the one the leader used.
		 */
		SetConfigOption("partback.allowed_dirs",
						pb_work_str(work, work->allowed_dirs_off),
						PGC_SUSET, PGC_S_SESSION);
		pb_xact_begin();
		pb_backup_dir_recheck(pb_work_str(work, work->backup_dir_off),
							  work->dir_known, work->dir_dev, work->dir_ino);
		pb_xact_end();

		for (;;)
		{
			uint32		i;
			PbUnit	   *unit;

			if (pg_atomic_read_u32(&work->failed) ||
				pg_atomic_read_u32(&work->leader_gone))
				break;
			i = pg_atomic_fetch_add_u32(&work->next_unit, 1);
			if (i >= (uint32) work->nunits || !wait_for_unit(work, i))
				break;
			unit = pb_work_unit(work, i);
			if (unit->skip)
			{
				pg_atomic_fetch_add_u32(&work->units_done, 1);
				continue;
			}
			MemoryContextSwitchTo(unit_context);
			run_unit(work, unit);
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(unit_context);
			/* nor do the caches keep an entry per partition done */
			pb_bound_caches();

			/*
			 * A backup's unit is done once its data file has its name, which
			 * its copy worker gives a batch of them at once.
			 */
			if (!work->is_backup || unit->failed)
				pg_atomic_fetch_add_u32(&work->units_done, 1);
			if (work->is_backup)
				pg_atomic_fetch_add_u32(&work->units_done,
										pb_backup_publish(work, false));
			pb_live_start(NULL);
		}
		if (work->is_backup)
			pg_atomic_fetch_add_u32(&work->units_done, pb_backup_publish(work, true));
		/* the warnings and notices of its units */
		pb_messages_set_table(NULL);
		pb_xact_begin();
		pb_messages_flush(work->job_id);
		pb_xact_end();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(TopMemoryContext);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		/* a worker stopped by its leader reports nothing */
		if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED &&
			edata->sqlerrcode != ERRCODE_ADMIN_SHUTDOWN)
			record_failure(work, edata);
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();

	/* before the leader can see this worker stopped */
	pg_atomic_fetch_add_u32(&work->workers_exited, 1);
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}
