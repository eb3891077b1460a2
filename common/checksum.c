/*-------------------------------------------------------------------------
 *
 * checksum.c
 *	  SHA-256 of a migration file, blind to line endings and a BOM.
 *
 * The text is normalised on the fly into a small buffer that is fed to the
 * digest whenever it fills, so a large file is never copied whole.
 *
 * common/checksum.c
 *
 *-------------------------------------------------------------------------
 */
#include "checksum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define CHUNK_SIZE 8192

/*
 * libcrypto fails here only when it cannot allocate (SHA-256 is in the
 * default provider, FIPS included), so this is treated like the x*
 * allocators treat memory exhaustion: report and exit.
 */
static void
digest_failed(void)
{
	fputs("could not compute a SHA-256 digest\n", stderr);
	exit(1);
}

static void
digest_update(EVP_MD_CTX *ctx, const unsigned char *buf, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(ctx, buf, len) != 1)
		digest_failed();
}

/*
 * Writes the SHA-256 of data[0..len) as 64 lower-case hex digits and a NUL
 * into hex_out, after dropping one leading UTF-8 BOM (EF BB BF) and turning
 * every CRLF and every lone CR into LF.  data need not be NUL-terminated and
 * may be NULL when len is 0.  Never fails; exits only if libcrypto cannot
 * allocate its context.
 */
void
checksum_sha256_normalized(const char *data, size_t len, char hex_out[CHECKSUM_HEX_LEN + 1])
{
	static const char    hexdigits[] = "0123456789abcdef";
	const unsigned char *in = (const unsigned char *) data;
	unsigned char        chunk[CHUNK_SIZE];
	size_t               used = 0;
	size_t               i = 0;
	unsigned char        md[EVP_MAX_MD_SIZE];
	unsigned int         md_len = 0;
	EVP_MD_CTX          *ctx;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		digest_failed();

	if (len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF)
		i = 3;

	while (i < len)
	{
		unsigned char c = in[i++];

		if (c == '\r')
		{
			c = '\n';
			/* CRLF is one line break, not two */
			if (i < len && in[i] == '\n')
				i++;
		}
		chunk[used++] = c;
		if (used == sizeof(chunk))
		{
			digest_update(ctx, chunk, used);
			used = 0;
		}
	}
	digest_update(ctx, chunk, used);

	if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len * 2 != CHECKSUM_HEX_LEN)
		digest_failed();
	EVP_MD_CTX_free(ctx);

	for (unsigned int k = 0; k < md_len; k++)
	{
		hex_out[2 * k] = hexdigits[md[k] >> 4];
		hex_out[2 * k + 1] = hexdigits[md[k] & 0x0f];
	}
	hex_out[CHECKSUM_HEX_LEN] = '\0';
}
