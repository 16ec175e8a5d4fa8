/*-------------------------------------------------------------------------
 *
 * job.c
 *		The job catalog: a job's arguments, its row in partback.job, its
 *		tasks (one per table) in partback.task, and their states.
 *
 *		States: queued -> running -> succeeded | failed | cancelled;
 *		a job whose worker vanished is shown as interrupted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "storage/lock.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/json.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "partback.h"

static const char *const job_type_names[] = {
	[PB_JOB_BACKUP_DB] = "backup_db",
	[PB_JOB_BACKUP_TABLE] = "backup_table",
	[PB_JOB_BACKUP] = "backup",
	[PB_JOB_RESTORE_DB] = "restore_db",
	[PB_JOB_RESTORE_TABLE] = "restore_table",
	[PB_JOB_RESTORE] = "restore",
	[PB_JOB_MIGRATE] = "migrate",
};

const char *
pb_job_type_name(PbJobType type)
{
	return job_type_names[type];
}

bool
pb_job_is_backup(const PbJob *job)
{
	return job->type == PB_JOB_BACKUP_DB ||
		job->type == PB_JOB_BACKUP_TABLE ||
		job->type == PB_JOB_BACKUP;
}

static void
add_str_list(StringInfo buf, const char *key, List *list)
{
	StringInfoData arr;
	ListCell   *lc;

	if (list == NIL)
	{
		pb_json_add_raw(buf, key, "null");
		return;
	}
	initStringInfo(&arr);
	appendStringInfoChar(&arr, '[');
	foreach(lc, list)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&arr, ", ");
		escape_json(&arr, lfirst(lc));
	}
	appendStringInfoChar(&arr, ']');
	pb_json_add_raw(buf, key, arr.data);
}

static List *
get_str_list(JsonbContainer *c, const char *key)
{
	JsonbContainer *arr = pb_json_container(c, key);
	List	   *result = NIL;

	for (int i = 0; i < pb_json_array_size(arr); i++)
		result = lappend(result, (char *) pb_json_array_str(arr, i));
	return result;
}

/*
 * A job's arguments as JSON: what the worker receives and what
 * partback.job.args shows.
 */
char *
pb_job_to_json(const PbJob *job)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	pb_json_add_int(&buf, "job_id", job->job_id);
	pb_json_add_str(&buf, "job_type", pb_job_type_name(job->type));
	pb_json_add_str(&buf, "backup_dir", job->backup_dir);
	pb_json_add_str(&buf, "source_db", job->source_db);
	add_str_list(&buf, "schemas", job->schemas);
	if (OidIsValid(job->table))
	{
		pb_json_add_int(&buf, "table_oid", job->table);
		pb_json_add_str(&buf, "table",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(job->table)),
												   get_rel_name(job->table)));
	}
	add_str_list(&buf, "partitions", job->partitions);
	pb_json_add_str(&buf, "source_table", job->source_table);
	pb_json_add_str(&buf, "target_table", job->target_table);
	pb_json_add_str(&buf, "partition_pattern", job->partition_pattern);
	if (job->backup_id > 0)
		pb_json_add_int(&buf, "backup_id", job->backup_id);
	pb_json_add_raw(&buf, "force", job->force ? "true" : "false");
	if (job->keep_new_partitions)
		pb_json_add_raw(&buf, "keep_new_partitions", "true");
	if (job->atomic)
		pb_json_add_raw(&buf, "atomic", "true");
	pb_json_add_int(&buf, "parallel", job->parallel);
	pb_json_add_str(&buf, "compression", pb_compression_name(job->compression));
	pb_json_add_int(&buf, "compression_level", job->compression_level);
	pb_json_add_int(&buf, "chunk_size_mb", job->chunk_size_mb);
	pb_json_add_int(&buf, "max_rate", job->max_rate);
	pb_json_add_str(&buf, "allowed_dirs", job->allowed_dirs);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

PbJob *
pb_job_from_json(const char *json)
{
	Jsonb	   *jb = pb_parse_json(json, "job arguments");
	JsonbContainer *c = &jb->root;
	PbJob	   *job = palloc0(sizeof(PbJob));
	const char *type = pb_json_str(c, "job_type", false);
	const char *s;

	job->job_id = pb_json_int(c, "job_id", "job arguments");
	for (int i = 0; i < lengthof(job_type_names); i++)
		if (strcmp(type, job_type_names[i]) == 0)
			job->type = (PbJobType) i;
	job->backup_dir = (char *) pb_json_str(c, "backup_dir", false);
	job->source_db = (char *) pb_json_str(c, "source_db", false);
	job->schemas = get_str_list(c, "schemas");
	if (pb_json_str(c, "table", true))
		job->table = (Oid) pb_json_int(c, "table_oid", "job arguments");
	job->partitions = get_str_list(c, "partitions");
	job->source_table = (char *) pb_json_str(c, "source_table", true);
	job->target_table = (char *) pb_json_str(c, "target_table", true);
	job->partition_pattern = (char *) pb_json_str(c, "partition_pattern", true);
	if (pb_json_container(c, "backup_id") == NULL &&
		getKeyJsonValueFromContainer(c, "backup_id", 9, NULL) != NULL)
		job->backup_id = pb_json_int(c, "backup_id", "job arguments");
	s = pb_json_str(c, "compression", false);
	job->compression = pb_compression_parse(s);
	job->compression_level = (int) pb_json_int(c, "compression_level", "job arguments");
	job->chunk_size_mb = (int) pb_json_int(c, "chunk_size_mb", "job arguments");
	job->max_rate = (int) pb_json_int(c, "max_rate", "job arguments");
	job->parallel = (int) pb_json_int(c, "parallel", "job arguments");
	job->allowed_dirs = (char *) pb_json_str(c, "allowed_dirs", true);
	{
		JsonbValue *v = getKeyJsonValueFromContainer(c, "force", 5, NULL);

		job->force = (v && v->type == jbvBool && v->val.boolean);
		v = getKeyJsonValueFromContainer(c, "keep_new_partitions", 19, NULL);
		job->keep_new_partitions = (v && v->type == jbvBool && v->val.boolean);
		v = getKeyJsonValueFromContainer(c, "atomic", 6, NULL);
		job->atomic = (v && v->type == jbvBool && v->val.boolean);
	}
	return job;
}

/*
 * Start a transaction with a snapshot, and end it, both keeping the
 * caller's memory context: the steps of a job live across transactions.
 */
void
pb_xact_begin(void)
{
	MemoryContext context = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(context);
}

void
pb_xact_end(void)
{
	MemoryContext context = CurrentMemoryContext;

	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
}

/*
 * Does partback.func(types) exist?  The SQL objects of 1.0, which a new
 * library meets until ALTER EXTENSION partback UPDATE, lack the functions
 * that 1.1 added; what calls them is skipped there.
 */
bool
pb_sql_function_exists(const char *func, int nargs, Oid *types)
{
	return OidIsValid(LookupFuncName(list_make2(makeString("partback"),
												makeString((char *) func)),
									 nargs, types, true));
}

/*
 * Run one statement through SPI inside the current transaction; ERROR if
 * it does not return the expected SPI code.
 */
void
pb_spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc;

	SPI_connect();
	rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	if (rc != expected)
		elog(ERROR, "partback: SPI_execute_with_args returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql);
	SPI_finish();
}

/*
 * The job catalog is written as the owner of schema partback: a job runs
 * with its user's rights, and that user may only read its own jobs.
 */
static Oid	saved_userid;
static int	saved_sec_context;

void
pb_catalog_begin(void)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(NAMESPACEOID,
						  ObjectIdGetDatum(get_namespace_oid("partback", false)));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "partback: cache lookup failed for schema partback");
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	SetUserIdAndSecContext(owner, saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
pb_catalog_end(void)
{
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
}

/*
 * The catalog's statements, planned once a process: a copy worker runs the
 * same few for every unit of work (thousands of partitions), and parsing
 * and planning them each time was a good part of a small unit's cost.
 * The plan cache replans them when the catalog changes.
 */
typedef struct CatalogPlan
{
	char	   *sql;
	int			nargs;
	Oid		   *types;
	SPIPlanPtr	plan;
} CatalogPlan;

#define MAX_CATALOG_PLANS 64
static CatalogPlan catalog_plans[MAX_CATALOG_PLANS];
static int	ncatalog_plans = 0;

/* sql's plan, kept (up to MAX_CATALOG_PLANS) or for this SPI call only */
static SPIPlanPtr
catalog_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan;
	CatalogPlan *p;

	for (int i = 0; i < ncatalog_plans; i++)
	{
		p = &catalog_plans[i];
		if (p->nargs == nargs && strcmp(p->sql, sql) == 0 &&
			(nargs == 0 || memcmp(p->types, types, sizeof(Oid) * nargs) == 0))
			return p->plan;
	}
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "partback: SPI_prepare failed with %s for \"%s\"",
			 SPI_result_code_string(SPI_result), sql);
	if (ncatalog_plans == MAX_CATALOG_PLANS)
		return plan;
	p = &catalog_plans[ncatalog_plans];
	p->sql = MemoryContextStrdup(TopMemoryContext, sql);
	p->nargs = nargs;
	p->types = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(1, nargs));
	if (nargs > 0)
		memcpy(p->types, types, sizeof(Oid) * nargs);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "partback: SPI_keepplan failed for \"%s\"", sql);
	p->plan = plan;
	ncatalog_plans++;
	return plan;
}

void
pb_catalog_exec(const char *sql, int nargs, Oid *types, Datum *values,
				const char *nulls, int expected)
{
	int			rc;

	pb_catalog_begin();
	SPI_connect();
	rc = SPI_execute_plan(catalog_plan(sql, nargs, types), values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "partback: SPI_execute_plan returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql);
	SPI_finish();
	pb_catalog_end();
}

static Datum
text_or_null(const char *s, char *nulls, int i)
{
	nulls[i] = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}


/* Record a job, running in this process -- or never started, when cancelled. */
void
pb_job_insert(const PbJob *job, const char *user_name, const char *state)
{
	Oid			types[8] = {INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = "        ";
	bool		running = strcmp(state, "running") == 0;

	values[0] = Int64GetDatum(job->job_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(user_name));
	values[2] = CStringGetTextDatum(pb_job_type_name(job->type));
	values[3] = CStringGetTextDatum(job->backup_dir);
	values[4] = CStringGetTextDatum(job->source_db);
	values[5] = CStringGetTextDatum(pb_job_to_json(job));
	values[6] = Int32GetDatum(MyProcPid);
	if (!running)
		nulls[6] = 'n';
	values[7] = CStringGetTextDatum(state);
	pb_catalog_exec("INSERT INTO partback.job (job_id, user_name, job_type, backup_dir, "
					"source_db, args, state, worker_pid, started_at, resume_key) "
					"VALUES ($1, $2, $3, $4, $5, $6::jsonb, $8, $7, "
					"CASE WHEN $8 = 'running' THEN now() END, "
					"partback._resume_key($6::jsonb))",
					8, types, values, nulls, SPI_OK_INSERT);
}

void
pb_job_finish(int64 job_id, const char *state, int64 backup_id,
			  const char *sqlstate, const char *error)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = "     ";

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(state);
	values[2] = Int64GetDatum(backup_id);
	if (backup_id <= 0)
		nulls[2] = 'n';
	values[3] = text_or_null(sqlstate, nulls, 3);
	values[4] = text_or_null(error, nulls, 4);
	/* a partial backup keeps its id when its job then fails */
	pb_catalog_exec("UPDATE partback.job SET state = $2, backup_id = coalesce($3, backup_id), "
					"error_code = $4, error = $5, finished_at = clock_timestamp() "
					"WHERE job_id = $1",
					5, types, values, nulls, SPI_OK_UPDATE);
	/* tasks not finished end with their job */
	pb_catalog_exec("UPDATE partback.task SET state = $2, finished_at = clock_timestamp() "
					"WHERE job_id = $1 AND state IN ('queued', 'running')",
					2, types, values, nulls, SPI_OK_UPDATE);
}

void
pb_task_insert(int64 job_id, const char *table_name, const char *target_table,
			   int partitions, int units)
{
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID};
	Datum		values[5];
	char		nulls[5] = "     ";

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(table_name);
	values[2] = text_or_null(target_table, nulls, 2);
	values[3] = Int32GetDatum(partitions);
	values[4] = Int32GetDatum(units);
	pb_catalog_exec("INSERT INTO partback.task (job_id, table_name, target_table, "
					"partitions, units, state, started_at) "
					"VALUES ($1, $2, $3, $4, $5, 'queued', now())",
					5, types, values, nulls, SPI_OK_INSERT);
}

void
pb_task_update(int64 job_id, const char *table_name, const char *state,
			   int completed, int64 rows, int64 bytes, int64 stored_bytes,
			   const char *error)
{
	Oid			types[8] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = "        ";

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(table_name);
	values[2] = CStringGetTextDatum(state);
	values[3] = Int32GetDatum(completed);
	values[4] = Int64GetDatum(rows);
	values[5] = Int64GetDatum(bytes);
	values[6] = Int64GetDatum(stored_bytes);
	values[7] = text_or_null(error, nulls, 7);
	pb_catalog_exec("UPDATE partback.task SET state = $3, completed = $4, rows = $5, "
					"bytes = $6, stored_bytes = $7, error = $8, "
					"started_at = coalesce(started_at, clock_timestamp()), "
					"finished_at = CASE WHEN $3 IN ('queued', 'running') THEN NULL "
					"ELSE clock_timestamp() END "
					"WHERE job_id = $1 AND table_name = $2",
					8, types, values, nulls, SPI_OK_UPDATE);
}

/*
 * Record a unit of work that is done -- a chunk on disk, a partition
 * loaded -- in the transaction that does it: a backup's chunk file becomes
 * visible only after this commits, a restore's load commits with it.
 */
void
pb_chunk_record(PbWork *work, PbUnit *unit, int nchunks, XLogRecPtr lsn,
				const char *columns)
{
	Oid			types[18] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, OIDOID, OIDOID,
		INT8OID, INT8OID, BOOLOID, TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID,
	LSNOID, BOOLOID, TEXTOID};
	Datum		values[18];

	values[0] = Int64GetDatum(work->job_id);
	values[1] = CStringGetTextDatum(unit->table_name);
	values[2] = CStringGetTextDatum(unit->path);
	values[3] = Int32GetDatum(unit->chunk);
	values[4] = Int32GetDatum(nchunks);
	values[5] = ObjectIdGetDatum(unit->relid);
	values[6] = ObjectIdGetDatum(unit->relfilenode);
	values[7] = Int64GetDatum(unit->start_block);
	values[8] = Int64GetDatum(unit->nblocks);
	values[9] = BoolGetDatum(unit->to_end);
	values[10] = CStringGetTextDatum(unit->file);
	values[11] = Int64GetDatum(unit->rows);
	values[12] = Int64GetDatum(unit->raw_bytes);
	values[13] = Int64GetDatum(unit->stored_bytes);
	/* a backup's data file; what a restore's partition holds (its content key) */
	values[14] = CStringGetTextDatum(unit->result_sha256);
	values[15] = LSNGetDatum(lsn);
	values[16] = BoolGetDatum(unit->inflight);
	values[17] = CStringGetTextDatum(columns);
	pb_catalog_exec("INSERT INTO partback.chunk (job_id, table_name, path, chunk, nchunks, "
				"relid, relfilenode, start_block, nblocks, to_end, file, rows, bytes, "
				"stored_bytes, sha256, lsn, inflight, columns) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
				"$15, $16, $17, $18)",
				18, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Bring a task's figures up to date with its done units.  The first
 * statement locks the task row, so the second sees every unit committed by
 * other workers before.
 */
void
pb_task_progress(int64 job_id, const char *table_name)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(table_name);
	/* a table failed stays failed (message.c) */
	pb_catalog_exec("UPDATE partback.task SET state = CASE WHEN state = 'failed' "
					"THEN state ELSE 'running' END "
					"WHERE job_id = $1 AND table_name = $2",
					2, types, values, NULL, SPI_OK_UPDATE);
	pb_catalog_exec("UPDATE partback.task t SET "
				"rows = s.rows, bytes = s.bytes, stored_bytes = s.stored_bytes, "
				"completed = s.completed "
				"FROM (SELECT coalesce(sum(p.rows), 0) AS rows, "
				"             coalesce(sum(p.bytes), 0) AS bytes, "
				"             coalesce(sum(p.stored_bytes), 0) AS stored_bytes, "
				"             count(*) FILTER (WHERE p.done) AS completed "
				"        FROM (SELECT sum(c.rows) AS rows, sum(c.bytes) AS bytes, "
				"                     sum(c.stored_bytes) AS stored_bytes, "
				"                     count(*) = max(c.nchunks) AS done "
				"                FROM partback.chunk c "
				"               WHERE c.job_id = $1 AND c.table_name = $2 "
				"               GROUP BY c.path) p) s "
				"WHERE t.job_id = $1 AND t.table_name = $2",
				2, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * Add units recorded by pb_chunk_record (and committed, or in this
 * transaction) to their tasks' figures: one update per table, whatever the
 * number of units done before (pb_task_progress recomputes from all of
 * them).  A copy worker adds a batch of units at a time: each update makes
 * a new version of the task row, which no one can prune while a backup's
 * snapshot is held, and every later update walked all of them (a quarter
 * of a backup of 20,000 partitions).  Whether a partition of several
 * chunks is complete is counted again from the chunks, so that two workers
 * finishing its last two chunks count it once.
 */
void
pb_task_add_units(int64 job_id, PbUnit **units, int nunits)
{
	Oid			types[6] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT4OID};
	Datum		values[6];
	bool	   *added = palloc0(sizeof(bool) * nunits);

	for (int i = 0; i < nunits; i++)
	{
		int64		rows = 0;
		int64		bytes = 0;
		int64		stored = 0;
		int			complete = 0;
		bool		recount = false;

		if (added[i])
			continue;
		for (int j = i; j < nunits; j++)
		{
			PbUnit	   *u = units[j];

			if (added[j] || strcmp(u->table_name, units[i]->table_name) != 0)
				continue;
			added[j] = true;
			rows += u->rows;
			bytes += u->raw_bytes;
			stored += u->stored_bytes;
			if (u->nchunks > 1)
				recount = true;
			else
				complete++;
		}
		values[0] = Int64GetDatum(job_id);
		values[1] = CStringGetTextDatum(units[i]->table_name);
		values[2] = Int64GetDatum(rows);
		values[3] = Int64GetDatum(bytes);
		values[4] = Int64GetDatum(stored);
		values[5] = Int32GetDatum(complete);
		/* a table failed stays failed (message.c) */
		pb_catalog_exec("UPDATE partback.task SET state = CASE WHEN state = 'failed' "
						"THEN state ELSE 'running' END, "
						"rows = rows + $3, bytes = bytes + $4, stored_bytes = stored_bytes + $5, "
						"completed = completed + $6 "
						"WHERE job_id = $1 AND table_name = $2",
						6, types, values, NULL, SPI_OK_UPDATE);
		/* the statement above locked the row: this one sees every unit committed */
		if (recount)
			pb_catalog_exec("UPDATE partback.task t SET completed = "
							"(SELECT count(*) FROM (SELECT 1 FROM partback.chunk c "
							"  WHERE c.job_id = $1 AND c.table_name = $2 "
							"  GROUP BY c.path HAVING count(*) = max(c.nchunks)) p) "
							"WHERE t.job_id = $1 AND t.table_name = $2",
							2, types, values, NULL, SPI_OK_UPDATE);
	}
	pfree(added);
}

void
pb_task_finish(int64 job_id, const char *table_name, int partitions, int reused,
			   int64 reused_bytes)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT4OID, INT4OID, INT8OID};
	Datum		values[5];

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(table_name);
	values[2] = Int32GetDatum(partitions);
	values[3] = Int32GetDatum(reused);
	values[4] = Int64GetDatum(reused_bytes);
	pb_catalog_exec("UPDATE partback.task SET state = 'succeeded', partitions = $3, "
					"completed = $3, reused = $4, reused_bytes = $5, "
					"finished_at = clock_timestamp() "
					"WHERE job_id = $1 AND table_name = $2",
					5, types, values, NULL, SPI_OK_UPDATE);
}

/* Chunks done by earlier interrupted calls with this job's arguments. */
static List *
done_chunks(const char *sql, int64 job_id)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job_id);
	MemoryContext outer = CurrentMemoryContext;
	List	   *result = NIL;

	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args(sql, 1, &type, &value, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the chunks of earlier jobs");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(outer);
		PbDoneChunk *c = palloc0(sizeof(PbDoneChunk));

		c->table_name = SPI_getvalue(tup, desc, 1);
		c->path = SPI_getvalue(tup, desc, 2);
		c->chunk = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		c->relfilenode = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
		c->start_block = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		c->nblocks = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
		c->to_end = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		c->file = SPI_getvalue(tup, desc, 8);
		c->rows = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
		c->bytes = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
		c->stored_bytes = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
		c->sha256 = SPI_getvalue(tup, desc, 12);
		c->lsn = DatumGetLSN(SPI_getbinval(tup, desc, 13, &isnull));
		c->inflight = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull));
		c->columns = SPI_getvalue(tup, desc, 15);
		c->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 16, &isnull));
		result = lappend(result, c);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	pb_catalog_end();
	return result;
}

/* Chunks done by earlier interrupted calls with this job's arguments. */
List *
pb_earlier_chunks(int64 job_id)
{
	return done_chunks("SELECT DISTINCT ON (c.table_name, c.path, c.chunk) "
					   "c.table_name, c.path, c.chunk, c.relfilenode, c.start_block, "
					   "c.nblocks, c.to_end, c.file, c.rows, c.bytes, c.stored_bytes, "
					   "c.sha256, c.lsn, c.inflight, c.columns, c.relid "
					   "FROM partback.chunk c JOIN partback.job j USING (job_id), "
					   "partback.job me "
					   "WHERE me.job_id = $1 AND j.resume_key = me.resume_key "
					   "AND j.job_id < me.job_id AND j.job_id > coalesce("
					   " (SELECT max(s.job_id) FROM partback.job s "
					   "   WHERE s.resume_key = me.resume_key AND s.state = 'succeeded' "
					   "     AND s.job_id < me.job_id), 0) "
					   "ORDER BY c.table_name, c.path, c.chunk, c.job_id DESC",
					   job_id);
}

/* The newest load of every partition restores before this job made. */
List *
pb_loaded_partitions(int64 job_id)
{
	return done_chunks("SELECT DISTINCT ON (c.relid) "
					   "c.table_name, c.path, c.chunk, c.relfilenode, c.start_block, "
					   "c.nblocks, c.to_end, c.file, c.rows, c.bytes, c.stored_bytes, "
					   "c.sha256, c.lsn, c.inflight, c.columns, c.relid "
					   "FROM partback.chunk c JOIN partback.job j USING (job_id) "
					   "WHERE j.job_id < $1 AND j.job_type IN "
					   "('restore_db', 'restore_table', 'restore', 'migrate') "
					   "ORDER BY c.relid, c.job_id DESC",
					   job_id);
}

char *
pb_job_resume_key(int64 job_id)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job_id);
	MemoryContext outer = CurrentMemoryContext;
	char	   *key;

	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT resume_key FROM partback.job WHERE job_id = $1",
							  1, &type, &value, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "partback: job " INT64_FORMAT " is not in partback.job", job_id);
	key = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1));
	SPI_finish();
	pb_catalog_end();
	return key;
}


/*
 * Let go of the tables and the backup dir this job claimed (session
 * advisory locks) as it ends, before anyone can see that it ended: a next
 * call on the same tables must find them free.
 */
void
pb_release_claims(void)
{
	LockReleaseAll(USER_LOCKMETHOD, true);
}

/*
 * A leader going through thousands of partitions in one transaction (a
 * backup's planning) builds a relcache and catcache entry for each, kept
 * until something invalidates them: memory growing with the partition
 * count.  Called once per partition, this discards the caches every
 * PB_CACHE_BOUND calls, as a backend does whose invalidation queue
 * overflowed (a sinval reset, which may come at any lock acquisition):
 * open relations are rebuilt, the others built again when next used.
 */
#define PB_CACHE_BOUND 1000

void
pb_bound_caches(void)
{
	static int	calls = 0;

	if (++calls >= PB_CACHE_BOUND)
	{
		calls = 0;
		/* as a sinval reset, in a transaction (nailed entries are rebuilt) */
		if (IsTransactionState())
			InvalidateSystemCaches();
		else
		{
			MemoryContext context = CurrentMemoryContext;

			StartTransactionCommand();
			InvalidateSystemCaches();
			CommitTransactionCommand();
			MemoryContextSwitchTo(context);
		}
	}
}
