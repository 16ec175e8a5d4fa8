/*-------------------------------------------------------------------------
 *
 * purge.c
 *		Retention: purge_backups keeps the newest backups of a database in a
 *		backup dir, delete_backup removes one.  Manifests go first, then
 *		every file no remaining backup needs (RocksDB's PurgeOldBackups).
 *
 *		Backups share the files of unchanged partitions, so what a file
 *		belongs to is found from the manifests that remain; files of a
 *		backup still being written or interrupted (marked "<id>.inprogress")
 *		are kept, since a call may take them over.  The backup dir's lock
 *		keeps a backup from running meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "partback.h"
#include "auth.h"

PG_FUNCTION_INFO_V1(partback_purge_backups);
PG_FUNCTION_INFO_V1(partback_delete_backup);

typedef struct Retention
{
	const char *dir;
	const char *db;
	const char *db_dir;
	PbStrSet   *needed;			/* files the remaining backups name, relative to db_dir */
	PbStrSet   *unfinished;		/* "<id>." of backups still being written */
	PbStrSet   *unknown_dirs;	/* partition dirs whose damaged metadata hides what is needed */
	int64		damaged_max;	/* newest remaining backup with a damaged manifest, or 0 */
} Retention;

/*
 * A remaining backup whose manifest is damaged may need any file of its own
 * or of an earlier backup (file names begin with the id of the backup that
 * wrote them): those are kept.
 */
static bool
kept_for_damaged(Retention *r, const char *name)
{
	int64		id;

	if (r->damaged_max == 0 || strlen(name) < 11 || name[10] != '.')
		return false;
	for (int i = 0; i < 10; i++)
		if (!isdigit((unsigned char) name[i]))
			return false;
	id = strtoi64(name, NULL, 10);
	return id <= r->damaged_max;
}

/*
 * The manifest of a remaining backup; NULL if it is damaged, which then
 * keeps the files it may need, with a WARNING.
 */
static Jsonb *
read_remaining(Retention *r, int64 backup_id, bool warn)
{
	char	   *problem;
	Jsonb	   *manifest = pb_read_manifest_lenient(r->dir, r->db, backup_id, false, &problem);

	if (manifest != NULL)
		return manifest;
	r->damaged_max = Max(r->damaged_max, backup_id);
	if (warn)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup " INT64_FORMAT " of database \"%s\" is left alone: its manifest \"%s\" is damaged",
						backup_id, r->db, pb_manifest_path(r->dir, r->db, backup_id)),
				 errdetail("%s The files it may need are kept.", problem),
				 errhint("partback.delete_backup(%s, " INT64_FORMAT ") removes it.",
						 quote_literal_cstr(r->dir), backup_id)));
	return NULL;
}

static void
add_needed(Retention *r, const char *rel)
{
	pb_strset_add(r->needed, rel);
}

/*
 * Only the role that made a backup (or a member) and superusers may remove
 * it, as for restoring it.
 */
static void
check_may_remove(Retention *r, int64 backup_id)
{
	Jsonb	   *manifest;
	const char *maker;
	Oid			maker_id;

	if (superuser())
		return;
	/* who made it is believed only if the manifest verifies */
	manifest = pb_read_manifest(r->dir, r->db, backup_id);
	maker = pb_json_str(&manifest->root, "user", true);
	maker_id = maker ? get_role_oid(maker, true) : InvalidOid;
	if (!OidIsValid(maker_id) || !is_member_of_role(GetUserId(), maker_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to remove backup " INT64_FORMAT, backup_id),
				 errdetail("The backup was made by role %s.", maker ? maker : "unknown"),
				 errhint("Only the role that made a backup, its members and superusers may remove it.")));
}


typedef struct ReadMetaArg
{
	const char *path;
	const char *sha;
	Jsonb	   *result;
} ReadMetaArg;

static void
read_meta_call(void *arg)
{
	ReadMetaArg *a = arg;

	a->result = pb_read_meta_file_ext(a->path, a->sha, false);
}

/*
 * A remaining backup's metadata file; NULL, with a WARNING, if it is
 * damaged.  The error is caught in a subtransaction; a cancel or shutdown
 * is raised again.
 */
static Jsonb *
read_meta_lenient(Retention *r, const char *meta_rel, const char *sha)
{
	ReadMetaArg arg = {psprintf("%s/%s", r->db_dir, meta_rel), sha, NULL};
	ErrorData  *edata = pb_try_call(read_meta_call, &arg);

	if (edata == NULL)
		return arg.result;
	if (!pb_error_is_damage(edata))
		ReThrowError(edata);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("metadata file \"%s\" of a remaining backup is damaged: every file beside it is kept", arg.path),
			 errdetail("%s", edata->message)));
	return NULL;
}

/*
 * Everything the backups that remain need: their metadata files and the
 * data files those name.  Read before anything is removed, so that a
 * damaged backup stops the removal instead of losing its files.
 */
static void
collect_needed(Retention *r, int64 *keep_ids, int nkeep)
{
	/* one manifest in memory at a time; the set keeps copies of the names */
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "partback manifest",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	if (r->needed == NULL)
		r->needed = pb_strset_create("partback needed files");
	if (r->unknown_dirs == NULL)
		r->unknown_dirs = pb_strset_create("partback dirs of damaged metadata");
	old = MemoryContextSwitchTo(cxt);
	for (int i = 0; i < nkeep; i++)
	{
		/*
		 * Removing trusts no backup: one that does not verify with the key
		 * (made before it was set) still keeps its files.
		 */
		Jsonb	   *manifest = read_remaining(r, keep_ids[i], false);
		JsonbContainer *tables;

		if (manifest == NULL)
			continue;
		tables = pb_json_container(&manifest->root, "tables");

		for (int t = 0; t < pb_json_array_size(tables); t++)
		{
			JsonbContainer *parts = pb_json_container(pb_json_array_container(tables, t),
													  "partitions");

			for (int p = 0; p < pb_json_array_size(parts); p++)
			{
				JsonbContainer *part = pb_json_array_container(parts, p);
				const char *meta_rel = pb_json_str(part, "meta", false);
				char	   *dir_rel = pb_meta_file_dir(meta_rel);
				Jsonb	   *meta;
				JsonbContainer *files;

				CHECK_FOR_INTERRUPTS();
				add_needed(r, meta_rel);
				meta = read_meta_lenient(r, meta_rel, pb_json_str(part, "meta_sha256", false));
				if (meta == NULL)
				{
					/* damaged: what it names is unknown, so its dir is kept */
					pb_strset_add(r->unknown_dirs, dir_rel);
					continue;
				}
				files = pb_json_container(&meta->root, "files");
				for (int f = 0; f < pb_json_array_size(files); f++)
				{
					CHECK_FOR_INTERRUPTS();
					add_needed(r, psprintf("%s/%s", dir_rel,
										   pb_json_str(pb_json_array_container(files, f),
													   "name", false)));
				}
			}
		}
		MemoryContextReset(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* Remove below rel_dir what no remaining backup needs; false if it emptied. */
static bool
remove_unneeded(Retention *r, const char *rel_dir)
{
	char	   *dir = psprintf("%s/%s", r->db_dir, rel_dir);
	bool		kept_any = false;
	ListCell   *lc;

	foreach(lc, pb_list_dir(dir))
	{
		const char *name = lfirst(lc);
		char	   *rel = psprintf("%s/%s", rel_dir, name);
		bool		is_dir;
		bool		keep;

		CHECK_FOR_INTERRUPTS();
		(void) pb_path_exists(psprintf("%s/%s", r->db_dir, rel), &is_dir);
		if (is_dir)
		{
			if (remove_unneeded(r, rel))
				kept_any = true;
			else if (!pb_rmdir(psprintf("%s/%s", r->db_dir, rel)))
				kept_any = true;
			continue;
		}
		keep = pb_strset_contains_id_prefix(r->unfinished, name) ||
			pb_strset_contains(r->needed, rel) ||
			pb_strset_contains(r->unknown_dirs, rel_dir) ||
			kept_for_damaged(r, name);
		if (keep)
			kept_any = true;
		else
			pb_unlink(psprintf("%s/%s", r->db_dir, rel), true);
	}
	return kept_any;
}

/*
 * Remove the backups whose ids are in doomed, keeping the others.
 */
static void
remove_backups(Retention *r, int64 *ids, int n, bool *doomed)
{
	int64	   *keep_ids = palloc(sizeof(int64) * (n + 1));
	int			nkeep = 0;
	bool		is_dir;
	ListCell   *lc;

	for (int i = 0; i < n; i++)
	{
		if (doomed[i])
		{
			check_may_remove(r, ids[i]);
			/* no restore or check_backup reads it (to the end of this transaction) */
			pb_lock_backup(r->db_dir, ids[i], true, false, 0);
		}
		else
			keep_ids[nkeep++] = ids[i];
	}
	collect_needed(r, keep_ids, nkeep);
	r->unfinished = pb_strset_create("partback unfinished backups");
	foreach(lc, pb_list_dir(psprintf("%s/manifests", r->db_dir)))
	{
		CHECK_FOR_INTERRUPTS();
		if (pb_is_inprogress_name(lfirst(lc)))
			pb_strset_add(r->unfinished, pnstrdup(lfirst(lc), 11));
	}

	/* manifests first: from then on those backups no longer exist */
	for (int i = 0; i < n; i++)
		if (doomed[i])
			pb_unlink(pb_manifest_path(r->dir, r->db, ids[i]), false);
	if (pb_path_exists(psprintf("%s/data", r->db_dir), &is_dir) && is_dir)
		(void) remove_unneeded(r, "data");
}

static void
open_retention(Retention *r, FunctionCallInfo fcinfo, int dir_arg, int db_arg)
{
	bool		is_dir;

	if (PG_ARGISNULL(dir_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("backup_dir must not be NULL")));
	if (PG_ARGISNULL(db_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source_db must not be NULL")));
	r->dir = pb_backup_dir_arg(text_to_cstring(PG_GETARG_TEXT_PP(dir_arg)));
	r->db = text_to_cstring(PG_GETARG_TEXT_PP(db_arg));
	pb_repo_open(r->dir);
	r->db_dir = pb_db_dir(r->dir, r->db);
	if (!pb_path_exists(r->db_dir, &is_dir) || !is_dir)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup directory \"%s\" holds no backup of database \"%s\"",
						r->dir, r->db)));
	/* no backup of db writes there meanwhile */
	pb_lock_backup_dir(r->db_dir, false);
}

/* purge_backups(backup_dir, keep, source_db): number of backups removed */
Datum
partback_purge_backups(PG_FUNCTION_ARGS)
{
	Retention	r;
	int64	   *ids;
	int			n;
	int			keep;
	bool	   *doomed;
	int			removed = 0;

	memset(&r, 0, sizeof(r));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("keep must not be NULL")));
	keep = PG_GETARG_INT32(1);
	if (keep < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be at least 1, not %d", keep),
				 errhint("To remove a backup, use partback.delete_backup().")));
	open_retention(&r, fcinfo, 0, 2);
	n = pb_backup_ids(r.dir, r.db, &ids);
	doomed = palloc0(sizeof(bool) * (n + 1));

	/*
	 * keep counts the backups that can be restored, newest first; a damaged
	 * one is never removed here (nor the files it may need), only reported:
	 * delete_backup removes it.
	 */
	{
		int			intact = 0;

		for (int i = n - 1; i >= 0; i--)
		{
			MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
													  "partback manifest",
													  ALLOCSET_DEFAULT_SIZES);
			MemoryContext old = MemoryContextSwitchTo(cxt);
			bool		ok = (read_remaining(&r, ids[i], true) != NULL);

			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			CHECK_FOR_INTERRUPTS();
			if (!ok)
				continue;
			if (++intact > keep)
			{
				doomed[i] = true;
				removed++;
			}
		}
	}
	if (removed > 0)
		remove_backups(&r, ids, n, doomed);
	PG_RETURN_INT32(removed);
}

/* delete_backup(backup_dir, backup_id, source_db) */
Datum
partback_delete_backup(PG_FUNCTION_ARGS)
{
	Retention	r;
	int64	   *ids;
	int			n;
	int64		backup_id;
	bool	   *doomed;
	bool		found = false;

	memset(&r, 0, sizeof(r));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("backup_id must not be NULL")));
	backup_id = PG_GETARG_INT64(1);
	if (backup_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup_id must be positive, not " INT64_FORMAT, backup_id)));
	open_retention(&r, fcinfo, 0, 2);
	n = pb_backup_ids(r.dir, r.db, &ids);
	doomed = palloc0(sizeof(bool) * (n + 1));
	for (int i = 0; i < n; i++)
		if (ids[i] == backup_id)
			found = doomed[i] = true;
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup " INT64_FORMAT " of database \"%s\" does not exist in \"%s\"",
						backup_id, r.db, r.dir),
				 errhint("partback.list_backups() lists the backups in a directory.")));
	remove_backups(&r, ids, n, doomed);
	PG_RETURN_VOID();
}
