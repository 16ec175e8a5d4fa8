/*-------------------------------------------------------------------------
 *
 * partback.h
 *		Shared declarations of the partback extension.
 *
 * One section per module; each module's .c file says more.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PARTBACK_H
#define PARTBACK_H

#include "postgres.h"

#include "access/tableam.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "access/xlogdefs.h"
#include "port/atomics.h"
#include "storage/block.h"
#include "storage/dsm.h"
#include "storage/lock.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "compat.h"

#define PARTBACK_FORMAT_VERSION 1
#define PARTBACK_SHA256_HEXLEN 64

/* ---------- partback.c: GUCs ---------- */
extern int	partback_max_workers_per_job;
extern char *partback_compression;
extern int	partback_compression_level;
extern int	partback_chunk_size_mb;
extern int	partback_max_rate;
extern char *partback_allowed_dirs;

/* ---------- checksum.c: SHA-256 through OpenSSL ---------- */
typedef struct PbSha256 PbSha256;

extern PbSha256 *pb_sha256_create(void);
extern void pb_sha256_update(PbSha256 *ctx, const void *data, size_t len);
/* writes 64 lowercase hex digits and a NUL into hex; frees ctx */
extern void pb_sha256_final(PbSha256 *ctx, char *hex);
/* frees ctx without a result, for error paths; NULL is allowed */
extern void pb_sha256_free(PbSha256 *ctx);
/* checksum and size of a whole file; ERROR if it cannot be read */
extern void pb_sha256_file(const char *path, char *hex, int64 *size);

/* ---------- storage.c: files, fsync, rename ---------- */

/*
 * A file being written.  It is created as "<path>.tmp", and becomes visible
 * under its final name only through pb_file_commit (fsync, rename, fsync of
 * the directory).  Files are mode 0600.  A file neither committed nor
 * aborted when the transaction aborts is closed and unlinked then, so no
 * half-written file survives an ERROR.
 */
typedef struct PbFile PbFile;

extern PbFile *pb_file_create(const char *path);
extern void pb_file_write(PbFile *file, const void *data, size_t len);
extern void pb_file_commit(PbFile *file);
extern void pb_file_seal(PbFile *file);
extern void pb_file_publish(PbFile *file);
extern void pb_file_abort(PbFile *file);

/* A file being read; ERROR naming the file on any failure. */
extern PbFile *pb_file_open_read(const char *path);
extern size_t pb_file_read(PbFile *file, void *buf, size_t len);	/* 0 = EOF */
extern void pb_file_close(PbFile *file);

extern void pb_mkdir_p(const char *path);
extern void pb_sync_defer(bool files_too);
extern void pb_sync_deferred(void);	/* mode 0700 */
extern bool pb_path_exists(const char *path, bool *is_dir);
extern List *pb_list_dir(const char *path);	/* palloc'd names, sorted */
extern void pb_unlink(const char *path, bool missing_ok);
extern void pb_remove_temporary_files(const char *path);
extern bool pb_rmdir(const char *path);	/* false if not empty or gone */
extern bool pb_dir_is_empty(const char *path);
extern int64 pb_file_size(const char *path);	/* -1 if missing */
extern char *pb_read_small_file(const char *path, int64 max_size, int64 *size);
extern void pb_write_small_file(const char *path, const char *data, size_t len);

/*
 * Closes and unlinks every file still being written; all such PbFiles become
 * invalid.  Runs by itself at (sub)transaction abort; call it directly only
 * after catching an ERROR outside a transaction.
 */

#define PB_TMP_SUFFIX ".tmp"

/*
 * Backup dirs paths are walked from (storage.c): every path given to the
 * functions above must lie under one registered in this process, is walked
 * from its real path without following any link, and only regular files
 * and directories are used.  repo.c registers them.
 */
extern void pb_root_register(const char *dir, const char *real,
							 bool dev_ino_known, dev_t dev, ino_t ino);
extern bool pb_root_identity(const char *dir, uint64 *dev, uint64 *ino);

/* ---------- compress.c: compressed, checksummed streams ---------- */
typedef enum PbCompression
{
	PB_COMPRESS_NONE,
	PB_COMPRESS_GZIP,
	PB_COMPRESS_LZ4,
	PB_COMPRESS_ZSTD
} PbCompression;

extern PbCompression pb_compression_parse(const char *name);	/* ERROR if unknown */
extern const char *pb_compression_name(PbCompression c);
extern void pb_check_level(PbCompression c, int level);	/* ERROR if out of range */
extern const char *pb_compression_suffix(PbCompression c);	/* "", ".gz", ".lz4", ".zst" */

typedef struct PbWriteResult
{
	uint64		raw_bytes;		/* bytes given to pb_writer_write */
	uint64		stored_bytes;	/* bytes in the file on disk */
	char		sha256[PARTBACK_SHA256_HEXLEN + 1];	/* of the stored bytes */
} PbWriteResult;

typedef struct PbWriter PbWriter;

extern PbWriter *pb_writer_create(const char *path, PbCompression c, int level);
extern void pb_writer_write(PbWriter *w, const void *data, size_t len);
extern PbFile *pb_writer_seal(PbWriter *w, PbWriteResult *result);

typedef struct PbReader PbReader;

/*
 * expected_sha256 may be NULL, expected_stored_bytes -1.  Reaching the end
 * verifies both and raises ERRCODE_DATA_CORRUPTED naming the file on a
 * mismatch, as does a stream that does not decompress.
 */
extern PbReader *pb_reader_open(const char *path, PbCompression c,
								const char *expected_sha256,
								int64 expected_stored_bytes,
								int64 expected_raw_bytes);	/* or -1 */
extern size_t pb_reader_read(PbReader *r, void *buf, size_t len);	/* 0 = EOF */
extern void pb_reader_close(PbReader *r);

/* ---------- repo.c: layout, escaping, manifests (FORMAT.md) ---------- */
#define PB_FORMAT_MARKER "PARTBACK_FORMAT"	/* in the backup dir */
extern char *pb_escape_name(const char *name);
extern char *pb_unescape_name(const char *escaped);
extern char *pb_backup_dir_arg(const char *dir);
extern void pb_backup_dir_recheck(const char *dir, bool known, uint64 dev, uint64 ino);
extern bool pb_backup_dir_identity(const char *dir, uint64 *dev, uint64 *ino);
extern void pb_repo_open(const char *dir);
extern void pb_repo_init(const char *dir);
extern char *pb_db_dir(const char *dir, const char *db);
extern char *pb_manifest_path(const char *dir, const char *db, int64 backup_id);
extern int	pb_backup_ids(const char *dir, const char *db, int64 **ids);
extern bool pb_is_manifest_name(const char *name);
extern bool pb_is_inprogress_name(const char *name);
extern char *pb_partition_dir(const char *schema, const char *table, List *path_elems);
extern void pb_lock_backup_dir(const char *db_dir, bool session);

typedef struct PbManifestWriter PbManifestWriter;
extern PbManifestWriter *pb_manifest_begin(const char *path);
extern void pb_manifest_write(PbManifestWriter *w, const char *text, size_t len);
extern void pb_manifest_write_buf(PbManifestWriter *w, StringInfo buf);
extern uint64 pb_manifest_size(PbManifestWriter *w);
extern void pb_manifest_end(PbManifestWriter *w);
extern void pb_manifest_publish(PbManifestWriter *w);
extern void pb_manifest_abort(PbManifestWriter *w);
extern Jsonb *pb_read_manifest(const char *dir, const char *db, int64 backup_id);
extern ErrorData *pb_try_call(void (*fn) (void *), void *arg);
extern bool pb_error_is_damage(ErrorData *edata);
extern Jsonb *pb_read_manifest_lenient(const char *dir, const char *db,
									   int64 backup_id, bool strict,
									   char **problem);
extern void pb_lock_backup(const char *db_dir, int64 backup_id, bool exclusive,
						   bool session, int64 job_id);

/* jsonread.c: JSON text from a backup dir as jsonb (keep: see there) */
#define PB_PRUNE_DEPTHS 6
typedef bool (*PbJsonKeep) (int depth, const char *const *members, const char *name);
extern Jsonb *pb_parse_json(const char *text, const char *what);
extern Jsonb *pb_parse_json_pruned(const char *text, const char *what, PbJsonKeep keep);
extern Jsonb *pb_try_parse_json_pruned(const char *text, PbJsonKeep keep);
extern Jsonb *pb_jsonb_concat_objects(Jsonb *a, Jsonb *b);
extern Jsonb *pb_read_json_file(const char *path, const char *expected_sha256);
/* a partition's metadata file: checksum, then format and version */
extern Jsonb *pb_read_meta_file(const char *path, const char *expected_sha256);
extern char *pb_write_json_file(const char *path, const char *json);
extern const char *pb_json_str(JsonbContainer *c, const char *key, bool missing_ok);
extern int64 pb_json_int(JsonbContainer *c, const char *key, const char *what);
extern JsonbContainer *pb_json_container(JsonbContainer *c, const char *key);
extern int	pb_json_array_size(JsonbContainer *arr);
extern JsonbContainer *pb_json_array_container(JsonbContainer *arr, int i);
extern const char *pb_json_array_str(JsonbContainer *arr, int i);
extern char *pb_json_text(JsonbContainer *c, const char *key);
extern bool pb_json_bool(JsonbContainer *c, const char *key);
extern char *pb_meta_file_dir(const char *meta_rel);
extern const char *pb_data_file_name(JsonbContainer *file);
extern void pb_json_add_str(StringInfo buf, const char *key, const char *value);
extern void pb_json_add_int(StringInfo buf, const char *key, int64 value);
extern void pb_json_add_raw(StringInfo buf, const char *key, const char *json);

/* ---------- copyout.c / copyin.c: partition reader and writer ---------- */
typedef struct PbCopyStats
{
	bool		inflight;		/* saw changes of transactions in progress */
	/* the range is unchanged while none of its pages has a newer LSN */
	XLogRecPtr	unchanged_lsn;
} PbCopyStats;

extern bool pb_type_needs_text_form(Oid typid);
extern uint64 pb_copy_out(Relation rel, Snapshot snapshot, XLogRecPtr snapshot_lsn,
						  BlockNumber start, BlockNumber nblocks, bool to_end,
						  PbWriter *w, int max_rate, PbCopyStats *stats);
extern void pb_throttle(int max_rate, uint64 bytes, TimestampTz started);
extern XLogRecPtr pb_range_max_lsn(Relation rel, BlockNumber start,
								   BlockNumber nblocks, bool to_end);

/* copyin.c: loading data files into a leaf */
typedef struct PbLoad PbLoad;
extern PbLoad *pb_load_begin(Relation rel, List *column_names,
							 List *text_columns, bool freeze, int max_rate);
extern bool pb_load_bulk_possible(Relation rel, List *column_names);
extern PbLoad *pb_load_begin_transient(Relation rel, Relation heap,
									   List *column_names, List *text_columns,
									   int max_rate);
extern uint64 pb_load_file(PbLoad *load, const char *path,
						   PbCompression compression, const char *sha256,
						   int64 stored_bytes, int64 raw_bytes);
extern void pb_load_end(PbLoad *load);

/* ---------- job.c: the job catalog and its states ---------- */
typedef enum PbJobType
{
	PB_JOB_BACKUP_DB,
	PB_JOB_BACKUP_TABLE,
	PB_JOB_BACKUP,
	PB_JOB_RESTORE_DB,
	PB_JOB_RESTORE_TABLE,
	PB_JOB_RESTORE,
	PB_JOB_MIGRATE
} PbJobType;

typedef struct PbJob
{
	int64		job_id;
	PbJobType	type;
	char	   *backup_dir;		/* canonical absolute path */
	char	   *source_db;
	List	   *schemas;		/* char *, NIL = all */
	Oid			table;			/* backup_table, backup */
	List	   *partitions;		/* backup: char *, NIL = all */
	char	   *source_table;	/* restore_table, restore */
	char	   *target_table;	/* NULL = source_table */
	char	   *partition_pattern;	/* restore */
	int64		backup_id;		/* 0 = newest */
	bool		force;
	bool		keep_new_partitions;	/* restore_db, restore_table */
	bool		atomic;			/* restore_db, restore_table, restore: each
								 * table in one transaction (restore.c) */
	int			parallel;
	PbCompression compression;
	int			compression_level;
	int			chunk_size_mb;
	int			max_rate;		/* MB/s per copy worker, 0 = unlimited */
	char	   *allowed_dirs;	/* the caller's partback.allowed_dirs */
} PbJob;

extern const char *pb_job_type_name(PbJobType type);
extern bool pb_job_is_backup(const PbJob *job);
extern char *pb_job_to_json(const PbJob *job);
extern PbJob *pb_job_from_json(const char *json);
extern void pb_job_insert(const PbJob *job, const char *user_name, const char *state);
extern void pb_job_finish(int64 job_id, const char *state, int64 backup_id,
						  const char *sqlstate, const char *error);
extern void pb_task_insert(int64 job_id, const char *table_name,
						   const char *target_table, int partitions, int units);
extern void pb_task_update(int64 job_id, const char *table_name, const char *state,
						   int completed, int64 rows, int64 bytes, int64 stored_bytes,
						   const char *error);
extern void pb_xact_begin(void);
extern void pb_xact_end(void);
extern void pb_bound_caches(void);
extern bool pb_sql_function_exists(const char *func, int nargs, Oid *types);
extern void pb_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
						int expected);
extern void pb_catalog_begin(void);
extern void pb_catalog_end(void);
extern void pb_catalog_exec(const char *sql, int nargs, Oid *types, Datum *values,
							const char *nulls, int expected);
extern void pb_task_progress(int64 job_id, const char *table_name);
extern void pb_task_finish(int64 job_id, const char *table_name, int partitions,
						   int reused, int64 reused_bytes);
extern void pb_release_claims(void);

/* ---------- history.c: how long ended jobs are kept ---------- */
extern int	partback_job_history_retention;
extern void pb_history_init(void);
extern void pb_prune_job_history(int64 job_id);

/* ---------- roles.c: which backups a role sees, picks, writes beside ---------- */
extern bool pb_manifest_visible(Jsonb *manifest);
extern bool pb_manifest_pickable(Jsonb *manifest);
extern void pb_check_may_write(const char *dir, const char *db);
extern bool pb_meta_visible(const char *dir, const char *db, const char *meta,
							const char *sha256);

/* ---------- claims.c: what a job claims, how long it waits ---------- */
extern int	partback_lock_wait_timeout;
extern int	partback_restore_lock_timeout;
extern int	partback_max_jobs_per_role;
extern void pb_claims_init(void);
extern void pb_lock_timed(const LOCKTAG *tag, LOCKMODE mode, bool session,
						  int64 job_id, const char *what);
extern void pb_job_lock_table(int64 job_id, const char *schema, const char *name,
							  bool keep);
extern void pb_job_lock_backup_table(int64 job_id, const char *schema,
									 const char *name, const char *db_dir,
									 bool keep);
extern void pb_job_lock_backup_db_table(int64 job_id, const char *schema,
										const char *name, const char *db_dir,
										bool keep);
extern void pb_check_tables_free(const char *sql, int nargs, Oid *types,
								 Datum *values, const char *nulls);
extern void pb_check_backup_tables_free(const char *sql, int nargs, Oid *types,
										Datum *values, const char *nulls,
										const char *db_dir, bool whole_db);

/* the fourth key of partback's advisory locks */
#define PB_LOCK_TABLE	4
#define PB_LOCK_DIR		3
#define PB_LOCK_BACKUP	6		/* (database dir, backup id): its readers */
#define PB_LOCK_HISTORY	7		/* (database): the leader pruning its job history */
/* 5, 8 and 9: claims.c's own */


/* ---------- shmem.c: live figures and the queue of waiting jobs ---------- */
typedef struct PbQueuedJob
{
	int64		job_id;			/* 0 = free entry */
	Oid			database;
	dsm_handle	handle;			/* the job's arguments */
	TimestampTz queued_at;
	char		user_name[NAMEDATALEN];
	char		job_type[16];
	char		source_db[NAMEDATALEN];
	Oid			user;
	bool		limited;		/* counts against partback.max_jobs_per_role */
} PbQueuedJob;

extern void pb_shmem_init(void);
extern void pb_register_launcher(void);
extern void pb_live_claim(int64 job_id);
extern void pb_live_start(const char *table_name);
extern void pb_live_add(uint64 rows, uint64 bytes);
extern void pb_live_set_queued(bool queued);
extern bool pb_leader_reserve(int64 job_id, Oid user, bool limited, int *running);
extern void pb_leader_unreserve(int64 job_id);
extern void pb_leader_attach(int64 job_id);
extern bool pb_queue_add(const PbQueuedJob *job);
extern bool pb_queue_first(PbQueuedJob *job);
extern bool pb_queue_first_of(int64 job_id, PbQueuedJob *job);
extern bool pb_queue_remove(int64 job_id, PbQueuedJob *removed);
extern PGDLLEXPORT void partback_launcher_main(Datum main_arg);

/* recover.c */
extern bool pb_start_recovery(void);

/* shmem.c: what a process of a job waits for, shown by the status */
extern void pb_live_set_waiting(const char *what);
extern PGDLLEXPORT void partback_recovery_main(Datum main_arg);

/* ---------- worker.c: background workers ---------- */

/* An error that crosses processes: a job's, or a copy worker's. */
typedef struct PbError
{
	char		sqlstate[6];
	char		message[2048];
	char		detail[2048];
	char		hint[1024];
	char		context[2048];	/* where it happened: file, row, column */
} PbError;

/*
 * A unit of work for a copy worker: one chunk of a partition to back up, or
 * one partition to restore.  The leader fills in the first part, the copy
 * worker that does it the results.
 */
typedef struct PbUnit
{
	Oid			relid;			/* backup: the leaf; restore: the target leaf */
	int			table_index;	/* the job's table it belongs to */
	int			leaf_index;		/* backup: the leaf it belongs to */
	int			chunk;
	BlockNumber start_block;
	BlockNumber nblocks;
	bool		to_end;			/* the last chunk reads to the end */
	char		table_name[2 * NAMEDATALEN + 2];	/* as the job's tasks name it */
	const char *path;			/* partition path */
	const char *file;			/* backup: data file to write; restore: metadata
								 * file to read; relative to the database dir */
	/* in a PbWork: where both are in it (pb_work_set_unit, pb_work_unit) */
	Size		path_off;
	Size		file_off;
	char		sha256[PARTBACK_SHA256_HEXLEN + 1];	/* restore: of the metadata */
	int			nchunks;		/* of the partition */
	bool		skip;			/* backup: its table failed in the leader meanwhile */
	/* results */
	bool		failed;			/* its table failed here (in job_message) */
	bool		published;		/* backup: its data file has its name, the
								 * results below are set */
	uint64		rows;
	uint64		raw_bytes;
	uint64		stored_bytes;
	char		result_sha256[PARTBACK_SHA256_HEXLEN + 1];
	/*
	 * An atomic restore's unit: a whole table in one transaction; file then
	 * holds its plan as JSON (restore.c, atomic_plan), not a file name.
	 */
	bool		whole_table;
	bool		inflight;		/* saw changes of transactions in progress */
	XLogRecPtr	lsn;			/* unchanged while no page is newer */
	Oid			relfilenode;

	/*
	 * A restore's part: data file part of the partition's nparts, loaded
	 * into the transient heap; the worker that ends the last part swaps it
	 * in (restore.c, restore_part).  What the parts share is kept in their
	 * first unit, under the PbWork's mutex.
	 */
	int			part;
	int			nparts;			/* 0: not a part */
	int			first_part;		/* index of the first part's unit */
	Oid			transient;
	int			parts_left;
	bool		parts_failed;
} PbUnit;

typedef struct PbWork
{
	int64		job_id;
	Oid			database;
	Oid			user;
	bool		is_backup;
	char		snapshot[64];	/* backup: the leader's exported snapshot */
	XLogRecPtr	snapshot_lsn;
	PbCompression compression;
	int			compression_level;
	int			max_rate;		/* MB/s per copy worker, 0 = unlimited */
	/* strings, as offsets from the start of the PbWork (pb_work_str) */
	Size		db_dir_off;		/* the database's dir in the backup dir */
	Size		backup_dir_off;	/* the backup dir, checked again by copy workers */
	Size		allowed_dirs_off;	/* the caller's partback.allowed_dirs */
	bool		dir_known;		/* the backup dir's identity, as the leader found it */
	uint64		dir_dev;
	uint64		dir_ino;
	Size		str_start;		/* the string area, after the units */
	Size		str_size;
	Size		str_used;
	/* backup: the leader, whose lock group its copy workers join */
	int			leader_pgprocno;
	pid_t		leader_pid;
	int			nunits;			/* while publishing: room for that many */
	int			parallel;		/* the job's parallel: its share of the machine */
	pg_atomic_uint32 next_unit;
	/*
	 * Units [0, units_ready) may be taken.  While publishing, the leader
	 * adds units as it prepares them (pb_work_publish); a copy worker that
	 * took a unit not ready yet waits for it.
	 */
	pg_atomic_uint32 units_ready;
	pg_atomic_uint32 publishing;
	pg_atomic_uint32 units_done;
	pg_atomic_uint32 failed;
	pg_atomic_uint32 workers_exited;	/* copy workers that ended through
										 * their own code, not by FATAL */
	pg_atomic_uint32 leader_gone;	/* the leader detached: take no more
									 * units */
	slock_t		mutex;
	PbError		error;			/* the first copy worker's that failed */
	PbUnit		units[FLEXIBLE_ARRAY_MEMBER];
} PbWork;

/* A unit done by an earlier, interrupted call with the same arguments. */
typedef struct PbDoneChunk
{
	char	   *table_name;
	char	   *path;
	int			chunk;
	Oid			relfilenode;
	int64		start_block;
	int64		nblocks;
	bool		to_end;
	char	   *file;
	int64		rows;
	int64		bytes;
	int64		stored_bytes;
	char	   *sha256;
	XLogRecPtr	lsn;
	bool		inflight;
	char	   *columns;
	Oid			relid;
	int64		origin;			/* the finished backup that wrote it, or 0 */
} PbDoneChunk;

extern List *pb_earlier_chunks(int64 job_id);
extern List *pb_loaded_partitions(int64 job_id);
extern char *pb_job_resume_key(int64 job_id);
extern void pb_chunk_record(PbWork *work, PbUnit *unit, int nchunks,
							XLogRecPtr lsn, const char *columns);
extern void pb_task_add_units(int64 job_id, PbUnit **units, int nunits);
extern int64 pb_submit_job(PbJob *job, bool wait);
extern bool pb_start_leader(int64 job_id, dsm_handle handle, bool notify_me);
extern PbWork *pb_work_create(PbJob *job, int nunits, Size unit_strings,
							  dsm_segment **seg);
extern Size pb_unit_strings(const char *path, const char *file);
extern void pb_work_set_unit(PbWork *work, int i, const PbUnit *unit);
extern void pb_work_begin_publishing(PbWork *work);
extern void pb_work_publish(PbWork *work, int nready);
extern void pb_work_end_publishing(PbWork *work);
extern PbUnit *pb_work_unit(PbWork *work, int i);
extern const char *pb_work_str(PbWork *work, Size off);
extern void pb_work_run(PbWork *work, dsm_segment *seg, int nworkers,
						bool (*leader_step) (void *arg), void *arg);
extern PGDLLEXPORT void partback_leader_main(Datum main_arg);
extern PGDLLEXPORT void partback_copy_main(Datum main_arg);

/* ---------- message.c: a job's messages and the tables it failed ---------- */
extern bool pb_messages_supported(void);
extern void pb_messages_capture(int64 job_id);
extern void pb_messages_set_table(const char *table_name);
extern int	pb_messages_mark(void);
extern void pb_messages_forget_since(int mark);
extern bool pb_error_is_table_failure(ErrorData *edata);
extern void pb_catch_table_failure(const char *table_name, MemoryContext context);
extern void pb_messages_table_failed(const char *table_name, ErrorData *edata);
extern void pb_messages_flush(int64 job_id);
extern int	pb_failed_tables(int64 job_id);
extern void pb_raise_table_failures(int64 job_id, int ntables);
extern void pb_messages_raise(int64 job_id);
extern void pb_job_error_story(int64 job_id, ErrorData *edata);
extern char *pb_table_error(int64 job_id, const char *table_name);

/* ---------- backup.c, restore.c: running a job ---------- */
extern int64 pb_run_backup(PbJob *job);
extern void pb_backup_unit(PbWork *work, PbUnit *unit);
extern int	pb_backup_publish(PbWork *work, bool all);
extern void pb_backup_forget_unpublished(void);
extern void pb_run_restore(PbJob *job);
extern void pb_restore_unit(PbWork *work, PbUnit *unit);
extern int	pb_drop_left_transient_heaps(void);

#endif							/* PARTBACK_H */

