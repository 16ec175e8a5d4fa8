/*-------------------------------------------------------------------------
 *
 * auth.c
 *		partback's key and authenticated backups.
 *
 * partback.auth_key_file names a file of at least 32 bytes of key material,
 * readable by the server's OS user only (as PostgreSQL wants ssl_key_file).
 * The material is never used directly: pb_key_derive() gives one key per
 * purpose, HMAC-SHA-256(material, "partback <purpose>").  The key id, which
 * backups record, is the first 8 bytes of the "key id" derivation in hex:
 * it names the key without revealing it.
 *
 * With a key configured, every manifest and metadata file carries, before
 * its last members, "auth_key_id" and an HMAC-SHA-256 with the
 * "authentication" key over every byte of the file before the HMAC
 * member's opening quote (FORMAT.md).  A manifest lists its metadata files'
 * checksums and a metadata file its data files', so the manifest's HMAC
 * covers the whole backup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/hmac.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "partback.h"
#include "auth.h"

char	   *partback_auth_key_file = NULL;

/* the key as last read, and what identifies the file it was read from */
static struct
{
	bool		valid;
	char	   *path;
	dev_t		dev;
	ino_t		ino;
	struct timespec mtime;
	off_t		size;
	uint8		material[PB_KEY_MAX_BYTES];
	PbKey		key;
	uint8		auth[PB_HMAC_LEN];	/* the "authentication" key */
} cache;

static bool auth_failed = false;

/* OpenSSL's one-shot HMAC: nothing to free, whatever fails */
static void
hmac_sha256(const uint8 *key, size_t keylen, const uint8 *data, size_t len,
			uint8 out[PB_HMAC_LEN])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen, data, len, out, &outlen) == NULL ||
		outlen != PB_HMAC_LEN)
	{
		const char *why = ERR_reason_error_string(ERR_get_error());

		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s", why ? why : "unknown error")));
	}
}

/* lower-case hex of n bytes, NUL-terminated */
static void
to_hex(const uint8 *bytes, size_t n, char *hex)
{
	hex[hex_encode((const char *) bytes, n, hex)] = '\0';
}

void
pb_key_derive(const PbKey *key, const char *purpose, uint8 out[PB_HMAC_LEN])
{
	char	   *label = psprintf("partback %s", purpose);

	hmac_sha256(key->material, key->len, (const uint8 *) label, strlen(label), out);
	pfree(label);
}

pg_noreturn static void
key_file_error(const char *path, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("partback.auth_key_file \"%s\" cannot be used", path),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * The configured key, read from partback.auth_key_file when the file
 * changed since it was last read; NULL when none is configured.
 */
const PbKey *
pb_key(void)
{
	const char *path = partback_auth_key_file;
	struct stat st;
	int			fd;
	ssize_t		n;
	uint8		id[PB_HMAC_LEN];

	if (path == NULL || path[0] == '\0')
		return NULL;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open partback.auth_key_file \"%s\": %m", path)));
	if (fstat(fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat partback.auth_key_file \"%s\": %m", path)));
	if (cache.valid && strcmp(cache.path, path) == 0 &&
		cache.dev == st.st_dev && cache.ino == st.st_ino &&
		cache.size == st.st_size &&
		cache.mtime.tv_sec == st.st_mtim.tv_sec &&
		cache.mtime.tv_nsec == st.st_mtim.tv_nsec)
	{
		CloseTransientFile(fd);
		return &cache.key;
	}
	cache.valid = false;

	if (!S_ISREG(st.st_mode))
		key_file_error(path, "It is not a regular file.", NULL);
	/* as PostgreSQL checks ssl_key_file (be-secure-common.c) */
	if (st.st_uid != geteuid() && st.st_uid != 0)
		key_file_error(path, "It must be owned by the database user or root.", NULL);
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
		key_file_error(path,
					   "It has group or world access.",
					   "It must be u=rw (0600) or less if owned by the database user, or u=rw,g=r (0640) or less if owned by root.");
	if (st.st_size < PB_KEY_MIN_BYTES || st.st_size > PB_KEY_MAX_BYTES)
		key_file_error(path,
					   psprintf("It holds %lld bytes; a key file holds %d to %d bytes.",
								(long long) st.st_size, PB_KEY_MIN_BYTES, PB_KEY_MAX_BYTES),
					   "Make one with: openssl rand -out FILE 32");

	n = read(fd, cache.material, st.st_size);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read partback.auth_key_file \"%s\": %m", path)));
	if (n != st.st_size)
		key_file_error(path, "It changed while it was read.", NULL);
	CloseTransientFile(fd);

	if (cache.path)
		pfree(cache.path);
	cache.path = MemoryContextStrdup(TopMemoryContext, path);
	cache.dev = st.st_dev;
	cache.ino = st.st_ino;
	cache.size = st.st_size;
	cache.mtime = st.st_mtim;
	cache.key.material = cache.material;
	cache.key.len = (size_t) n;
	pb_key_derive(&cache.key, "key id", id);
	to_hex(id, PB_KEY_ID_HEXLEN / 2, cache.key.id);
	pb_key_derive(&cache.key, "authentication", cache.auth);
	cache.valid = true;
	return &cache.key;
}

static void
auth_hmac_hex(const char *data, size_t len, char hex[2 * PB_HMAC_LEN + 1])
{
	uint8		mac[PB_HMAC_LEN];

	hmac_sha256(cache.auth, PB_HMAC_LEN, (const uint8 *) data, len, mac);
	to_hex(mac, PB_HMAC_LEN, hex);
}

void
pb_auth_append(StringInfo buf, const char *member, const char *sep)
{
	const PbKey *key = pb_key();
	char		hex[2 * PB_HMAC_LEN + 1];

	if (key == NULL)
		return;
	appendStringInfo(buf, "\"auth_key_id\": \"%s\",%s\"%s\": \"", key->id, sep, member);
	/* the HMAC covers every byte before the member's opening quote */
	auth_hmac_hex(buf->data, buf->len - strlen(member) - 5, hex);
	appendStringInfo(buf, "%s\"", hex);
}

/* pb_auth_append for a text written in pieces (pb_auth_hmac_begin) */
struct PbAuthHmac
{
	pg_hmac_ctx *ctx;
	char	   *key_id;			/* of the key it began with */
};

PbAuthHmac *
pb_auth_hmac_begin(void)
{
	const PbKey *key = pb_key();
	PbAuthHmac *h;

	if (key == NULL)
		return NULL;
	h = palloc(sizeof(PbAuthHmac));
	h->key_id = pstrdup(key->id);
	h->ctx = pg_hmac_create(PG_SHA256);
	if (h->ctx == NULL || pg_hmac_init(h->ctx, cache.auth, PB_HMAC_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s",
						h->ctx ? pg_hmac_error(h->ctx) : "out of memory")));
	return h;
}

void
pb_auth_hmac_update(PbAuthHmac *h, const char *data, size_t len)
{
	if (pg_hmac_update(h->ctx, (const uint8 *) data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s", pg_hmac_error(h->ctx))));
}

char *
pb_auth_hmac_end(PbAuthHmac *h, const char *member, const char *sep)
{
	char	   *head = psprintf("\"auth_key_id\": \"%s\",%s", h->key_id, sep);
	uint8		mac[PB_HMAC_LEN];
	char		hex[2 * PB_HMAC_LEN + 1];

	pb_auth_hmac_update(h, head, strlen(head));
	if (pg_hmac_final(h->ctx, mac, sizeof(mac)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s", pg_hmac_error(h->ctx))));
	pg_hmac_free(h->ctx);
	to_hex(mac, PB_HMAC_LEN, hex);
	return psprintf("%s\"%s\": \"%s\"", head, member, hex);
}

/* compare without leaking where the first difference is */
static bool
equal_in_constant_time(const char *a, const char *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char) a[i] ^ (unsigned char) b[i];
	return diff == 0;
}

static bool
is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/*
 * Find the HMAC member that must end at text + end: '"member": "<64 hex>"',
 * preceded by '"auth_key_id": "<16 hex>",' and white space.  Returns the
 * offset of the member's opening quote, or -1; *key_id points into text.
 */
static ssize_t
find_hmac_member(const char *text, size_t end, const char *member,
				 const char **key_id)
{
	char	   *pattern = psprintf("\"%s\": \"", member);
	size_t		plen = strlen(pattern);
	size_t		mlen = plen + 2 * PB_HMAC_LEN + 1;
	const char *kpattern = "\"auth_key_id\": \"";
	size_t		klen = strlen(kpattern) + PB_KEY_ID_HEXLEN + 2;	/* '",' */
	ssize_t		pos;
	ssize_t		k;

	*key_id = NULL;
	if (end < mlen + klen)
		return -1;
	pos = end - mlen;
	if (memcmp(text + pos, pattern, plen) != 0 ||
		!is_lower_hex(text + pos + plen, 2 * PB_HMAC_LEN) ||
		text[end - 1] != '"')
		return -1;
	k = pos;
	while (k > 0 && isspace((unsigned char) text[k - 1]))
		k--;
	if ((size_t) k < klen)
		return -1;
	k -= klen;
	if (memcmp(text + k, kpattern, strlen(kpattern)) != 0 ||
		!is_lower_hex(text + k + strlen(kpattern), PB_KEY_ID_HEXLEN) ||
		memcmp(text + k + strlen(kpattern) + PB_KEY_ID_HEXLEN, "\",", 2) != 0)
		return -1;
	*key_id = text + k + strlen(kpattern);
	return pos;
}

PbAuthStatus
pb_auth_check(const char *text, size_t end, const char *member,
			  const char *path, const char *what, bool strict)
{
	const PbKey *key = pb_key();
	const char *key_id;
	ssize_t		pos;
	PbAuthStatus status;
	char		hex[2 * PB_HMAC_LEN + 1];

	if (key == NULL)
		return PB_AUTH_NO_KEY;
	pos = find_hmac_member(text, end, member, &key_id);
	if (pos < 0)
		status = PB_AUTH_MISSING;
	else if (strncmp(key_id, key->id, PB_KEY_ID_HEXLEN) != 0)
		status = PB_AUTH_OTHER_KEY;
	else
	{
		auth_hmac_hex(text, pos, hex);
		status = equal_in_constant_time(hex, text + pos + strlen(member) + 5,
										2 * PB_HMAC_LEN) ? PB_AUTH_OK : PB_AUTH_BAD;
	}
	if (strict && status != PB_AUTH_OK)
		pb_auth_report(status, text, end, member, path, what);
	return status;
}

void
pb_auth_report(PbAuthStatus status, const char *text, size_t end,
			   const char *member, const char *path, const char *what)
{
	const PbKey *key = pb_key();
	const char *key_id = NULL;

	if (status == PB_AUTH_OK || status == PB_AUTH_NO_KEY || key == NULL)
		return;
	(void) find_hmac_member(text, end, member, &key_id);
	auth_failed = true;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("%s \"%s\" does not verify with the configured key", what, path),
			 status == PB_AUTH_MISSING ?
			 errdetail("It carries no \"%s\": it was written without a key, or changed since.", member) :
			 status == PB_AUTH_OTHER_KEY ?
			 errdetail("It was authenticated with the key whose id is %.*s; the configured key's id is %s.",
					   PB_KEY_ID_HEXLEN, key_id, key->id) :
			 errdetail("Its \"%s\" does not match its content: it was changed after it was written.", member),
			 status == PB_AUTH_OTHER_KEY ?
			 errhint("Set partback.auth_key_file to the key the backup was made with.") :
			 status == PB_AUTH_MISSING ?
			 errhint("With partback.auth_key_file set, only backups made with that key are used; to restore a backup made without a key, unset partback.auth_key_file and reload the configuration, after making sure the backup was not changed.") :
			 errhint("Do not restore this backup; partback.check_backup() lists the files that do not verify.")));
}

bool
pb_auth_take_failure(void)
{
	bool		result = auth_failed;

	auth_failed = false;
	return result;
}
