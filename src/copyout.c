/*-------------------------------------------------------------------------
 *
 * copyout.c
 *		The partition reader: a range of a heap relation's blocks, read
 *		under a snapshot, written as one PostgreSQL binary COPY stream (the
 *		bytes COPY ... TO ... (FORMAT binary) produces for those rows).
 *
 *		It reads page by page, as heapam's page-at-a-time scan does, so
 *		that it also sees what a later backup needs to know whether the
 *		range changed: the newest page LSN, and whether any tuple was
 *		written or deleted by a transaction still in progress for the
 *		snapshot (such a change has an old LSN but becomes visible later).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/tableam.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bswap.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "partback.h"

static const char copy_signature[11] = "PGCOPY\n\377\r\n\0";

static void
append_int32(StringInfo buf, int32 value)
{
	uint32		net = pg_hton32((uint32) value);

	appendBinaryStringInfo(buf, (char *) &net, sizeof(net));
}

static void
append_int16(StringInfo buf, int16 value)
{
	uint16		net = pg_hton16((uint16) value);

	appendBinaryStringInfo(buf, (char *) &net, sizeof(net));
}

/*
 * Was tuple inserted or deleted by a transaction that the snapshot sees as
 * in progress?  Row locks do not change content and do not count.
 */
static bool
changed_in_flight(HeapTupleHeader tuple, Snapshot snapshot)
{
	TransactionId xmin = HeapTupleHeaderGetRawXmin(tuple);

	if (!HeapTupleHeaderXminFrozen(tuple) && TransactionIdIsNormal(xmin) &&
		XidInMVCCSnapshot(xmin, snapshot))
		return true;
	if (!(tuple->t_infomask & HEAP_XMAX_INVALID) &&
		!HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_infomask))
	{
		TransactionId xmax = HeapTupleHeaderGetUpdateXid(tuple);

		if (TransactionIdIsNormal(xmax) && XidInMVCCSnapshot(xmax, snapshot))
			return true;
	}
	return false;
}

/* Sleep as needed so that bytes since started keep within max_rate MB/s. */
void
pb_throttle(int max_rate, uint64 bytes, TimestampTz started)
{
	long		due_ms;
	long		elapsed_ms;

	if (max_rate <= 0)
		return;
	due_ms = (long) (bytes * 1000 / ((uint64) max_rate * 1024 * 1024));
	elapsed_ms = (long) ((GetCurrentTimestamp() - started) / 1000);
	if (due_ms > elapsed_ms)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 due_ms - elapsed_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Write the rows of rel visible to snapshot in blocks [start, start +
 * nblocks) -- or from start to the end when to_end -- to w.  Columns are
 * those COPY writes by default: not dropped, not generated, in attribute
 * order.  Returns the number of rows and fills stats.
 */
uint64
pb_copy_out(Relation rel, Snapshot snapshot, BlockNumber start,
			BlockNumber nblocks, bool to_end, PbWriter *w, int max_rate,
			PbCopyStats *stats)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	FmgrInfo   *send = palloc0(sizeof(FmgrInfo) * natts);
	int		   *columns = palloc(sizeof(int) * natts);
	int			ncolumns = 0;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *isnull = palloc(sizeof(bool) * natts);
	OffsetNumber visible[MaxHeapTuplesPerPage];
	StringInfoData buf;
	MemoryContext row_context;
	BufferAccessStrategy strategy;
	BlockNumber end;
	uint64		rows = 0;
	uint64		bytes = 0;
	TimestampTz started = GetCurrentTimestamp();

	if (rel->rd_tableam != GetHeapamTableAmRoutine())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot back up table \"%s\": it does not use the heap access method",
						RelationGetRelationName(rel))));

	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			func;
		bool		isvarlena;

		if (att->attisdropped || att->attgenerated)
			continue;
		getTypeBinaryOutputInfo(att->atttypid, &func, &isvarlena);
		fmgr_info(func, &send[i]);
		columns[ncolumns++] = i;
	}

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, copy_signature, sizeof(copy_signature));
	append_int32(&buf, 0);		/* flags */
	append_int32(&buf, 0);		/* header extension length */
	pb_writer_write(w, buf.data, buf.len);
	bytes += buf.len;

	stats->inflight = false;
	stats->max_lsn = InvalidXLogRecPtr;

	/*
	 * Rows visible to the snapshot lie in blocks that existed when their
	 * transactions committed, so the current size covers them all.
	 */
	end = RelationGetNumberOfBlocks(rel);
	if (!to_end && start + nblocks < end)
		end = start + nblocks;

	row_context = AllocSetContextCreate(CurrentMemoryContext, "partback row",
										ALLOCSET_DEFAULT_SIZES);
	/* a ring buffer, so that the backup does not evict shared_buffers */
	strategy = GetAccessStrategy(BAS_BULKREAD);

	for (BlockNumber blk = start; blk < end; blk++)
	{
		Buffer		buffer;
		Page		page;
		int			nvisible = 0;
		uint64		page_rows = 0;
		uint64		page_bytes = 0;

		CHECK_FOR_INTERRUPTS();
		buffer = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		TestForOldSnapshot(snapshot, rel, page);
		if (PageGetLSN(page) > stats->max_lsn)
			stats->max_lsn = PageGetLSN(page);

		if (!PageIsNew(page))
		{
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
			bool		all_visible = PageIsAllVisible(page) &&
				!snapshot->takenDuringRecovery;

			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
			{
				ItemId		lpp = PageGetItemId(page, off);
				HeapTupleData tuple;

				if (!ItemIdIsNormal(lpp))
					continue;
				tuple.t_data = (HeapTupleHeader) PageGetItem(page, lpp);
				tuple.t_len = ItemIdGetLength(lpp);
				tuple.t_tableOid = RelationGetRelid(rel);
				ItemPointerSet(&tuple.t_self, blk, off);

				if (all_visible)
					visible[nvisible++] = off;
				else
				{
					if (!stats->inflight && changed_in_flight(tuple.t_data, snapshot))
						stats->inflight = true;
					if (HeapTupleSatisfiesVisibility(&tuple, snapshot, buffer))
						visible[nvisible++] = off;
				}
			}
		}
		/* the pin keeps the visible tuples in place while they are sent */
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);

		for (int v = 0; v < nvisible; v++)
		{
			ItemId		lpp = PageGetItemId(page, visible[v]);
			HeapTupleData tuple;
			MemoryContext old;

			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lpp);
			tuple.t_len = ItemIdGetLength(lpp);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blk, visible[v]);

			old = MemoryContextSwitchTo(row_context);
			heap_deform_tuple(&tuple, desc, values, isnull);
			resetStringInfo(&buf);
			append_int16(&buf, (int16) ncolumns);
			for (int c = 0; c < ncolumns; c++)
			{
				int			i = columns[c];

				if (isnull[i])
					append_int32(&buf, -1);
				else
				{
					bytea	   *out = SendFunctionCall(&send[i], values[i]);

					append_int32(&buf, VARSIZE(out) - VARHDRSZ);
					appendBinaryStringInfo(&buf, VARDATA(out), VARSIZE(out) - VARHDRSZ);
				}
			}
			MemoryContextSwitchTo(old);
			pb_writer_write(w, buf.data, buf.len);
			MemoryContextReset(row_context);
			page_rows++;
			page_bytes += buf.len;
		}
		ReleaseBuffer(buffer);

		rows += page_rows;
		bytes += page_bytes;
		pb_live_add(page_rows, page_bytes);
		pb_throttle(max_rate, bytes, started);
	}

	resetStringInfo(&buf);
	append_int16(&buf, -1);		/* trailer */
	pb_writer_write(w, buf.data, buf.len);

	FreeAccessStrategy(strategy);
	MemoryContextDelete(row_context);
	pfree(buf.data);
	return rows;
}

/*
 * The newest page LSN in a block range of rel, as pb_copy_out would see
 * it: with the stats of an earlier copy of the same range, it tells
 * whether the range may have changed since.
 */
XLogRecPtr
pb_range_max_lsn(Relation rel, BlockNumber start, BlockNumber nblocks, bool to_end)
{
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	BlockNumber end = RelationGetNumberOfBlocks(rel);
	XLogRecPtr	max_lsn = InvalidXLogRecPtr;

	if (!to_end && start + nblocks < end)
		end = start + nblocks;
	for (BlockNumber blk = start; blk < end; blk++)
	{
		Buffer		buffer;
		XLogRecPtr	lsn;

		CHECK_FOR_INTERRUPTS();
		buffer = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		lsn = PageGetLSN(BufferGetPage(buffer));
		UnlockReleaseBuffer(buffer);
		if (lsn > max_lsn)
			max_lsn = lsn;
	}
	FreeAccessStrategy(strategy);
	return max_lsn;
}
