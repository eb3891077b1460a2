/*-------------------------------------------------------------------------
 *
 * checksum.h
 *	  SHA-256 of a migration file, blind to line endings and a BOM.
 *
 * The same migration checked out on Windows (CRLF) or saved by an editor that
 * adds a UTF-8 byte-order mark must keep its checksum, so the digest is taken
 * over the text with a leading BOM removed and every CRLF (and lone CR)
 * turned into LF.  The digest is nettle's (no library-wide initialisation, unlike
 * libcrypto's EVP; the same digest: tests/unit/sha256_test.c).
 *
 * common/checksum.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_CHECKSUM_H
#define TOOLKIT_CHECKSUM_H

#include <stddef.h>

#define CHECKSUM_HEX_LEN 64

/* Writes 64 lower-case hex digits and a NUL into hex_out. */
void checksum_sha256_normalized(const char *data, size_t len, char hex_out[CHECKSUM_HEX_LEN + 1]);

#endif /* TOOLKIT_CHECKSUM_H */
