/*-------------------------------------------------------------------------
 *
 * recover.c
 *		Putting back what interrupted jobs set aside.  A restore drops the
 *		foreign keys among the tables it replaces and records them in its
 *		job's row (partback.job.dropped_foreign_keys); if the job is
 *		interrupted (crash, kill, immediate shutdown) they stay dropped.
 *		When the server starts, the launcher starts a worker that lists
 *		the databases (it needs only the shared catalogs) and then, one
 *		database after the other, a worker in each that calls
 *		partback._recover_foreign_keys() where partback is installed, and
 *		drops the transient tables of partitions that were being loaded in
 *		parts (restore.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "partback.h"

/* pg_database.datconnlimit of a database a failed DROP DATABASE left */
#define PB_DATCONNLIMIT_INVALID_DB (-2)

static bool
register_recovery_worker(Oid database, bool notify_me, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "partback");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "partback_recovery_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "partback recovery");
	snprintf(worker.bgw_type, BGW_MAXLEN, "partback recovery");
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	worker.bgw_notify_pid = notify_me ? MyProcPid : 0;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/*
 * Called by the launcher until it returns true: start the worker that
 * looks for what interrupted jobs left set aside.
 */
bool
pb_start_recovery(void)
{
	BackgroundWorkerHandle *handle;

	return register_recovery_worker(InvalidOid, false, &handle);
}

/* The databases one can connect to. */
static List *
connectable_databases(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datconnlimit == PB_DATCONNLIMIT_INVALID_DB)
			continue;
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			result = lappend_oid(result, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
	return result;
}

/* Put back, in this database, what interrupted jobs set aside. */
static void
recover_database(void)
{
	Oid			nsp;
	Oid			noargs[1] = {InvalidOid};
	int			n = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "partback: putting back what interrupted jobs set aside");
	nsp = get_namespace_oid("partback", true);
	if (OidIsValid(get_extension_oid("partback", true)) && OidIsValid(nsp) &&
		pb_sql_function_exists("_recover_foreign_keys", 0, noargs))
	{
		SPI_connect();
		if (SPI_execute("SELECT partback._recover_foreign_keys()", false, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				n = DatumGetInt32(d);
		}
		SPI_finish();
	}
	if (n > 0)
		ereport(LOG,
				(errmsg("partback: put back %d foreign key(s) that interrupted restores of database \"%s\" had set aside",
						n, get_database_name(MyDatabaseId)),
				 errdetail("partback.job_message says for each job which ones, and which were put back NOT VALID.")));
	if (OidIsValid(get_extension_oid("partback", true)))
	{
		n = pb_drop_left_transient_heaps();
		if (n > 0)
			ereport(LOG,
					(errmsg("partback: dropped %d transient table(s) that interrupted restores of database \"%s\" were loading partitions into",
							n, get_database_name(MyDatabaseId))));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
partback_recovery_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	List	   *databases;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (OidIsValid(database))
	{
		/* no role named: the bootstrap superuser */
		BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
		recover_database();
		proc_exit(0);
	}

	/* only the shared catalogs */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	databases = connectable_databases();

	/* one database at a time: few worker slots are taken */
	foreach(lc, databases)
	{
		BackgroundWorkerHandle *handle;
		pid_t		pid;
		int			tries = 0;

		while (!register_recovery_worker(lfirst_oid(lc), true, &handle))
		{
			/* no slot free now: wait for one, for a while */
			if (++tries > 120)
			{
				ereport(WARNING,
						(errmsg("partback: no background worker slot to put back what interrupted jobs set aside in database with OID %u",
								lfirst_oid(lc)),
						 errhint("Raise max_worker_processes; the next server start tries again.")));
				break;
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (tries > 120)
			continue;
		if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
			(void) WaitForBackgroundWorkerShutdown(handle);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
