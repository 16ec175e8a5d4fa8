/*-------------------------------------------------------------------------
 *
 * copyin.c
 *		The partition writer: a binary COPY stream read from a backup file
 *		is loaded into a relation by PostgreSQL's own COPY FROM machinery
 *		(batched inserts, index maintenance, constraint checks).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/copy.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "utils/rel.h"

#include "partback.h"

/* COPY's data source callback takes no argument; one load runs at a time. */
static PbReader *current_reader = NULL;
static int	current_max_rate;
static uint64 current_bytes;
static TimestampTz current_started;

static int
read_backup_stream(void *outbuf, int minread, int maxread)
{
	int			total = 0;

	while (total < minread)
	{
		size_t		n = pb_reader_read(current_reader, (char *) outbuf + total,
									   maxread - total);

		if (n == 0)
			break;
		total += n;
	}
	current_bytes += total;
	pb_throttle(current_max_rate, current_bytes, current_started);
	return total;
}

/*
 * When loading a file failed, say so if the file is damaged: a flipped
 * byte can decompress into values whose own errors would hide the cause.
 */
static void
report_if_damaged(const char *path, const char *sha256, int64 stored_bytes)
{
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
	int64		size;

	pb_sha256_file(path, hex, &size);
	if (size != stored_bytes || strcmp(hex, sha256) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum mismatch in backup file \"%s\"", path),
				 errdetail("Expected SHA-256 %s (" INT64_FORMAT " bytes), computed %s (" INT64_FORMAT " bytes).",
						   sha256, stored_bytes, hex, size)));
}

/*
 * Load the data file at path (its compression, checksum and size as the
 * metadata gives them) into rel.  column_names (char *) are the stream's
 * columns, so a target whose column order differs still matches.  freeze
 * when rel was created or truncated in this transaction; max_rate limits the
 * speed as partback.max_rate says.  The checksum is
 * verified as the file is read; any failure aborts the load.
 */
uint64
pb_copy_in(Relation rel, List *column_names, const char *path,
		   PbCompression compression, const char *sha256, int64 stored_bytes,
		   bool freeze, int max_rate)
{
	ParseState *pstate = make_parsestate(NULL);
	MemoryContext context = CurrentMemoryContext;
	List	   *attnames = NIL;
	List	   *options;
	ListCell   *lc;
	CopyFromState cstate;
	PbReader   *r;
	uint64		rows = 0;

	foreach(lc, column_names)
		attnames = lappend(attnames, makeString(lfirst(lc)));
	options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	if (freeze)
		options = lappend(options, makeDefElem("freeze", (Node *) makeBoolean(true), -1));

	/* CopyFrom expects the relation as range table entry 1 */
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL,
										 false, false);

	r = pb_reader_open(path, compression, sha256, stored_bytes);
	Assert(current_reader == NULL);
	current_reader = r;
	current_max_rate = max_rate;
	current_bytes = 0;
	current_started = GetCurrentTimestamp();
	PG_TRY();
	{
		char		extra;

		cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false,
							   read_backup_stream, attnames, options);
		rows = CopyFrom(cstate);
		EndCopyFrom(cstate);
		/* read to the end, where the reader verifies size and checksum */
		if (pb_reader_read(r, &extra, 1) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("backup file \"%s\" has data after the end of its COPY stream",
							path)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		current_reader = NULL;
		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED &&
			edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			report_if_damaged(path, sha256, stored_bytes);
		ReThrowError(edata);
	}
	PG_END_TRY();
	current_reader = NULL;
	pb_reader_close(r);
	free_parsestate(pstate);
	return rows;
}
