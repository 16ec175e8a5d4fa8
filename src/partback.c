/*-------------------------------------------------------------------------
 *
 * partback.c
 *		Module load: settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "partback.h"
#include "auth.h"
#include "gate.h"

PG_MODULE_MAGIC;

int			partback_max_workers_per_job = 2;
char	   *partback_compression = NULL;
int			partback_compression_level = 0;
int			partback_chunk_size_mb = 256;
int			partback_max_rate = 0;
char	   *partback_allowed_dirs = NULL;

void		_PG_init(void);

static bool
check_compression(char **newval, void **extra, GucSource source)
{
	const char *valid[] = {"zstd", "lz4", "gzip", "none"};

	for (int i = 0; i < lengthof(valid); i++)
		if (pg_strcasecmp(*newval, valid[i]) == 0)
			return true;
	GUC_check_errdetail("Valid compression methods are zstd, lz4, gzip and none.");
	return false;
}

/*
 * Every entry of partback.allowed_dirs must be an absolute path: a relative
 * one could never match a backup dir, which is absolute.
 */
static bool
check_allowed_dirs(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *dirs;
	ListCell   *lc;

	if (!SplitDirectoriesString(raw, ',', &dirs))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	foreach(lc, dirs)
	{
		if (!is_absolute_path((char *) lfirst(lc)))
		{
			GUC_check_errdetail("\"%s\" is not an absolute path.", (char *) lfirst(lc));
			return false;
		}
	}
	return true;
}

/* partback.auth_key_file: empty, or an absolute path */
static bool
check_auth_key_file(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0' && !is_absolute_path(*newval))
	{
		GUC_check_errdetail("\"%s\" is not an absolute path.", *newval);
		return false;
	}
	return true;
}

void
_PG_init(void)
{
	DefineCustomIntVariable("partback.max_workers_per_job",
							"Default number of copy workers of one job.",
							NULL,
							&partback_max_workers_per_job,
							2, 1, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("partback.compression",
							   "Compression of backup data files: zstd, lz4, gzip or none.",
							   NULL,
							   &partback_compression,
							   "zstd",
							   PGC_USERSET, 0,
							   check_compression, NULL, NULL);

	DefineCustomIntVariable("partback.compression_level",
							"Compression level; 0 means partback's default for the method (zstd 1, lz4 fast, gzip 6).",
							NULL,
							&partback_compression_level,
							0, 0, 22,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("partback.chunk_size",
							"Heap size of a partition above which it is split into several data files.",
							NULL,
							&partback_chunk_size_mb,
							256, 1, 1024 * 1024,
							PGC_USERSET, GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("partback.max_rate",
							"Most data one copy worker reads per second, in MB; 0 means no limit.",
							"Limits the I/O a job adds to the server's load.",
							&partback_max_rate,
							0, 0, 1024 * 1024,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("partback.allowed_dirs",
							   "Directories under which backup directories may lie, separated by commas.",
							   "Empty: superusers may use any directory, other users none.",
							   &partback_allowed_dirs,
							   "",
							   PGC_SUSET, GUC_LIST_INPUT,
							   check_allowed_dirs, NULL, NULL);

	DefineCustomStringVariable("partback.auth_key_file",
							   "File of the key that authenticates backups (at least 32 bytes, mode 0600).",
							   "Empty: backups are written and read without authentication.",
							   &partback_auth_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_auth_key_file, NULL, NULL);
	pb_claims_init();
	pb_gate_init();
	pb_history_init();

	MarkGUCPrefixReserved("partback");

	if (process_shared_preload_libraries_in_progress)
	{
		pb_shmem_init();
		pb_register_launcher();
	}
}
