/*-------------------------------------------------------------------------
 *
 * copyin.c
 *		The partition writer: binary COPY streams read from backup files are
 *		loaded into one leaf relation.
 *
 *		A leaf that was emptied or created in the current transaction, with
 *		no insert triggers, is loaded in bulk: the stream is parsed here
 *		(the common types without a call to their receive functions), rows
 *		are checked against the relation's constraints as COPY checks them,
 *		written frozen with heap_multi_insert, and the indexes are built
 *		once at the end by sorting rather than grown a row at a time.  Any
 *		other leaf goes through PostgreSQL's own COPY FROM.
 *
 *		A column in its text form (FORMAT.md: "text_columns") goes through
 *		its type's input function.  COPY FROM's binary format cannot take
 *		such a column (it calls receive functions), so a leaf that is not
 *		loaded in bulk gets the stream translated into COPY's text format
 *		instead: text forms pass through, binary values go through their
 *		receive and output functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "partback.h"

static const char copy_signature[11] = "PGCOPY\n\377\r\n\0";

/* a batch of rows goes to heap_multi_insert when it has this many rows... */
#define PB_LOAD_BATCH_ROWS	1000
/* ... or this many bytes of values */
#define PB_LOAD_BATCH_BYTES (4 * 1024 * 1024)
/* bytes read from the decompressor at a time */
#define PB_LOAD_READ_SIZE	(256 * 1024)

/*
 * How a field is turned into a value: the common types here, exactly as
 * their receive functions do it (same checks, same errors); every other
 * type through its receive function.
 */
typedef enum PbRecvKind
{
	PB_RECV_CALL,
	PB_RECV_BOOL,
	PB_RECV_CHAR,
	PB_RECV_INT16,
	PB_RECV_INT32,				/* int4, oid, float4's bits */
	PB_RECV_INT64,				/* int8, float8's bits */
	PB_RECV_DATE,
	PB_RECV_TIMESTAMP,			/* timestamp[tz] without a typmod */
	PB_RECV_TEXT,				/* text, varchar without a typmod */
	PB_RECV_BYTEA,
	PB_RECV_INPUT				/* a column in its text form */
} PbRecvKind;

typedef struct PbField
{
	int			attnum;			/* index into the tuple descriptor */
	PbRecvKind	kind;
	FmgrInfo	recv;			/* PB_RECV_INPUT: the input function */
	Oid			typioparam;
	int32		typmod;
} PbField;

struct PbLoad
{
	Relation	rel;
	Relation	heap;			/* where the rows go: rel, or a transient heap */
	List	   *column_names;
	List	   *text_columns;	/* those in their text form */
	bool		freeze;
	bool		bulk;			/* false: each file through CopyFrom */
	bool		translate;		/* CopyFrom gets the stream as COPY text */

	/* the bulk path */
	int			nfields;
	PbField    *fields;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	int			ti_options;
	bool		check_constraints;
	bool		check_partition;
	bool		compute_generated;
	/* made as first needed: most partitions have far fewer rows */
	TupleTableSlot *slots[PB_LOAD_BATCH_ROWS];
	MemoryContext slot_context;
	int			nbuffered;
	size_t		buffered_bytes;
	MemoryContext batch_context;	/* values of the buffered rows */
	StringInfoData field_buf;	/* one field for a receive function */

	/* the file being read, and where in it */
	const char *path;
	uint64		row;			/* 1-based, 0 before the first */
	PbField    *field;			/* the field being read, or NULL */
	bool		in_receive;		/* in field's type's receive function */
	PbReader   *reader;
	char	   *inbuf;
	size_t		inpos;
	size_t		inlen;
	int			max_rate;
	uint64		read_bytes;
	TimestampTz started;

	/* translating the stream for CopyFrom (translate) */
	FmgrInfo   *out;			/* per field: its output function */
	bool		header_read;
	bool		trailer_read;
	StringInfoData text_rows;	/* translated rows not yet handed out */
	int			text_pos;
	MemoryContext load_context; /* lives as long as the load */
	MemoryContext row_context;
};

/* COPY's data source callback takes no argument; one load runs at a time. */
static PbLoad *current_load = NULL;

static size_t
read_some(PbLoad *load, char *dst, size_t len)
{
	size_t		n = pb_reader_read(load->reader, dst, len);

	load->read_bytes += n;
	pb_throttle(load->max_rate, load->read_bytes, load->started);
	return n;
}

static int	translated_rows(PbLoad *load, char *outbuf, int minread, int maxread);

static int
copy_from_callback(void *outbuf, int minread, int maxread)
{
	int			total = 0;

	if (current_load->translate)
		return translated_rows(current_load, outbuf, minread, maxread);
	while (total < minread)
	{
		size_t		n = read_some(current_load, (char *) outbuf + total,
								  maxread - total);

		if (n == 0)
			break;
		total += n;
	}
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
				 errdetail("Its SHA-256 or size is not the one its metadata records.")));
}

static PbRecvKind
recv_kind(Oid recvfunc, int32 typmod)
{
	int			client = pg_get_client_encoding();
	int			server = GetDatabaseEncoding();

	switch (recvfunc)
	{
		case F_BOOLRECV:
			return PB_RECV_BOOL;
		case F_CHARRECV:
			return PB_RECV_CHAR;
		case F_INT2RECV:
			return PB_RECV_INT16;
		case F_INT4RECV:
		case F_OIDRECV:
		case F_FLOAT4RECV:
			return PB_RECV_INT32;
		case F_INT8RECV:
		case F_FLOAT8RECV:
			return PB_RECV_INT64;
		case F_DATE_RECV:
			return PB_RECV_DATE;
		case F_TIMESTAMP_RECV:
		case F_TIMESTAMPTZ_RECV:
			return typmod < 0 ? PB_RECV_TIMESTAMP : PB_RECV_CALL;
		case F_BYTEARECV:
			return PB_RECV_BYTEA;
		case F_TEXTRECV:
		case F_VARCHARRECV:
			/* their receive functions convert from the client encoding */
			if (typmod >= 0 && recvfunc == F_VARCHARRECV)
				return PB_RECV_CALL;
			if (client == server || client == PG_SQL_ASCII || server == PG_SQL_ASCII)
				return PB_RECV_TEXT;
			return PB_RECV_CALL;
	}
	return PB_RECV_CALL;
}

/*
 * Can rel, new or emptied, be loaded in bulk (its indexes rebuilt from the
 * heap afterwards, its rows frozen)?  Only a heap with nothing that COPY
 * would run per row or per statement besides constraints and generated
 * columns, and with every column that has stored data in the stream
 * (column_names).
 */
bool
pb_load_bulk_possible(Relation rel, List *column_names)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;
	int			present = 0;
	ListCell   *lc;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_tableam != GetHeapamTableAmRoutine())
		return false;
	if (trig && (trig->trig_insert_before_row || trig->trig_insert_after_row ||
				 trig->trig_insert_instead_row ||
				 trig->trig_insert_before_statement ||
				 trig->trig_insert_after_statement ||
				 trig->trig_insert_new_table))
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && !att->attgenerated)
			present++;
	}
	if (present != list_length(column_names))
		return false;
	foreach(lc, column_names)
	{
		AttrNumber	attnum = attnameAttNum(rel, lfirst(lc), false);

		if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->attgenerated)
			return false;
	}
	return true;
}

static bool
name_in_list(const char *name, List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(name, lfirst(lc)) == 0)
			return true;
	return false;
}

/*
 * The fields of the streams, each matched to its column of rel (which
 * must have them all); out also gets their output functions.
 */
static void
init_fields(PbLoad *load, bool out)
{
	TupleDesc	desc = RelationGetDescr(load->rel);
	int			i = 0;
	ListCell   *lc;

	load->nfields = list_length(load->column_names);
	load->fields = palloc0(sizeof(PbField) * Max(load->nfields, 1));
	if (out)
		load->out = palloc0(sizeof(FmgrInfo) * Max(load->nfields, 1));
	foreach(lc, load->column_names)
	{
		PbField    *f = &load->fields[i];
		Form_pg_attribute att;
		Oid			func;

		f->attnum = attnameAttNum(load->rel, lfirst(lc), false) - 1;
		if (f->attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							(char *) lfirst(lc), RelationGetRelationName(load->rel))));
		att = TupleDescAttr(desc, f->attnum);
		f->typmod = att->atttypmod;
		if (name_in_list(lfirst(lc), load->text_columns))
		{
			getTypeInputInfo(att->atttypid, &func, &f->typioparam);
			f->kind = PB_RECV_INPUT;
		}
		else
		{
			getTypeBinaryInputInfo(att->atttypid, &func, &f->typioparam);
			f->kind = recv_kind(func, f->typmod);
		}
		fmgr_info(func, &f->recv);
		if (out)
		{
			bool		isvarlena;

			getTypeOutputInfo(att->atttypid, &func, &isvarlena);
			fmgr_info(func, &load->out[i]);
		}
		i++;
	}
}

static void
bulk_begin(PbLoad *load)
{
	Relation	rel = load->rel;
	TupleDesc	desc = RelationGetDescr(rel);
	ParseState *pstate = make_parsestate(NULL);

	init_fields(load, false);

	/* the executor state COPY FROM sets up, for constraints and errors */
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL,
										 false, false);
	load->estate = CreateExecutorState();
	pb_exec_init_range_table(load->estate, pstate);
	load->rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(load->estate, load->rri, 1);
	pb_check_valid_insert_rel(load->rri);
	load->check_constraints = (desc->constr != NULL);
	load->check_partition = rel->rd_rel->relispartition;
	load->compute_generated = desc->constr && desc->constr->has_generated_stored;

	/* as COPY FREEZE requires: see CopyFrom */
	InvalidateCatalogSnapshot();
	if (!ThereAreNoPriorRegisteredSnapshots() || !ThereAreNoReadyPortals())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot load \"%s\" frozen because of prior transaction activity",
						RelationGetRelationName(rel))));
	load->ti_options = TABLE_INSERT_SKIP_FSM | TABLE_INSERT_FROZEN;

	load->cid = GetCurrentCommandId(true);
	load->bistate = GetBulkInsertState();

	load->slot_context = CurrentMemoryContext;
	load->batch_context = AllocSetContextCreate(CurrentMemoryContext,
												"partback load batch",
												ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&load->field_buf);
	load->inbuf = palloc(PB_LOAD_READ_SIZE);
}

/*
 * Start loading into rel, which the caller has locked.  column_names (char
 * *) are the streams' columns, so a target whose column order differs
 * still matches; text_columns those of them in their text form.  freeze
 * when rel was created or truncated in this transaction: then, if nothing
 * else stands in the way, it is loaded in bulk.  max_rate limits the speed
 * as partback.max_rate says.
 */
PbLoad *
pb_load_begin(Relation rel, List *column_names, List *text_columns, bool freeze,
			  int max_rate)
{
	PbLoad	   *load = palloc0(sizeof(PbLoad));

	load->rel = rel;
	load->heap = rel;
	load->column_names = column_names;
	load->text_columns = text_columns;
	load->freeze = freeze && (rel->rd_createSubid == GetCurrentSubTransactionId() ||
							  PB_REL_NEW_FILE_SUBID(rel) == GetCurrentSubTransactionId());
	load->max_rate = max_rate;
	load->bulk = load->freeze && pb_load_bulk_possible(rel, column_names);
	if (load->bulk)
		bulk_begin(load);
	else if (text_columns != NIL)
	{
		load->translate = true;
		load->load_context = CurrentMemoryContext;
		initStringInfo(&load->field_buf);
		initStringInfo(&load->text_rows);
		load->inbuf = palloc(PB_LOAD_READ_SIZE);
		load->row_context = AllocSetContextCreate(CurrentMemoryContext,
												  "partback translated row",
												  ALLOCSET_DEFAULT_SIZES);
	}
	return load;
}

/*
 * Start loading rows meant for rel into heap instead, a transient heap of
 * rel's layout that a swap makes rel's content later (restore.c, parts):
 * rows are checked against rel's constraints and partition bound, and
 * written frozen -- so heap must be discarded if the load fails, its rows
 * being visible whatever becomes of the transaction.  No index is built.
 * Refused unless rel can be loaded in bulk (pb_load_bulk_possible).
 */
PbLoad *
pb_load_begin_transient(Relation rel, Relation heap, List *column_names,
						List *text_columns, int max_rate)
{
	PbLoad	   *load = palloc0(sizeof(PbLoad));

	if (!pb_load_bulk_possible(rel, column_names))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partition \"%s\" changed while it was restored: it can no longer be loaded in bulk",
						RelationGetRelationName(rel)),
				 errhint("Calling the same function again restores it.")));
	load->rel = rel;
	load->heap = heap;
	load->column_names = column_names;
	load->text_columns = text_columns;
	load->freeze = true;
	load->max_rate = max_rate;
	load->bulk = true;
	bulk_begin(load);
	return load;
}

/* ---------- reading the stream ---------- */

pg_noreturn static void
bad_format(PbLoad *load, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("invalid COPY stream in backup file \"%s\": %s",
					load->path, what)));
}

/* Make len bytes available at load->inbuf + load->inpos, or return false at EOF. */
static bool
fill(PbLoad *load, size_t len)
{
	Assert(len <= PB_LOAD_READ_SIZE);
	if (load->inlen - load->inpos >= len)
		return true;
	memmove(load->inbuf, load->inbuf + load->inpos, load->inlen - load->inpos);
	load->inlen -= load->inpos;
	load->inpos = 0;
	while (load->inlen < len)
	{
		size_t		n = read_some(load, load->inbuf + load->inlen,
								  PB_LOAD_READ_SIZE - load->inlen);

		if (n == 0)
			return false;
		load->inlen += n;
	}
	return true;
}

static void
read_exact(PbLoad *load, char *dst, size_t len)
{
	while (len > 0)
	{
		size_t		n;

		if (load->inpos == load->inlen && !fill(load, 1))
			bad_format(load, "unexpected end of file");
		n = Min(len, load->inlen - load->inpos);
		memcpy(dst, load->inbuf + load->inpos, n);
		load->inpos += n;
		dst += n;
		len -= n;
	}
}

static inline uint32
take32(PbLoad *load)
{
	uint32		v;

	memcpy(&v, load->inbuf + load->inpos, sizeof(v));
	load->inpos += sizeof(v);
	return pg_ntoh32(v);
}

static inline uint16
take16(PbLoad *load)
{
	uint16		v;

	memcpy(&v, load->inbuf + load->inpos, sizeof(v));
	load->inpos += sizeof(v);
	return pg_ntoh16(v);
}

static void
read_header(PbLoad *load)
{
	uint32		flags;
	uint32		extension;

	if (!fill(load, sizeof(copy_signature) + 8) ||
		memcmp(load->inbuf, copy_signature, sizeof(copy_signature)) != 0)
		bad_format(load, "missing COPY signature");
	load->inpos += sizeof(copy_signature);
	flags = take32(load);
	if ((flags & (1 << 16)) != 0)
		bad_format(load, "OIDs are not supported");
	if ((flags & 0xFFFF0000 & ~(1 << 16)) != 0)
		bad_format(load, "unrecognized critical flags in COPY file header");
	extension = take32(load);
	while (extension > 0)
	{
		size_t		n;

		if (!fill(load, 1))
			bad_format(load, "unexpected end of file in COPY file header");
		n = Min(extension, load->inlen - load->inpos);
		load->inpos += n;
		extension -= n;
	}
}

/* A field whose bytes its type's receive function would not take whole. */
pg_noreturn static void
incorrect_format(PbLoad *load, PbField *f)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("incorrect binary data format in column \"%s\" of backup file \"%s\"",
					NameStr(TupleDescAttr(RelationGetDescr(load->rel), f->attnum)->attname),
					load->path)));
}

/* A field of len bytes that fixed-width types need whole: its bytes. */
static const char *
fixed_field(PbLoad *load, PbField *f, int len, int want)
{
	const char *p;

	if (len != want)
		incorrect_format(load, f);
	if (!fill(load, len))
		bad_format(load, "unexpected end of file");
	p = load->inbuf + load->inpos;
	load->inpos += len;
	return p;
}

/* A varlena of len data bytes, read from the stream. */
static struct varlena *
read_varlena(PbLoad *load, int len)
{
	struct varlena *v = palloc(len + VARHDRSZ);

	SET_VARSIZE(v, len + VARHDRSZ);
	read_exact(load, VARDATA(v), len);
	return v;
}

/*
 * A field in its text form: its bytes, in the stream's encoding as textsend
 * sends text, as a C string in the database's encoding.
 */
static char *
read_text_form(PbLoad *load, PbField *f, int len)
{
	resetStringInfo(&load->field_buf);
	enlargeStringInfo(&load->field_buf, len);
	read_exact(load, load->field_buf.data, len);
	load->field_buf.len = len;
	load->field_buf.data[len] = '\0';
	if (memchr(load->field_buf.data, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("text form of column \"%s\" in backup file \"%s\" contains a zero byte",
						NameStr(TupleDescAttr(RelationGetDescr(load->rel), f->attnum)->attname),
						load->path)));
	/* what pq_getmsgtext does: convert, or verify where there is nothing to convert */
	return pg_client_to_server(load->field_buf.data, len);
}

static Datum
read_value(PbLoad *load, PbField *f, int len)
{
	const char *p;
	uint16		u16;
	uint32		u32;
	uint64		u64;

	switch (f->kind)
	{
		case PB_RECV_BOOL:
			p = fixed_field(load, f, len, 1);
			return BoolGetDatum(*p != 0);
		case PB_RECV_CHAR:
			p = fixed_field(load, f, len, 1);
			return CharGetDatum(*p);
		case PB_RECV_INT16:
			p = fixed_field(load, f, len, 2);
			memcpy(&u16, p, 2);
			return Int16GetDatum((int16) pg_ntoh16(u16));
		case PB_RECV_INT32:
			p = fixed_field(load, f, len, 4);
			memcpy(&u32, p, 4);
			return Int32GetDatum((int32) pg_ntoh32(u32));
		case PB_RECV_INT64:
			p = fixed_field(load, f, len, 8);
			memcpy(&u64, p, 8);
			return Int64GetDatum((int64) pg_ntoh64(u64));
		case PB_RECV_DATE:
			{
				DateADT		d;

				p = fixed_field(load, f, len, 4);
				memcpy(&u32, p, 4);
				d = (DateADT) pg_ntoh32(u32);
				if (!DATE_NOT_FINITE(d) && !IS_VALID_DATE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("date out of range")));
				return DateADTGetDatum(d);
			}
		case PB_RECV_TIMESTAMP:
			{
				Timestamp	t;

				p = fixed_field(load, f, len, 8);
				memcpy(&u64, p, 8);
				t = (Timestamp) pg_ntoh64(u64);
				if (!TIMESTAMP_NOT_FINITE(t) && !IS_VALID_TIMESTAMP(t))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("timestamp out of range")));
				return TimestampGetDatum(t);
			}
		case PB_RECV_TEXT:
			{
				struct varlena *v = read_varlena(load, len);

				/* what pq_getmsgtext checks when it need not convert */
				if (GetDatabaseEncoding() != PG_SQL_ASCII)
					(void) pg_verify_mbstr(GetDatabaseEncoding(), VARDATA(v), len, false);
				return PointerGetDatum(v);
			}
		case PB_RECV_BYTEA:
			return PointerGetDatum(read_varlena(load, len));
		case PB_RECV_CALL:
			{
				Datum		value;

				resetStringInfo(&load->field_buf);
				enlargeStringInfo(&load->field_buf, len);
				read_exact(load, load->field_buf.data, len);
				load->field_buf.len = len;
				load->field_buf.data[len] = '\0';
				load->in_receive = true;
				value = ReceiveFunctionCall(&f->recv, &load->field_buf,
											f->typioparam, f->typmod);
				load->in_receive = false;
				if (load->field_buf.cursor != len)
					incorrect_format(load, f);
				return value;
			}
		case PB_RECV_INPUT:
			return InputFunctionCall(&f->recv, read_text_form(load, f, len),
									 f->typioparam, f->typmod);
	}
	pg_unreachable();
}

static void
flush_batch(PbLoad *load)
{
	MemoryContext old;

	if (load->nbuffered == 0)
		return;
	/* what heap_multi_insert allocates goes with the batch */
	old = MemoryContextSwitchTo(load->batch_context);
	heap_multi_insert(load->heap, load->slots, load->nbuffered, load->cid,
					  load->ti_options, load->bistate);
	MemoryContextSwitchTo(old);
	for (int s = 0; s < load->nbuffered; s++)
		ExecClearTuple(load->slots[s]);
	load->nbuffered = 0;
	load->buffered_bytes = 0;
	MemoryContextReset(load->batch_context);
}

/* Parse one file's stream and insert its rows; returns their number. */
/* Where in the file an error happened, as COPY says it for its input. */
static void
load_error_context(void *arg)
{
	PbLoad	   *load = arg;

	if (load->field)
		errcontext("backup file \"%s\", row " UINT64_FORMAT ", column %s",
				   load->path, load->row,
				   NameStr(TupleDescAttr(RelationGetDescr(load->rel),
										 load->field->attnum)->attname));
	else if (load->row > 0)
		errcontext("backup file \"%s\", row " UINT64_FORMAT, load->path, load->row);
	else
		errcontext("backup file \"%s\"", load->path);
}

static uint64
bulk_load_file(PbLoad *load)
{
	TupleDesc	desc = RelationGetDescr(load->rel);
	uint64		rows = 0;
	ErrorContextCallback context;

	context.callback = load_error_context;
	context.arg = load;
	context.previous = error_context_stack;
	error_context_stack = &context;

	read_header(load);
	for (;;)
	{
		TupleTableSlot *slot;
		MemoryContext old;
		int16		nfields;

		CHECK_FOR_INTERRUPTS();
		load->row++;
		if (!fill(load, 2))
			bad_format(load, "unexpected end of file before the trailer");
		nfields = (int16) take16(load);
		if (nfields == -1)
			break;
		if (nfields != load->nfields)
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("row field count is %d, expected %d in backup file \"%s\"",
							nfields, load->nfields, load->path)));

		/* heap tuple slots: heap_multi_insert takes their tuples without a copy */
		if (load->slots[load->nbuffered] == NULL)
		{
			old = MemoryContextSwitchTo(load->slot_context);
			load->slots[load->nbuffered] =
				MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
			MemoryContextSwitchTo(old);
		}
		slot = load->slots[load->nbuffered];
		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
		old = MemoryContextSwitchTo(load->batch_context);
		for (int i = 0; i < load->nfields; i++)
		{
			PbField    *f = &load->fields[i];
			int32		len;

			if (!fill(load, 4))
				bad_format(load, "unexpected end of file");
			len = (int32) take32(load);
			if (len == -1)
				continue;
			if (len < -1)
				bad_format(load, "invalid field size");
			if (len > (int32) (MaxAllocSize - VARHDRSZ - 1))
				bad_format(load, "field larger than 1 GB");
			load->field = f;
			slot->tts_values[f->attnum] = read_value(load, f, len);
			load->field = NULL;
			slot->tts_isnull[f->attnum] = false;
			load->buffered_bytes += len;
		}
		MemoryContextSwitchTo(old);
		ExecStoreVirtualTuple(slot);

		/* what COPY FROM does with a row before it inserts it */
		ResetPerTupleExprContext(load->estate);
		if (load->compute_generated)
			ExecComputeStoredGenerated(load->rri, load->estate, slot, CMD_INSERT);
		if (load->check_constraints)
			ExecConstraints(load->rri, slot, load->estate);
		if (load->check_partition)
			ExecPartitionCheck(load->rri, slot, load->estate, true);
		/* the row becomes a heap tuple the slot owns and frees */
		ExecMaterializeSlot(slot);

		rows++;
		if (++load->nbuffered == PB_LOAD_BATCH_ROWS ||
			load->buffered_bytes >= PB_LOAD_BATCH_BYTES)
			flush_batch(load);
	}
	flush_batch(load);
	error_context_stack = context.previous;

	/* the trailer must end the file, where the reader checks the checksum */
	if (load->inpos != load->inlen || fill(load, 1))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" has data after the end of its COPY stream",
						load->path)));
	return rows;
}

/* ---------- the stream as COPY text, for CopyFrom ---------- */

/* A value as a field of COPY's text format (tab-delimited, \N for NULL). */
static void
append_copy_text(StringInfo out, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			default:
				appendStringInfoCharMacro(out, *s);
		}
	}
}

/*
 * Translate the next row of the binary stream into a line of COPY text in
 * load->text_rows; false at the trailer.  Text forms pass through; other
 * values are read as the bulk load reads them, then printed by their
 * output functions.
 */
static bool
translate_row(PbLoad *load)
{
	ErrorContextCallback context;
	MemoryContext old;
	int16		nfields;

	if (load->trailer_read)
		return false;
	if (load->fields == NULL)
	{
		/* CopyFrom calls us in a short-lived context */
		old = MemoryContextSwitchTo(load->load_context);
		init_fields(load, true);	/* CopyFrom has checked the columns */
		MemoryContextSwitchTo(old);
	}

	context.callback = load_error_context;
	context.arg = load;
	context.previous = error_context_stack;
	error_context_stack = &context;

	if (!load->header_read)
	{
		read_header(load);
		load->header_read = true;
	}
	load->row++;
	if (!fill(load, 2))
		bad_format(load, "unexpected end of file before the trailer");
	nfields = (int16) take16(load);
	if (nfields == -1)
	{
		/* the trailer must end the file, where the reader checks the checksum */
		if (load->inpos != load->inlen || fill(load, 1))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("backup file \"%s\" has data after the end of its COPY stream",
							load->path)));
		load->trailer_read = true;
		error_context_stack = context.previous;
		return false;
	}
	if (nfields != load->nfields)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("row field count is %d, expected %d in backup file \"%s\"",
						nfields, load->nfields, load->path)));

	old = MemoryContextSwitchTo(load->row_context);
	for (int i = 0; i < load->nfields; i++)
	{
		PbField    *f = &load->fields[i];
		int32		len;

		if (i > 0)
			appendStringInfoChar(&load->text_rows, '\t');
		if (!fill(load, 4))
			bad_format(load, "unexpected end of file");
		len = (int32) take32(load);
		if (len == -1)
		{
			appendBinaryStringInfo(&load->text_rows, "\\N", 2);
			continue;
		}
		if (len < -1)
			bad_format(load, "invalid field size");
		if (len > (int32) (MaxAllocSize - VARHDRSZ - 1))
			bad_format(load, "field larger than 1 GB");
		load->field = f;
		if (f->kind == PB_RECV_INPUT)
			append_copy_text(&load->text_rows, read_text_form(load, f, len));
		else
			append_copy_text(&load->text_rows,
							 OutputFunctionCall(&load->out[i], read_value(load, f, len)));
		load->field = NULL;
	}
	appendStringInfoChar(&load->text_rows, '\n');
	MemoryContextSwitchTo(old);
	MemoryContextReset(load->row_context);
	error_context_stack = context.previous;
	return true;
}

/* CopyFrom's data source when it reads the stream as COPY text. */
static int
translated_rows(PbLoad *load, char *outbuf, int minread, int maxread)
{
	int			total = 0;

	while (total < minread)
	{
		int			n;

		if (load->text_pos == load->text_rows.len)
		{
			resetStringInfo(&load->text_rows);
			load->text_pos = 0;
			if (!translate_row(load))
				break;
		}
		n = Min(maxread - total, load->text_rows.len - load->text_pos);
		memcpy(outbuf + total, load->text_rows.data + load->text_pos, n);
		load->text_pos += n;
		total += n;
	}
	return total;
}

/* While CopyFrom reads a translated stream: the file its lines come from. */
static void
translated_file_context(void *arg)
{
	PbLoad	   *load = arg;

	errcontext("backup file \"%s\" (COPY line numbers are its row numbers)",
			   load->path);
}

/* Load one file through PostgreSQL's COPY FROM. */
static uint64
copy_from_file(PbLoad *load)
{
	ParseState *pstate = make_parsestate(NULL);
	List	   *attnames = NIL;
	List	   *options;
	CopyFromState cstate;
	uint64		rows;
	char		extra;
	ErrorContextCallback context;
	ListCell   *lc;

	foreach(lc, load->column_names)
		attnames = lappend(attnames, makeString(lfirst(lc)));
	if (load->translate)
	{
		/* the translated rows are in the database's encoding */
		options = list_make1(makeDefElem("encoding",
										 (Node *) makeString(pstrdup(GetDatabaseEncodingName())), -1));
		load->header_read = load->trailer_read = false;
		load->text_pos = 0;
		resetStringInfo(&load->text_rows);
		context.callback = translated_file_context;
		context.arg = load;
		context.previous = error_context_stack;
		error_context_stack = &context;
	}
	else
		options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	if (load->freeze)
		options = lappend(options, makeDefElem("freeze", (Node *) makeBoolean(true), -1));

	/* CopyFrom expects the relation as range table entry 1 */
	(void) addRangeTableEntryForRelation(pstate, load->rel, RowExclusiveLock,
										 NULL, false, false);
	cstate = BeginCopyFrom(pstate, load->rel, NULL, NULL, false,
						   copy_from_callback, attnames, options);
	rows = CopyFrom(cstate);
	EndCopyFrom(cstate);
	free_parsestate(pstate);
	if (load->translate)
	{
		error_context_stack = context.previous;
		/* translate_row read to the end and checked it */
		if (!load->trailer_read)
			bad_format(load, "COPY ended before the trailer");
		return rows;
	}

	/* read to the end, where the reader verifies size and checksum */
	if (read_some(load, &extra, 1) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" has data after the end of its COPY stream",
						load->path)));
	return rows;
}

/*
 * Load the data file at path (its compression, checksum and size as the
 * metadata gives them).  The checksum is verified as the file is read; any
 * failure aborts the load.  Returns the number of rows.
 */
uint64
pb_load_file(PbLoad *load, const char *path, PbCompression compression,
			 const char *sha256, int64 stored_bytes, int64 raw_bytes)
{
	MemoryContext context = CurrentMemoryContext;
	uint64		rows = 0;

	load->path = path;
	load->row = 0;
	load->field = NULL;
	load->in_receive = false;
	load->reader = pb_reader_open(path, compression, sha256, stored_bytes, raw_bytes);
	load->inpos = load->inlen = 0;
	load->read_bytes = 0;
	load->started = GetCurrentTimestamp();
	Assert(current_load == NULL);
	current_load = load;
	PG_TRY();
	{
		rows = load->bulk ? bulk_load_file(load) : copy_from_file(load);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		current_load = NULL;
		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		/* some receive functions report bad input as an internal error */
		if (load->in_receive && edata->sqlerrcode == ERRCODE_INTERNAL_ERROR)
			edata->sqlerrcode = ERRCODE_INVALID_BINARY_REPRESENTATION;
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED &&
			edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			report_if_damaged(path, sha256, stored_bytes);
		ReThrowError(edata);
	}
	PG_END_TRY();
	current_load = NULL;
	pb_reader_close(load->reader);
	load->reader = NULL;
	return rows;
}

/*
 * Finish the load: after a bulk load, build the relation's indexes from
 * its heap, checking unique and exclusion constraints as they are built.
 */
void
pb_load_end(PbLoad *load)
{
	if (load->bulk)
	{
		ReindexParams params = {0};

		FreeBulkInsertState(load->bistate);
		for (int s = 0; s < PB_LOAD_BATCH_ROWS && load->slots[s]; s++)
			ExecDropSingleTupleTableSlot(load->slots[s]);
		ExecCloseResultRelations(load->estate);
		ExecCloseRangeTableRelations(load->estate);
		FreeExecutorState(load->estate);
		MemoryContextDelete(load->batch_context);

		/*
		 * Sorting once costs less than growing each index a row at a time
		 * (measured on the benchmark's data: about 17% less CPU for the
		 * whole restore), and gives compact indexes.
		 */
		CommandCounterIncrement();
		if (load->heap == load->rel)
			(void) pb_reindex_relation(RelationGetRelid(load->rel),
									REINDEX_REL_CHECK_CONSTRAINTS, &params);
	}
	pfree(load);
}
