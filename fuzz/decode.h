/*
 * Decoders shared by the kernels and options fuzz targets: a logit from its tag byte(s) and the
 * vocabulary size from two bytes (see fuzz_kernels.c's header for the input layouts).
 */
#ifndef LSCE_FUZZ_DECODE_H
#define LSCE_FUZZ_DECODE_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

/* A logit from its tag byte (and maybe more bytes); prev is the previous logit of the row. */
static inline float decode_logit(fuzz_bytes *in, float prev, float scale, uint64_t *rng)
{
    const unsigned tag = fuzz_take(in);
    switch (tag) {
    case 0xF0: return NAN;
    case 0xF1: return INFINITY;
    case 0xF2: return -INFINITY;
    case 0xF3: return 0.0f;
    case 0xF4: return -0.0f;
    case 0xF5: return FLT_TRUE_MIN;
    case 0xF6: return -FLT_MIN / 3.0f; /* subnormal */
    case 0xF7: return 1e30f;
    case 0xF8: return -1e30f;
    case 0xF9: return 1e-30f;
    case 0xFA: return FLT_MAX;
    case 0xFB: return -FLT_MAX;
    case 0xFC: case 0xFD: return prev; /* ties */
    case 0xFE: {
        uint32_t bits = 0;
        for (int i = 0; i < 4; i++)
            bits |= (uint32_t)fuzz_take(in) << (8 * i);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    case 0xFF: return prev + 1.0f;
    default:
        if (in->left == 0 && tag == 0) /* input exhausted: generated values */
            return scale * (float)((int64_t)(fuzz_rng(rng) % 2001) - 1000) / 100.0f;
        return scale * (float)((int)tag - 120) / 16.0f;
    }
}

/* V: mostly small; with the top bit, near the chunk size (4096) or twice it (these long rows
 * cost 100 times more: the targets give them at most 2 rows). */
static inline int64_t decode_vocab(unsigned v)
{
    if (!(v & 0x8000))
        return 1 + (int64_t)(v % 300);
    return ((v & 0x4000) ? 8192 : 4096) - 40 + (int64_t)(v % 80);
}

/* The shape bytes both kernel targets start with: rows (% max_rows + 1, at most 2 past V = 4000),
 * V (two bytes), then the paddings of the logits and gradient strides (3 bits each). */
static inline void decode_shape(fuzz_bytes *in, int max_rows, int64_t *rows, int64_t *V,
                                int64_t *ls, int64_t *gs)
{
    *rows = fuzz_take(in) % (max_rows + 1);
    *V = decode_vocab(fuzz_take16(in));
    if (*V > 4000 && *rows > 2)
        *rows = 2;
    const unsigned pads = fuzz_take(in);
    *ls = *V + (pads & 7);
    *gs = *V + ((pads >> 3) & 7);
}

#endif /* LSCE_FUZZ_DECODE_H */
