/*-------------------------------------------------------------------------
 *
 * gate.c
 *		partback's internal functions run only inside partback's own calls.
 *
 * The functions of schema partback whose names start with an underscore
 * (_manifest, _partition_meta, _def_create_root, _execute_definition, ...)
 * are partback's internals: its public functions and its background
 * workers call them through SQL, as the calling role, so PostgreSQL checks
 * EXECUTE on them as that role, and EXECUTE on them is granted to PUBLIC.
 * What keeps a role from calling them directly, with arguments of its own
 * choosing, is this gate.  An internal function runs only
 *
 *	- for a superuser, or
 *	- while one of partback's public functions (any other function of the
 *	  schema) runs in this backend, as the role that called it, or
 *	- in partback's own background workers, as the job's role,
 *
 * and never inside a security-restricted operation: there the code of a
 * table's owner runs (constraints, defaults and index expressions during a
 * load or an index build), which must not reach partback's internals with
 * the rights of the job.  Nor does it run as a role other than the one that
 * opened the gate: a SECURITY DEFINER function called inside a public call
 * runs as its owner, who did not call partback.
 *
 * needs_fmgr_hook marks partback's public and internal functions, so that
 * fmgr_hook sees each call of them (and the planner inlines none of them):
 * a public call opens the gate for its duration, an internal one is refused
 * while it is closed.  object_access_hook refuses an internal function
 * already when a query that calls it starts (OAT_FUNCTION_EXECUTE, after
 * PostgreSQL's own EXECUTE check).  The internal C functions check the gate
 * once more on entry (pb_gate_check_call): a call that loads the library
 * started before these hooks existed.
 *
 * Only the extension's member functions count: a function someone else
 * created in schema partback is neither.  needs_fmgr_hook runs for every
 * function looked up in the server, so the class of a function (public,
 * internal, other) is kept in a small per-backend hash, emptied when
 * pg_proc or pg_namespace changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "gate.h"

typedef enum PbFuncClass
{
	PB_FUNC_OTHER = 0,			/* not partback's */
	PB_FUNC_PUBLIC,				/* opens the gate while it runs */
	PB_FUNC_INTERNAL			/* runs only while the gate is open */
} PbFuncClass;

typedef struct PbFuncClassEntry
{
	Oid			fn_oid;			/* hash key */
	PbFuncClass class;
} PbFuncClassEntry;

/* why the gate is closed */
typedef enum PbGateState
{
	PB_GATE_OPEN,
	PB_GATE_OUTSIDE,			/* no public call, not a worker */
	PB_GATE_RESTRICTED,			/* security-restricted operation */
	PB_GATE_OTHER_ROLE			/* not the role that opened it */
} PbGateState;

/* the public calls running in this backend, innermost last */
typedef struct PbGateCall
{
	Oid			fn_oid;
	Oid			role;
} PbGateCall;

static PbGateCall *calls = NULL;
static int	ncalls = 0;
static int	maxcalls = 0;

/* partback's background workers: the job's role */
static Oid	worker_role = InvalidOid;

static HTAB *classes = NULL;
static bool classes_stale = true;
static Oid	partback_nsp = InvalidOid;
static Oid	partback_ext = InvalidOid;

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/*
 * An internal function that partback's status views call directly (they
 * are security_invoker views over the job catalog, so their query runs
 * outside any public call): it counts as public, opens the gate for the
 * internal functions it calls, and shows nothing its callers may not see.
 */
static const char *const view_functions[] = {"_effective_state"};

/* pg_proc or pg_namespace changed: look every function up again */
static void
gate_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	classes_stale = true;
}

static PbFuncClass
lookup_class(Oid fn_oid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	PbFuncClass class = PB_FUNC_OTHER;

	if (!OidIsValid(partback_nsp))
	{
		partback_nsp = get_namespace_oid("partback", true);
		partback_ext = get_extension_oid("partback", true);
	}
	if (!OidIsValid(partback_nsp))
		return PB_FUNC_OTHER;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(tup))
		return PB_FUNC_OTHER;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	/* the extension's own functions: not one a superuser put there */
	if (proc->pronamespace == partback_nsp &&
		getExtensionOfObject(ProcedureRelationId, fn_oid) == partback_ext)
	{
		const char *name = NameStr(proc->proname);

		class = name[0] == '_' ? PB_FUNC_INTERNAL : PB_FUNC_PUBLIC;
		for (int i = 0; i < lengthof(view_functions); i++)
			if (strcmp(name, view_functions[i]) == 0)
				class = PB_FUNC_PUBLIC;
	}
	ReleaseSysCache(tup);
	return class;
}

static PbFuncClass
classify(Oid fn_oid)
{
	PbFuncClassEntry *entry;
	PbFuncClass class;
	bool		found;

	/* built-in and initdb's functions: the common case, at no cost */
	if (fn_oid < FirstNormalObjectId)
		return PB_FUNC_OTHER;

	if (classes_stale || classes == NULL)
	{
		HASHCTL		ctl;

		if (classes != NULL)
			hash_destroy(classes);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(PbFuncClassEntry);
		ctl.hcxt = TopMemoryContext;
		classes = hash_create("partback function classes", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		partback_nsp = InvalidOid;
		partback_ext = InvalidOid;
		classes_stale = false;
	}
	entry = hash_search(classes, &fn_oid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->class;

	/* may take invalidations: they mark the hash stale, never free it */
	class = lookup_class(fn_oid);
	entry = hash_search(classes, &fn_oid, HASH_ENTER, &found);
	entry->class = class;
	return class;
}

static PbGateState
gate_state(void)
{
	Oid			role;

	if (InSecurityRestrictedOperation())
		return PB_GATE_RESTRICTED;
	if (superuser())
		return PB_GATE_OPEN;
	role = GetUserId();
	if (ncalls > 0)
		return calls[ncalls - 1].role == role ? PB_GATE_OPEN : PB_GATE_OTHER_ROLE;
	if (OidIsValid(worker_role))
		return worker_role == role ? PB_GATE_OPEN : PB_GATE_OTHER_ROLE;
	return PB_GATE_OUTSIDE;
}

static void
refuse_if_closed(Oid fn_oid)
{
	PbGateState state = gate_state();
	char	   *name;

	if (state == PB_GATE_OPEN)
		return;
	name = OidIsValid(fn_oid) ? get_func_name(fn_oid) : NULL;
	if (name == NULL)
		name = psprintf("with OID %u", fn_oid);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("function partback.%s is internal to partback", name),
			 state == PB_GATE_RESTRICTED ?
			 errdetail("Internal functions do not run inside a security-restricted operation, such as a table's constraints, defaults and index expressions evaluated while partback loads or indexes it.") :
			 state == PB_GATE_OTHER_ROLE ?
			 errdetail("Internal functions run only as the role that called partback's public function (%s), not as %s.",
					   GetUserNameFromId(ncalls > 0 ? calls[ncalls - 1].role : worker_role, true),
					   GetUserNameFromId(GetUserId(), true)) :
			 errdetail("Internal functions run only inside a call of one of partback's public functions, or for a superuser."),
			 errhint("Call partback's public functions (backup_db, restore_db, restore_table, list_backups, get_backup_list, get_backup_meta, check_backup, get_backup_status, ...), which call it themselves.")));
}

static bool
gate_needs_fmgr_hook(Oid fn_oid)
{
	if (prev_needs_fmgr_hook && (*prev_needs_fmgr_hook) (fn_oid))
		return true;
	return classify(fn_oid) != PB_FUNC_OTHER;
}

static void
gate_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	switch (event)
	{
		case FHET_START:
			/* the previous hook first: if it fails, no END or ABORT follows */
			if (prev_fmgr_hook)
				(*prev_fmgr_hook) (event, flinfo, arg);
			switch (classify(flinfo->fn_oid))
			{
				case PB_FUNC_PUBLIC:
					if (ncalls == maxcalls)
					{
						int			newmax = maxcalls > 0 ? maxcalls * 2 : 8;

						calls = calls == NULL ?
							MemoryContextAlloc(TopMemoryContext, newmax * sizeof(PbGateCall)) :
							repalloc(calls, newmax * sizeof(PbGateCall));
						maxcalls = newmax;
					}
					calls[ncalls].fn_oid = flinfo->fn_oid;
					calls[ncalls].role = GetUserId();
					ncalls++;
					break;
				case PB_FUNC_INTERNAL:
					refuse_if_closed(flinfo->fn_oid);
					break;
				case PB_FUNC_OTHER:
					break;
			}
			break;
		case FHET_END:
		case FHET_ABORT:

			/*
			 * No catalog access here: ABORT runs while an error unwinds.  The
			 * innermost call of this function ends, and any call inside it
			 * whose END an error skipped.
			 */
			for (int i = ncalls - 1; i >= 0; i--)
			{
				if (calls[i].fn_oid == flinfo->fn_oid)
				{
					ncalls = i;
					break;
				}
			}
			if (prev_fmgr_hook)
				(*prev_fmgr_hook) (event, flinfo, arg);
			break;
	}
}

static void
gate_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				   int subId, void *arg)
{
	if (prev_object_access_hook)
		(*prev_object_access_hook) (access, classId, objectId, subId, arg);
	if (access == OAT_FUNCTION_EXECUTE &&
		classify(objectId) == PB_FUNC_INTERNAL)
		refuse_if_closed(objectId);
}

/*
 * No function call outlives its top-level transaction: should an error
 * have skipped a call's END, the gate closes here at the latest.
 */
static void
gate_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			ncalls = 0;
			break;
		default:
			break;
	}
}

void
pb_gate_init(void)
{
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = gate_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = gate_fmgr_hook;
	prev_object_access_hook = object_access_hook;
	object_access_hook = gate_object_access;
	CacheRegisterSyscacheCallback(PROCOID, gate_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, gate_invalidate, (Datum) 0);
	RegisterXactCallback(gate_xact_callback, NULL);
}

void
pb_gate_open_worker(void)
{
	worker_role = GetUserId();
}

void
pb_gate_check_call(FunctionCallInfo fcinfo)
{
	refuse_if_closed(fcinfo->flinfo ? fcinfo->flinfo->fn_oid : InvalidOid);
}
