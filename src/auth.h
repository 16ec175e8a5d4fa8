/*-------------------------------------------------------------------------
 *
 * auth.h
 *		partback's key (partback.auth_key_file) and the authentication of
 *		manifests and metadata files with it (auth.c); the source cluster
 *		of a backup (cluster.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PARTBACK_AUTH_H
#define PARTBACK_AUTH_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define PB_KEY_MIN_BYTES 32
#define PB_KEY_MAX_BYTES 4096
#define PB_KEY_ID_HEXLEN 16		/* 8 bytes */
#define PB_HMAC_LEN 32			/* HMAC-SHA-256 */

extern char *partback_auth_key_file;

/* The key material of partback.auth_key_file, and its id. */
typedef struct PbKey
{
	const uint8 *material;
	size_t		len;
	char		id[PB_KEY_ID_HEXLEN + 1];
} PbKey;

/* NULL when partback.auth_key_file is empty; ERROR if the file is unfit */
extern const PbKey *pb_key(void);
/* HMAC-SHA-256(material, "partback " purpose): a key for one purpose */
extern void pb_key_derive(const PbKey *key, const char *purpose,
						  uint8 out[PB_HMAC_LEN]);

/* how a file stands against the configured key */
typedef enum PbAuthStatus
{
	PB_AUTH_NO_KEY,				/* no key configured: nothing checked */
	PB_AUTH_OK,					/* verifies with the configured key */
	PB_AUTH_MISSING,			/* carries no HMAC */
	PB_AUTH_OTHER_KEY,			/* HMAC made with another key */
	PB_AUTH_BAD					/* HMAC does not match the content */
} PbAuthStatus;

/*
 * Append, with a key configured, "auth_key_id": "<id>",<sep>"<member>":
 * "<HMAC of every byte before the member's opening quote>" to buf.
 */
extern void pb_auth_append(StringInfo buf, const char *member, const char *sep);

/*
 * The same for a text written in pieces: begin (NULL without a key),
 * update with each piece, and end, which returns the text to append (the
 * HMAC covering it up to the member's opening quote) and frees h's
 * context.
 */
typedef struct PbAuthHmac PbAuthHmac;
extern PbAuthHmac *pb_auth_hmac_begin(void);
extern void pb_auth_hmac_update(PbAuthHmac *h, const char *data, size_t len);
extern char *pb_auth_hmac_end(PbAuthHmac *h, const char *member, const char *sep);

/*
 * Check the HMAC member that must end at text + end.  With strict, any
 * status but PB_AUTH_NO_KEY and PB_AUTH_OK is an ERROR naming path (what:
 * "manifest", "metadata file").
 */
extern PbAuthStatus pb_auth_check(const char *text, size_t end, const char *member,
								  const char *path, const char *what, bool strict);
extern void pb_auth_report(PbAuthStatus status, const char *text, size_t end,
						   const char *member, const char *path, const char *what);
/* did the last ERROR come from pb_auth_check? (and forget it) */
extern bool pb_auth_take_failure(void);

/* cluster.c */
extern char *pb_system_identifier(void);
extern const char *pb_manifest_cluster(JsonbContainer *manifest);
extern bool pb_manifest_of_this_cluster(JsonbContainer *manifest);
extern bool pb_any_cluster;		/* migrate: backups of any cluster qualify */
extern void pb_check_dir_cluster(const char *dir, const char *db);
extern void pb_require_cluster_backup(const char *dir, const char *db);


/* repo.c: reading and sealing with the key */
extern Jsonb *pb_read_manifest_ext(const char *dir, const char *db, int64 backup_id,
								   bool strict, PbAuthStatus *status, bool index_only);
extern Jsonb *pb_read_manifest_lenient_ext(const char *dir, const char *db,
										   int64 backup_id, bool strict,
										   PbAuthStatus *status, bool index_only,
										   char **problem);
extern Jsonb *pb_read_meta_file_ext(const char *path, const char *expected_sha256,
									bool strict);
extern void pb_meta_seal(StringInfo meta, const char *what);

/*
 * Size limits writers and readers agree on: a manifest, a metadata file,
 * and one table's definition within a manifest (limits.c).
 */
#define PB_MAX_MANIFEST_BYTES (64 * 1024 * 1024)
#define PB_MAX_META_BYTES (16 * 1024 * 1024)
#define PB_MAX_DEFINITION_BYTES (16 * 1024 * 1024)
extern void pb_check_definition_size(const char *table, const char *definition);

/* sets of strings of any length (cluster.c) */
typedef struct PbStrSet
{
	struct HTAB *htab;
	MemoryContext cxt;
} PbStrSet;
extern PbStrSet *pb_strset_create(const char *name);
extern void pb_strset_add(PbStrSet *set, const char *s);
extern bool pb_strset_contains(PbStrSet *set, const char *s);	/* set may be NULL */
/* name starts with one of the set's "<10 digits>." prefixes */
extern bool pb_strset_contains_id_prefix(PbStrSet *set, const char *name);

#endif
