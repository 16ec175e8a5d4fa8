/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL majors partback builds
 *		against (15 to 18), in one place.
 *
 * Each macro takes the newest major's spelling, or a neutral one where the
 * call differs in its arguments, and maps it onto the older APIs.  Each
 * guard names the major that made the change, so 16 gets the spelling of
 * its side of it; 16 is not built here (no Debian suite ships it).
 *
 * A file using one of these includes the PostgreSQL header the macro's
 * expansion needs (named in each comment).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PARTBACK_COMPAT_H
#define PARTBACK_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "partback needs PostgreSQL 15 or later"
#endif

/* c.h: 18 puts the noreturn marker in front of the declaration */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * utils/rel.h, storage/buf_internals.h, storage/bufmgr.h, common/relpath.h:
 * 16 renamed RelFileNode to RelFileLocator.  PB_REL_LOCATOR(rel) is the
 * relation's physical identity, PB_REL_NUMBER(rel) its file number, and
 * pb_relpath_main() the palloc'd path of its main fork (18 returns a struct).
 */
#if PG_VERSION_NUM >= 160000
#define PB_REL_LOCATOR(rel) ((rel)->rd_locator)
#define PB_REL_NUMBER(rel) ((rel)->rd_locator.relNumber)
#define PB_REL_NEW_FILE_SUBID(rel) ((rel)->rd_newRelfilelocatorSubid)
#define pb_init_buffer_tag(tag, rel, fork, blk) \
	InitBufferTag(&(tag), &(rel)->rd_locator, (fork), (blk))
#else
#define PB_REL_LOCATOR(rel) ((rel)->rd_node)
#define PB_REL_NUMBER(rel) ((rel)->rd_node.relNode)
#define PB_REL_NEW_FILE_SUBID(rel) ((rel)->rd_newRelfilenodeSubid)
#define pb_init_buffer_tag(tag, rel, fork, blk) \
	INIT_BUFFERTAG((tag), (rel)->rd_node, (fork), (blk))
#endif

#if PG_VERSION_NUM >= 180000
#define pb_relpath_main(rel) \
	pstrdup(relpathbackend(PB_REL_LOCATOR(rel), (rel)->rd_backend, MAIN_FORKNUM).str)
#else
#define pb_relpath_main(rel) \
	relpathbackend(PB_REL_LOCATOR(rel), (rel)->rd_backend, MAIN_FORKNUM)
#endif

/* utils/acl.h, catalog/pg_class.h: 16 made ownership checks generic */
#if PG_VERSION_NUM >= 160000
#define pb_table_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define pb_table_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/*
 * executor/executor.h: the range table gained permission infos (16) and
 * the set of unpruned relations (18); a result relation's check gained the
 * MERGE actions (17) and the ON CONFLICT action (18).  partback inserts
 * only, so these are empty.
 */
#if PG_VERSION_NUM >= 180000
#define pb_exec_init_range_table(estate, pstate) \
	ExecInitRangeTable((estate), (pstate)->p_rtable, (pstate)->p_rteperminfos, \
					   bms_make_singleton(1))
#elif PG_VERSION_NUM >= 160000
#define pb_exec_init_range_table(estate, pstate) \
	ExecInitRangeTable((estate), (pstate)->p_rtable, (pstate)->p_rteperminfos)
#else
#define pb_exec_init_range_table(estate, pstate) \
	ExecInitRangeTable((estate), (pstate)->p_rtable)
#endif

#if PG_VERSION_NUM >= 180000
#define pb_check_valid_insert_rel(rri) \
	CheckValidResultRel((rri), CMD_INSERT, ONCONFLICT_NONE, NIL)
#elif PG_VERSION_NUM >= 170000
#define pb_check_valid_insert_rel(rri) CheckValidResultRel((rri), CMD_INSERT, NIL)
#else
#define pb_check_valid_insert_rel(rri) CheckValidResultRel((rri), CMD_INSERT)
#endif

/* catalog/index.h: 17 passes the REINDEX statement, if any, first */
#if PG_VERSION_NUM >= 170000
#define pb_reindex_relation(relid, flags, params) \
	reindex_relation(NULL, (relid), (flags), (params))
#else
#define pb_reindex_relation(relid, flags, params) \
	reindex_relation((relid), (flags), (params))
#endif

/* utils/snapmgr.h: 17 removed old_snapshot_threshold and its page test */
#if PG_VERSION_NUM >= 170000
#define pb_test_for_old_snapshot(snapshot, rel, page) ((void) 0)
#else
#define pb_test_for_old_snapshot(snapshot, rel, page) \
	TestForOldSnapshot((snapshot), (rel), (page))
#endif

/* common/jsonapi.h: 17 lets the caller provide the lexer's storage */
#if PG_VERSION_NUM >= 170000
#define pb_json_lexer(text, len, encoding) \
	makeJsonLexContextCstringLen(NULL, (text), (len), (encoding), true)
#else
#define pb_json_lexer(text, len, encoding) \
	makeJsonLexContextCstringLen((char *) (text), (len), (encoding), true)
#endif

/* common/jsonapi.h: 16's semantic actions return an error code */
#if PG_VERSION_NUM >= 160000
#define PB_JSON_ACTION JsonParseErrorType
#define PB_JSON_ACTION_DONE return JSON_SUCCESS
#else
#define PB_JSON_ACTION void
#define PB_JSON_ACTION_DONE return
#endif

/* storage/proc.h: 17 numbers processes by MyProcNumber */
#if PG_VERSION_NUM >= 170000
#define PB_MY_PROC_NUMBER MyProcNumber
#else
#define PB_MY_PROC_NUMBER (MyProc->pgprocno)
#endif

/*
 * utils/guc.h: 17 gives maintenance commands (REINDEX, CLUSTER, ANALYZE,
 * REFRESH) a fixed search_path; before, set it as 17 does.  Call it after
 * NewGUCNestLevel; AtEOXact_GUC undoes it.
 */
#if PG_VERSION_NUM >= 170000
#define pb_restrict_search_path() RestrictSearchPath()
#else
#define pb_restrict_search_path() \
	((void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, \
							  PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false))
#endif

#endif							/* PARTBACK_COMPAT_H */
