/*-------------------------------------------------------------------------
 *
 * history.c
 *		Job history retention: partback.job_history_retention.  Each job's
 *		leader, as it starts, deletes the jobs of its database that ended
 *		longer ago than that, with their tasks, chunks and messages (the
 *		catalog's foreign keys cascade), so that the catalog grows with
 *		what is going on rather than with every job ever run.
 *
 *		Never deleted, whatever their age: a job not ended (queued, running,
 *		or shown as interrupted because its worker is gone), a restore whose
 *		foreign keys set aside are still to be put back (recover.c), the
 *		jobs a next call with the same arguments continues (those after the
 *		newest success with the same resume key: pb_earlier_chunks and a
 *		migrate's target), and a restore holding the newest load of a
 *		partition that still exists (pb_loaded_partitions: what makes a
 *		repeated restore incremental).  A backup's change detection reads
 *		the manifests in the backup dir, not this history.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "partback.h"

/* seconds; -1 keeps every job */
int			partback_job_history_retention = 30 * 24 * 60 * 60;


void
pb_history_init(void)
{
	DefineCustomIntVariable("partback.job_history_retention",
							"How long the records of an ended job are kept.",
							"Each new job deletes the jobs of its database that ended longer ago, "
							"except those still needed to resume or to restore incrementally. "
							"-1 keeps every job.",
							&partback_job_history_retention,
							30 * 24 * 60 * 60, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

typedef struct PruneArg
{
	int64		job_id;
	uint64		deleted;
} PruneArg;

static void
prune_call(void *arg)
{
	PruneArg   *a = arg;
	static const char *const catalog[] = {"job", "task", "chunk", "job_message"};
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	Oid			jobrel;
	bool		has_fks;
	StringInfoData sql;
	int			rc;

	jobrel = get_relname_relid("job", get_namespace_oid("partback", false));
	/* the 1.0 catalog had no foreign keys set aside */
	has_fks = OidIsValid(jobrel) &&
		get_attnum(jobrel, "dropped_foreign_keys") != InvalidAttrNumber;

	/*
	 * Never wait for whoever holds the catalog: pruning is not worth
	 * delaying the job for; a later job does it.
	 */
	for (int i = 0; i < lengthof(catalog); i++)
	{
		Oid			relid = get_relname_relid(catalog[i],
											  get_namespace_oid("partback", false));

		if (OidIsValid(relid) && !ConditionalLockRelationOid(relid, RowExclusiveLock))
			return;
	}

	values[0] = Int64GetDatum(a->job_id);
	values[1] = Int32GetDatum(partback_job_history_retention);

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "WITH old AS ("
						   " SELECT j.job_id, j.job_type, j.resume_key FROM partback.job j"
						   "  WHERE j.state IN ('succeeded', 'failed', 'cancelled')"
						   "    AND j.job_id <> $1"
						   "    AND j.finished_at < pg_catalog.now()"
						   "        - pg_catalog.make_interval(secs => $2)");
	if (has_fks)
		appendStringInfoString(&sql, "    AND j.dropped_foreign_keys IS NULL");
	/* a job row someone holds (cancel_job, say) is left for later */
	appendStringInfoString(&sql,
						   "    FOR UPDATE OF j SKIP LOCKED"
						   "), newest_loads AS ("
	/* only when an old restore is there: the sort reads every restore's rows */
						   " SELECT DISTINCT ON (c.relid) c.relid, c.job_id"
						   "   FROM partback.chunk c JOIN partback.job r USING (job_id)"
						   "  WHERE r.job_type IN ('restore_db', 'restore_table', 'restore', 'migrate')"
						   "    AND EXISTS (SELECT FROM old o WHERE o.job_type = r.job_type)"
						   "  ORDER BY c.relid, c.job_id DESC"
						   ") "
						   "DELETE FROM partback.job d USING old o"
						   " WHERE d.job_id = o.job_id"
	/* a next call with the same arguments continues what failed since the last success */
						   "   AND (d.state = 'succeeded' OR d.resume_key IS NULL OR EXISTS ("
						   "        SELECT FROM partback.job s WHERE s.resume_key = d.resume_key"
						   "           AND s.state = 'succeeded' AND s.job_id > d.job_id))"
	/* the newest load of a partition that still exists */
						   "   AND NOT EXISTS (SELECT FROM newest_loads n"
						   "        WHERE n.job_id = d.job_id"
						   "          AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid = n.relid))");

	pb_catalog_begin();
	SPI_connect();
	rc = SPI_execute_with_args(sql.data, 2, types, values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "partback: SPI_execute_with_args returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql.data);
	a->deleted = SPI_processed;
	SPI_finish();
	pb_catalog_end();
}

/*
 * Delete the old jobs of this database (see the file's header), as job
 * job_id starts.  One leader at a time does it; a failure is only logged:
 * the job goes on.  Runs in its own transaction.
 */
void
pb_prune_job_history(int64 job_id)
{
	PruneArg	arg = {job_id, 0};
	LOCKTAG		tag;
	ErrorData  *edata;
	MemoryContext context = CurrentMemoryContext;

	if (partback_job_history_retention < 0)
		return;

	pb_xact_begin();
	/* another leader pruning now does it for this one */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, PB_LOCK_HISTORY);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		pb_xact_end();
		return;
	}
	edata = pb_try_call(prune_call, &arg);
	pb_xact_end();
	MemoryContextSwitchTo(context);
	if (edata != NULL)
	{
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		ereport(LOG,
				(errmsg("partback: job " INT64_FORMAT " could not delete old job history: %s",
						job_id, edata->message)));
		FreeErrorData(edata);
	}
	else if (arg.deleted > 0)
		ereport(DEBUG1,
				(errmsg("partback: job " INT64_FORMAT " deleted %llu jobs that ended more than %d s ago",
						job_id, (unsigned long long) arg.deleted,
						partback_job_history_retention)));
}
