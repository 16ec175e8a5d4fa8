/*-------------------------------------------------------------------------
 *
 * restore.c
 *		Running a restore job (restore_db, restore_table, restore, migrate).
 *
 *		Targets are prepared first (created from the stored definition, or
 *		checked and matched by partition bound).  Then copy workers replace
 *		each partition in a transaction of its own -- truncated and loaded --
 *		so a failure leaves it with its old content and other partitions
 *		stay usable; a partition that holds the backup's content already is
 *		skipped.  Sequences and foreign keys come after all data.
 *
 *		With atomic => true a table is restored by one copy worker in one
 *		transaction instead: its preparation (partitions created and
 *		dropped), every partition's truncate and load, and their records
 *		commit together, so that an error, a cancel or a crash at any moment
 *		leaves every partition as it was.  Tables still go to several
 *		workers at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/cluster.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "partback.h"
#include "auth.h"

typedef struct RestoreTable RestoreTable;

typedef struct RestoreLeaf
{
	RestoreTable *table;
	char	   *path;
	char	   *meta;			/* relative to the database dir */
	char	   *meta_sha256;
	char	   *content_key;	/* same for partitions of the same content */
	int64		bytes;			/* of its data, uncompressed */
	Oid			target;			/* the target leaf, once prepared */
	int			nfiles;			/* its data files */
	List	   *columns;		/* with two files or more: the stream's */
	Oid			transient;		/* loaded in parts into this (make_parts) */
	bool		whole_table;	/* a unit of work that prepares its table too */
	bool		late;			/* has columns loaded from text (reg* types),
								 * which name other tables: loaded once every
								 * table exists */
} RestoreLeaf;

struct RestoreTable
{
	char	   *source;			/* schema.table as in the backup */
	char	   *definition;		/* JSON */
	Jsonb	   *definition_jsonb;	/* parsed once, by definition_datum */
	char	   *target_schema;
	char	   *target_name;
	Oid			target;
	bool		drop_missing;
	int64		backup_id;		/* the backup restored from */
	List	   *leaves;			/* RestoreLeaf */
	int			reused;			/* partitions an earlier call restored */
	int64		reused_bytes;
	bool		failed;			/* recorded in partback.job_message */
	bool		made_before;	/* migrate: an earlier call made the target */
	bool		by_worker;		/* its copy worker prepares it (whole_table_unit) */
	bool		finished_by_worker; /* and finishes it (finish_target) */
};


/*
 * The object or array at key of c as a Jsonb of its own: a copy of its
 * binary form, never its text parsed again.  ERROR if there is none.
 */
static Jsonb *
container_copy(JsonbContainer *c, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(c, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata lacks the object or array \"%s\"", key)));
	return JsonbValueToJsonb(v);
}

/* Split target_table ('name' or 'schema.name', SQL identifier syntax). */
static void
parse_target(RestoreTable *t, const char *target_table, const char *source_schema)
{
	List	   *names;

	if (target_table == NULL)
		return;
	names = textToQualifiedNameList(cstring_to_text(target_table));
	if (list_length(names) == 1)
	{
		t->target_schema = pstrdup(source_schema);
		t->target_name = strVal(linitial(names));
	}
	else if (list_length(names) == 2)
	{
		t->target_schema = strVal(linitial(names));
		t->target_name = strVal(lsecond(names));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("target table \"%s\" has too many dotted names", target_table),
				 errhint("Give the target as table or schema.table.")));
}

static char *target_text(RestoreTable *t);
static void record_partitions(int64 job_id, RestoreTable *t);
static bool restore_partitions_supported(void);
static void record_target(int64 job_id, RestoreTable *t);
static void finish_target(RestoreTable *t);

static bool
path_matches(const char *path, const char *pattern)
{
	return DatumGetBool(DirectFunctionCall2Coll(textlike, C_COLLATION_OID,
												CStringGetTextDatum(path),
												CStringGetTextDatum(pattern)));
}

/*
 * Did an earlier call of this migrate (same arguments), not followed by
 * one that succeeded, create relid?  Then calling it again goes on with
 * it: it retries what failed.  After a migrate that succeeded, its tables
 * are existing tables like any other.
 */
static bool
made_by_earlier_call(PbJob *job, Oid relid)
{
	Oid			types[2] = {INT8OID, OIDOID};
	Datum		values[2];
	bool		result;

	if (!pb_messages_supported())
		return false;
	values[0] = Int64GetDatum(job->job_id);
	values[1] = ObjectIdGetDatum(relid);
	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT FROM partback.task t JOIN partback.job j USING (job_id), "
							  "partback.job me WHERE me.job_id = $1 "
							  "AND j.resume_key = me.resume_key AND j.job_id < me.job_id "
							  "AND t.target_relid = $2 "
							  /* not done with since: no call of it succeeded */
							  "AND NOT EXISTS (SELECT FROM partback.job s "
							  "WHERE s.resume_key = me.resume_key AND s.state = 'succeeded' "
							  "AND s.job_id > j.job_id AND s.job_id < me.job_id) "
							  "AND j.state <> 'succeeded'",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the tasks of earlier jobs");
	result = SPI_processed > 0;
	SPI_finish();
	pb_catalog_end();
	return result;
}

/*
 * migrate restores into an empty database: check before creating anything
 * -- but for what an earlier call of the same migrate created.
 */
static void
refuse_existing(PbJob *job, RestoreTable *t)
{
	Oid			nsp = get_namespace_oid(t->target_schema, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(t->target_name, nsp) : InvalidOid;

	if (OidIsValid(relid) && made_by_earlier_call(job, relid))
		t->made_before = true;
	else if (OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("table \"%s.%s\" already exists", t->target_schema, t->target_name),
				 errhint("migrate only restores into a database that lacks the backup's tables; use restore_db or restore_table to replace existing tables.")));
}

/*
 * Build the job's table list from the backup (in the caller's transaction).
 */
static List *
plan_tables(PbJob *job)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, INT8OID};
	Datum		values[5];
	char		nulls[5] = "     ";
	MemoryContext outer = CurrentMemoryContext;
	List	   *entries = NIL;
	List	   *tables = NIL;
	ListCell   *lc;

	values[0] = CStringGetTextDatum(job->backup_dir);
	values[1] = CStringGetTextDatum(job->source_db);
	if (job->schemas)
	{
		Datum	   *elems = palloc(sizeof(Datum) * list_length(job->schemas));

		foreach(lc, job->schemas)
			elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
		values[2] = PointerGetDatum(construct_array(elems, list_length(job->schemas),
													TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[2] = 'n';
	values[3] = job->source_table ? CStringGetTextDatum(job->source_table) : (Datum) 0;
	if (!job->source_table)
		nulls[3] = 'n';
	values[4] = Int64GetDatum(job->backup_id);
	if (job->backup_id == 0)
		nulls[4] = 'n';

	SPI_connect();
	/* migrate moves another cluster's backup: any cluster's qualifies */
	pb_any_cluster = (job->type == PB_JOB_MIGRATE);
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT e FROM partback._restore_tables($1, $2, $3, $4, $5) e",
								  5, types, values, nulls, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "partback: could not read the backup's tables");
	}
	PG_FINALLY();
	{
		pb_any_cluster = false;
	}
	PG_END_TRY();
	/*
	 * The entries as the jsonb they are, not as text parsed again: parsing
	 * takes many times a text's size, and an entry of a table of many
	 * thousand partitions is megabytes.
	 */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		e = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
									  &isnull);
		MemoryContext old = MemoryContextSwitchTo(outer);

		if (isnull)
			elog(ERROR, "partback: a table entry of the backup is null");
		entries = lappend(entries, DatumGetJsonbPCopy(e));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	if (entries == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the backup holds no table to restore"),
				 job->schemas ? errhint("No table of the backup is in the schemas given.") : 0));

	foreach(lc, entries)
	{
		Jsonb	   *jb = lfirst(lc);
		JsonbContainer *entry = &jb->root;
		JsonbContainer *parts = pb_json_container(entry, "partitions");
		const char *schema = pb_json_str(entry, "schema", false);
		const char *name = pb_json_str(entry, "name", false);
		JsonbValue *partial = getKeyJsonValueFromContainer(entry, "partial", 7, NULL);
		RestoreTable *t = palloc0(sizeof(RestoreTable));

		t->source = psprintf("%s.%s", schema, name);
		t->backup_id = pb_json_int(entry, "backup_id", "manifest");
		t->definition_jsonb = container_copy(entry, "definition");
		t->target_schema = pstrdup(schema);
		t->target_name = pstrdup(name);
		parse_target(t, job->target_table, schema);
		/* a backup of some partitions says nothing about the others */
		t->drop_missing = (job->type == PB_JOB_RESTORE_TABLE ||
						   job->type == PB_JOB_RESTORE_DB) &&
			!job->keep_new_partitions &&
			!(partial && partial->type == jbvBool && partial->val.boolean);

		for (int i = 0; i < pb_json_array_size(parts); i++)
		{
			JsonbContainer *p = pb_json_array_container(parts, i);
			RestoreLeaf *leaf = palloc0(sizeof(RestoreLeaf));

			leaf->table = t;
			leaf->path = (char *) pb_json_str(p, "path", false);
			if (job->partition_pattern && !path_matches(leaf->path, job->partition_pattern))
				continue;
			leaf->meta = (char *) pb_json_str(p, "meta", false);
			(void) pb_meta_file_dir(leaf->meta);	/* never outside the backup */
			leaf->meta_sha256 = (char *) pb_json_str(p, "meta_sha256", false);
			leaf->bytes = pb_json_int(p, "bytes", "manifest");
			t->leaves = lappend(t->leaves, leaf);
		}
		if (job->partition_pattern && t->leaves == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no partition of table \"%s\" in the backup matches \"%s\"",
							t->source, job->partition_pattern),
					 errhint("The pattern is a LIKE pattern on partition paths; partback.get_backup_list() shows them.")));
		if (job->type == PB_JOB_MIGRATE)
			refuse_existing(job, t);
		tables = lappend(tables, t);
		/* what t needs was copied out of the entry */
		pfree(jb);
	}
	list_free(entries);
	return tables;
}

/*
 * t's definition as a jsonb Datum, kept with t as the manifest entry held
 * it: each step that hands it to SQL would otherwise parse the whole
 * table's definition again.
 */
static Datum
definition_datum(RestoreTable *t)
{
	if (t->definition_jsonb == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(t));

		t->definition_jsonb = pb_parse_json(t->definition, "manifest");
		MemoryContextSwitchTo(old);
	}
	return JsonbPGetDatum(t->definition_jsonb);
}

/*
 * t's definition as JSON text (an atomic restore's plan): made when needed,
 * not kept, from the jsonb t holds.
 */
static char *
definition_text(RestoreTable *t)
{
	if (t->definition)
		return t->definition;
	return JsonbToCString(NULL, &t->definition_jsonb->root,
						  VARSIZE(t->definition_jsonb));
}

/*
 * prepare_target's hash of leaves by path: an entry is the path (the key,
 * keysize bytes), then the leaf
 */
#define LEAF_OF_ENTRY(entry, keysize) \
	(*(RestoreLeaf **) ((char *) (entry) + MAXALIGN(keysize)))

/*
 * How many locks one transaction of a restore's leader may take on the
 * partitions of a table: an eighth of the server's lock table
 * (max_locks_per_transaction slots per possible session), and at least
 * max_locks_per_transaction.  Steps that would lock more are split into
 * transactions of that many, each releasing its locks at commit.
 */
static int
lock_budget(void)
{
	int64		budget = (int64) max_locks_per_xact * MaxBackends / 8;

	return (int) Min(Max(budget, max_locks_per_xact), INT_MAX);
}

/*
 * The lock_budget() of a transaction that creates partitions, and at most
 * 4,000 locks (about 1,000 partitions): a relation created in a
 * transaction keeps its relcache entry until the transaction ends (the
 * leader held 55 MB of them at 10,000 partitions made in one).
 */
static int
creation_budget(void)
{
	return Min(lock_budget(), 4000);
}

/*
 * Create or check the target of t and find the target leaf of each
 * restored partition (the SQL side, sql/install/20_definition.sql).
 *
 * Missing partitions are created in batches of about creation_budget() locks,
 * each committed (and its locks released) before the next is made, so
 * that a tree of any size is made with the server's lock table.  Called in
 * a transaction, which is committed between batches: a failure keeps the
 * batches before it, whose partitions are empty, and calling the job again
 * goes on from there (see README, "Restoring many partitions").  The target
 * is recorded in the job's task once the first batch made it.  Without
 * in_batches (an atomic restore, all in its worker's one transaction) it
 * is made in one go; job is then not needed.
 */
static void
prepare_target(PbJob *job, RestoreTable *t, bool must_not_exist, bool in_batches)
{
	Oid			types[8] = {JSONBOID, TEXTOID, TEXTOID, TEXTARRAYOID, BOOLOID, BOOLOID,
	INT4OID, OIDARRAYOID};
	Datum		values[8];
	char		nulls[8] = "       n";
	Datum	   *paths = palloc(sizeof(Datum) * (list_length(t->leaves) + 1));
	Datum	   *done = palloc(sizeof(Datum) * (list_length(t->leaves) + 1));
	ListCell   *lc;
	Oid			nsp;
	/* the SQL objects of an earlier version (until ALTER EXTENSION UPDATE) lack it */
	bool		batches = pb_sql_function_exists("_prepare_target", 8, types);
	int			batch = 0;
	HTAB	   *by_path;
	HASHCTL		ctl;
	Size		longest = 0;
	MemoryContext batch_context;
	MemoryContext old;

	foreach(lc, t->leaves)
	{
		RestoreLeaf *leaf = lfirst(lc);

		longest = Max(longest, strlen(leaf->path));
	}
	/* the leaves by path, to match the rows returned (many thousands) */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = longest + 1;
	ctl.entrysize = MAXALIGN(longest + 1) + sizeof(RestoreLeaf *);
	ctl.hcxt = CurrentMemoryContext;
	by_path = hash_create("partback leaves by path", Max(list_length(t->leaves), 16), &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	foreach(lc, t->leaves)
	{
		RestoreLeaf *leaf = lfirst(lc);
		void	   *entry = hash_search(by_path, leaf->path, HASH_ENTER, NULL);

		LEAF_OF_ENTRY(entry, longest + 1) = leaf;
	}

	values[0] = definition_datum(t);
	values[1] = CStringGetTextDatum(t->target_schema);
	values[2] = CStringGetTextDatum(t->target_name);
	/* a batch's arrays of paths and targets: made again for each batch */
	batch_context = AllocSetContextCreate(CurrentMemoryContext, "partback target batch",
										  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(batch_context);
	foreach(lc, t->leaves)
		paths[foreach_current_index(lc)] = CStringGetTextDatum(((RestoreLeaf *) lfirst(lc))->path);
	values[3] = PointerGetDatum(construct_array(paths, list_length(t->leaves),
												TEXTOID, -1, false, TYPALIGN_INT));
	MemoryContextSwitchTo(old);
	values[4] = BoolGetDatum(t->drop_missing);
	values[6] = Int32GetDatum(creation_budget());
	if (!in_batches)
		nulls[6] = 'n';

	for (;;)
	{
		bool		more = false;

		CHECK_FOR_INTERRUPTS();
		/* a later batch finds the table the first one made */
		values[5] = BoolGetDatum(must_not_exist && batch == 0);
		if (batch > 0)
		{
			int			nleft = 0;
			int			ndone = 0;

			/* the last batch's arrays go, with their texts */
			MemoryContextReset(batch_context);
			old = MemoryContextSwitchTo(batch_context);
			/* the leaves left, and the targets found: not matched again */
			foreach(lc, t->leaves)
			{
				RestoreLeaf *leaf = lfirst(lc);

				if (OidIsValid(leaf->target))
					done[ndone++] = ObjectIdGetDatum(leaf->target);
				else
					paths[nleft++] = CStringGetTextDatum(leaf->path);
			}
			values[3] = PointerGetDatum(construct_array(paths, nleft, TEXTOID, -1, false,
														TYPALIGN_INT));
			values[7] = PointerGetDatum(construct_array(done, ndone, OIDOID, sizeof(Oid),
														true, TYPALIGN_INT));
			nulls[7] = ' ';
			MemoryContextSwitchTo(old);
		}
		SPI_connect();
		if (SPI_execute_with_args(batches ?
								  "SELECT path, relid FROM partback._prepare_target($1, $2, $3, $4, $5, $6, $7, $8)" :
								  "SELECT path, relid FROM partback._prepare_target($1, $2, $3, $4, $5, $6)",
								  batches ? 8 : 6, types, values, nulls, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "partback: could not prepare the target of table %s", t->source);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *path = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 2,
															   &isnull));

			/* a row of NULLs: a batch is made, more are to come */
			if (path == NULL)
			{
				more = true;
				continue;
			}
			if (strlen(path) <= longest)
			{
				void	   *entry = hash_search(by_path, path, HASH_FIND, NULL);

				if (entry)
					LEAF_OF_ENTRY(entry, longest + 1)->target = relid;
			}
		}
		SPI_finish();

		nsp = get_namespace_oid(t->target_schema, false);
		t->target = get_relname_relid(t->target_name, nsp);
		if (!more)
			break;
		record_target(job->job_id, t);
		pb_xact_end();
		pb_xact_begin();
		batch++;
	}

	foreach(lc, t->leaves)
	{
		RestoreLeaf *leaf = lfirst(lc);

		if (!OidIsValid(leaf->target))
			elog(ERROR, "partback: no target partition was prepared for \"%s\" of table %s",
				 leaf->path, t->source);
	}
	hash_destroy(by_path);
	MemoryContextDelete(batch_context);
	pfree(paths);
	pfree(done);
}

static List *
string_list(JsonbContainer *arr)
{
	List	   *result = NIL;

	for (int i = 0; i < pb_json_array_size(arr); i++)
		result = lappend(result, (char *) pb_json_array_str(arr, i));
	return result;
}

/*
 * The columns of a partition's streams in their text form: its metadata's
 * "text_columns" (none when it lacks the member, as backups before it do),
 * each one of its "columns".
 */
static List *
text_columns(JsonbContainer *meta, List *columns, const char *meta_path)
{
	List	   *result = string_list(pb_json_container(meta, "text_columns"));
	ListCell   *lc;

	foreach(lc, result)
	{
		ListCell   *lc2;
		bool		found = false;

		foreach(lc2, columns)
			found |= strcmp(lfirst(lc), lfirst(lc2)) == 0;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("metadata file \"%s\" names \"%s\" in \"text_columns\", which is not one of its \"columns\"",
							meta_path, (char *) lfirst(lc))));
	}
	return result;
}

/* The pids holding a lock on relation relid, "?" if none is seen. */
static char *
relation_lock_holders(Oid relid)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2];
	MemoryContext outer = CurrentMemoryContext;
	char	   *result = NULL;

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = ObjectIdGetDatum(relid);
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(DISTINCT l.pid::text, ', ') "
							  "FROM pg_catalog.pg_locks l WHERE l.locktype = 'relation' "
							  "AND l.granted AND l.database = $1 AND l.relation = $2 "
							  "AND l.pid <> pg_catalog.pg_backend_pid()",
							  2, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v)
			result = MemoryContextStrdup(outer, v);
	}
	SPI_finish();
	PopActiveSnapshot();
	return result ? result : pstrdup("?");
}

/*
 * Queue for relid's ACCESS EXCLUSIVE lock at most
 * partback.restore_lock_timeout (0: take it only if free), in a
 * subtransaction that keeps it on success.  True when it is held.
 */
static bool
try_lock_partition(Oid relid)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		locked = false;
	int			nest_level;

	if (partback_restore_lock_timeout == 0)
		return ConditionalLockRelationOid(relid, AccessExclusiveLock);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	nest_level = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", psprintf("%d", partback_restore_lock_timeout),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	PG_TRY();
	{
		LockRelationOid(relid, AccessExclusiveLock);
		AtEOXact_GUC(true, nest_level);
		ReleaseCurrentSubTransaction();
		locked = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	return locked;
}

/*
 * Take the ACCESS EXCLUSIVE lock of partition relid without stalling its
 * readers: a restore that sat in the lock queue behind a long report would
 * make every new reader of the partition queue behind it.  So it queues at
 * most partback.restore_lock_timeout at a time, then leaves the queue and
 * sleeps (10 ms, doubling up to 1 s) before it tries again, at most
 * partback.lock_wait_timeout in all.  While it waits, the status says for
 * what and held by whom.
 */
static void
lock_partition(Oid relid, const char *kind, const char *name)
{
	TimestampTz start = GetCurrentTimestamp();
	long		sleep_ms = 10;
	char	   *holders = NULL;

	while (!try_lock_partition(relid))
	{
		char	   *what;

		CHECK_FOR_INTERRUPTS();
		holders = relation_lock_holders(relid);
		what = psprintf("waiting for lock on %s held by pid %s", name, holders);
		pb_live_set_waiting(what);
		pgstat_report_activity(STATE_RUNNING, what);
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), partback_lock_wait_timeout))
		{
			pb_live_set_waiting(NULL);
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("%s %s: waited %d ms for its lock, held by pid %s",
							kind, name, partback_lock_wait_timeout, holders),
					 errdetail("The %s is left as it was.", kind),
					 errhint("Call the same function again once those sessions are done; partback.lock_wait_timeout sets how long a restore waits.")));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		sleep_ms = Min(sleep_ms * 2, 1000);
	}
	if (holders)
	{
		pb_live_set_waiting(NULL);
		pgstat_report_activity(STATE_RUNNING, "partback restore");
	}
}

/*
 * Before the statements that finish t (some take ACCESS EXCLUSIVE locks):
 * its root's and leaves' locks, taken as lock_partition does, so that the
 * finish does not queue behind a report reading a partition.
 */
static void
lock_target(RestoreTable *t)
{
	ListCell   *lc;

	pb_live_start(t->source);
	lock_partition(t->target, "table", target_text(t));
	/*
	 * More leaves than one transaction should lock (lock_budget()): the
	 * root's lock alone.  The finish then locks only what its statements
	 * touch -- nothing below the root for most tables; where partitions
	 * have post-data of their own, those partitions, queueing as
	 * PostgreSQL does rather than as lock_partition does.
	 */
	if (list_length(t->leaves) > lock_budget())
	{
		pb_live_start(NULL);
		return;
	}
	foreach(lc, t->leaves)
	{
		RestoreLeaf *leaf = lfirst(lc);
		char	   *relname = get_rel_name(leaf->target);
		char	   *nspname = relname ? get_namespace_name(get_rel_namespace(leaf->target)) : NULL;

		if (relname && nspname)
			lock_partition(leaf->target, "partition", quote_qualified_identifier(nspname, relname));
	}
	pb_live_start(NULL);
}

/*
 * When fewer units are being loaded than the job's parallel, the index
 * builds after this load may use the rest of the job's share of the
 * machine (PostgreSQL's parallel btree build): a table restored alone, or
 * the last big partition, no longer leaves the other cores idle.  The
 * setting reverts with the GUC nest level the load runs in.
 */
static void
lend_idle_workers(PbWork *work)
{
	uint32		handed_out = Min(pg_atomic_read_u32(&work->next_unit), (uint32) work->nunits);
	uint32		loading = handed_out - pg_atomic_read_u32(&work->units_done);
	int			idle = work->parallel - (int) loading;

	if (pg_atomic_read_u32(&work->next_unit) >= (uint32) work->nunits && idle > 0)
		SetConfigOption("max_parallel_maintenance_workers", psprintf("%d", idle),
						PGC_USERSET, PGC_S_SESSION);
}

/*
 * Lock a target leaf as lock_partition does (named in its messages, else
 * by its partition path) and check that the caller owns it.
 */
static void
lock_own_leaf(Oid relid, const char *path)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	lock_partition(relid, "partition", relname && nspname ?
				   quote_qualified_identifier(nspname, relname) : path);
	if (!pb_table_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));
}

/* What become_owner changed, for end_owner to put back */
typedef struct OwnerContext
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} OwnerContext;

/*
 * Everything that runs code of a table's -- its constraints, generated
 * columns, triggers and index expressions, during a load and the index
 * builds after it -- runs as the table's owner in a security-restricted
 * operation with a fixed search_path, as REINDEX, CLUSTER and ANALYZE do: a
 * superuser restoring a role's table must not run that role's functions
 * with its own rights.
 */
static void
become_owner(Oid owner, OwnerContext *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_RESTRICTED_OPERATION);
	saved->nestlevel = NewGUCNestLevel();
	pb_restrict_search_path();
}

static void
end_owner(const OwnerContext *saved)
{
	AtEOXact_GUC(false, saved->nestlevel);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/* A leaf's loaded rows must be those its metadata counts */
static void
check_rows(const PbUnit *unit, const char *meta_path, int64 expected_rows)
{
	if (unit->rows != expected_rows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("partition \"%s\" of table %s: loaded " UINT64_FORMAT " rows, its metadata \"%s\" says " INT64_FORMAT,
						unit->path, unit->table_name, unit->rows, meta_path, expected_rows)));
}

/*
 * Replace the content of one target leaf with the partition's backup, in
 * the current transaction -- truncate, then load every data file, each
 * verified against its checksum as it is read -- and record it, to commit
 * with the load.
 */
static void
restore_leaf(PbWork *work, PbUnit *unit)
{
	char	   *meta_path = psprintf("%s/%s", pb_work_str(work, work->db_dir_off), unit->file);
	char	   *part_dir = pstrdup(meta_path);
	Jsonb	   *meta;
	JsonbContainer *files;
	List	   *columns;
	char	   *columns_text;
	PbCompression compression;
	int64		expected_rows;
	Relation	rel;
	PbLoad	   *load;
	char	   *qualified;
	OwnerContext saved;

	*strrchr(part_dir, '/') = '\0';

	meta = pb_read_meta_file(meta_path, unit->sha256);
	files = pb_json_container(&meta->root, "files");
	columns = string_list(pb_json_container(&meta->root, "columns"));
	columns_text = pb_json_text(&meta->root, "columns");
	compression = pb_compression_parse(pb_json_str(&meta->root, "compression", false));
	expected_rows = pb_json_int(&meta->root, "rows", meta_path);

	/* lock, check and empty the partition before opening it for the load */
	lock_own_leaf(unit->relid, unit->path);
	rel = table_open(unit->relid, NoLock);

	/*
	 * One this transaction made (restore_whole_table) is empty, and loads
	 * in bulk as it is; truncating it would build its indexes once more.
	 */
	if (rel->rd_createSubid == InvalidSubTransactionId ||
		RelationGetNumberOfBlocks(rel) != 0)
	{
		table_close(rel, NoLock);
		qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(unit->relid)),
											   get_rel_name(unit->relid));
		pb_spi_exec(psprintf("TRUNCATE ONLY %s", qualified), 0, NULL, NULL, SPI_OK_UTILITY);
		rel = table_open(unit->relid, NoLock);
	}
	become_owner(rel->rd_rel->relowner, &saved);

	load = pb_load_begin(rel, columns, text_columns(&meta->root, columns, meta_path),
						 true, work->max_rate);

	for (int i = 0; i < pb_json_array_size(files); i++)
	{
		JsonbContainer *f = pb_json_array_container(files, i);
		char	   *path = psprintf("%s/%s", part_dir, pb_data_file_name(f));
		uint64		rows;
		int64		bytes = pb_json_int(f, "bytes", meta_path);

		CHECK_FOR_INTERRUPTS();
		rows = pb_load_file(load, path, compression,
							pb_json_str(f, "sha256", false),
							pb_json_int(f, "stored_bytes", meta_path),
							bytes);
		unit->rows += rows;
		unit->raw_bytes += bytes;
		unit->stored_bytes += pb_json_int(f, "stored_bytes", meta_path);
		pb_live_add(rows, bytes);
	}
	lend_idle_workers(work);
	pb_load_end(load);
	end_owner(&saved);

	check_rows(unit, meta_path, expected_rows);
	unit->relfilenode = PB_REL_NUMBER(rel);
	table_close(rel, NoLock);

	/*
	 * The partition holds the backup's content as long as no page gets newer
	 * than now: nobody else can write it before this commits, under our
	 * lock.  The record commits with the load.
	 */
	pb_chunk_record(work, unit, 1, GetXLogInsertRecPtr(), columns_text);
	pb_task_add_units(work->job_id, &unit, 1);
}

/*
 * An atomic restore's unit: table t whole, in one transaction -- what the
 * leader does to prepare a target (create it or its missing partitions,
 * drop those the backup lacks), then every partition as restore_leaf does
 * it.  Nothing of it is seen before the commit; an error, a cancel, a
 * crash leave the table as it was.  Its root is locked first (without
 * stalling readers meanwhile, as lock_partition does): a reader of the
 * table then waits at its root, and cannot hold some of its partitions
 * while this waits for them.
 */
static void
restore_whole_table(PbWork *work, PbUnit *unit)
{
	Jsonb	   *plan = pb_parse_json(unit->file, "restore plan");
	JsonbContainer *leaves = pb_json_container(&plan->root, "leaves");
	RestoreTable *t = palloc0(sizeof(RestoreTable));
	JsonbValue *v;
	bool		must_not_exist;
	bool		keep_target;
	bool		finish;
	int			mark;
	MemoryContext leaf_context;
	Oid			nsp;
	Oid			root;
	ListCell   *lc;

	t->source = unit->table_name;
	t->definition = pb_json_text(&plan->root, "definition");
	t->target_schema = (char *) pb_json_str(&plan->root, "target_schema", false);
	t->target_name = (char *) pb_json_str(&plan->root, "target_name", false);
	v = getKeyJsonValueFromContainer(&plan->root, "drop_missing", 12, NULL);
	t->drop_missing = (v && v->type == jbvBool && v->val.boolean);
	v = getKeyJsonValueFromContainer(&plan->root, "must_not_exist", 14, NULL);
	must_not_exist = (v && v->type == jbvBool && v->val.boolean);
	v = getKeyJsonValueFromContainer(&plan->root, "record_target", 13, NULL);
	keep_target = (v && v->type == jbvBool && v->val.boolean);
	v = getKeyJsonValueFromContainer(&plan->root, "finish", 6, NULL);
	finish = (v && v->type == jbvBool && v->val.boolean);
	for (int i = 0; i < pb_json_array_size(leaves); i++)
	{
		JsonbContainer *l = pb_json_array_container(leaves, i);
		RestoreLeaf *leaf = palloc0(sizeof(RestoreLeaf));

		leaf->table = t;
		leaf->path = (char *) pb_json_str(l, "path", false);
		leaf->meta = (char *) pb_json_str(l, "meta", false);
		leaf->meta_sha256 = (char *) pb_json_str(l, "meta_sha256", false);
		leaf->content_key = (char *) pb_json_str(l, "content_key", false);
		t->leaves = lappend(t->leaves, leaf);
	}

	/*
	 * Its task shows running, with the rows loaded so far (the figures its
	 * units add commit with them, at the end).
	 */
	pb_live_start(unit->table_name);
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2];

		values[0] = Int64GetDatum(work->job_id);
		values[1] = CStringGetTextDatum(unit->table_name);
		pb_xact_begin();
		pb_catalog_exec("UPDATE partback.task SET state = 'running' "
						"WHERE job_id = $1 AND table_name = $2 AND state = 'queued'",
						2, types, values, NULL, SPI_OK_UPDATE);
		pb_xact_end();
	}

	leaf_context = AllocSetContextCreate(CurrentMemoryContext, "partback atomic leaf",
										 ALLOCSET_DEFAULT_SIZES);
	mark = pb_messages_mark();
	PG_TRY();
	{
		pb_xact_begin();
		nsp = get_namespace_oid(t->target_schema, true);
		root = OidIsValid(nsp) ? get_relname_relid(t->target_name, nsp) : InvalidOid;
		if (OidIsValid(root))
			lock_partition(root, "table", target_text(t));
		/* one transaction, its worker's */
		prepare_target(NULL, t, must_not_exist, false);
		if (keep_target)
			record_target(work->job_id, t);
		record_partitions(work->job_id, t);

		foreach(lc, t->leaves)
		{
			RestoreLeaf *leaf = lfirst(lc);
			MemoryContext old = MemoryContextSwitchTo(leaf_context);
			PbUnit		lu;

			CHECK_FOR_INTERRUPTS();
			memset(&lu, 0, sizeof(lu));
			lu.relid = leaf->target;
			strlcpy(lu.table_name, unit->table_name, sizeof(lu.table_name));
			lu.path = leaf->path;
			lu.file = leaf->meta;
			strlcpy(lu.sha256, leaf->meta_sha256, sizeof(lu.sha256));
			strlcpy(lu.result_sha256, leaf->content_key, sizeof(lu.result_sha256));
			restore_leaf(work, &lu);
			unit->rows += lu.rows;
			unit->raw_bytes += lu.raw_bytes;
			unit->stored_bytes += lu.stored_bytes;
			MemoryContextSwitchTo(old);
			MemoryContextReset(leaf_context);
		}
		if (finish)
		{
			finish_target(t);
			pb_task_finish(work->job_id, t->source, list_length(t->leaves), 0, 0);
		}
		/*
		 * Its warnings (a security label not restored, say) commit with it:
		 * the leader stops its copy workers once every unit is done.
		 */
		pb_messages_flush(work->job_id);
		/* every partition at once */
		pb_xact_end();
	}
	PG_CATCH();
	{
		/* what it said it did (a partition dropped, say) was rolled back */
		pb_messages_forget_since(mark);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* ---------- parts: one partition loaded by several copy workers ---------- */

/* Where they are recorded: not in an extension not updated from 1.0 */
static bool
parts_supported(void)
{
	Oid			nsp = get_namespace_oid("partback", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("transient_heap", nsp));
}

/*
 * Can leaf be loaded in parts?  Each of its data files is then loaded by
 * whichever copy worker takes it, in a transaction of its own, into a
 * transient heap made as CLUSTER makes one; the worker that ends the last
 * part swaps the transient heap in as the partition's content and rebuilds
 * its indexes, in one transaction (swap_in_parts).  Only where the plain
 * path would load it in bulk and the swap does what its TRUNCATE and load
 * do: a permanent heap the caller owns, without truncate triggers, that no
 * other table's foreign key references; and not with wal_level = logical,
 * since logical decoding does not see a swap.
 */
static bool
parts_possible(PbJob *job, RestoreLeaf *leaf, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TriggerDesc *trig = rel->trigdesc;
	ListCell   *lc;

	if (job->atomic || job->parallel < 2 || leaf->nfiles < 2 ||
		XLogLogicalInfoActive() || !parts_supported())
		return false;
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT ||
		!pb_table_ownercheck(relid, GetUserId()))
		return false;
	if (trig && (trig->trig_truncate_before_statement || trig->trig_truncate_after_statement))
		return false;
	foreach(lc, heap_truncate_find_FKs(list_make1_oid(relid)))
		if (lfirst_oid(lc) != relid)
			return false;
	/* the name make_new_heap gives: taken by what another job has left */
	if (OidIsValid(get_relname_relid(psprintf("pg_temp_%u", relid), RelationGetNamespace(rel))))
		return false;
	return pb_load_bulk_possible(rel, leaf->columns);
}

/*
 * Make leaf's transient heap, if it can be loaded in parts, and record it
 * (partback.transient_heap) in the current transaction.
 */
static void
make_parts(PbJob *job, RestoreLeaf *leaf)
{
	Relation	rel = table_open(leaf->target, AccessShareLock);
	Oid			types[3] = {OIDOID, INT8OID, OIDOID};
	Datum		values[3];

	if (!parts_possible(job, leaf, rel))
	{
		table_close(rel, AccessShareLock);
		return;
	}
	leaf->transient = make_new_heap(leaf->target, rel->rd_rel->reltablespace,
									rel->rd_rel->relam, RELPERSISTENCE_PERMANENT,
									AccessExclusiveLock);
	table_close(rel, NoLock);
	values[0] = ObjectIdGetDatum(leaf->transient);
	values[1] = Int64GetDatum(job->job_id);
	values[2] = ObjectIdGetDatum(leaf->target);
	pb_catalog_exec("INSERT INTO partback.transient_heap (relid, job_id, target) VALUES ($1, $2, $3)",
					3, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Drop the transient heaps not swapped in, in the current transaction:
 * those of job_id, or with 0 those of every job not queued or running
 * (interrupted by a crash, say).  Each is dropped only if it still is what
 * make_new_heap made for its target, so that a relation that took its OID
 * is never touched.  Rows another job is dropping are skipped.
 */
static int
drop_transient_heaps(int64 job_id)
{
	int			dropped = 0;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	List	   *found = NIL;
	ListCell   *lc;
	MemoryContext context = CurrentMemoryContext;

	if (!parts_supported())
		return 0;
	values[0] = Int64GetDatum(job_id);
	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT t.relid, t.target FROM partback.transient_heap t "
							  "WHERE t.job_id = $1 OR ($1 = 0 AND NOT EXISTS "
							  "(SELECT FROM partback.job j WHERE j.job_id = t.job_id "
							  "AND partback._effective_state(j.state, j.worker_pid, j.job_id) "
							  "IN ('queued', 'running'))) "
							  "FOR UPDATE OF t SKIP LOCKED",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read partback.transient_heap");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(context);
		Oid		   *pair = palloc(2 * sizeof(Oid));

		pair[0] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		pair[1] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		found = lappend(found, pair);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	pb_catalog_end();

	foreach(lc, found)
	{
		Oid		   *pair = lfirst(lc);
		char	   *name = get_rel_name(pair[0]);

		values[0] = ObjectIdGetDatum(pair[0]);
		if (name && get_rel_relkind(pair[0]) == RELKIND_RELATION &&
			strcmp(name, psprintf("pg_temp_%u", pair[1])) == 0)
		{
			ObjectAddress object;

			LockRelationOid(pair[0], AccessExclusiveLock);
			object.classId = RelationRelationId;
			object.objectId = pair[0];
			object.objectSubId = 0;
			/* unless dropped by hand meanwhile */
			if (get_rel_name(pair[0]) != NULL)
			{
				performDeletion(&object, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
				dropped++;
			}
		}
		types[0] = OIDOID;
		pb_catalog_exec("DELETE FROM partback.transient_heap WHERE relid = $1",
						1, types, values, NULL, SPI_OK_DELETE);
	}
	return dropped;
}

static void
drop_job_transient_heaps(void *job_id)
{
	(void) drop_transient_heaps(*(int64 *) job_id);
}

/*
 * At the server's start (recover.c): drop the transient heaps that jobs
 * interrupted by a crash left, in the current transaction.  Returns how
 * many it dropped.
 */
int
pb_drop_left_transient_heaps(void)
{
	return drop_transient_heaps(0);
}

/* Do a and b store their rows alike (a transient heap and its target)? */
static bool
same_layout(Relation a, Relation b)
{
	TupleDesc	da = RelationGetDescr(a);
	TupleDesc	db = RelationGetDescr(b);

	if (da->natts != db->natts)
		return false;
	for (int i = 0; i < da->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(da, i);
		Form_pg_attribute y = TupleDescAttr(db, i);

		if (x->atttypid != y->atttypid || x->atttypmod != y->atttypmod ||
			x->attlen != y->attlen || x->attalign != y->attalign ||
			x->attbyval != y->attbyval || x->attisdropped != y->attisdropped)
			return false;
	}
	return true;
}

pg_noreturn static void
target_changed(Relation rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("partition \"%s\" changed while it was restored: its columns are no longer those of its transient heap",
					RelationGetRelationName(rel)),
			 errhint("Calling the same function again restores it.")));
}

/* Load unit's data file into its partition's transient heap. */
static void
load_part(PbWork *work, PbUnit *unit)
{
	char	   *meta_path = psprintf("%s/%s", pb_work_str(work, work->db_dir_off), unit->file);
	char	   *part_dir = pstrdup(meta_path);
	Jsonb	   *meta = pb_read_meta_file(meta_path, unit->sha256);
	JsonbContainer *files = pb_json_container(&meta->root, "files");
	List	   *columns = string_list(pb_json_container(&meta->root, "columns"));
	PbCompression compression = pb_compression_parse(pb_json_str(&meta->root, "compression", false));
	JsonbContainer *f;
	Relation	rel;
	Relation	heap;
	PbLoad	   *load;
	OwnerContext saved;

	*strrchr(part_dir, '/') = '\0';
	/* the metadata is the one the leader planned with: same checksum */
	if (unit->part >= pb_json_array_size(files))
		elog(ERROR, "partback: metadata \"%s\" has no data file %d", meta_path, unit->part);
	f = pb_json_array_container(files, unit->part);

	unit->raw_bytes = pb_json_int(f, "bytes", meta_path);
	unit->stored_bytes = pb_json_int(f, "stored_bytes", meta_path);

	/* no change of its columns until this commits (ALTER TABLE waits) */
	rel = table_open(unit->relid, RowExclusiveLock);
	if (!pb_table_ownercheck(unit->relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	heap = table_open(unit->transient, RowExclusiveLock);
	if (!same_layout(rel, heap))
		target_changed(rel);

	become_owner(rel->rd_rel->relowner, &saved);
	load = pb_load_begin_transient(rel, heap, columns,
								   text_columns(&meta->root, columns, meta_path),
								   work->max_rate);
	unit->rows = pb_load_file(load, psprintf("%s/%s", part_dir, pb_data_file_name(f)),
							  compression, pb_json_str(f, "sha256", false),
							  unit->stored_bytes, unit->raw_bytes);
	pb_load_end(load);
	end_owner(&saved);

	pb_live_add(unit->rows, unit->raw_bytes);
	table_close(heap, NoLock);
	table_close(rel, NoLock);
}

/*
 * Every part of a partition is loaded: make the transient heap its content
 * (finish_heap_swap: the partition keeps its OID, privileges and
 * dependants; its indexes are rebuilt, with the idle copy workers' help)
 * and record the partition, in the current transaction.  What its TRUNCATE
 * would check is checked, and its row count against the metadata's.
 */
static void
swap_in_parts(PbWork *work, int first_index)
{
	PbUnit		u = work->units[first_index];
	char	   *meta_path;
	Jsonb	   *meta;
	char	   *columns_text;
	int64		expected_rows;
	Relation	rel;
	Relation	heap;
	TransactionId frozen_xid;
	MultiXactId min_multi;
	Oid			owner;
	Oid			types[1] = {OIDOID};
	Datum		values[1];
	OwnerContext saved;

	u.path = pb_work_str(work, u.path_off);
	u.file = pb_work_str(work, u.file_off);
	meta_path = psprintf("%s/%s", pb_work_str(work, work->db_dir_off), u.file);
	meta = pb_read_meta_file(meta_path, u.sha256);
	columns_text = pb_json_text(&meta->root, "columns");
	expected_rows = pb_json_int(&meta->root, "rows", meta_path);
	u.rows = u.raw_bytes = u.stored_bytes = 0;
	for (int i = first_index; i < first_index + u.nparts; i++)
	{
		u.rows += work->units[i].rows;
		u.raw_bytes += work->units[i].raw_bytes;
		u.stored_bytes += work->units[i].stored_bytes;
	}
	check_rows(&u, meta_path, expected_rows);

	lock_own_leaf(u.relid, u.path);
	rel = table_open(u.relid, NoLock);
	heap = table_open(u.transient, AccessExclusiveLock);
	if (!same_layout(rel, heap))
		target_changed(rel);
	/* as TRUNCATE: no other table's rows may point to the rows replaced */
	heap_truncate_check_FKs(list_make1(rel), false);
	frozen_xid = heap->rd_rel->relfrozenxid;
	min_multi = heap->rd_rel->relminmxid;
	owner = rel->rd_rel->relowner;
	/* the statistics TRUNCATE and the inserts would have counted */
	pgstat_count_truncate(rel);
	pgstat_count_heap_insert(rel, (PgStat_Counter) u.rows);
	table_close(heap, NoLock);
	table_close(rel, NoLock);

	become_owner(owner, &saved);
	lend_idle_workers(work);
	finish_heap_swap(u.relid, u.transient, false, false, true, true,
					 frozen_xid, min_multi, RELPERSISTENCE_PERMANENT);
	end_owner(&saved);

	values[0] = ObjectIdGetDatum(u.transient);
	pb_catalog_exec("DELETE FROM partback.transient_heap WHERE relid = $1",
					1, types, values, NULL, SPI_OK_DELETE);
	rel = table_open(u.relid, NoLock);
	u.relfilenode = PB_REL_NUMBER(rel);
	table_close(rel, NoLock);
	/* as restore_leaf records it */
	pb_chunk_record(work, &u, 1, GetXLogInsertRecPtr(), columns_text);
	{
		PbUnit	   *done = &u;

		pb_task_add_units(work->job_id, &done, 1);
	}
}

/*
 * One part of a partition loaded in parts; the worker that ends the last
 * one swaps them in.  Once a part failed (its rows, written frozen, are in
 * the transient heap whatever became of its transaction), the others are
 * skipped and nothing is swapped in: the leader drops the transient heap.
 */
static void
restore_part(PbWork *work, PbUnit *unit)
{
	PbUnit	   *first = &work->units[unit->first_part];
	bool		skip;
	bool		last;

	pb_live_start(unit->table_name);
	SpinLockAcquire(&work->mutex);
	skip = first->parts_failed;
	SpinLockRelease(&work->mutex);
	if (!skip)
	{
		PG_TRY();
		{
			pb_xact_begin();
			load_part(work, unit);
			pb_xact_end();
		}
		PG_CATCH();
		{
			SpinLockAcquire(&work->mutex);
			first->parts_failed = true;
			first->parts_left--;
			SpinLockRelease(&work->mutex);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	SpinLockAcquire(&work->mutex);
	last = (--first->parts_left == 0 && !first->parts_failed);
	SpinLockRelease(&work->mutex);
	if (last)
	{
		pb_xact_begin();
		swap_in_parts(work, unit->first_part);
		pb_xact_end();
	}
}

/*
 * A copy worker's part: one partition in a transaction of its own, or
 * (atomic) one table whole, or one part of a partition.
 */
void
pb_restore_unit(PbWork *work, PbUnit *unit)
{
	if (unit->whole_table)
	{
		restore_whole_table(work, unit);
		return;
	}
	if (unit->nparts > 0)
	{
		restore_part(work, unit);
		return;
	}
	pb_live_start(unit->table_name);
	pb_xact_begin();
	restore_leaf(work, unit);
	/* its warnings commit with it: the worker may be stopped once it is done */
	pb_messages_flush(work->job_id);
	pb_xact_end();
}

static int
larger_leaf_first(const ListCell *a, const ListCell *b)
{
	int64		bytes_a = ((RestoreLeaf *) lfirst(a))->bytes;
	int64		bytes_b = ((RestoreLeaf *) lfirst(b))->bytes;

	return (bytes_a < bytes_b) - (bytes_a > bytes_b);
}

/*
 * Check, before anything changes, the types, sequences, functions and
 * extensions t needs (sql/install/21_dependencies.sql): an extension
 * missing here must be available, an object of the same name must match.
 */
static void
check_dependencies(RestoreTable *t)
{
	Oid			type = JSONBOID;
	Datum		value;
	Oid			argtypes[2] = {JSONBOID, BOOLOID};

	/* the SQL objects of 1.0 (before ALTER EXTENSION ... UPDATE) lack it */
	if (!pb_sql_function_exists("_dep_apply", 2, argtypes))
		return;
	value = definition_datum(t);
	pb_spi_exec("SELECT partback._dep_apply($1, false)", 1, &type, &value, SPI_OK_SELECT);
}

static void
finish_target(RestoreTable *t)
{
	Oid			types[2] = {JSONBOID, REGCLASSOID};
	Datum		values[2];

	values[0] = definition_datum(t);
	values[1] = ObjectIdGetDatum(t->target);
	pb_spi_exec("SELECT partback._finish_target($1, $2)", 2, types, values,
				SPI_OK_SELECT);
}

/*
 * Drop the foreign keys that reference the targets (all among them, or
 * the restore fails here), recording them in the job's row in the same
 * transaction so that they are never lost.  Returns them as JSON.
 */
static char *
set_aside_foreign_keys(PbJob *job, List *tables)
{
	Oid			types[2] = {OIDARRAYOID, INT8OID};
	Datum		values[2];
	Datum	   *oids = palloc(sizeof(Datum) * (list_length(tables) + 1));
	int			noids = 0;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;
	char	   *result;

	/* an atomic restore's target that does not exist yet has no key */
	foreach(lc, tables)
		if (OidIsValid(((RestoreTable *) lfirst(lc))->target))
			oids[noids++] = ObjectIdGetDatum(((RestoreTable *) lfirst(lc))->target);
	values[0] = PointerGetDatum(construct_array(oids, noids, OIDOID,
												sizeof(Oid), true, TYPALIGN_INT));
	SPI_connect();
	if (SPI_execute_with_args("SELECT partback._drop_foreign_keys($1)::text",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "partback: could not set aside the foreign keys of job " INT64_FORMAT,
			 job->job_id);
	result = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1));
	SPI_finish();

	values[0] = CStringGetTextDatum(result);
	values[1] = Int64GetDatum(job->job_id);
	types[0] = TEXTOID;
	pb_catalog_exec("UPDATE partback.job SET dropped_foreign_keys = $1::jsonb "
					"WHERE job_id = $2", 2, types, values, NULL, SPI_OK_UPDATE);
	return result;
}

static void
add_foreign_keys(PbJob *job, const char *foreign_keys, bool not_valid)
{
	Oid			types[3] = {JSONBOID, BOOLOID, INT8OID};
	Datum		values[3];

	values[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(foreign_keys));
	values[1] = BoolGetDatum(not_valid);
	values[2] = Int64GetDatum(job->job_id);
	pb_spi_exec("SELECT partback._add_foreign_keys($1, $2)", 2, types, values,
				SPI_OK_SELECT);
	pb_catalog_exec("UPDATE partback.job SET dropped_foreign_keys = NULL WHERE job_id = $1",
					1, &types[2], &values[2], NULL, SPI_OK_UPDATE);
}

static char *
target_text(RestoreTable *t)
{
	return psprintf("%s.%s", t->target_schema, t->target_name);
}

/*
 * What a partition's content is made of: its columns and its data files'
 * checksums.  Equal keys, equal content -- whichever backup the files
 * belong to.
 */
static char *
content_key(PbJob *job, RestoreLeaf *leaf, MemoryContext scratch)
{
	char	   *hex = palloc(PARTBACK_SHA256_HEXLEN + 1);
	MemoryContext old = MemoryContextSwitchTo(scratch);
	char	   *meta_path = psprintf("%s/%s", pb_db_dir(job->backup_dir, job->source_db),
									 leaf->meta);
	Jsonb	   *meta = pb_read_meta_file(meta_path, leaf->meta_sha256);
	JsonbContainer *files = pb_json_container(&meta->root, "files");
	PbSha256   *ctx = pb_sha256_create();
	char	   *columns = pb_json_text(&meta->root, "columns");

	pb_sha256_update(ctx, columns, strlen(columns));
	for (int i = 0; i < pb_json_array_size(files); i++)
	{
		const char *sha = pb_json_str(pb_json_array_container(files, i), "sha256", false);

		pb_sha256_update(ctx, "\n", 1);
		pb_sha256_update(ctx, sha, strlen(sha));
	}
	pb_sha256_final(ctx, hex);
	MemoryContextSwitchTo(old);
	leaf->nfiles = pb_json_array_size(files);
	{
		JsonbValue *v = getKeyJsonValueFromContainer(&meta->root, "text_columns", 12, NULL);

		leaf->late = v && v->type == jbvBinary && JsonContainerSize(v->val.binary.data) > 0;
	}
	/* the column names outlive the metadata (pb_json_array_str copies) */
	if (leaf->nfiles >= 2)
		leaf->columns = string_list(pb_json_container(&meta->root, "columns"));
	/* the metadata read and parsed: a leader holds one at a time */
	MemoryContextReset(scratch);
	return hex;
}

/*
 * Does the target partition hold this content already?  It does if an
 * earlier restore loaded the same content into it and it did not change
 * since: same relation file, and no page newer than that load's commit.
 * Then it is skipped -- an interrupted restore resumes, a repeated one is
 * incremental.
 */
static bool
take_over_leaf(PbJob *job, List *earlier, RestoreTable *t, RestoreLeaf *leaf)
{
	ListCell   *lc;

	foreach(lc, earlier)
	{
		PbDoneChunk *c = lfirst(lc);
		Relation	rel;
		bool		unchanged;
		PbWork		work;
		PbUnit		unit;

		if (c->relid != leaf->target)
			continue;
		/* the newest load into this partition decides */
		if (strcmp(c->sha256, leaf->content_key) != 0)
			return false;
		rel = table_open(leaf->target, AccessShareLock);
		/* unlogged tables' pages carry no LSN, and a crash empties them */
		unchanged = RelationIsPermanent(rel) &&
			PB_REL_NUMBER(rel) == c->relfilenode &&
			pb_range_max_lsn(rel, 0, 0, true) <= c->lsn;
		table_close(rel, AccessShareLock);
		if (!unchanged)
			return false;

		/* this job restored it, too */
		memset(&work, 0, sizeof(work));
		memset(&unit, 0, sizeof(unit));
		work.job_id = job->job_id;
		unit.relid = leaf->target;
		unit.relfilenode = c->relfilenode;
		strlcpy(unit.table_name, t->source, sizeof(unit.table_name));
		unit.path = leaf->path;
		unit.file = leaf->meta;
		strlcpy(unit.result_sha256, leaf->content_key, sizeof(unit.result_sha256));
		unit.rows = c->rows;
		unit.raw_bytes = c->bytes;
		unit.stored_bytes = c->stored_bytes;
		pb_chunk_record(&work, &unit, 1, c->lsn, c->columns);
		t->reused_bytes += c->stored_bytes;
		return true;
	}
	return false;
}

/*
 * Record the target of t in its task, with its preparation: what lets a
 * migrate called again go on with a table it created.
 */
static void
record_target(int64 job_id, RestoreTable *t)
{
	Oid			types[3] = {INT8OID, TEXTOID, OIDOID};
	Datum		values[3];

	if (!pb_messages_supported())
		return;
	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(t->source);
	values[2] = ObjectIdGetDatum(t->target);
	pb_catalog_exec("UPDATE partback.task SET target_relid = $3 "
					"WHERE job_id = $1 AND table_name = $2",
					3, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * Can the job record its tasks' partitions (the SQL objects of versions
 * before partback.get_restore_partitions lack the column)?
 */
static bool
restore_partitions_supported(void)
{
	Oid			type = INT8OID;

	return pb_sql_function_exists("get_restore_partitions", 1, &type);
}

/*
 * Record in t's task the backup's partitions it restores, with their
 * targets once prepared: what partback.get_restore_partitions() lists.
 */
static void
record_partitions(int64 job_id, RestoreTable *t)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	StringInfoData buf;
	ListCell   *lc;

	if (!restore_partitions_supported())
		return;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, t->leaves)
	{
		RestoreLeaf *leaf = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoChar(&buf, '{');
		pb_json_add_str(&buf, "path", leaf->path);
		if (OidIsValid(leaf->target))
			pb_json_add_int(&buf, "relid", leaf->target);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(t->source);
	values[2] = CStringGetTextDatum(buf.data);
	pb_catalog_exec("UPDATE partback.task SET restore_partitions = $3::jsonb "
					"WHERE job_id = $1 AND table_name = $2",
					3, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * An atomic restore holds a lock on every relation of t until its end:
 * each partition, its TOAST table and index, its indexes.  A table needing
 * more than PostgreSQL's lock table holds (max_locks_per_transaction *
 * (max_connections + max_prepared_transactions)) could not be restored so;
 * it is refused before anything changes.  The estimate takes the larger of
 * the backup's and the target's relations, times each one's locks.
 */
static void
check_lock_capacity(RestoreTable *t)
{
	Oid			types[2] = {JSONBOID, OIDOID};
	Datum		values[2];
	char		nulls[2] = "  ";
	Oid			nsp = get_namespace_oid(t->target_schema, true);
	Oid			target = OidIsValid(nsp) ? get_relname_relid(t->target_name, nsp) : InvalidOid;
	int64		needed = 0;
	int64		capacity = (int64) max_locks_per_xact * (MaxConnections + max_prepared_xacts);

	values[0] = definition_datum(t);
	values[1] = ObjectIdGetDatum(target);
	if (!OidIsValid(target))
		nulls[1] = 'n';
	SPI_connect();
	if (SPI_execute_with_args("SELECT greatest(1 + coalesce(pg_catalog.jsonb_array_length($1->'partitions'), 0), "
							  "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_partition_tree($2::pg_catalog.regclass))) "
							  "* (3 + greatest(coalesce(pg_catalog.jsonb_array_length($1->'indexes'), 0) "
							  "+ (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements("
							  "coalesce($1->'constraints', '[]')) c "
							  "WHERE c->>'definition' ~ '^(PRIMARY KEY|UNIQUE|EXCLUDE)'), "
							  "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = $2)))",
							  2, types, values, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "partback: could not count the relations of table %s", t->source);
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		needed = isnull ? 0 : DatumGetInt64(d);
	}
	SPI_finish();
	if (needed > capacity)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("table %s cannot be restored atomically: it needs about " INT64_FORMAT " locks in one transaction, more than the lock table holds (" INT64_FORMAT ")",
						target_text(t), needed, capacity),
				 errdetail("An atomic restore locks every partition, TOAST table and index of a table until it ends; the lock table holds max_locks_per_transaction (%d) * (max_connections (%d) + max_prepared_transactions (%d)) locks.  Nothing was restored.",
						   max_locks_per_xact, MaxConnections, max_prepared_xacts),
				 errhint("Raise max_locks_per_transaction (it takes a restart), or restore without atomic => true.")));
}

/*
 * The rows SPI_execute left, each as an array of ncols strings ("" for
 * NULL), in a list in context: they outlive SPI_finish.
 */
static List *
spi_rows_as_strings(int ncols, MemoryContext context)
{
	List	   *rows = NIL;
	MemoryContext old = MemoryContextSwitchTo(context);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	  **r = palloc(sizeof(char *) * ncols);

		for (int k = 0; k < ncols; k++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, k + 1);

			r[k] = pstrdup(v ? v : "");
		}
		rows = lappend(rows, r);
	}
	MemoryContextSwitchTo(old);
	return rows;
}

/*
 * After a restore stopped half-way (cancelled, failed): for each table
 * some of whose partitions hold the backup's content and others their old
 * one, a WARNING says which (recorded in the job's messages); an atomic
 * restore's NOTICE names each table left whole as it was.  Runs in a
 * transaction of the caller's.
 */
static void
warn_mixed_tables(PbJob *job)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job->job_id);
	MemoryContext outer = CurrentMemoryContext;
	List	   *rows = NIL;
	ListCell   *lc;

	if (!restore_partitions_supported())
		return;
	/* as the job catalog's owner: the caller may not execute the function */
	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT table_name, "
							  "(pg_catalog.count(*) FILTER (WHERE content = 'backup'))::text, "
							  "pg_catalog.count(*)::text, "
							  "pg_catalog.string_agg(coalesce(target_partition::text, path), ', ' "
							  "ORDER BY path) FILTER (WHERE content = 'backup'), "
							  "pg_catalog.string_agg(coalesce(target_partition::text, path), ', ' "
							  "ORDER BY path) FILTER (WHERE content = 'old') "
							  "FROM partback.get_restore_partitions($1) GROUP BY table_name "
							  "HAVING pg_catalog.bool_or(content = 'old') ORDER BY 1",
							  1, &type, &value, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the partitions of job " INT64_FORMAT, job->job_id);
	rows = spi_rows_as_strings(5, outer);
	SPI_finish();
	pb_catalog_end();
	foreach(lc, rows)
	{
		char	  **r = lfirst(lc);

		pb_messages_set_table(r[0]);
		if (job->atomic)
			ereport(NOTICE,
					(errmsg("table %s keeps its old content in every partition: its atomic restore did not commit",
							r[0])));
		else if (strcmp(r[1], "0") != 0)
				ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("table %s is restored in part: %s of its %s partitions hold the backup's content, the others their old content",
							r[0], r[1], r[2]),
					 errdetail("From the backup: %s.  Old content: %s.", r[3], r[4]),
					 errhint("partback.get_restore_partitions(" INT64_FORMAT ") lists them; calling the same function again restores the rest, and atomic => true restores a table all or nothing.",
							 job->job_id)));
	}
	pb_messages_set_table(NULL);
}

/* Say which foreign keys were put back NOT VALID (recorded in the job). */
static void
warn_not_valid(const char *foreign_keys)
{
	Oid			type = JSONBOID;
	Datum		value = DirectFunctionCall1(jsonb_in, CStringGetDatum(foreign_keys));
	char	   *names = NULL;

	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(pg_catalog.format('%I on %s', "
							  "x->>'name', x->>'table'), ', ') "
							  "FROM pg_catalog.jsonb_array_elements($1) x",
							  1, &type, &value, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		names = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (names)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("foreign keys put back NOT VALID: %s", names),
				 errdetail("The restored rows do not satisfy them (a table failed, or the backup's rows break them)."),
				 errhint("Once the data fits, ALTER TABLE ... VALIDATE CONSTRAINT checks them.")));
	SPI_finish();
}

/*
 * In PG_CATCH of a step for table t (NULL: the job's foreign keys), with
 * the step's transaction still open: record a table's own problem as its
 * failure, roll the step back and go on; raise anything else again.
 */
static void
step_failed(RestoreTable *t, MemoryContext context)
{
	pb_catch_table_failure(t ? t->source : NULL, context);
	if (t)
		t->failed = true;
}

/*
 * The tables a partial backup (one whose backup job failed for some
 * tables) lacks are left as they are in the target: a WARNING names each.
 */
static void
warn_missing_tables(PbJob *job, List *tables)
{
	Oid			types[4] = {TEXTOID, TEXTOID, INT8OID, TEXTARRAYOID};
	Datum		values[4];
	char		nulls[4] = "    ";
	RestoreTable *first = linitial(tables);
	MemoryContext outer = CurrentMemoryContext;
	List	   *rows = NIL;
	ListCell   *lc;

	if (job->type != PB_JOB_RESTORE_DB && job->type != PB_JOB_MIGRATE)
		return;
	values[0] = CStringGetTextDatum(job->backup_dir);
	values[1] = CStringGetTextDatum(job->source_db);
	values[2] = Int64GetDatum(first->backup_id);
	if (job->schemas)
	{
		Datum	   *elems = palloc(sizeof(Datum) * list_length(job->schemas));

		foreach(lc, job->schemas)
			elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
		values[3] = PointerGetDatum(construct_array(elems, list_length(job->schemas),
													TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[3] = 'n';
	SPI_connect();
	if (SPI_execute_with_args("SELECT f->>'schema', f->>'name', f->>'error' "
							  "FROM pg_catalog.jsonb_array_elements(coalesce("
							  "partback._manifest($1, $2, $3)->'failed_tables', '[]')) f "
							  "WHERE $4 IS NULL OR f->>'schema' = ANY ($4) "
							  "ORDER BY 1, 2",
							  4, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the failed tables of backup " INT64_FORMAT,
			 first->backup_id);
	rows = spi_rows_as_strings(3, outer);
	SPI_finish();
	foreach(lc, rows)
	{
		char	  **r = lfirst(lc);

		pb_messages_set_table(psprintf("%s.%s", r[0], r[1]));
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("table %s.%s is not in backup " INT64_FORMAT ": its backup failed; it is left as it is",
						r[0], r[1], first->backup_id),
				 errdetail("The backup job failed for this table with: %s", r[2]),
				 errhint("Restore it from an earlier backup: restore_table(..., backup_id => ...); partback.get_backup_list() shows which backups hold it.")));
	}
	pb_messages_set_table(NULL);
}

/*
 * Hold every backup the job reads, to its end, before any table is touched:
 * purge_backups and delete_backup wait for the job, or fail naming it.  A
 * backup removed between planning and holding is gone; the job fails
 * before it changes anything.
 */
static void
hold_backups(PbJob *job, List *tables)
{
	char	   *db_dir = pb_db_dir(job->backup_dir, job->source_db);
	ListCell   *lc;

	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);
		int64	   *ids;
		int			n;
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		/* a backup read by several tables is held once more each time */
		pb_lock_backup(db_dir, t->backup_id, false, true, job->job_id);
		n = pb_backup_ids(job->backup_dir, job->source_db, &ids);
		for (int i = 0; i < n; i++)
			found |= (ids[i] == t->backup_id);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("backup " INT64_FORMAT " of database \"%s\" was removed from \"%s\" before the restore began",
							t->backup_id, job->source_db, job->backup_dir),
					 errdetail("Nothing was restored."),
					 errhint("partback.list_backups() lists the backups that remain.")));
	}
}

/*
 * A unit of work for the whole of table t: a leaf standing for the table,
 * its plan as JSON in place of a metadata file -- what its copy worker
 * needs to prepare the target and load every partition, in one
 * transaction (restore_whole_table).  An atomic restore's units, and a
 * small plain table's in the others.
 */
static RestoreLeaf *
whole_table_unit(PbJob *job, RestoreTable *t)
{
	RestoreLeaf *unit = palloc0(sizeof(RestoreLeaf));
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	pb_json_add_raw(&buf, "definition", definition_text(t));
	pb_json_add_str(&buf, "target_schema", t->target_schema);
	pb_json_add_str(&buf, "target_name", t->target_name);
	pb_json_add_raw(&buf, "drop_missing", t->drop_missing ? "true" : "false");
	pb_json_add_raw(&buf, "must_not_exist",
					job->type == PB_JOB_MIGRATE && !t->made_before ? "true" : "false");
	/* what a later call of the job goes on from (made_by_earlier_call) */
	pb_json_add_raw(&buf, "record_target", job->atomic ? "false" : "true");
	pb_json_add_raw(&buf, "finish", t->finished_by_worker ? "true" : "false");
	appendStringInfoString(&buf, ", \"leaves\": [");
	foreach(lc, t->leaves)
	{
		RestoreLeaf *leaf = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoChar(&buf, '{');
		pb_json_add_str(&buf, "path", leaf->path);
		pb_json_add_str(&buf, "meta", leaf->meta);
		pb_json_add_str(&buf, "meta_sha256", leaf->meta_sha256);
		pb_json_add_str(&buf, "content_key", leaf->content_key);
		appendStringInfoChar(&buf, '}');
		unit->bytes += leaf->bytes;
	}
	appendStringInfoString(&buf, "]}");

	unit->table = t;
	unit->whole_table = true;
	unit->path = t->source;
	unit->meta = buf.data;
	unit->meta_sha256 = "";
	unit->content_key = "";
	return unit;
}

/*
 * The leader's preparation of the tables while the copy workers load the
 * tables it prepared (pb_work_run's leader_step): at many tables, making
 * them took longer than loading them, and loads no longer wait for all.
 */
typedef struct Preparation
{
	PbJob	   *job;
	PbWork	   *work;
	List	   *tables;
	int			next_table;
	List	   *earlier;		/* loads of an earlier call (take_over_leaf) */
	List	   *pending;		/* units of tables prepared, not yet published */
	List	   *late;			/* RestoreLeaf late: after every other unit */
	List	   *published;		/* RestoreLeaf, one per unit of work */
	bool		started;		/* the copy workers' tables are published */
	bool		leader_began;	/* and made: the leader prepares the others */
	MemoryContext job_context;
	MemoryContext table_context;
} Preparation;

/*
 * Make the target of t and, in the same transaction, find what earlier
 * calls loaded already and the transient heaps of partitions loaded in
 * parts.  Its units of work go to p->pending; a failure fails t alone.
 */
static void
prepare_table(Preparation *p, RestoreTable *t)
{
	PbJob	   *job = p->job;

	pb_messages_set_table(t->source);
	PG_TRY();
	{
		List	   *table_units = NIL;
		ListCell   *lc;

		/* what preparing a table takes is not kept (its results are in t) */
		MemoryContextSwitchTo(p->table_context);
		pb_xact_begin();
		prepare_target(job, t, job->type == PB_JOB_MIGRATE && !t->made_before, true);
		record_target(job->job_id, t);
		record_partitions(job->job_id, t);
		foreach(lc, t->leaves)
		{
			RestoreLeaf *leaf = lfirst(lc);

			if (take_over_leaf(job, p->earlier, t, leaf))
				t->reused++;
			else
			{
				if (leaf->nfiles >= 2)
					make_parts(job, leaf);
				table_units = lappend(table_units, leaf);
			}
		}
		pb_xact_end();
		MemoryContextSwitchTo(p->job_context);
		foreach(lc, table_units)
		{
			RestoreLeaf *leaf = lfirst(lc);

			if (leaf->late)
				p->late = lappend(p->late, leaf);
			else
				p->pending = lappend(p->pending, leaf);
		}
	}
	PG_CATCH();
	{
		t->reused = 0;
		t->reused_bytes = 0;
		step_failed(t, p->job_context);
	}
	PG_END_TRY();
	MemoryContextReset(p->table_context);
	pb_messages_set_table(NULL);
}

/* Copy units to work as units [first, ...): a partition in parts takes one per data file. */
static int
set_units(PbWork *work, List *units, int first, List **placed)
{
	int			i = first;
	ListCell   *lc;

	foreach(lc, units)
	{
		RestoreLeaf *leaf = lfirst(lc);
		int			nparts = OidIsValid(leaf->transient) ? leaf->nfiles : 1;

		for (int part = 0; part < nparts; part++)
		{
			PbUnit		unit;

			memset(&unit, 0, sizeof(unit));
			unit.relid = leaf->target;
			strlcpy(unit.table_name, leaf->table->source, sizeof(unit.table_name));
			unit.path = leaf->path;
			unit.file = leaf->meta;
			strlcpy(unit.sha256, leaf->meta_sha256, sizeof(unit.sha256));
			strlcpy(unit.result_sha256, leaf->content_key, sizeof(unit.result_sha256));
			unit.whole_table = leaf->whole_table;
			if (OidIsValid(leaf->transient))
			{
				unit.part = part;
				unit.nparts = nparts;
				unit.first_part = i - part;
				unit.transient = leaf->transient;
				unit.parts_left = nparts;
			}
			pb_work_set_unit(work, i++, &unit);
			*placed = lappend(*placed, leaf);
		}
		/* a whole table's plan is in work now, and the table's definition */
		if (leaf->whole_table)
		{
			pfree(leaf->meta);
			leaf->meta = NULL;
		}
	}
	return i;
}

/*
 * Largest first: the copy workers then end at about the same time, not
 * with one of them loading a big table alone at the end.
 */
static void
publish_pending(Preparation *p)
{
	int			ready = (int) pg_atomic_read_u32(&p->work->units_ready);

	list_sort(p->pending, larger_leaf_first);
	ready = set_units(p->work, p->pending, ready, &p->published);
	pb_work_publish(p->work, ready);
	list_free(p->pending);
	p->pending = NIL;
}

/* Are all the units published so far done?  If not, wait a little. */
static bool
published_done(Preparation *p)
{
	if (pg_atomic_read_u32(&p->work->units_done) >= pg_atomic_read_u32(&p->work->units_ready))
		return true;
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 10L, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	return false;
}

/*
 * pb_work_run's leader step.  First the tables their copy workers prepare
 * (whole_table_unit), all at once.  Once they all exist, the others in
 * their order, each prepared by this leader while the copy workers load
 * those before: such a table may name one made before it (a policy's
 * query, say), a table a copy worker makes names none (prepared_by_worker).
 * Units prepared are published while the copy workers have fewer left
 * than they are, so that they rarely wait and yet the largest of what is
 * pending go first.  The late units go last, once every other is done.
 */
static bool
prepare_next_table(void *arg)
{
	Preparation *p = arg;
	int			ntables = list_length(p->tables);
	uint32		ready;
	uint32		taken;

	if (!p->started)
	{
		ListCell   *lc;
		MemoryContext old = MemoryContextSwitchTo(p->job_context);

		foreach(lc, p->tables)
		{
			RestoreTable *t = lfirst(lc);

			if (t->by_worker && !t->failed)
				p->pending = lappend(p->pending, whole_table_unit(p->job, t));
		}
		MemoryContextSwitchTo(old);
		if (p->pending != NIL)
			publish_pending(p);
		p->started = true;
		return true;
	}

	/* the next table the leader prepares */
	while (p->next_table < ntables &&
		   (((RestoreTable *) list_nth(p->tables, p->next_table))->by_worker ||
			((RestoreTable *) list_nth(p->tables, p->next_table))->failed))
		p->next_table++;
	if (p->next_table < ntables)
	{
		if (!p->leader_began && !published_done(p))
			return true;
		p->leader_began = true;
		prepare_table(p, list_nth(p->tables, p->next_table++));
	}
	else if (p->pending == NIL && p->late != NIL)
	{
		if (!published_done(p))
			return true;
		p->pending = p->late;
		p->late = NIL;
	}

	ready = pg_atomic_read_u32(&p->work->units_ready);
	taken = Min(pg_atomic_read_u32(&p->work->next_unit), ready);
	if (p->pending != NIL &&
		(p->next_table >= ntables || ready - taken < (uint32) p->job->parallel))
		publish_pending(p);
	if (p->next_table >= ntables && p->pending == NIL && p->late == NIL)
	{
		pb_work_end_publishing(p->work);
		return false;
	}
	return true;
}

/*
 * Read each partition's metadata (its content key and data files), in one
 * transaction; a table whose metadata cannot be read fails before
 * anything is changed (its step rolled back, the others go on in a new
 * transaction).
 */
static void
read_leaf_metadata(PbJob *job, List *tables, MemoryContext job_context)
{
	ListCell   *lc;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "partback metadata",
												  ALLOCSET_DEFAULT_SIZES);

	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);

		pb_messages_set_table(t->source);
		PG_TRY();
		{
			ListCell   *lc2;

			if (!IsTransactionState())
				pb_xact_begin();
			foreach(lc2, t->leaves)
			{
				RestoreLeaf *leaf = lfirst(lc2);

				leaf->content_key = content_key(job, leaf, scratch);
			}
		}
		PG_CATCH();
		{
			step_failed(t, job_context);
		}
		PG_END_TRY();
	}
	if (IsTransactionState())
		pb_xact_end();
	pb_messages_set_table(NULL);
	MemoryContextDelete(scratch);
}

/* Member key of a definition, NULL if it has none or it is JSON null. */
static JsonbValue *
definition_member(RestoreTable *t, const char *key)
{
	Jsonb	   *def = DatumGetJsonbP(definition_datum(t));
	JsonbValue *v = getKeyJsonValueFromContainer(&def->root, key, strlen(key), NULL);

	return (v && v->type != jbvNull) ? v : NULL;
}

/* Does member key of t's definition hold a non-empty array? */
static bool
definition_lists(RestoreTable *t, const char *key)
{
	JsonbValue *v = definition_member(t, key);

	return v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		JsonContainerSize(v->val.binary.data) > 0;
}

/*
 * Can t's copy worker prepare it, in the transaction of its load, so that
 * the leader makes nothing for it?  A plain table loaded whole by one
 * worker; in no inheritance tree of the job (inheritance: the leader
 * makes parents before children); that needs no type, sequence nor
 * function to be made (two copy workers making the same one would fail;
 * the leader makes them in turn); and that an earlier call did not load
 * (take_over_leaf).
 */
static bool
prepared_by_worker(PbJob *job, RestoreTable *t, List *earlier, bool inheritance)
{
	RestoreLeaf *leaf;
	JsonbValue *partitioned;
	ListCell   *lc;

	if (job->atomic || inheritance || t->failed || list_length(t->leaves) != 1)
		return false;
	leaf = linitial(t->leaves);
	if ((leaf->nfiles >= 2 && job->parallel >= 2) || leaf->late)
		return false;
	partitioned = definition_member(t, "partitioned");
	if ((partitioned && !(partitioned->type == jbvBool && !partitioned->val.boolean)) ||
		definition_lists(t, "dependencies") || definition_member(t, "of_type") ||
		definition_lists(t, "policies"))
		return false;
	foreach(lc, earlier)
		if (OidIsValid(t->target) && ((PbDoneChunk *) lfirst(lc))->relid == t->target)
			return false;
	return true;
}

/*
 * Can the copy worker that prepared and loaded t also finish it, in the
 * same transaction, before the other tables hold their data?  If what
 * finish_target adds names no other table: no foreign key, rule, trigger,
 * extended statistics (whose schema may have to be made) nor publication.
 */
static bool
finished_by_worker(RestoreTable *t)
{
	static const char *const others[] = {"foreign_keys", "rules", "triggers",
	"statistics", "publications"};

	for (int i = 0; i < lengthof(others); i++)
		if (definition_lists(t, others[i]))
			return false;
	return true;
}

/*
 * Decide which tables their copy workers prepare, and make the schemas
 * they go into that do not exist yet (two workers making the same schema
 * would fail).
 */
static void
choose_worker_prepared(PbJob *job, List *tables, List *earlier)
{
	bool		inheritance = false;
	List	   *schemas = NIL;
	ListCell   *lc;

	foreach(lc, tables)
		inheritance = inheritance || definition_lists(lfirst(lc), "inherits");
	pb_xact_begin();
	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);
		Oid			type = TEXTOID;
		Datum		value;

		t->by_worker = prepared_by_worker(job, t, earlier, inheritance);
		t->finished_by_worker = t->by_worker && finished_by_worker(t);
		if (!t->by_worker || OidIsValid(get_namespace_oid(t->target_schema, true)) ||
			list_member(schemas, t->target_schema))
			continue;
		value = CStringGetTextDatum(t->target_schema);
		pb_spi_exec("SELECT partback._def_ensure_schema($1)", 1, &type, &value, SPI_OK_SELECT);
		CommandCounterIncrement();
		schemas = lappend(schemas, t->target_schema);
	}
	pb_xact_end();
	list_free(schemas);
}

/*
 * Load the tables with the copy workers, each unit of work a partition
 * (those an earlier call loaded are taken over), or a whole table its
 * copy worker prepares (whole_table_unit).  The leader prepares the other
 * tables, in their order, while the copy workers load those prepared.
 * Returns the table's leaf of each unit of work.
 */
static List *
load_tables(PbJob *job, List *tables, MemoryContext job_context, PbWork **work_out,
			dsm_segment **seg_out)
{
	List	   *units = NIL;
	List	   *placed = NIL;
	List	   *earlier = NIL;
	ListCell   *lc;
	dsm_segment *seg;
	PbWork	   *work;
	Size		strings = 0;
	int			room = 0;
	Preparation prep;

	/* what jobs that ended before swapping them in left (make_parts) */
	pb_xact_begin();
	(void) drop_transient_heaps(0);
	if (!job->force && !job->atomic)
		earlier = pb_loaded_partitions(job->job_id);
	pb_xact_end();

	read_leaf_metadata(job, tables, job_context);
	choose_worker_prepared(job, tables, earlier);
	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);
		ListCell   *lc2;

		if (t->failed)
			continue;
		if (job->atomic || t->by_worker)
		{
			RestoreLeaf *unit = whole_table_unit(job, t);

			strings = add_size(strings, pb_unit_strings(unit->path, unit->meta));
			room++;
			if (job->atomic)
				units = lappend(units, unit);
			else
			{
				/* made again when its turn comes: not kept meanwhile */
				pfree(unit->meta);
				pfree(unit);
			}
			continue;
		}
		/* room for every partition, each in parts if it may be */
		foreach(lc2, t->leaves)
		{
			RestoreLeaf *leaf = lfirst(lc2);
			int			nparts = (leaf->nfiles >= 2 && job->parallel >= 2) ? leaf->nfiles : 1;

			strings = add_size(strings, mul_size(nparts, pb_unit_strings(leaf->path, leaf->meta)));
			room += nparts;
		}
	}
	work = pb_work_create(job, room, strings, &seg);
	work->job_id = job->job_id;
	work->is_backup = false;
	work->max_rate = job->max_rate;

	if (job->atomic)
	{
		list_sort(units, larger_leaf_first);
		(void) set_units(work, units, 0, &placed);
		pb_work_run(work, seg, job->parallel, NULL, NULL);
	}
	else
	{
		memset(&prep, 0, sizeof(prep));
		prep.job = job;
		prep.work = work;
		prep.tables = tables;
		prep.earlier = earlier;
		prep.job_context = job_context;
		prep.table_context = AllocSetContextCreate(job_context, "partback table preparation",
												   ALLOCSET_DEFAULT_SIZES);
		pb_work_begin_publishing(work);
		pb_work_run(work, seg, job->parallel, prepare_next_table, &prep);
		placed = prep.published;
		MemoryContextDelete(prep.table_context);
	}

	/* those of partitions a part of which failed */
	pb_xact_begin();
	(void) drop_transient_heaps(job->job_id);
	pb_xact_end();
	*work_out = work;
	*seg_out = seg;
	return placed;
}

/*
 * Run a restore job.  A table that cannot be prepared, loaded or finished
 * fails alone (recorded in partback.job_message, its task failed); the
 * others are restored, and the job then ends failed, naming each.
 * Calling the same function again loads only what is not loaded yet.
 */
void
pb_run_restore(PbJob *job)
{
	MemoryContext job_context = CurrentMemoryContext;
	List	   *tables;
	List	   *volatile units = NIL;
	ListCell   *lc;
	char	   *foreign_keys;
	dsm_segment *seg;
	PbWork	   *work;
	int			nfailed;

	pb_xact_begin();
	tables = plan_tables(job);
	hold_backups(job, tables);
	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);

		pb_job_lock_table(job->job_id, t->target_schema, t->target_name, true);
		pb_task_insert(job->job_id, t->source, target_text(t), list_length(t->leaves),
					   list_length(t->leaves));
		record_partitions(job->job_id, t);
		if (job->atomic)
			check_lock_capacity(t);
	}
	/* every table's dependencies are checked before any table is prepared */
	foreach(lc, tables)
		check_dependencies(lfirst(lc));
	warn_missing_tables(job, tables);
	pb_xact_end();

	/*
	 * The targets there are already: their foreign keys are set aside
	 * before any table is prepared or loaded.  (A target the preparation
	 * makes has none until finish_target adds those of its definition.)
	 */
	pb_xact_begin();
	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);
		Oid			nsp = get_namespace_oid(t->target_schema, true);

		t->target = OidIsValid(nsp) ? get_relname_relid(t->target_name, nsp) : InvalidOid;
	}
	foreign_keys = set_aside_foreign_keys(job, tables);
	pb_xact_end();

	/*
	 * Whatever interrupts the load (an error, a cancel), the keys set aside
	 * are put back, unchecked since the data may not fit them.  (A crash or
	 * an immediate shutdown leaves that to the server's start, recover.c.)
	 */
	PG_TRY();
	{
		units = load_tables(job, tables, job_context, &work, &seg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(job_context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pb_xact_begin();
		{
			/* the copy workers are gone (pb_work_run) */
			ErrorData  *dropped = pb_try_call(drop_job_transient_heaps, &job->job_id);

			if (dropped)
				ereport(LOG,
						(errmsg("partback: job " INT64_FORMAT " could not drop its transient heaps: %s",
								job->job_id, dropped->message),
						 errdetail("The next restore in the database drops them.")));
		}
		add_foreign_keys(job, foreign_keys, true);
		warn_not_valid(foreign_keys);
		warn_mixed_tables(job);
		pb_xact_end();
		ReThrowError(edata);
	}
	PG_END_TRY();
	/* a partition a copy worker could not load fails its table */
	foreach(lc, units)
	{
		RestoreLeaf *leaf = lfirst(lc);

		if (work->units[foreach_current_index(lc)].failed)
			leaf->table->failed = true;
	}
	dsm_detach(seg);

	/*
	 * Foreign keys once every table holds its data; if the data does not
	 * fit them (a table failed, say), they are put back NOT VALID.
	 */
	PG_TRY();
	{
		pb_xact_begin();
		add_foreign_keys(job, foreign_keys, false);
		pb_xact_end();
	}
	PG_CATCH();
	{
		step_failed(NULL, job_context);
		pb_xact_begin();
		add_foreign_keys(job, foreign_keys, true);
		warn_not_valid(foreign_keys);
		pb_xact_end();
	}
	PG_END_TRY();

	/* sequences and the rest of each table once it holds its data */
	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);

		if (t->failed || t->finished_by_worker)
			continue;
		pb_messages_set_table(t->source);
		PG_TRY();
		{
			pb_xact_begin();
			if (job->atomic || t->by_worker)
			{
				/* its copy worker may have created it */
				t->target = get_relname_relid(t->target_name,
											  get_namespace_oid(t->target_schema, false));
				if (!OidIsValid(t->target))
					elog(ERROR, "partback: target table %s was not created by its copy worker",
						 target_text(t));
			}
			lock_target(t);
			finish_target(t);
			pb_task_progress(job->job_id, t->source);
			pb_task_finish(job->job_id, t->source, list_length(t->leaves), t->reused,
						   t->reused_bytes);
			pb_xact_end();
		}
		PG_CATCH();
		{
			step_failed(t, job_context);
		}
		PG_END_TRY();
	}
	pb_messages_set_table(NULL);

	pb_xact_begin();
	if (pb_failed_tables(job->job_id) > 0)
		warn_mixed_tables(job);
	pb_messages_flush(job->job_id);
	nfailed = pb_failed_tables(job->job_id);
	if (nfailed == 0)
	{
		pb_release_claims();
		pb_job_finish(job->job_id, "succeeded",
					  ((RestoreTable *) linitial(tables))->backup_id, NULL, NULL);
	}
	pb_xact_end();
	MemoryContextSwitchTo(job_context);
	if (nfailed > 0)
	{
		/* what succeeded is committed; the job ends with the failures */
		pb_xact_begin();
		pb_raise_table_failures(job->job_id, list_length(tables));
	}
}
