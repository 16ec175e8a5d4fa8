/*-------------------------------------------------------------------------
 *
 * with_restore.c
 *		restore.c in the fuzzing build, with an entry point to its restore
 *		planning (plan_tables, content_key), which is static there.
 *
 *-------------------------------------------------------------------------
 */
#include "../src/restore.c"

#include "partback_fuzz.h"

int
pb_fuzz_restore_plan(const char *backup_dir, const char *source_db)
{
	PbJob		job;
	List	   *tables;
	ListCell   *lc;
	int			leaves = 0;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "fuzz content keys",
												  ALLOCSET_DEFAULT_SIZES);

	memset(&job, 0, sizeof(job));
	job.type = PB_JOB_RESTORE_DB;
	job.backup_dir = (char *) backup_dir;
	job.source_db = (char *) source_db;
	tables = plan_tables(&job);
	foreach(lc, tables)
	{
		RestoreTable *t = lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, t->leaves)
		{
			RestoreLeaf *leaf = lfirst(lc2);

			leaf->content_key = content_key(&job, leaf, scratch);
			leaves++;
		}
	}
	MemoryContextDelete(scratch);
	return leaves;
}
