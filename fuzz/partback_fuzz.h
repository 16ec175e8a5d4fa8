/*-------------------------------------------------------------------------
 *
 * partback_fuzz.h
 *		The fuzzing build's entry points into static code of partback's
 *		modules (fuzz/with_*.c include a module's source to reach it).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PARTBACK_FUZZ_H
#define PARTBACK_FUZZ_H

/* restore.c: plan a restore_db of the backup, with each leaf's content key */
extern int	pb_fuzz_restore_plan(const char *backup_dir, const char *source_db);

/* backup.c: the chunks an incremental backup of schema.name would take over */
extern int	pb_fuzz_backup_takeover(const char *backup_dir, const char *source_db,
									const char *schema, const char *name);

/* purge.c: the files the backups need, as purge_backups collects them */
extern int	pb_fuzz_purge_needed(const char *backup_dir, const char *source_db);

#endif							/* PARTBACK_FUZZ_H */
