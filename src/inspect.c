/*-------------------------------------------------------------------------
 *
 * inspect.c
 *		SQL functions that read a backup dir without touching table data:
 *		the manifests and metadata behind list_backups, get_backup_list and
 *		get_backup_meta, and check_backup, which recomputes every file's
 *		checksum and reports only what is wrong.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/string.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/varlena.h"

#include "partback.h"
#include "gate.h"
#include "auth.h"

PG_FUNCTION_INFO_V1(partback_manifest);
PG_FUNCTION_INFO_V1(partback_manifests);
PG_FUNCTION_INFO_V1(partback_backup_ids);
PG_FUNCTION_INFO_V1(partback_manifest_at);
PG_FUNCTION_INFO_V1(partback_manifests_listed);
PG_FUNCTION_INFO_V1(partback_partition_meta);
PG_FUNCTION_INFO_V1(partback_check_backup);

/* The dir must hold backups of db, finished or not. */
static void
check_db(const char *dir, const char *db)
{
	bool		is_dir;

	if (!pb_path_exists(pb_db_dir(dir, db), &is_dir) || !is_dir)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup directory \"%s\" holds no backup of database \"%s\"",
						dir, db)));
}

static char *
text_arg_required(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * The backup_dir and source_db arguments (the first two), checked; the dir
 * opened, and holding backups of the database.
 */
static void
open_db_args(FunctionCallInfo fcinfo, char **dir, char **db)
{
	*dir = pb_backup_dir_arg(text_arg_required(fcinfo, 0, "backup_dir"));
	*db = text_arg_required(fcinfo, 1, "source_db");
	pb_repo_open(*dir);
	check_db(*dir, *db);
}

/* A damaged manifest passed over: say which, and how to get rid of it. */
static void
warn_damaged(const char *dir, const char *db, int64 id, const char *problem)
{
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("skipping backup " INT64_FORMAT " of database \"%s\": its manifest \"%s\" is damaged",
					id, db, pb_manifest_path(dir, db, id)),
			 errdetail("%s", problem),
			 errhint("partback.check_backup() reports what is wrong; partback.delete_backup() removes the backup.")));
}

/* _manifest(backup_dir, source_db, backup_id): newest if backup_id is NULL */
Datum
partback_manifest(PG_FUNCTION_ARGS)
{
	char	   *dir;
	char	   *db;
	int64	   *ids;
	int			n;
	int64		id;

	pb_gate_check_call(fcinfo);
	open_db_args(fcinfo, &dir, &db);
	n = pb_backup_ids(dir, db, &ids);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup directory \"%s\" holds no finished backup of database \"%s\"",
						dir, db)));
	if (PG_ARGISNULL(2))
	{
		/* the newest the caller may pick (roles.c) */
		for (int i = n - 1; i >= 0; i--)
		{
			char	   *problem;
			Jsonb	   *m = pb_read_manifest_lenient(dir, db, ids[i], true, &problem);

			CHECK_FOR_INTERRUPTS();
			/*
			 * A damaged backup older than the one picked is passed over; the
			 * newest one damaged is an error: it would have been picked.
			 */
			if (m == NULL)
			{
				if (i == n - 1)
					(void) pb_read_manifest(dir, db, ids[i]);
				warn_damaged(dir, db, ids[i], problem);
				continue;
			}
			if (pb_manifest_pickable(m))
				PG_RETURN_JSONB_P(m);
		}
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup directory \"%s\" holds no finished backup of database \"%s\" made by a role you may restore from without naming it",
						dir, db),
				 errhint("Name the backup with backup_id; a superuser's call without it picks only backups made by superusers.")));
	}
	else
	{
		bool		found = false;

		id = PG_GETARG_INT64(2);
		for (int i = 0; i < n; i++)
			found |= (ids[i] == id);
		/* a backup the caller may not see does not exist for it */
		if (found && !pb_manifest_visible(pb_read_manifest(dir, db, id)))
			found = false;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("backup " INT64_FORMAT " of database \"%s\" does not exist in \"%s\"",
							id, db, dir),
					 errhint("partback.list_backups() lists the backups in a directory.")));
	}
	PG_RETURN_JSONB_P(pb_read_manifest(dir, db, id));
}

/* _backup_ids(backup_dir, source_db): its finished backups, oldest first */
Datum
partback_backup_ids(PG_FUNCTION_ARGS)
{
	char	   *dir;
	char	   *db;
	int64	   *ids;
	int			n;
	Datum	   *elems;

	pb_gate_check_call(fcinfo);
	open_db_args(fcinfo, &dir, &db);
	n = pb_backup_ids(dir, db, &ids);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * _manifest_at(backup_dir, source_db, backup_id, newest): one manifest, for
 * a reader that walks the backups newest first and stops at the one it
 * takes (a database of many partitions has manifests of megabytes).  As in
 * _manifests, a damaged one is passed over (NULL) with a WARNING, but for
 * the newest, which the reader would have taken: that is an ERROR naming
 * it.
 */
Datum
partback_manifest_at(PG_FUNCTION_ARGS)
{
	char	   *dir;
	char	   *db;
	int64		id;
	Jsonb	   *m;
	char	   *problem;

	pb_gate_check_call(fcinfo);
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		elog(ERROR, "partback: _manifest_at needs a backup_id and newest");
	open_db_args(fcinfo, &dir, &db);
	id = PG_GETARG_INT64(2);
	if (PG_GETARG_BOOL(3))
		PG_RETURN_JSONB_P(pb_read_manifest(dir, db, id));
	m = pb_read_manifest_lenient(dir, db, id, true, &problem);
	if (m == NULL)
	{
		warn_damaged(dir, db, id, problem);
		PG_RETURN_NULL();
	}
	PG_RETURN_JSONB_P(m);
}

/*
 * _manifests(backup_dir, source_db): every manifest, oldest first.  A
 * damaged one is passed over with a WARNING (listed: returned as
 * {"backup_id": id, "problem": "..."}, for list_backups), so that one
 * damaged backup never makes the others unusable.
 */
static Datum
manifests(FunctionCallInfo fcinfo, bool listed)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir;
	char	   *db;
	int64	   *ids;
	int			n;
	MemoryContext cxt;

	open_db_args(fcinfo, &dir, &db);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	n = pb_backup_ids(dir, db, &ids);

	/*
	 * A reader that picks the newest backup must not silently pick an older
	 * one: the newest manifest damaged is an error naming it (to read the
	 * others, name one: _manifest), older damaged ones are passed over.
	 */
	if (!listed && n > 0)
		(void) pb_read_manifest(dir, db, ids[n - 1]);
	/* one manifest in memory at a time: the tuplestore keeps its own copy */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "partback manifest",
								ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		MemoryContext old;
		Datum		value;
		Jsonb	   *m;
		char	   *problem;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(cxt);
		m = pb_read_manifest_lenient(dir, db, ids[i], true, &problem);
		if (m == NULL && listed)
		{
			JsonbParseState *state = NULL;
			JsonbValue	v;

			(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
			v.type = jbvString;
			v.val.string.val = "backup_id";
			v.val.string.len = strlen("backup_id");
			(void) pushJsonbValue(&state, WJB_KEY, &v);
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(ids[i]);
			(void) pushJsonbValue(&state, WJB_VALUE, &v);
			v.type = jbvString;
			v.val.string.val = "problem";
			v.val.string.len = strlen("problem");
			(void) pushJsonbValue(&state, WJB_KEY, &v);
			v.val.string.val = problem;
			v.val.string.len = strlen(problem);
			(void) pushJsonbValue(&state, WJB_VALUE, &v);
			value = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
			MemoryContextSwitchTo(old);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
			MemoryContextReset(cxt);
			continue;
		}
		MemoryContextSwitchTo(old);
		if (m == NULL)
		{
			warn_damaged(dir, db, ids[i], problem);
			MemoryContextReset(cxt);
			continue;
		}
		/* only the backups of roles the caller is a member of (roles.c) */
		if (!pb_manifest_visible(m))
		{
			MemoryContextReset(cxt);
			continue;
		}
		value = JsonbPGetDatum(m);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		MemoryContextReset(cxt);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

Datum
partback_manifests(PG_FUNCTION_ARGS)
{
	pb_gate_check_call(fcinfo);
	return manifests(fcinfo, false);
}

/* _manifests_listed(backup_dir, source_db): damaged ones as problems */
Datum
partback_manifests_listed(PG_FUNCTION_ARGS)
{
	pb_gate_check_call(fcinfo);
	return manifests(fcinfo, true);
}

/* _partition_meta(backup_dir, source_db, meta_file, sha256) */
Datum
partback_partition_meta(PG_FUNCTION_ARGS)
{
	char	   *dir;
	char	   *db;
	char	   *meta;
	char	   *sha;
	Jsonb	   *result;

	pb_gate_check_call(fcinfo);
	dir = pb_backup_dir_arg(text_arg_required(fcinfo, 0, "backup_dir"));
	db = text_arg_required(fcinfo, 1, "source_db");
	meta = text_arg_required(fcinfo, 2, "meta_file");
	sha = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	/* meta comes from a manifest: never let it leave the database dir */
	if (meta[0] == '/' || strstr(meta, "..") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid metadata file name \"%s\" in a manifest", meta)));
	pb_repo_open(dir);
	result = pb_read_meta_file(psprintf("%s/%s", pb_db_dir(dir, db), meta), sha);
	/* only metadata of backups the caller may see (roles.c) */
	if (!pb_meta_visible(dir, db, meta, sha))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read metadata file \"%s\" of database \"%s\" in \"%s\"",
						meta, db, dir),
				 errdetail("No backup that you may see names it with that checksum."),
				 errhint("A role that is not a superuser sees only the backups made by roles it is a member of.")));
	PG_RETURN_JSONB_P(result);
}

/* ---------- check_backup ---------- */

typedef struct CheckState
{
	ReturnSetInfo *rsinfo;
	const char *dir;
	const char *db_dir;
	const char *table_filter;
	const char *partition_filter;
	HTAB	   *referenced;		/* files named by any manifest, relative to db_dir */
	MemoryContext referenced_cxt;	/* where it and its keys live */
	bool		table_seen;		/* table_filter matched a table */
	bool		partition_seen; /* partition_filter matched a partition */
	bool		hidden;			/* passed over a backup the caller may not see */
	int			problems;
	PbStrSet   *unfinished;		/* "<id>." prefixes of unfinished backups */
	MemoryContext cxt;			/* lives as long as the call: what outlives a manifest */
} CheckState;

static void
report(CheckState *cs, const char *table, const char *partition,
	   const char *file, const char *problem, const char *expected,
	   const char *actual)
{
	Datum		values[6];
	bool		nulls[6];
	const char *cols[6] = {table, partition, file, problem, expected, actual};

	for (int i = 0; i < 6; i++)
	{
		nulls[i] = (cols[i] == NULL);
		values[i] = cols[i] ? CStringGetTextDatum(cols[i]) : (Datum) 0;
	}
	tuplestore_putvalues(cs->rsinfo->setResult, cs->rsinfo->setDesc, values, nulls);
	cs->problems++;
}

/* Path of a file relative to the backup dir, as check_backup shows it. */
static char *
shown_path(CheckState *cs, const char *db_relative)
{
	return psprintf("%s/%s", cs->db_dir + strlen(cs->dir) + 1, db_relative);
}

/*
 * Run fn(arg); return the ERROR it raised, or NULL (pb_try_call); query
 * cancel and termination (class 57) are raised again.
 */
static ErrorData *
try_call(void (*fn) (void *), void *arg)
{
	ErrorData  *edata = pb_try_call(fn, arg);

	/* a cancel or shutdown is the caller's, never a damaged file */
	if (edata != NULL && ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
		ReThrowError(edata);
	return edata;
}

/* Run fn(arg) and turn an ERROR into a reported problem. */
static bool
guarded(CheckState *cs, void (*fn) (void *), void *arg, const char *table,
		const char *partition, const char *file, const char *problem)
{
	ErrorData  *edata;

	(void) pb_auth_take_failure();
	edata = try_call(fn, arg);
	if (edata == NULL)
		return true;
	/* a file that does not verify with partback.auth_key_file */
	if (pb_auth_take_failure())
		report(cs, table, partition, file, "not authenticated", NULL,
			   edata->detail ? psprintf("%s %s", edata->message, edata->detail) : edata->message);
	else
		report(cs, table, partition, file, problem, NULL, edata->message);
	return false;
}

typedef struct ReadJsonArg
{
	const char *path;
	const char *sha;
	Jsonb	   *result;
} ReadJsonArg;

static void
read_json_guarded(void *arg)
{
	ReadJsonArg *a = arg;

	a->result = pb_read_meta_file(a->path, a->sha);
}

typedef struct ManifestArg
{
	const char *dir;
	const char *db;
	int64		id;
	Jsonb	   *result;
} ManifestArg;

static void
read_manifest_guarded(void *arg)
{
	ManifestArg *a = arg;

	a->result = pb_read_manifest(a->dir, a->db, a->id);
}

static void
repo_open_guarded(void *arg)
{
	pb_repo_open((const char *) arg);
}

typedef struct ShaArg
{
	const char *path;
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
	int64		size;
} ShaArg;

static void
sha_guarded(void *arg)
{
	ShaArg	   *a = arg;

	pb_sha256_file(a->path, a->hex, &a->size);
}

static bool
file_missing(CheckState *cs, const char *path, const char *shown,
			 const char *table, const char *partition)
{
	bool		is_dir;

	if (pb_path_exists(path, &is_dir))
		return false;
	report(cs, table, partition, shown, "missing", NULL, NULL);
	return true;
}

/*
 * A file some manifest names.  Backups share data files, so a data file's
 * checksum is computed once and its outcome reported for every reference.
 */
typedef struct ReferencedFile
{
	char	   *rel;			/* hash key: path relative to db_dir, of any
								 * length (ref_hash, ref_match) */
	bool		checked;		/* a data file whose outcome is below */
	bool		missing;
	char	   *unreadable;		/* the error reading it, or NULL */
	int64		size;
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
} ReferencedFile;

static uint32
ref_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
ref_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

static ReferencedFile *
reference(CheckState *cs, const char *rel)
{
	char	   *key = (char *) rel;
	bool		found;
	ReferencedFile *ref;

	if (cs->referenced == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(ReferencedFile);
		ctl.hash = ref_hash;
		ctl.match = ref_match;
		ctl.hcxt = cs->cxt;
		cs->referenced_cxt = cs->cxt;
		cs->referenced = hash_create("partback referenced files", 1024, &ctl,
									 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
									 HASH_CONTEXT);
	}
	ref = hash_search(cs->referenced, &key, HASH_ENTER, &found);
	if (!found)
	{
		/* the key, until now the caller's string, becomes the entry's own */
		ref->rel = MemoryContextStrdup(cs->referenced_cxt, rel);
		ref->checked = false;
		ref->missing = false;
		ref->unreadable = NULL;
	}
	return ref;
}

static void
check_data_file(CheckState *cs, const char *table, const char *partition,
				const char *part_dir_rel, JsonbContainer *f, const char *meta_path)
{
	const char *name = pb_json_str(f, "name", false);
	char	   *rel = psprintf("%s/%s", part_dir_rel, name);
	char	   *shown = shown_path(cs, rel);
	const char *sha = pb_json_str(f, "sha256", false);
	int64		size = pb_json_int(f, "stored_bytes", meta_path);
	ReferencedFile *ref = reference(cs, rel);

	if (!ref->checked)
	{
		char	   *path = psprintf("%s/%s", cs->db_dir, rel);
		bool		is_dir;

		ref->checked = true;
		if (!pb_path_exists(path, &is_dir))
			ref->missing = true;
		else
		{
			ShaArg		a;
			ErrorData  *edata;

			a.path = path;
			edata = try_call(sha_guarded, &a);
			if (edata)
				ref->unreadable = MemoryContextStrdup(cs->cxt, edata->message);
			else
			{
				ref->size = a.size;
				memcpy(ref->hex, a.hex, sizeof(ref->hex));
			}
		}
	}

	if (ref->missing)
		report(cs, table, partition, shown, "missing", NULL, NULL);
	else if (ref->unreadable)
		report(cs, table, partition, shown, "unreadable", NULL, ref->unreadable);
	else if (ref->size != size)
		report(cs, table, partition, shown, "size mismatch",
			   psprintf(INT64_FORMAT, size), psprintf(INT64_FORMAT, ref->size));
	else if (strcmp(ref->hex, sha) != 0)
		report(cs, table, partition, shown, "checksum mismatch", sha, ref->hex);
}

static void
check_partition(CheckState *cs, const char *table, JsonbContainer *p)
{
	const char *path = pb_json_str(p, "path", false);
	const char *meta_rel = pb_json_str(p, "meta", false);
	const char *meta_sha = pb_json_str(p, "meta_sha256", false);
	char	   *meta_path = psprintf("%s/%s", cs->db_dir, meta_rel);
	char	   *shown = shown_path(cs, meta_rel);
	char	   *part_dir_rel = pstrdup(meta_rel);
	ReadJsonArg a;
	JsonbContainer *files;

	(void) reference(cs, meta_rel);
	if (cs->partition_filter &&
		!DatumGetBool(DirectFunctionCall2Coll(textlike, C_COLLATION_OID,
											  CStringGetTextDatum(path),
											  CStringGetTextDatum(cs->partition_filter))))
		return;
	cs->partition_seen = true;
	if (strstr(meta_rel, "..") != NULL || meta_rel[0] == '/')
	{
		report(cs, table, path, meta_rel, "invalid file name", NULL, NULL);
		return;
	}
	if (strrchr(part_dir_rel, '/'))
		*strrchr(part_dir_rel, '/') = '\0';
	if (file_missing(cs, meta_path, shown, table, path))
		return;
	a.path = meta_path;
	a.sha = meta_sha;
	if (!guarded(cs, read_json_guarded, &a, table, path, shown, "metadata damaged"))
		return;
	files = pb_json_container(&a.result->root, "files");
	for (int i = 0; i < pb_json_array_size(files); i++)
	{
		JsonbContainer *f = pb_json_array_container(files, i);
		const char *name = pb_json_str(f, "name", false);

		CHECK_FOR_INTERRUPTS();
		if (strchr(name, '/') != NULL || strcmp(name, "..") == 0)
		{
			report(cs, table, path, shown, "invalid file name", NULL, name);
			continue;
		}
		check_data_file(cs, table, path, part_dir_rel, f, meta_path);
	}
}

/*
 * Does a manifest's table entry match a 'schema.table' argument?  The same
 * rule as partback._table_name_matches(): the plain form, or SQL identifiers.
 */
static bool
table_matches(JsonbContainer *entry, const char *source_table)
{
	const char *schema = pb_json_str(entry, "schema", false);
	const char *name = pb_json_str(entry, "name", false);
	List	   *names;

	if (strcmp(psprintf("%s.%s", schema, name), source_table) == 0)
		return true;
	if (!SplitIdentifierString(pstrdup(source_table), '.', &names) ||
		list_length(names) != 2)
		return false;
	return strcmp(linitial(names), schema) == 0 && strcmp(lsecond(names), name) == 0;
}

static void
check_manifest(CheckState *cs, const char *db, int64 id)
{
	ManifestArg a;
	JsonbContainer *tables;
	char	   *shown = psprintf("%s/manifests/%010lld.json",
								 cs->db_dir + strlen(cs->dir) + 1, (long long) id);

	a.dir = cs->dir;
	a.db = db;
	a.id = id;
	if (!guarded(cs, read_manifest_guarded, &a, NULL, NULL, shown, "manifest damaged"))
		return;

	/*
	 * Another role's backup does not exist for the caller, as in
	 * list_backups; its files are then not known either, so the caller's
	 * check leaves out the search for extra files.
	 */
	if (!pb_manifest_visible(a.result))
	{
		cs->hidden = true;
		return;
	}
	tables = pb_json_container(&a.result->root, "tables");
	for (int i = 0; i < pb_json_array_size(tables); i++)
	{
		JsonbContainer *t = pb_json_array_container(tables, i);
		char	   *name = psprintf("%s.%s", pb_json_str(t, "schema", false),
									pb_json_str(t, "name", false));
		JsonbContainer *parts = pb_json_container(t, "partitions");

		if (cs->table_filter && !table_matches(t, cs->table_filter))
			continue;
		cs->table_seen = true;
		for (int j = 0; j < pb_json_array_size(parts); j++)
			check_partition(cs, name, pb_json_array_container(parts, j));
	}

	/* a partial backup: the tables its job failed are not in it */
	tables = pb_json_container(&a.result->root, "failed_tables");
	for (int i = 0; tables && !cs->partition_filter && i < pb_json_array_size(tables); i++)
	{
		JsonbContainer *t = pb_json_array_container(tables, i);

		if (cs->table_filter && !table_matches(t, cs->table_filter))
			continue;
		cs->table_seen = true;
		report(cs, psprintf("%s.%s", pb_json_str(t, "schema", false),
							pb_json_str(t, "name", false)),
			   NULL, shown, "not in the backup: its backup failed", NULL,
			   pb_json_str(t, "error", true));
	}
}

/* Report files under rel_dir (relative to db_dir) that no manifest names. */
static void
check_extra_files(CheckState *cs, const char *rel_dir)
{
	char	   *dir = psprintf("%s/%s", cs->db_dir, rel_dir);
	List	   *names = pb_list_dir(dir);
	ListCell   *lc;

	foreach(lc, names)
	{
		char	   *rel = psprintf("%s/%s", rel_dir, (char *) lfirst(lc));
		bool		is_dir;
		bool		known;

		CHECK_FOR_INTERRUPTS();
		(void) pb_path_exists(psprintf("%s/%s", cs->db_dir, rel), &is_dir);
		if (is_dir)
		{
			check_extra_files(cs, rel);
			continue;
		}
		known = cs->referenced != NULL &&
			hash_search(cs->referenced, &rel, HASH_FIND, NULL) != NULL;
		/* the files of an unfinished backup are reported with it */
		if (pb_strset_contains_id_prefix(cs->unfinished, lfirst(lc)))
			known = true;
		if (!known)
			report(cs, NULL, NULL, shown_path(cs, rel),
				   pg_str_endswith(rel, PB_TMP_SUFFIX) ? "leftover temporary file" : "extra file",
				   NULL, NULL);
	}
}

/*
 * The format marker.  Where the dir holds backups of db, a damaged or
 * missing marker is reported like any other damaged file, and the rest is
 * checked; otherwise the dir is refused, as every reader refuses it -- and
 * so is a dir of a newer format, which this partback cannot check.
 */
static void
check_format_marker(CheckState *cs)
{
	ErrorData  *edata = try_call(repo_open_guarded, (void *) cs->dir);
	char	   *marker = psprintf("%s/%s", cs->dir, PB_FORMAT_MARKER);
	bool		is_dir;

	if (edata == NULL)
		return;
	if (edata->sqlerrcode == ERRCODE_FEATURE_NOT_SUPPORTED ||
		!pb_path_exists(psprintf("%s/manifests", cs->db_dir), &is_dir) || !is_dir)
		ReThrowError(edata);
	report(cs, NULL, NULL, PB_FORMAT_MARKER,
		   pb_path_exists(marker, &is_dir) ? "format marker damaged" : "missing",
		   NULL, edata->message);
}

/* check_backup(backup_dir, source_db, source_table, partition, backup_id) */
Datum
partback_check_backup(PG_FUNCTION_ARGS)
{
	CheckState	cs;
	char	   *db = text_arg_required(fcinfo, 1, "source_db");
	int64	   *ids;
	int			n;
	bool		whole;
	bool		is_dir;
	char	   *mdir;
	ListCell   *lc;
	MemoryContext cxt;

	memset(&cs, 0, sizeof(cs));
	cs.cxt = CurrentMemoryContext;
	cs.dir = pb_backup_dir_arg(text_arg_required(fcinfo, 0, "backup_dir"));
	cs.table_filter = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	cs.partition_filter = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	whole = PG_ARGISNULL(2) && PG_ARGISNULL(3) && PG_ARGISNULL(4);

	InitMaterializedSRF(fcinfo, 0);
	cs.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	cs.db_dir = pb_db_dir(cs.dir, db);
	check_format_marker(&cs);
	check_db(cs.dir, db);
	n = pb_backup_ids(cs.dir, db, &ids);
	if (!PG_ARGISNULL(4))
	{
		int64		id = PG_GETARG_INT64(4);
		bool		found = false;

		if (id <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("backup_id must be positive, not " INT64_FORMAT, id)));

		for (int i = 0; i < n; i++)
			found |= (ids[i] == id);
		/* a backup the caller may not see does not exist for it */
		if (found)
		{
			char	   *problem;
			Jsonb	   *m = pb_read_manifest_lenient(cs.dir, db, id, true, &problem);

			found = (m == NULL || pb_manifest_visible(m));
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("backup " INT64_FORMAT " of database \"%s\" does not exist in \"%s\"",
							id, db, cs.dir),
					 errhint("partback.list_backups() lists the backups in a directory.")));
		ids[0] = id;
		n = 1;
	}

	/* purge_backups and delete_backup wait until the check ends */
	for (int i = 0; i < n; i++)
		pb_lock_backup(cs.db_dir, ids[i], false, false, 0);

	/* one manifest (and its metadata) in memory at a time */
	cs.cxt = CurrentMemoryContext;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "partback manifest",
								ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(cxt);
		check_manifest(&cs, db, ids[i]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
	}
	MemoryContextDelete(cxt);

	/* a misspelt name must not read as healthy (a damaged manifest may hide it) */
	if (cs.table_filter && !cs.table_seen && cs.problems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" is not in any backup of database \"%s\" in \"%s\"",
						cs.table_filter, db, cs.dir),
				 errhint("Name the table as schema.table, as partback.list_backups() and get_backup_list() show it.")));
	/* nor may a pattern that matches nothing */
	if (cs.partition_filter && !cs.partition_seen && cs.problems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 cs.table_filter ?
				 errmsg("no partition of table \"%s\" in the backups of database \"%s\" in \"%s\" matches \"%s\"",
						cs.table_filter, db, cs.dir, cs.partition_filter) :
				 errmsg("no partition in the backups of database \"%s\" in \"%s\" matches \"%s\"",
						db, cs.dir, cs.partition_filter),
				 errhint("The pattern is a LIKE pattern on partition paths; partback.get_backup_list() shows them.")));

	if (whole && !cs.hidden)
	{
		/* files that are neither a manifest nor named by one */
		mdir = psprintf("%s/manifests", cs.db_dir);
		foreach(lc, pb_list_dir(mdir))
		{
			char	   *name = lfirst(lc);

			char	   *shown = psprintf("%s/manifests/%s", cs.db_dir + strlen(cs.dir) + 1, name);

			CHECK_FOR_INTERRUPTS();

			if (pb_is_inprogress_name(name))
			{
				report(&cs, NULL, NULL, shown, "unfinished backup", NULL,
					   "a backup that is running or was interrupted; calling the same function again resumes it");
				if (cs.unfinished == NULL)
					cs.unfinished = pb_strset_create("partback unfinished backups");
				pb_strset_add(cs.unfinished, pnstrdup(name, 11));
			}
			else if (!pb_is_manifest_name(name))
				report(&cs, NULL, NULL, shown,
					   pg_str_endswith(name, PB_TMP_SUFFIX) ? "leftover temporary file" : "extra file",
					   NULL, NULL);
		}
		if (pb_path_exists(psprintf("%s/data", cs.db_dir), &is_dir) && is_dir)
			check_extra_files(&cs, "data");
	}
	return (Datum) 0;
}
