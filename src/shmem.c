/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		partback's shared memory: the live figures of every partback
 *		process (what the job catalog cannot show until a transaction
 *		commits), and the queue of jobs waiting for a worker slot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "partback.h"
#include "gate.h"

#define QUEUE_SIZE 64

typedef struct PbLiveSlot
{
	pid_t		pid;			/* 0 = free */
	int64		job_id;
	Oid			database;
	Oid			user;			/* the role the process runs as */
	bool		queued;			/* a leader waiting for copy workers */
	char		table_name[2 * NAMEDATALEN + 2];
	char		waiting[256];	/* what it waits for, or "" */
	pg_atomic_uint64 rows;
	pg_atomic_uint64 bytes;
} PbLiveSlot;

/*
 * A leader slot: a job whose leader was started (or is about to be), for
 * the limit of running jobs per role (partback.max_jobs_per_role).
 */
typedef struct PbLeader
{
	int64		job_id;			/* 0 = free */
	Oid			user;
	bool		limited;		/* counts against its role's limit */
	pid_t		pid;			/* 0 until the leader runs */
	TimestampTz reserved_at;
} PbLeader;

typedef struct PbShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	PbQueuedJob queue[QUEUE_SIZE];
	int			nslots;
	PbLiveSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} PbShared;

static PbShared *shared = NULL;
static PbLiveSlot *my_slot = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(partback_live);
PG_FUNCTION_INFO_V1(partback_live_waits);
PG_FUNCTION_INFO_V1(partback_queued);

static Size
slots_size(int nslots)
{
	return MAXALIGN(add_size(offsetof(PbShared, slots),
							 mul_size(nslots, sizeof(PbLiveSlot))));
}

static Size
shared_size(void)
{
	return add_size(slots_size(max_worker_processes),
					mul_size(max_worker_processes, sizeof(PbLeader)));
}

/* the leader slots follow the live slots, one per worker process */
#define LEADERS() ((PbLeader *) ((char *) shared + slots_size(shared->nslots)))

static void
pb_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
}

static void
pb_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("partback", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		SpinLockInit(&shared->mutex);
		shared->nslots = max_worker_processes;
		for (int i = 0; i < shared->nslots; i++)
		{
			pg_atomic_init_u64(&shared->slots[i].rows, 0);
			pg_atomic_init_u64(&shared->slots[i].bytes, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
pb_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pb_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pb_shmem_startup;
}

static void
check_shared(void)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partback is not loaded through shared_preload_libraries"),
				 errhint("Add partback to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
release_slot(int code, Datum arg)
{
	if (my_slot)
	{
		SpinLockAcquire(&shared->mutex);
		my_slot->pid = 0;
		my_slot->job_id = 0;
		SpinLockRelease(&shared->mutex);
		my_slot = NULL;
	}
	/* a slot for a queued job may have come free */
	if (shared && shared->launcher_latch)
		SetLatch(shared->launcher_latch);
}

/* Take a live slot for this process, working for job_id. */
void
pb_live_claim(int64 job_id)
{
	check_shared();
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
	{
		if (shared->slots[i].pid == 0)
		{
			my_slot = &shared->slots[i];
			my_slot->pid = MyProcPid;
			my_slot->job_id = job_id;
			my_slot->database = MyDatabaseId;
			my_slot->user = GetUserId();
			my_slot->queued = false;
			my_slot->table_name[0] = '\0';
			my_slot->waiting[0] = '\0';
			pg_atomic_write_u64(&my_slot->rows, 0);
			pg_atomic_write_u64(&my_slot->bytes, 0);
			break;
		}
	}
	SpinLockRelease(&shared->mutex);
	if (my_slot)
		before_shmem_exit(release_slot, (Datum) 0);
}

/* What this process is copying now; its live figures start from zero. */
void
pb_live_start(const char *table_name)
{
	if (!my_slot)
		return;
	SpinLockAcquire(&shared->mutex);
	strlcpy(my_slot->table_name, table_name ? table_name : "",
			sizeof(my_slot->table_name));
	SpinLockRelease(&shared->mutex);
	pg_atomic_write_u64(&my_slot->rows, 0);
	pg_atomic_write_u64(&my_slot->bytes, 0);
}

void
pb_live_add(uint64 rows, uint64 bytes)
{
	if (!my_slot)
		return;
	pg_atomic_fetch_add_u64(&my_slot->rows, rows);
	pg_atomic_fetch_add_u64(&my_slot->bytes, bytes);
}

void
pb_live_set_queued(bool queued)
{
	if (my_slot)
		my_slot->queued = queued;
}

/* What this process waits for (NULL: nothing), for the status views. */
void
pb_live_set_waiting(const char *what)
{
	if (!my_slot)
		return;
	SpinLockAcquire(&shared->mutex);
	strlcpy(my_slot->waiting, what ? what : "", sizeof(my_slot->waiting));
	SpinLockRelease(&shared->mutex);
}

/*
 * Does the current role see the jobs of user?  Its own and its members',
 * or every one as a member of pg_read_all_stats, as pg_stat_activity shows
 * sessions.
 */
static bool
may_see_jobs_of(Oid user)
{
	return has_privs_of_role(GetUserId(), user) ||
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/*
 * _live(): the live figures of partback processes of this database:
 * (job_id, pid, table_name, rows, bytes, queued), of the jobs the caller
 * may see.
 */
Datum
partback_live(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	pb_gate_check_call(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	for (int i = 0; i < shared->nslots; i++)
	{
		PbLiveSlot *slot = &shared->slots[i];
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		char		table_name[sizeof(slot->table_name)];
		int64		job_id;
		pid_t		pid;
		Oid			user;

		SpinLockAcquire(&shared->mutex);
		pid = slot->pid;
		job_id = slot->job_id;
		user = slot->user;
		strlcpy(table_name, slot->table_name, sizeof(table_name));
		SpinLockRelease(&shared->mutex);
		if (pid == 0 || slot->database != MyDatabaseId || !may_see_jobs_of(user))
			continue;
		values[0] = Int64GetDatum(job_id);
		values[1] = Int32GetDatum(pid);
		values[2] = CStringGetTextDatum(table_name);
		nulls[2] = table_name[0] == '\0';
		values[3] = Int64GetDatum(pg_atomic_read_u64(&slot->rows));
		values[4] = Int64GetDatum(pg_atomic_read_u64(&slot->bytes));
		values[5] = BoolGetDatum(slot->queued);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * _live_waits(): (job_id, table_name, waiting) of the partback processes
 * of this database waiting for a lock, of the jobs the caller may see.
 */
Datum
partback_live_waits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	pb_gate_check_call(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	for (int i = 0; i < shared->nslots; i++)
	{
		PbLiveSlot *slot = &shared->slots[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		char		table_name[sizeof(slot->table_name)];
		char		waiting[sizeof(slot->waiting)];
		int64		job_id;
		pid_t		pid;
		Oid			user;

		SpinLockAcquire(&shared->mutex);
		pid = slot->pid;
		job_id = slot->job_id;
		user = slot->user;
		strlcpy(table_name, slot->table_name, sizeof(table_name));
		strlcpy(waiting, slot->waiting, sizeof(waiting));
		SpinLockRelease(&shared->mutex);
		if (pid == 0 || waiting[0] == '\0' || slot->database != MyDatabaseId ||
			!may_see_jobs_of(user))
			continue;
		values[0] = Int64GetDatum(job_id);
		values[1] = CStringGetTextDatum(table_name);
		nulls[1] = table_name[0] == '\0';
		values[2] = CStringGetTextDatum(waiting);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------- leaders, counted per role ---------- */

/*
 * A leader slot reserved but never taken by its leader (the worker did not
 * start) is free again after this long.
 */
#define LEADER_START_TIMEOUT_MS 60000

/* with the mutex held */
static int
role_leaders(Oid user, TimestampTz now)
{
	PbLeader   *leaders = LEADERS();
	int			n = 0;

	for (int i = 0; i < shared->nslots; i++)
	{
		if (leaders[i].job_id != 0 && leaders[i].pid == 0 &&
			TimestampDifferenceExceeds(leaders[i].reserved_at, now, LEADER_START_TIMEOUT_MS))
			leaders[i].job_id = 0;
		if (leaders[i].job_id != 0 && leaders[i].limited && leaders[i].user == user)
			n++;
	}
	return n;
}

/* with the mutex held: false if the role is at its limit or no slot is free */
static bool
reserve_leader(int64 job_id, Oid user, bool limited, TimestampTz now)
{
	PbLeader   *leaders = LEADERS();

	if (limited && partback_max_jobs_per_role > 0 &&
		role_leaders(user, now) >= partback_max_jobs_per_role)
		return false;
	for (int i = 0; i < shared->nslots; i++)
	{
		if (leaders[i].job_id == 0)
		{
			leaders[i].job_id = job_id;
			leaders[i].user = user;
			leaders[i].limited = limited;
			leaders[i].pid = 0;
			leaders[i].reserved_at = now;
			return true;
		}
	}
	return false;
}

/*
 * Reserve a leader slot for job_id of user before starting its leader;
 * false, with the number of the role's running jobs in *running, if a
 * limited role (not a superuser) runs partback.max_jobs_per_role jobs
 * already.
 */
bool
pb_leader_reserve(int64 job_id, Oid user, bool limited, int *running)
{
	bool		reserved;
	TimestampTz now = GetCurrentTimestamp();

	check_shared();
	SpinLockAcquire(&shared->mutex);
	reserved = reserve_leader(job_id, user, limited, now);
	*running = role_leaders(user, now);
	SpinLockRelease(&shared->mutex);
	return reserved;
}

/*
 * Free the leader slot of a job whose leader could not be started (the
 * launcher is not woken: nothing came free).
 */
void
pb_leader_unreserve(int64 job_id)
{
	PbLeader   *leaders = LEADERS();

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
		if (leaders[i].job_id == job_id)
			leaders[i].job_id = 0;
	SpinLockRelease(&shared->mutex);
}

/* A leader exits: a queued job of its role may start now. */
static void
release_leader(int code, Datum arg)
{
	pb_leader_unreserve(DatumGetInt64(arg));
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
}

/*
 * The leader of job_id runs: its slot is held until it exits.  A leader
 * started without a reservation (the launcher lost it) takes one, over the
 * limit.
 */
void
pb_leader_attach(int64 job_id)
{
	PbLeader   *leaders;
	bool		found = false;

	check_shared();
	leaders = LEADERS();
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
		if (leaders[i].job_id == job_id)
		{
			leaders[i].pid = MyProcPid;
			found = true;
		}
	if (!found)
	{
		for (int i = 0; i < shared->nslots; i++)
			if (leaders[i].job_id == 0)
			{
				leaders[i].job_id = job_id;
				leaders[i].user = InvalidOid;
				leaders[i].limited = false;
				leaders[i].pid = MyProcPid;
				break;
			}
	}
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(release_leader, Int64GetDatum(job_id));
}

/* ---------- the queue of jobs waiting for a leader slot ---------- */

bool
pb_queue_add(const PbQueuedJob *job)
{
	bool		added = false;

	check_shared();
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < QUEUE_SIZE; i++)
	{
		if (shared->queue[i].job_id == 0)
		{
			shared->queue[i] = *job;
			added = true;
			break;
		}
	}
	SpinLockRelease(&shared->mutex);
	if (added && shared->launcher_latch)
		SetLatch(shared->launcher_latch);
	return added;
}

/* The oldest queued job, if there is one; it stays in the queue. */
bool
pb_queue_first(PbQueuedJob *job)
{
	int			first = -1;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < QUEUE_SIZE; i++)
		if (shared->queue[i].job_id != 0 &&
			(first < 0 || shared->queue[i].job_id < shared->queue[first].job_id))
			first = i;
	if (first >= 0)
		*job = shared->queue[first];
	SpinLockRelease(&shared->mutex);
	return first >= 0;
}

/*
 * The oldest queued job whose role may start one more, with a leader slot
 * reserved for it; it stays in the queue.
 */
static bool
queue_next(PbQueuedJob *job)
{
	int			next = -1;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < QUEUE_SIZE; i++)
	{
		PbQueuedJob *q = &shared->queue[i];

		if (q->job_id == 0 || (next >= 0 && q->job_id >= shared->queue[next].job_id))
			continue;
		if (q->limited && partback_max_jobs_per_role > 0 &&
			role_leaders(q->user, now) >= partback_max_jobs_per_role)
			continue;
		next = i;
	}
	/* no leader slot may be free */
	if (next >= 0 && !reserve_leader(shared->queue[next].job_id, shared->queue[next].user,
									 shared->queue[next].limited, now))
		next = -1;
	if (next >= 0)
		*job = shared->queue[next];
	SpinLockRelease(&shared->mutex);
	return next >= 0;
}

/* The queue's entry for job_id, if it is there. */
bool
pb_queue_first_of(int64 job_id, PbQueuedJob *job)
{
	bool		found = false;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < QUEUE_SIZE; i++)
		if (shared->queue[i].job_id == job_id)
		{
			*job = shared->queue[i];
			found = true;
		}
	SpinLockRelease(&shared->mutex);
	return found;
}

/*
 * Remove a job from the queue (copying its entry to removed, if not NULL);
 * false if it was not there (any more).
 */
bool
pb_queue_remove(int64 job_id, PbQueuedJob *removed_job)
{
	bool		removed = false;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < QUEUE_SIZE; i++)
		if (shared->queue[i].job_id == job_id)
		{
			if (removed_job)
				*removed_job = shared->queue[i];
			shared->queue[i].job_id = 0;
			removed = true;
		}
	SpinLockRelease(&shared->mutex);
	return removed;
}

/* _queued(): queued jobs of this database: (job_id, user_name, job_type, source_db, queued_at) */
Datum
partback_queued(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	pb_gate_check_call(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	for (int i = 0; i < QUEUE_SIZE; i++)
	{
		PbQueuedJob job;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		SpinLockAcquire(&shared->mutex);
		job = shared->queue[i];
		SpinLockRelease(&shared->mutex);
		if (job.job_id == 0 || job.database != MyDatabaseId || !may_see_jobs_of(job.user))
			continue;
		values[0] = Int64GetDatum(job.job_id);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(job.user_name));
		values[2] = CStringGetTextDatum(job.job_type);
		values[3] = CStringGetTextDatum(job.source_db);
		values[4] = TimestampTzGetDatum(job.queued_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------- the launcher ---------- */

static volatile sig_atomic_t launcher_stop = false;

static void
launcher_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	launcher_stop = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * The launcher starts queued jobs as worker slots come free.  It needs no
 * database connection: the job's leader makes its own.
 */
void
partback_launcher_main(Datum main_arg)
{
	bool		recovery_started = false;

	pqsignal(SIGTERM, launcher_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	check_shared();
	shared->launcher_latch = MyLatch;

	while (!launcher_stop)
	{
		PbQueuedJob job;

		/* once per start: put back what interrupted jobs set aside */
		if (!recovery_started)
			recovery_started = pb_start_recovery();

		/* partback.max_jobs_per_role may have changed */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * The oldest job whose role runs fewer than partback.max_jobs_per_role
		 * jobs.  A job cancelled meanwhile is claimed by its canceller, see
		 * worker.c.
		 */
		while (queue_next(&job))
		{
			if (!pb_start_leader(job.job_id, job.handle, false))
			{
				pb_leader_unreserve(job.job_id);
				break;
			}
			(void) pb_queue_remove(job.job_id, NULL);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 500L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	shared->launcher_latch = NULL;
	proc_exit(0);
}

void
pb_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "partback");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "partback_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "partback launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "partback launcher");
	RegisterBackgroundWorker(&worker);
}
