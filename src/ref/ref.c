/*
 * The scalar reference: the specification of every row sweep, in plain C.
 *
 * THE ALGORITHM (one row of V logits x, target y; the driver in src/lsce.c composes the sweeps)
 *
 *   1. m = max_c x_c                                          (row_max: reads the row once)
 *   2. d = Σ_c exp(x_c − m),  S = Σ_c (x_c − m)               (row_expsum)
 *      Every term of d lies in [0, 1] and every term of S in [−inf, 0]: each sum has one sign,
 *      so its relative error is bounded by the number of roundings along its longest chain, and
 *      nothing cancels however large |m| is (logits offset by 1e4 lose nothing). The fused path
 *      stores e_c = exp(x_c − m) in a scratch row here: one exp per element.
 *   3. lse = m + log d. With a = q_y, b = q_c (c ≠ y), A = a + b(V−1) = Σ q:
 *        loss = A·lse − (a − b)·x_y − b·Σ x
 *             = A·log d − (a − b)·(x_y − m) − b·S             (A = (a − b) + bV cancels every m)
 *        nll  = log d − (x_y − m)
 *      computed in double by the driver from (m, d, S, x_y).
 *   4. gradient, with g the row's scale (grad_output, 1/denominator for mean):
 *        grad_c = g·(A·e_c/d − b)        for c ≠ y              (row_scale: fma(e, gA/d, −gb))
 *        grad_y = g·(A·e_y/d − a)        formed in double, rounded once, stored over grad_y
 *      so a target probability near 1 keeps full relative precision in A·p_y − a.
 *   Backward from a saved lse recomputes e_c/d as exp(x_c − lse) (row_expscale).
 *   argmax: the lowest c with x_c == m (row_find); a NaN row's argmax is its first NaN.
 *
 * Special values follow from IEEE arithmetic, with no special cases in the sweeps:
 *   −inf logit: e = exp(−inf) = 0 exactly, its gradient is exactly −g·b; S = −inf, so a
 *   smoothed row's loss is +inf (the driver drops b·S when b = 0 so that ε = 0 stays finite).
 *   NaN or +inf logit: x − m is NaN for it, d and S become NaN, and so do loss and gradient.
 *
 * The scalar sweeps accumulate in double and use libm expf (correctly rounded within 1 ulp).
 */
#include <math.h>
#include <string.h>

#include "../kernels.h"

float lsce_row_max_scalar(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t c = 1; c < n; c++)
        m = x[c] > m ? x[c] : m;
    return m;
}

int64_t lsce_row_find_scalar(const float *x, int64_t n, float value)
{
    for (int64_t c = 0; c < n; c++)
        if (x[c] == value)
            return c;
    return n;
}

lsce_expsum lsce_row_expsum_scalar(const float *x, int64_t n, float shift, float *exp_out)
{
    double sum_exp = 0.0, sum_shift = 0.0;
    for (int64_t c = 0; c < n; c++) {
        const float t = x[c] - shift; /* exact when x_c is within a factor 2 of shift */
        const float e = expf(t);
        if (exp_out)
            exp_out[c] = e;
        sum_exp += e;
        sum_shift += t;
    }
    return (lsce_expsum){sum_exp, sum_shift};
}

void lsce_row_scale_scalar(const float *src, int64_t n, float coef, float bias, float *dst,
                           int stream)
{
    (void)stream;
    for (int64_t c = 0; c < n; c++)
        dst[c] = fmaf(src[c], coef, bias);
}

void lsce_row_expscale_scalar(const float *x, int64_t n, float shift, float coef, float bias,
                              float *dst, int stream)
{
    (void)stream;
    for (int64_t c = 0; c < n; c++)
        dst[c] = fmaf(expf(x[c] - shift), coef, bias);
}

void lsce_exp_scalar(const float *in, int64_t n, float *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = expf(in[i]);
}

void lsce_fence_scalar(void) {}
