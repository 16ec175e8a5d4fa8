/*-------------------------------------------------------------------------
 *
 * with_purge.c
 *		purge.c in the fuzzing build, with an entry point to what
 *		purge_backups reads before it removes anything (check_may_remove,
 *		collect_needed), which is static there.  Nothing is removed.
 *
 *-------------------------------------------------------------------------
 */
#include "../src/purge.c"

#include "partback_fuzz.h"

int
pb_fuzz_purge_needed(const char *backup_dir, const char *source_db)
{
	Retention	r;
	int64	   *ids;
	int			n;

	memset(&r, 0, sizeof(r));
	r.dir = backup_dir;
	r.db = source_db;
	r.db_dir = pb_db_dir(backup_dir, source_db);
	n = pb_backup_ids(backup_dir, source_db, &ids);
	for (int i = 0; i < n; i++)
		check_may_remove(pb_read_json_file(pb_manifest_path(backup_dir, source_db, ids[i]),
										   NULL), ids[i]);
	collect_needed(&r, ids, n);
	return list_length(r.needed);
}
