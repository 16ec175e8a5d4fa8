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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/json.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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
	pb_json_add_int(&buf, "parallel", job->parallel);
	pb_json_add_str(&buf, "compression", pb_compression_name(job->compression));
	pb_json_add_int(&buf, "compression_level", job->compression_level);
	pb_json_add_int(&buf, "chunk_size_mb", job->chunk_size_mb);
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
	job->parallel = (int) pb_json_int(c, "parallel", "job arguments");
	{
		JsonbValue *v = getKeyJsonValueFromContainer(c, "force", 5, NULL);

		job->force = (v && v->type == jbvBool && v->val.boolean);
	}
	return job;
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

static Datum
text_or_null(const char *s, char *nulls, int i)
{
	nulls[i] = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static void
exec_with_nulls(const char *sql, int nargs, Oid *types, Datum *values,
				char *nulls)
{
	int			rc;

	SPI_connect();
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT && rc != SPI_OK_UPDATE)
		elog(ERROR, "partback: SPI_execute_with_args returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql);
	SPI_finish();
}

void
pb_job_insert(const PbJob *job, const char *user_name)
{
	Oid			types[7] = {INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[7];
	char		nulls[7] = "       ";

	values[0] = Int64GetDatum(job->job_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(user_name));
	values[2] = CStringGetTextDatum(pb_job_type_name(job->type));
	values[3] = CStringGetTextDatum(job->backup_dir);
	values[4] = CStringGetTextDatum(job->source_db);
	values[5] = CStringGetTextDatum(pb_job_to_json(job));
	values[6] = Int32GetDatum(MyProcPid);
	exec_with_nulls("INSERT INTO partback.job (job_id, user_name, job_type, backup_dir, "
					"source_db, args, state, worker_pid, started_at) "
					"VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'running', $7, now())",
					7, types, values, nulls);
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
	exec_with_nulls("UPDATE partback.job SET state = $2, backup_id = $3, "
					"error_code = $4, error = $5, finished_at = clock_timestamp() "
					"WHERE job_id = $1",
					5, types, values, nulls);
	/* tasks not finished end with their job */
	exec_with_nulls("UPDATE partback.task SET state = $2, finished_at = clock_timestamp() "
					"WHERE job_id = $1 AND state IN ('queued', 'running')",
					2, types, values, nulls);
}

void
pb_task_insert(int64 job_id, const char *table_name, const char *target_table,
			   int partitions)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];
	char		nulls[4] = "    ";

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(table_name);
	values[2] = text_or_null(target_table, nulls, 2);
	values[3] = Int32GetDatum(partitions);
	exec_with_nulls("INSERT INTO partback.task (job_id, table_name, target_table, "
					"partitions, state, started_at) VALUES ($1, $2, $3, $4, 'queued', now())",
					4, types, values, nulls);
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
	exec_with_nulls("UPDATE partback.task SET state = $3, completed = $4, rows = $5, "
					"bytes = $6, stored_bytes = $7, error = $8, "
					"started_at = coalesce(started_at, clock_timestamp()), "
					"finished_at = CASE WHEN $3 IN ('queued', 'running') THEN NULL "
					"ELSE clock_timestamp() END "
					"WHERE job_id = $1 AND table_name = $2",
					8, types, values, nulls);
}
