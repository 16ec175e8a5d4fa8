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
	return total;
}

/*
 * Load the stream of r into rel, naming the stream's columns (a List of
 * char *) so that a target whose column order differs still matches.
 * freeze when rel was created or truncated in this transaction.
 */
uint64
pb_copy_in(Relation rel, List *column_names, PbReader *r, const char *path,
		   bool freeze)
{
	ParseState *pstate = make_parsestate(NULL);
	List	   *attnames = NIL;
	List	   *options;
	ListCell   *lc;
	CopyFromState cstate;
	uint64		rows;

	foreach(lc, column_names)
		attnames = lappend(attnames, makeString(lfirst(lc)));
	options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	if (freeze)
		options = lappend(options, makeDefElem("freeze", (Node *) makeBoolean(true), -1));

	/* CopyFrom expects the relation as range table entry 1 */
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL,
										 false, false);

	Assert(current_reader == NULL);
	current_reader = r;
	PG_TRY();
	{
		cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false,
							   read_backup_stream, attnames, options);
		rows = CopyFrom(cstate);
		EndCopyFrom(cstate);
		/* reach the end, so that the reader verifies the checksum */
		{
			char		extra;

			if (pb_reader_read(r, &extra, 1) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("backup file \"%s\" has data after the end of its COPY stream",
								path)));
		}
	}
	PG_FINALLY();
	{
		current_reader = NULL;
	}
	PG_END_TRY();
	free_parsestate(pstate);
	return rows;
}
