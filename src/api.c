/*-------------------------------------------------------------------------
 *
 * api.c
 *		SQL entry points that submit jobs.  They check their arguments here,
 *		so that a bad call fails at once with a clear error, and hand the
 *		job to a background worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "partback.h"
#include "auth.h"

PG_FUNCTION_INFO_V1(partback_backup_db);
PG_FUNCTION_INFO_V1(partback_backup_table);
PG_FUNCTION_INFO_V1(partback_backup);
PG_FUNCTION_INFO_V1(partback_restore_db);
PG_FUNCTION_INFO_V1(partback_restore_table);
PG_FUNCTION_INFO_V1(partback_restore);
PG_FUNCTION_INFO_V1(partback_migrate);

static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
}

static char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static bool
bool_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	require_arg(fcinfo, argno, name);
	return PG_GETARG_BOOL(argno);
}

/*
 * keep_new_partitions, an argument the SQL objects of versions before it
 * lack: a restore then drops the partitions the backup lacks, as before.
 */
static bool
keep_new_partitions_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_NARGS() > argno && bool_arg(fcinfo, argno, "keep_new_partitions");
}

/*
 * atomic, an argument the SQL objects of versions before it lack: a
 * restore then replaces partition by partition, as before.
 */
static bool
atomic_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_NARGS() > argno && bool_arg(fcinfo, argno, "atomic");
}

/* A text[] argument as a list of strings; NULL elements are refused. */
static List *
text_array_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (PG_ARGISNULL(argno))
		return NIL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be an empty array", name),
				 errhint("Pass NULL to mean all.")));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", name)));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

/*
 * A job's workers connect as the role that calls (worker.c), and a role
 * without LOGIN cannot connect: refuse the call, not fail the job.
 */
static void
check_role_can_run_jobs(void)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	bool		can_login;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for role %u", GetUserId());
	can_login = ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;
	ReleaseSysCache(tuple);
	if (!can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" cannot run partback jobs because it is not permitted to log in",
						GetUserNameFromId(GetUserId(), false)),
				 errdetail("A job's background workers connect to the database as the role that calls."),
				 errhint("Call as a role with LOGIN, or grant it with ALTER ROLE ... LOGIN.")));
}

/* parallel and the settings every job takes from the GUCs */
static void
set_common(PbJob *job, FunctionCallInfo fcinfo, int parallel_arg)
{
	check_role_can_run_jobs();
	if (PG_ARGISNULL(parallel_arg))
		job->parallel = partback_max_workers_per_job;
	else
	{
		job->parallel = PG_GETARG_INT32(parallel_arg);
		if (job->parallel < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parallel must be at least 1, not %d", job->parallel)));
		if (job->parallel > max_worker_processes)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parallel %d exceeds max_worker_processes (%d)",
							job->parallel, max_worker_processes),
					 errhint("Raise max_worker_processes, or ask for fewer workers.")));
	}
	/* the call checked the dir against it; the job checks it again */
	job->allowed_dirs = pstrdup(partback_allowed_dirs ? partback_allowed_dirs : "");
	job->compression = pb_compression_parse(partback_compression);
	job->compression_level = partback_compression_level;
	job->chunk_size_mb = partback_chunk_size_mb;
	job->max_rate = partback_max_rate;
}

/*
 * A table that can be backed up: a plain or partitioned table of this
 * database, neither temporary nor a system catalog nor a partition.
 */
static void
check_backup_table(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	char	   *name;

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", name),
				 errhint("partback backs up plain and partitioned tables; views, foreign tables, sequences and materialized views are not backed up.")));
	/* information_schema's tables are made by initdb too */
	if (IsCatalogNamespace(get_rel_namespace(relid)) ||
		IsToastNamespace(get_rel_namespace(relid)) ||
		relid < FirstNormalObjectId)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a system table", name),
				 errhint("System catalogs are not backed up; use pg_dump or pgBackRest for a whole cluster.")));
	if (isAnyTempNamespace(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"%s\" is a temporary table", name),
				 errhint("Temporary tables are visible only to their session and cannot be backed up by a worker.")));
	if (get_rel_namespace(relid) == get_namespace_oid("partback", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is part of partback's job catalog", name),
				 errhint("The job catalog is not backed up.")));
	if (get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partition", name),
				 errhint("Back up its table and choose partitions with partback.backup(dir, tbl, partitions => ...).")));
	/* the job runs with the caller's rights: fail now, not in the worker */
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(relkind), get_rel_name(relid));
}

static void
check_table_free(PbJob *job)
{
	Oid			type = OIDOID;
	Datum		value = ObjectIdGetDatum(job->table);

	pb_check_backup_tables_free("SELECT n.nspname, c.relname "
								"FROM pg_catalog.pg_class c "
								"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
								"WHERE c.oid = $1",
								1, &type, &value, NULL,
								pb_db_dir(job->backup_dir, job->source_db), false);
}

static bool
backup_ids_contain(const char *dir, const char *db, int64 backup_id)
{
	int64	   *ids;
	int			n = pb_backup_ids(dir, db, &ids);

	for (int i = 0; i < n; i++)
		if (ids[i] == backup_id)
			return true;
	return false;
}

/*
 * The checks every restore shares: the dir is a backup dir holding a
 * backup of source_db (and backup_id, if one is named).
 */
static void
check_restore_source(PbJob *job)
{
	int64	   *ids;

	pb_repo_open(job->backup_dir);
	if (pb_backup_ids(job->backup_dir, job->source_db, &ids) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup directory \"%s\" holds no backup of database \"%s\"",
						job->backup_dir, job->source_db),
				 errhint("source_db names the database that was backed up.")));
	if (job->backup_id != 0 &&
		!backup_ids_contain(job->backup_dir, job->source_db, job->backup_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup " INT64_FORMAT " of database \"%s\" does not exist in \"%s\"",
						job->backup_id, job->source_db, job->backup_dir),
				 errhint("partback.list_backups() lists the backups in a directory.")));
	/* naming no backup means one of this cluster's (cluster.c) */
	if (job->backup_id == 0)
		pb_require_cluster_backup(job->backup_dir, job->source_db);
}

static void
backup_id_arg(PbJob *job, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return;
	job->backup_id = PG_GETARG_INT64(argno);
	if (job->backup_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup_id must be positive, not " INT64_FORMAT, job->backup_id)));
}

/*
 * Check that a source_table argument names a table of the backup, and a
 * target_table argument parses, by running the lookup the worker will run.
 */
static void
check_restore_table(PbJob *job)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[4];
	char		nulls[4] = "   ";
	MemoryContext context;

	values[0] = CStringGetTextDatum(job->backup_dir);
	values[1] = CStringGetTextDatum(job->source_db);
	values[2] = CStringGetTextDatum(job->source_table);
	values[3] = Int64GetDatum(job->backup_id);
	if (job->backup_id == 0)
		nulls[3] = 'n';
	SPI_connect();
	context = CurrentMemoryContext;
	/* its errors are about the caller's arguments: no PL/pgSQL context */
	PG_TRY();
	{
		SPI_execute_with_args("SELECT partback._table_entry($1, $2, $3, $4)",
							  4, types, values, nulls, true, 1);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = NULL;
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (job->target_table)
	{
		bool		isnull;

		values[0] = CStringGetTextDatum(job->target_table);
		SPI_execute_with_args("SELECT pg_catalog.cardinality(pg_catalog.parse_ident($1))",
							  1, types, values, NULL, true, 1);
		if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull)) > 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("target table \"%s\" has too many dotted names",
							job->target_table),
					 errhint("Give the target as table or schema.table.")));
	}
	SPI_finish();
}

static char *
backup_dir_arg(FunctionCallInfo fcinfo)
{
	require_arg(fcinfo, 0, "backup_dir");
	return pb_backup_dir_arg(text_arg(fcinfo, 0));
}

/* compression, or the GUC's; its level (a GUC) must fit the method */
static void
compression_arg(PbJob *job, FunctionCallInfo fcinfo, int argno)
{
	if (!PG_ARGISNULL(argno))
		job->compression = pb_compression_parse(text_arg(fcinfo, argno));
	pb_check_level(job->compression, job->compression_level);
}

/*
 * Schemas named to backup_db must hold a table it backs up: a system
 * schema, partback's own or one of only views would make an empty backup.
 */
static void
check_schemas_have_tables(Datum schemas, List *names)
{
	Oid			type = TEXTARRAYOID;
	bool		isnull;
	int64		count;
	StringInfoData list;
	ListCell   *lc;

	SPI_connect();
	SPI_execute_with_args("SELECT count(*) FROM partback._db_tables($1)",
						  1, &type, &schemas, NULL, true, 1);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
	SPI_finish();
	if (count > 0)
		return;
	initStringInfo(&list);
	foreach(lc, names)
		appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "",
						 quote_identifier(lfirst(lc)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the schemas given (%s) hold no table to back up", list.data),
			 errhint("backup_db backs up the plain and partitioned tables of user schemas; system schemas, partback's own schema and the tables of extensions are left out.")));
}

/*
 * Say, in the caller's session, which foreign tables and foreign
 * partitions the backup leaves out: their rows live on a foreign server.
 * func (of schema partback) takes the call's table (or schemas) as $1, its
 * partitions as $2.
 */
static void
notice_foreign(const char *func, int nargs, Oid *types, Datum *values,
			   const char *nulls)
{
	if (!pb_sql_function_exists(func, nargs, types))
		return;
	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT partback.%s(%s)", func,
									   nargs == 1 ? "$1" : "$1, $2"),
							  nargs, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not list the foreign partitions to skip");
	SPI_finish();
}

/* backup_db(backup_dir, schemas, force, parallel, wait, compression) */
Datum
partback_backup_db(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));
	bool		wait;
	ListCell   *lc;

	job->type = PB_JOB_BACKUP_DB;
	job->backup_dir = backup_dir_arg(fcinfo);
	job->source_db = get_database_name(MyDatabaseId);
	job->schemas = text_array_arg(fcinfo, 1, "schemas");
	foreach(lc, job->schemas)
		(void) get_namespace_oid(lfirst(lc), false);
	job->force = bool_arg(fcinfo, 2, "force");
	set_common(job, fcinfo, 3);
	compression_arg(job, fcinfo, 5);
	wait = bool_arg(fcinfo, 4, "wait");
	{
		Oid			type = TEXTARRAYOID;
		Datum		value = PG_GETARG_DATUM(1);

		pb_check_backup_tables_free("SELECT n.nspname, c.relname "
									"FROM partback._db_tables($1) t "
									"JOIN pg_catalog.pg_class c ON c.oid = t.relid "
									"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
									1, &type, &value, PG_ARGISNULL(1) ? "n" : " ",
									pb_db_dir(job->backup_dir, job->source_db), true);
		if (job->schemas)
			check_schemas_have_tables(value, job->schemas);
	}
	pb_repo_init(job->backup_dir);
	pb_check_dir_cluster(job->backup_dir, job->source_db);
	pb_check_may_write(job->backup_dir, job->source_db);
	{
		Oid			type = TEXTARRAYOID;
		Datum		value = PG_GETARG_DATUM(1);

		if (!wait)		/* else the job's own, raised again */
			notice_foreign("_notice_db_foreign", 1, &type, &value,
						   PG_ARGISNULL(1) ? "n" : " ");
	}
	PG_RETURN_INT64(pb_submit_job(job, wait));
}

/* backup_table(backup_dir, tbl, force, parallel, wait, compression) */
Datum
partback_backup_table(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));
	bool		wait;

	job->type = PB_JOB_BACKUP_TABLE;
	job->backup_dir = backup_dir_arg(fcinfo);
	job->source_db = get_database_name(MyDatabaseId);
	require_arg(fcinfo, 1, "tbl");
	job->table = PG_GETARG_OID(1);
	check_backup_table(job->table);
	check_table_free(job);
	job->force = bool_arg(fcinfo, 2, "force");
	set_common(job, fcinfo, 3);
	compression_arg(job, fcinfo, 5);
	wait = bool_arg(fcinfo, 4, "wait");
	pb_repo_init(job->backup_dir);
	pb_check_dir_cluster(job->backup_dir, job->source_db);
	pb_check_may_write(job->backup_dir, job->source_db);
	{
		Oid			types[2] = {REGCLASSOID, TEXTARRAYOID};
		Datum		values[2] = {ObjectIdGetDatum(job->table), (Datum) 0};

		if (!wait)		/* else the job's own, raised again */
			notice_foreign("_notice_foreign_partitions", 2,
						   types, values, " n");
	}
	PG_RETURN_INT64(pb_submit_job(job, wait));
}

/* backup(backup_dir, tbl, partitions, force, parallel, wait, compression) */
Datum
partback_backup(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));
	bool		wait;

	job->type = PB_JOB_BACKUP;
	job->backup_dir = backup_dir_arg(fcinfo);
	job->source_db = get_database_name(MyDatabaseId);
	require_arg(fcinfo, 1, "tbl");
	job->table = PG_GETARG_OID(1);
	check_backup_table(job->table);
	check_table_free(job);
	job->partitions = text_array_arg(fcinfo, 2, "partitions");
	if (job->partitions)
	{
		/* resolve now, so that a wrong name fails the call */
		Oid			types[2] = {REGCLASSOID, TEXTARRAYOID};
		Datum		values[2] = {ObjectIdGetDatum(job->table), PG_GETARG_DATUM(2)};

		pb_spi_exec("SELECT partback._select_leaves($1, $2)", 2, types, values,
					SPI_OK_SELECT);
	}
	job->force = bool_arg(fcinfo, 3, "force");
	set_common(job, fcinfo, 4);
	compression_arg(job, fcinfo, 6);
	wait = bool_arg(fcinfo, 5, "wait");
	pb_repo_init(job->backup_dir);
	pb_check_dir_cluster(job->backup_dir, job->source_db);
	pb_check_may_write(job->backup_dir, job->source_db);
	{
		Oid			types[2] = {REGCLASSOID, TEXTARRAYOID};
		Datum		values[2] = {ObjectIdGetDatum(job->table), PG_GETARG_DATUM(2)};

		if (!wait)		/* else the job's own, raised again */
			notice_foreign("_notice_foreign_partitions", 2,
						   types, values, PG_ARGISNULL(2) ? " n" : "  ");
	}
	PG_RETURN_INT64(pb_submit_job(job, wait));
}

/*
 * The user may restore every table the restore would write, and no running
 * job copies one of them.
 */
static void
check_targets_free(PbJob *job, Datum schemas)
{
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[6];
	char		nulls[6] = "      ";

	values[0] = CStringGetTextDatum(job->backup_dir);
	values[1] = CStringGetTextDatum(job->source_db);
	values[2] = schemas;
	if (schemas == (Datum) 0)
		nulls[2] = 'n';
	values[3] = job->source_table ? CStringGetTextDatum(job->source_table) : (Datum) 0;
	if (!job->source_table)
		nulls[3] = 'n';
	values[4] = job->target_table ? CStringGetTextDatum(job->target_table) : (Datum) 0;
	if (!job->target_table)
		nulls[4] = 'n';
	values[5] = Int64GetDatum(job->backup_id);
	if (job->backup_id == 0)
		nulls[5] = 'n';
	/* the target's schema and name, as _restore_target finds them */
	pb_check_tables_free("SELECT n.s, pg_catalog.substr(n.k, pg_catalog.length(n.s) + 2) "
						 "FROM partback._restore_tables($1, $2, $3, $4, $6) e, "
						 "LATERAL partback._check_may_restore(e), "
						 "LATERAL (SELECT CASE WHEN $5 IS NULL "
						 "OR pg_catalog.cardinality(pg_catalog.parse_ident($5)) = 1 "
						 "THEN e->>'schema' ELSE (pg_catalog.parse_ident($5))[1] END, "
						 "partback._restore_target(e, $5)) n(s, k)",
						 6, types, values, nulls);
}

/* The backup restore_db would use must hold a table in the schemas given. */
static void
check_restore_schemas(PbJob *job, Datum schemas)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT8OID};
	Datum		values[4];
	char		nulls[4] = "   ";
	bool		isnull;
	int64		count;

	values[0] = CStringGetTextDatum(job->backup_dir);
	values[1] = CStringGetTextDatum(job->source_db);
	values[2] = schemas;
	values[3] = Int64GetDatum(job->backup_id);
	if (job->backup_id == 0)
		nulls[3] = 'n';
	SPI_connect();
	SPI_execute_with_args("SELECT count(*) FROM partback._restore_tables($1, $2, $3, NULL, $4)",
						  4, types, values, nulls, true, 1);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
	SPI_finish();
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("the backup of database \"%s\" in \"%s\" has no table in the schemas given",
						job->source_db, job->backup_dir),
				 errhint("partback.list_backups() and get_backup_list() show what a backup holds.")));
}

/*
 * Say which backup a restore_db or migrate without backup_id restores, and
 * what it covers when that is less than the whole database.
 */
static void
notice_chosen_backup(PbJob *job, Datum schemas)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT8OID};
	Datum		values[4];
	char		nulls[4] = "  nn";
	char	   *id;
	char	   *finished;
	char	   *lsn;
	char	   *job_type;
	char	   *covers;

	if (!pb_sql_function_exists("_restore_db_backup", 4, types))
		return;
	values[0] = CStringGetTextDatum(job->backup_dir);
	values[1] = CStringGetTextDatum(job->source_db);
	values[2] = schemas;
	if (schemas != (Datum) 0)
		nulls[2] = ' ';
	SPI_connect();
	if (SPI_execute_with_args("SELECT m->>'backup_id', m->>'finished_at', m->>'snapshot_lsn', "
							  "m->>'job_type', CASE WHEN pg_catalog.jsonb_typeof(m->'schemas') = 'array' "
							  "THEN pg_catalog.array_to_string(ARRAY("
							  "SELECT pg_catalog.jsonb_array_elements_text(m->'schemas')), ', ') END "
							  "FROM partback._restore_db_backup($1, $2, $3, $4) m "
							  "WHERE m IS NOT NULL",
							  4, types, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not look up the backup to restore");
	if (SPI_processed == 1)
	{
		id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		finished = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		lsn = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		job_type = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
		covers = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
		ereport(NOTICE,
				(errmsg("restoring backup %s of database \"%s\" in \"%s\"",
						id, job->source_db, job->backup_dir),
				 job_type && strcmp(job_type, "backup_db") != 0 ?
				 errdetail("It holds the database as of snapshot LSN %s, finished at %s; it was made by %s and holds only the tables that call named.",
						   lsn ? lsn : "?", finished ? finished : "?", job_type) :
				 covers && covers[0] ?
				 errdetail("It holds the database as of snapshot LSN %s, finished at %s; it holds the schemas %s only.",
						   lsn ? lsn : "?", finished ? finished : "?", covers) :
				 errdetail("It holds the database as of snapshot LSN %s, finished at %s.",
						   lsn ? lsn : "?", finished ? finished : "?"),
				 errhint("Name another backup with backup_id; partback.list_backups() lists them.")));
	}
	SPI_finish();
}

/* restore_db(backup_dir, source_db, schemas, backup_id, force, parallel, wait) */
Datum
partback_restore_db(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));
	bool		wait;

	job->type = PB_JOB_RESTORE_DB;
	job->backup_dir = backup_dir_arg(fcinfo);
	require_arg(fcinfo, 1, "source_db");
	job->source_db = text_arg(fcinfo, 1);
	job->schemas = text_array_arg(fcinfo, 2, "schemas");
	backup_id_arg(job, fcinfo, 3);
	job->force = bool_arg(fcinfo, 4, "force");
	set_common(job, fcinfo, 5);
	wait = bool_arg(fcinfo, 6, "wait");
	job->keep_new_partitions = keep_new_partitions_arg(fcinfo, 7);
	job->atomic = atomic_arg(fcinfo, 8);
	check_restore_source(job);
	if (job->schemas)
		check_restore_schemas(job, PG_GETARG_DATUM(2));
	check_targets_free(job, job->schemas ? PG_GETARG_DATUM(2) : (Datum) 0);
	if (job->backup_id == 0)
		notice_chosen_backup(job, job->schemas ? PG_GETARG_DATUM(2) : (Datum) 0);
	PG_RETURN_INT64(pb_submit_job(job, wait));
}

/*
 * restore_table(backup_dir, source_table, target_table, source_db,
 *				 backup_id, force, parallel, wait)
 */
Datum
partback_restore_table(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));

	job->type = PB_JOB_RESTORE_TABLE;
	job->backup_dir = backup_dir_arg(fcinfo);
	require_arg(fcinfo, 1, "source_table");
	job->source_table = text_arg(fcinfo, 1);
	job->target_table = text_arg(fcinfo, 2);
	require_arg(fcinfo, 3, "source_db");
	job->source_db = text_arg(fcinfo, 3);
	backup_id_arg(job, fcinfo, 4);
	job->force = bool_arg(fcinfo, 5, "force");
	set_common(job, fcinfo, 6);
	job->keep_new_partitions = keep_new_partitions_arg(fcinfo, 8);
	job->atomic = atomic_arg(fcinfo, 9);
	check_restore_source(job);
	check_restore_table(job);
	check_targets_free(job, (Datum) 0);
	PG_RETURN_INT64(pb_submit_job(job, bool_arg(fcinfo, 7, "wait")));
}

/*
 * restore(backup_dir, source_table, partition, target_table, source_db,
 *		   backup_id, force, parallel, wait)
 */
Datum
partback_restore(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));

	job->type = PB_JOB_RESTORE;
	job->backup_dir = backup_dir_arg(fcinfo);
	require_arg(fcinfo, 1, "source_table");
	job->source_table = text_arg(fcinfo, 1);
	require_arg(fcinfo, 2, "partition");
	job->partition_pattern = text_arg(fcinfo, 2);
	job->target_table = text_arg(fcinfo, 3);
	require_arg(fcinfo, 4, "source_db");
	job->source_db = text_arg(fcinfo, 4);
	backup_id_arg(job, fcinfo, 5);
	job->force = bool_arg(fcinfo, 6, "force");
	set_common(job, fcinfo, 7);
	job->atomic = atomic_arg(fcinfo, 9);
	check_restore_source(job);
	check_restore_table(job);
	check_targets_free(job, (Datum) 0);
	PG_RETURN_INT64(pb_submit_job(job, bool_arg(fcinfo, 8, "wait")));
}

/* migrate(backup_dir, source_db, parallel, wait) */
Datum
partback_migrate(PG_FUNCTION_ARGS)
{
	PbJob	   *job = palloc0(sizeof(PbJob));
	bool		wait;

	job->type = PB_JOB_MIGRATE;
	job->backup_dir = backup_dir_arg(fcinfo);
	job->source_db = text_arg(fcinfo, 1);
	set_common(job, fcinfo, 2);
	pb_repo_open(job->backup_dir);
	if (job->source_db == NULL)
	{
		/* the only database in the dir */
		List	   *entries = pb_list_dir(job->backup_dir);
		ListCell   *lc;
		int			found = 0;

		foreach(lc, entries)
		{
			bool		is_dir;
			char	   *name = lfirst(lc);

			if (pb_path_exists(psprintf("%s/%s/manifests", job->backup_dir, name), &is_dir))
			{
				found++;
				job->source_db = name;
			}
		}
		if (found != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("backup directory \"%s\" holds backups of %d databases", job->backup_dir, found),
					 errhint("Name the database to migrate with source_db.")));
		job->source_db = pb_unescape_name(job->source_db);
	}
	wait = bool_arg(fcinfo, 3, "wait");
	/* migrate moves another cluster's backup: any cluster's qualifies */
	pb_any_cluster = true;
	PG_TRY();
	{
		check_restore_source(job);
		check_targets_free(job, (Datum) 0);
		notice_chosen_backup(job, (Datum) 0);
	}
	PG_FINALLY();
	{
		pb_any_cluster = false;
	}
	PG_END_TRY();
	PG_RETURN_INT64(pb_submit_job(job, wait));
}
