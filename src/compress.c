/*-------------------------------------------------------------------------
 *
 * compress.c
 *		Compressed, checksummed streams of backup files.
 *
 * Files are standard zstd frames, lz4 frames or gzip members, so that the
 * command-line tools read them (zstd -dc, lz4 -dc, gzip -dc).  The SHA-256
 * and byte counts are of the stored, compressed bytes, so check_backup can
 * verify a file without decompressing it.
 *
 * The compression libraries allocate with malloc.  They never call back into
 * PostgreSQL, so an ERROR can only happen between library calls and leaves
 * their contexts consistent; every open stream is kept in a list, and the
 * streams a (sub)transaction leaves open are freed when it ends.  A stream
 * and its buffers live in a memory context of their own for the same
 * reason.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <lz4frame.h>
#define ZLIB_CONST
#include <zlib.h>
#include <zstd.h>

#include "access/xact.h"
#include "lib/ilist.h"
#include "utils/memutils.h"

#include "partback.h"

#define PB_STREAM_BUFSIZE	(1024 * 1024)

/*
 * zstd's own default is 3; level 1 compresses this kind of data a few
 * percent less at about half the CPU, and the CPU is what a backup waits on.
 */
#define PB_ZSTD_DEFAULT_LEVEL 1

/* highest lz4 level (LZ4HC_CLEVEL_MAX, not exported by lz4frame.h) */
#define PB_LZ4_MAX_LEVEL	12

/* What every open stream has, for the end-of-transaction cleanup. */
typedef struct PbStreamLink
{
	dlist_node	node;			/* in open_streams */
	SubTransactionId subid;		/* subtransaction that opened the stream */
	bool		is_writer;
} PbStreamLink;

struct PbWriter
{
	PbStreamLink link;			/* must be first */
	MemoryContext cxt;			/* holds this struct and its buffers */
	PbCompression method;
	char	   *path;
	PbFile	   *file;			/* NULL once committed */
	PbSha256   *sha;			/* of the stored bytes */
	uint64		raw_bytes;
	uint64		stored_bytes;
	bool		busy;			/* set while in a call: an ERROR leaves it */

	char	   *outbuf;
	size_t		outcap;
	ZSTD_CCtx  *zstd;
	LZ4F_cctx  *lz4;
	z_stream	zs;
	bool		zs_init;
};

struct PbReader
{
	PbStreamLink link;			/* must be first */
	MemoryContext cxt;			/* holds this struct and its buffers */
	PbCompression method;
	char	   *path;
	PbFile	   *file;			/* allocated in the caller's context */
	PbSha256   *sha;			/* of the stored bytes */
	bool		have_expected_sha;
	char		expected_sha[PARTBACK_SHA256_HEXLEN + 1];
	int64		expected_bytes;
	uint64		stored_bytes;
	int64		expected_raw;	/* uncompressed size the metadata gives, or -1 */
	uint64		raw_bytes;
	bool		busy;			/* set while in a call: an ERROR leaves it */
	bool		done;			/* end reached and verified */

	char	   *inbuf;
	size_t		inlen;
	size_t		inpos;
	bool		file_eof;
	bool		in_frame;		/* a frame is started and not complete */
	uint64		frames;			/* complete frames (gzip members) */
	bool		zs_reset;		/* a gzip member ended: reset before more */

	ZSTD_DCtx  *zstd;
	LZ4F_dctx  *lz4;
	z_stream	zs;
	bool		zs_init;
};

static dlist_head open_streams = DLIST_STATIC_INIT(open_streams);
static bool callbacks_registered = false;

static void pb_stream_track(PbStreamLink *link, bool is_writer);
static void pb_compress_xact_callback(XactEvent event, void *arg);
static void pb_compress_subxact_callback(SubXactEvent event,
										 SubTransactionId mySubid,
										 SubTransactionId parentSubid,
										 void *arg);
static void pb_stream_release(PbStreamLink *link);
static void pb_writer_release(PbWriter *w);
static void pb_reader_release(PbReader *r);
static void pb_writer_emit(PbWriter *w, const void *data, size_t len);
static void pb_writer_compress(PbWriter *w, const char *data, size_t len,
							   bool end);
pg_noreturn static void pb_compress_failed(PbWriter *w, const char *reason);
pg_noreturn static void pb_reader_corrupted(PbReader *r, const char *reason);
static void pb_reader_fill(PbReader *r);
static void pb_reader_step(PbReader *r, char *dst, size_t dstlen,
						   size_t *consumed, size_t *produced);
static void pb_reader_verify_end(PbReader *r);
static void pb_reader_check_bounds(PbReader *r);


/* ---------- methods ---------- */

PbCompression
pb_compression_parse(const char *name)
{
	if (name != NULL)
	{
		if (pg_strcasecmp(name, "zstd") == 0)
			return PB_COMPRESS_ZSTD;
		if (pg_strcasecmp(name, "lz4") == 0)
			return PB_COMPRESS_LZ4;
		if (pg_strcasecmp(name, "gzip") == 0)
			return PB_COMPRESS_GZIP;
		if (pg_strcasecmp(name, "none") == 0)
			return PB_COMPRESS_NONE;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown compression method \"%s\"",
					name ? name : ""),
			 errhint("Valid methods are \"zstd\", \"lz4\", \"gzip\" and \"none\".")));
	return PB_COMPRESS_NONE;	/* keep compiler quiet */
}

const char *
pb_compression_name(PbCompression c)
{
	switch (c)
	{
		case PB_COMPRESS_NONE:
			return "none";
		case PB_COMPRESS_GZIP:
			return "gzip";
		case PB_COMPRESS_LZ4:
			return "lz4";
		case PB_COMPRESS_ZSTD:
			return "zstd";
	}
	elog(ERROR, "unrecognized compression method: %d", (int) c);
	return NULL;				/* keep compiler quiet */
}

const char *
pb_compression_suffix(PbCompression c)
{
	switch (c)
	{
		case PB_COMPRESS_NONE:
			return "";
		case PB_COMPRESS_GZIP:
			return ".gz";
		case PB_COMPRESS_LZ4:
			return ".lz4";
		case PB_COMPRESS_ZSTD:
			return ".zst";
	}
	elog(ERROR, "unrecognized compression method: %d", (int) c);
	return NULL;				/* keep compiler quiet */
}

/*
 * 0 always means the method's default level.  Also rejects an invalid
 * method, which would otherwise store nothing.
 */
void
pb_check_level(PbCompression c, int level)
{
	int			min_level = 0;
	int			max_level = 0;

	if ((int) c < (int) PB_COMPRESS_NONE || (int) c > (int) PB_COMPRESS_ZSTD)
		elog(ERROR, "unrecognized compression method: %d", (int) c);

	switch (c)
	{
		case PB_COMPRESS_NONE:
			return;
		case PB_COMPRESS_GZIP:
			max_level = 9;
			break;
		case PB_COMPRESS_LZ4:
			max_level = PB_LZ4_MAX_LEVEL;
			break;
		case PB_COMPRESS_ZSTD:
			min_level = ZSTD_minCLevel();
			max_level = ZSTD_maxCLevel();
			break;
	}
	if (level < min_level || level > max_level)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("compression level %d is out of range for method \"%s\"",
						level, pb_compression_name(c)),
				 errhint("Valid levels are %d to %d; 0 selects the default.",
						 min_level, max_level)));
}


/* ---------- tracking of open streams ---------- */

static void
pb_stream_track(PbStreamLink *link, bool is_writer)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(pb_compress_xact_callback, NULL);
		RegisterSubXactCallback(pb_compress_subxact_callback, NULL);
		callbacks_registered = true;
	}
	link->subid = GetCurrentSubTransactionId();
	link->is_writer = is_writer;
	dlist_push_tail(&open_streams, &link->node);
}

static void
pb_stream_release(PbStreamLink *link)
{
	if (link->is_writer)
		pb_writer_release((PbWriter *) link);
	else
		pb_reader_release((PbReader *) link);
}

/*
 * Streams left open at end of transaction are freed.  Their files are not
 * touched here: fd.c closes the descriptors, and storage.c unlinks the
 * temporary files of writers.
 */
static void
pb_compress_xact_callback(XactEvent event, void *arg)
{
	dlist_mutable_iter iter;

	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}

	dlist_foreach_modify(iter, &open_streams)
		pb_stream_release(dlist_container(PbStreamLink, node, iter.cur));
}

static void
pb_compress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	dlist_mutable_iter iter;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;

	dlist_foreach_modify(iter, &open_streams)
	{
		PbStreamLink *link = dlist_container(PbStreamLink, node, iter.cur);

		if (link->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			link->subid = parentSubid;
		else
			pb_stream_release(link);
	}
}


/* ---------- writing ---------- */

PbWriter *
pb_writer_create(const char *path, PbCompression c, int level)
{
	PbFile	   *file;
	MemoryContext cxt;
	MemoryContext oldcxt;
	PbWriter   *w;
	size_t		ret;

	pb_check_level(c, level);

	/* first, so that the common failures leave nothing behind */
	file = pb_file_create(path);

	cxt = AllocSetContextCreate(TopMemoryContext, "partback writer",
								ALLOCSET_SMALL_SIZES);
	w = MemoryContextAllocZero(cxt, sizeof(PbWriter));
	w->cxt = cxt;
	w->method = c;
	w->path = MemoryContextStrdup(cxt, path);
	w->file = file;
	pb_stream_track(&w->link, true);

	oldcxt = MemoryContextSwitchTo(cxt);
	w->sha = pb_sha256_create();
	MemoryContextSwitchTo(oldcxt);

	switch (c)
	{
		case PB_COMPRESS_NONE:
			break;

		case PB_COMPRESS_ZSTD:
			w->zstd = ZSTD_createCCtx();
			if (w->zstd == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory"),
						 errdetail("Could not create a zstd context for file \"%s\".",
								   path)));
			ret = ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_compressionLevel,
										 level == 0 ? PB_ZSTD_DEFAULT_LEVEL : level);
			if (ZSTD_isError(ret))
				pb_compress_failed(w, ZSTD_getErrorName(ret));
			/* our SHA-256 covers the file; no need for zstd's own */
			ret = ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_checksumFlag, 0);
			if (ZSTD_isError(ret))
				pb_compress_failed(w, ZSTD_getErrorName(ret));
			w->outcap = PB_STREAM_BUFSIZE;
			w->outbuf = MemoryContextAlloc(cxt, w->outcap);
			break;

		case PB_COMPRESS_LZ4:
			{
				LZ4F_preferences_t prefs;

				memset(&prefs, 0, sizeof(prefs));
				prefs.frameInfo.blockSizeID = LZ4F_max256KB;
				prefs.compressionLevel = level;

				ret = LZ4F_createCompressionContext(&w->lz4, LZ4F_VERSION);
				if (LZ4F_isError(ret))
				{
					w->lz4 = NULL;
					pb_compress_failed(w, LZ4F_getErrorName(ret));
				}

				/* room for the worst case of one input chunk, or the end */
				w->outcap = Max(LZ4F_compressBound(PB_STREAM_BUFSIZE, &prefs),
								LZ4F_HEADER_SIZE_MAX);
				w->outbuf = MemoryContextAlloc(cxt, w->outcap);

				ret = LZ4F_compressBegin(w->lz4, w->outbuf, w->outcap, &prefs);
				if (LZ4F_isError(ret))
					pb_compress_failed(w, LZ4F_getErrorName(ret));
				pb_writer_emit(w, w->outbuf, ret);
			}
			break;

		case PB_COMPRESS_GZIP:
			{
				int			zret;

				/* windowBits 15 + 16 asks for a gzip header and trailer */
				zret = deflateInit2(&w->zs,
									level == 0 ? Z_DEFAULT_COMPRESSION : level,
									Z_DEFLATED, 15 + 16, 8,
									Z_DEFAULT_STRATEGY);
				if (zret != Z_OK)
					pb_compress_failed(w, w->zs.msg ? w->zs.msg : zError(zret));
				w->zs_init = true;
				w->outcap = PB_STREAM_BUFSIZE;
				w->outbuf = MemoryContextAlloc(cxt, w->outcap);
			}
			break;
	}

	return w;
}

static void
pb_compress_failed(PbWriter *w, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not compress backup file \"%s\": %s",
					w->path, reason)));
}

/* Bytes to be stored: count them, checksum them, write them. */
static void
pb_writer_emit(PbWriter *w, const void *data, size_t len)
{
	if (len == 0)
		return;
	pb_sha256_update(w->sha, data, len);
	pb_file_write(w->file, data, len);
	w->stored_bytes += len;
}

/*
 * Feed len bytes to the compressor and store what it produces; with end,
 * also finish the stream.
 */
static void
pb_writer_compress(PbWriter *w, const char *data, size_t len, bool end)
{
	switch (w->method)
	{
		case PB_COMPRESS_NONE:
			pb_writer_emit(w, data, len);
			break;

		case PB_COMPRESS_ZSTD:
			{
				ZSTD_inBuffer in = {data, len, 0};
				ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
				size_t		remaining;

				/* with ZSTD_e_end, 0 means the frame is complete */
				do
				{
					ZSTD_outBuffer out = {w->outbuf, w->outcap, 0};

					remaining = ZSTD_compressStream2(w->zstd, &out, &in, mode);
					if (ZSTD_isError(remaining))
						pb_compress_failed(w, ZSTD_getErrorName(remaining));
					pb_writer_emit(w, w->outbuf, out.pos);
				} while (in.pos < in.size || (end && remaining != 0));
			}
			break;

		case PB_COMPRESS_LZ4:
			{
				size_t		ret;

				/* outbuf fits the worst case for this chunk size */
				while (len > 0)
				{
					size_t		chunk = Min(len, PB_STREAM_BUFSIZE);

					ret = LZ4F_compressUpdate(w->lz4, w->outbuf, w->outcap,
											  data, chunk, NULL);
					if (LZ4F_isError(ret))
						pb_compress_failed(w, LZ4F_getErrorName(ret));
					pb_writer_emit(w, w->outbuf, ret);
					data += chunk;
					len -= chunk;
				}
				if (end)
				{
					ret = LZ4F_compressEnd(w->lz4, w->outbuf, w->outcap, NULL);
					if (LZ4F_isError(ret))
						pb_compress_failed(w, LZ4F_getErrorName(ret));
					pb_writer_emit(w, w->outbuf, ret);
				}
			}
			break;

		case PB_COMPRESS_GZIP:
			{
				int			flush = end ? Z_FINISH : Z_NO_FLUSH;
				int			zret;

				/* avail_in is a uInt: feed at most a buffer at a time */
				do
				{
					size_t		chunk = Min(len, PB_STREAM_BUFSIZE);

					w->zs.next_in = (const Bytef *) data;
					w->zs.avail_in = (uInt) chunk;
					data += chunk;
					len -= chunk;

					/* as in zlib's example: loop while the output is full */
					do
					{
						w->zs.next_out = (Bytef *) w->outbuf;
						w->zs.avail_out = (uInt) w->outcap;
						zret = deflate(&w->zs, len > 0 ? Z_NO_FLUSH : flush);
						if (zret == Z_STREAM_ERROR)
							pb_compress_failed(w, w->zs.msg ? w->zs.msg :
											   zError(zret));
						pb_writer_emit(w, w->outbuf,
									   w->outcap - w->zs.avail_out);
					} while (w->zs.avail_out == 0);

					Assert(w->zs.avail_in == 0);
				} while (len > 0);

				if (end && zret != Z_STREAM_END)
					pb_compress_failed(w, "incomplete gzip stream");
			}
			break;
	}
}

void
pb_writer_write(PbWriter *w, const void *data, size_t len)
{
	if (w->busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot write backup file \"%s\" after an earlier error",
						w->path)));
	if (len == 0)
		return;

	w->busy = true;
	pb_writer_compress(w, data, len, false);
	w->raw_bytes += len;
	w->busy = false;
}

/*
 * End the stream and seal its file (see pb_file_seal): the caller
 * publishes it once what it records about the file is committed.
 */
PbFile *
pb_writer_seal(PbWriter *w, PbWriteResult *result)
{
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
	PbFile	   *file;

	/* never commit a file one of whose writes failed */
	if (w->busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot finish backup file \"%s\" after an earlier error",
						w->path)));
	w->busy = true;

	pb_writer_compress(w, NULL, 0, true);

	pb_sha256_final(w->sha, hex);
	w->sha = NULL;

	pb_file_seal(w->file);
	file = w->file;
	w->file = NULL;

	if (result)
	{
		result->raw_bytes = w->raw_bytes;
		result->stored_bytes = w->stored_bytes;
		memcpy(result->sha256, hex, sizeof(hex));
	}
	pb_writer_release(w);
	return file;
}

/* Free everything but the file, which the caller or storage.c handles. */
static void
pb_writer_release(PbWriter *w)
{
	if (w->zstd)
		ZSTD_freeCCtx(w->zstd);
	if (w->lz4)
		LZ4F_freeCompressionContext(w->lz4);
	if (w->zs_init)
		deflateEnd(&w->zs);
	pb_sha256_free(w->sha);
	dlist_delete(&w->link.node);
	MemoryContextDelete(w->cxt);
}


/* ---------- reading ---------- */

PbReader *
pb_reader_open(const char *path, PbCompression c,
			   const char *expected_sha256, int64 expected_stored_bytes,
			   int64 expected_raw_bytes)
{
	PbFile	   *file;
	MemoryContext cxt;
	MemoryContext oldcxt;
	PbReader   *r;

	pb_check_level(c, 0);
	if (expected_sha256 != NULL &&
		strlen(expected_sha256) != PARTBACK_SHA256_HEXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SHA-256 \"%s\" expected for backup file \"%s\"",
						expected_sha256, path)));

	/* first, so that a missing file leaves nothing behind */
	file = pb_file_open_read(path);

	cxt = AllocSetContextCreate(TopMemoryContext, "partback reader",
								ALLOCSET_SMALL_SIZES);
	r = MemoryContextAllocZero(cxt, sizeof(PbReader));
	r->cxt = cxt;
	r->method = c;
	r->path = MemoryContextStrdup(cxt, path);
	r->file = file;
	if (expected_sha256 != NULL)
	{
		r->have_expected_sha = true;
		strcpy(r->expected_sha, expected_sha256);
	}
	r->expected_bytes = expected_stored_bytes;
	r->expected_raw = expected_raw_bytes;
	pb_stream_track(&r->link, false);

	oldcxt = MemoryContextSwitchTo(cxt);
	r->sha = pb_sha256_create();
	MemoryContextSwitchTo(oldcxt);

	switch (c)
	{
		case PB_COMPRESS_NONE:
			break;

		case PB_COMPRESS_ZSTD:
			r->zstd = ZSTD_createDCtx();
			if (r->zstd == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory"),
						 errdetail("Could not create a zstd context for file \"%s\".",
								   path)));
			break;

		case PB_COMPRESS_LZ4:
			{
				size_t		ret;

				ret = LZ4F_createDecompressionContext(&r->lz4, LZ4F_VERSION);
				if (LZ4F_isError(ret))
				{
					r->lz4 = NULL;
					ereport(ERROR,
							(errcode(ERRCODE_OUT_OF_MEMORY),
							 errmsg("out of memory"),
							 errdetail("Could not create an lz4 context for file \"%s\": %s",
									   path, LZ4F_getErrorName(ret))));
				}
			}
			break;

		case PB_COMPRESS_GZIP:
			{
				int			zret;

				/* 15 + 16: gzip members only, no raw zlib streams */
				zret = inflateInit2(&r->zs, 15 + 16);
				if (zret != Z_OK)
					ereport(ERROR,
							(errcode(zret == Z_MEM_ERROR ?
									 ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR),
							 errmsg("could not initialize decompression of backup file \"%s\": %s",
									path, r->zs.msg ? r->zs.msg : zError(zret))));
				r->zs_init = true;
			}
			break;
	}
	if (c != PB_COMPRESS_NONE)
		r->inbuf = MemoryContextAlloc(cxt, PB_STREAM_BUFSIZE);

	return r;
}

static void
pb_reader_corrupted(PbReader *r, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not decompress backup file \"%s\": %s",
					r->path, reason)));
}

/* Refill the input buffer; the checksum covers every byte read. */
static void
pb_reader_fill(PbReader *r)
{
	r->inpos = 0;
	r->inlen = pb_file_read(r->file, r->inbuf, PB_STREAM_BUFSIZE);
	if (r->inlen == 0)
	{
		r->file_eof = true;
		return;
	}
	pb_sha256_update(r->sha, r->inbuf, r->inlen);
	r->stored_bytes += r->inlen;
	pb_reader_check_bounds(r);
}

/*
 * Stop at the first byte beyond the sizes the metadata gives: a file
 * swapped for a larger one or for a decompression bomb is refused before
 * its data are used.
 */
static void
pb_reader_check_bounds(PbReader *r)
{
	if (r->expected_bytes >= 0 && r->stored_bytes > (uint64) r->expected_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("size mismatch in backup file \"%s\"", r->path),
				 errdetail("Expected %lld bytes, found more.",
						   (long long) r->expected_bytes)));
	if (r->expected_raw >= 0 && r->raw_bytes > (uint64) r->expected_raw)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" holds more data than its metadata says", r->path),
				 errdetail("Its metadata gives %lld bytes uncompressed; it decompresses to more.",
						   (long long) r->expected_raw)));
}

/*
 * One call of the decompressor on the buffered input.  Tracks frame
 * boundaries: several concatenated frames are accepted, as the tools do, but
 * the input must end at a frame boundary.
 */
static void
pb_reader_step(PbReader *r, char *dst, size_t dstlen,
			   size_t *consumed, size_t *produced)
{
	const char *src = r->inbuf + r->inpos;
	size_t		srclen = r->inlen - r->inpos;
	bool		frame_end = false;

	*consumed = 0;
	*produced = 0;

	switch (r->method)
	{
		case PB_COMPRESS_NONE:
			Assert(false);
			break;

		case PB_COMPRESS_ZSTD:
			{
				ZSTD_inBuffer in = {src, srclen, 0};
				ZSTD_outBuffer out = {dst, dstlen, 0};
				size_t		ret;

				ret = ZSTD_decompressStream(r->zstd, &out, &in);
				if (ZSTD_isError(ret))
					pb_reader_corrupted(r, ZSTD_getErrorName(ret));
				*consumed = in.pos;
				*produced = out.pos;
				/* 0: a frame is decoded and flushed completely */
				frame_end = (ret == 0);
			}
			break;

		case PB_COMPRESS_LZ4:
			{
				size_t		srcsize = srclen;
				size_t		dstsize = dstlen;
				size_t		ret;

				ret = LZ4F_decompress(r->lz4, dst, &dstsize, src, &srcsize,
									  NULL);
				if (LZ4F_isError(ret))
					pb_reader_corrupted(r, LZ4F_getErrorName(ret));
				*consumed = srcsize;
				*produced = dstsize;
				/* 0: a frame is decoded and flushed completely */
				frame_end = (ret == 0);
			}
			break;

		case PB_COMPRESS_GZIP:
			{
				int			zret;
				uInt		avail_in = (uInt) Min(srclen, UINT_MAX);
				uInt		avail_out = (uInt) Min(dstlen, UINT_MAX);

				if (r->zs_reset)
				{
					/* more input after a member: another member must follow */
					if (srclen == 0)
						return;
					zret = inflateReset(&r->zs);
					if (zret != Z_OK)
						pb_reader_corrupted(r, zError(zret));
					r->zs_reset = false;
				}

				r->zs.next_in = (const Bytef *) src;
				r->zs.avail_in = avail_in;
				r->zs.next_out = (Bytef *) dst;
				r->zs.avail_out = avail_out;
				zret = inflate(&r->zs, Z_NO_FLUSH);
				*consumed = avail_in - r->zs.avail_in;
				*produced = avail_out - r->zs.avail_out;

				switch (zret)
				{
					case Z_OK:
					case Z_BUF_ERROR:	/* no progress possible: not fatal */
						break;
					case Z_STREAM_END:
						frame_end = true;
						r->zs_reset = true;
						break;
					case Z_MEM_ERROR:
						ereport(ERROR,
								(errcode(ERRCODE_OUT_OF_MEMORY),
								 errmsg("out of memory"),
								 errdetail("Could not decompress backup file \"%s\".",
										   r->path)));
						break;
					case Z_NEED_DICT:
						pb_reader_corrupted(r, "unexpected preset dictionary");
						break;
					default:
						pb_reader_corrupted(r, r->zs.msg ? r->zs.msg :
											zError(zret));
						break;
				}
			}
			break;
	}

	/*
	 * Called with no input after a frame, the libraries return a nonzero
	 * size hint, so a frame ends only once after it started.
	 */
	if (*consumed > 0)
		r->in_frame = true;
	if (frame_end && r->in_frame)
	{
		r->in_frame = false;
		r->frames++;
	}
}

size_t
pb_reader_read(PbReader *r, void *buf, size_t len)
{
	size_t		produced = 0;

	if (r->busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot read backup file \"%s\" after an earlier error",
						r->path)));
	if (r->done || len == 0)
		return 0;
	r->busy = true;
	/* never produce more than one byte beyond the size declared */
	if (r->expected_raw >= 0)
		len = Min(len, (uint64) r->expected_raw + 1 - Min(r->raw_bytes, (uint64) r->expected_raw));

	if (r->method == PB_COMPRESS_NONE)
	{
		produced = pb_file_read(r->file, buf, len);
		if (produced > 0)
		{
			pb_sha256_update(r->sha, buf, produced);
			r->stored_bytes += produced;
			r->raw_bytes += produced;
			pb_reader_check_bounds(r);
		}
		else
			r->file_eof = true;
	}
	else
	{
		while (produced < len)
		{
			size_t		consumed;
			size_t		out;

			if (r->inpos == r->inlen && !r->file_eof)
				pb_reader_fill(r);

			pb_reader_step(r, (char *) buf + produced, len - produced,
						   &consumed, &out);
			r->inpos += consumed;
			produced += out;
			r->raw_bytes += out;
			pb_reader_check_bounds(r);

			if (consumed == 0 && out == 0)
			{
				/* should not happen, but must not loop forever */
				if (r->inpos < r->inlen)
					pb_reader_corrupted(r, "decompression made no progress");
				if (r->file_eof)
					break;
			}
		}
	}

	if (produced == 0)
	{
		pb_reader_verify_end(r);
		r->done = true;
	}
	r->busy = false;
	return produced;
}

/*
 * At the end of the stream: the file must end at a frame boundary, and
 * have the expected size and checksum.
 */
static void
pb_reader_verify_end(PbReader *r)
{
	char		hex[PARTBACK_SHA256_HEXLEN + 1];

	if (r->expected_bytes >= 0 && r->stored_bytes != (uint64) r->expected_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("size mismatch in backup file \"%s\"", r->path),
				 errdetail("Expected %lld bytes, found %llu.",
						   (long long) r->expected_bytes,
						   (unsigned long long) r->stored_bytes)));

	if (r->method != PB_COMPRESS_NONE && (r->in_frame || r->frames == 0))
		pb_reader_corrupted(r, "unexpected end of file");

	pb_sha256_final(r->sha, hex);
	r->sha = NULL;
	if (r->have_expected_sha && pg_strcasecmp(hex, r->expected_sha) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum mismatch in backup file \"%s\"", r->path),
				 errdetail("Its SHA-256 is not the one its metadata records.")));
}

void
pb_reader_close(PbReader *r)
{
	PbFile	   *file = r->file;

	pb_reader_release(r);
	pb_file_close(file);
}

/* Free everything but the file, which fd.c or pb_reader_close closes. */
static void
pb_reader_release(PbReader *r)
{
	if (r->zstd)
		ZSTD_freeDCtx(r->zstd);
	if (r->lz4)
		LZ4F_freeDecompressionContext(r->lz4);
	if (r->zs_init)
		inflateEnd(&r->zs);
	pb_sha256_free(r->sha);
	dlist_delete(&r->link.node);
	MemoryContextDelete(r->cxt);
}
