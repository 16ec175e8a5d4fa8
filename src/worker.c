/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Background workers: submitting a job and the worker that runs it.
 *
 *		The caller hands the job's arguments to a new dynamic background
 *		worker through a small DSM segment.  The worker records the job in
 *		partback.job in its own transaction, acknowledges, and runs the job;
 *		so a job does not depend on the caller's transaction, and a caller
 *		who waits (wait => true) can do so inside a single statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/sequence.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "partback.h"

/* How far the worker has come, as seen by the caller. */
#define STAGE_STARTED	0
#define STAGE_ACCEPTED	1		/* job row committed */
#define STAGE_FINISHED	2		/* final state below is set */

typedef struct PbHandoff
{
	pg_atomic_uint32 stage;
	int			caller_procno;
	Oid			database;
	Oid			user;
	int64		job_id;
	char		final_state[16];
	char		sqlstate[6];
	char		error[2048];
	char		detail[2048];
	char		hint[1024];
	Size		args_len;
	char		args[FLEXIBLE_ARRAY_MEMBER];
} PbHandoff;

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

	return DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq)));
}

/*
 * Wait until the worker reaches stage, or exits.  Returns false if it
 * exited first.  A caller interrupted while waiting cancels the job.
 */
static bool
wait_for_stage(PbHandoff *handoff, BackgroundWorkerHandle *handle,
			   uint32 stage)
{
	bool		reached = false;

	PG_TRY();
	{
		for (;;)
		{
			pid_t		pid;

			if (pg_atomic_read_u32(&handoff->stage) >= stage)
			{
				reached = true;
				break;
			}
			if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED)
			{
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
		pid_t		pid;

		if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STARTED)
			kill(pid, SIGINT);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return reached;
}

/*
 * Start a worker for job and return its id once the job is recorded.
 * With wait, return only when it ended, raising its error if it failed.
 */
int64
pb_submit_job(PbJob *job, bool wait)
{
	char	   *args;
	Size		args_len;
	dsm_segment *seg;
	PbHandoff  *handoff;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	job->job_id = next_job_id();
	args = pb_job_to_json(job);
	args_len = strlen(args) + 1;

	seg = dsm_create(offsetof(PbHandoff, args) + args_len, 0);
	handoff = dsm_segment_address(seg);
	memset(handoff, 0, offsetof(PbHandoff, args));
	pg_atomic_init_u32(&handoff->stage, STAGE_STARTED);
	handoff->caller_procno = MyProc->pgprocno;
	handoff->database = MyDatabaseId;
	handoff->user = GetUserId();
	handoff->job_id = job->job_id;
	handoff->args_len = args_len;
	memcpy(handoff->args, args, args_len);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "partback");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "partback_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "partback job " INT64_FORMAT " %s",
			 job->job_id, pb_job_type_name(job->type));
	snprintf(worker.bgw_type, BGW_MAXLEN, "partback worker");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a partback worker: no background worker slot is free"),
				 errhint("Raise max_worker_processes, or wait for other jobs to end.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a partback worker"),
				 errhint("Check that partback is in shared_preload_libraries and look in the server log.")));

	if (!wait_for_stage(handoff, handle, STAGE_ACCEPTED))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("partback worker for job " INT64_FORMAT " exited before accepting it",
						job->job_id),
				 errhint("See the server log.")));
	if (!wait)
	{
		dsm_detach(seg);
		return job->job_id;
	}

	if (!wait_for_stage(handoff, handle, STAGE_FINISHED))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("partback job " INT64_FORMAT " was interrupted: its worker exited",
						job->job_id),
				 errhint("Call the same function again to resume it.")));
	if (strcmp(handoff->final_state, "succeeded") != 0)
	{
		char	   *sqlstate = handoff->sqlstate;

		ereport(ERROR,
				(errcode(MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
									   sqlstate[3], sqlstate[4])),
				 errmsg("%s", handoff->error),
				 handoff->detail[0] ? errdetail("%s", handoff->detail) : 0,
				 handoff->hint[0] ? errhint("%s", handoff->hint) : 0,
				 errcontext("partback job " INT64_FORMAT " %s", job->job_id,
							handoff->final_state)));
	}
	dsm_detach(seg);
	return job->job_id;
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
	{
		memcpy(handoff->sqlstate, unpack_sql_state(edata->sqlerrcode), 5);
		strlcpy(handoff->error, edata->message, sizeof(handoff->error));
		if (edata->detail)
			strlcpy(handoff->detail, edata->detail, sizeof(handoff->detail));
		if (edata->hint)
			strlcpy(handoff->hint, edata->hint, sizeof(handoff->hint));
	}
	pg_atomic_write_u32(&handoff->stage, STAGE_FINISHED);
	set_caller_latch(handoff);
}

void
partback_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	PbHandoff  *handoff;
	PbJob	   *job;
	MemoryContext job_context;

	/* SIGINT (cancel_job, a waiting caller's cancel) ends the job as cancelled */
	pqsignal(SIGINT, StatementCancelHandler);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "partback worker");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller gave up before we started */
	handoff = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(handoff->database, handoff->user, 0);

	job_context = AllocSetContextCreate(TopMemoryContext, "partback job",
										ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(job_context);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(job_context);
	job = pb_job_from_json(handoff->args);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("partback job " INT64_FORMAT " %s", job->job_id,
									pb_job_type_name(job->type)));
	pb_job_insert(job, GetUserNameFromId(GetUserId(), false));
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(job_context);

	pg_atomic_write_u32(&handoff->stage, STAGE_ACCEPTED);
	set_caller_latch(handoff);

	PG_TRY();
	{
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

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pb_job_finish(job->job_id, state, 0, unpack_sql_state(edata->sqlerrcode),
					  edata->message);
		PopActiveSnapshot();
		CommitTransactionCommand();

		finish(handoff, state, edata);
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}
