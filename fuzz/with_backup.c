/*-------------------------------------------------------------------------
 *
 * with_backup.c
 *		backup.c in the fuzzing build, with an entry point to the reading
 *		of earlier backups' manifests and metadata for an incremental
 *		backup (previous_backup_chunks), which is static there.
 *
 *-------------------------------------------------------------------------
 */
#include "../src/backup.c"

#include "partback_fuzz.h"

int
pb_fuzz_backup_takeover(const char *backup_dir, const char *source_db,
						const char *schema, const char *name)
{
	PbJob		job;
	BackupTable t;
	List	   *bases = NIL;

	memset(&job, 0, sizeof(job));
	memset(&t, 0, sizeof(t));
	job.type = PB_JOB_BACKUP_DB;
	job.backup_dir = (char *) backup_dir;
	job.source_db = (char *) source_db;
	t.schema = (char *) schema;
	t.name = (char *) name;
	t.task_name = psprintf("%s.%s", schema, name);
	return list_length(previous_backup_chunks(&job, &t,
											  pb_db_dir(backup_dir, source_db), &bases));
}
