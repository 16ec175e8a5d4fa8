/*-------------------------------------------------------------------------
 *
 * roles.c
 *		Which backups a role may see, pick and write beside.
 *
 *		A backup dir may be shared by roles (partback.allowed_dirs names
 *		directories, not owners), and anyone who can write it can plant a
 *		manifest.  So:
 *
 *		- a role other than a superuser sees only the backups made by roles
 *		  it is a member of (their manifests' "user"): list_backups,
 *		  get_backup_list, get_backup_meta and the internal readers show it
 *		  nothing else, as if the others did not exist;
 *		- a call without backup_id (restore_db, restore_table, restore,
 *		  migrate, and the previous backup an incremental backup builds on)
 *		  picks among the backups the caller sees, and a superuser's only
 *		  among backups made by superusers: a role's backup into the
 *		  superuser's dir never becomes "the newest backup" of a superuser's
 *		  routine restore.  Named by backup_id, a superuser may use any;
 *		- a role other than a superuser may not write backups into a
 *		  database's part of a dir that holds backups of roles it is not a
 *		  member of.
 *
 *		The maker is looked up by name in this cluster's catalog now: a
 *		manifest's claim of who made it names a role, never a privilege.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "catalog/pg_authid.h"

#include "partback.h"
#include "gate.h"

/* the role that made the backup, if it exists here */
static Oid
maker_of(Jsonb *manifest)
{
	const char *maker = pb_json_str(&manifest->root, "user", true);

	return maker ? get_role_oid(maker, true) : InvalidOid;
}

/* May the current role see this backup (its manifest and metadata)? */
bool
pb_manifest_visible(Jsonb *manifest)
{
	Oid			maker;

	if (superuser())
		return true;
	maker = maker_of(manifest);
	return OidIsValid(maker) && is_member_of_role(GetUserId(), maker);
}

/* May a call of the current role without backup_id pick this backup? */
bool
pb_manifest_pickable(Jsonb *manifest)
{
	Oid			maker = maker_of(manifest);

	if (!OidIsValid(maker))
		return false;
	if (superuser())
		return superuser_arg(maker);
	return is_member_of_role(GetUserId(), maker);
}

/*
 * A role other than a superuser writes backups of db into dir only where
 * every backup there was made by a role it is a member of.
 */
void
pb_check_may_write(const char *dir, const char *db)
{
	int64	   *ids;
	int			n;
	StringInfoData others;

	if (superuser())
		return;
	n = pb_backup_ids(dir, db, &ids);
	initStringInfo(&others);
	for (int i = 0; i < n; i++)
	{
		Jsonb	   *manifest;
		char	   *problem;

		CHECK_FOR_INTERRUPTS();
		/* a damaged manifest is nobody's backup: it stops no new one */
		manifest = pb_read_manifest_lenient(dir, db, ids[i], true, &problem);
		if (manifest == NULL)
			continue;
		if (!pb_manifest_visible(manifest))
		{
			const char *maker = pb_json_str(&manifest->root, "user", true);

			if (others.len == 0)
				appendStringInfo(&others, "backup " INT64_FORMAT " was made by role %s",
								 ids[i], maker ? quote_identifier(maker) : "(unknown)");
		}
		pfree(manifest);
	}
	if (others.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write backups of database \"%s\" into \"%s\"",
						db, pb_db_dir(dir, db)),
				 errdetail("It holds backups of other roles: %s.", others.data),
				 errhint("Back up into a directory of your own: below partback.allowed_dirs, one that no other role writes backups of this database into.")));
}

PG_FUNCTION_INFO_V1(partback_pickable);

/* _pickable(manifest): may a call without backup_id pick this backup? */
Datum
partback_pickable(PG_FUNCTION_ARGS)
{
	pb_gate_check_call(fcinfo);
	PG_RETURN_BOOL(pb_manifest_pickable(PG_GETARG_JSONB_P(0)));
}

/*
 * Does a backup the current role may see name the metadata file meta
 * (relative to the database dir) with checksum sha256?  A superuser sees
 * all; others read metadata only through the manifests they see.
 */
bool
pb_meta_visible(const char *dir, const char *db, const char *meta, const char *sha256)
{
	int64	   *ids;
	int			n;

	if (superuser())
		return true;
	if (sha256 == NULL)
		return false;
	n = pb_backup_ids(dir, db, &ids);
	for (int i = n - 1; i >= 0; i--)
	{
		char	   *problem;
		Jsonb	   *manifest = pb_read_manifest_lenient(dir, db, ids[i], true, &problem);
		JsonbContainer *tables;

		CHECK_FOR_INTERRUPTS();
		/* a damaged backup shows nothing, and stops no other one */
		if (manifest == NULL || !pb_manifest_visible(manifest))
			continue;
		tables = pb_json_container(&manifest->root, "tables");
		for (int j = 0; j < pb_json_array_size(tables); j++)
		{
			JsonbContainer *parts = pb_json_container(pb_json_array_container(tables, j),
													  "partitions");

			for (int k = 0; k < pb_json_array_size(parts); k++)
			{
				JsonbContainer *p = pb_json_array_container(parts, k);
				const char *m = pb_json_str(p, "meta", true);
				const char *s = pb_json_str(p, "meta_sha256", true);

				if (m && s && strcmp(m, meta) == 0 && strcmp(s, sha256) == 0)
					return true;
			}
		}
	}
	return false;
}
