/*-------------------------------------------------------------------------
 *
 * claims.c
 *		What a job claims while it runs, and how long it waits for it.
 *
 *		A job claims its tables and its backup dir with advisory locks
 *		(session locks of its leader, held to its end):
 *
 *		- a restore claims each target table (ExclusiveLock on the table's
 *		  key): nothing else may copy a table being written;
 *		- a backup of a table claims it in ShareLock, so backups of one
 *		  table into different dirs go on side by side, the pair (its
 *		  database's part of the backup dir, table) in ExclusiveLock and
 *		  (dir, schema) in RowExclusiveLock;
 *		- a backup_db claims the schemas of its tables instead, in ShareLock
 *		  and (dir, schema) in ExclusiveLock: a few locks whatever the number
 *		  of tables, which leaves the server's lock table to the locks on the
 *		  tables themselves (lock_tables, backup.c), as for pg_dump.  A
 *		  restore into an existing table of such a schema also claims the
 *		  schema (RowExclusiveLock) and so waits for the backup, also where
 *		  the backup does not hold the table; one into a new table does not,
 *		  and the backup waits for it if it lists the table;
 *		- one backup at a time writes into a database's part of a dir
 *		  (pb_lock_backup_dir, repo.c).
 *
 *		A call checks its tables at once against the jobs of its own role
 *		(55006, naming the job): a role sees its own jobs and can wait for or
 *		cancel them.  A job of another role never fails a call: the leader
 *		waits for the claim, at most partback.lock_wait_timeout, and its
 *		error then names the job and the role it waited for (55P03).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "partback.h"

/* the fourth key of partback's advisory locks of claims */
#define PB_LOCK_DIR_TABLE	5	/* (backup dir, table) */
#define PB_LOCK_SCHEMA		8
#define PB_LOCK_DIR_SCHEMA	9	/* (backup dir, schema) */

int			partback_lock_wait_timeout = 300000;
int			partback_max_jobs_per_role = 2;
int			partback_restore_lock_timeout = 50;

void
pb_claims_init(void)
{
	DefineCustomIntVariable("partback.lock_wait_timeout",
							"Longest time a job waits for a table or backup directory another job holds; 0 means it fails at once.",
							"A call fails at once where a job of its own role holds a table; a job of another role is waited for.",
							&partback_lock_wait_timeout,
							300000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("partback.restore_lock_timeout",
							"Longest time a restore queues for a partition's lock at each try.",
							"Readers that come after it wait at most this long; then it leaves the queue, sleeps and tries again, in all at most partback.lock_wait_timeout.  0: it only takes a lock that is free.",
							&partback_restore_lock_timeout,
							50, 0, 60000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("partback.max_jobs_per_role",
							"Most jobs of one role (not a superuser) running at a time; its other jobs wait in the queue.",
							"Keeps background worker slots for other roles; 0 means no limit.",
							&partback_max_jobs_per_role,
							2, 0, 1024,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

static void
set_tag(LOCKTAG *tag, Oid database, const char *key1, const char *key2, uint16 kind)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) key1, strlen(key1), 0);

	if (key2)
		hash = hash_bytes_extended((const unsigned char *) key2, strlen(key2), hash);
	SET_LOCKTAG_ADVISORY(*tag, database, (uint32) (hash >> 32), (uint32) hash, kind);
}

/*
 * The processes that hold tag in a mode conflicting with mode, as "partback
 * job N of role R" (or "process P of role R"), and whether one of them is
 * of the current role.  Anyone may read pg_locks and the roles and backend
 * types in pg_stat_activity.
 */
static char *
lock_holders(const LOCKTAG *tag, LOCKMODE mode, bool *own_role)
{
	Oid			types[5] = {OIDOID, OIDOID, OIDOID, INT4OID, TEXTARRAYOID};
	Datum		values[5];
	MemoryContext outer = CurrentMemoryContext;
	StringInfoData buf;
	LockMethod	method = GetLockTagsMethodTable(tag);
	Datum		conflicting[MAX_LOCKMODES];
	int			nconflicting = 0;

	initStringInfo(&buf);
	*own_role = false;
	values[0] = ObjectIdGetDatum(tag->locktag_field1);
	values[1] = ObjectIdGetDatum(tag->locktag_field2);
	values[2] = ObjectIdGetDatum(tag->locktag_field3);
	values[3] = Int32GetDatum(tag->locktag_field4);
	/* the modes held that keep mode from being granted */
	for (LOCKMODE m = 1; m <= method->numLockModes; m++)
		if (method->conflictTab[mode] & LOCKBIT_ON(m))
			conflicting[nconflicting++] =
				CStringGetTextDatum(GetLockmodeName(tag->locktag_lockmethodid, m));
	values[4] = PointerGetDatum(construct_array(conflicting, nconflicting, TEXTOID,
												-1, false, TYPALIGN_INT));

	/*
	 * A snapshot of its own: a backup waits for its dir before it takes its
	 * REPEATABLE READ snapshot, which must be taken only once the lock is
	 * held.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	SPI_connect();
	if (SPI_execute_with_args("SELECT coalesce('partback job ' || "
							  "pg_catalog.substring(a.backend_type, '^partback job ([0-9]+) '), "
							  "'process ' || l.pid), "
							  "coalesce(a.usename::text, '?'), "
							  "coalesce(a.usename = CURRENT_USER, false) "
							  "FROM pg_catalog.pg_locks l "
							  "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
							  "WHERE l.locktype = 'advisory' AND l.granted "
							  "AND l.database = $1 AND l.classid = $2 AND l.objid = $3 "
							  "AND l.objsubid = $4 AND l.pid <> pg_catalog.pg_backend_pid() "
							  "AND l.mode = ANY ($5) "
							  "ORDER BY 1",
							  5, types, values, NULL, true, 0) == SPI_OK_SELECT)
	{
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			MemoryContext old = MemoryContextSwitchTo(outer);

			appendStringInfo(&buf, "%s%s of role %s", i > 0 ? ", " : "",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
							 quote_identifier(SPI_getvalue(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2)));
			MemoryContextSwitchTo(old);
			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										   3, &isnull)))
				*own_role = true;
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	if (buf.len == 0)
		appendStringInfoString(&buf, "another job");
	return buf.data;
}

/*
 * Take the advisory lock tag in mode for job job_id, waiting at most
 * partback.lock_wait_timeout; what names the object for the error.  A
 * session lock (session) is held to the end of the job, else to the end of
 * the transaction.
 */
void
pb_lock_timed(const LOCKTAG *tag, LOCKMODE mode, bool session, int64 job_id,
			  const char *what)
{
	char	   *holders;
	char	   *who;
	bool		own_role;
	int			nest_level;
	MemoryContext context = CurrentMemoryContext;

	if (LockAcquire(tag, mode, session, true) != LOCKACQUIRE_NOT_AVAIL)
		return;
	holders = lock_holders(tag, mode, &own_role);
	if (partback_lock_wait_timeout == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("%s is held by %s", what, holders),
				 errhint("partback.lock_wait_timeout is 0: a job does not wait for another one.")));
	who = job_id ? psprintf("partback job " INT64_FORMAT, job_id) : pstrdup("this session");
	ereport(LOG,
			(errmsg("%s waits for %s, held by %s", who, what, holders)));
	if (job_id)
		pgstat_report_activity(STATE_RUNNING,
							   psprintf("%s waits for %s, held by %s", who, what, holders));

	/* lock_timeout bounds the wait, as for any lock */
	nest_level = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", psprintf("%d", partback_lock_wait_timeout),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	PG_TRY();
	{
		(void) LockAcquire(tag, mode, session, false);
	}
	PG_CATCH();
	{
		if (geterrcode() != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		MemoryContextSwitchTo(context);
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("%s waited %d ms for %s, held by %s",
						who, partback_lock_wait_timeout, what, holders),
				 errhint("Call it again once that job has ended; partback.lock_wait_timeout sets how long a job waits.")));
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest_level);
}

/*
 * Claim tag for job job_id (keep: to its end), or, for a call (job_id 0,
 * !keep), check that no job of the caller's role holds it.  what names the
 * object ("table s.t").
 */
static void
claim(const LOCKTAG *tag, LOCKMODE mode, int64 job_id, const char *what,
	  bool keep)
{
	char	   *holders;
	bool		own_role;

	if (keep)
	{
		pb_lock_timed(tag, mode, true, job_id, what);
		return;
	}
	if (LockAcquire(tag, mode, true, true) != LOCKACQUIRE_NOT_AVAIL)
	{
		LockRelease(tag, mode, true);
		return;
	}
	holders = lock_holders(tag, mode, &own_role);
	if (own_role)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("%s is being copied by %s", what, holders),
				 errhint("Wait for that job to end (partback.wait_job), or cancel it (partback.cancel_job).")));
	/* another role's job: the leader waits for it, for a while */
}

static char *
table_key(const char *schema, const char *name)
{
	return psprintf("%s.%s", schema, name);
}

/*
 * A restore's claim on its target table schema.name, and, when the table
 * exists (a backup_db may hold it, see pb_job_lock_backup_db_table), on its
 * schema.  The table is claimed before it is looked for.
 */
void
pb_job_lock_table(int64 job_id, const char *schema, const char *name, bool keep)
{
	LOCKTAG		tag;
	char	   *key = table_key(schema, name);
	Oid			nsp;

	set_tag(&tag, MyDatabaseId, key, NULL, PB_LOCK_TABLE);
	claim(&tag, ExclusiveLock, job_id, psprintf("table %s", key), keep);
	nsp = get_namespace_oid(schema, true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid(name, nsp)))
		return;
	set_tag(&tag, MyDatabaseId, schema, NULL, PB_LOCK_SCHEMA);
	claim(&tag, RowExclusiveLock, job_id, psprintf("schema %s", schema), keep);
}

/* A backup's claims on a table it reads, written into db_dir. */
void
pb_job_lock_backup_table(int64 job_id, const char *schema, const char *name,
						 const char *db_dir, bool keep)
{
	LOCKTAG		tag;
	char	   *key = table_key(schema, name);
	char	   *what = psprintf("table %s", key);

	set_tag(&tag, MyDatabaseId, key, NULL, PB_LOCK_TABLE);
	claim(&tag, ShareLock, job_id, what, keep);
	set_tag(&tag, MyDatabaseId, db_dir, key, PB_LOCK_DIR_TABLE);
	claim(&tag, ExclusiveLock, job_id, what, keep);
	set_tag(&tag, MyDatabaseId, db_dir, schema, PB_LOCK_DIR_SCHEMA);
	claim(&tag, RowExclusiveLock, job_id, psprintf("schema %s", schema), keep);
}

/*
 * A backup_db's claims for a table it reads, written into db_dir: a wait
 * for a restore writing the table (one that made it does not claim the
 * schema), then its schema, which keeps later restores into the schema's
 * existing tables out (claiming a schema again costs no lock of the
 * server's table).
 */
void
pb_job_lock_backup_db_table(int64 job_id, const char *schema, const char *name,
							const char *db_dir, bool keep)
{
	LOCKTAG		tag;
	char	   *key = table_key(schema, name);
	char	   *what = psprintf("schema %s", schema);

	set_tag(&tag, MyDatabaseId, key, NULL, PB_LOCK_TABLE);
	claim(&tag, ShareLock, job_id, psprintf("table %s", key), keep);
	if (keep)
		LockRelease(&tag, ShareLock, true);
	set_tag(&tag, MyDatabaseId, schema, NULL, PB_LOCK_SCHEMA);
	claim(&tag, ShareLock, job_id, what, keep);
	set_tag(&tag, MyDatabaseId, db_dir, schema, PB_LOCK_DIR_SCHEMA);
	claim(&tag, ExclusiveLock, job_id, what, keep);
}

/*
 * Check for a call the claims of the tables (schema, name) the query
 * returns: a backup's into db_dir (a backup_db's with whole_db), or (db_dir
 * NULL) a restore's.
 */
static void
check_free(const char *sql, int nargs, Oid *types, Datum *values,
		   const char *nulls, const char *db_dir, bool whole_db)
{
	MemoryContext outer = CurrentMemoryContext;
	List	   *schemas = NIL;
	List	   *names = NIL;
	ListCell   *lc1;
	ListCell   *lc2;

	SPI_connect();
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not list the tables of a job");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *schema = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContext old = MemoryContextSwitchTo(outer);

		schemas = lappend(schemas, pstrdup(schema));
		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	forboth(lc1, schemas, lc2, names)
	{
		CHECK_FOR_INTERRUPTS();
		if (whole_db)
			pb_job_lock_backup_db_table(0, lfirst(lc1), lfirst(lc2), db_dir, false);
		else if (db_dir)
			pb_job_lock_backup_table(0, lfirst(lc1), lfirst(lc2), db_dir, false);
		else
			pb_job_lock_table(0, lfirst(lc1), lfirst(lc2), false);
	}
}

void
pb_check_tables_free(const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls)
{
	check_free(sql, nargs, types, values, nulls, NULL, false);
}

void
pb_check_backup_tables_free(const char *sql, int nargs, Oid *types, Datum *values,
							const char *nulls, const char *db_dir, bool whole_db)
{
	check_free(sql, nargs, types, values, nulls, db_dir, whole_db);
}
