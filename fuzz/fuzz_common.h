/* Helpers shared by the libFuzzer targets: reading the fuzzer's bytes, failing loudly. */
#ifndef LSCE_FUZZ_COMMON_H
#define LSCE_FUZZ_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry point libFuzzer calls (declared here for -Werror=missing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unread rest of the input. */
typedef struct fuzz_bytes {
    const uint8_t *p;
    size_t left;
} fuzz_bytes;

/* The next byte, or 0 once the input is exhausted (so every input decodes to some call). */
static inline unsigned fuzz_take(fuzz_bytes *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static inline unsigned fuzz_take16(fuzz_bytes *in)
{
    const unsigned lo = fuzz_take(in);
    return lo | fuzz_take(in) << 8;
}

/* FNV-1a of the input: seeds the generated values, so one input always decodes the same way. */
static inline uint64_t fuzz_hash(const uint8_t *data, size_t size)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* splitmix64. */
static inline uint64_t fuzz_rng(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Prints the finding on stderr and aborts: libFuzzer saves the input as a crash. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void fuzz_fail(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("FUZZ FINDING: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

/* n bytes (n may be 0), allocated to exactly that extent: ASan reports any access past it. */
static inline void *fuzz_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fuzz_fail("out of memory for %zu bytes", n);
    return p;
}

#endif /* LSCE_FUZZ_COMMON_H */
