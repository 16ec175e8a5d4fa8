/*-------------------------------------------------------------------------
 *
 * storage.c
 *		Files and directories of a backup dir.
 *
 * A file is written as "<path>.tmp" through a 1 MB buffer and appears under
 * its final name only in pb_file_commit: fsync, rename, fsync of the
 * directory.  Every file being written is kept in a list, and when the
 * (sub)transaction that created it ends without a commit or abort of the
 * file, its temporary file is unlinked, so no half-written file survives an
 * ERROR.
 *
 * All descriptors come from fd.c (OpenTransientFile, AllocateDir), which
 * closes them at end of transaction; a PbFile never outlives its
 * transaction.  Files being written live in a memory context of their own
 * so that the cleanup never depends on the caller's memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "lib/ilist.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "partback.h"

#define PB_WRITE_BUFSIZE	(1024 * 1024)

struct PbFile
{
	char	   *path;			/* final name */
	int			fd;				/* -1 once closed */
	bool		writing;

	/* the rest is used only by files being written */
	char	   *tmppath;		/* "<path>.tmp", the name actually written */
	bool		tmp_created;	/* tmppath exists and is ours */
	bool		broken;			/* a write or commit failed: never commit */
	bool		sealed;			/* complete and durable under tmppath; the
								 * transaction's commit hands it to the caller */
	bool		handed_over;	/* that happened: no longer in pending_files */
	SubTransactionId subid;		/* subtransaction that created the file */
	char	   *buf;
	size_t		buflen;
	dlist_node	node;			/* in pending_files */
};

/* files being written, neither committed nor aborted yet */
static dlist_head pending_files = DLIST_STATIC_INIT(pending_files);
static MemoryContext pending_cxt = NULL;
static bool callbacks_registered = false;

static void pb_storage_xact_callback(XactEvent event, void *arg);
static void pb_storage_subxact_callback(SubXactEvent event,
										SubTransactionId mySubid,
										SubTransactionId parentSubid,
										void *arg);
static void pb_file_discard(PbFile *file, bool close_fd);
static void pb_file_write_fd(PbFile *file, const char *data, size_t len);
static void pb_mkdir_one(const char *dir);
static int	pb_name_cmp(const ListCell *a, const ListCell *b);


/* ---------- files being written ---------- */

PbFile *
pb_file_create(const char *path)
{
	PbFile	   *file;
	int			fd;

	if (!callbacks_registered)
	{
		RegisterXactCallback(pb_storage_xact_callback, NULL);
		RegisterSubXactCallback(pb_storage_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopMemoryContext,
											"partback files",
											ALLOCSET_DEFAULT_SIZES);

	file = MemoryContextAllocZero(pending_cxt, sizeof(PbFile));
	file->path = MemoryContextStrdup(pending_cxt, path);
	file->tmppath = MemoryContextAlloc(pending_cxt,
									   strlen(path) + strlen(PB_TMP_SUFFIX) + 1);
	strcpy(file->tmppath, path);
	strcat(file->tmppath, PB_TMP_SUFFIX);
	file->fd = -1;
	file->writing = true;
	file->subid = GetCurrentSubTransactionId();
	file->buf = MemoryContextAlloc(pending_cxt, PB_WRITE_BUFSIZE);

	/* tracked before the open, so that an ERROR inside it frees the memory */
	dlist_push_tail(&pending_files, &file->node);

	fd = OpenTransientFilePerm(file->tmppath,
							   O_CREAT | O_EXCL | O_WRONLY | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0 && errno == EEXIST)
	{
		/* left behind by a crashed earlier run: nobody can still want it */
		if (unlink(file->tmppath) < 0 && errno != ENOENT)
		{
			int			save_errno = errno;

			pb_file_discard(file, false);
			errno = save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove stale file \"%s%s\": %m",
							path, PB_TMP_SUFFIX)));
		}
		fd = OpenTransientFilePerm(file->tmppath,
								   O_CREAT | O_EXCL | O_WRONLY | PG_BINARY,
								   S_IRUSR | S_IWUSR);
	}
	if (fd < 0)
	{
		int			save_errno = errno;

		pb_file_discard(file, false);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s%s\": %m",
						path, PB_TMP_SUFFIX)));
	}
	file->fd = fd;
	file->tmp_created = true;

	return file;
}

/*
 * Write all of data to the descriptor.  A short write that sets no errno is
 * taken as a full disk, as PostgreSQL does elsewhere.
 */
static void
pb_file_write_fd(PbFile *file, const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		rc;

		errno = 0;
		rc = write(file->fd, data, len);
		if (rc <= 0)
		{
			if (rc < 0 && errno == EINTR)
				continue;
			if (errno == 0)
				errno = ENOSPC;
			file->broken = true;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write to file \"%s\": %m",
							file->tmppath)));
		}
		data += rc;
		len -= rc;
	}
}

void
pb_file_write(PbFile *file, const void *data, size_t len)
{
	const char *p = data;

	if (!file->writing || file->fd < 0 || file->broken)
		elog(ERROR, "file \"%s\" is not open for writing", file->path);

	while (len > 0)
	{
		size_t		n;

		/* large pieces bypass the buffer when it is empty */
		if (file->buflen == 0 && len >= PB_WRITE_BUFSIZE)
		{
			pb_file_write_fd(file, p, len);
			return;
		}

		n = Min(len, PB_WRITE_BUFSIZE - file->buflen);
		memcpy(file->buf + file->buflen, p, n);
		file->buflen += n;
		p += n;
		len -= n;

		if (file->buflen == PB_WRITE_BUFSIZE)
		{
			pb_file_write_fd(file, file->buf, file->buflen);
			file->buflen = 0;
		}
	}
}

/*
 * Flush, fsync and close a file being written; it stays under its
 * temporary name.  If the transaction aborts, it is removed; once the
 * transaction commits, it is the caller's, to pb_file_publish -- so that
 * what the transaction recorded about the file is durable before the file
 * can be taken for data.
 */
void
pb_file_seal(PbFile *file)
{
	int			rc;

	if (!file->writing || file->fd < 0 || file->broken)
		elog(ERROR, "file \"%s\" cannot be committed", file->path);

	/* until the rename is done, any failure leaves the file uncommittable */
	file->broken = true;

	if (file->buflen > 0)
	{
		pb_file_write_fd(file, file->buf, file->buflen);
		file->buflen = 0;
	}

	if (pg_fsync(file->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", file->tmppath)));

	/* fd.c forgets the descriptor even when close() fails */
	rc = CloseTransientFile(file->fd);
	file->fd = -1;
	if (rc != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", file->tmppath)));
	file->sealed = true;
}

/* Give a sealed file its final name, durably. */
void
pb_file_publish(PbFile *file)
{
	Assert(file->sealed);
	/* fsyncs the file again and then its directory */
	(void) durable_rename(file->tmppath, file->path, ERROR);
	file->tmp_created = false;
	if (file->handed_over)
	{
		pfree(file->buf);
		pfree(file->tmppath);
		pfree(file->path);
		pfree(file);
	}
	else
		pb_file_discard(file, false);
}

void
pb_file_commit(PbFile *file)
{
	pb_file_seal(file);
	pb_file_publish(file);
}

void
pb_file_abort(PbFile *file)
{
	if (!file->writing)
	{
		pb_file_close(file);
		return;
	}
	/* only WARNINGs from here on: this often runs inside a PG_CATCH */
	pb_file_discard(file, true);
}

/*
 * Forget a file being written: optionally close its descriptor, unlink the
 * temporary file, free the memory.  Never raises an ERROR, since it runs in
 * abort paths.
 */
static void
pb_file_discard(PbFile *file, bool close_fd)
{
	if (close_fd && file->fd >= 0)
		(void) CloseTransientFile(file->fd);
	file->fd = -1;

	if (file->tmp_created && unlink(file->tmppath) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", file->tmppath)));
	file->tmp_created = false;

	dlist_delete(&file->node);
	pfree(file->buf);
	pfree(file->tmppath);
	pfree(file->path);
	pfree(file);
}

/*
 * At end of transaction, fd.c closes every transient file (AtEOXact_Files),
 * so here we only forget the descriptors and unlink, which is right whether
 * fd.c has already closed them or is about to.
 */
static void
pb_storage_xact_callback(XactEvent event, void *arg)
{
	dlist_mutable_iter iter;
	bool		leaked;

	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			leaked = false;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			leaked = true;
			break;
		default:
			return;
	}

	dlist_foreach_modify(iter, &pending_files)
	{
		PbFile	   *file = dlist_container(PbFile, node, iter.cur);

		if (leaked && file->sealed)
		{
			/* the caller publishes it after the commit */
			dlist_delete(&file->node);
			file->handed_over = true;
			continue;
		}
		if (leaked && file->tmp_created)
			ereport(WARNING,
					(errmsg("file \"%s\" was neither committed nor aborted, removing it",
							file->tmppath)));
		pb_file_discard(file, false);
	}
}

/* Same as fd.c's AtEOSubXact_Files, which closes what the subxact opened. */
static void
pb_storage_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	dlist_mutable_iter iter;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;

	dlist_foreach_modify(iter, &pending_files)
	{
		PbFile	   *file = dlist_container(PbFile, node, iter.cur);

		if (file->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			file->subid = parentSubid;
		else
			pb_file_discard(file, false);
	}
}


/* ---------- files being read ---------- */

PbFile *
pb_file_open_read(const char *path)
{
	PbFile	   *file;
	int			fd;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));

	file = palloc0(sizeof(PbFile));
	file->path = pstrdup(path);
	file->fd = fd;
	file->writing = false;
	return file;
}

size_t
pb_file_read(PbFile *file, void *buf, size_t len)
{
	size_t		total = 0;

	if (file->writing || file->fd < 0)
		elog(ERROR, "file \"%s\" is not open for reading", file->path);

	while (total < len)
	{
		ssize_t		rc;

		rc = read(file->fd, (char *) buf + total, len - total);
		if (rc < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", file->path)));
		}
		if (rc == 0)
			break;
		total += rc;
	}
	return total;
}

void
pb_file_close(PbFile *file)
{
	int			rc;

	if (file->writing)
		elog(ERROR, "file \"%s\" is being written; commit or abort it",
			 file->path);

	if (file->fd >= 0)
	{
		rc = CloseTransientFile(file->fd);
		file->fd = -1;
		if (rc != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not close file \"%s\": %m", file->path)));
	}
	pfree(file->path);
	pfree(file);
}


/* ---------- directories and small files ---------- */

/*
 * Create one directory unless it exists.  A new directory and its parent
 * are fsynced, so that a file durably renamed into it later cannot vanish
 * with the directory in a crash.
 */
static void
pb_mkdir_one(const char *dir)
{
	struct stat st;
	char	   *parent;
	char	   *slash;

	if (stat(dir, &st) == 0)
	{
		if (!S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" exists but is not a directory", dir)));
		return;
	}
	if (errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", dir)));

	if (mkdir(dir, S_IRWXU) < 0)
	{
		int			save_errno = errno;

		/* another process may have created it meanwhile */
		if (save_errno == EEXIST && stat(dir, &st) == 0)
		{
			if (!S_ISDIR(st.st_mode))
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("\"%s\" exists but is not a directory", dir)));
			return;
		}
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	}

	/*
	 * ERROR, not fsync_fname's PANIC: a backup dir that fails (removed
	 * meanwhile, I/O error) fails the job, and must not take the server
	 * down; nothing of the database's own depends on these fsyncs.
	 */
	(void) fsync_fname_ext(dir, true, false, ERROR);

	parent = pstrdup(dir);
	slash = strrchr(parent, '/');
	if (slash == NULL)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	(void) fsync_fname_ext(parent, true, false, ERROR);
	pfree(parent);
}

void
pb_mkdir_p(const char *path)
{
	char	   *buf = pstrdup(path);
	char	   *p = buf;

	/* "/" itself always exists */
	while (*p == '/')
		p++;

	for (;;)
	{
		char	   *slash = strchr(p, '/');

		if (slash != NULL)
			*slash = '\0';
		/* empty components come from "//" or a trailing "/" */
		if (*p != '\0')
			pb_mkdir_one(buf);
		if (slash == NULL)
			break;
		*slash = '/';
		p = slash + 1;
	}
	pfree(buf);
}

bool
pb_path_exists(const char *path, bool *is_dir)
{
	struct stat st;

	if (is_dir)
		*is_dir = false;

	if (stat(path, &st) < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	}
	if (is_dir)
		*is_dir = S_ISDIR(st.st_mode);
	return true;
}

static int
pb_name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

List *
pb_list_dir(const char *path)
{
	DIR		   *dir;
	struct dirent *de;
	List	   *names = NIL;

	/* ReadDirExtended reports a failed AllocateDir, naming the path */
	dir = AllocateDir(path);
	while ((de = ReadDirExtended(dir, path, ERROR)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = lappend(names, pstrdup(de->d_name));
	}
	FreeDir(dir);

	list_sort(names, pb_name_cmp);
	return names;
}

void
pb_unlink(const char *path, bool missing_ok)
{
	if (unlink(path) < 0)
	{
		if (missing_ok && errno == ENOENT)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
	}
}

/*
 * Read a whole file into a NUL-terminated palloc'd buffer.  The size is
 * checked against max_size both before and while reading, in case the file
 * grows meanwhile.
 */
char *
pb_read_small_file(const char *path, int64 max_size, int64 *size)
{
	PbFile	   *file;
	struct stat st;
	char	   *buf;
	size_t		alloc;
	size_t		len = 0;

	file = pb_file_open_read(path);

	if (fstat(file->fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (st.st_size > max_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" is too large", path),
				 errdetail("File size is %lld bytes, the limit is %lld bytes.",
						   (long long) st.st_size, (long long) max_size)));

	alloc = (size_t) st.st_size + 1;
	buf = MemoryContextAllocHuge(CurrentMemoryContext, alloc);

	for (;;)
	{
		size_t		n;

		if (len == alloc - 1)
		{
			char		probe;

			/* buffer full: end of file, or the file grew */
			if (pb_file_read(file, &probe, 1) == 0)
				break;
			if ((int64) len + 1 > max_size)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("file \"%s\" is too large", path),
						 errdetail("The limit is %lld bytes.",
								   (long long) max_size)));
			alloc = Min((int64) alloc * 2, max_size + 1);
			buf = repalloc_huge(buf, alloc);
			buf[len++] = probe;
			continue;
		}
		n = pb_file_read(file, buf + len, alloc - 1 - len);
		if (n == 0)
			break;
		len += n;
	}
	pb_file_close(file);

	buf[len] = '\0';
	if (size)
		*size = (int64) len;
	return buf;
}

void
pb_write_small_file(const char *path, const char *data, size_t len)
{
	PbFile	   *file = pb_file_create(path);

	pb_file_write(file, data, len);
	pb_file_commit(file);
}
