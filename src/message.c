/*-------------------------------------------------------------------------
 *
 * message.c
 *		What a job reports besides its end state (partback.job_message):
 *		the WARNINGs and NOTICEs raised while it runs, caught by an
 *		emit_log_hook in its leader and copy workers, and the error of each
 *		table it failed while it went on with the others.
 *
 *		Messages are kept in this process's memory as they are raised --
 *		often inside a transaction that will abort -- and written to the
 *		catalog at the next pb_messages_flush.  A caller waiting for the job
 *		gets them raised again at their level (pb_messages_raise).
 *
 *		Which errors a job survives: one table's problem (its data, its
 *		definition, its target, its files) fails that table alone; running
 *		out of resources, the system's and the operator's errors (SQLSTATE
 *		classes 53, 57, 58), and cancellation, end the job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "partback.h"
#include "gate.h"

/* at most this many warnings and notices per process and job */
#define PB_MAX_MESSAGES 1000

typedef struct PbMessage
{
	const char *level;
	char	   *table_name;
	char		sqlstate[6];
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *context;
} PbMessage;

static MemoryContext message_context = NULL;
static List *pending = NIL;
static int	captured = 0;
static int64 capture_job_id = 0;
static char current_table[2 * NAMEDATALEN + 2];
static bool in_hook = false;
static int	server_log_level = WARNING;	/* log_min_messages before the
											 * override */
static bool log_level_raised = false;	/* log_min_messages set to NOTICE */
static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * The library may run with the SQL objects of a version before
 * partback.job_message (until ALTER EXTENSION partback UPDATE): then a job
 * keeps no messages, as before.
 */
bool
pb_messages_supported(void)
{
	Oid			nsp = get_namespace_oid("partback", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("job_message", nsp));
}

static char *
copy_or_null(const char *s)
{
	return s ? MemoryContextStrdup(message_context, s) : NULL;
}

/*
 * A context without the lines of partback's own SQL functions (named
 * partback._*): they say how partback works, not where the problem is.
 * NULL if nothing else is left.
 */
static char *
user_context(const char *context)
{
	StringInfoData buf;
	const char *p = context;

	if (context == NULL)
		return NULL;
	initStringInfo(&buf);
	while (*p)
	{
		const char *end = strchr(p, '\n');
		int			len = end ? end - p : strlen(p);

		if (strstr(pnstrdup(p, len), "partback._") == NULL)
		{
			if (buf.len > 0)
				appendStringInfoChar(&buf, '\n');
			appendBinaryStringInfo(&buf, p, len);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return buf.len > 0 ? buf.data : NULL;
}

static void
add(const char *level, const char *table_name, int sqlerrcode,
	const char *message, const char *detail, const char *hint, const char *context)
{
	MemoryContext old = MemoryContextSwitchTo(message_context);
	PbMessage  *m = palloc0(sizeof(PbMessage));

	m->level = level;
	m->table_name = copy_or_null(table_name && table_name[0] ? table_name : NULL);
	memcpy(m->sqlstate, unpack_sql_state(sqlerrcode), 5);
	m->message = copy_or_null(message ? message : "");
	m->detail = copy_or_null(detail);
	m->hint = copy_or_null(hint);
	m->context = copy_or_null(user_context(context));
	pending = lappend(pending, m);
	MemoryContextSwitchTo(old);
}

/*
 * Keep the WARNINGs, and the NOTICEs that tell something (those with an
 * SQLSTATE of class 00 or 01: not the "already exists, skipping" of an IF
 * [NOT] EXISTS, which carries the error it avoided).  A NOTICE is shown in
 * the server log only as log_min_messages says.
 */
static void
message_hook(ErrorData *edata)
{
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);

	/*
	 * The server log shows what the server's own log_min_messages says
	 * (where LOG ranks above ERROR), not more because of the override.
	 */
	if (log_level_raised && edata->elevel < FATAL && edata->elevel != LOG &&
		edata->elevel != LOG_SERVER_ONLY &&
		(server_log_level == LOG || edata->elevel < server_log_level))
		edata->output_to_server = false;

	if (capture_job_id == 0 || in_hook ||
		(edata->elevel != WARNING && edata->elevel != NOTICE))
		return;
	if (edata->elevel == NOTICE)
	{
		int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

		if (category != ERRCODE_SUCCESSFUL_COMPLETION && category != ERRCODE_WARNING)
			return;
	}
	if (captured >= PB_MAX_MESSAGES)
		return;
	in_hook = true;
	captured++;
	add(edata->elevel == WARNING ? "WARNING" : "NOTICE", current_table,
		edata->sqlerrcode, edata->message, edata->detail, edata->hint,
		edata->context);
	in_hook = false;
}

/*
 * Start catching this process's warnings and notices for job_id.  A
 * message reaches the hook only if the server log would show it: let the
 * log take NOTICEs, and have the hook keep out of it what it kept out
 * before.
 */
void
pb_messages_capture(int64 job_id)
{
	if (message_context == NULL)
		message_context = AllocSetContextCreate(TopMemoryContext, "partback messages",
												ALLOCSET_SMALL_SIZES);
	capture_job_id = job_id;
	current_table[0] = '\0';
	if (emit_log_hook != message_hook)
	{
		server_log_level = log_min_messages;
		if (log_min_messages == LOG || log_min_messages > NOTICE)
		{
			SetConfigOption("log_min_messages", "notice", PGC_SUSET, PGC_S_OVERRIDE);
			log_level_raised = true;
		}
		prev_emit_log_hook = emit_log_hook;
		emit_log_hook = message_hook;
	}
}

/*
 * How many messages are kept, not yet written: a mark for
 * pb_messages_forget_since.
 */
int
pb_messages_mark(void)
{
	return list_length(pending);
}

/*
 * Forget the messages kept since mark: they told of changes a transaction
 * rolled back whole (an atomic restore's table, restore.c), which did not
 * happen.
 */
void
pb_messages_forget_since(int mark)
{
	if (mark >= 0 && mark < list_length(pending))
		pending = list_truncate(pending, mark);
}

/* The table that messages raised from now on are about (NULL: none). */
void
pb_messages_set_table(const char *table_name)
{
	strlcpy(current_table, table_name ? table_name : "", sizeof(current_table));
}

/*
 * Is this error one table's, that a job goes on after?  Not a cancel, a
 * shutdown, or a lack of resources or a system error, which the other
 * tables would meet too.
 */
bool
pb_error_is_table_failure(ErrorData *edata)
{
	int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return edata->elevel == ERROR &&
		category != ERRCODE_INSUFFICIENT_RESOURCES &&
		category != ERRCODE_OPERATOR_INTERVENTION &&
		category != ERRCODE_SYSTEM_ERROR;
}

/*
 * In PG_CATCH, with a transaction (not a subtransaction) open: if the error
 * is one table's (pb_error_is_table_failure), report it, roll everything
 * back and record it as table_name's failure (copied into context); raise
 * anything else again.
 */
void
pb_catch_table_failure(const char *table_name, MemoryContext context)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	if (!pb_error_is_table_failure(edata))
		PG_RE_THROW();
	HOLD_INTERRUPTS();
	EmitErrorReport();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	RESUME_INTERRUPTS();
	MemoryContextSwitchTo(context);
	pb_messages_table_failed(table_name, edata);
}

/* Record that table_name failed with edata (written at the next flush). */
void
pb_messages_table_failed(const char *table_name, ErrorData *edata)
{
	if (message_context == NULL)
		message_context = AllocSetContextCreate(TopMemoryContext, "partback messages",
												ALLOCSET_SMALL_SIZES);
	add("ERROR", table_name, edata->sqlerrcode, edata->message, edata->detail,
		edata->hint, edata->context);
}

/*
 * Write the messages kept so far into partback.job_message, in the current
 * transaction; and mark the tables that failed as failed in partback.task.
 */
void
pb_messages_flush(int64 job_id)
{
	ListCell   *lc;
	Oid			types[9] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, INT4OID};

	if (pending != NIL && !pb_messages_supported())
		pending = NIL;
	foreach(lc, pending)
	{
		PbMessage  *m = lfirst(lc);
		Datum		values[9];
		char		nulls[9] = "         ";

		values[0] = Int64GetDatum(job_id);
		values[1] = CStringGetTextDatum(m->level);
		values[2] = m->table_name ? CStringGetTextDatum(m->table_name) : (Datum) 0;
		nulls[2] = m->table_name ? ' ' : 'n';
		values[3] = CStringGetTextDatum(m->sqlstate);
		values[4] = CStringGetTextDatum(m->message);
		values[5] = m->detail ? CStringGetTextDatum(m->detail) : (Datum) 0;
		nulls[5] = m->detail ? ' ' : 'n';
		values[6] = m->hint ? CStringGetTextDatum(m->hint) : (Datum) 0;
		nulls[6] = m->hint ? ' ' : 'n';
		values[7] = m->context ? CStringGetTextDatum(m->context) : (Datum) 0;
		nulls[7] = m->context ? ' ' : 'n';
		/* one writer per job at a time is not given: take a row lock first */
		pb_catalog_exec("SELECT 1 FROM partback.job WHERE job_id = $1 FOR UPDATE",
						1, types, values, NULL, SPI_OK_SELECT);
		pb_catalog_exec("INSERT INTO partback.job_message (job_id, seq, level, table_name, "
						"sqlstate, message, detail, hint, context) "
						"SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8 "
						"FROM partback.job_message WHERE job_id = $1",
						8, types, values, nulls, SPI_OK_INSERT);
		if (strcmp(m->level, "ERROR") == 0 && m->table_name)
			pb_catalog_exec("UPDATE partback.task SET state = 'failed', error = $5, "
							"finished_at = clock_timestamp() "
							"WHERE job_id = $1 AND table_name = $3",
							8, types, values, nulls, SPI_OK_UPDATE);
	}
	list_free(pending);
	pending = NIL;
	if (message_context)
		MemoryContextReset(message_context);
}

/* Were tables of this job recorded as failed (flushed or not)? */
int
pb_failed_tables(int64 job_id)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job_id);
	int			n;
	bool		isnull;

	if (!pb_messages_supported())
		return 0;
	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT count(DISTINCT coalesce(table_name, '')) FROM partback.job_message "
							  "WHERE job_id = $1 AND level = 'ERROR'",
							  1, &type, &value, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the messages of job " INT64_FORMAT, job_id);
	n = (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull));
	SPI_finish();
	pb_catalog_end();
	return n;
}

/*
 * End a job some of whose tables failed, in the current transaction, by
 * raising its error: one table's own (message, detail, hint, context),
 * or a summary naming each.  The caller records it as the job's.
 */
void
pb_raise_table_failures(int64 job_id, int ntables)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job_id);
	uint64		n;
	int			nnamed = 0;
	StringInfoData names;
	StringInfoData detail;
	char	   *first[6] = {0};
	char	   *where;

	/* the tables first; a failure of no table is the job's foreign keys' */
	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT DISTINCT ON (table_name IS NULL, coalesce(table_name, '')) "
							  "table_name, sqlstate, message, detail, hint, context "
							  "FROM partback.job_message WHERE job_id = $1 AND level = 'ERROR' "
							  "ORDER BY table_name IS NULL, coalesce(table_name, ''), seq",
							  1, &type, &value, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the messages of job " INT64_FORMAT, job_id);
	n = SPI_processed;
	initStringInfo(&names);
	initStringInfo(&detail);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *table = SPI_getvalue(tup, desc, 1);

		if (i == 0)
			for (int k = 0; k < 6; k++)
			{
				char	   *v = SPI_getvalue(tup, desc, k + 1);

				first[k] = v ? MemoryContextStrdup(TopTransactionContext, v) : NULL;
			}
		if (table)
			appendStringInfo(&names, "%s%s", nnamed++ > 0 ? ", " : "", table);
		appendStringInfo(&detail, "%s%s: %s", i > 0 ? "\n" : "",
						 table ? table : "foreign keys", SPI_getvalue(tup, desc, 3));
	}
	names.data = MemoryContextStrdup(TopTransactionContext, names.data);
	detail.data = MemoryContextStrdup(TopTransactionContext, detail.data);
	SPI_finish();
	pb_catalog_end();
	if (n == 0)
		return;

	/*
	 * One table failed, or every one (as when the backup dir cannot be
	 * written): its error as it is, so that it reads as the job's.
	 */
	if (n == 1 || nnamed >= ntables)
	{
		char	   *s = first[1];

		if (first[0] == NULL)
			where = psprintf("the foreign keys of partback job " INT64_FORMAT " (put back NOT VALID)",
							 job_id);
		else if (ntables <= 1)
			where = psprintf("table %s of partback job " INT64_FORMAT, first[0], job_id);
		else if (nnamed == 1)
			where = psprintf("table %s of partback job " INT64_FORMAT " (1 of %d tables failed; the others are done)",
							 first[0], job_id, ntables);
		else
			where = psprintf("table %s of partback job " INT64_FORMAT " (all %d tables failed; partback.job_message has each error)",
							 first[0], job_id, ntables);
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])),
				 errmsg("%s", first[2]),
				 first[3] ? errdetail("%s", first[3]) : 0,
				 first[4] ? errhint("%s", first[4]) : 0,
				 first[5] ? errcontext("%s", first[5]) : 0,
				 errcontext("%s", where)));
	}
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(first[1][0], first[1][1], first[1][2], first[1][3], first[1][4])),
			 nnamed < (int) n ?
			 errmsg("partback job " INT64_FORMAT ": %d of %d tables failed: %s; and its foreign keys",
					job_id, nnamed, ntables, names.data) :
			 errmsg("partback job " INT64_FORMAT ": %d of %d tables failed: %s",
					job_id, nnamed, ntables, names.data),
			 errdetail("%s", detail.data),
			 errhint("The other tables are done; calling the same function again retries what failed. partback.job_message holds each failure's detail, hint and context.")));
}

/*
 * Raise again, in the caller's session, the warnings and notices of a job
 * it waited for; its errors are in the job's own error, raised after.
 */
void
pb_messages_raise(int64 job_id)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(job_id);
	MemoryContext outer = CurrentMemoryContext;
	List	   *rows = NIL;
	ListCell   *lc;

	if (!pb_messages_supported())
		return;
	SPI_connect();
	if (SPI_execute_with_args("SELECT level, sqlstate, message, detail, hint, context, table_name "
							  "FROM partback.job_message "
							  "WHERE job_id = $1 AND level IN ('NOTICE', 'WARNING') ORDER BY seq",
							  1, &type, &value, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the messages of job " INT64_FORMAT, job_id);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	  **r = MemoryContextAllocZero(outer, sizeof(char *) * 7);

		for (int k = 0; k < 7; k++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, k + 1);

			r[k] = v ? MemoryContextStrdup(outer, v) : NULL;
		}
		rows = lappend(rows, r);
	}
	SPI_finish();
	foreach(lc, rows)
	{
		char	  **r = lfirst(lc);
		char	   *s = r[1];

		ereport(strcmp(r[0], "WARNING") == 0 ? WARNING : NOTICE,
				(errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])),
				 errmsg("%s", r[2]),
				 r[3] ? errdetail("%s", r[3]) : 0,
				 r[4] ? errhint("%s", r[4]) : 0,
				 r[5] ? errcontext("%s", r[5]) : 0,
				 errcontext("%s", r[6] ?
							psprintf("table %s of partback job " INT64_FORMAT, r[6], job_id) :
							psprintf("partback job " INT64_FORMAT, job_id))));
	}
}

/* Keep the rest of a job's error (message and SQLSTATE: pb_job_finish). */
void
pb_job_error_story(int64 job_id, ErrorData *edata)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = "    ";
	const char *parts[3] = {edata->detail, edata->hint, edata->context};

	if (!pb_messages_supported())
		return;
	values[0] = Int64GetDatum(job_id);
	for (int i = 0; i < 3; i++)
	{
		values[i + 1] = parts[i] ? CStringGetTextDatum(parts[i]) : (Datum) 0;
		nulls[i + 1] = parts[i] ? ' ' : 'n';
	}
	pb_catalog_exec("UPDATE partback.job SET error_detail = $2, error_hint = $3, "
					"error_context = $4 WHERE job_id = $1",
					4, types, values, nulls, SPI_OK_UPDATE);
}

/* The first error recorded for a table of a job, or NULL. */
char *
pb_table_error(int64 job_id, const char *table_name)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	MemoryContext outer = CurrentMemoryContext;
	char	   *result = NULL;

	if (!pb_messages_supported())
		return NULL;
	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(table_name);
	pb_catalog_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT message FROM partback.job_message "
							  "WHERE job_id = $1 AND table_name = $2 AND level = 'ERROR' "
							  "ORDER BY seq LIMIT 1",
							  2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "partback: could not read the messages of job " INT64_FORMAT, job_id);
	if (SPI_processed == 1)
		result = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1));
	SPI_finish();
	pb_catalog_end();
	return result;
}

PG_FUNCTION_INFO_V1(partback_raise_job_messages);

/*
 * _raise_job_messages(job_id): for wait_job, what pb_messages_raise does
 * for a caller of wait => true.
 */
Datum
partback_raise_job_messages(PG_FUNCTION_ARGS)
{
	pb_gate_check_call(fcinfo);
	pb_messages_raise(PG_GETARG_INT64(0));
	PG_RETURN_VOID();
}
