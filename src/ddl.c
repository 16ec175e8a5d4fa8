/*-------------------------------------------------------------------------
 *
 * ddl.c
 *		Running a definition read from a backup: exactly one statement of
 *		the kind expected, never more.
 *
 * A backup dir is untrusted input.  Definitions partback keeps as text
 * (triggers, rules, extended statistics, policies, publication members)
 * are parsed first; a text that holds a second statement, or a statement
 * of another kind, is refused before anything runs.  Pieces of statements
 * (a column's default, a CHECK, an index body, a partition bound...) are
 * parsed on their own, in a statement of their kind, before partback puts
 * them into the statement it builds, and that statement is parsed again
 * before it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_language.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "partback.h"
#include "auth.h"
#include "gate.h"

PG_FUNCTION_INFO_V1(partback_execute_definition);
PG_FUNCTION_INFO_V1(partback_definition_piece);

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
	if (strcmp(kind, "table") == 0)
		return T_CreateStmt;
	if (strcmp(kind, "alter table") == 0)
		return T_AlterTableStmt;
	if (strcmp(kind, "index") == 0)
		return T_IndexStmt;
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
	if (strcmp(kind, "collation") == 0)
		return T_DefineStmt;	/* of a collation: partback_execute_definition */
	elog(ERROR, "partback: unknown kind of definition \"%s\"", kind);
	return T_Invalid;			/* keep the compiler quiet */
}

/*
 * A function a superuser would create from a backup nobody authenticated
 * (no partback.auth_key_file) must not give whoever wrote the dir more
 * than the backup's tables already do: no function in an untrusted
 * language (C loads any library, plperlu runs anything as the server's OS
 * user) and no SECURITY DEFINER function (it would run as its owner for
 * every caller, for good).  A role that is not a superuser creates
 * functions only as PostgreSQL lets it, and under its own name.
 */
static void
check_function_origin(CreateFunctionStmt *stmt, const char *what)
{
	const char *language = "sql";
	bool		definer = false;
	ListCell   *lc;
	HeapTuple	tup;
	bool		trusted;

	if (!superuser() || pb_key() != NULL)
		return;
	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "language") == 0)
			language = defGetString(opt);
		else if (strcmp(opt->defname, "security") == 0)
			definer = defGetBoolean(opt);
	}
	tup = SearchSysCache1(LANGNAME, CStringGetDatum(language));
	trusted = HeapTupleIsValid(tup) && ((Form_pg_language) GETSTRUCT(tup))->lanpltrusted;
	if (HeapTupleIsValid(tup))
		ReleaseSysCache(tup);
	if (!trusted || definer)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("refusing to create %s from a backup that is not authenticated", what),
				 !trusted ?
				 errdetail("It is written in language \"%s\", which is not trusted: creating it would let whoever can write the backup directory run code as the server's operating system user.",
						   language) :
				 errdetail("It is SECURITY DEFINER: it would run with its owner's rights for every caller."),
				 errhint("Create the function in the target database first (the restore uses it as it is), or set partback.auth_key_file so that backups are authenticated.")));
}

/*
 * _execute_definition(sql, kind, what): run sql, which must be a single
 * statement of kind; what names the item for the error.
 */
Datum
partback_execute_definition(PG_FUNCTION_ARGS)
{
	char	   *sql;
	char	   *kind;
	char	   *what;
	NodeTag		expected;
	List	   *stmts;
	Node	   *stmt;

	pb_gate_check_call(fcinfo);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	what = text_to_cstring(PG_GETARG_TEXT_PP(2));
	expected = statement_kind(kind);
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	stmt = list_length(stmts) == 1 ? linitial_node(RawStmt, stmts)->stmt : NULL;

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
	if (stmt != NULL && nodeTag(stmt) == T_DefineStmt &&
		((DefineStmt *) stmt)->kind != OBJECT_COLLATION)
		stmt = NULL;
	if (stmt == NULL || nodeTag(stmt) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("invalid definition of %s in the backup", what),
				 errdetail("It must be one %s statement; it is: %s", kind, sql),
				 errhint("The backup's manifest was changed after it was written; restore from another backup.")));
	if (IsA(stmt, CreateFunctionStmt))
		check_function_origin((CreateFunctionStmt *) stmt, what);
	SPI_connect();
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "partback: could not create %s", what);
	SPI_finish();
	PG_RETURN_VOID();
}

/* Is stmt "SELECT <one unnamed expression>" and nothing else? */
static bool
is_bare_expression(Node *stmt)
{
	SelectStmt *select;
	ResTarget  *target;

	if (!IsA(stmt, SelectStmt))
		return false;
	select = (SelectStmt *) stmt;
	if (select->op != SETOP_NONE || select->distinctClause != NIL ||
		select->intoClause != NULL || select->fromClause != NIL ||
		select->whereClause != NULL || select->groupClause != NIL ||
		select->havingClause != NULL || select->windowClause != NIL ||
		select->valuesLists != NIL || select->sortClause != NIL ||
		select->limitOffset != NULL || select->limitCount != NULL ||
		select->lockingClause != NIL || select->withClause != NULL ||
		list_length(select->targetList) != 1)
		return false;
	target = linitial_node(ResTarget, select->targetList);
	return target->name == NULL && target->indirection == NIL;
}

/* Is stmt "ALTER TABLE t ADD <one table constraint>"? */
static bool
is_one_constraint(Node *stmt)
{
	AlterTableStmt *alter;
	AlterTableCmd *cmd;

	if (!IsA(stmt, AlterTableStmt))
		return false;
	alter = (AlterTableStmt *) stmt;
	if (list_length(alter->cmds) != 1)
		return false;
	cmd = linitial_node(AlterTableCmd, alter->cmds);
	return cmd->subtype == AT_AddConstraint && IsA(cmd->def, Constraint);
}

/* Is stmt "CREATE TABLE t () PARTITION BY <key>" and nothing more? */
static bool
is_partition_key(Node *stmt)
{
	CreateStmt *create;

	if (!IsA(stmt, CreateStmt))
		return false;
	create = (CreateStmt *) stmt;
	return create->partspec != NULL && create->partbound == NULL &&
		create->tableElts == NIL && create->inhRelations == NIL &&
		create->options == NIL && create->tablespacename == NULL &&
		create->accessMethod == NULL && create->ofTypename == NULL &&
		create->constraints == NIL;
}

/*
 * Is each of datums a constant, as pg_get_expr() writes bounds: a literal,
 * possibly cast, or MINVALUE/MAXVALUE?  A bound's expression is evaluated
 * when the partition is created, so a function call there would run.
 */
static bool
bound_datums_are_constants(List *datums)
{
	ListCell   *lc;

	foreach(lc, datums)
	{
		Node	   *datum = lfirst(lc);

		if (IsA(datum, TypeCast))
			datum = ((TypeCast *) datum)->arg;
		if (IsA(datum, A_Const))
			continue;
		if (IsA(datum, ColumnRef) && list_length(((ColumnRef *) datum)->fields) == 1 &&
			IsA(linitial(((ColumnRef *) datum)->fields), String))
		{
			const char *word = strVal(linitial(((ColumnRef *) datum)->fields));

			if (strcmp(word, "minvalue") == 0 || strcmp(word, "maxvalue") == 0)
				continue;
		}
		return false;
	}
	return true;
}

/* Is stmt "CREATE TABLE t PARTITION OF p <bound of constants>" and nothing more? */
static bool
is_partition_bound(Node *stmt)
{
	CreateStmt *create;
	PartitionBoundSpec *bound;

	if (!IsA(stmt, CreateStmt))
		return false;
	create = (CreateStmt *) stmt;
	if (create->partbound == NULL || create->partspec != NULL ||
		create->tableElts != NIL || create->options != NIL ||
		create->tablespacename != NULL || create->accessMethod != NULL ||
		create->constraints != NIL)
		return false;
	bound = create->partbound;
	return bound_datums_are_constants(bound->listdatums) &&
		bound_datums_are_constants(bound->lowerdatums) &&
		bound_datums_are_constants(bound->upperdatums);
}

static void
piece_error_context(void *arg)
{
	errcontext("checking %s in the backup", (const char *) arg);
}

/*
 * _definition_piece(piece, kind, what): piece, a part of a statement read
 * from a backup, checked to be exactly one item of kind, ready to be put
 * into a statement: an expression comes back in parentheses.  The pieces
 * end in a newline, so that a trailing "--" comment cannot swallow what
 * follows.  what names the item for the error.
 *
 * kind is "expression" (a default, generated expression, policy qual),
 * "constraint" (what follows ALTER TABLE ... ADD), "index" (what follows
 * CREATE INDEX ... ON t), "partition key" (what follows PARTITION BY) or
 * "bound" (what follows PARTITION OF p).
 */
Datum
partback_definition_piece(PG_FUNCTION_ARGS)
{
	char	   *piece;
	char	   *kind;
	char	   *what;
	const char *prefix;
	bool		(*check) (Node *stmt);
	List	   *stmts;
	bool		valid = false;
	ErrorContextCallback errcallback;

	pb_gate_check_call(fcinfo);
	piece = text_to_cstring(PG_GETARG_TEXT_PP(0));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	what = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(kind, "expression") == 0)
	{
		prefix = "SELECT ";
		check = is_bare_expression;
	}
	else if (strcmp(kind, "constraint") == 0)
	{
		prefix = "ALTER TABLE t ADD ";
		check = is_one_constraint;
	}
	else if (strcmp(kind, "index") == 0)
	{
		prefix = "CREATE INDEX ON t ";
		check = NULL;
	}
	else if (strcmp(kind, "partition key") == 0)
	{
		prefix = "CREATE TABLE t () PARTITION BY ";
		check = is_partition_key;
	}
	else if (strcmp(kind, "bound") == 0)
	{
		prefix = "CREATE TABLE t PARTITION OF p ";
		check = is_partition_bound;
	}
	else
		elog(ERROR, "partback: unknown kind of definition piece \"%s\"", kind);

	/* a syntax error names the item too */
	errcallback.callback = piece_error_context;
	errcallback.arg = what;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	stmts = raw_parser(psprintf("%s%s\n", prefix, piece), RAW_PARSE_DEFAULT);
	error_context_stack = errcallback.previous;

	if (list_length(stmts) == 1)
	{
		Node	   *stmt = linitial_node(RawStmt, stmts)->stmt;

		valid = check ? check(stmt) : IsA(stmt, IndexStmt);
	}
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("invalid %s in the backup", what),
				 errdetail("It must be one %s; it is: %s", kind, piece),
				 errhint("The backup's manifest was changed after it was written; restore from another backup.")));

	if (strcmp(kind, "expression") == 0)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("(%s\n)", piece)));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s\n", piece)));
}
