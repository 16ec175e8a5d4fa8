/*-------------------------------------------------------------------------
 *
 * copyout.c
 *		The partition reader: a range of a relation's blocks, read under a
 *		snapshot, written as one PostgreSQL binary COPY stream (the same
 *		bytes COPY ... TO ... (FORMAT binary) produces for those rows).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

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
 * Write the rows of rel visible to snapshot in blocks [start, start +
 * nblocks) -- or from start to the end when to_end -- to w.  Columns are
 * those COPY writes by default: not dropped, not generated, in attribute
 * order.  Returns the number of rows.
 */
uint64
pb_copy_out(Relation rel, Snapshot snapshot, BlockNumber start,
			BlockNumber nblocks, bool to_end, PbWriter *w)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	FmgrInfo   *send = palloc0(sizeof(FmgrInfo) * natts);
	int		   *columns = palloc(sizeof(int) * natts);
	int			ncolumns = 0;
	StringInfoData buf;
	MemoryContext row_context;
	MemoryContext old;
	TableScanDesc scan;
	TupleTableSlot *slot;
	uint64		rows = 0;
	bool		is_heap = rel->rd_tableam == GetHeapamTableAmRoutine();

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

	row_context = AllocSetContextCreate(CurrentMemoryContext, "partback row",
										ALLOCSET_DEFAULT_SIZES);

	/* a bulk-read strategy, so the scan does not evict shared_buffers */
	scan = table_beginscan_strat(rel, snapshot, 0, NULL, true, false);
	if (is_heap)
	{
		BlockNumber total = ((HeapScanDesc) scan)->rs_nblocks;
		BlockNumber count;

		if (start >= total)
			count = 0;
		else if (to_end)
			count = total - start;
		else
			count = Min(nblocks, total - start);
		if (count == 0)
		{
			table_endscan(scan);
			scan = NULL;
		}
		else
			heap_setscanlimits(scan, start, count);
	}
	else if (start > 0)
	{
		/* other access methods are copied whole, as the first chunk */
		table_endscan(scan);
		scan = NULL;
	}

	slot = table_slot_create(rel, NULL);
	while (scan && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);

		old = MemoryContextSwitchTo(row_context);
		resetStringInfo(&buf);
		append_int16(&buf, (int16) ncolumns);
		for (int c = 0; c < ncolumns; c++)
		{
			int			i = columns[c];

			if (slot->tts_isnull[i])
				append_int32(&buf, -1);
			else
			{
				bytea	   *out = SendFunctionCall(&send[i], slot->tts_values[i]);

				append_int32(&buf, VARSIZE(out) - VARHDRSZ);
				appendBinaryStringInfo(&buf, VARDATA(out), VARSIZE(out) - VARHDRSZ);
			}
		}
		MemoryContextSwitchTo(old);
		pb_writer_write(w, buf.data, buf.len);
		MemoryContextReset(row_context);
		rows++;
	}
	if (scan)
		table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);

	resetStringInfo(&buf);
	append_int16(&buf, -1);		/* trailer */
	pb_writer_write(w, buf.data, buf.len);

	MemoryContextDelete(row_context);
	pfree(buf.data);
	return rows;
}
