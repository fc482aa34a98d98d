/*
 * Every kernel table this CPU runs — the dispatched variants and their alternatives (AVX-512 with
 * integer bf16 rounding, and with AVX512-BF16 stores) — through lsce_forward_backward_with:
 *   1. a 16-bit gradient is the fp32 gradient of the same table rounded once (src/half.h) — bit
 *      for bit, since the two runs share every operation before the final store;
 *   2. tables that differ only in how they store bf16 give identical bits.
 * The data reach the conversions' corners: gradients scaled by grad_output into the bf16/fp16
 * subnormal range and past fp16's largest finite value, −inf masked logits and a NaN row.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "internal.h"

enum { ROWS = 7, V = 4099 }; /* a chunk and a bit: both the vector loops and the tails */

static void make_logits(float *x)
{
    for (int64_t i = 0; i < (int64_t)ROWS * V; i++)
        x[i] = (float)((i * 7919 % 10007) / 1000.0 - 5.0);
    x[1 * V + 17] = -INFINITY; /* masked vocabulary entries */
    x[1 * V + 4098] = -INFINITY;
    x[3 * V + 2] = NAN; /* a NaN row */
    for (int64_t c = 0; c < V; c++) /* a confident row: p_y → 1 */
        x[5 * V + c] = c == 9 ? 30.0f : 0.0f;
}

/* Runs table k on logits of dtype `in` (rounded from x) with a gradient of dtype `out`. */
static void run(const lsce_kernels *k, const float *x, lsce_dtype in, lsce_dtype out,
                float grad_output, void *grad)
{
    static const int64_t targets[ROWS] = {3, 17, -100, 40, 4098, 9, 0};
    static uint16_t narrow[ROWS * V];
    const void *logits = x;
    if (in != LSCE_DTYPE_F32) {
        for (int64_t i = 0; i < (int64_t)ROWS * V; i++)
            lsce_store_from_f32(narrow, in, i, x[i]);
        logits = narrow;
    }
    lsce_options o;
    lsce_options_default(&o);
    o.smoothing = 0.1;
    o.reduction = LSCE_REDUCTION_SUM;
    o.logits_dtype = in;
    o.grad_dtype = out;
    lsce_result res;
    cr_assert_eq(lsce_forward_backward_with(k, &o, ROWS, V, logits, V, targets, &grad_output, grad,
                                            V, NULL, NULL, &res),
                 LSCE_OK, "%s", k->name);
}

static int same_bits(uint16_t a, uint16_t b) { return a == b; }

Test(tables, half_gradients_are_the_fp32_gradient_rounded_once)
{
    static float x[ROWS * V], wide[ROWS * V];
    static uint16_t narrow[ROWS * V];
    make_logits(x);
    const lsce_kernels *tables[8];
    const int n = lsce_kernels_all(tables, 8);
    /* 1: ordinary, 1e-36: bf16 subnormals, 1e-9: fp16 subnormals, 1e6: past fp16's 65504 */
    static const float scales[] = {1.0f, 1e-36f, 1e-9f, 1e6f};
    int checked = 0;
    for (int t = 0; t < n; t++)
        for (int in = 0; in < 3; in++)
            for (int out = 1; out < 3; out++)
                for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
                    run(tables[t], x, (lsce_dtype)in, LSCE_DTYPE_F32, scales[s], wide);
                    run(tables[t], x, (lsce_dtype)in, (lsce_dtype)out, scales[s], narrow);
                    for (int64_t i = 0; i < (int64_t)ROWS * V; i++) {
                        const uint16_t want = out == 1 ? lsce_f32_to_bf16(wide[i])
                                                       : lsce_f32_to_f16(wide[i]);
                        cr_assert(same_bits(narrow[i], want),
                                 "%s in %d out %d scale %g: element %lld is 0x%04x, the "
                                  "rounded fp32 gradient %a is 0x%04x",
                                  tables[t]->name, in, out, (double)scales[s], (long long)i,
                                  narrow[i], (double)wide[i], want);
                    }
                    checked++;
                }
    cr_log_info("%d (table, dtype pair, scale) runs checked bit for bit", checked);
}

Test(tables, bf16_store_paths_agree)
{
    static float x[ROWS * V];
    static uint16_t first[ROWS * V], other[ROWS * V];
    make_logits(x);
    const lsce_kernels *tables[8];
    const int n = lsce_kernels_all(tables, 8);
    const lsce_kernels *integer = NULL, *native = NULL;
    for (int t = 0; t < n; t++) {
        if (!strcmp(tables[t]->name, "avx512"))
            integer = tables[t];
        if (!strcmp(tables[t]->name, "avx512bf16"))
            native = tables[t];
    }
    if (!integer || !native)
        cr_skip_test("this CPU lacks AVX-512 or AVX512-BF16");
    for (float scale = 1e-38f; scale < 1e30f; scale *= 1e4f) {
        run(integer, x, LSCE_DTYPE_BF16, LSCE_DTYPE_BF16, scale, first);
        run(native, x, LSCE_DTYPE_BF16, LSCE_DTYPE_BF16, scale, other);
        cr_assert(!memcmp(first, other, sizeof first), "scale %g: the bf16 gradients differ",
                  (double)scale);
    }
}
