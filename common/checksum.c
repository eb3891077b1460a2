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

#include <stdint.h>

#include <nettle/sha2.h>

#define CHUNK_SIZE 8192

/*
 * Writes the SHA-256 of data[0..len) as 64 lower-case hex digits and a NUL
 * into hex_out, after dropping one leading UTF-8 BOM (EF BB BF) and turning
 * every CRLF and every lone CR into LF.  data need not be NUL-terminated and
 * may be NULL when len is 0.  Never fails.
 */
void
checksum_sha256_normalized(const char *data, size_t len, char hex_out[CHECKSUM_HEX_LEN + 1])
{
	static const char    hexdigits[] = "0123456789abcdef";
	const unsigned char *in = (const unsigned char *) data;
	unsigned char        chunk[CHUNK_SIZE];
	size_t               used = 0;
	size_t               i = 0;
	uint8_t              md[SHA256_DIGEST_SIZE];
	struct sha256_ctx    ctx;

	/* nettle, not libcrypto's EVP, whose first digest initialises all of OpenSSL */
	sha256_init(&ctx);

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
			sha256_update(&ctx, used, chunk);
			used = 0;
		}
	}
	sha256_update(&ctx, used, chunk);
	sha256_digest(&ctx, sizeof(md), md);

	for (unsigned int k = 0; k < SHA256_DIGEST_SIZE; k++)
	{
		hex_out[2 * k] = hexdigits[md[k] >> 4];
		hex_out[2 * k + 1] = hexdigits[md[k] & 0x0f];
	}
	hex_out[CHECKSUM_HEX_LEN] = '\0';
}
