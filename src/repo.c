/*-------------------------------------------------------------------------
 *
 * repo.c
 *		The repository format: layout of a backup dir, escaping of names,
 *		format marker, manifests and metadata files (FORMAT.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xact.h"
#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/varlena.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "partback.h"
#include "auth.h"

#define MAX_JSON_FILE (256 * 1024 * 1024)

static char *read_json_text(const char *path, const char *expected_sha256,
							int64 limit, int64 *sizep);
static bool manifest_index_keeps(int depth, const char *const *members,
								 const char *name);

/*
 * Names on disk keep [A-Za-z0-9_-] and write every other byte as %XX, so no
 * name can contain '/', '.', or be "..", and every escaped name is distinct.
 * A 63-byte name becomes at most 189 bytes, within NAME_MAX.
 */
char *
pb_escape_name(const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
	{
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			appendStringInfoChar(&buf, (char) *p);
		else
			appendStringInfo(&buf, "%%%02X", *p);
	}
	return buf.data;
}

/*
 * The real path of an absolute path: symbolic links in the part of it that
 * exists resolved, the rest appended.
 */
static char *
resolve_path(const char *path)
{
	char	   *head = pstrdup(path);
	char	   *rest = NULL;

	for (;;)
	{
		char	   *real = realpath(head, NULL);
		char	   *slash;

		if (real != NULL)
		{
			char	   *result = rest ?
				psprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, rest) :
				pstrdup(real);

			free(real);
			return result;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not resolve path \"%s\": %m", head)));
		slash = strrchr(head, '/');
		if (slash == NULL || slash == head)
			return pstrdup(path);
		rest = rest ? psprintf("%s/%s", slash + 1, rest) : pstrdup(slash + 1);
		*slash = '\0';
	}
}

/*
 * Backup dirs must lie under partback.allowed_dirs, symbolic links
 * resolved; while it is empty, only superusers may use any.  Returns the
 * dir's real path.
 */
static char *
check_allowed_dir(const char *dir)
{
	char	   *raw = pstrdup(partback_allowed_dirs ? partback_allowed_dirs : "");
	List	   *allowed;
	char	   *real;
	ListCell   *lc;

	if (!SplitDirectoriesString(raw, ',', &allowed))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in partback.allowed_dirs")));
	real = resolve_path(dir);
	if (allowed == NIL)
	{
		if (superuser())
			return real;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use backup directory \"%s\"", dir),
				 errdetail("partback.allowed_dirs is empty, so only superusers may use backup directories."),
				 errhint("A superuser can list the directories other users may use in partback.allowed_dirs.")));
	}
	foreach(lc, allowed)
	{
		const char *a = lfirst(lc);

		if (is_absolute_path(a) && path_is_prefix_of_path(resolve_path(a), real))
			return real;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("backup directory \"%s\" is not under partback.allowed_dirs", dir),
			 strcmp(real, dir) != 0 ? errdetail("Its real path is \"%s\".", real) : 0,
			 errhint("partback.allowed_dirs is \"%s\".", partback_allowed_dirs)));
	return NULL;				/* keep compiler quiet */
}

/*
 * Check a backup_dir argument: an absolute path, canonicalised, under
 * partback.allowed_dirs.  The dir is resolved here, once: every file below
 * it is then reached from its real path without following any link
 * (storage.c), and the dir found there later must be the one found now.
 */
char *
pb_backup_dir_arg(const char *dir)
{
	char	   *path;

	if (dir == NULL || dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup directory must not be empty")));
	if (!is_absolute_path(dir))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup directory \"%s\" is not an absolute path", dir),
				 errhint("Backup directories are server-side paths, like the file of COPY ... TO, and must be absolute.")));
	path = pstrdup(dir);
	canonicalize_path(path);
	pb_root_register(path, check_allowed_dir(path), false, 0, 0);
	/* record its identity now, if it exists */
	(void) pb_path_exists(path, NULL);
	return path;
}

/*
 * Check a job's backup dir again, in the process about to use it (a job's
 * leader or copy worker), against partback.allowed_dirs as the caller had
 * it: the dir may have been replaced, by a symbolic link say, while the job
 * waited.  When the caller saw the dir (known), it must still be the same
 * directory (device and inode).
 */
void
pb_backup_dir_recheck(const char *dir, bool known, uint64 dev, uint64 ino)
{
	pb_root_register(dir, check_allowed_dir(dir), known, (dev_t) dev, (ino_t) ino);
	(void) pb_path_exists(dir, NULL);
}

/*
 * The identity of a backup dir checked by pb_backup_dir_arg, as its walks
 * recorded it; false if it did not exist (yet).
 */
bool
pb_backup_dir_identity(const char *dir, uint64 *dev, uint64 *ino)
{
	bool		is_dir;

	if (!pb_path_exists(dir, &is_dir))
		return false;
	return pb_root_identity(dir, dev, ino);
}

static char *
marker_content(void)
{
	return psprintf("{\"format\": \"partback\", \"version\": %d}\n",
					PARTBACK_FORMAT_VERSION);
}

/*
 * Validate the format marker of an existing backup dir.
 */
static void
check_marker(const char *dir, const char *marker)
{
	int64		size;
	char	   *text = pb_read_small_file(marker, 4096, &size);
	Jsonb	   *jb;
	const char *format;
	int64		version;

	/* the JSON parser would stop at a zero byte and miss what follows */
	if (strlen(text) != size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("format marker \"%s\" contains a zero byte", marker)));
	jb = pb_parse_json(text, marker);
	format = pb_json_str(&jb->root, "format", true);
	if (format == NULL || strcmp(format, "partback") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("\"%s\" is not a partback format marker", marker)));
	version = pb_json_int(&jb->root, "version", marker);
	if (version > PARTBACK_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("backup directory \"%s\" has format version " INT64_FORMAT ", newer than this partback's version %d",
						dir, version, PARTBACK_FORMAT_VERSION),
				 errdetail("Its format marker \"%s\" says so.", marker),
				 errhint("Use a newer version of partback to read it.")));
	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("format marker \"%s\" has invalid version " INT64_FORMAT,
						marker, version)));
}

/*
 * Open a backup dir for reading: it must exist and carry our marker.
 */
void
pb_repo_open(const char *dir)
{
	bool		is_dir;
	char	   *marker = psprintf("%s/%s", dir, PB_FORMAT_MARKER);

	if (!pb_path_exists(dir, &is_dir))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("backup directory \"%s\" does not exist", dir)));
	if (!is_dir)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a directory", dir)));
	if (!pb_path_exists(marker, &is_dir))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("directory \"%s\" is not a partback backup directory", dir),
				 errdetail("It has no file \"%s\".", PB_FORMAT_MARKER)));
	check_marker(dir, marker);
}

/*
 * Prepare a backup dir for writing: create it if missing.  An existing
 * non-empty directory without our marker is refused, so a typo cannot
 * scatter backup files among someone else's.
 */
void
pb_repo_init(const char *dir)
{
	bool		is_dir;
	char	   *marker = psprintf("%s/%s", dir, PB_FORMAT_MARKER);

	if (pb_path_exists(dir, &is_dir))
	{
		if (!is_dir)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a directory", dir)));
		if (pb_path_exists(marker, &is_dir))
		{
			check_marker(dir, marker);
			return;
		}
		if (!pb_dir_is_empty(dir))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("directory \"%s\" is not empty and is not a partback backup directory", dir),
					 errhint("Back up into an empty or new directory.")));
	}
	else
		pb_mkdir_p(dir);

	pb_write_small_file(marker, marker_content(), strlen(marker_content()));
}

char *
pb_db_dir(const char *dir, const char *db)
{
	/* "" would name the backup dir itself */
	if (db[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source_db must not be empty"),
				 errhint("source_db names the database that was backed up.")));
	return psprintf("%s/%s", dir, pb_escape_name(db));
}

char *
pb_manifest_path(const char *dir, const char *db, int64 backup_id)
{
	return psprintf("%s/manifests/%010lld.json", pb_db_dir(dir, db),
					(long long) backup_id);
}

/*
 * A manifest carries its own checksum, as its last member: "manifest_sha256"
 * is the SHA-256 of every byte of the file before that key.
 */
#define MANIFEST_SHA_MEMBER "\"manifest_sha256\": \""

/*
 * A manifest written as it is made: at many thousand partitions it is tens
 * of MB, which the leader held whole beside the definitions and entries it
 * was made of.  The text goes to the file under its temporary name;
 * pb_manifest_end ends it with its checksum (and HMAC) and makes it
 * durable, pb_manifest_publish gives it its name: then the backup exists.
 */
struct PbManifestWriter
{
	PbFile	   *file;
	PbSha256   *sha;
	PbAuthHmac *hmac;			/* with a key: "manifest_hmac" */
	uint64		size;
};

PbManifestWriter *
pb_manifest_begin(const char *path)
{
	PbManifestWriter *w = palloc0(sizeof(PbManifestWriter));

	w->file = pb_file_create(path);
	w->sha = pb_sha256_create();
	w->hmac = pb_auth_hmac_begin();
	return w;
}

void
pb_manifest_write(PbManifestWriter *w, const char *text, size_t len)
{
	pb_file_write(w->file, text, len);
	pb_sha256_update(w->sha, text, len);
	if (w->hmac)
		pb_auth_hmac_update(w->hmac, text, len);
	w->size += len;
}

/* Write buf's text and empty it. */
void
pb_manifest_write_buf(PbManifestWriter *w, StringInfo buf)
{
	pb_manifest_write(w, buf->data, buf->len);
	resetStringInfo(buf);
}

/* Bytes written so far. */
uint64
pb_manifest_size(PbManifestWriter *w)
{
	return w->size;
}

/*
 * End the text (an object lacking its closing brace): "auth_key_id" and
 * "manifest_hmac" with a key, then the checksum; fsync it.
 */
void
pb_manifest_end(PbManifestWriter *w)
{
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
	char	   *text;

	pb_manifest_write(w, ",\n  ", 4);
	if (w->hmac)
	{
		text = psprintf("%s,\n  ", pb_auth_hmac_end(w->hmac, "manifest_hmac", "\n  "));
		w->hmac = NULL;
		pb_manifest_write(w, text, strlen(text));
	}
	pb_sha256_final(w->sha, hex);
	text = psprintf("%s%s\"}\n", MANIFEST_SHA_MEMBER, hex);
	pb_file_write(w->file, text, strlen(text));
	pb_file_seal(w->file);
}

void
pb_manifest_publish(PbManifestWriter *w)
{
	pb_file_publish(w->file);
}

void
pb_manifest_abort(PbManifestWriter *w)
{
	pb_file_abort(w->file);
}

/*
 * A manifest's or metadata file's (what) "format" and "version": partback's,
 * and not newer than this partback reads.
 */
static void
check_format(JsonbContainer *root, const char *path, const char *what)
{
	const char *format = pb_json_str(root, "format", true);
	int64		version;

	if (format == NULL || strcmp(format, "partback") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("\"%s\" is not a partback %s", path, what)));
	version = pb_json_int(root, "version", path);
	if (version > PARTBACK_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s \"%s\" has format version " INT64_FORMAT ", newer than this partback's version %d",
						what, path, version, PARTBACK_FORMAT_VERSION),
				 errhint("Use a newer version of partback to read it.")));
}

/*
 * Read the manifest of backup backup_id of db in dir, verified: its own
 * checksum, its format version, and that it is this backup's -- a manifest
 * copied over from another backup or database must not pass for it.
 */
Jsonb *
pb_read_manifest(const char *dir, const char *db, int64 backup_id)
{
	return pb_read_manifest_ext(dir, db, backup_id, true, NULL, false);
}

/*
 * pb_read_manifest, and its standing against the configured key: with
 * strict, one that does not verify is an ERROR; without, *status says.
 * With index_only, its index (manifest_index_keeps), verified as a whole.
 */
Jsonb *
pb_read_manifest_ext(const char *dir, const char *db, int64 backup_id,
					 bool strict, PbAuthStatus *status, bool index_only)
{
	char	   *path = pb_manifest_path(dir, db, backup_id);
	int64		size;
	char	   *text = pb_read_small_file(path, PB_MAX_MANIFEST_BYTES, &size);
	Jsonb	   *jb;
	const char *stored;
	char	   *member = NULL;
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
	PbSha256   *ctx;
	const char *database;
	int64		id;

	if (strlen(text) != size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" contains a zero byte", path)));

	/* the checksum member must be the last thing in the file */
	for (char *p = strstr(text, MANIFEST_SHA_MEMBER); p != NULL;
		 p = strstr(p + 1, MANIFEST_SHA_MEMBER))
		member = p;

	jb = index_only ? pb_parse_json_pruned(text, path, manifest_index_keeps) :
		pb_parse_json(text, path);
	stored = pb_json_str(&jb->root, "manifest_sha256", true);
	if (member == NULL || stored == NULL ||
		strlen(stored) != PARTBACK_SHA256_HEXLEN ||
		strncmp(member + strlen(MANIFEST_SHA_MEMBER), stored, PARTBACK_SHA256_HEXLEN) != 0 ||
		strcmp(member + strlen(MANIFEST_SHA_MEMBER) + PARTBACK_SHA256_HEXLEN, "\"}\n") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("manifest \"%s\" does not end with its checksum", path),
				 errdetail("A manifest's last member is \"manifest_sha256\", followed by the end of the file.")));
	ctx = pb_sha256_create();
	pb_sha256_update(ctx, text, member - text);
	pb_sha256_final(ctx, hex);
	if (strcmp(hex, stored) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum mismatch in manifest \"%s\"", path),
				 errdetail("Its bytes do not match the \"manifest_sha256\" it ends with.")));

	/*
	 * Damage is reported as such above; then, with a key, the HMAC member
	 * ends before ",\n  " and the checksum.
	 */
	{
		size_t		end = 0;
		PbAuthStatus st;

		if (member - text >= 4 && memcmp(member - 4, ",\n  ", 4) == 0)
			end = member - text - 4;
		st = pb_auth_check(text, end, "manifest_hmac", path, "manifest", strict);
		if (status)
			*status = st;
	}

	check_format(&jb->root, path, "manifest");
	id = pb_json_int(&jb->root, "backup_id", path);
	database = pb_json_str(&jb->root, "database", true);
	if (id != backup_id || database == NULL || strcmp(database, db) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("manifest \"%s\" belongs to backup " INT64_FORMAT " of database \"%s\", not to backup " INT64_FORMAT " of database \"%s\"",
						path, id, database ? database : "", backup_id, db),
				 errhint("A manifest copied from another backup cannot stand for this one.")));
	return jb;
}

/*
 * Run fn(arg) in a subtransaction, as PL/pgSQL's EXCEPTION blocks do, and
 * return the ERROR it raised (copied into the caller's memory context), or
 * NULL.  What to raise again is the caller's to decide.
 */
ErrorData *
pb_try_call(void (*fn) (void *), void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return edata;
}

/*
 * Is an error caught while reading a backup file about that file (damage,
 * a failed check, a file missing or unreadable), rather than the caller's
 * (cancel, shutdown, lack of memory, an unusable partback.auth_key_file)?
 */
bool
pb_error_is_damage(ErrorData *edata)
{
	int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return category != ERRCODE_OPERATOR_INTERVENTION &&
		category != ERRCODE_INSUFFICIENT_RESOURCES &&
		category != ERRCODE_PROGRAM_LIMIT_EXCEEDED &&
		category != ERRCODE_CONFIG_FILE_ERROR &&
		edata->sqlerrcode != ERRCODE_INTERNAL_ERROR;	/* elog: a bug, not damage */
}

typedef struct ReadManifestArg
{
	const char *dir;
	const char *db;
	int64		backup_id;
	bool		strict;
	bool		index_only;
	Jsonb	   *result;
	PbAuthStatus status;
} ReadManifestArg;

static void
read_manifest_call(void *arg)
{
	ReadManifestArg *a = arg;

	a->result = pb_read_manifest_ext(a->dir, a->db, a->backup_id, a->strict, &a->status,
									 a->index_only);
}

/*
 * pb_read_manifest, for readers that go on past a damaged backup: a
 * manifest that cannot be read, parsed or verified (also with
 * partback.auth_key_file) gives NULL and *problem says why, naming the
 * file; strict as for pb_read_manifest_ext.  The error is caught in a subtransaction; a cancel, shutdown or
 * lack of memory is raised again, never taken for damage.
 */
Jsonb *
pb_read_manifest_lenient(const char *dir, const char *db, int64 backup_id,
						 bool strict, char **problem)
{
	return pb_read_manifest_lenient_ext(dir, db, backup_id, strict, NULL, false, problem);
}

/*
 * pb_read_manifest_lenient, and, for a manifest read, its standing against
 * the configured key in *status (as pb_read_manifest_ext gives it): one
 * read and parse where a reader needs both.  index_only as for
 * pb_read_manifest_ext.
 */
Jsonb *
pb_read_manifest_lenient_ext(const char *dir, const char *db, int64 backup_id,
							 bool strict, PbAuthStatus *status, bool index_only,
							 char **problem)
{
	ReadManifestArg arg = {dir, db, backup_id, strict, index_only, NULL, PB_AUTH_MISSING};
	ErrorData  *edata = pb_try_call(read_manifest_call, &arg);

	*problem = NULL;
	if (status)
		*status = arg.status;
	if (edata == NULL)
		return arg.result;
	(void) pb_auth_take_failure();
	if (!pb_error_is_damage(edata))
		ReThrowError(edata);
	*problem = edata->detail ? psprintf("%s: %s", edata->message, edata->detail)
		: pstrdup(edata->message);
	return NULL;
}

/*
 * A reader's hold on backup backup_id of the database dir db_dir: restores
 * (their leader, to the job's end) and check_backup hold it shared, so that
 * purge_backups and delete_backup, which take it exclusive for each backup
 * they remove, wait for them (at most partback.lock_wait_timeout) and then
 * fail naming the job (55P03).  Not per database: a purge may run from any.
 */
void
pb_lock_backup(const char *db_dir, int64 backup_id, bool exclusive, bool session,
			   int64 job_id)
{
	LOCKTAG		tag;
	char		idtext[32];
	uint64		hash = hash_bytes_extended((const unsigned char *) db_dir,
										   strlen(db_dir), 0);

	snprintf(idtext, sizeof(idtext), INT64_FORMAT, backup_id);
	hash = hash_bytes_extended((const unsigned char *) idtext, strlen(idtext), hash);
	SET_LOCKTAG_ADVISORY(tag, InvalidOid, (uint32) (hash >> 32), (uint32) hash,
						 PB_LOCK_BACKUP);
	pb_lock_timed(&tag, exclusive ? ExclusiveLock : ShareLock, session, job_id,
				  psprintf("backup " INT64_FORMAT " in \"%s\"", backup_id, db_dir));
}

/*
 * The ids of the complete backups of db in dir, ascending.  A manifest is
 * written last, so only backups that finished have one.
 */
int
pb_backup_ids(const char *dir, const char *db, int64 **ids)
{
	char	   *mdir = psprintf("%s/manifests", pb_db_dir(dir, db));
	bool		is_dir;
	List	   *names;
	ListCell   *lc;
	int			n = 0;

	*ids = NULL;
	if (!pb_path_exists(mdir, &is_dir) || !is_dir)
		return 0;
	names = pb_list_dir(mdir);
	*ids = palloc(sizeof(int64) * (list_length(names) + 1));
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (pb_is_manifest_name(name))
			(*ids)[n++] = strtoi64(name, NULL, 10);
	}
	return n;					/* sorted, since names are zero-padded */
}

static bool
is_id_name(const char *name, const char *suffix)
{
	if (strlen(name) != 10 + strlen(suffix) || strcmp(name + 10, suffix) != 0)
		return false;
	for (int i = 0; i < 10; i++)
		if (!isdigit((unsigned char) name[i]))
			return false;
	return true;
}

/* "<id>.json": the manifest of a finished backup */
bool
pb_is_manifest_name(const char *name)
{
	return is_id_name(name, ".json");
}

/* "<id>.inprogress": a backup being written, or interrupted */
bool
pb_is_inprogress_name(const char *name)
{
	return is_id_name(name, ".inprogress");
}

/*
 * Directory of one partition's files, relative to the database dir.
 */
char *
pb_partition_dir(const char *schema, const char *table, List *path_elems)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "data/%s/%s", pb_escape_name(schema),
					 pb_escape_name(table));
	foreach(lc, path_elems)
		appendStringInfo(&buf, "/%s", pb_escape_name(lfirst(lc)));
	return buf.data;
}

/*
 * One backup at a time writes into a database's part of a backup dir: it
 * allocates the next backup id and names files after it, and purge_backups
 * must not remove files it takes over.  An advisory lock says who does: a
 * backup's leader holds it to its end (session), a purge to the end of its
 * transaction.  Whoever comes next waits.
 */
void
pb_lock_backup_dir(const char *db_dir, bool session)
{
	LOCKTAG		tag;
	uint64		hash = hash_bytes_extended((const unsigned char *) db_dir,
										   strlen(db_dir), 0);

	/* not per database: purge_backups may run from any */
	SET_LOCKTAG_ADVISORY(tag, InvalidOid, (uint32) (hash >> 32), (uint32) hash,
						 PB_LOCK_DIR);
	/* waiting at most partback.lock_wait_timeout (claims.c) */
	pb_lock_timed(&tag, ExclusiveLock, session, 0,
				  psprintf("backup directory \"%s\"", db_dir));
}

/* ---------- JSON ---------- */

/*
 * A manifest's index (pb_read_manifest_ext with index_only): the manifest
 * without its tables' definitions, and of each partition only "path",
 * "meta" and "meta_sha256" -- what an incremental backup reads of an
 * earlier one.  A table is an object at depth 3, a partition at depth 5.
 */
static bool
manifest_index_keeps(int depth, const char *const *members, const char *name)
{
	bool		in_tables = members[1] != NULL && strcmp(members[1], "tables") == 0;

	if (depth == 3 && in_tables)
		return strcmp(name, "definition") != 0;
	if (depth == 5 && in_tables && members[3] != NULL &&
		strcmp(members[3], "partitions") == 0)
		return strcmp(name, "path") == 0 || strcmp(name, "meta") == 0 ||
			strcmp(name, "meta_sha256") == 0;
	return true;
}

/*
 * Read a JSON file; when expected_sha256 is given, the file must match it.
 */
Jsonb *
pb_read_json_file(const char *path, const char *expected_sha256)
{
	int64		size;
	char	   *text = read_json_text(path, expected_sha256, MAX_JSON_FILE, &size);

	return pb_parse_json(text, path);
}

/* A JSON file's text, checked against expected_sha256 when it is given. */
static char *
read_json_text(const char *path, const char *expected_sha256, int64 limit,
			   int64 *sizep)
{
	int64		size;
	char	   *text = pb_read_small_file(path, limit, &size);

	if (expected_sha256)
	{
		PbSha256   *ctx = pb_sha256_create();
		char		hex[PARTBACK_SHA256_HEXLEN + 1];

		pb_sha256_update(ctx, text, size);
		pb_sha256_final(ctx, hex);
		if (strcmp(hex, expected_sha256) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checksum mismatch in backup file \"%s\"", path),
					 errdetail("Its SHA-256 is not the one its manifest records.")));
	}
	if (strlen(text) != size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" contains a zero byte", path)));
	*sizep = size;
	return text;
}

/*
 * Read a partition's metadata file, which must match expected_sha256 (from
 * its manifest), verify with the configured key, and be of a format version
 * this partback reads.
 */
Jsonb *
pb_read_meta_file(const char *path, const char *expected_sha256)
{
	return pb_read_meta_file_ext(path, expected_sha256, true);
}

/* pb_read_meta_file; without strict, one that does not verify is read */
Jsonb *
pb_read_meta_file_ext(const char *path, const char *expected_sha256, bool strict)
{
	int64		size;
	char	   *text = read_json_text(path, expected_sha256, PB_MAX_META_BYTES, &size);
	Jsonb	   *jb;

	/* with a key, the HMAC member ends before the closing "}\n" */
	if (strict)
		(void) pb_auth_check(text, size >= 2 && strcmp(text + size - 2, "}\n") == 0 ? size - 2 : 0,
							 "meta_hmac", path, "metadata file", true);
	jb = pb_parse_json(text, path);
	check_format(&jb->root, path, "metadata file");
	return jb;
}

/*
 * End a metadata file's text (an object lacking its closing brace): with a
 * key, "auth_key_id" and "meta_hmac" are its last members.
 */
void
pb_meta_seal(StringInfo meta, const char *what)
{
	if (pb_key() != NULL)
	{
		appendStringInfoString(meta, ", ");
		pb_auth_append(meta, "meta_hmac", " ");
	}
	appendStringInfoString(meta, "}\n");
	if (meta->len > PB_MAX_META_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the metadata of %s would take %d bytes, more than the limit of %d bytes",
						what, meta->len, PB_MAX_META_BYTES),
				 errhint("A larger partback.chunk_size makes fewer data files per partition.")));
}

/*
 * Write a JSON file atomically; returns the SHA-256 of its bytes.
 */
char *
pb_write_json_file(const char *path, const char *json)
{
	PbSha256   *ctx = pb_sha256_create();
	char	   *hex = palloc(PARTBACK_SHA256_HEXLEN + 1);

	pb_write_small_file(path, json, strlen(json));
	pb_sha256_update(ctx, json, strlen(json));
	pb_sha256_final(ctx, hex);
	return hex;
}

static JsonbValue *
get_key(JsonbContainer *c, const char *key)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

/* The string at key; NULL if absent or JSON null when missing_ok. */
const char *
pb_json_str(JsonbContainer *c, const char *key, bool missing_ok)
{
	JsonbValue *v = get_key(c, key);

	if (v == NULL || v->type == jbvNull)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata lacks the string \"%s\"", key)));
	}
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata item \"%s\" is not a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

int64
pb_json_int(JsonbContainer *c, const char *key, const char *what)
{
	JsonbValue *v = get_key(c, key);
	char	   *text;
	char	   *end;
	int64		result;

	if (v == NULL || v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" lacks the number \"%s\"", what, key)));
	/* a damaged file is reported as such, not as "bigint out of range" */
	text = DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v->val.numeric)));
	errno = 0;
	result = strtoi64(text, &end, 10);
	if (errno != 0 || *end != '\0' || end == text)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" has an invalid \"%s\": %s", what, key, text),
				 errdetail("It must be an integer in the range of bigint.")));
	return result;
}

/* The object or array at key, or NULL. */
JsonbContainer *
pb_json_container(JsonbContainer *c, const char *key)
{
	JsonbValue *v = get_key(c, key);

	if (v == NULL || v->type != jbvBinary)
		return NULL;
	return v->val.binary.data;
}

int
pb_json_array_size(JsonbContainer *arr)
{
	if (arr == NULL || !JsonContainerIsArray(arr))
		return 0;
	return JsonContainerSize(arr);
}

JsonbContainer *
pb_json_array_container(JsonbContainer *arr, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);

	if (v == NULL || v->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata array element %d is not an object", i)));
	return v->val.binary.data;
}

const char *
pb_json_array_str(JsonbContainer *arr, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);

	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata array element %d is not a string", i)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The object or array at key as JSON text; ERROR if there is none. */
char *
pb_json_text(JsonbContainer *c, const char *key)
{
	JsonbContainer *v = pb_json_container(c, key);
	char	   *text;
	char	   *result;

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata lacks the object or array \"%s\"", key)));
	/*
	 * A container is no varlena: its header is a count and flags, so no
	 * length can be read off it (it read as up to 268 MB and sized the
	 * buffer so).  The text is built in a growing buffer, then kept at its
	 * own size.
	 */
	text = JsonbToCString(NULL, v, -1);
	result = pstrdup(text);
	pfree(text);
	return result;
}

/* The boolean at key; ERROR if there is none. */
bool
pb_json_bool(JsonbContainer *c, const char *key)
{
	JsonbValue *v = get_key(c, key);

	if (v == NULL || v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup metadata lacks the boolean \"%s\"", key)));
	return v->val.boolean;
}

/*
 * The name of a data file given by a metadata file: a file of the
 * partition's own directory, nowhere else.
 */
const char *
pb_data_file_name(JsonbContainer *file)
{
	const char *name = pb_json_str(file, "name", false);

	if (name[0] == '\0' || strchr(name, '/') != NULL ||
		strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid data file name \"%s\" in backup metadata", name)));
	return name;
}

/*
 * The directory of a metadata file named by a manifest, relative to the
 * database dir; a name that could leave the database dir is refused.
 */
char *
pb_meta_file_dir(const char *meta_rel)
{
	char	   *dir = pstrdup(meta_rel);
	char	   *slash = strrchr(dir, '/');

	if (slash == NULL || dir[0] == '/' || strstr(dir, "..") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid metadata file name \"%s\" in a manifest", meta_rel)));
	*slash = '\0';
	return dir;
}

/* A comma before the next member, unless it is the first one. */
static void
add_separator(StringInfo buf)
{
	int			i = buf->len - 1;

	while (i >= 0 && isspace((unsigned char) buf->data[i]))
		i--;
	if (i >= 0 && buf->data[i] != '{' && buf->data[i] != '[' && buf->data[i] != ',')
		appendStringInfoString(buf, ", ");
}

/* Append "key": "value" (value may be NULL) with a leading comma if needed. */
void
pb_json_add_str(StringInfo buf, const char *key, const char *value)
{
	add_separator(buf);
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

void
pb_json_add_int(StringInfo buf, const char *key, int64 value)
{
	add_separator(buf);
	escape_json(buf, key);
	appendStringInfo(buf, ": " INT64_FORMAT, value);
}

/* Append "key": followed by raw JSON. */
void
pb_json_add_raw(StringInfo buf, const char *key, const char *json)
{
	add_separator(buf);
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	appendStringInfoString(buf, json);
}

/* Inverse of pb_escape_name. */
char *
pb_unescape_name(const char *escaped)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *p = escaped; *p; p++)
	{
		if (*p == '%' && isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2]))
		{
			char		hex[3] = {p[1], p[2], '\0'};

			appendStringInfoChar(&buf, (char) strtol(hex, NULL, 16));
			p += 2;
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}
