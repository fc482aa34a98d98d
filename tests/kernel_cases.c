/*
 * The test_kernels cases and guarded buffers (tests/kernel_cases.h).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kernel_cases.h"
#include "oracle.h"

#define GUARD_FLOATS 32    /* 128 guard bytes before and after every buffer */
#define GUARD_BYTE 0xA5

/* ---- guarded buffers ------------------------------------------------------------------------ */

float *gbuf_alloc(gbuf *b, size_t n, int offset)
{
    b->n = n;
    b->pre_bytes = (size_t)(GUARD_FLOATS + offset) * sizeof(float);
    b->raw_bytes = (b->pre_bytes + n * sizeof(float) + GUARD_FLOATS * sizeof(float) + 63) & ~(size_t)63;
    b->raw = aligned_alloc(64, b->raw_bytes);
    cr_assert(b->raw, "out of memory (%zu bytes)", b->raw_bytes);
    memset(b->raw, GUARD_BYTE, b->raw_bytes);
    b->p = (float *)(void *)(b->raw + b->pre_bytes);
    return b->p;
}

void gbuf_free(gbuf *b)
{
    free(b->raw);
    memset(b, 0, sizeof *b);
}

int gbuf_untouched(const gbuf *b, int64_t rows, int64_t V, int64_t stride)
{
    for (size_t i = 0; i < b->pre_bytes; i++)
        if (b->raw[i] != GUARD_BYTE)
            return 0;
    for (size_t i = b->pre_bytes + b->n * sizeof(float); i < b->raw_bytes; i++)
        if (b->raw[i] != GUARD_BYTE)
            return 0;
    for (int64_t r = 0; r + 1 < rows; r++) {
        const unsigned char *pad = (const unsigned char *)(b->p + r * stride + V);
        for (size_t i = 0; i < (size_t)(stride - V) * sizeof(float); i++)
            if (pad[i] != GUARD_BYTE)
                return 0;
    }
    return 1;
}

size_t matrix_floats(int64_t rows, int64_t V, int64_t stride)
{
    return rows > 0 ? (size_t)((rows - 1) * stride + V) : 0;
}

/* ---- cases ---------------------------------------------------------------------------------- */

const char *const dist_names[D_COUNT] = {"normal", "spread200", "offset1e4", "integer",
                                          "confident"};

static const double k_choices[] = {0.1, 1.0, 4.0, 16.0};

kcase random_case(test_rng *rng, int64_t rows, int64_t V)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.rows = rows;
    c.V = V;
    c.lstride = rng_uniform(rng) < 0.5 ? V : V + rng_range(rng, 1, 40);
    c.gstride = rng_uniform(rng) < 0.5 ? V : V + rng_range(rng, 1, 40);
    c.loff = (int)rng_range(rng, 0, 4);
    c.goff = (int)rng_range(rng, 0, 4);
    c.ooff = (int)rng_range(rng, 0, 4);
    c.dist = (dist_kind)rng_range(rng, 0, D_COUNT);
    c.k = k_choices[rng_range(rng, 0, 4)];
    c.ninf = rng_uniform(rng) < 0.25 ? 0.1 : 0.0;
    c.target_ninf = rng_uniform(rng) < 0.1;
    c.ignore = rng_uniform(rng) < 0.5 ? 0.0 : 0.25;
    memset(&c.opts, 0, sizeof c.opts);
    c.opts.logit_scale = 1.0;
    c.opts.ignore_index = -100;
    static const double eps[] = {0.0, 0.0, 0.1, 0.1, 0.3, 1.0};
    c.opts.smoothing = eps[rng_range(rng, 0, 6)];
    c.opts.convention = (lsce_convention)rng_range(rng, 0, 3);
    c.opts.kl = rng_uniform(rng) < 0.25;
    c.opts.reduction = (lsce_reduction)rng_range(rng, 0, 3);
    c.go = rng_uniform(rng) < 0.5;
    c.inplace = rng_uniform(rng) < 0.3;
    c.fused_outputs = rng_uniform(rng) < 0.8 ? 7 : (int)rng_range(rng, 0, 8);
    return c;
}

float draw_logit(test_rng *rng, const kcase *c)
{
    switch (c->dist) {
    case D_NORMAL: return (float)(c->k * rng_normal(rng));
    case D_SPREAD: return (float)(400.0 * rng_uniform(rng) - 200.0);
    case D_OFFSET: return (float)(1e4 + (c->k > 4.0 ? 4.0 : c->k) * rng_normal(rng));
    case D_INT: return (float)nearbyint(2.0 * rng_normal(rng));
    case D_CONFIDENT: return (float)rng_normal(rng);
    case D_COUNT: break;
    }
    return 0.0f;
}

/* CH = the driver's stats chunk. */
#ifdef LSCE_CHUNK
#define CH LSCE_CHUNK
#else
#define CH 4096
#endif

void apply_pattern(test_rng *rng, const kcase *c, float *row)
{
    const int64_t V = c->V;
    switch (c->pattern) {
    case 1: /* every logit equal: argmax 0 */
        for (int64_t j = 0; j < V; j++)
            row[j] = 1.5f;
        break;
    case 2: /* small integers, the max (10) twice: once in [V/2, V−1), once at V−1 */
        for (int64_t j = 0; j < V; j++)
            row[j] = (float)fmin(nearbyint(2.0 * rng_normal(rng)), 3.0);
        row[V - 1] = 10.0f;
        if (V > 2)
            row[rng_range(rng, V / 2, V - 1)] = 10.0f;
        break;
    case 3: { /* one whole chunk of −inf (a masked vocabulary range), never the whole row */
        const int64_t n_ch = (V + CH - 1) / CH;
        if (n_ch < 2)
            break;
        const int64_t k = rng_range(rng, 0, n_ch);
        for (int64_t j = k * CH; j < V && j < (k + 1) * CH; j++)
            row[j] = -INFINITY;
        break;
    }
    case 4: /* chunk k lowered by 150·k: chunk weights e^(m_k − m) underflow float */
        for (int64_t j = 0; j < V; j++)
            row[j] -= 150.0f * (float)(j / CH);
        break;
    case 5: /* chunk k raised by 40·k: the max sits in the last chunk */
        for (int64_t j = 0; j < V; j++)
            row[j] += 40.0f * (float)(j / CH);
        break;
    default: break;
    }
}
