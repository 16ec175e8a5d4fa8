/*-------------------------------------------------------------------------
 *
 * backup.c
 *		Running a backup job: every partition of every selected table is
 *		read under one MVCC snapshot -- exported by the leader, imported by
 *		its copy workers, which write a partition's block ranges (chunks) as
 *		data files -- and described by a metadata file; the manifest is
 *		written last, which is what makes the backup exist.
 *
 *		A chunk whose data cannot have changed since an earlier backup (or
 *		an interrupted attempt of this one) wrote it is taken over instead
 *		of copied: backups are incremental and share files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/twophase.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "common/string.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
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
#include "auth.h"

/* One chunk's data file, whether written by this job or taken over. */
typedef struct ChunkFile
{
	char	   *name;
	uint64		rows;
	uint64		raw_bytes;
	uint64		stored_bytes;
	char		sha256[PARTBACK_SHA256_HEXLEN + 1];
	/* what tells a later backup whether the chunk's range changed */
	Oid			relfilenode;
	BlockNumber start_block;
	BlockNumber nblocks;
	bool		to_end;
	XLogRecPtr	lsn;			/* the range is unchanged while no page is
								 * newer than this */
	bool		inflight;		/* and no transaction was in flight on it */
	bool		reused;			/* taken over, not written by this backup */
	int64		origin;			/* the backup whose data it is; 0: this one's
								 * (or an interrupted attempt's it continues) */
} ChunkFile;

/*
 * A leaf as the backup the candidates come from (the newest finished one
 * holding the table) described it: its metadata file, which this backup
 * names instead of writing its own when nothing about the leaf changed.
 */
typedef struct BaseLeaf
{
	const char *path;
	const char *meta;			/* relative to the database dir */
	const char *meta_sha256;	/* verified when it was read */
	int64		meta_backup_id; /* the metadata's own "backup_id" */
	const char *backed_up_at;	/* and "backed_up_at" */
	int			nfiles;
} BaseLeaf;

/* What plan_table knows of a partition path before it looks at the leaf. */
typedef struct PathEntry
{
	const char *path;			/* hash key (a pointer to the string) */
	List	   *candidates;		/* PbDoneChunk of this path, in order */
	BaseLeaf   *base;			/* NULL: none, or not usable */
} PathEntry;

typedef struct BackupLeaf
{
	char	   *path;
	Oid			relid;
	List	   *path_elems;
	char	   *bound;			/* NULL for a plain table */
	char	   *rel_dir;		/* relative to the database dir */
	char	   *columns;		/* JSON array */
	char	   *text_columns;	/* JSON array: those in their text form */
	char	   *signature;		/* copied_columns(rel, true) */
	bool		logged;			/* unlogged tables' pages carry no LSN */
	char	   *partition_schema;
	char	   *partition_name;
	Oid			relfilenode;
	int			nchunks;
	BlockNumber chunk_blocks;
	ChunkFile  *chunks;
	BaseLeaf   *base;			/* the base backup's metadata of the path */
	bool		dir_made;		/* rel_dir made (pb_mkdir_p) by this backup */
	int			first_unit;		/* its units of work: [first_unit, +nunits) */
	int			nunits;
} BackupLeaf;

typedef struct BackupTable
{
	Oid			relid;
	char	   *schema;
	char	   *name;
	char	   *task_name;		/* schema.name */
	char	   *definition;
	List	   *leaves;			/* BackupLeaf */
	char	   *types_digest;	/* types_digest(relid), if digest_known */
	bool		digest_known;
	bool		dropped;		/* gone before the snapshot was taken */
	bool		failed;			/* recorded in partback.job_message */
	bool		discard;		/* failed while its units were copied */
	char	   *error;			/* why, for the manifest */
	/* its leaves written so far (write_leaf): the first leaves_written */
	int			leaves_written;
	StringInfoData entries;		/* their manifest entries, a JSON array begun */
	int			reused;			/* of them, those with every chunk taken over */
	int64		reused_bytes;
} BackupTable;


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

	/*
	 * A whole plain table is its own leaf (as _leaves says), found without
	 * a query: a backup of thousands of tables spent a tenth of its time
	 * asking.  _select_leaves refuses what cannot be backed up.
	 */
	if (partitions == NIL && get_rel_relkind(table) == RELKIND_RELATION &&
		get_rel_persistence(table) != RELPERSISTENCE_TEMP)
	{
		BackupLeaf *leaf = palloc0(sizeof(BackupLeaf));

		leaf->path = get_rel_name(table);
		leaf->relid = table;
		leaf->path_elems = list_make1(pstrdup(leaf->path));
		return list_make1(leaf);
	}

	values[0] = ObjectIdGetDatum(table);
	values[1] = partitions ? text_list_datum(partitions) : (Datum) 0;
	if (partitions == NIL)
		nulls[1] = 'n';
	SPI_connect();
	/*
	 * The bound by a lookup per leaf: a join would be planned for the 1,000
	 * rows a function is assumed to return, and scan pg_class for each table
	 * of a database of many (6 ms at 10,000 relations).
	 */
	if (SPI_execute_with_args("SELECT l.path, l.relid, l.path_elems, "
							  "(SELECT pg_catalog.pg_get_expr(c.relpartbound, 0) "
							  " FROM pg_catalog.pg_class c WHERE c.oid = l.relid) "
							  "FROM partback._select_leaves($1, $2) l "
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
	bool		as_text;

	/* the SQL objects of 1.0 (before ALTER EXTENSION ... UPDATE) lack it */
	as_text = pb_sql_function_exists("_capture_table_text", 1, &type);
	SPI_connect();
	if (SPI_execute_with_args(as_text ? "SELECT partback._capture_table_text($1)"
							  : "SELECT partback._capture_table($1)::text",
							  1, &type, &value, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "partback: could not capture the definition of table %u", table);
	result = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return result;
}

/*
 * A digest of the definitions of the user types table's columns use
 * (sql/install/21_dependencies.sql), or NULL when they are all built in:
 * renaming an enum label or changing a domain changes what a COPY of the
 * table gives without touching a page.
 */
static char *
types_digest(Oid table)
{
	Oid			type = REGCLASSOID;
	Datum		value = ObjectIdGetDatum(table);
	MemoryContext outer = CurrentMemoryContext;
	char	   *digest;
	char	   *result = NULL;

	/* the SQL objects of 1.0 (before ALTER EXTENSION ... UPDATE) lack it */
	if (!pb_sql_function_exists("_dep_types_digest", 1, &type))
		return NULL;
	SPI_connect();
	if (SPI_execute_with_args("SELECT partback._dep_types_digest($1)",
							  1, &type, &value, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "partback: could not read the column types of table %u", table);
	digest = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (digest != NULL)
		result = MemoryContextStrdup(outer, digest);
	SPI_finish();
	return result;
}

/*
 * In the PG_CATCH of a subtransaction begun in context with owner: an error
 * that fails a table (pb_error_is_table_failure) is reported, if report,
 * and the subtransaction rolled back; it is returned, copied into context.
 * Any other error is thrown on.
 */
static ErrorData *
subtransaction_failed(MemoryContext context, ResourceOwner owner, bool report)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	if (!pb_error_is_table_failure(edata))
		PG_RE_THROW();
	if (report)
		EmitErrorReport();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	return edata;
}

/* Where a table is in a job's list of tables, by relid */
typedef struct TablePosition
{
	Oid			relid;
	int			position;
} TablePosition;

/*
 * Run query, which reads something of many tables at once: $1 is the relids
 * of tables[first, end) not dropped nor failed, and each row it returns is
 * (relid, text), which goes, copied into context, to values[position -
 * first].  Asked table by table, thousands of tables spent most of their
 * time starting the same small queries.  In a subtransaction: an error
 * that fails a table gives false, and the caller then asks table by table,
 * where the error fails that table alone; any other is thrown on.
 */
static bool
query_tables(const char *query, List *tables, int first, int end,
			 MemoryContext context, char **values)
{
	ResourceOwner owner = CurrentResourceOwner;
	Oid			type = OIDARRAYOID;
	Datum	   *relids = palloc(sizeof(Datum) * Max(1, end - first));
	int			nrelids = 0;
	Datum		value;
	HASHCTL		ctl;
	HTAB	   *positions;
	bool		done = true;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TablePosition);
	ctl.hcxt = CurrentMemoryContext;
	positions = hash_create("partback tables by relid", Max(16, end - first), &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = first; i < end; i++)
	{
		BackupTable *t = list_nth(tables, i);
		TablePosition *p;

		values[i - first] = NULL;
		if (t->dropped || t->failed)
			continue;
		relids[nrelids++] = ObjectIdGetDatum(t->relid);
		p = hash_search(positions, &t->relid, HASH_ENTER, NULL);
		p->position = i;
	}
	value = PointerGetDatum(construct_array(relids, nrelids, OIDOID,
											sizeof(Oid), true, TYPALIGN_INT));

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		SPI_connect();
		if (SPI_execute_with_args(query, 1, &type, &value, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "partback: could not run \"%s\"", query);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(tuple, SPI_tuptable->tupdesc,
															  1, &isnull));
			TablePosition *p = hash_search(positions, &relid, HASH_FIND, NULL);
			char	   *text = SPI_getvalue(tuple, SPI_tuptable->tupdesc, 2);

			if (p != NULL && text != NULL)
				values[p->position - first] = MemoryContextStrdup(context, text);
		}
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		(void) subtransaction_failed(context, owner, false);
		for (int i = first; i < end; i++)
			values[i - first] = NULL;
		done = false;
	}
	PG_END_TRY();
	hash_destroy(positions);
	pfree(relids);
	pfree(DatumGetPointer(value));
	return done;
}

/*
 * types_digest of every table at once, into t->types_digest (query_tables;
 * without it, or on an error, plan_table asks for each).
 */
static void
types_digests(List *tables)
{
	Oid			type = OIDARRAYOID;
	int			n = list_length(tables);
	char	  **digests = palloc(sizeof(char *) * Max(1, n));
	ListCell   *lc;

	/* the SQL objects of 1.0 (before ALTER EXTENSION ... UPDATE) lack it */
	if (pb_sql_function_exists("_dep_types_digests", 1, &type) &&
		query_tables("SELECT relid, digest FROM partback._dep_types_digests($1)",
					 tables, 0, n, CurrentMemoryContext, digests))
	{
		foreach(lc, tables)
		{
			BackupTable *t = lfirst(lc);

			t->types_digest = digests[foreach_current_index(lc)];
			t->digest_known = true;
		}
	}
	pfree(digests);
}

/*
 * signature (copied_columns(rel, true)) with the types' digest as a last
 * element {"types_sha256": digest}, if there is one.
 */
static char *
signature_with_types(const char *signature, const char *digest)
{
	if (digest == NULL)
		return (char *) signature;
	Assert(signature[strlen(signature) - 1] == ']');
	return psprintf("%.*s%s{\"types_sha256\": \"%s\"}]",
					(int) strlen(signature) - 1, signature,
					strcmp(signature, "[]") == 0 ? "" : ", ", digest);
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

/*
 * The columns a binary COPY of rel carries, as a JSON array: their names;
 * or, with signature, [name, attnum, type, typmod] each, and "text" fifth
 * for a column in its text form -- what, besides its pages, decides what a
 * COPY of rel gives: a column dropped and added again, added with a
 * default, or whose type changes form, changes it without touching a page.
 */
static char *
copied_columns(Relation rel, bool signature)
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
		if (signature)
			appendStringInfoChar(&buf, '[');
		escape_json(&buf, NameStr(att->attname));
		if (signature)
			appendStringInfo(&buf, ", %d, %u, %d%s]", att->attnum, att->atttypid,
							 att->atttypmod,
							 pb_type_needs_text_form(att->atttypid) ? ", \"text\"" : "");
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/* The columns of rel that pb_copy_out writes in their text form, as JSON. */
static char *
text_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated ||
			!pb_type_needs_text_form(att->atttypid))
			continue;
		if (buf.len > 1)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, NameStr(att->attname));
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}


/*
 * The next backup id: after every backup, and after every backup still
 * being written or interrupted (marked by "<id>.inprogress"), so that an id
 * whose files may lie around is never given out twice.
 */
static int64
next_backup_id(const char *db_dir)
{
	char	   *mdir = psprintf("%s/manifests", db_dir);
	int64		last = 0;
	ListCell   *lc;

	foreach(lc, pb_list_dir(mdir))
	{
		const char *name = lfirst(lc);

		if (pb_is_manifest_name(name) || pb_is_inprogress_name(name))
			last = Max(last, strtoi64(name, NULL, 10));
	}
	return last + 1;
}

/* Hashing partition paths by their text (keys are pointers to them). */
static uint32
path_hash(const void *key, Size keysize)
{
	const char *path = *(const char *const *) key;

	return string_hash(path, strlen(path) + 1);
}

static int
path_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/*
 * Index a table's candidates and base leaves by partition path, so that
 * planning a leaf looks at its own only: planning stays linear in the
 * number of partitions.
 */
static HTAB *
index_paths(BackupTable *t, List *candidates, List *bases)
{
	HASHCTL		ctl;
	HTAB	   *index;
	ListCell   *lc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(const char *);
	ctl.entrysize = sizeof(PathEntry);
	ctl.hash = path_hash;
	ctl.match = path_match;
	ctl.hcxt = CurrentMemoryContext;
	index = hash_create("partback partition paths", Max(64, list_length(bases)), &ctl,
						HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	foreach(lc, candidates)
	{
		PbDoneChunk *c = lfirst(lc);
		PathEntry  *e;
		bool		found;

		if (strcmp(c->table_name, t->task_name) != 0)
			continue;
		e = hash_search(index, &c->path, HASH_ENTER, &found);
		if (!found)
		{
			e->candidates = NIL;
			e->base = NULL;
		}
		e->candidates = lappend(e->candidates, c);
	}
	foreach(lc, bases)
	{
		BaseLeaf   *b = lfirst(lc);
		PathEntry  *e;
		bool		found;

		e = hash_search(index, &b->path, HASH_ENTER, &found);
		if (!found)
			e->candidates = NIL;
		e->base = b;
	}
	return index;
}

/*
 * Can chunk of leaf be taken from an earlier interrupted call instead of
 * copied?  Only if its file is intact on disk, it covers the same blocks of
 * the same relation file with the same columns, and nothing in that range
 * changed since: no page newer than when it was copied and no transaction
 * that was in progress then.  So the content equals what a copy now gives.
 */
static bool
take_over_chunk(HTAB *paths, BackupTable *t, BackupLeaf *leaf, int chunk,
				Relation rel, const char *db_dir)
{
	BlockNumber start = chunk * leaf->chunk_blocks;
	bool		to_end = (chunk == leaf->nchunks - 1);
	XLogRecPtr	max_lsn = InvalidXLogRecPtr;
	bool		max_lsn_known = false;
	PathEntry  *e = hash_search(paths, &leaf->path, HASH_FIND, NULL);
	ListCell   *lc;

	foreach(lc, e ? e->candidates : NIL)
	{
		PbDoneChunk *c = lfirst(lc);
		char	   *path;
		const char *name;
		ChunkFile  *f = &leaf->chunks[chunk];

		if (c->chunk != chunk || strcmp(c->path, leaf->path) != 0 ||
			strcmp(c->table_name, t->task_name) != 0)
			continue;
		name = c->file + strlen(leaf->rel_dir) + 1;
		if (c->inflight || c->relfilenode != leaf->relfilenode ||
			c->start_block != start || c->to_end != to_end ||
			(!to_end && c->nblocks != leaf->chunk_blocks) ||
			!leaf->logged || strcmp(c->columns, leaf->signature) != 0 ||
			strncmp(c->file, leaf->rel_dir, strlen(leaf->rel_dir)) != 0 ||
			c->file[strlen(leaf->rel_dir)] != '/' || strchr(name, '/') != NULL)
			continue;
		path = psprintf("%s/%s", db_dir, c->file);
		if (pb_file_size(path) != c->stored_bytes)
			continue;
		if (!max_lsn_known)
		{
			max_lsn = pb_range_max_lsn(rel, start, leaf->chunk_blocks, to_end);
			max_lsn_known = true;
		}
		if (max_lsn > c->lsn)
			continue;

		/* where the leaf is kept (plan_table calls this in its scratch) */
		f->name = MemoryContextStrdup(GetMemoryChunkContext(leaf->chunks), name);
		f->rows = c->rows;
		f->raw_bytes = c->bytes;
		f->stored_bytes = c->stored_bytes;
		strlcpy(f->sha256, c->sha256, sizeof(f->sha256));
		f->relfilenode = leaf->relfilenode;
		f->start_block = start;
		f->nblocks = leaf->chunk_blocks;
		f->to_end = to_end;
		f->lsn = c->lsn;
		f->inflight = false;
		f->reused = true;
		f->origin = c->origin;
		return true;
	}
	return false;
}

/* A table's name, as the key of the set of tables an earlier backup holds */
typedef struct TableKey
{
	char		schema[NAMEDATALEN];
	char		name[NAMEDATALEN];
} TableKey;

/* Where a table is in the "tables" of an earlier backup's manifest */
typedef struct TableIndex
{
	TableKey	key;
	int			index;
} TableIndex;

/*
 * The earlier backups of one job's database, as previous_backup_chunks
 * reads them: whether each may be a base, the tables it holds, and the one
 * manifest kept parsed.  A job of many tables parses each manifest once,
 * not once per table (a manifest's size grows with the tables).
 */
typedef struct EarlierBackups
{
	int64		job_id;
	int			n;
	int64	   *ids;			/* oldest first */
	bool	   *read;			/* looked at already */
	HTAB	  **tables;			/* per backup: TableIndex; NULL: no base */
	int			parsed_index;	/* the backup of parsed; -1 for none */
	Jsonb	   *parsed;
} EarlierBackups;

static EarlierBackups *earlier_backups;

static void
table_key(TableKey *key, const char *schema, const char *name)
{
	memset(key, 0, sizeof(TableKey));
	strlcpy(key->schema, schema, NAMEDATALEN);
	strlcpy(key->name, name, NAMEDATALEN);
}

/*
 * The manifest of earlier backup i, parsed, when it may be a base for this
 * job (else NULL); the first time, also records the tables it holds.
 */
static Jsonb *
earlier_manifest(PbJob *job, EarlierBackups *e, int i)
{
	PbAuthStatus status;
	char	   *problem;
	Jsonb	   *manifest;
	JsonbContainer *tables;
	HASHCTL		ctl;
	MemoryContext read_context;
	MemoryContext old;

	if (e->parsed_index == i)
		return e->parsed;
	if (e->read[i] && e->tables[i] == NULL)
		return NULL;
	CHECK_FOR_INTERRUPTS();

	/*
	 * A damaged backup is no base; the others still are.  Read apart, and
	 * only the parsed manifest kept: reading takes several times its size.
	 */
	read_context = AllocSetContextCreate(CurrentMemoryContext, "partback earlier manifest",
										 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(read_context);
	manifest = pb_read_manifest_lenient_ext(job->backup_dir, job->source_db,
											e->ids[i], false, &status, true, &problem);
	MemoryContextSwitchTo(old);
	if (manifest != NULL)
	{
		Jsonb	   *copy = palloc(VARSIZE(manifest));

		memcpy(copy, manifest, VARSIZE(manifest));
		manifest = copy;
	}
	MemoryContextDelete(read_context);
	e->read[i] = true;
	if (manifest == NULL)
		return NULL;
	/* never another role's backup, nor, for a superuser, a role's (roles.c) */
	if (!pb_manifest_pickable(manifest))
		return NULL;
	/* a changed manifest is refused; one made without the key is no base */
	if (status == PB_AUTH_BAD)
		(void) pb_read_manifest(job->backup_dir, job->source_db, e->ids[i]);
	if (status == PB_AUTH_MISSING || status == PB_AUTH_OTHER_KEY ||
		!pb_manifest_of_this_cluster(&manifest->root))
		return NULL;

	if (e->tables[i] == NULL)
	{
		tables = pb_json_container(&manifest->root, "tables");
		ctl.keysize = sizeof(TableKey);
		ctl.entrysize = sizeof(TableIndex);
		ctl.hcxt = CurrentMemoryContext;
		e->tables[i] = hash_create("partback tables of an earlier backup",
								   Max(16, pb_json_array_size(tables)), &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		for (int j = 0; j < pb_json_array_size(tables); j++)
		{
			JsonbContainer *entry = pb_json_array_container(tables, j);
			TableKey	key;
			TableIndex *found;
			bool		exists;

			table_key(&key, pb_json_str(entry, "schema", false), pb_json_str(entry, "name", false));
			found = hash_search(e->tables[i], &key, HASH_ENTER, &exists);
			if (!exists)
				found->index = j;
		}
	}
	if (e->parsed != NULL)
		pfree(e->parsed);
	e->parsed = manifest;
	e->parsed_index = i;
	return manifest;
}

/*
 * s, or *last when equal to it (then never freed apart); a new *last is
 * copied into context
 */
static char *
shared_copy(MemoryContext context, const char *s, char **last)
{
	if (*last == NULL || strcmp(*last, s) != 0)
		*last = MemoryContextStrdup(context, s);
	return *last;
}

/*
 * The chunks of table in the newest finished backup that holds it, as
 * candidates to take over: what makes a repeated backup incremental.  Its
 * leaves' metadata files go to *bases.  Called in the job's context, which
 * keeps what it learns of the earlier backups for the job's other tables.
 */
static List *
previous_backup_chunks(PbJob *job, BackupTable *t, const char *db_dir, List **bases)
{
	EarlierBackups *e = earlier_backups;
	List	   *result = NIL;
	TableKey	key;
	TableIndex *found;
	MemoryContext meta_context;
	char	   *last_columns = NULL;

	if (e == NULL || e->job_id != job->job_id)
	{
		e = earlier_backups = palloc0(sizeof(EarlierBackups));
		e->job_id = job->job_id;
		e->n = pb_backup_ids(job->backup_dir, job->source_db, &e->ids);
		e->read = palloc0(sizeof(bool) * Max(1, e->n));
		e->tables = palloc0(sizeof(HTAB *) * Max(1, e->n));
		e->parsed_index = -1;
	}
	table_key(&key, t->schema, t->name);

	for (int i = e->n - 1; i >= 0; i--)
	{
		Jsonb	   *manifest;
		JsonbContainer *tables;

		/* known not to hold the table, or to be no base */
		if (e->read[i] && (e->tables[i] == NULL ||
						   hash_search(e->tables[i], &key, HASH_FIND, NULL) == NULL))
			continue;
		manifest = earlier_manifest(job, e, i);
		if (manifest == NULL)
			continue;
		found = hash_search(e->tables[i], &key, HASH_FIND, NULL);
		if (found == NULL)
			continue;
		tables = pb_json_container(&manifest->root, "tables");

		CHECK_FOR_INTERRUPTS();
		{
			JsonbContainer *entry = pb_json_array_container(tables, found->index);
			JsonbContainer *parts;

			meta_context = AllocSetContextCreate(CurrentMemoryContext,
												 "partback base metadata",
												 ALLOCSET_DEFAULT_SIZES);
			parts = pb_json_container(entry, "partitions");
			for (int k = 0; k < pb_json_array_size(parts); k++)
			{
				MemoryContext old = MemoryContextSwitchTo(meta_context);
				JsonbContainer *p = pb_json_array_container(parts, k);
				const char *meta_rel = pb_json_str(p, "meta", false);
				char	   *meta_path = psprintf("%s/%s", db_dir, meta_rel);
				char	   *dir_rel = pb_meta_file_dir(meta_rel);
				const char *path = pb_json_str(p, "path", false);
				Jsonb	   *meta;
				JsonbContainer *files;
				const char *columns;

				meta = pb_read_meta_file(meta_path, pb_json_str(p, "meta_sha256", false));
				files = pb_json_container(&meta->root, "files");
				if (pb_json_container(&meta->root, "column_signature") == NULL)
				{
					/* written before the signature was recorded */
					MemoryContextSwitchTo(old);
					MemoryContextReset(meta_context);
					continue;
				}

				/*
				 * Only what plan_table compares is kept, copied into the
				 * job's context (old): the parsed file, and what reading it
				 * allocates (a JsonbValue per member looked up), is several
				 * kB a leaf (60 MB at 20,000 leaves).
				 */
				columns = shared_copy(old, pb_json_text(&meta->root, "column_signature"),
									  &last_columns);
				path = MemoryContextStrdup(old, path);
				if (pb_json_str(&meta->root, "backed_up_at", true) != NULL)
				{
					BaseLeaf   *b = MemoryContextAllocZero(old, sizeof(BaseLeaf));

					b->path = path;
					b->meta = MemoryContextStrdup(old, meta_rel);
					b->meta_sha256 = MemoryContextStrdup(old, pb_json_str(p, "meta_sha256", false));
					b->meta_backup_id = pb_json_int(&meta->root, "backup_id", meta_path);
					b->backed_up_at = MemoryContextStrdup(old, pb_json_str(&meta->root,
																			"backed_up_at", false));
					b->nfiles = pb_json_array_size(files);
					MemoryContextSwitchTo(old);
					*bases = lappend(*bases, b);
					MemoryContextSwitchTo(meta_context);
				}
				for (int f = 0; f < pb_json_array_size(files); f++)
				{
					JsonbContainer *file = pb_json_array_container(files, f);
					PbDoneChunk *c;

					/* written before change detection was recorded */
					if (pb_json_str(file, "lsn", true) == NULL)
						continue;
					c = MemoryContextAllocZero(old, sizeof(PbDoneChunk));
					c->table_name = t->task_name;
					c->path = (char *) path;
					c->chunk = f;
					c->relfilenode = (Oid) pb_json_int(file, "relfilenode", meta_path);
					c->start_block = pb_json_int(file, "start_block", meta_path);
					c->nblocks = pb_json_int(file, "nblocks", meta_path);
					c->to_end = pb_json_bool(file, "to_end");
					c->file = MemoryContextStrdup(old, psprintf("%s/%s", dir_rel,
																pb_data_file_name(file)));
					c->rows = pb_json_int(file, "rows", meta_path);
					c->bytes = pb_json_int(file, "bytes", meta_path);
					c->stored_bytes = pb_json_int(file, "stored_bytes", meta_path);
					c->sha256 = MemoryContextStrdup(old, pb_json_str(file, "sha256", false));
					c->lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
															 CStringGetDatum(pb_json_str(file, "lsn", false))));
					c->inflight = pb_json_bool(file, "inflight");
					c->columns = (char *) columns;
					c->origin = pb_json_container(file, "backup_id") == NULL &&
						getKeyJsonValueFromContainer(file, "backup_id", 9, NULL) ?
						pb_json_int(file, "backup_id", meta_path) :
						pb_json_int(&meta->root, "backup_id", meta_path);
					MemoryContextSwitchTo(old);
					result = lappend(result, c);
					MemoryContextSwitchTo(meta_context);
				}
				MemoryContextSwitchTo(old);
				MemoryContextReset(meta_context);
			}
			MemoryContextDelete(meta_context);
			return result;
		}
	}
	return result;
}

/*
 * Plan one table under the snapshot: its leaves and their chunks.  Chunks
 * that cannot be taken over become units of work.
 */
static void
plan_table(PbJob *job, BackupTable *t, int table_index, int64 backup_id,
		   const char *db_dir, List *earlier, List **units, MemoryContext units_context)
{
	ListCell   *lc;

	List	   *candidates = NIL;
	List	   *bases = NIL;
	HTAB	   *paths;
	char	   *digest;
	MemoryContext keep;
	MemoryContext scratch;
	char	   *last_columns = NULL;
	char	   *last_signature = NULL;
	char	   *last_text_columns = NULL;
	char	   *last_schema = NULL;

	digest = t->digest_known ? t->types_digest : types_digest(t->relid);
	t->leaves = table_leaves(t->relid, job->partitions);
	/* force copies everything; otherwise take over what did not change */
	if (!job->force)
		candidates = list_concat(list_copy(earlier),
								 previous_backup_chunks(job, t, db_dir, &bases));
	paths = index_paths(t, candidates, bases);
	keep = CurrentMemoryContext;
	scratch = AllocSetContextCreate(keep, "partback leaf plan",
									ALLOCSET_DEFAULT_SIZES);
	foreach(lc, t->leaves)
	{
		BackupLeaf *leaf = lfirst(lc);
		Relation	rel;
		BlockNumber nblocks;

		/*
		 * Only what the leaf keeps is allocated in the job's context, which
		 * holds every leaf of the job (thousands, one leader).
		 */
		MemoryContextSwitchTo(scratch);
		rel = table_open(leaf->relid, AccessShareLock);
		nblocks = RelationGetNumberOfBlocks(rel);
		check_readable(rel);
		leaf->rel_dir = MemoryContextStrdup(keep, pb_partition_dir(t->schema, t->name,
																   leaf->path_elems));

		/* the leaves of a tree mostly share their columns' descriptions */
		leaf->columns = shared_copy(keep, copied_columns(rel, false), &last_columns);
		leaf->signature = shared_copy(keep, signature_with_types(copied_columns(rel, true),
																 digest),
									  &last_signature);
		leaf->text_columns = shared_copy(keep, text_columns(rel), &last_text_columns);
		leaf->partition_schema = shared_copy(keep,
											 get_namespace_name(RelationGetNamespace(rel)),
											 &last_schema);
		MemoryContextSwitchTo(keep);
		leaf->partition_name = pstrdup(RelationGetRelationName(rel));
		leaf->logged = RelationIsPermanent(rel);
		leaf->relfilenode = PB_REL_NUMBER(rel);
		leaf->chunk_blocks = Max(1, (BlockNumber) ((uint64) job->chunk_size_mb * 1024 * 1024 / BLCKSZ));
		leaf->nchunks = Max(1, (nblocks + leaf->chunk_blocks - 1) / leaf->chunk_blocks);
		leaf->chunks = palloc0(sizeof(ChunkFile) * leaf->nchunks);
		{
			PathEntry  *e = hash_search(paths, &leaf->path, HASH_FIND, NULL);

			leaf->base = e ? e->base : NULL;
		}
		MemoryContextSwitchTo(scratch);

		leaf->first_unit = list_length(*units);
		for (int chunk = 0; chunk < leaf->nchunks; chunk++)
		{
			PbUnit	   *unit;

			if (take_over_chunk(paths, t, leaf, chunk, rel, db_dir))
				continue;
			/*
			 * The leaf's dir, for its copy workers' files; a leaf with
			 * nothing to copy costs no file-system call here (write_leaf
			 * makes it if the leaf gets a metadata file of its own).
			 */
			if (!leaf->dir_made)
			{
				pb_mkdir_p(psprintf("%s/%s", db_dir, leaf->rel_dir));
				leaf->dir_made = true;
			}
			/* the unit until it is in the PbWork, where it goes */
			MemoryContextSwitchTo(units_context);
			unit = palloc0(sizeof(PbUnit));
			unit->relid = leaf->relid;
			unit->chunk = chunk;
			unit->start_block = chunk * leaf->chunk_blocks;
			unit->nblocks = leaf->chunk_blocks;
			unit->to_end = (chunk == leaf->nchunks - 1);
			unit->nchunks = leaf->nchunks;
			strlcpy(unit->table_name, t->task_name, sizeof(unit->table_name));
			unit->path = leaf->path;
			unit->file = psprintf("%s/%010lld.%05d.copy%s",
								  leaf->rel_dir, (long long) backup_id, chunk,
								  pb_compression_suffix(job->compression));
			MemoryContextSwitchTo(keep);
			/* where the result goes back to */
			leaf->chunks[chunk].name = psprintf("%010lld.%05d.copy%s",
												(long long) backup_id, chunk,
												pb_compression_suffix(job->compression));
			unit->table_index = table_index;
			unit->leaf_index = foreach_current_index(lc);
			*units = lappend(*units, unit);
			leaf->nunits++;
			MemoryContextSwitchTo(scratch);
		}
		table_close(rel, NoLock);
		pb_bound_caches();
		MemoryContextSwitchTo(keep);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
	hash_destroy(paths);
}

/*
 * The data files of a copy worker's units whose records are committed but
 * which have no name yet: their fsyncs, and the flush of their records'
 * commits, are waited for once per batch (pb_backup_publish).  At thousands
 * of small partitions, waiting for both per unit was most of a backup's
 * time.
 */
static List *unpublished = NIL;	/* PbFile, sealed */
static List *unpublished_units = NIL;	/* their PbUnit, in the PbWork */
static uint64 unpublished_bytes = 0;
static TimestampTz unpublished_since = 0;
static XLogRecPtr unpublished_commit_end = InvalidXLogRecPtr;

/*
 * A batch ends at this many units, bytes or milliseconds: small enough
 * that a crash loses little a resume could have taken over (a unit of a
 * few MB is published alone, as before), large enough that thousands of
 * small units share their waits.
 */
#define PUBLISH_BATCH_UNITS 32
#define PUBLISH_BATCH_BYTES (4 * 1024 * 1024)
#define PUBLISH_BATCH_MS 250

/*
 * A copy worker's part: one chunk, in a transaction with the leader's
 * snapshot; then its record, in a transaction of its own.
 */
void
pb_backup_unit(PbWork *work, PbUnit *unit)
{
	MemoryContext unit_context = CurrentMemoryContext;
	int			saved_iso = DefaultXactIsoLevel;
	Relation	rel;
	PbWriter   *w;
	PbFile	   *file;
	PbWriteResult res;
	PbCopyStats stats;
	char	   *columns;

	pb_live_start(unit->table_name);

	DefaultXactIsoLevel = XACT_REPEATABLE_READ;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(unit_context);
	DefaultXactIsoLevel = saved_iso;
	ImportSnapshot(work->snapshot);
	PushActiveSnapshot(GetTransactionSnapshot());

	rel = table_open(unit->relid, AccessShareLock);
	check_readable(rel);
	columns = copied_columns(rel, true);
	unit->relfilenode = PB_REL_NUMBER(rel);
	w = pb_writer_create(psprintf("%s/%s", pb_work_str(work, work->db_dir_off), unit->file),
						 work->compression, work->compression_level);
	unit->rows = pb_copy_out(rel, GetActiveSnapshot(), work->snapshot_lsn,
							 unit->start_block, unit->nblocks, unit->to_end, w,
							 work->max_rate, &stats);
	file = pb_writer_seal(w, &res);
	table_close(rel, NoLock);
	unit->raw_bytes = res.raw_bytes;
	unit->stored_bytes = res.stored_bytes;
	strlcpy(unit->result_sha256, res.sha256, sizeof(unit->result_sha256));
	unit->inflight = stats.inflight;
	unit->lsn = stats.unchanged_lsn;

	/*
	 * The range is unchanged later if no page is newer than that (and no
	 * transaction was in flight): a page changed after the snapshot holds
	 * changes this copy does not have.
	 */
	pb_chunk_record(work, unit, unit->nchunks, unit->lsn, columns);
	pb_xact_end();

	if (unpublished == NIL)
		unpublished_since = GetCurrentTimestamp();
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		unpublished = lappend(unpublished, file);
		unpublished_units = lappend(unpublished_units, unit);
		MemoryContextSwitchTo(old);
	}
	unpublished_bytes += res.stored_bytes;
	unpublished_commit_end = Max(unpublished_commit_end, XactLastCommitEnd);
}

/*
 * Give the data files of a copy worker's units done so far their names, if
 * a batch is full or all is true.  Returns how many units it published.
 */
int
pb_backup_publish(PbWork *work, bool all)
{
	int			n = list_length(unpublished);
	int			npublished = 0;
	PbUnit	  **units;

	/* a throttled job's waits are not what bounds it: each unit at once */
	if (n == 0 ||
		(!all && work->max_rate == 0 &&
		 n < PUBLISH_BATCH_UNITS && unpublished_bytes < PUBLISH_BATCH_BYTES &&
		 !TimestampDifferenceExceeds(unpublished_since, GetCurrentTimestamp(),
									 PUBLISH_BATCH_MS)))
		return 0;

	/*
	 * The records are on disk before the files get their names, so that a
	 * data file present after a crash is one a resume takes over (the
	 * commits were asynchronous: partback_copy_main); each file is fsynced
	 * as it gets its name (pb_file_publish), its write-back started when it
	 * was sealed.
	 */
	XLogFlush(unpublished_commit_end);
	units = palloc(sizeof(PbUnit *) * n);
	while (unpublished != NIL)
	{
		PbUnit	   *unit = linitial(unpublished_units);

		/* one whose publishing fails stays, for pb_backup_forget_unpublished */
		pb_file_publish(linitial(unpublished));
		unpublished = list_delete_first(unpublished);
		unpublished_units = list_delete_first(unpublished_units);
		units[npublished++] = unit;
		/* the leader may write the leaf's metadata now (write_copied_leaf) */
		pg_write_barrier();
		unit->published = true;
	}
	unpublished_bytes = 0;

	/*
	 * Done: counted in their tables' progress (the status views' figures
	 * never go back).  Not under the job's snapshot: copy workers update
	 * the same rows.
	 */
	pb_xact_begin();
	pb_task_add_units(work->job_id, units, npublished);
	pb_xact_end();
	pfree(units);
	return n;
}

/*
 * A copy worker that fails or is stopped removes the files it has not
 * published: their records are no promise (a resume takes over only files
 * it finds).  Also run at its exit (a FATAL, a stop by its leader).
 */
void
pb_backup_forget_unpublished(void)
{
	ListCell   *lc;

	foreach(lc, unpublished)
		pb_file_abort(lfirst(lc));
	list_free(unpublished);
	unpublished = NIL;
	list_free(unpublished_units);
	unpublished_units = NIL;
	unpublished_bytes = 0;
}

/*
 * Record chunks taken over from earlier interrupted calls as this job's
 * too: their files are then kept when this job forgets those calls
 * (forget_earlier_calls), and a call continuing this one finds them.  The
 * chunks taken over from a finished backup are not recorded: that
 * backup's manifest is what names them to the next backup, so the catalog
 * does not grow by a row per unchanged chunk and job.  Their figures are
 * added to the table's task instead.
 */
static void
record_taken_over(PbJob *job, BackupTable *t, int64 *figures)
{
	ListCell   *lc;
	int64		rows = 0;
	int64		bytes = 0;
	int64		stored = 0;

	foreach(lc, t->leaves)
	{
		BackupLeaf *leaf = lfirst(lc);

		for (int chunk = 0; chunk < leaf->nchunks; chunk++)
		{
			ChunkFile  *f = &leaf->chunks[chunk];
			PbWork		work;
			PbUnit		unit;

			if (!f->reused)
				continue;
			if (f->origin != 0)
			{
				rows += f->rows;
				bytes += f->raw_bytes;
				stored += f->stored_bytes;
				continue;
			}
			memset(&work, 0, sizeof(work));
			memset(&unit, 0, sizeof(unit));
			work.job_id = job->job_id;
			work.is_backup = true;
			unit.relid = leaf->relid;
			unit.relfilenode = leaf->relfilenode;
			unit.chunk = chunk;
			unit.start_block = chunk * leaf->chunk_blocks;
			unit.nblocks = leaf->chunk_blocks;
			unit.to_end = (chunk == leaf->nchunks - 1);
			strlcpy(unit.table_name, t->task_name, sizeof(unit.table_name));
			unit.path = leaf->path;
			unit.file = psprintf("%s/%s", leaf->rel_dir, f->name);
			unit.rows = f->rows;
			unit.raw_bytes = f->raw_bytes;
			unit.stored_bytes = f->stored_bytes;
			strlcpy(unit.result_sha256, f->sha256, sizeof(unit.result_sha256));
			pb_chunk_record(&work, &unit, leaf->nchunks, f->lsn, leaf->signature);
		}
	}
	figures[0] = rows;
	figures[1] = bytes;
	figures[2] = stored;
}

/* Add figures (rows, bytes, stored bytes) to the task of t. */
static void
add_task_figures(PbJob *job, BackupTable *t, const int64 *figures)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID};
	Datum		values[5];

	if (figures[0] == 0 && figures[1] == 0 && figures[2] == 0)
		return;
	values[0] = Int64GetDatum(job->job_id);
	values[1] = CStringGetTextDatum(t->task_name);
	values[2] = Int64GetDatum(figures[0]);
	values[3] = Int64GetDatum(figures[1]);
	values[4] = Int64GetDatum(figures[2]);
	pb_catalog_exec("UPDATE partback.task SET rows = rows + $3, bytes = bytes + $4, "
					"stored_bytes = stored_bytes + $5 "
					"WHERE job_id = $1 AND table_name = $2",
					5, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * The text of a leaf's metadata file, as backup meta_backup_id writes it at
 * backed_up_at, sealed (with the key's HMAC when one is set).
 */
static char *
leaf_meta_text(PbJob *job, BackupTable *t, BackupLeaf *leaf, const char *files,
			   int64 rows, int64 bytes, int64 stored, int64 meta_backup_id,
			   const char *backed_up_at)
{
	StringInfoData meta;

	initStringInfo(&meta);
	appendStringInfoChar(&meta, '{');
	pb_json_add_str(&meta, "format", "partback");
	pb_json_add_int(&meta, "version", PARTBACK_FORMAT_VERSION);
	pb_json_add_int(&meta, "backup_id", meta_backup_id);
	pb_json_add_str(&meta, "schema", t->schema);
	pb_json_add_str(&meta, "table", t->name);
	pb_json_add_str(&meta, "path", leaf->path);
	pb_json_add_raw(&meta, "path_elems", text_to_cstring(DatumGetTextPP(
		DirectFunctionCall1(array_to_json, text_list_datum(leaf->path_elems)))));
	pb_json_add_str(&meta, "partition_schema", leaf->partition_schema);
	pb_json_add_str(&meta, "partition_name", leaf->partition_name);
	pb_json_add_str(&meta, "bound", leaf->bound);
	pb_json_add_raw(&meta, "columns", leaf->columns);
	pb_json_add_raw(&meta, "text_columns", leaf->text_columns);
	pb_json_add_raw(&meta, "column_signature", leaf->signature);
	pb_json_add_str(&meta, "compression", pb_compression_name(job->compression));
	pb_json_add_int(&meta, "rows", rows);
	pb_json_add_int(&meta, "bytes", bytes);
	pb_json_add_int(&meta, "stored_bytes", stored);
	pb_json_add_str(&meta, "backed_up_at", backed_up_at);
	pb_json_add_raw(&meta, "files", files);
	pb_meta_seal(&meta, psprintf("partition \"%s\" of table %s", leaf->path, t->task_name));
	return meta.data;
}

/*
 * Can the leaf name its base backup's metadata file instead of writing its
 * own?  Only if that file is, byte for byte, what this backup would write
 * with the base's backup id and time: the same partition, relation,
 * columns, bound and compression, the same data files with the same change
 * detection figures, and sealed with the same key.  Its checksum was
 * verified (and its HMAC) when the base was read, under the backup dir's
 * lock this backup holds to its end, so no purge removed it since.
 */
static bool
leaf_meta_unchanged(PbJob *job, BackupTable *t, BackupLeaf *leaf, const char *files,
					int64 rows, int64 bytes, int64 stored)
{
	BaseLeaf   *b = leaf->base;
	char	   *text;
	PbSha256   *ctx;
	char		hex[PARTBACK_SHA256_HEXLEN + 1];

	if (b == NULL || b->nfiles != leaf->nchunks ||
		strcmp(pb_meta_file_dir(b->meta), leaf->rel_dir) != 0)
		return false;
	for (int chunk = 0; chunk < leaf->nchunks; chunk++)
		if (!leaf->chunks[chunk].reused || leaf->chunks[chunk].origin == 0)
			return false;
	text = leaf_meta_text(job, t, leaf, files, rows, bytes, stored, b->meta_backup_id,
						  b->backed_up_at);
	ctx = pb_sha256_create();
	pb_sha256_update(ctx, text, strlen(text));
	pb_sha256_final(ctx, hex);
	pfree(text);
	return strcmp(hex, b->meta_sha256) == 0;
}

/*
 * Write a leaf's metadata file -- or, for a leaf that did not change since
 * the base backup, name the base's (FORMAT.md, "Shared metadata files") --
 * and append the manifest's entry for it.
 */
static void
write_leaf(PbJob *job, int64 backup_id, const char *db_dir, BackupTable *t,
		   BackupLeaf *leaf, StringInfo entries, int *reused, int64 *reused_bytes)
{
	StringInfoData files;
	int64		rows = 0;
	int64		bytes = 0;
	int64		stored = 0;
	int64		new_stored = 0;
	int64		data_backup_id = 0;
	bool		all_reused = true;
	char	   *meta_rel;
	char	   *meta_sha;
	char	   *now = timestamp_text(GetCurrentTimestamp());

	initStringInfo(&files);
	appendStringInfoChar(&files, '[');
	for (int chunk = 0; chunk < leaf->nchunks; chunk++)
	{
		ChunkFile  *f = &leaf->chunks[chunk];

		if (chunk > 0)
			appendStringInfoString(&files, ",\n    ");
		appendStringInfoChar(&files, '{');
		pb_json_add_str(&files, "name", f->name);
		pb_json_add_int(&files, "rows", f->rows);
		pb_json_add_int(&files, "bytes", f->raw_bytes);
		pb_json_add_int(&files, "stored_bytes", f->stored_bytes);
		pb_json_add_str(&files, "sha256", f->sha256);
		/* a chunk taken over from an unfinished attempt is this backup's */
		pb_json_add_int(&files, "backup_id", f->origin ? f->origin : backup_id);
		pb_json_add_int(&files, "relfilenode", f->relfilenode);
		pb_json_add_int(&files, "start_block", f->start_block);
		pb_json_add_int(&files, "nblocks", f->nblocks);
		pb_json_add_raw(&files, "to_end", f->to_end ? "true" : "false");
		pb_json_add_str(&files, "lsn", DatumGetCString(DirectFunctionCall1(pg_lsn_out,
																		   LSNGetDatum(f->lsn))));
		pb_json_add_raw(&files, "inflight", f->inflight ? "true" : "false");
		appendStringInfoChar(&files, '}');
		rows += f->rows;
		bytes += f->raw_bytes;
		stored += f->stored_bytes;
		all_reused &= f->reused;
		data_backup_id = Max(data_backup_id, f->origin ? f->origin : backup_id);
		if (f->reused)
			*reused_bytes += f->stored_bytes;
		else
			new_stored += f->stored_bytes;
	}
	appendStringInfoChar(&files, ']');
	if (all_reused)
		(*reused)++;

	if (leaf_meta_unchanged(job, t, leaf, files.data, rows, bytes, stored))
	{
		/* nothing to write: the entry names the base's file */
		meta_rel = pstrdup(leaf->base->meta);
		meta_sha = pstrdup(leaf->base->meta_sha256);
		now = pstrdup(leaf->base->backed_up_at);
	}
	else
	{
		char	   *meta_name = psprintf("%010lld.meta.json", (long long) backup_id);

		meta_rel = psprintf("%s/%s", leaf->rel_dir, meta_name);
		if (!leaf->dir_made)
			pb_mkdir_p(psprintf("%s/%s", db_dir, leaf->rel_dir));
		meta_sha = pb_write_json_file(psprintf("%s/%s", db_dir, meta_rel),
									  leaf_meta_text(job, t, leaf, files.data, rows,
													 bytes, stored, backup_id, now));
	}

	if (entries->len > 0 && entries->data[entries->len - 1] != '[')
		appendStringInfoString(entries, ",\n      ");
	appendStringInfoChar(entries, '{');
	pb_json_add_str(entries, "path", leaf->path);
	pb_json_add_str(entries, "bound", leaf->bound);
	pb_json_add_int(entries, "rows", rows);
	pb_json_add_int(entries, "bytes", bytes);
	pb_json_add_int(entries, "stored_bytes", stored);
	pb_json_add_int(entries, "new_stored_bytes", new_stored);
	pb_json_add_str(entries, "meta", meta_rel);
	pb_json_add_str(entries, "meta_sha256", meta_sha);
	/* the newest backup that wrote data of the partition */
	pb_json_add_int(entries, "backup_id", data_backup_id);
	pb_json_add_str(entries, "backed_up_at", now);
	appendStringInfoChar(entries, '}');
}

/* The results of copy worker's unit u, of a leaf of t, kept with the leaf. */
static void
take_back_result(BackupTable *t, const PbUnit *u, int64 backup_id)
{
	BackupLeaf *leaf = list_nth(t->leaves, u->leaf_index);
	ChunkFile  *f = &leaf->chunks[u->chunk];

	f->rows = u->rows;
	f->raw_bytes = u->raw_bytes;
	f->stored_bytes = u->stored_bytes;
	strlcpy(f->sha256, u->result_sha256, sizeof(f->sha256));
	f->relfilenode = u->relfilenode;
	f->start_block = u->start_block;
	f->nblocks = u->nblocks;
	f->to_end = u->to_end;
	f->lsn = u->lsn;
	f->inflight = u->inflight;
	f->origin = backup_id;
}

/* Begin t's manifest entries of its leaves, where t is, unless begun. */
static void
begin_entries(BackupTable *t)
{
	MemoryContext old;

	if (t->entries.data != NULL)
		return;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(t));
	initStringInfo(&t->entries);
	appendStringInfoChar(&t->entries, '[');
	MemoryContextSwitchTo(old);
}

/*
 * write_leaf the next leaf of t (its results taken back), adding to t's
 * entries; leaf_context holds the rest.
 */
static void
write_next_leaf(PbJob *job, BackupTable *t, int64 backup_id, const char *db_dir,
				MemoryContext leaf_context)
{
	BackupLeaf *leaf = list_nth(t->leaves, t->leaves_written);
	MemoryContext old;

	begin_entries(t);
	old = MemoryContextSwitchTo(leaf_context);
	write_leaf(job, backup_id, db_dir, t, leaf, &t->entries, &t->reused,
			   &t->reused_bytes);
	MemoryContextSwitchTo(old);
	MemoryContextReset(leaf_context);
	t->leaves_written++;
}

/*
 * t failed after metadata files of its leaves were written: they go (none
 * is data without a manifest naming it, but nothing should be left that
 * looks like it).  After the deferred fsyncs, which name them.
 */
static void
forget_leaves_written(BackupTable *t, int64 backup_id, const char *db_dir)
{
	if (!t->failed)
		return;
	for (int i = 0; i < t->leaves_written; i++)
	{
		BackupLeaf *leaf = list_nth(t->leaves, i);

		/* absent where the leaf named its base's file instead */
		pb_unlink(psprintf("%s/%s/%010lld.meta.json", db_dir, leaf->rel_dir,
						   (long long) backup_id), true);
	}
}

/* Remove files below rel_dir named "<id>.*" for ids, unless kept. */
static void
remove_files_of(const char *db_dir, const char *rel_dir, PbStrSet *ids, PbStrSet *kept)
{
	char	   *dir = psprintf("%s/%s", db_dir, rel_dir);
	ListCell   *lc;

	foreach(lc, pb_list_dir(dir))
	{
		const char *name = lfirst(lc);
		char	   *rel = psprintf("%s/%s", rel_dir, name);
		bool		is_dir;

		CHECK_FOR_INTERRUPTS();
		(void) pb_path_exists(psprintf("%s/%s", db_dir, rel), &is_dir);
		if (is_dir)
		{
			remove_files_of(db_dir, rel, ids, kept);
			continue;
		}
		if (pb_strset_contains_id_prefix(ids, name) && !pb_strset_contains(kept, rel))
			pb_unlink(psprintf("%s/%s", db_dir, rel), true);
	}
}

/*
 * The interrupted calls this job continued are done with: every file of
 * theirs that this backup did not take over goes (data and metadata; no
 * finished backup names them, their ids were reserved by their markers),
 * and so do their markers.
 */
static void
forget_earlier_calls(PbJob *job, int64 backup_id, const char *db_dir,
					 const char *resume_key)
{
	char	   *mdir = psprintf("%s/manifests", db_dir);
	PbStrSet   *ids = pb_strset_create("partback interrupted backups");
	List	   *markers = NIL;
	PbStrSet   *kept = pb_strset_create("partback files taken over");
	ListCell   *lc;
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job->job_id);

	foreach(lc, pb_list_dir(mdir))
	{
		const char *name = lfirst(lc);
		char	   *path = psprintf("%s/%s", mdir, name);
		const char *key;

		CHECK_FOR_INTERRUPTS();
		if (!pb_is_inprogress_name(name) || strtoi64(name, NULL, 10) == backup_id)
			continue;
		key = pb_json_str(&pb_read_json_file(path, NULL)->root, "resume_key", true);
		if (key && strcmp(key, resume_key) == 0)
		{
			pb_strset_add(ids, pnstrdup(name, 11));	/* "<id>." */
			markers = lappend(markers, path);
		}
	}
	if (markers == NIL)
		return;

	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT file FROM partback.chunk WHERE job_id = $1",
							  1, &type, &value, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the chunks of job " INT64_FORMAT, job->job_id);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *file = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		pb_strset_add(kept, file);	/* copied in the set's context */
	}
	SPI_finish();
	pb_catalog_end();

	remove_files_of(db_dir, "data", ids, kept);
	foreach(lc, markers)
		pb_unlink(lfirst(lc), true);
}

/*
 * Say, in the job (recorded, and raised again to a caller who waits), what
 * the backup leaves out by design: foreign tables and foreign partitions,
 * whose rows live on a foreign server.
 */
static void
notice_foreign(PbJob *job)
{
	Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
	Oid			funcargs[2] = {TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = "  ";
	const char *sql;

	if (job->type == PB_JOB_BACKUP_DB)
	{
		sql = "SELECT partback._notice_db_foreign($1)";
		values[0] = job->schemas ? text_list_datum(job->schemas) : (Datum) 0;
		nulls[0] = job->schemas ? ' ' : 'n';
		/* the SQL objects of 1.0 (before ALTER EXTENSION ... UPDATE) lack it */
		if (!pb_sql_function_exists("_notice_db_foreign", 1, funcargs))
			return;
	}
	else
	{
		sql = "SELECT partback._notice_foreign_partitions($1::pg_catalog.oid::pg_catalog.regclass, $2)";
		types[0] = OIDOID;
		values[0] = ObjectIdGetDatum(job->table);
		funcargs[0] = REGCLASSOID;
		if (!pb_sql_function_exists("_notice_foreign_partitions", 2, funcargs))
			return;
	}
	values[1] = job->partitions ? text_list_datum(job->partitions) : (Datum) 0;
	nulls[1] = job->partitions ? ' ' : 'n';
	SPI_connect();
	if (SPI_execute_with_args(sql, job->type == PB_JOB_BACKUP_DB ? 1 : 2, types, values,
							  nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not list the foreign tables the backup leaves out");
	SPI_finish();
}

/* Record that t failed with edata: it is left out of the backup. */
static void
table_failed(BackupTable *t, ErrorData *edata)
{
	t->failed = true;
	t->error = pstrdup(edata->message);
	pb_messages_table_failed(t->task_name, edata);
}

/*
 * In the PG_CATCH of a step for table t run in a subtransaction begun in
 * context with owner: an error that fails a table fails t alone (the
 * backup goes on with the others); any other is thrown on.
 */
static void
table_step_failed(BackupTable *t, MemoryContext context, ResourceOwner owner)
{
	table_failed(t, subtransaction_failed(context, owner, true));
}

/*
 * The leader's part of the copying: the tables' definitions, then the
 * metadata files of the leaves whose data files are done (see below).
 */
typedef struct LeaderSteps
{
	List	   *tables;
	int			next;			/* the next table to capture */
	PbWork	   *work;
	MemoryContext context;
	bool		batches;		/* partback._capture_tables exists */
	int			batched;		/* the tables before it were in a batch */
	PbJob	   *job;
	int64		backup_id;
	const char *db_dir;
	int			writing;		/* the table whose leaves are written next */
	MemoryContext leaf_context;
} LeaderSteps;

/* How many tables capture_definitions_batch captures at once. */
#define PB_DEFINITION_BATCH 200

/*
 * Capture the definitions of the plain tables among the next
 * PB_DEFINITION_BATCH of steps->tables from index on, all at once
 * (_capture_tables, query_tables).
 */
static void
capture_definitions_batch(LeaderSteps *steps, int index)
{
	int			end = Min(list_length(steps->tables), index + PB_DEFINITION_BATCH);
	char	  **definitions = palloc(sizeof(char *) * (end - index));

	steps->batched = end;
	if (query_tables("SELECT relid, definition::text FROM partback._capture_tables($1)",
					 steps->tables, index, end, steps->context, definitions))
	{
		for (int i = index; i < end; i++)
			((BackupTable *) list_nth(steps->tables, i))->definition = definitions[i - index];
	}
	pfree(definitions);
}

/*
 * Capture the definition of one more table under the backup's snapshot,
 * while the copy workers copy (next_leader_step): at many tables,
 * or at one of thousands of partitions, capturing takes seconds, which the
 * leader alone spent before the first row was copied.  A table whose
 * definition fails has the units not yet begun skipped, and what the others
 * wrote is discarded (discard_copies).  Whether there are more to capture.
 */
static bool
capture_next_definition(void *arg)
{
	LeaderSteps *steps = arg;
	ResourceOwner owner = CurrentResourceOwner;
	BackupTable *t = NULL;
	int			index;

	while (steps->next < list_length(steps->tables) && t == NULL)
	{
		t = list_nth(steps->tables, steps->next++);
		if (t->dropped || t->failed)
			t = NULL;
	}
	if (t == NULL)
		return false;
	index = steps->next - 1;

	if (steps->batches && index >= steps->batched)
		capture_definitions_batch(steps, index);
	/* captured in a batch, and not over the limit: nothing can fail */
	if (t->definition != NULL && strlen(t->definition) <= PB_MAX_DEFINITION_BYTES)
		return steps->next < list_length(steps->tables);

	pb_messages_set_table(t->task_name);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(steps->context);
	PG_TRY();
	{
		t->definition = capture_definition(t->relid);
		pb_check_definition_size(t->task_name, t->definition);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(steps->context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		table_step_failed(t, steps->context, owner);
		t->discard = true;
		for (int i = 0; i < steps->work->nunits; i++)
			if (steps->work->units[i].table_index == index)
				steps->work->units[i].skip = true;
	}
	PG_END_TRY();
	pb_messages_set_table(NULL);
	return steps->next < list_length(steps->tables);
}

/*
 * Write the metadata file of the next leaf whose data files are all named
 * (pb_backup_publish), while the copy workers copy (pb_work_run's
 * leader_step, after the definitions): at thousands of partitions the
 * leader spent about a second on them alone after the last was copied.
 * Leaves are written in order, as the copy workers take them; a table one
 * of whose units failed is left to the end (it fails there).  Whether
 * there is more to write.
 */
static bool
write_copied_leaf(LeaderSteps *steps)
{
	while (steps->writing < list_length(steps->tables))
	{
		BackupTable *t = list_nth(steps->tables, steps->writing);
		BackupLeaf *leaf;
		int			end;

		if (t->dropped || t->failed || t->leaves_written == list_length(t->leaves))
		{
			steps->writing++;
			continue;
		}
		leaf = list_nth(t->leaves, t->leaves_written);
		end = leaf->first_unit + leaf->nunits;
		for (int i = leaf->first_unit; i < end; i++)
		{
			PbUnit	   *u = &steps->work->units[i];

			if (u->failed || u->skip)
			{
				steps->writing++;
				return true;
			}
			if (!u->published)
			{
				/* not yet: look again shortly, the copy workers go on */
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 10L, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				return true;
			}
		}
		pg_read_barrier();
		for (int i = leaf->first_unit; i < end; i++)
			take_back_result(t, &steps->work->units[i], steps->backup_id);
		write_next_leaf(steps->job, t, steps->backup_id, steps->db_dir,
						steps->leaf_context);
		return true;
	}
	return false;
}

/* The leader's next step while the copy workers copy. */
static bool
next_leader_step(void *arg)
{
	LeaderSteps *steps = arg;

	if (steps->next < list_length(steps->tables))
	{
		(void) capture_next_definition(steps);
		return true;
	}
	return write_copied_leaf(steps);
}

/*
 * After the copy, in its transaction: the tables that failed meanwhile
 * (capture_next_definition) are not in the backup, so the files their
 * units wrote go, their records first (committed with the transaction),
 * so that neither a resume nor check_backup finds them.  Returns the
 * files, to be removed once the transaction has committed.
 */
static List *
discard_copies(PbJob *job, List *tables, PbWork *work)
{
	List	   *files = NIL;
	ListCell   *lc;

	foreach(lc, tables)
	{
		BackupTable *t = lfirst(lc);
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2];

		if (!t->discard)
			continue;
		values[0] = Int64GetDatum(job->job_id);
		values[1] = CStringGetTextDatum(t->task_name);
		pb_catalog_exec("DELETE FROM partback.chunk WHERE job_id = $1 AND table_name = $2",
						2, types, values, NULL, SPI_OK_DELETE);
		for (int i = 0; i < work->nunits; i++)
		{
			PbUnit	   *u = pb_work_unit(work, i);

			if (u->table_index == foreach_current_index(lc))
				files = lappend(files, pstrdup(u->file));
		}
	}
	return files;
}

/*
 * relid and its partitions (or inheritance children) at any depth, from
 * pg_inherits by its index on inhparent, not locked.  find_all_inheritors()
 * looks each member up in the syscache (has_subclass), an entry of about
 * 1 kB kept for each: 21 MB at 20,000 leaves.
 */
static List *
tree_members(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	List	   *result = list_make1_oid(relid);
	ListCell   *lc;

	/* a breadth-first walk: the list grows as it is walked */
	foreach(lc, result)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		ScanKeyInit(&key, Anum_pg_inherits_inhparent, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(inherits, InheritsParentIndexId, true, NULL, 1, &key);
		while ((tuple = systable_getnext(scan)) != NULL)
			result = lappend_oid(result, ((Form_pg_inherits) GETSTRUCT(tuple))->inhrelid);
		systable_endscan(scan);
	}
	table_close(inherits, AccessShareLock);
	return result;
}

/*
 * Lock the tables and all their partitions in ACCESS SHARE mode, in the
 * transaction of the backup's snapshot, where they stay locked until the
 * copying ends (so that DDL waits for the backup).  If the server's lock
 * table cannot hold them all, say so in terms of the setting: nothing is
 * copied yet.
 */
static void
lock_tables(PbJob *job, List *tables)
{
	MemoryContext context = CurrentMemoryContext;
	int64		needed = 0;
	ListCell   *lc;

	/* how many it needs: counted without locks (of the tables still there) */
	foreach(lc, tables)
	{
		Oid			relid = ((BackupTable *) lfirst(lc))->relid;

		needed += SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) ?
			list_length(tree_members(relid)) : 1;
	}
	PG_TRY();
	{
		foreach(lc, tables)
		{
			BackupTable *t = lfirst(lc);
			ListCell   *lc2;

			CHECK_FOR_INTERRUPTS();
			LockRelationOid(t->relid, AccessShareLock);
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid)))
			{
				t->dropped = true;
				continue;
			}

			/*
			 * Its partitions, as find_all_inheritors() locks them (each
			 * looked up once locked), with the caches bounded.
			 */
			foreach(lc2, tree_members(t->relid))
			{
				Oid			relid = lfirst_oid(lc2);

				if (relid == t->relid)
					continue;
				LockRelationOid(relid, AccessShareLock);
				/* dropped meanwhile: a lock of nothing */
				if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
					UnlockRelationOid(relid, AccessShareLock);
				pb_bound_caches();
			}
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int64		sessions = (int64) MaxBackends + max_prepared_xacts;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_OUT_OF_MEMORY)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("backup job " INT64_FORMAT " could not lock its " INT64_FORMAT " tables and partitions: %s",
						job->job_id, needed, edata->message),
				 errdetail("A backup locks each table and partition it copies from its snapshot until the copying ends, so that DDL waits for it.  The server's lock table holds max_locks_per_transaction = %d locks for each of its " INT64_FORMAT " possible sessions, shared by all of them.  Nothing was copied.",
						   max_locks_per_xact, sessions),
				 errhint("Set max_locks_per_transaction to at least " INT64_FORMAT " (the server must be restarted), or back up fewer tables per job.",
						 Max((int64) max_locks_per_xact * 2, (needed * 2 + sessions - 1) / sessions))));
	}
	PG_END_TRY();
}

/*
 * Run a backup job.
 *
 * 1. Claim the tables (one job per table) and record a task for each.
 * 2. In a REPEATABLE READ transaction: lock the tables, take the snapshot
 *	  that is the backup's point in time, export it, plan the chunks, and
 *	  have the copy workers write them under that snapshot while the leader
 *	  captures the tables' definitions under it.
 * 3. Write each partition's metadata, then the manifest, which makes the
 *	  backup exist; record the job's success.
 *
 * Returns the new backup's id.
 */
int64
pb_run_backup(PbJob *job)
{
	int			saved_iso = DefaultXactIsoLevel;
	MemoryContext job_context = CurrentMemoryContext;
	char	   *db_dir = pb_db_dir(job->backup_dir, job->source_db);
	char	   *marker;
	char	   *resume_key;
	int64		backup_id;
	List	   *tables = NIL;
	List	   *units = NIL;
	List	   *earlier;
	List	   *discarded;
	ListCell   *lc;
	Snapshot	snapshot;
	XLogRecPtr	lsn;
	TimestampTz started;
	char	   *snapshot_id;
	dsm_segment *seg;
	PbWork	   *work;
	PbManifestWriter *writer;
	StringInfoData manifest;	/* what is not written yet */
	uint64		entry_start;
	uint64		size;
	uint64		largest_entry = 0;
	const char *largest_table = NULL;
	BlockNumber chunk_blocks;
	int			succeeded = 0;
	int			nfailed = 0;
	MemoryContext leaf_context;
	MemoryContext units_context;

	/* 1. claim the tables */
	chunk_blocks = Max(1, (BlockNumber) ((uint64) job->chunk_size_mb * 1024 * 1024 / BLCKSZ));
	pb_xact_begin();
	resume_key = pb_job_resume_key(job->job_id);
	notice_foreign(job);
	foreach(lc, job_tables(job))
	{
		BackupTable *t = palloc0(sizeof(BackupTable));

		t->relid = lfirst_oid(lc);
		t->schema = get_namespace_name(get_rel_namespace(t->relid));
		t->name = get_rel_name(t->relid);
		if (t->schema == NULL || t->name == NULL)
			continue;			/* dropped meanwhile */
		t->task_name = psprintf("%s.%s", t->schema, t->name);
		if (job->type == PB_JOB_BACKUP_DB)
			pb_job_lock_backup_db_table(job->job_id, t->schema, t->name, db_dir, true);
		else
			pb_job_lock_backup_table(job->job_id, t->schema, t->name, db_dir, true);
		{
			/* counted, not kept: step 2 lists them again */
			MemoryContext count_context = AllocSetContextCreate(job_context,
																"partback leaves counted",
																ALLOCSET_DEFAULT_SIZES);
			MemoryContext old = MemoryContextSwitchTo(count_context);
			List	   *leaves = table_leaves(t->relid, job->partitions);
			int			units = 0;
			ListCell   *lc2;

			/* chunks as the sizes are now, for the progress figures */
			foreach(lc2, leaves)
			{
				/*
				 * A DDL in progress may drop the partition while we wait for
				 * its lock; step 2 lists the partitions again anyway.
				 */
				Relation	rel = try_table_open(((BackupLeaf *) lfirst(lc2))->relid,
												 AccessShareLock);

				if (rel == NULL)
					continue;
				units += Max(1, (RelationGetNumberOfBlocks(rel) + chunk_blocks - 1) / chunk_blocks);
				table_close(rel, AccessShareLock);
				pb_bound_caches();
			}
			pb_task_insert(job->job_id, t->task_name, NULL, list_length(leaves), units);
			MemoryContextSwitchTo(old);
			MemoryContextDelete(count_context);
		}
		tables = lappend(tables, t);
	}
	pb_xact_end();

	/* 2. copy under one snapshot */
	DefaultXactIsoLevel = XACT_REPEATABLE_READ;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	DefaultXactIsoLevel = saved_iso;
	MemoryContextSwitchTo(job_context);
	started = GetCurrentTransactionStartTimestamp();

	pb_repo_init(job->backup_dir);
	pb_lock_backup_dir(db_dir, true);
	pb_check_dir_cluster(job->backup_dir, job->source_db);
	pb_check_may_write(job->backup_dir, job->source_db);
	/*
	 * Files named "*.tmp" were being written by a job that did not finish;
	 * no other job writes here now (pb_lock_backup_dir), so they can go.
	 */
	pb_remove_temporary_files(db_dir);
	pb_mkdir_p(psprintf("%s/manifests", db_dir));
	backup_id = next_backup_id(db_dir);
	marker = psprintf("%s/manifests/%010lld.inprogress", db_dir, (long long) backup_id);
	{
		StringInfoData m;

		initStringInfo(&m);
		appendStringInfoChar(&m, '{');
		pb_json_add_int(&m, "job_id", job->job_id);
		pb_json_add_str(&m, "resume_key", resume_key);
		appendStringInfoString(&m, "}\n");
		pb_write_small_file(marker, m.data, m.len);
	}

	/*
	 * Nothing written from here to the manifest is data until the manifest
	 * names it: the directories, metadata files (and the directories of the
	 * copy workers' data files, each of which gets a metadata file) are
	 * fsynced in one pass before the manifest is written.
	 */
	pb_sync_defer(true);

	/* lock everything first, so that DDL waits for the backup to end */
	lock_tables(job, tables);
	/* every change after this LSN is newer than the snapshot */
	lsn = GetXLogInsertRecPtr();
	snapshot = GetTransactionSnapshot();
	PushActiveSnapshot(snapshot);
	snapshot_id = ExportSnapshot(snapshot);

	earlier = pb_earlier_chunks(job->job_id);
	units_context = AllocSetContextCreate(job_context, "partback units",
										  ALLOCSET_DEFAULT_SIZES);
	types_digests(tables);
	foreach(lc, tables)
	{
		BackupTable *t = lfirst(lc);
		ResourceOwner owner = CurrentResourceOwner;
		int			nunits = list_length(units);

		if (t->dropped)
			continue;

		/*
		 * A table that cannot be planned (not readable, its definition not
		 * captured, ...) fails alone: the backup goes on with the others.
		 */
		pb_messages_set_table(t->task_name);
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(job_context);
		PG_TRY();
		{
			plan_table(job, t, foreach_current_index(lc), backup_id, db_dir,
					   earlier, &units, units_context);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(job_context);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			units = list_truncate(units, nunits);
			table_step_failed(t, job_context, owner);
		}
		PG_END_TRY();
	}
	pb_messages_set_table(NULL);

	{
		Size		strings = 0;

		foreach(lc, units)
		{
			PbUnit	   *u = lfirst(lc);

			strings = add_size(strings, pb_unit_strings(u->path, u->file));
		}
		work = pb_work_create(job, list_length(units), strings, &seg);
	}
	work->job_id = job->job_id;
	work->is_backup = true;
	strlcpy(work->snapshot, snapshot_id, sizeof(work->snapshot));
	work->snapshot_lsn = lsn;
	work->compression = job->compression;
	work->compression_level = job->compression_level;
	work->max_rate = job->max_rate;
	foreach(lc, units)
		pb_work_set_unit(work, foreach_current_index(lc), lfirst(lc));
	/*
	 * The shared copies are the units from here on; a context of their own
	 * gives their memory back (20 MB at 20,000 partitions, which stayed in
	 * the job's context, free).
	 */
	list_free(units);
	units = NIL;
	MemoryContextDelete(units_context);

	leaf_context = AllocSetContextCreate(job_context, "partback leaf metadata",
										 ALLOCSET_DEFAULT_SIZES);
	{
		Oid			batch_args = OIDARRAYOID;

		/* the SQL objects of 1.0 (before ALTER EXTENSION ... UPDATE) lack it */
		LeaderSteps steps = {tables, 0, work, job_context,
			pb_sql_function_exists("_capture_tables", 1, &batch_args), 0,
		job, backup_id, db_dir, 0, leaf_context};

		pb_work_run(work, seg, job->parallel, next_leader_step, &steps);
	}

	/* take the results back, of the leaves not written meanwhile */
	for (int i = 0; i < work->nunits; i++)
	{
		PbUnit	   *u = &work->units[i];
		BackupTable *t = list_nth(tables, u->table_index);

		/* a chunk a copy worker could not write fails its table */
		if (u->failed)
			t->failed = true;
		else if (u->leaf_index >= t->leaves_written)
			take_back_result(t, u, backup_id);
	}
	discarded = discard_copies(job, tables, work);
	dsm_detach(seg);
	pb_xact_end();
	foreach(lc, discarded)
		pb_unlink(psprintf("%s/%s", db_dir, (char *) lfirst(lc)), true);

	/* 3. metadata, manifest, success */
	pb_xact_begin();

	writer = pb_manifest_begin(pb_manifest_path(job->backup_dir, job->source_db, backup_id));
	initStringInfo(&manifest);
	appendStringInfoChar(&manifest, '{');
	pb_json_add_str(&manifest, "format", "partback");
	pb_json_add_int(&manifest, "version", PARTBACK_FORMAT_VERSION);
	pb_json_add_int(&manifest, "backup_id", backup_id);
	pb_json_add_str(&manifest, "database", job->source_db);
	pb_json_add_str(&manifest, "job_type", pb_job_type_name(job->type));
	pb_json_add_int(&manifest, "job_id", job->job_id);
	pb_json_add_str(&manifest, "user", GetUserNameFromId(GetUserId(), false));
	pb_json_add_str(&manifest, "started_at", timestamp_text(started));
	pb_json_add_str(&manifest, "snapshot_lsn",
					DatumGetCString(DirectFunctionCall1(pg_lsn_out, LSNGetDatum(lsn))));
	pb_json_add_int(&manifest, "server_version_num", PG_VERSION_NUM);
	/* one cluster per backup (cluster.c) */
	pb_json_add_str(&manifest, "system_identifier", pb_system_identifier());
	pb_json_add_str(&manifest, "compression", pb_compression_name(job->compression));
	if (job->type == PB_JOB_BACKUP_DB)
	{
		/* what the backup covers: null for the whole database */
		StringInfoData schemas;

		initStringInfo(&schemas);
		if (job->schemas == NIL)
			appendStringInfoString(&schemas, "null");
		else
		{
			appendStringInfoChar(&schemas, '[');
			foreach(lc, job->schemas)
			{
				if (foreach_current_index(lc) > 0)
					appendStringInfoString(&schemas, ", ");
				escape_json(&schemas, lfirst(lc));
			}
			appendStringInfoChar(&schemas, ']');
		}
		pb_json_add_raw(&manifest, "schemas", schemas.data);
	}
	appendStringInfoString(&manifest, ",\n  \"tables\": [");

	foreach(lc, tables)
	{
		BackupTable *t = lfirst(lc);
		int64		figures[3];

		if (t->dropped)
		{
			pb_task_update(job->job_id, t->task_name, "succeeded", 0, 0, 0, 0,
						   "dropped before the backup's snapshot was taken");
			continue;
		}
		if (t->failed)
			continue;			/* in "failed_tables" below */
		record_taken_over(job, t, figures);
		/* the leaves not written while the copy workers copied */
		begin_entries(t);
		while (t->leaves_written < list_length(t->leaves))
		{
			CHECK_FOR_INTERRUPTS();
			write_next_leaf(job, t, backup_id, db_dir, leaf_context);
		}
		appendStringInfoChar(&t->entries, ']');

		entry_start = pb_manifest_size(writer) + manifest.len;
		if (manifest.data[manifest.len - 1] != '[')
			appendStringInfoChar(&manifest, ',');
		appendStringInfoString(&manifest, "\n    {");
		pb_json_add_str(&manifest, "schema", t->schema);
		pb_json_add_str(&manifest, "name", t->name);
		pb_json_add_raw(&manifest, "partial", job->partitions ? "true" : "false");
		/* the two large members written as they are, then let go */
		pb_json_add_raw(&manifest, "definition", "");
		pb_manifest_write_buf(writer, &manifest);
		pb_manifest_write(writer, t->definition, strlen(t->definition));
		pfree(t->definition);
		t->definition = NULL;
		appendStringInfoString(&manifest, ",\n     ");
		pb_json_add_raw(&manifest, "partitions", "");
		pb_manifest_write_buf(writer, &manifest);
		pb_manifest_write(writer, t->entries.data, t->entries.len);
		pfree(t->entries.data);
		appendStringInfoChar(&manifest, '}');
		size = pb_manifest_size(writer) + manifest.len;
		if (size - entry_start > largest_entry)
		{
			largest_entry = size - entry_start;
			largest_table = t->task_name;
		}
		/* the limit readers apply (with room for the members that follow) */
		if (size > PB_MAX_MANIFEST_BYTES - 4096)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the manifest of backup " INT64_FORMAT " of database \"%s\" would take more than the limit of %d bytes",
							backup_id, job->source_db, PB_MAX_MANIFEST_BYTES),
					 errdetail("Its largest entry is that of table %s, " UINT64_FORMAT " bytes.",
							   largest_table, largest_entry),
					 errhint("Back up the database's tables in several backup directories, e.g. by schema with backup_db(schemas => ...).")));

		pb_task_progress(job->job_id, t->task_name);
		add_task_figures(job, t, figures);
		pb_task_finish(job->job_id, t->task_name, list_length(t->leaves), t->reused,
					   t->reused_bytes);
	}
	appendStringInfoString(&manifest, "]");

	/*
	 * The tables that failed are not in the backup; the manifest names them,
	 * so that it shows as partial (check_backup, list_backups) and a restore
	 * says what it lacks.
	 */
	foreach(lc, tables)
	{
		BackupTable *t = lfirst(lc);

		if (!t->failed)
		{
			if (!t->dropped)
				succeeded++;
			continue;
		}
		if (t->error == NULL)
		{
			/* a copy worker's, recorded by it */
			t->error = pb_table_error(job->job_id, t->task_name);
			if (t->error == NULL)
				t->error = "a copy worker failed";
		}
		appendStringInfoString(&manifest, nfailed++ == 0 ?
							   ",\n  \"failed_tables\": [\n    {" : ",\n    {");
		pb_json_add_str(&manifest, "schema", t->schema);
		pb_json_add_str(&manifest, "name", t->name);
		pb_json_add_str(&manifest, "error", t->error);
		appendStringInfoChar(&manifest, '}');
	}
	if (nfailed > 0)
		appendStringInfoChar(&manifest, ']');
	appendStringInfoString(&manifest, ",\n  ");
	pb_json_add_str(&manifest, "finished_at", timestamp_text(GetCurrentTimestamp()));
	pb_manifest_write_buf(writer, &manifest);

	/*
	 * The manifest comes last: from now on the backup exists.  When every
	 * table failed there is none; the marker stays, as for an interrupted
	 * backup, for the next call to continue.
	 */
	pb_sync_deferred();
	foreach(lc, tables)
		forget_leaves_written(lfirst(lc), backup_id, db_dir);
	if (succeeded > 0 || nfailed == 0)
	{
		pb_manifest_end(writer);
		pb_manifest_publish(writer);
		pb_unlink(marker, false);
		forget_earlier_calls(job, backup_id, db_dir, resume_key);
	}
	else
		pb_manifest_abort(writer);

	pb_messages_flush(job->job_id);
	if (nfailed == 0)
	{
		pb_release_claims();
		pb_job_finish(job->job_id, "succeeded", backup_id, NULL, NULL);
	}
	else if (succeeded > 0)
		pb_job_finish(job->job_id, "failed", backup_id, NULL, NULL);
	pb_xact_end();
	if (nfailed > 0)
	{
		/* the backup of the others exists; the job ends with the failures */
		pb_xact_begin();
		pb_raise_table_failures(job->job_id, succeeded + nfailed);
	}
	return backup_id;
}
