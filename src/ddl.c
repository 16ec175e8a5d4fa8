/*-------------------------------------------------------------------------
 *
 * ddl.c
 *		Running a definition read from a backup: exactly one statement of
 *		the kind expected, never more.
 *
 * A backup dir is untrusted input.  Definitions partback keeps as text
 * (triggers, rules, extended statistics, policies, publication members)
 * are parsed first; a text that holds a second statement, or a statement
 * of another kind, is refused before anything runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"

#include "partback.h"

PG_FUNCTION_INFO_V1(partback_execute_definition);

static NodeTag
statement_kind(const char *kind)
{
	if (strcmp(kind, "trigger") == 0)
		return T_CreateTrigStmt;
	if (strcmp(kind, "rule") == 0)
		return T_RuleStmt;
	if (strcmp(kind, "statistics") == 0)
		return T_CreateStatsStmt;
	if (strcmp(kind, "policy") == 0)
		return T_CreatePolicyStmt;
	if (strcmp(kind, "publication") == 0)
		return T_AlterPublicationStmt;
	/* the objects a table depends on (sql/install/21_dependencies.sql) */
	if (strcmp(kind, "function") == 0)
		return T_CreateFunctionStmt;
	if (strcmp(kind, "enum") == 0)
		return T_CreateEnumStmt;
	if (strcmp(kind, "domain") == 0)
		return T_CreateDomainStmt;
	if (strcmp(kind, "domain constraint") == 0)
		return T_AlterDomainStmt;
	if (strcmp(kind, "composite") == 0)
		return T_CompositeTypeStmt;
	if (strcmp(kind, "range") == 0)
		return T_CreateRangeStmt;
	if (strcmp(kind, "sequence") == 0)
		return T_CreateSeqStmt;
	if (strcmp(kind, "extension") == 0)
		return T_CreateExtensionStmt;
	elog(ERROR, "partback: unknown kind of definition \"%s\"", kind);
	return T_Invalid;			/* keep the compiler quiet */
}

/*
 * _execute_definition(sql, kind, what): run sql, which must be a single
 * statement of kind; what names the item for the error.
 */
Datum
partback_execute_definition(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(2));
	NodeTag		expected = statement_kind(kind);
	List	   *stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	Node	   *stmt = list_length(stmts) == 1 ? linitial_node(RawStmt, stmts)->stmt : NULL;

	/*
	 * A function is created, never replaced (CREATE OR REPLACE could change
	 * a function the target has); a domain only gains a constraint.
	 */
	if (stmt != NULL && nodeTag(stmt) == T_CreateFunctionStmt &&
		((CreateFunctionStmt *) stmt)->replace)
		stmt = NULL;
	if (stmt != NULL && nodeTag(stmt) == T_AlterDomainStmt &&
		((AlterDomainStmt *) stmt)->subtype != 'C')
		stmt = NULL;
	if (stmt == NULL || nodeTag(stmt) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("invalid definition of %s in the backup", what),
				 errdetail("It must be one %s statement; it is: %s", kind, sql),
				 errhint("The backup's manifest was changed after it was written; restore from another backup.")));
	SPI_connect();
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "partback: could not create %s", what);
	SPI_finish();
	PG_RETURN_VOID();
}
