/*-------------------------------------------------------------------------
 *
 * md5.h
 *	  MD5 (RFC 1321), in-tree, for the run lock's key only.
 *
 * The run lock's key has always been the first 64 bits of the MD5 of its
 * name (computed by the server until now), and old and new versions must
 * agree on it.  A crypto library's MD5 is refused in FIPS mode, and this is
 * no security use: a small self-contained implementation of the RFC's
 * algorithm, checked against its test suite (tests/unit/advlock_test.c).
 * Not for anything that needs a secure hash.
 *
 * common/md5.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_MD5_H
#define TOOLKIT_MD5_H

#include <stddef.h>
#include <stdint.h>

#define MD5_DIGEST_LENGTH 16

/* The MD5 digest of the len bytes at data, into digest.  Never fails. */
void md5_digest(const void *data, size_t len, uint8_t digest[MD5_DIGEST_LENGTH]);

#endif /* TOOLKIT_MD5_H */
