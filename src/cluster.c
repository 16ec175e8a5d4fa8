/*-------------------------------------------------------------------------
 *
 * cluster.c
 *		One cluster per backup: a manifest records the system identifier of
 *		the cluster it was made on ("system_identifier"); restores without
 *		a backup_id and incremental backups use only the current cluster's
 *		backups (migrate any), and a database's part of a backup dir holds
 *		one cluster's backups.  Also the size limits of what a manifest
 *		holds.
 *
 *		A manifest written before the member existed names no cluster and
 *		counts as the current cluster's (it restores as it always did).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "partback.h"
#include "gate.h"
#include "auth.h"

PG_FUNCTION_INFO_V1(partback_same_cluster);

bool		pb_any_cluster = false;

char *
pb_system_identifier(void)
{
	return psprintf(UINT64_FORMAT, GetSystemIdentifier());
}

/* The manifest's cluster, or NULL when it names none. */
const char *
pb_manifest_cluster(JsonbContainer *manifest)
{
	return pb_json_str(manifest, "system_identifier", true);
}

bool
pb_manifest_of_this_cluster(JsonbContainer *manifest)
{
	const char *id = pb_manifest_cluster(manifest);

	return id == NULL || strcmp(id, pb_system_identifier()) == 0;
}

/*
 * _same_cluster(manifest): may a restore that names no backup use it?
 * (Always during migrate, which moves another cluster's backup.)
 */
Datum
partback_same_cluster(PG_FUNCTION_ARGS)
{
	Jsonb	   *m;

	pb_gate_check_call(fcinfo);
	m = PG_GETARG_JSONB_P(0);
	PG_RETURN_BOOL(pb_any_cluster || pb_manifest_of_this_cluster(&m->root));
}

/* What manifest_cluster_lenient parses of a manifest: not its tables. */
static bool
keep_all_but_tables(int depth, const char *const *members, const char *name)
{
	return depth != 1 || strcmp(name, "tables") != 0;
}

/*
 * The cluster a manifest names, read for that alone: no checksum or HMAC
 * is required, and a manifest that does not parse names none (*ok false).
 * Its tables are left out of the parse (pb_try_parse_json_pruned): parsed
 * whole, a manifest of 10,000 partitions took 150 MB for one member.
 */
static const char *
manifest_cluster_lenient(const char *path, bool *ok)
{
	int64		size;
	char	   *text = pb_read_small_file(path, PB_MAX_MANIFEST_BYTES, &size);
	Jsonb	   *jb;

	*ok = false;
	if (strlen(text) != size)
		return NULL;
	jb = pb_try_parse_json_pruned(text, keep_all_but_tables);
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	*ok = true;
	return pb_manifest_cluster(&jb->root);
}

/*
 * Call fn for the cluster of every manifest of db in dir, newest first, one
 * manifest in memory at a time; stop when it returns false.  A damaged
 * manifest is skipped: it is reported where it is read for its content.
 */
static void
foreach_manifest_cluster(const char *dir, const char *db,
						 bool (*fn) (int64 id, const char *cluster, void *arg),
						 void *arg)
{
	int64	   *ids;
	int			n = pb_backup_ids(dir, db, &ids);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "partback manifest",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	for (int i = n - 1; i >= 0; i--)
	{
		const char *cluster;
		bool		ok;
		bool		go_on = true;

		CHECK_FOR_INTERRUPTS();
		cluster = manifest_cluster_lenient(pb_manifest_path(dir, db, ids[i]), &ok);
		MemoryContextSwitchTo(old);
		if (ok)
			go_on = fn(ids[i], cluster ? pstrdup(cluster) : NULL, arg);
		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		if (!go_on)
			break;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

typedef struct OtherCluster
{
	int64		id;
	char	   *cluster;
	int			ours;			/* backups of this cluster (or naming none) */
} OtherCluster;

static bool
find_other(int64 id, const char *cluster, void *arg)
{
	OtherCluster *o = arg;

	if (cluster == NULL || strcmp(cluster, pb_system_identifier()) == 0)
	{
		o->ours++;
		return true;
	}
	if (o->cluster == NULL)
	{
		o->id = id;
		o->cluster = (char *) cluster;
	}
	return true;
}

/* Stop at the newest manifest naming a cluster, noting it if not ours. */
static bool
newest_named(int64 id, const char *cluster, void *arg)
{
	OtherCluster *o = arg;

	if (cluster == NULL)
		return true;
	if (strcmp(cluster, pb_system_identifier()) != 0)
	{
		o->id = id;
		o->cluster = (char *) cluster;
	}
	return false;
}

/*
 * A backup of db into dir: the dir's backups of db must be this cluster's,
 * so that two clusters' backups of one database name never interleave.
 * Every backup was written after this check, so the newest that names a
 * cluster stands for the older ones: reading them all cost each backup a
 * parse of every manifest the dir ever got.  (One put there by hand is
 * still never a base, nor restored without being named.)
 */
void
pb_check_dir_cluster(const char *dir, const char *db)
{
	OtherCluster o = {0};

	foreach_manifest_cluster(dir, db, newest_named, &o);
	if (o.cluster != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup directory \"%s\" holds backups of database \"%s\" made by another cluster",
						dir, db),
				 errdetail("Backup " INT64_FORMAT " was made by the cluster with system identifier %s; this cluster's system identifier is %s.",
						   o.id, o.cluster, pb_system_identifier()),
				 errhint("Back up into another directory: a backup directory holds one cluster's backups of a database.")));
}

/*
 * A restore that names no backup uses this cluster's: there must be one.
 */
void
pb_require_cluster_backup(const char *dir, const char *db)
{
	OtherCluster o = {0};

	if (pb_any_cluster)
		return;
	foreach_manifest_cluster(dir, db, find_other, &o);
	if (o.ours == 0 && o.cluster != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup directory \"%s\" holds no backup of database \"%s\" made by this cluster",
						dir, db),
				 errdetail("Its backups were made by the cluster with system identifier %s (backup " INT64_FORMAT " is the newest); this cluster's system identifier is %s.",
						   o.cluster, o.id, pb_system_identifier()),
				 errhint("Name the backup to restore with backup_id, or move the database with partback.migrate().")));
}

/* ---------- size limits ---------- */

/* the longest string below c, and where it is */
static void
largest_item(JsonbContainer *c, const char *where, char **best_where, int *best_len)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			index = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *here;

		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE && tok != WJB_ELEM)
			continue;
		if (tok == WJB_VALUE)
			here = where[0] ? psprintf("%s.%s", where, key) : key;
		else
		{
			const char *name = NULL;

			if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
			{
				name = pb_json_str(v.val.binary.data, "name", true);
				if (name == NULL)
					name = pb_json_str(v.val.binary.data, "column", true);
			}
			here = name ? psprintf("%s[%d] (\"%s\")", where, index, name) :
				psprintf("%s[%d]", where, index);
			index++;
		}
		if (v.type == jbvBinary)
			largest_item(v.val.binary.data, here, best_where, best_len);
		else if (v.type == jbvString && v.val.string.len > *best_len)
		{
			*best_len = v.val.string.len;
			*best_where = here;
		}
	}
}

/*
 * A table's definition must fit in a manifest: its table fails, naming it
 * and its largest item (a comment, a default...).
 */
void
pb_check_definition_size(const char *table, const char *definition)
{
	size_t		len = strlen(definition);
	Jsonb	   *jb;
	char	   *where = "definition";
	int			best = 0;

	if (len <= PB_MAX_DEFINITION_BYTES)
		return;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(definition)));
	largest_item(&jb->root, "", &where, &best);
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("the definition of table %s takes %zu bytes, more than a backup allows (%d bytes)",
					table, len, PB_MAX_DEFINITION_BYTES),
			 errdetail("Its largest item is %s, %d bytes.", where, best),
			 errhint("Shorten it (for a comment: COMMENT ON) and back up again.")));
}

/* ---------- sets of strings ---------- */

/*
 * A set of C strings of any length (file names, paths), so that loops over
 * directory entries look names up instead of scanning lists.
 */
static uint32
strset_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
strset_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

PbStrSet *
pb_strset_create(const char *name)
{
	PbStrSet   *set = palloc(sizeof(PbStrSet));
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(char *);
	ctl.hash = strset_hash;
	ctl.match = strset_match;
	ctl.hcxt = CurrentMemoryContext;
	set->cxt = CurrentMemoryContext;
	set->htab = hash_create(name, 256, &ctl,
							HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	return set;
}

/* add a copy of s, made in the set's context */
void
pb_strset_add(PbStrSet *set, const char *s)
{
	char	   *copy;
	bool		found;

	if (pb_strset_contains(set, s))
		return;
	copy = MemoryContextStrdup(set->cxt, s);
	(void) hash_search(set->htab, &copy, HASH_ENTER, &found);
}

bool
pb_strset_contains(PbStrSet *set, const char *s)
{
	return set != NULL && hash_search(set->htab, &s, HASH_FIND, NULL) != NULL;
}

/* does name start with "<10 digits>." held in set (of such prefixes)? */
bool
pb_strset_contains_id_prefix(PbStrSet *set, const char *name)
{
	char		prefix[12];

	if (set == NULL || strlen(name) < 11)
		return false;
	memcpy(prefix, name, 11);
	prefix[11] = '\0';
	return pb_strset_contains(set, prefix);
}
