/*
 * test_kernels, shapes and memory layout: vocabulary sizes around the vector widths, the unroll,
 * the fp32 sum blocks and real vocabularies; row strides > V and misaligned base pointers; in
 * place; gradients of ≥ 4 MiB (the streaming-store path). Every case runs on every variant
 * (tests/kernel_run.h) and is checked against the bounds derived in tests/test_kernels.c.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel_cases.h"
#include "kernel_run.h"
#include "oracle.h"

#define STREAM_BYTES ((int64_t)4 << 20) /* src/lsce.c LSCE_STREAM_MIN_BYTES */

/* Around the vector widths W = 8, 16 and the 4× unroll (4W = 32, 64). */
static const int64_t small_V[] = {1,  2,  3,  4,  5,  7,  8,  9,  11, 15,  16,  17,  19,
                                  23, 31, 32, 33, 35, 40, 47, 48, 63, 64,  65,  67,  95,
                                  96, 97, 127, 128, 129, 191, 192, 193, 255, 256, 257, 300};

Test(kernels, small_vocab, .timeout = 120)
{
    test_rng rng = test_rng_for("small_vocab");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof small_V / sizeof small_V[0]; i++)
        for (int dist = 0; dist < D_COUNT; dist++) {
            kcase c = random_case(&rng, rng_range(&rng, 1, 10), small_V[i]);
            c.dist = (dist_kind)dist;
            failures += run_case("small_vocab", n++, &c, &rng);
        }
    FINISH("small_vocab", failures);
}

/* Around the fp32 sum blocks (512 for AVX2, 1024 for AVX-512), their multiples and the driver's
 * stats chunk (src/kernels.h LSCE_CHUNK = 4096). */
static const int64_t block_V[] = {511,  512,  513,  1023, 1024, 1025, 1535, 1536, 1537, 2047,
                                  2048, 2049, 2079, 3077, 4095, 4096, 4097, 5000, 8191, 8193};

Test(kernels, block_edges, .timeout = 120)
{
    test_rng rng = test_rng_for("block_edges");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof block_V / sizeof block_V[0]; i++)
        for (int rep = 0; rep < 3; rep++) {
            kcase c = random_case(&rng, rng_range(&rng, 1, 6), block_V[i]);
            failures += run_case("block_edges", n++, &c, &rng);
        }
    FINISH("block_edges", failures);
}

/* Real vocabularies, few rows. */
Test(kernels, large_vocab, .timeout = 120)
{
    static const int64_t Vs[] = {1000, 32000, 50257, 128256, 262144};
    test_rng rng = test_rng_for("large_vocab");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int rep = 0; rep < 2; rep++) {
            const int64_t rows = Vs[i] > 100000 ? 2 : 3;
            kcase c = random_case(&rng, rows, Vs[i]);
            c.dist = rep == 0 ? D_NORMAL : (dist_kind)rng_range(&rng, 1, D_COUNT);
            c.fused_outputs = 7;
            if (Vs[i] > 100000)
                c.inplace = 0; /* the streaming test covers large in-place calls */
            failures += run_case("large_vocab", n++, &c, &rng);
        }
    FINISH("large_vocab", failures);
}

/* Strides > V and base pointers 1..3 floats off alignment, every buffer. */
Test(kernels, strides_and_alignment, .timeout = 120)
{
    test_rng rng = test_rng_for("strides_and_alignment");
    int failures = 0, n = 0;
    for (int off = 0; off < 4; off++)
        for (size_t i = 0; i < sizeof small_V / sizeof small_V[0]; i += 3) {
            const int64_t V = small_V[i] * (i % 2 ? 1 : 7);
            kcase c = random_case(&rng, rng_range(&rng, 2, 7), V);
            c.loff = off;
            c.goff = (off + 1) & 3;
            c.ooff = (off + 2) & 3;
            c.lstride = V + rng_range(&rng, 1, 70);
            c.gstride = V + rng_range(&rng, 1, 70);
            c.inplace = (int)(i / 3) % 2;
            failures += run_case("strides_and_alignment", n++, &c, &rng);
        }
    FINISH("strides_and_alignment", failures);
}

/* In place (grad == logits, same stride), with ignored rows, every optional output. */
Test(kernels, in_place, .timeout = 120)
{
    static const int64_t Vs[] = {1, 3, 8, 17, 64, 100, 513, 1025, 3000};
    test_rng rng = test_rng_for("in_place");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int rep = 0; rep < 2; rep++) {
            kcase c = random_case(&rng, rng_range(&rng, 3, 9), Vs[i]);
            c.inplace = 1;
            c.ignore = 0.3;
            c.fused_outputs = 7;
            c.lstride = rep ? Vs[i] : Vs[i] + rng_range(&rng, 1, 20);
            failures += run_case("in_place", n++, &c, &rng);
        }
    FINISH("in_place", failures);
}

/* Gradients of ≥ 4 MiB: the non-temporal store path, aligned and unaligned, in and out of place. */
Test(kernels, streaming, .timeout = 120)
{
    typedef struct {
        int64_t rows, V, gpad;
        int goff, inplace;
    } shape;
    static const shape shapes[] = {
        {33, 32000, 0, 0, 0}, {33, 32000, 0, 1, 0}, {36, 32000, 3, 3, 0},
        {5, 262144, 5, 2, 0}, {300, 3501, 0, 1, 0}, {33, 32000, 7, 2, 1},
        {4, 262144, 0, 3, 1},
    };
    test_rng rng = test_rng_for("streaming");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        kcase c = random_case(&rng, s->rows, s->V);
        c.gstride = s->V + s->gpad;
        c.goff = s->goff;
        c.inplace = s->inplace;
        if (s->inplace) {
            c.lstride = c.gstride;
            c.loff = s->goff;
        }
        c.dist = (dist_kind)(i % D_COUNT);
        const int64_t st = c.inplace ? c.lstride : c.gstride;
        cr_assert((int64_t)matrix_floats(c.rows, c.V, st) * 4 >= STREAM_BYTES,
                  "shape %zu does not reach the streaming threshold", i);
        failures += run_case("streaming", n++, &c, &rng);
    }
    FINISH("streaming", failures);
}
