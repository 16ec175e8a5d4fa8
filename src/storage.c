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
 * Every path is walked from its backup dir without following any link
 * (see "backup dirs" below), so descriptors come from openat, not fd.c;
 * they are counted with fd.c's ReserveExternalFD, and closed here at the
 * end of the (sub)transaction that opened them, as fd.c would: a PbFile
 * never outlives its transaction (but for a sealed one, see below).  Files
 * live in a memory context of their own so that the cleanup never depends
 * on the caller's memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#if defined(SYS_openat2)
#include <linux/openat2.h>
#define PB_HAVE_OPENAT2 1
#endif
#endif

#include "access/xact.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "partback.h"
#include "auth.h"

#define PB_WRITE_BUFSIZE	(1024 * 1024)

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

struct PbFile
{
	char	   *path;			/* final name */
	int			fd;				/* -1 once closed */
	bool		writing;
	SubTransactionId subid;		/* subtransaction that opened the file */
	dlist_node	node;			/* in open_files */

	/* the rest is used only by files being written */
	int			dirfd;			/* its directory, opened beneath the root */
	char	   *name;			/* its final name in dirfd */
	char	   *tmpname;		/* "<name>.tmp", the name actually written */
	char	   *tmppath;		/* "<path>.tmp", for messages */
	bool		tmp_created;	/* tmppath exists and is ours */
	bool		broken;			/* a write or commit failed: never commit */
	bool		sealed;			/* complete and durable under tmppath; the
								 * transaction's commit hands it to the caller */
	bool		handed_over;	/* that happened: no longer in open_files */
	bool		sync_later;		/* sealed without fsync: pb_sync_deferred's */
	char	   *buf;
	size_t		buflen;
};

/*
 * Deferred durability (pb_sync_defer): while on, files and new directories
 * are not fsynced one by one as they are made; the paths to fsync are kept
 * here, until pb_sync_deferred() fsyncs them all in one pass.
 */
typedef enum PbSyncMode
{
	PB_SYNC_NOW,				/* fsync each file and directory as made */
	PB_SYNC_DIRS_LATER,			/* files at publish, directories by another
								 * process */
	PB_SYNC_ALL_LATER			/* files and directories at pb_sync_deferred */
} PbSyncMode;
static PbSyncMode sync_mode = PB_SYNC_NOW;
static MemoryContext sync_cxt = NULL;
static List *sync_files = NIL;	/* final paths of files to fsync */
static List *sync_dirs = NIL;	/* directories to fsync, each once */
static PbStrSet *sync_dir_set = NULL;

/* files open, read or being written, neither closed nor committed yet */
static dlist_head open_files = DLIST_STATIC_INIT(open_files);
static MemoryContext pending_cxt = NULL;
static bool callbacks_registered = false;

static void pb_storage_xact_callback(XactEvent event, void *arg);
static void pb_storage_subxact_callback(SubXactEvent event,
										SubTransactionId mySubid,
										SubTransactionId parentSubid,
										void *arg);
static void pb_file_discard(PbFile *file, bool close_fd);
static void pb_file_write_fd(PbFile *file, const char *data, size_t len);
static void sync_and_close(PbFile *file, bool sync);
static int	pb_name_cmp(const ListCell *a, const ListCell *b);
static PbFile *pb_file_alloc(const char *path, bool writing);


/* ---------- backup dirs: where paths are walked from ---------- */

/*
 * Everything in a backup dir is untrusted, its layout included: whoever may
 * write the backup storage can put symbolic links, FIFOs or devices there.
 * So every path under a backup dir is walked from the dir one component at
 * a time, each opened with O_NOFOLLOW relative to the one before: nothing
 * below the dir is ever followed, and only regular files and directories
 * are used.  The dir itself was resolved once, when it was checked against
 * partback.allowed_dirs (pb_backup_dir_arg, pb_backup_dir_recheck); its
 * real path has no symbolic link, and is walked the same way from "/", so
 * that one swapped in since is refused too.  Its device and inode, recorded
 * then, must still be the dir's.  Where the kernel has openat2(), one call
 * with RESOLVE_NO_SYMLINKS (and RESOLVE_BENEATH below the dir) opens what
 * the walk would; anything it refuses is walked, which says why.
 *
 * A path handed to these functions must lie under a registered dir;
 * anything else is an internal error, so that no caller can bypass the
 * walk by accident.
 */
typedef struct PbRoot
{
	char	   *dir;			/* as callers name it (canonical) */
	char	   *real;			/* its real path, resolved once */
	bool		known;			/* dev and ino recorded */
	dev_t		dev;
	ino_t		ino;
} PbRoot;

static List *pb_roots = NIL;	/* in TopMemoryContext */

/* symbolic links, and whatever is not a regular file or directory */
static void
pb_refuse_type(const char *path, mode_t mode)
{
	if (S_ISLNK(mode))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("backup file \"%s\" is a symbolic link", path),
				 errdetail("partback follows no symbolic link below a backup directory."),
				 errhint("Remove the link; a backup directory holds only regular files and directories.")));
	if (!S_ISREG(mode) && !S_ISDIR(mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("backup file \"%s\" is neither a regular file nor a directory", path),
				 errdetail("partback uses no FIFO, socket or device in a backup directory."),
				 errhint("Remove it; a backup directory holds only regular files and directories.")));
}

/*
 * Register dir (a canonical absolute path) as a backup dir whose real path
 * is real.  When its identity is given (dev_ino_known), the dir found must
 * have it, else it is recorded at the first walk.
 */
void
pb_root_register(const char *dir, const char *real, bool dev_ino_known,
				 dev_t dev, ino_t ino)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ListCell   *lc;
	PbRoot	   *root = NULL;

	foreach(lc, pb_roots)
	{
		PbRoot	   *r = lfirst(lc);

		if (strcmp(r->dir, dir) == 0)
		{
			root = r;
			pfree(r->real);
			pb_roots = foreach_delete_current(pb_roots, lc);
			break;
		}
	}
	if (root == NULL)
	{
		root = palloc0(sizeof(PbRoot));
		root->dir = pstrdup(dir);
	}
	/* the newest registration comes first (pb_root_of) */
	pb_roots = lappend(pb_roots, root);
	root->real = pstrdup(real);
	root->known = dev_ino_known;
	root->dev = dev;
	root->ino = ino;
	MemoryContextSwitchTo(old);
}

/* The identity recorded for registered dir; false if none yet. */
bool
pb_root_identity(const char *dir, uint64 *dev, uint64 *ino)
{
	ListCell   *lc;

	foreach(lc, pb_roots)
	{
		PbRoot	   *r = lfirst(lc);

		if (strcmp(r->dir, dir) == 0)
		{
			if (!r->known)
				return false;
			*dev = (uint64) r->dev;
			*ino = (uint64) r->ino;
			return true;
		}
	}
	return false;
}

/*
 * The registered dir path lies in.  If several hold it (a dir used earlier
 * in this session may lie inside or around the one in use), the one
 * registered last: the call at hand registered its own.
 */
static PbRoot *
pb_root_of(const char *path)
{
	PbRoot	   *found = NULL;
	ListCell   *lc;

	foreach(lc, pb_roots)
	{
		PbRoot	   *r = lfirst(lc);
		size_t		len = strlen(r->dir);

		if (strncmp(path, r->dir, len) == 0 &&
			(path[len] == '\0' || path[len] == '/' || strcmp(r->dir, "/") == 0))
			found = r;
	}
	if (found == NULL)
		elog(ERROR, "path \"%s\" is not under a checked backup directory", path);
	return found;
}

/* Remember directory path for pb_sync_deferred, once. */
static void
sync_later_dir(const char *path)
{
	MemoryContext old = MemoryContextSwitchTo(sync_cxt);

	if (!pb_strset_contains(sync_dir_set, path))
	{
		char	   *copy = pstrdup(path);

		pb_strset_add(sync_dir_set, copy);
		sync_dirs = lappend(sync_dirs, copy);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Open component comp (no '/', not "." or "..") of directory dfd as a
 * directory, following no link.  When create, make it if missing (mode
 * 0700), fsyncing it and dfd.  Returns -1 with errno ENOENT when it is
 * missing, ENOTDIR when it is a regular file, and not to be created; every
 * other failure is an ERROR naming shown, the path so far.
 */
static int
pb_open_component_dir(int dfd, const char *comp, const char *shown, bool create)
{
	int			fd;
	struct stat st;

	if (comp[0] == '\0' || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0 ||
		strchr(comp, '/') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid path component in \"%s\"", shown)));
	if (strlen(comp) > NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("file name in \"%s\" is too long", shown),
				 errdetail("A name in a path may have at most %d bytes here.", NAME_MAX)));

	for (;;)
	{
		fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == EINTR)
			continue;
		if (errno == ENOENT && create)
		{
			if (mkdirat(dfd, comp, S_IRWXU) < 0 && errno != EEXIST)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create directory \"%s\": %m", shown)));
			fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
			{
				/*
				 * ERROR, not PANIC: a backup dir that fails fails the job,
				 * and nothing of the database's own depends on it.
				 */
				if (sync_mode == PB_SYNC_ALL_LATER)
				{
					char	   *parent = pstrdup(shown);

					*strrchr(parent, '/') = '\0';
					sync_later_dir(shown);
					sync_later_dir(parent);
					return fd;
				}
				if (pg_fsync(fd) != 0 || pg_fsync(dfd) != 0)
				{
					int			save_errno = errno;

					close(fd);
					errno = save_errno;
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not fsync directory \"%s\": %m", shown)));
				}
				return fd;
			}
			/* fall through to say why */
		}
		break;
	}
	if (errno == ENOENT)
		return -1;
	if (errno == ELOOP || errno == ENOTDIR)
	{
		int			save_errno = errno;

		if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0)
		{
			if (S_ISLNK(st.st_mode))
				pb_refuse_type(shown, st.st_mode);
			if (S_ISREG(st.st_mode))
			{
				/* as a missing directory, unless one was to be made */
				if (!create)
				{
					errno = ENOTDIR;
					return -1;
				}
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("\"%s\" exists but is not a directory", shown)));
			}
			pb_refuse_type(shown, st.st_mode);
		}
		errno = save_errno;
	}
	ereport(ERROR,
			(errcode_for_file_access(),
			 errmsg("could not open directory \"%s\": %m", shown)));
	return -1;					/* keep compiler quiet */
}

/*
 * Walk from directory descriptor dfd down the '/'-separated components at
 * p (inside buf, which names the whole path for errors), opening each
 * without following links (pb_open_component_dir), and return the last
 * one's descriptor; dfd is closed.  Returns -1 (errno ENOENT) if one is
 * missing and not to be created.  buf is freed.
 */
static int
pb_walk_components(int dfd, char *buf, char *p, bool create)
{
	while (*p == '/')
		p++;
	while (*p != '\0')
	{
		char	   *slash = strchr(p, '/');
		int			fd;

		if (slash != NULL)
			*slash = '\0';
		PG_TRY();
		{
			fd = pb_open_component_dir(dfd, p, buf, create);
		}
		PG_CATCH();
		{
			close(dfd);
			PG_RE_THROW();
		}
		PG_END_TRY();
		close(dfd);
		if (fd < 0)
		{
			int			save_errno = errno;

			pfree(buf);
			errno = save_errno;
			return -1;
		}
		dfd = fd;
		if (slash == NULL)
			break;
		*slash = '/';
		p = slash + 1;
		while (*p == '/')
			p++;
	}
	pfree(buf);
	return dfd;
}

/*
 * The walks below in one system call, where the kernel has openat2(): open
 * directory path (relative to dfd) with no symbolic link followed on the
 * way (RESOLVE_NO_SYMLINKS) and, with beneath, never leaving dfd.  -1 when
 * it cannot (any error: missing, a link, no openat2); the caller then
 * walks, which says why.  path must be what a walk accepts without error
 * (pb_fast_path_ok), so that both open the same directory or neither does.
 * A backup of thousands of partitions opens paths many thousand times;
 * each walk from "/" costs a dozen opens and closes.
 */
static int
pb_open_dir_fast(int dfd, const char *path, bool beneath)
{
#ifdef PB_HAVE_OPENAT2
	static bool unavailable = false;
	struct open_how how;
	int			fd;

	if (unavailable)
		return -1;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
		(beneath ? RESOLVE_BENEATH : 0);
	do
	{
		fd = (int) syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	} while (fd < 0 && errno == EINTR);
	/* an older kernel, or a seccomp filter that forbids it */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		unavailable = true;
	return fd;
#else
	return -1;
#endif
}

/*
 * Does every '/'-separated component of path (leading slashes aside) pass
 * pb_open_component_dir's checks: not empty, not "." or "..", at most
 * NAME_MAX bytes?
 */
static bool
pb_fast_path_ok(const char *path)
{
	const char *p = path;

	while (*p == '/')
		p++;
	while (*p != '\0')
	{
		const char *slash = strchr(p, '/');
		size_t		len = slash ? (size_t) (slash - p) : strlen(p);

		if (len == 0 || len > NAME_MAX ||
			(len == 1 && p[0] == '.') ||
			(len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return true;
}

/*
 * Open the real path of root, component by component from "/", following
 * no link, and check that it is still the dir that was checked.  Returns -1
 * (errno ENOENT) if it or a parent is missing and not to be created.
 */
static int
pb_open_root(PbRoot *root, bool create)
{
	char	   *buf = pstrdup(root->real);
	char	   *p = buf;
	int			dfd;
	struct stat st;

	dfd = -1;
	if (pb_fast_path_ok(root->real))
		dfd = pb_open_dir_fast(AT_FDCWD, root->real, false);
	if (dfd >= 0)
		pfree(buf);
	else
	{
		dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open directory \"/\": %m")));
		dfd = pb_walk_components(dfd, buf, p, create);
		if (dfd < 0)
			return -1;
	}

	if (fstat(dfd, &st) < 0)
	{
		int			save_errno = errno;

		close(dfd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat directory \"%s\": %m", root->dir)));
	}
	if (!root->known)
	{
		root->known = true;
		root->dev = st.st_dev;
		root->ino = st.st_ino;
	}
	else if (root->dev != st.st_dev || root->ino != st.st_ino)
	{
		close(dfd);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("backup directory \"%s\" has been replaced", root->dir),
				 errdetail("It is no longer the directory that was checked against partback.allowed_dirs when the call was made."),
				 errhint("Call again.")));
	}
	return dfd;
}

/*
 * Open the directory path (a registered backup dir or below one) and return
 * its descriptor, or -1 (errno ENOENT) if it or a parent is missing and
 * create is false.  With create, missing directories are made.
 */
static int
pb_open_dir(const char *path, bool create)
{
	PbRoot	   *root = pb_root_of(path);
	char	   *buf;
	char	   *p;
	int			dfd;

	dfd = pb_open_root(root, create);
	if (dfd < 0)
		return -1;
	buf = pstrdup(path);
	p = buf + strlen(root->dir);
	while (*p == '/')
		p++;
	if (*p != '\0' && pb_fast_path_ok(p))
	{
		int			fd = pb_open_dir_fast(dfd, p, true);

		if (fd >= 0)
		{
			close(dfd);
			pfree(buf);
			return fd;
		}
	}
	return pb_walk_components(dfd, buf, p, create);
}

/*
 * Open the directory that holds path, which must lie strictly below a
 * registered backup dir; *name is set to path's last component.  -1 (errno
 * ENOENT) if the directory is missing.
 */
static int
pb_open_parent(const char *path, const char **name)
{
	PbRoot	   *root = pb_root_of(path);
	char	   *parent = pstrdup(path);
	char	   *slash = strrchr(parent, '/');
	int			fd;

	if (slash == NULL || slash < parent + strlen(root->dir) ||
		slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
		strcmp(slash + 1, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" does not name a file in backup directory \"%s\"",
						path, root->dir)));
	if (strlen(slash + 1) > NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("file name in \"%s\" is too long", path),
				 errdetail("A name in a path may have at most %d bytes here.", NAME_MAX)));
	*name = path + (slash - parent) + 1;
	*slash = '\0';
	fd = pb_open_dir(parent, false);
	pfree(parent);
	return fd;
}

/* Close a descriptor of ours; errors are of no interest for directories. */
static void
pb_close_dir(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* ---------- files being written ---------- */

static void
pb_storage_setup(void)
{
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
}

/*
 * A PbFile, tracked before anything is opened, so that an ERROR while
 * opening frees it; its descriptors are closed by whoever ends it, or at
 * the end of the (sub)transaction.
 */
static PbFile *
pb_file_alloc(const char *path, bool writing)
{
	PbFile	   *file;

	pb_storage_setup();
	file = MemoryContextAllocZero(pending_cxt, sizeof(PbFile));
	file->path = MemoryContextStrdup(pending_cxt, path);
	file->fd = -1;
	file->dirfd = -1;
	file->writing = writing;
	file->subid = GetCurrentSubTransactionId();
	dlist_push_tail(&open_files, &file->node);
	return file;
}

PbFile *
pb_file_create(const char *path)
{
	PbFile	   *file;
	const char *name;
	int			dirfd;
	int			fd;

	file = pb_file_alloc(path, true);
	file->tmppath = MemoryContextAlloc(pending_cxt,
									   strlen(path) + strlen(PB_TMP_SUFFIX) + 1);
	strcpy(file->tmppath, path);
	strcat(file->tmppath, PB_TMP_SUFFIX);

	/* its directory, walked from the backup dir; an ERROR frees the file */
	PG_TRY();
	{
		dirfd = pb_open_parent(file->tmppath, &name);
	}
	PG_CATCH();
	{
		pb_file_discard(file, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (dirfd < 0)
	{
		int			save_errno = errno;

		pb_file_discard(file, false);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s%s\": %m",
						path, PB_TMP_SUFFIX)));
	}
	ReserveExternalFD();
	file->dirfd = dirfd;
	file->tmpname = MemoryContextStrdup(pending_cxt, name);
	file->name = MemoryContextStrdup(pending_cxt, name);
	file->name[strlen(name) - strlen(PB_TMP_SUFFIX)] = '\0';
	file->buf = MemoryContextAlloc(pending_cxt, PB_WRITE_BUFSIZE);

	/* never through a link or onto anything there: O_EXCL, O_NOFOLLOW */
	fd = openat(dirfd, file->tmpname,
				O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | PG_BINARY,
				S_IRUSR | S_IWUSR);
	if (fd < 0 && errno == EEXIST)
	{
		/*
		 * Left behind by a crashed earlier run: nobody can still want it.
		 * unlinkat removes a link itself, never what it points to; a
		 * directory there is not removed.
		 */
		if (unlinkat(dirfd, file->tmpname, 0) < 0 && errno != ENOENT)
		{
			int			save_errno = errno;

			pb_file_discard(file, false);
			errno = save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove stale file \"%s%s\": %m",
							path, PB_TMP_SUFFIX)));
		}
		fd = openat(dirfd, file->tmpname,
					O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | PG_BINARY,
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
	ReserveExternalFD();
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
 * can be taken for data.  With pb_sync_defer(false), the fsync waits for
 * pb_file_publish: a copy worker publishes its files in batches
 * (pb_backup_publish), each fsync then finding its write-back done.
 */
void
pb_file_seal(PbFile *file)
{
	if (!file->writing || file->fd < 0 || file->broken)
		elog(ERROR, "file \"%s\" cannot be committed", file->path);

	/* until the rename is done, any failure leaves the file uncommittable */
	file->broken = true;

	if (file->buflen > 0)
	{
		pb_file_write_fd(file, file->buf, file->buflen);
		file->buflen = 0;
	}

	if (sync_mode != PB_SYNC_NOW)
	{
		/* start the write-back now; the fsync waits for it */
		pg_flush_data(file->fd, 0, 0);
		if (sync_mode == PB_SYNC_DIRS_LATER)
		{
			/* pb_file_publish fsyncs it */
			file->sealed = true;
			return;
		}
		file->sync_later = true;
	}
	sync_and_close(file, sync_mode == PB_SYNC_NOW);
	file->sealed = true;
}

/* fsync (if sync) and close the descriptor of a file being written */
static void
sync_and_close(PbFile *file, bool sync)
{
	int			rc;

	if (sync && pg_fsync(file->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", file->tmppath)));

	/* the descriptor is gone even when close() fails */
	rc = close(file->fd);
	file->fd = -1;
	ReleaseExternalFD();
	if (rc != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", file->tmppath)));
}

/* free a file's memory and its directory's descriptor */
static void
pb_file_free(PbFile *file)
{
	if (file->dirfd >= 0)
	{
		close(file->dirfd);
		ReleaseExternalFD();
	}
	if (file->buf)
		pfree(file->buf);
	if (file->tmppath)
		pfree(file->tmppath);
	if (file->tmpname)
		pfree(file->tmpname);
	if (file->name)
		pfree(file->name);
	pfree(file->path);
	pfree(file);
}

/*
 * Give a sealed file its final name, durably: renamed within the directory
 * it was created in (whatever was under the final name, a link included,
 * is replaced, never followed), then the directory fsynced.
 */
void
pb_file_publish(PbFile *file)
{
	Assert(file->sealed);
	/* one sealed without its fsync (pb_sync_defer(false)) */
	if (file->fd >= 0)
		sync_and_close(file, true);
	if (renameat(file->dirfd, file->tmpname, file->dirfd, file->name) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m",
						file->tmppath, file->path)));
	file->tmp_created = false;
	if (sync_mode == PB_SYNC_ALL_LATER)
	{
		char	   *dir = pstrdup(file->path);
		MemoryContext old;

		*strrchr(dir, '/') = '\0';
		sync_later_dir(dir);
		if (file->sync_later)
		{
			old = MemoryContextSwitchTo(sync_cxt);
			sync_files = lappend(sync_files, pstrdup(file->path));
			MemoryContextSwitchTo(old);
		}
	}
	else if (sync_mode == PB_SYNC_NOW && pg_fsync(file->dirfd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync directory of \"%s\": %m", file->path)));
	if (file->handed_over)
		pb_file_free(file);
	else
		pb_file_discard(file, false);
}

void
pb_file_commit(PbFile *file)
{
	pb_file_seal(file);
	pb_file_publish(file);
}

/*
 * Deferred durability, for a job that writes many files no one may take
 * for data before its manifest exists (a backup: FORMAT.md's rule that a
 * backup exists once its manifest does).  After pb_sync_defer(true), the
 * files this process writes and the directories it makes are fsynced only
 * by pb_sync_deferred(), which the job calls before it writes its
 * manifest: one pass, after the kernel has been writing them back all
 * along, instead of two or three fsyncs waited for per file.  With
 * pb_sync_defer(false), a process fsyncs each file as before but leaves
 * the directories it renames files into to another process's
 * pb_sync_deferred() (a copy worker's data files lie in the directories
 * whose metadata files the leader writes).
 */
void
pb_sync_defer(bool files_too)
{
	if (sync_cxt == NULL)
		sync_cxt = AllocSetContextCreate(TopMemoryContext, "partback deferred fsyncs",
										 ALLOCSET_DEFAULT_SIZES);
	if (sync_dir_set == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(sync_cxt);

		sync_dir_set = pb_strset_create("partback directories to fsync");
		MemoryContextSwitchTo(old);
	}
	sync_mode = files_too ? PB_SYNC_ALL_LATER : PB_SYNC_DIRS_LATER;
}

/* fsync path, a file (or directory) below a registered backup dir */
static void
sync_path(const char *path, bool is_dir)
{
	int			fd;

	if (is_dir)
		fd = pb_open_dir(path, false);
	else
	{
		const char *name;
		int			dfd = pb_open_parent(path, &name);

		fd = dfd < 0 ? -1 : openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		pb_close_dir(dfd);
	}
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\" to fsync it: %m", path)));
	if (pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		close(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync \"%s\": %m", path)));
	}
	close(fd);
}

/*
 * fsync what pb_sync_defer left: the files, then the directories (their
 * entries for the files and for the directories made).  Back to fsyncing
 * each file as it is made.
 */
void
pb_sync_deferred(void)
{
	ListCell   *lc;
	instr_time	start;
	instr_time	duration;

	INSTR_TIME_SET_CURRENT(start);
	sync_mode = PB_SYNC_NOW;
	foreach(lc, sync_files)
	{
		CHECK_FOR_INTERRUPTS();
		sync_path(lfirst(lc), false);
	}
	foreach(lc, sync_dirs)
	{
		CHECK_FOR_INTERRUPTS();
		sync_path(lfirst(lc), true);
	}
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	elog(DEBUG1, "partback: fsynced %d files and %d directories in %.0f ms",
		 list_length(sync_files), list_length(sync_dirs),
		 INSTR_TIME_GET_MILLISEC(duration));
	sync_files = NIL;
	sync_dirs = NIL;
	sync_dir_set = NULL;
	if (sync_cxt != NULL)
		MemoryContextReset(sync_cxt);
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
 * Forget a file: optionally close its descriptor, unlink the temporary file
 * of one being written, free the memory.  Never raises an ERROR, since it
 * runs in abort paths.
 */
static void
pb_file_discard(PbFile *file, bool close_fd)
{
	if (close_fd && file->fd >= 0)
	{
		(void) close(file->fd);
		ReleaseExternalFD();
	}
	file->fd = -1;

	if (file->tmp_created && file->dirfd >= 0 &&
		unlinkat(file->dirfd, file->tmpname, 0) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", file->tmppath)));
	file->tmp_created = false;

	if (!file->handed_over)
		dlist_delete(&file->node);
	pb_file_free(file);
}

/*
 * At end of transaction, every file still open is closed (as fd.c does
 * for transient files) and every file being written unlinked, unless it
 * was sealed and the transaction commits.
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

	dlist_foreach_modify(iter, &open_files)
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
		pb_file_discard(file, true);
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

	dlist_foreach_modify(iter, &open_files)
	{
		PbFile	   *file = dlist_container(PbFile, node, iter.cur);

		if (file->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			file->subid = parentSubid;
		else
			pb_file_discard(file, true);
	}
}


/* ---------- files being read ---------- */

/*
 * Open a regular file of a backup dir for reading.  It is looked at before
 * it is opened, so that no FIFO or device is ever opened (a FIFO's open
 * would wait for a writer, unbounded); and opened with O_NONBLOCK and
 * looked at again, in case something was swapped in meanwhile.
 */
PbFile *
pb_file_open_read(const char *path)
{
	PbFile	   *file;
	const char *name;
	int			dirfd;
	int			fd;
	struct stat st;
	int			flags;

	dirfd = pb_open_parent(path, &name);
	if (dirfd < 0)
	{
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
	{
		int			save_errno = errno;

		pb_close_dir(dirfd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	}
	if (!S_ISREG(st.st_mode))
	{
		pb_close_dir(dirfd);
		if (S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("backup file \"%s\" is a directory", path)));
		pb_refuse_type(path, st.st_mode);
	}

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | PG_BINARY);
	if (fd < 0)
	{
		int			save_errno = errno;

		pb_close_dir(dirfd);
		errno = save_errno;
		if (errno == ELOOP)
			pb_refuse_type(path, S_IFLNK);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	}
	pb_close_dir(dirfd);
	if (fstat(fd, &st) < 0)
	{
		int			save_errno = errno;

		close(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	}
	if (!S_ISREG(st.st_mode))
	{
		close(fd);
		pb_refuse_type(path, st.st_mode);
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("backup file \"%s\" is not a regular file", path)));
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
	{
		int			save_errno = errno;

		close(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	}

	file = pb_file_alloc(path, false);
	ReserveExternalFD();
	file->fd = fd;
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
	int			rc = 0;
	char	   *path;

	if (file->writing)
		elog(ERROR, "file \"%s\" is being written; commit or abort it",
			 file->path);

	if (file->fd >= 0)
	{
		rc = close(file->fd);
		file->fd = -1;
		ReleaseExternalFD();
	}
	path = pstrdup(file->path);
	dlist_delete(&file->node);
	pb_file_free(file);
	if (rc != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	pfree(path);
}


/* ---------- directories and small files ---------- */

/*
 * Make a directory and its missing parents, mode 0700, walked from the
 * backup dir (which is made too if missing).  A new directory and its
 * parent are fsynced, so that a file durably renamed into it later cannot
 * vanish with the directory in a crash.
 */
void
pb_mkdir_p(const char *path)
{
	pb_close_dir(pb_open_dir(path, true));
}

/*
 * Whether path exists; ERROR if it is a symbolic link or anything but a
 * regular file or directory.
 */
bool
pb_path_exists(const char *path, bool *is_dir)
{
	struct stat st;
	PbRoot	   *root = pb_root_of(path);
	int			rc;
	int			save_errno;

	if (is_dir)
		*is_dir = false;

	if (strlen(path) == strlen(root->dir))
	{
		int			fd = pb_open_root(root, false);

		if (fd < 0)
		{
			/* a regular file where the dir should be exists, as stat says */
			if (errno == ENOTDIR && lstat(root->real, &st) == 0 &&
				S_ISREG(st.st_mode))
				return true;
			return false;
		}
		pb_close_dir(fd);
		if (is_dir)
			*is_dir = true;
		return true;
	}
	else
	{
		const char *name;
		int			dirfd = pb_open_parent(path, &name);

		if (dirfd < 0)
			return false;
		rc = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
		save_errno = errno;
		pb_close_dir(dirfd);
		errno = save_errno;
	}
	if (rc < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	}
	pb_refuse_type(path, st.st_mode);
	if (is_dir)
		*is_dir = S_ISDIR(st.st_mode);
	return true;
}

/*
 * Size of regular file path, or -1 if it does not exist; ERROR if it is a
 * link or anything but a regular file.
 */
int64
pb_file_size(const char *path)
{
	struct stat st;
	const char *name;
	int			dirfd = pb_open_parent(path, &name);
	int			rc;
	int			save_errno;

	if (dirfd < 0)
		return -1;
	rc = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
	save_errno = errno;
	pb_close_dir(dirfd);
	if (rc < 0)
	{
		if (save_errno == ENOENT)
			return -1;
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	}
	if (S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("backup file \"%s\" is a directory", path)));
	pb_refuse_type(path, st.st_mode);
	return (int64) st.st_size;
}

static int
pb_name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * The names in directory path, sorted.  Every entry is looked at without
 * following it: a symbolic link or anything but a regular file or
 * directory is an ERROR naming it.
 */
List *
pb_list_dir(const char *path)
{
	int			dfd = pb_open_dir(path, false);
	DIR		   *dir;
	List	   *names = NIL;

	if (dfd < 0)
	{
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path)));
	}
	dir = fdopendir(dfd);
	if (dir == NULL)
	{
		int			save_errno = errno;

		close(dfd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path)));
	}

	PG_TRY();
	{
		for (;;)
		{
			struct dirent *de;
			struct stat st;

			CHECK_FOR_INTERRUPTS();
			errno = 0;
			de = readdir(dir);
			if (de == NULL)
			{
				if (errno != 0)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not read directory \"%s\": %m", path)));
				break;
			}
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			{
				if (errno == ENOENT)
					continue;	/* removed meanwhile */
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not stat file \"%s/%s\": %m",
								path, de->d_name)));
			}
			pb_refuse_type(psprintf("%s/%s", path, de->d_name), st.st_mode);
			names = lappend(names, pstrdup(de->d_name));
		}
	}
	PG_FINALLY();
	{
		closedir(dir);
	}
	PG_END_TRY();

	list_sort(names, pb_name_cmp);
	return names;
}

/*
 * Below the directory open as dfd (shown as shown in messages; closed
 * here), remove every regular file named "*.tmp", in every subdirectory.
 * Walks by descriptor, one fstatat per entry: the whole backup dir is
 * walked at each backup (thousands of partition dirs), and resolving each
 * entry's path from the backup dir again would cost a walk per entry.
 * Links and special files are refused as pb_list_dir refuses them.
 */
static void
remove_temporary_walk(int dfd, const char *shown)
{
	DIR		   *dir = fdopendir(dfd);

	if (dir == NULL)
	{
		int			save_errno = errno;

		close(dfd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", shown)));
	}
	PG_TRY();
	{
		for (;;)
		{
			struct dirent *de;
			struct stat st;
			size_t		len;

			CHECK_FOR_INTERRUPTS();
			errno = 0;
			de = readdir(dir);
			if (de == NULL)
			{
				if (errno != 0)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not read directory \"%s\": %m", shown)));
				break;
			}
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			{
				if (errno == ENOENT)
					continue;	/* removed meanwhile */
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not stat file \"%s/%s\": %m",
								shown, de->d_name)));
			}
			if (S_ISDIR(st.st_mode))
			{
				int			child = openat(dirfd(dir), de->d_name,
										   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				char	   *child_shown = psprintf("%s/%s", shown, de->d_name);

				if (child < 0)
				{
					if (errno == ENOENT)
						continue;
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not open directory \"%s\": %m", child_shown)));
				}
				remove_temporary_walk(child, child_shown);
				pfree(child_shown);
				continue;
			}
			if (!S_ISREG(st.st_mode))
				pb_refuse_type(psprintf("%s/%s", shown, de->d_name), st.st_mode);
			len = strlen(de->d_name);
			if (len > strlen(PB_TMP_SUFFIX) &&
				strcmp(de->d_name + len - strlen(PB_TMP_SUFFIX), PB_TMP_SUFFIX) == 0 &&
				unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not remove file \"%s/%s\": %m",
								shown, de->d_name)));
		}
	}
	PG_FINALLY();
	{
		closedir(dir);
	}
	PG_END_TRY();
}

/*
 * Remove the files named "*.tmp" below directory path (a registered backup
 * dir or below one), if it exists: what jobs that did not finish were
 * writing.  The caller makes sure no other job writes there now.
 */
void
pb_remove_temporary_files(const char *path)
{
	int			dfd = pb_open_dir(path, false);

	if (dfd < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path)));
	}
	remove_temporary_walk(dfd, path);
}

/*
 * Whether directory path has no entry.  Its entries are not looked at: a
 * dir someone else's files are in is refused for that alone.
 */
bool
pb_dir_is_empty(const char *path)
{
	int			dfd = pb_open_dir(path, false);
	DIR		   *dir;
	struct dirent *de;
	bool		empty = true;

	if (dfd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path)));
	dir = fdopendir(dfd);
	if (dir == NULL)
	{
		int			save_errno = errno;

		close(dfd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path)));
	}
	while ((de = readdir(dir)) != NULL)
	{
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			empty = false;
			break;
		}
	}
	closedir(dir);
	return empty;
}

/*
 * Remove a regular file of a backup dir.  A link is never followed (nor
 * removed: it is refused as a walk refuses it).
 */
void
pb_unlink(const char *path, bool missing_ok)
{
	const char *name;
	int			dirfd = pb_open_parent(path, &name);
	struct stat st;
	int			save_errno;

	if (dirfd < 0)
	{
		if (missing_ok)
			return;
		errno = ENOENT;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		!S_ISREG(st.st_mode))
	{
		pb_close_dir(dirfd);
		if (S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("could not remove file \"%s\": it is a directory", path)));
		pb_refuse_type(path, st.st_mode);
	}
	if (unlinkat(dirfd, name, 0) < 0)
	{
		save_errno = errno;
		pb_close_dir(dirfd);
		if (missing_ok && save_errno == ENOENT)
			return;
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
	}
	pb_close_dir(dirfd);
}

/*
 * Remove an empty directory of a backup dir; false if it is not empty (or
 * gone).  A link in its place is refused.
 */
bool
pb_rmdir(const char *path)
{
	const char *name;
	int			dirfd = pb_open_parent(path, &name);
	struct stat st;
	int			save_errno;

	if (dirfd < 0)
		return false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		!S_ISDIR(st.st_mode))
	{
		pb_close_dir(dirfd);
		pb_refuse_type(path, st.st_mode);
		return false;			/* a regular file: not a directory to remove */
	}
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
	{
		save_errno = errno;
		pb_close_dir(dirfd);
		if (save_errno == ENOENT || save_errno == ENOTEMPTY || save_errno == EEXIST)
			return false;
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove directory \"%s\": %m", path)));
	}
	pb_close_dir(dirfd);
	return true;
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
