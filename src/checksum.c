/*-------------------------------------------------------------------------
 *
 * checksum.c
 *		SHA-256 of backup files, through OpenSSL's EVP interface.
 *
 * The EVP context is allocated by OpenSSL, not palloc, so it must be freed
 * explicitly: by pb_sha256_final, or by pb_sha256_free on error paths.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "miscadmin.h"

#include "partback.h"

#define PB_SHA_READ_BUFSIZE	(1024 * 1024)

struct PbSha256
{
	EVP_MD_CTX *ctx;
};

static const char *pb_openssl_error(void);


/* The reason for the last OpenSSL failure, for errdetail. */
static const char *
pb_openssl_error(void)
{
	static char errbuf[64];
	unsigned long ecode = ERR_get_error();
	const char *reason;

	if (ecode == 0)
		return _("no OpenSSL error reported");
	reason = ERR_reason_error_string(ecode);
	if (reason != NULL)
		return reason;
	snprintf(errbuf, sizeof(errbuf), _("OpenSSL error code %lu"), ecode);
	return errbuf;
}

PbSha256 *
pb_sha256_create(void)
{
	PbSha256   *sha = palloc(sizeof(PbSha256));

	ERR_clear_error();
	sha->ctx = EVP_MD_CTX_new();
	if (sha->ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not allocate a SHA-256 context.")));
	if (EVP_DigestInit_ex(sha->ctx, EVP_sha256(), NULL) != 1)
	{
		const char *reason = pb_openssl_error();

		pb_sha256_free(sha);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize SHA-256: %s", reason)));
	}
	return sha;
}

void
pb_sha256_update(PbSha256 *sha, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (EVP_DigestUpdate(sha->ctx, data, len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not update SHA-256: %s", pb_openssl_error())));
}

void
pb_sha256_final(PbSha256 *sha, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_DigestFinal_ex(sha->ctx, md, &mdlen) != 1 ||
		mdlen * 2 != PARTBACK_SHA256_HEXLEN)
	{
		const char *reason = pb_openssl_error();

		pb_sha256_free(sha);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not finalize SHA-256: %s", reason)));
	}
	pb_sha256_free(sha);

	for (unsigned int i = 0; i < mdlen; i++)
	{
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0f];
	}
	hex[PARTBACK_SHA256_HEXLEN] = '\0';
}

void
pb_sha256_free(PbSha256 *sha)
{
	if (sha == NULL)
		return;
	EVP_MD_CTX_free(sha->ctx);
	pfree(sha);
}

void
pb_sha256_file(const char *path, char *hex, int64 *size)
{
	PbFile	   *file;
	PbSha256   *sha;
	char	   *buf;

	file = pb_file_open_read(path);
	buf = palloc(PB_SHA_READ_BUFSIZE);
	sha = pb_sha256_create();

	/* the OpenSSL context is not palloc'd: free it if reading fails */
	PG_TRY();
	{
		size_t		n;
		int64		total = 0;

		while ((n = pb_file_read(file, buf, PB_SHA_READ_BUFSIZE)) > 0)
		{
			CHECK_FOR_INTERRUPTS();
			pb_sha256_update(sha, buf, n);
			total += n;
		}
		if (size)
			*size = total;
	}
	PG_CATCH();
	{
		pb_sha256_free(sha);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pb_file_close(file);
	pfree(buf);
	pb_sha256_final(sha, hex);
}
