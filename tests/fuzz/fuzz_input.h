/*-------------------------------------------------------------------------
 *
 * fuzz_input.h
 *	  What every fuzz target shares: the input as a C string, and a check
 *	  that turns a broken invariant into a crash libFuzzer records.
 *
 * The programs read files and arguments as NUL-terminated strings, so the
 * targets do too: the input is copied and cut at its first NUL byte.
 *
 * tests/fuzz/fuzz_input.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_FUZZ_INPUT_H
#define TOOLKIT_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

/* The libFuzzer entry points (no header of libFuzzer's declares them). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of data[0..size); the caller frees it. */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * A broken contract is a finding like a crash: abort() gives libFuzzer the
 * input and ASan the stack.  The message goes to stdout because the tests
 * run with -close_fd_mask=2, which silences the programs' own error lines
 * on stderr (libFuzzer and the sanitizers keep a copy of it for themselves).
 */
#define FUZZ_CHECK(cond)                                                                                     \
	do                                                                                                       \
	{                                                                                                        \
		if (!(cond))                                                                                         \
		{                                                                                                    \
			printf("%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);                              \
			fflush(stdout);                                                                                  \
			abort();                                                                                         \
		}                                                                                                    \
	} while (0)

#endif /* TOOLKIT_FUZZ_INPUT_H */
