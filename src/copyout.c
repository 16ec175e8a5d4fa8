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
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "common/relpath.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bswap.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/wait_event.h"

#include "partback.h"

static const char copy_signature[11] = "PGCOPY\n\377\r\n\0";

/* rows are handed to the compressor in pieces of about this size */
#define PB_COPY_OUT_BUFSIZE (256 * 1024)

/*
 * How a column's value is sent.  The common types are written here exactly
 * as their send functions write them, without the function call and the
 * buffer each call allocates; every other type goes through its send
 * function.  Matching on the send function also covers domains.  A column
 * whose type needs it (pb_type_needs_text_form) is written in its text
 * form.
 */
typedef enum PbSendKind
{
	PB_SEND_CALL,				/* SendFunctionCall */
	PB_SEND_BOOL,				/* one byte, 0 or 1 */
	PB_SEND_CHAR,				/* "char": one byte */
	PB_SEND_INT16,				/* int2 */
	PB_SEND_INT32,				/* int4, oid, date, float4's bits */
	PB_SEND_INT64,				/* int8, float8's bits, time, timestamp[tz] */
	PB_SEND_BYTES,				/* text and friends, bytea: the bytes */
	PB_SEND_NUMERIC,			/* numeric, but NaN and infinities */
	PB_SEND_TEXT				/* the output function's text, as textsend
								 * sends text */
} PbSendKind;

typedef struct PbColumnSender
{
	int			attnum;			/* index into the tuple descriptor */
	PbSendKind	kind;
	FmgrInfo	send;			/* PB_SEND_TEXT: the output function */
} PbColumnSender;

/*
 * Does the binary form of a value of typid carry the OID of a type that
 * another cluster may number differently?  array_send writes its element
 * type's OID and record_send each field's; OIDs below FirstGenbkiObjectId
 * are fixed by PostgreSQL's catalog data and the same everywhere, while
 * those above are assigned by initdb (information_schema's domains, which
 * differ between majors) or at CREATE time (user and extension types).
 * array_recv and record_recv refuse an OID other than the target's.
 */
static inline bool
oid_not_portable(Oid typid)
{
	return typid >= FirstGenbkiObjectId;
}

/*
 * Is typid an OID alias type (regclass, regtype, ...)?  The binary form of
 * a value is the named object's OID, which names another object, or none,
 * in another cluster or once the object is made again; the text form is
 * its name, which pg_dump writes too.
 */
static bool
is_oid_alias_type(Oid typid)
{
	switch (typid)
	{
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGTYPEOID:
		case REGCOLLATIONOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
			return true;
		default:
			return false;
	}
}

/*
 * Is a column of type typid written in its text form rather than its
 * binary one?  Yes when the type, or a type its binary form contains
 * (through domains, arrays, composites, ranges and multiranges), has no
 * send or receive function or is an OID alias type (is_oid_alias_type), or
 * when the binary form carries a type OID that is not portable (see
 * oid_not_portable).  Depends on the catalog
 * only: type OIDs, and send and receive functions (ALTER TYPE ... SET may
 * change those of a base type), so it is part of a partition's column
 * signature.
 */
bool
pb_type_needs_text_form(Oid typid)
{
	HeapTuple	tup;
	Form_pg_type typ;
	bool		result = false;

	check_stack_depth();
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	typ = (Form_pg_type) GETSTRUCT(tup);

	if (!OidIsValid(typ->typsend) || !OidIsValid(typ->typreceive) || is_oid_alias_type(typid))
		result = true;
	else if (typ->typtype == TYPTYPE_DOMAIN)
		result = pb_type_needs_text_form(typ->typbasetype);
	else if (typ->typtype == TYPTYPE_COMPOSITE)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(typid, -1);

		for (int i = 0; i < desc->natts && !result; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped)
				result = oid_not_portable(att->atttypid) ||
					pb_type_needs_text_form(att->atttypid);
		}
		ReleaseTupleDesc(desc);
	}
	else if (typ->typtype == TYPTYPE_RANGE)
		result = pb_type_needs_text_form(get_range_subtype(typid));
	else if (typ->typtype == TYPTYPE_MULTIRANGE)
		result = pb_type_needs_text_form(get_multirange_range(typid));
	else if (IsTrueArrayType(typ))
		result = oid_not_portable(typ->typelem) ||
			pb_type_needs_text_form(typ->typelem);
	ReleaseSysCache(tup);
	return result;
}

static PbSendKind
send_kind(Oid sendfunc)
{
	int			client = pg_get_client_encoding();
	int			server = GetDatabaseEncoding();

	switch (sendfunc)
	{
		case F_BOOLSEND:
			return PB_SEND_BOOL;
		case F_CHARSEND:
			return PB_SEND_CHAR;
		case F_INT2SEND:
			return PB_SEND_INT16;
		case F_INT4SEND:
		case F_OIDSEND:
		case F_DATE_SEND:
		case F_FLOAT4SEND:
			return PB_SEND_INT32;
		case F_INT8SEND:
		case F_FLOAT8SEND:
		case F_TIME_SEND:
		case F_TIMESTAMP_SEND:
		case F_TIMESTAMPTZ_SEND:
			return PB_SEND_INT64;
		case F_BYTEASEND:
			return PB_SEND_BYTES;
		case F_TEXTSEND:
		case F_VARCHARSEND:
		case F_BPCHARSEND:
			/* their send functions convert to the client encoding */
			if (client == server || client == PG_SQL_ASCII || server == PG_SQL_ASCII)
				return PB_SEND_BYTES;
			return PB_SEND_CALL;
		case F_NUMERIC_SEND:
			return PB_SEND_NUMERIC;
	}
	return PB_SEND_CALL;
}

/* Room for len more bytes in buf; the caller appends them. */
static inline char *
reserve(StringInfo buf, int len)
{
	char	   *p;

	if (buf->maxlen - buf->len <= len)
		enlargeStringInfo(buf, len);
	p = buf->data + buf->len;
	buf->len += len;
	return p;
}

static inline void
append_int16(StringInfo buf, int16 value)
{
	uint16		net = pg_hton16((uint16) value);

	memcpy(reserve(buf, sizeof(net)), &net, sizeof(net));
}

static inline void
append_int32(StringInfo buf, int32 value)
{
	uint32		net = pg_hton32((uint32) value);

	memcpy(reserve(buf, sizeof(net)), &net, sizeof(net));
}

static inline void
append_int64(StringInfo buf, int64 value)
{
	uint64		net = pg_hton64((uint64) value);

	memcpy(reserve(buf, sizeof(net)), &net, sizeof(net));
}

/* A field: its length, then its bytes. */
static inline void
append_field(StringInfo buf, const char *data, int len)
{
	append_int32(buf, len);
	memcpy(reserve(buf, len), data, len);
}

/*
 * numeric_send's output, read off the stored form: ndigits, weight, sign
 * and dscale as int16, then the base-10000 digits.  The stored header is
 * either short (flag bits 10: sign, dscale and weight packed in 16 bits) or
 * long (a sign/dscale word, then a weight word).  Returns false for NaN and
 * the infinities (flag bits 11), which go through numeric_send.
 */
static bool
append_numeric(StringInfo buf, Datum value)
{
	struct varlena *num = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));
	const char *p = VARDATA_ANY(num);
	int			len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int16		weight;
	uint16		sign;
	uint16		dscale;
	int			ndigits;
	char	   *out;

	memcpy(&header, p, sizeof(header));
	if ((header & 0xC000) == 0xC000)
		return false;
	if (header & 0x8000)
	{
		sign = (header & 0x2000) ? 0x4000 : 0x0000;
		dscale = (header & 0x1F80) >> 7;
		weight = (int16) ((header & 0x0040) ? (~0x003F | (header & 0x003F)) :
						  (header & 0x003F));
		p += sizeof(uint16);
		len -= sizeof(uint16);
	}
	else
	{
		int16		long_weight;

		sign = header & 0xC000;
		dscale = header & 0x3FFF;
		memcpy(&long_weight, p + sizeof(uint16), sizeof(int16));
		weight = long_weight;
		p += sizeof(uint16) + sizeof(int16);
		len -= sizeof(uint16) + sizeof(int16);
	}
	ndigits = len / sizeof(int16);

	append_int32(buf, (4 + ndigits) * sizeof(int16));
	append_int16(buf, (int16) ndigits);
	append_int16(buf, weight);
	append_int16(buf, (int16) sign);
	append_int16(buf, (int16) dscale);
	out = reserve(buf, ndigits * sizeof(int16));
	for (int d = 0; d < ndigits; d++)
	{
		int16		digit;
		uint16		net;

		memcpy(&digit, p + d * sizeof(int16), sizeof(digit));
		net = pg_hton16((uint16) digit);
		memcpy(out + d * sizeof(int16), &net, sizeof(net));
	}
	return true;
}

/* One non-null value, as its type's send function would write it. */
static inline void
append_value(StringInfo buf, PbColumnSender *col, Datum value)
{
	switch (col->kind)
	{
		case PB_SEND_BOOL:
			append_int32(buf, 1);
			*reserve(buf, 1) = DatumGetBool(value) ? 1 : 0;
			return;
		case PB_SEND_CHAR:
			append_int32(buf, 1);
			*reserve(buf, 1) = DatumGetChar(value);
			return;
		case PB_SEND_INT16:
			append_int32(buf, 2);
			append_int16(buf, DatumGetInt16(value));
			return;
		case PB_SEND_INT32:
			append_int32(buf, 4);
			append_int32(buf, DatumGetInt32(value));
			return;
		case PB_SEND_INT64:
			append_int32(buf, 8);
			append_int64(buf, DatumGetInt64(value));
			return;
		case PB_SEND_BYTES:
			{
				struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

				append_field(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
				return;
			}
		case PB_SEND_NUMERIC:
			if (append_numeric(buf, value))
				return;
			/* NaN or an infinity */
			/* FALLTHROUGH */
		case PB_SEND_CALL:
			{
				bytea	   *out = SendFunctionCall(&col->send, value);

				append_field(buf, VARDATA(out), VARSIZE(out) - VARHDRSZ);
				return;
			}
		case PB_SEND_TEXT:
			{
				char	   *text = OutputFunctionCall(&col->send, value);
				int			len = strlen(text);
				char	   *sent = pg_server_to_client(text, len);

				if (sent != text)
					len = strlen(sent);
				append_field(buf, sent, len);
				return;
			}
	}
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

static XLogRecPtr settled_lsn(Relation rel, BlockNumber start, BlockNumber end,
							  bool to_end, const XLogRecPtr *page_lsns,
							  BufferAccessStrategy strategy);

/*
 * Write the rows of rel visible to snapshot in blocks [start, start +
 * nblocks) -- or from start to the end when to_end -- to w.  Columns are
 * those COPY writes by default: not dropped, not generated, in attribute
 * order; each in its type's binary form, or its text form where
 * pb_type_needs_text_form says so.  Returns the number of rows and fills
 * stats; snapshot_lsn is the WAL insert position when snapshot was taken.
 */
uint64
pb_copy_out(Relation rel, Snapshot snapshot, XLogRecPtr snapshot_lsn,
			BlockNumber start, BlockNumber nblocks, bool to_end, PbWriter *w,
			int max_rate, PbCopyStats *stats)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	PbColumnSender *columns = palloc0(sizeof(PbColumnSender) * natts);
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
	XLogRecPtr	max_lsn = InvalidXLogRecPtr;
	XLogRecPtr *page_lsns;
	bool		hinted = false;

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
		columns[ncolumns].attnum = i;
		if (pb_type_needs_text_form(att->atttypid))
		{
			getTypeOutputInfo(att->atttypid, &func, &isvarlena);
			columns[ncolumns].kind = PB_SEND_TEXT;
		}
		else
		{
			getTypeBinaryOutputInfo(att->atttypid, &func, &isvarlena);
			columns[ncolumns].kind = send_kind(func);
		}
		fmgr_info(func, &columns[ncolumns].send);
		ncolumns++;
	}

	/* rows collect in buf and go to the writer in large pieces */
	initStringInfo(&buf);
	enlargeStringInfo(&buf, PB_COPY_OUT_BUFSIZE);
	appendBinaryStringInfo(&buf, copy_signature, sizeof(copy_signature));
	append_int32(&buf, 0);		/* flags */
	append_int32(&buf, 0);		/* header extension length */
	bytes += buf.len;

	stats->inflight = false;

	/*
	 * Rows visible to the snapshot lie in blocks that existed when their
	 * transactions committed, so the current size covers them all.
	 */
	end = RelationGetNumberOfBlocks(rel);
	if (!to_end && start + nblocks < end)
		end = start + nblocks;
	/* each page's LSN as the copy left it */
	page_lsns = palloc(sizeof(XLogRecPtr) * Max(end > start ? end - start : 0, 1));

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
		XLogRecPtr	lsn_before;

		CHECK_FOR_INTERRUPTS();
		buffer = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		pb_test_for_old_snapshot(snapshot, rel, page);
		lsn_before = BufferGetLSNAtomic(buffer);
		max_lsn = Max(max_lsn, lsn_before);

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


		/*
		 * Under a share lock a page changes only by hint bits, which log the
		 * page anew (a newer LSN) with data checksums or wal_log_hints.
		 */
		page_lsns[blk - start] = BufferGetLSNAtomic(buffer);
		if (page_lsns[blk - start] != lsn_before)
			hinted = true;
		/* the pin keeps the visible tuples in place while they are sent */
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);

		for (int v = 0; v < nvisible; v++)
		{
			ItemId		lpp = PageGetItemId(page, visible[v]);
			HeapTupleData tuple;
			MemoryContext old;
			int			row_start = buf.len;

			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lpp);
			tuple.t_len = ItemIdGetLength(lpp);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blk, visible[v]);

			/* detoasted values and send functions' results live per row */
			old = MemoryContextSwitchTo(row_context);
			heap_deform_tuple(&tuple, desc, values, isnull);
			append_int16(&buf, (int16) ncolumns);
			for (int c = 0; c < ncolumns; c++)
			{
				int			i = columns[c].attnum;

				if (isnull[i])
					append_int32(&buf, -1);
				else
					append_value(&buf, &columns[c], values[i]);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_context);
			page_rows++;
			page_bytes += buf.len - row_start;
			if (buf.len >= PB_COPY_OUT_BUFSIZE)
			{
				pb_writer_write(w, buf.data, buf.len);
				resetStringInfo(&buf);
			}
		}
		ReleaseBuffer(buffer);

		rows += page_rows;
		bytes += page_bytes;
		pb_live_add(page_rows, page_bytes);
		pb_throttle(max_rate, bytes, started);
	}

	append_int16(&buf, -1);		/* trailer */
	pb_writer_write(w, buf.data, buf.len);

	/*
	 * No page newer than the snapshot: nothing changed since, the copy has
	 * it all.  If the copy's hint bits gave pages newer LSNs, the range is
	 * still unchanged while no page is newer than when settled_lsn checked
	 * them.
	 */
	stats->unchanged_lsn = snapshot_lsn;
	if (hinted && max_lsn <= snapshot_lsn)
	{
		XLogRecPtr	settled = settled_lsn(rel, start, end, to_end, page_lsns,
										  strategy);

		if (!XLogRecPtrIsInvalid(settled))
			stats->unchanged_lsn = settled;
	}
	pfree(page_lsns);

	FreeAccessStrategy(strategy);
	MemoryContextDelete(row_context);
	pfree(buf.data);
	return rows;
}

/* The segment file of a relation that block_lsn reads, kept open. */
typedef struct PbSegmentFile
{
	File		file;
	BlockNumber segno;
} PbSegmentFile;

/*
 * The LSN stored at the start of block blk in its segment file, or
 * InvalidXLogRecPtr for a block past the file's end.
 */
static XLogRecPtr
file_block_lsn(Relation rel, BlockNumber blk, PbSegmentFile *seg)
{
	PageXLogRecPtr stored;
	int			n;

	n = FileRead(seg->file, (char *) &stored, sizeof(stored),
				 (off_t) (blk % RELSEG_SIZE) * BLCKSZ, WAIT_EVENT_DATA_FILE_READ);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read block %u of relation %s: %m",
						blk, RelationGetRelationName(rel))));
	/* a block past the end now: truncated away since, nothing to copy */
	if (n < (int) sizeof(stored))
		return InvalidXLogRecPtr;
	return PageXLogRecPtrGet(stored);
}

/*
 * The LSN a block of rel has now.  A page in shared buffers is read there
 * (a dirty one is newer than its file).  Any other page's LSN is read from
 * its file -- 8 bytes, not the page -- before and after the buffer mapping
 * partition is found not to hold it, with no I/O under that lock: a page
 * loaded, changed and written back meanwhile changes its LSN in the file,
 * so two equal reads are what the file held when the page was not loaded.
 */
static XLogRecPtr
block_lsn(Relation rel, BlockNumber blk, PbSegmentFile *seg,
		  BufferAccessStrategy strategy)
{
	BufferTag	tag;
	uint32		hash;
	LWLock	   *partition;
	int			buf_id;
	Buffer		buffer;
	XLogRecPtr	lsn;
	XLogRecPtr	before;

	if (seg->file < 0 || seg->segno != blk / RELSEG_SIZE)
	{
		char	   *path = pb_relpath_main(rel);

		if (seg->file >= 0)
			FileClose(seg->file);
		seg->segno = blk / RELSEG_SIZE;
		if (seg->segno > 0)
			path = psprintf("%s.%u", path, seg->segno);
		seg->file = PathNameOpenFile(path, O_RDONLY | PG_BINARY);
		if (seg->file < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", path)));
	}

	pb_init_buffer_tag(tag, rel, MAIN_FORKNUM, blk);
	hash = BufTableHashCode(&tag);
	partition = BufMappingPartitionLock(hash);
	before = file_block_lsn(rel, blk, seg);
	for (;;)
	{
		LWLockAcquire(partition, LW_SHARED);
		buf_id = BufTableLookup(&tag, hash);
		LWLockRelease(partition);
		if (buf_id >= 0)
			break;
		lsn = file_block_lsn(rel, blk, seg);
		if (lsn == before)
			return lsn;
		before = lsn;
		CHECK_FOR_INTERRUPTS();
	}

	if (ReadRecentBuffer(PB_REL_LOCATOR(rel), MAIN_FORKNUM, blk, buf_id + 1))
		buffer = buf_id + 1;
	else
		buffer = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	lsn = PageGetLSN(BufferGetPage(buffer));
	UnlockReleaseBuffer(buffer);
	return lsn;
}

/*
 * After a copy whose hint bits logged pages anew: the WAL position from
 * which on the range [start, end) is unchanged, or InvalidXLogRecPtr.  The
 * position is taken first; then every page must still have the LSN the
 * copy left it with (page_lsns), and a range to the end no page more.  A
 * change made after a page was checked has a newer LSN than the position;
 * one made before would have changed the page's LSN.
 */
static XLogRecPtr
settled_lsn(Relation rel, BlockNumber start, BlockNumber end, bool to_end,
			const XLogRecPtr *page_lsns, BufferAccessStrategy strategy)
{
	XLogRecPtr	settled = GetXLogInsertRecPtr();
	PbSegmentFile seg = {-1, 0};

	if (to_end && RelationGetNumberOfBlocks(rel) != end)
		settled = InvalidXLogRecPtr;
	for (BlockNumber blk = start; blk < end && !XLogRecPtrIsInvalid(settled); blk++)
	{
		CHECK_FOR_INTERRUPTS();
		if (block_lsn(rel, blk, &seg, strategy) != page_lsns[blk - start])
			settled = InvalidXLogRecPtr;
	}
	if (seg.file >= 0)
		FileClose(seg.file);
	return settled;
}

/*
 * The newest page LSN in a block range of rel, as pb_copy_out would see
 * it: with the stats of an earlier copy of the same range, it tells
 * whether the range may have changed since.  Reads page LSNs, not pages.
 */
XLogRecPtr
pb_range_max_lsn(Relation rel, BlockNumber start, BlockNumber nblocks, bool to_end)
{
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	BlockNumber end = RelationGetNumberOfBlocks(rel);
	XLogRecPtr	max_lsn = InvalidXLogRecPtr;
	PbSegmentFile seg = {-1, 0};

	if (!to_end && start + nblocks < end)
		end = start + nblocks;
	for (BlockNumber blk = start; blk < end; blk++)
	{
		XLogRecPtr	lsn;

		CHECK_FOR_INTERRUPTS();
		lsn = block_lsn(rel, blk, &seg, strategy);
		if (lsn > max_lsn)
			max_lsn = lsn;
	}
	if (seg.file >= 0)
		FileClose(seg.file);
	FreeAccessStrategy(strategy);
	return max_lsn;
}
