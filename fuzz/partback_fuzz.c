/*-------------------------------------------------------------------------
 *
 * partback_fuzz.c
 *		libFuzzer driver of the fuzzing build (fuzz/Makefile, test/fuzz.sh).
 *
 * The parsers under test are backend code -- jsonb, COPY FROM, the
 * transaction machinery -- so the fuzzer runs inside a backend: the SQL
 * function partback_fuzz_run() hands libFuzzer a callback that writes each
 * input into a copy of a real backup directory and runs partback's own
 * readers on it.  Each reader runs in a subtransaction that is always
 * rolled back, as PL/pgSQL's EXCEPTION blocks do, so an ERROR is a normal
 * outcome and leaves nothing behind; a crash, an exit, a hang or memory
 * growth is a finding (libFuzzer saves the input), and so is an ERROR with
 * SQLSTATE XX000 (internal error: bad input must get a fitting SQLSTATE),
 * which is counted and whose input is saved in the findings directory.
 *
 * Targets:
 *	 manifest  the input is the backup's manifest: check_backup, restore
 *			   planning (plan_tables, content_key), an incremental backup's
 *			   reading of earlier backups, purge_backups' collection of the
 *			   files still needed, and the SQL readers (list_backups,
 *			   get_backup_meta).
 *	 meta	   the input is a partition's metadata file, and the manifest
 *			   names it with its true checksum: the same readers, plus the
 *			   restore of that partition (pb_restore_unit: metadata walk,
 *			   TRUNCATE, loading of its data files).
 *	 stream	   the input is a data file: byte 0 chooses the compression
 *			   (bits 0-1: none, gzip, lz4, zstd) and whether the checksum
 *			   (bit 2) or size (bit 3) the metadata gives is wrong; the rest is
 *			   the file.  It is decompressed and verified to its end, and
 *			   loaded into the emptied partition by pb_load_* (copyin.c), as a restore loads it.
 *
 * libFuzzer ends the process when it is done (exit(0)) or finds something;
 * run it in a single-user backend, one target per process.  This file is
 * not part of the extension's build.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "partback.h"
#include "partback_fuzz.h"

/* libclang_rt.fuzzer_no_main */
extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*callback) (const uint8_t *data, size_t size));

PG_FUNCTION_INFO_V1(partback_fuzz_run);

typedef enum FuzzTarget
{
	TARGET_MANIFEST,
	TARGET_META,
	TARGET_STREAM
} FuzzTarget;

typedef struct FuzzStep
{
	const char *name;
	void		(*fn) (void);
	uint64		ok;
	uint64		errors;
} FuzzStep;

#define MAX_SQLSTATES 64
#define MAX_INTERNAL 32

static struct
{
	FuzzTarget	target;
	const char *target_name;
	char	   *backup_dir;
	char	   *source_db;
	char	   *db_dir;
	Oid			leaf;			/* the partition restored and loaded */
	char	   *findings_dir;
	char	   *stream_path;
	/* the template backup, as found at the start */
	char	   *manifest_path;
	char	   *manifest_text;
	char	   *schema;
	char	   *table;
	char	   *partition_path;
	char	   *meta_rel;
	char	   *meta_path;
	char	   *meta_sha;
	char	   *meta_text;
	List	   *columns;
	/* the input being run */
	const uint8_t *data;
	size_t		size;
	char		sha[PARTBACK_SHA256_HEXLEN + 1];
	PbCompression compression;
	char		expected_sha[PARTBACK_SHA256_HEXLEN + 1];
	int64		expected_bytes;
	/* contexts: the whole run, one input */
	MemoryContext run_cxt;
	MemoryContext input_cxt;
	/* figures */
	uint64		inputs;
	int			nsqlstates;
	int			sqlstate_code[MAX_SQLSTATES];
	uint64		sqlstate_count[MAX_SQLSTATES];
	uint64		internal_errors;
	int			ninternal;
	char	   *internal_msg[MAX_INTERNAL];
	bool		templates_written;
} fz;

/* ---------- files ---------- */

/* Write a file whole; failing here is the harness's problem, not a finding. */
static void
write_file(const char *path, const void *data, size_t len)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const char *p = data;

	if (fd < 0)
	{
		fprintf(stderr, "partback_fuzz: cannot create \"%s\": %m\n", path);
		abort();
	}
	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n <= 0)
		{
			fprintf(stderr, "partback_fuzz: cannot write \"%s\": %m\n", path);
			abort();
		}
		p += n;
		len -= n;
	}
	close(fd);
}

static void
sha256_hex(const void *data, size_t len, char *hex)
{
	PbSha256   *ctx = pb_sha256_create();

	pb_sha256_update(ctx, data, len);
	pb_sha256_final(ctx, hex);
}

/* s with every occurrence of from replaced by to */
static char *
replace_all(const char *s, const char *from, const char *to)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	while ((p = strstr(s, from)) != NULL)
	{
		appendBinaryStringInfo(&buf, s, p - s);
		appendStringInfoString(&buf, to);
		s = p + strlen(from);
	}
	appendStringInfoString(&buf, s);
	return buf.data;
}

/* Put the template backup back as it was. */
static void
restore_templates(void)
{
	if (!fz.templates_written)
		return;
	write_file(fz.manifest_path, fz.manifest_text, strlen(fz.manifest_text));
	write_file(fz.meta_path, fz.meta_text, strlen(fz.meta_text));
}

/* ---------- the readers under test ---------- */

static void
spi_count(const char *sql, int nargs, Oid *types, Datum *values)
{
	SPI_connect();
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback_fuzz: \"%s\" failed", sql);
	SPI_finish();
}

static void
step_check_backup(void)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(fz.backup_dir);
	values[1] = CStringGetTextDatum(fz.source_db);
	spi_count("SELECT count(*) FROM partback.check_backup($1, $2)", 2, types, values);
}

static void
step_restore_plan(void)
{
	(void) pb_fuzz_restore_plan(fz.backup_dir, fz.source_db);
}

static void
step_backup_takeover(void)
{
	(void) pb_fuzz_backup_takeover(fz.backup_dir, fz.source_db, fz.schema, fz.table);
}

static void
step_purge_needed(void)
{
	(void) pb_fuzz_purge_needed(fz.backup_dir, fz.source_db);
}

static void
step_sql_readers(void)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(fz.backup_dir);
	values[1] = CStringGetTextDatum(fz.source_db);
	values[2] = CStringGetTextDatum(psprintf("%s.%s", fz.schema, fz.table));
	values[3] = CStringGetTextDatum(fz.partition_path);
	spi_count("SELECT count(*) FROM partback.list_backups($1, $2)", 2, types, values);
	spi_count("SELECT partback.get_backup_meta($1, $2, $3, $4)", 4, types, values);
}

/* A copy worker's restore of the partition, as pb_run_restore plans it. */
static void
step_restore_unit(void)
{
	PbWork	   *work = palloc0(offsetof(PbWork, units) + sizeof(PbUnit));
	PbUnit	   *unit = &work->units[0];

	work->job_id = 1;			/* the row fuzz/setup.sql makes */
	work->nunits = 1;
	strlcpy(work->db_dir, fz.db_dir, sizeof(work->db_dir));
	unit->relid = fz.leaf;
	strlcpy(unit->table_name, psprintf("%s.%s", fz.schema, fz.table),
			sizeof(unit->table_name));
	strlcpy(unit->path, fz.partition_path, sizeof(unit->path));
	strlcpy(unit->file, fz.meta_rel, sizeof(unit->file));
	strlcpy(unit->sha256, fz.sha, sizeof(unit->sha256));
	strlcpy(unit->result_sha256, fz.sha, sizeof(unit->result_sha256));
	pb_restore_unit(work, unit);
}

/* Decompress and verify the whole file, as every reader of it does. */
static void
step_read_stream(void)
{
	PbReader   *r = pb_reader_open(fz.stream_path, fz.compression,
								   fz.expected_sha, fz.expected_bytes, -1);
	char	   *buf = palloc(65536);

	while (pb_reader_read(r, buf, 65536) > 0)
		;
	pb_reader_close(r);
}

/* Load the file into the emptied partition, as a restore does. */
static void
step_copy_in(void)
{
	char	   *name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(fz.leaf)),
												  get_rel_name(fz.leaf));
	Relation	rel;
	PbLoad	   *load;

	SPI_connect();
	if (SPI_execute(psprintf("TRUNCATE ONLY %s", name), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "partback_fuzz: could not truncate %s", name);
	SPI_finish();
	rel = table_open(fz.leaf, RowExclusiveLock);
	load = pb_load_begin(rel, fz.columns, NIL, true, 0);
	(void) pb_load_file(load, fz.stream_path, fz.compression,
						fz.expected_sha, fz.expected_bytes, -1);
	pb_load_end(load);
	table_close(rel, RowExclusiveLock);
}

static FuzzStep json_steps[] = {
	{"check_backup", step_check_backup},
	{"restore_plan", step_restore_plan},
	{"restore_unit", step_restore_unit},	/* meta only */
	{"backup_takeover", step_backup_takeover},
	{"purge_needed", step_purge_needed},
	{"sql_readers", step_sql_readers},
	{NULL}
};

static FuzzStep stream_steps[] = {
	{"read_stream", step_read_stream},
	{"copy_in", step_copy_in},
	{NULL}
};

/* ---------- running an input ---------- */

static void
save_finding(const char *kind)
{
	char		hex[PARTBACK_SHA256_HEXLEN + 1];
	char	   *path;

	sha256_hex(fz.data, fz.size, hex);
	hex[16] = '\0';
	path = psprintf("%s/%s-%s-%s", fz.findings_dir, fz.target_name, kind, hex);
	write_file(path, fz.data, fz.size);
	fprintf(stderr, "partback_fuzz: input saved as %s\n", path);
}

static void
note_error(FuzzStep *step, ErrorData *edata)
{
	int			i;

	step->errors++;
	for (i = 0; i < fz.nsqlstates; i++)
		if (fz.sqlstate_code[i] == edata->sqlerrcode)
			break;
	if (i == fz.nsqlstates && i < MAX_SQLSTATES)
	{
		fz.sqlstate_code[i] = edata->sqlerrcode;
		fz.nsqlstates++;
	}
	if (i < MAX_SQLSTATES)
		fz.sqlstate_count[i]++;

	/* an internal error: bad input must get a fitting SQLSTATE */
	if (edata->sqlerrcode == ERRCODE_INTERNAL_ERROR)
	{
		char	   *msg = psprintf("%s: %s (raised in %s, %s)", step->name,
									   edata->message,
									   edata->funcname ? edata->funcname : "?",
									   edata->filename ? edata->filename : "?");

		fz.internal_errors++;
		for (i = 0; i < fz.ninternal; i++)
			if (strcmp(fz.internal_msg[i], msg) == 0)
				return;
		if (fz.ninternal == MAX_INTERNAL)
			return;
		fz.internal_msg[fz.ninternal++] = MemoryContextStrdup(fz.run_cxt, msg);
		fprintf(stderr, "partback_fuzz: internal error (XX000) in %s\n", msg);
		save_finding("internal");
	}
}

/*
 * Run one reader in a subtransaction that is rolled back whatever happens,
 * so that every input starts from the same state.
 */
static void
run_step(FuzzStep *step)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		step->fn();
		step->ok++;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		note_error(step, edata);
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}

static int
fuzz_one_input(const uint8_t *data, size_t size)
{
	MemoryContext old = MemoryContextSwitchTo(fz.input_cxt);

	fz.data = data;
	fz.size = size;
	fz.inputs++;
	switch (fz.target)
	{
		case TARGET_MANIFEST:
			fz.templates_written = true;
			write_file(fz.manifest_path, data, size);
			break;
		case TARGET_META:
			fz.templates_written = true;
			write_file(fz.meta_path, data, size);
			sha256_hex(data, size, fz.sha);
			{
				char	   *manifest = replace_all(fz.manifest_text, fz.meta_sha, fz.sha);

				write_file(fz.manifest_path, manifest, strlen(manifest));
			}
			break;
		case TARGET_STREAM:
			if (size == 0)
				goto done;
			fz.compression = (PbCompression) (data[0] & 3);
			write_file(fz.stream_path, data + 1, size - 1);
			sha256_hex(data + 1, size - 1, fz.expected_sha);
			if (data[0] & 4)
				fz.expected_sha[0] = (fz.expected_sha[0] == '0') ? '1' : '0';
			fz.expected_bytes = (data[0] & 8) ? (int64) size : (int64) size - 1;
			break;
	}

	for (FuzzStep *step = (fz.target == TARGET_STREAM ? stream_steps : json_steps);
		 step->name; step++)
	{
		if (step->fn == step_restore_unit && fz.target != TARGET_META)
			continue;
		run_step(step);
	}

done:
	MemoryContextSwitchTo(old);
	MemoryContextReset(fz.input_cxt);
	/*
	 * libFuzzer sees only the process's RSS, which grows by a few kB an
	 * input from PostgreSQL's own bookkeeping of the one long transaction
	 * (pending syncs and fsync requests of the relation files TRUNCATE
	 * makes); growth of the memory contexts apart from that is a leak.
	 */
	if (fz.inputs % 100000 == 0)
		fprintf(stderr, "partback_fuzz: " UINT64_FORMAT " inputs, %zu kB in memory contexts\n",
				fz.inputs, MemoryContextMemAllocated(TopMemoryContext, true) / 1024);
	return 0;
}

/* libFuzzer exit()s when it is done: report then. */
static void
report_at_exit(void)
{
	restore_templates();
	fprintf(stderr, "partback_fuzz: target %s: " UINT64_FORMAT " inputs run\n",
			fz.target_name, fz.inputs);
	for (FuzzStep *step = (fz.target == TARGET_STREAM ? stream_steps : json_steps);
		 step->name; step++)
		if (step->ok + step->errors > 0)
			fprintf(stderr, "partback_fuzz:   %-16s " UINT64_FORMAT " ok, " UINT64_FORMAT " ERRORs\n",
					step->name, step->ok, step->errors);
	fprintf(stderr, "partback_fuzz:   ERRORs by SQLSTATE:");
	for (int i = 0; i < fz.nsqlstates; i++)
		fprintf(stderr, " %s " UINT64_FORMAT, unpack_sql_state(fz.sqlstate_code[i]),
				fz.sqlstate_count[i]);
	fprintf(stderr, "\npartback_fuzz:   internal errors (XX000): " UINT64_FORMAT
			", %d distinct\n", fz.internal_errors, fz.ninternal);
	fflush(stderr);
}

/* ---------- setup ---------- */

static char *
json_required(JsonbContainer *c, const char *key)
{
	return (char *) pb_json_str(c, key, false);
}

/*
 * Find, in the newest manifest of the template backup, the partition whose
 * path is the leaf's name, and read what the targets need.
 */
static void
load_template(void)
{
	int64	   *ids;
	int			n = pb_backup_ids(fz.backup_dir, fz.source_db, &ids);
	int64		size;
	Jsonb	   *manifest;
	Jsonb	   *meta;
	JsonbContainer *tables;
	JsonbContainer *columns;
	const char *leaf_name = get_rel_name(fz.leaf);

	if (n == 0)
		elog(ERROR, "partback_fuzz: no backup of \"%s\" in \"%s\"", fz.source_db,
			 fz.backup_dir);
	fz.db_dir = pb_db_dir(fz.backup_dir, fz.source_db);
	fz.manifest_path = pb_manifest_path(fz.backup_dir, fz.source_db, ids[n - 1]);
	fz.manifest_text = pb_read_small_file(fz.manifest_path, 64 * 1024 * 1024, &size);
	manifest = pb_parse_json(fz.manifest_text, fz.manifest_path);
	tables = pb_json_container(&manifest->root, "tables");
	for (int i = 0; i < pb_json_array_size(tables) && !fz.meta_rel; i++)
	{
		JsonbContainer *t = pb_json_array_container(tables, i);
		JsonbContainer *parts = pb_json_container(t, "partitions");

		for (int j = 0; j < pb_json_array_size(parts); j++)
		{
			JsonbContainer *p = pb_json_array_container(parts, j);

			if (strcmp(json_required(p, "path"), leaf_name) != 0)
				continue;
			fz.schema = json_required(t, "schema");
			fz.table = json_required(t, "name");
			fz.partition_path = json_required(p, "path");
			fz.meta_rel = json_required(p, "meta");
			fz.meta_sha = json_required(p, "meta_sha256");
			break;
		}
	}
	if (!fz.meta_rel)
		elog(ERROR, "partback_fuzz: no partition \"%s\" in \"%s\"", leaf_name,
			 fz.manifest_path);
	fz.meta_path = psprintf("%s/%s", fz.db_dir, fz.meta_rel);
	fz.meta_text = pb_read_small_file(fz.meta_path, 64 * 1024 * 1024, &size);
	meta = pb_parse_json(fz.meta_text, fz.meta_path);
	columns = pb_json_container(&meta->root, "columns");
	for (int i = 0; i < pb_json_array_size(columns); i++)
		fz.columns = lappend(fz.columns, (char *) pb_json_array_str(columns, i));
}

static char *
text_arg(FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		elog(ERROR, "partback_fuzz_run: argument %d must not be NULL", i + 1);
	return text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/*
 * partback_fuzz_run(target text, backup_dir text, source_db text,
 *					 leaf regclass, findings_dir text, libfuzzer_args text[])
 *
 * backup_dir holds a backup of source_db that includes the partition leaf
 * (whose path is its name); its files are overwritten while the run lasts.
 * libfuzzer_args are libFuzzer's command-line arguments: options, then
 * corpus directories or single inputs to run.  Does not return when
 * libFuzzer ends the process.
 */
Datum
partback_fuzz_run(PG_FUNCTION_ARGS)
{
	char	   *target = text_arg(fcinfo, 0);
	ArrayType  *args;
	Datum	   *elems;
	bool	   *nulls;
	int			nargs;
	int			argc;
	char	  **argv;
	int			rc;
	MemoryContext old;

	memset(&fz, 0, sizeof(fz));
	if (strcmp(target, "manifest") == 0)
		fz.target = TARGET_MANIFEST;
	else if (strcmp(target, "meta") == 0)
		fz.target = TARGET_META;
	else if (strcmp(target, "stream") == 0)
		fz.target = TARGET_STREAM;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown fuzz target \"%s\"", target),
				 errhint("The targets are manifest, meta and stream.")));
	if (PG_ARGISNULL(3) || PG_ARGISNULL(5))
		elog(ERROR, "partback_fuzz_run: arguments must not be NULL");

	fz.run_cxt = AllocSetContextCreate(TopMemoryContext, "partback_fuzz run",
									   ALLOCSET_DEFAULT_SIZES);
	fz.input_cxt = AllocSetContextCreate(fz.run_cxt, "partback_fuzz input",
										 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fz.run_cxt);
	fz.target_name = pstrdup(target);
	fz.backup_dir = text_arg(fcinfo, 1);
	fz.source_db = text_arg(fcinfo, 2);
	fz.leaf = PG_GETARG_OID(3);
	fz.findings_dir = text_arg(fcinfo, 4);
	fz.stream_path = psprintf("%s.stream", fz.backup_dir);
	load_template();

	args = PG_GETARG_ARRAYTYPE_P(5);
	deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nargs);
	argv = palloc0(sizeof(char *) * (nargs + 2));
	argv[0] = "partback_fuzz";
	for (int i = 0; i < nargs; i++)
		argv[i + 1] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	argc = nargs + 1;
	MemoryContextSwitchTo(old);

	atexit(report_at_exit);
	rc = LLVMFuzzerRunDriver(&argc, &argv, fuzz_one_input);
	/* only when libFuzzer did not exit by itself (-help=1 and the like) */
	restore_templates();
	PG_RETURN_INT32(rc);
}
