/*-------------------------------------------------------------------------
 *
 * md5.c
 *	  MD5 (RFC 1321), in-tree, for the run lock's key only.
 *
 * A direct reading of RFC 1321, section 3: the message is padded with 0x80,
 * zeros and its length in bits (64 bits, little-endian) to a multiple of 64
 * bytes, and each 64-byte block goes through the four rounds of 16 steps.
 * Words are read and the digest written little-endian, byte by byte, so
 * the result does not depend on the host's byte order.
 *
 * common/md5.c
 *
 *-------------------------------------------------------------------------
 */
#include "md5.h"

#include <string.h>

/* Per-step left rotations, RFC 1321 section 3.4, rounds 1 to 4. */
static const uint8_t shifts[64] = {
	7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 5,  9,  14, 20, 5,  9,
	14, 20, 5,  9,  14, 20, 5,  9,  14, 20, 4,  11, 16, 23, 4,  11, 16, 23, 4,  11, 16, 23,
	4,  11, 16, 23, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21,
};

/* T[i] = floor(2^32 * abs(sin(i + 1))), RFC 1321 section 3.4. */
static const uint32_t sines[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static uint32_t
rotate_left(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

/* Process one 64-byte block into the state abcd. */
static void
md5_block(uint32_t abcd[4], const uint8_t block[64])
{
	uint32_t m[16];
	uint32_t a = abcd[0];
	uint32_t b = abcd[1];
	uint32_t c = abcd[2];
	uint32_t d = abcd[3];

	for (int i = 0; i < 16; i++)
		m[i] = (uint32_t) block[i * 4] | (uint32_t) block[i * 4 + 1] << 8 |
			   (uint32_t) block[i * 4 + 2] << 16 | (uint32_t) block[i * 4 + 3] << 24;
	for (int i = 0; i < 64; i++)
	{
		uint32_t f;
		int      g;
		uint32_t next_d;

		if (i < 16)
		{
			f = (b & c) | (~b & d);
			g = i;
		}
		else if (i < 32)
		{
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		}
		else if (i < 48)
		{
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		}
		else
		{
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		next_d = c;
		c = b;
		b = b + rotate_left(a + f + sines[i] + m[g], shifts[i]);
		a = d;
		d = next_d;
	}
	abcd[0] += a;
	abcd[1] += b;
	abcd[2] += c;
	abcd[3] += d;
}

void
md5_digest(const void *data, size_t len, uint8_t digest[MD5_DIGEST_LENGTH])
{
	const uint8_t *p = data;
	uint32_t       abcd[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
	uint8_t        tail[128];
	size_t         tail_len;
	uint64_t       bits = (uint64_t) len * 8;
	size_t         full = len - len % 64;

	for (size_t off = 0; off < full; off += 64)
		md5_block(abcd, p + off);

	/* the rest, 0x80, zeros, and the length: one block or two */
	tail_len = len - full;
	memset(tail, 0, sizeof(tail));
	if (tail_len > 0)
		memcpy(tail, p + full, tail_len);
	tail[tail_len] = 0x80;
	tail_len = tail_len + 1 + 8 <= 64 ? 64 : 128;
	for (int i = 0; i < 8; i++)
		tail[tail_len - 8 + i] = (uint8_t) (bits >> (8 * i));
	md5_block(abcd, tail);
	if (tail_len == 128)
		md5_block(abcd, tail + 64);

	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 4; k++)
			digest[i * 4 + k] = (uint8_t) (abcd[i] >> (8 * k));
}
