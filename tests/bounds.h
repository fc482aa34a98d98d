/*
 * The accuracy lsce.h documents, as tolerances for the tests that compare against an independent
 * double-precision answer (tests/golden.c: PyTorch; tests/test_api.c: tests/oracle.c).
 *
 * lsce.h ("Accuracy", u = 2^−24), for a kept row with A = Σ_c q_c, a = q_y, gradient scale g:
 *   loss of a row   |error| ≤ 2.6e-6·A + 1.3e-6·|loss|        (the absolute term: a confident
 *                                                              row's loss log d ≈ d − 1 is far
 *                                                              below d's own error)
 *   nll of a row    the same with A = 1
 *   gradient        |error of grad_c| ≤ 2.6e-6·(max_c |grad_c| + |g|·max(q_y, q_c))
 *   lsce_backward   p recomputed from the saved fp32 row_lse (off by ≤ u·|lse|): p's relative
 *                   error grows by expm1(u·|lse|) (≈ u·|lse| unless |lse| nears 2^24), i.e.
 *                   + min(expm1(u·|lse|)·p_c, 1)·A·|g| on grad_c (p ≤ 1 either way)
 * and what the tests derive from it:
 *   row_loss        an fp32 output: + u·|loss|
 *   reduced loss    Σ of the row bounds (/ n_tokens for mean); result.loss is a double
 *   row_lse         lse = m + log d: log d's error is the nll bound's absolute part (2.6e-6;
 *                   the row sum d has relative error ≤ 1.2e-6 and each exp ≤ 1.65e-7), + u·|lse|
 *                   for the fp32 output
 * The gradient's second term is |g|·max(q_y, q_c): the fp32 A·p_c − q_c cancels when p ≈ q, with
 * an absolute error ~u·q_c (q_y = 0, others / seed at ε = 1, is where q_c alone shows).
 */
#ifndef LSCE_TESTS_BOUNDS_H
#define LSCE_TESTS_BOUNDS_H

#include <math.h>

#define BOUND_ABS 2.6e-6               /* lsce.h: absolute term (× A) of the loss; gradient */
#define BOUND_REL 1.3e-6               /* lsce.h: relative term of the loss */
#define BOUND_U (1.0 / 16777216.0)     /* u = 2^−24: fp32 rounding of an output */

/* got within tol of want, non-finite values matched by class: a NaN wanted must be NaN, an
 * infinity the same infinity. */
static inline int bound_close(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return isfinite(got) && fabs(got - want) <= tol;
}

/* A row's loss (A = Σ q) or nll (A = 1), as a double. */
static inline double bound_row_loss(double loss, double A)
{
    return BOUND_ABS * A + BOUND_REL * fabs(loss);
}

/* A row's fp32 row_lse. */
static inline double bound_row_lse(double lse) { return BOUND_ABS + BOUND_U * fabs(lse); }

/* Element of a gradient row: row_max_abs = max_c |grad_c| (exact), scale = the row's g,
 * a = q_y, b = q_c (c ≠ y). */
static inline double bound_grad(double row_max_abs, double scale, double a, double b)
{
    return BOUND_ABS * (row_max_abs + fabs(scale) * fmax(a, b));
}

/* The extra error of lsce_backward's element c (p_c = exp(x_c − lse)). */
static inline double bound_backward_extra(double lse, double A, double scale, double p)
{
    /* both p and the recomputed exp(min(x − lse, 0)) lie in [0, 1]: |Δp| ≤ 1 whatever |lse| */
    const double dp = p == 0.0 ? 0.0 : fmin(p * expm1(BOUND_U * fabs(lse)), 1.0);
    return A * fabs(scale) * dp;
}

#endif /* LSCE_TESTS_BOUNDS_H */
