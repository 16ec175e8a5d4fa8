/*-------------------------------------------------------------------------
 *
 * backup.c
 *		Running a backup job: every partition of every selected table is
 *		read under one MVCC snapshot and written as data files and a
 *		metadata file per partition; the manifest is written last, which
 *		is what makes the backup exist.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "partback.h"

typedef struct BackupLeaf
{
	char	   *path;
	Oid			relid;
	List	   *path_elems;
	char	   *bound;			/* NULL for a plain table */
} BackupLeaf;

typedef struct BackupTotals
{
	int			partitions;
	int64		rows;
	int64		bytes;
	int64		stored_bytes;
} BackupTotals;

static char *
timestamp_text(TimestampTz t)
{
	return pstrdup(timestamptz_to_str(t));
}

static Datum
text_list_datum(List *list)
{
	Datum	   *elems = palloc(sizeof(Datum) * (list_length(list) + 1));
	ListCell   *lc;

	foreach(lc, list)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, list_length(list), TEXTOID,
										   -1, false, TYPALIGN_INT));
}

/* The tables a job backs up, in a stable order. */
static List *
job_tables(PbJob *job)
{
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	Oid			type = TEXTARRAYOID;
	Datum		value;
	char		null = ' ';

	if (job->type != PB_JOB_BACKUP_DB)
		return list_make1_oid(job->table);

	value = job->schemas ? text_list_datum(job->schemas) : (Datum) 0;
	if (job->schemas == NIL)
		null = 'n';
	SPI_connect();
	if (SPI_execute_with_args("SELECT relid FROM partback._db_tables($1)",
							  1, &type, &value, &null, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not list the tables of the database");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc,
														   1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(outer);

		result = lappend_oid(result, relid);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/* The leaves of table to copy (all, or those of backup()'s partitions). */
static List *
table_leaves(Oid table, List *partitions)
{
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[2] = {REGCLASSOID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = "  ";

	values[0] = ObjectIdGetDatum(table);
	values[1] = partitions ? text_list_datum(partitions) : (Datum) 0;
	if (partitions == NIL)
		nulls[1] = 'n';
	SPI_connect();
	if (SPI_execute_with_args("SELECT l.path, l.relid, l.path_elems, "
							  "pg_catalog.pg_get_expr(c.relpartbound, c.oid) "
							  "FROM partback._select_leaves($1, $2) l "
							  "JOIN pg_catalog.pg_class c ON c.oid = l.relid "
							  "ORDER BY l.path",
							  2, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not list the partitions of table %u", table);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		elems_datum = SPI_getbinval(tup, desc, 3, &isnull);
		MemoryContext old = MemoryContextSwitchTo(outer);
		BackupLeaf *leaf = palloc0(sizeof(BackupLeaf));
		Datum	   *elems;
		int			nelems;

		leaf->path = SPI_getvalue(tup, desc, 1);
		leaf->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		deconstruct_array(DatumGetArrayTypeP(elems_datum), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, NULL, &nelems);
		for (int j = 0; j < nelems; j++)
			leaf->path_elems = lappend(leaf->path_elems, TextDatumGetCString(elems[j]));
		leaf->bound = SPI_getvalue(tup, desc, 4);
		result = lappend(result, leaf);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

static char *
capture_definition(Oid table)
{
	Oid			type = REGCLASSOID;
	Datum		value = ObjectIdGetDatum(table);
	MemoryContext outer = CurrentMemoryContext;
	char	   *result;

	SPI_connect();
	if (SPI_execute_with_args("SELECT partback._capture_table($1)::text",
							  1, &type, &value, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "partback: could not capture the definition of table %u", table);
	result = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return result;
}

/* The user may read rel, and reading it shows every row. */
static void
check_readable(Relation rel)
{
	AclResult	aclresult = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(),
											  ACL_SELECT);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(rel));
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" has row-level security enabled for user \"%s\"",
						RelationGetRelationName(rel),
						GetUserNameFromId(GetUserId(), false)),
				 errhint("Back it up as its owner or as a role with BYPASSRLS, so that no row is left out.")));
}

/* The columns a binary COPY of rel carries, as a JSON array. */
static char *
copy_columns_json(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		escape_json(&buf, NameStr(att->attname));
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * Copy one leaf into its directory: data files of at most chunk_size_mb of
 * heap each, then the metadata file.  Appends the manifest's entry for it.
 */
static void
backup_leaf(PbJob *job, int64 backup_id, const char *db_dir,
			const char *schema, const char *table, BackupLeaf *leaf,
			Snapshot snapshot, StringInfo entries, BackupTotals *totals)
{
	Relation	rel = table_open(leaf->relid, AccessShareLock);
	char	   *rel_dir = pb_partition_dir(schema, table, leaf->path_elems);
	char	   *dir = psprintf("%s/%s", db_dir, rel_dir);
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	BlockNumber chunk_blocks = Max(1, (BlockNumber) ((uint64) job->chunk_size_mb * 1024 * 1024 / BLCKSZ));
	int			nchunks = Max(1, (nblocks + chunk_blocks - 1) / chunk_blocks);
	StringInfoData meta;
	StringInfoData files;
	int64		rows = 0;
	int64		bytes = 0;
	int64		stored = 0;
	char	   *meta_name;
	char	   *meta_sha;
	char	   *now;

	check_readable(rel);
	pb_mkdir_p(dir);

	initStringInfo(&files);
	appendStringInfoChar(&files, '[');
	for (int chunk = 0; chunk < nchunks; chunk++)
	{
		char	   *name = psprintf("%010lld.%05d.copy%s", (long long) backup_id,
									chunk, pb_compression_suffix(job->compression));
		PbWriter   *w = pb_writer_create(psprintf("%s/%s", dir, name),
										 job->compression, job->compression_level);
		PbWriteResult res;
		uint64		chunk_rows;
		StringInfoData file;

		chunk_rows = pb_copy_out(rel, snapshot, chunk * chunk_blocks, chunk_blocks,
								 chunk == nchunks - 1, w);
		pb_writer_finish(w, &res);

		initStringInfo(&file);
		appendStringInfoChar(&file, '{');
		pb_json_add_str(&file, "name", name);
		pb_json_add_int(&file, "rows", chunk_rows);
		pb_json_add_int(&file, "bytes", res.raw_bytes);
		pb_json_add_int(&file, "stored_bytes", res.stored_bytes);
		pb_json_add_str(&file, "sha256", res.sha256);
		appendStringInfoChar(&file, '}');
		if (chunk > 0)
			appendStringInfoString(&files, ",\n    ");
		appendStringInfoString(&files, file.data);

		rows += chunk_rows;
		bytes += res.raw_bytes;
		stored += res.stored_bytes;
	}
	appendStringInfoChar(&files, ']');

	now = timestamp_text(GetCurrentTimestamp());
	initStringInfo(&meta);
	appendStringInfoChar(&meta, '{');
	pb_json_add_str(&meta, "format", "partback");
	pb_json_add_int(&meta, "version", PARTBACK_FORMAT_VERSION);
	pb_json_add_int(&meta, "backup_id", backup_id);
	pb_json_add_str(&meta, "schema", schema);
	pb_json_add_str(&meta, "table", table);
	pb_json_add_str(&meta, "path", leaf->path);
	pb_json_add_raw(&meta, "path_elems", text_to_cstring(DatumGetTextPP(
		DirectFunctionCall1(array_to_json, text_list_datum(leaf->path_elems)))));
	pb_json_add_str(&meta, "partition_schema",
					get_namespace_name(RelationGetNamespace(rel)));
	pb_json_add_str(&meta, "partition_name", RelationGetRelationName(rel));
	pb_json_add_str(&meta, "bound", leaf->bound);
	pb_json_add_raw(&meta, "columns", copy_columns_json(rel));
	pb_json_add_str(&meta, "compression", pb_compression_name(job->compression));
	pb_json_add_int(&meta, "rows", rows);
	pb_json_add_int(&meta, "bytes", bytes);
	pb_json_add_int(&meta, "stored_bytes", stored);
	pb_json_add_str(&meta, "backed_up_at", now);
	pb_json_add_raw(&meta, "files", files.data);
	appendStringInfoString(&meta, "}\n");

	meta_name = psprintf("%010lld.meta.json", (long long) backup_id);
	meta_sha = pb_write_json_file(psprintf("%s/%s", dir, meta_name), meta.data);

	if (entries->len > 0 && entries->data[entries->len - 1] != '[')
		appendStringInfoString(entries, ",\n      ");
	appendStringInfoChar(entries, '{');
	pb_json_add_str(entries, "path", leaf->path);
	pb_json_add_str(entries, "bound", leaf->bound);
	pb_json_add_int(entries, "rows", rows);
	pb_json_add_int(entries, "bytes", bytes);
	pb_json_add_int(entries, "stored_bytes", stored);
	pb_json_add_str(entries, "meta", psprintf("%s/%s", rel_dir, meta_name));
	pb_json_add_str(entries, "meta_sha256", meta_sha);
	pb_json_add_int(entries, "backup_id", backup_id);
	pb_json_add_str(entries, "backed_up_at", now);
	appendStringInfoChar(entries, '}');

	totals->partitions++;
	totals->rows += rows;
	totals->bytes += bytes;
	totals->stored_bytes += stored;
	table_close(rel, NoLock);
}

/*
 * One backup at a time writes into a database's part of a backup dir: it
 * allocates the next backup id and names files after it.  An advisory lock
 * held to the end of the backup's transaction says who does.
 */
static void
lock_backup_dir(PbJob *job, const char *db_dir)
{
	LOCKTAG		tag;
	uint64		hash = hash_bytes_extended((const unsigned char *) db_dir,
										   strlen(db_dir), 0);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (hash >> 32), (uint32) hash, 3);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("another partback job is backing up database \"%s\" into \"%s\"",
						job->source_db, job->backup_dir),
				 errhint("Wait for it to end (partback.get_backup_status() shows it), then try again.")));
}

/*
 * Run a backup job.  Everything happens in one REPEATABLE READ transaction,
 * whose snapshot is the backup's point in time; the job's success is
 * committed with it.  Returns the new backup's id.
 */
int64
pb_run_backup(PbJob *job)
{
	int			saved_iso = DefaultXactIsoLevel;
	Snapshot	snapshot;
	XLogRecPtr	lsn;
	char	   *db_dir;
	int64	   *ids;
	int			nids;
	int64		backup_id;
	List	   *tables;
	ListCell   *lc;
	StringInfoData manifest;
	MemoryContext leaf_context;
	MemoryContext old;
	List	   *task_names = NIL;
	List	   *task_totals = NIL;
	TimestampTz started;

	DefaultXactIsoLevel = XACT_REPEATABLE_READ;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	DefaultXactIsoLevel = saved_iso;
	started = GetCurrentTransactionStartTimestamp();

	snapshot = GetTransactionSnapshot();
	PushActiveSnapshot(snapshot);
	lsn = GetXLogInsertRecPtr();

	pb_repo_init(job->backup_dir);
	db_dir = pb_db_dir(job->backup_dir, job->source_db);
	lock_backup_dir(job, db_dir);
	nids = pb_backup_ids(job->backup_dir, job->source_db, &ids);
	backup_id = nids > 0 ? ids[nids - 1] + 1 : 1;
	pb_mkdir_p(psprintf("%s/manifests", db_dir));

	tables = job_tables(job);
	/* lock every table and partition now, so DDL waits for the backup */
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);

		LockRelationOid(relid, AccessShareLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("a table to back up was dropped before the backup started")));
		(void) find_all_inheritors(relid, AccessShareLock, NULL);
	}

	initStringInfo(&manifest);
	appendStringInfoChar(&manifest, '{');
	pb_json_add_str(&manifest, "format", "partback");
	pb_json_add_int(&manifest, "version", PARTBACK_FORMAT_VERSION);
	pb_json_add_int(&manifest, "backup_id", backup_id);
	pb_json_add_str(&manifest, "database", job->source_db);
	pb_json_add_str(&manifest, "job_type", pb_job_type_name(job->type));
	pb_json_add_int(&manifest, "job_id", job->job_id);
	pb_json_add_str(&manifest, "started_at", timestamp_text(started));
	pb_json_add_str(&manifest, "snapshot_lsn",
					DatumGetCString(DirectFunctionCall1(pg_lsn_out, LSNGetDatum(lsn))));
	pb_json_add_int(&manifest, "server_version_num", PG_VERSION_NUM);
	pb_json_add_str(&manifest, "compression", pb_compression_name(job->compression));
	appendStringInfoString(&manifest, ",\n  \"tables\": [");

	leaf_context = AllocSetContextCreate(CurrentMemoryContext, "partback leaf",
										 ALLOCSET_DEFAULT_SIZES);
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *schema = get_namespace_name(get_rel_namespace(relid));
		char	   *name = get_rel_name(relid);
		char	   *definition = capture_definition(relid);
		List	   *leaves = table_leaves(relid, job->partitions);
		StringInfoData entries;
		BackupTotals *totals = palloc0(sizeof(BackupTotals));
		ListCell   *lc2;

		initStringInfo(&entries);
		appendStringInfoChar(&entries, '[');
		foreach(lc2, leaves)
		{
			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(leaf_context);
			backup_leaf(job, backup_id, db_dir, schema, name, lfirst(lc2),
						snapshot, &entries, totals);
			MemoryContextSwitchTo(old);
			MemoryContextReset(leaf_context);
		}
		appendStringInfoChar(&entries, ']');

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&manifest, ',');
		appendStringInfoString(&manifest, "\n    {");
		pb_json_add_str(&manifest, "schema", schema);
		pb_json_add_str(&manifest, "name", name);
		pb_json_add_raw(&manifest, "partial", job->partitions ? "true" : "false");
		pb_json_add_raw(&manifest, "definition", definition);
		appendStringInfoString(&manifest, ",\n     ");
		pb_json_add_raw(&manifest, "partitions", entries.data);
		appendStringInfoChar(&manifest, '}');

		task_names = lappend(task_names, psprintf("%s.%s", schema, name));
		task_totals = lappend(task_totals, totals);
	}
	appendStringInfoString(&manifest, "],\n  ");
	pb_json_add_str(&manifest, "finished_at", timestamp_text(GetCurrentTimestamp()));
	appendStringInfoString(&manifest, "}\n");

	/* the manifest comes last: from now on the backup exists */
	(void) pb_write_json_file(pb_manifest_path(job->backup_dir, job->source_db,
											   backup_id),
							  manifest.data);

	foreach(lc, task_names)
	{
		BackupTotals *t = list_nth(task_totals, foreach_current_index(lc));

		pb_task_insert(job->job_id, lfirst(lc), NULL, t->partitions);
		pb_task_update(job->job_id, lfirst(lc), "succeeded", t->partitions,
					   t->rows, t->bytes, t->stored_bytes, NULL);
	}
	pb_job_finish(job->job_id, "succeeded", backup_id, NULL, NULL);

	PopActiveSnapshot();
	CommitTransactionCommand();
	return backup_id;
}
