/*
 * The softcap transform of each variant, measured densely against lsce.h's accuracy statements
 * (part of test_options; see tests/test_options.c): the fp32 t = c·tanh(s·x/c) (through V = 1
 * rows, whose lse is t) and the chain rule ∂t/∂x (through V = 1 rows with a z-loss, whose
 * gradient is t̂·J). The worst figures are printed for the record.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_options.h"

/* ---- the fp32 t of softcap, measured ------------------------------------------------------- */

/* With V = 1 the row's lse is its t (d = e^0 = 1, log d = 0): lsce_forward's row_lse shows the
 * fp32 t = c·tanh(s·x/c) of each variant. Asserted: the (T) bound τ of test_options_bounds.c plus
 * the lse bound's kernel part for V = 1 (δd' + u|lse|: exp(0) and log(1) if they are not exact).
 * Reported: the worst |t̂ − t| in ulps of t̂, relative (lsce.h: δ_t ≤ 9u), and as a fraction of
 * τ alone (> 1: worse than lsce.h states somewhere — tell the lead, don't loosen). */
static double ulp32(double v)
{
    int e;
    const double a = fabs(v);
    if (!(a >= 0x1p-126))
        return 0x1p-149;
    frexp(a, &e); /* a ∈ [2^(e−1), 2^e) */
    return ldexp(1.0, e - 24);
}

Test(options, softcap_t_accuracy, .timeout = 300)
{
    static const double caps[] = {5.0, 30.0, 50.0};
    static const double ss[] = {1.0, 0.5, 2.0, 1.0 / 3.0};
    const int64_t n = 65536;
    test_rng rng = rng_for("softcap_t_accuracy");
    float *x = malloc(sizeof(float) * (size_t)n), *lse = malloc(sizeof(float) * (size_t)n);
    int64_t *tg = calloc((size_t)n, sizeof(int64_t));
    cr_assert(x && lse && tg);
    int bad = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        double worst_ulp = 0.0, worst_tau = 0.0, at_ulp = 0.0, at_tau = 0.0, worst_rel = 0.0;
        for (int ci = 0; ci < 3; ci++)
            for (int si = 0; si < 4; si++) {
                lsce_options o;
                lsce_options_default(&o);
                o.softcap = caps[ci];
                o.logit_scale = ss[si];
                o.isa = (lsce_isa)isa;
                test_rng r = rng;
                for (int64_t i = 0; i < n; i++) {
                    /* |s·x/c| log-uniform in [1e−12, 40] (tanh's small-argument, middle and
                     * saturating ranges), or uniform in [0.4, 1.2] (around the 0.625 switch
                     * between branches), then a few special values */
                    const double b = (i & 1)
                        ? 0.4 + 0.8 * rng_uniform(&r)
                        : exp(log(1e-12) + (log(40.0) - log(1e-12)) * rng_uniform(&r));
                    x[i] = (float)((rng_uniform(&r) < 0.5 ? -b : b) * o.softcap / o.logit_scale);
                }
                static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, 3e38f, -3e38f,
                                                1e-40f, -1e-40f};
                for (int k = 0; k < 8; k++)
                    x[k] = special[k];
                cr_assert_eq(lsce_forward(&o, n, 1, x, 1, tg, NULL, lse, NULL), LSCE_OK,
                             "softcap %g scale %g on %s", o.softcap, o.logit_scale,
                             lsce_isa_to_string((lsce_isa)isa));
                for (int64_t i = 0; i < n; i++) {
                    const double t = oopt_t(&o, x[i]), cap = o.softcap;
                    const double tau = tau_bound(&o, x[i], t);
                    /* V = 1: E = 2^−22, γ_20, δd' ≈ 2^−22 + γ; + u|lse| for the fp32 output */
                    const double kern = (0x1p-22 + 20.0 * 0x1p-24) * 1.001 + 0x1p-24 * fabs(t);
                    const double err = fabs((double)lse[i] - t);
                    if (!(err <= tau + kern)) {
                        if (bad++ < 10)
                            fprintf(stderr, "  FAIL %s softcap %g scale %.17g: x = %a, t̂ = %a, "
                                    "t = %.17g (err %.3g, bound %.3g)\n",
                                    lsce_isa_to_string((lsce_isa)isa), cap, o.logit_scale,
                                    (double)x[i], (double)lse[i], t, err, tau + kern);
                    }
                    if (fabs(t) >= 0x1p-126 && err / ulp32(t) > worst_ulp) { /* normal t only */
                        worst_ulp = err / ulp32(t);
                        at_ulp = x[i] * o.logit_scale / cap;
                    }
                    if (fabs(t) >= 0x1p-126 && err / fabs(t) > worst_rel)
                        worst_rel = err / fabs(t);
                    if (tau > 0 && err / tau > worst_tau) {
                        worst_tau = err / tau;
                        at_tau = x[i] * o.logit_scale / cap;
                    }
                }
            }
        fprintf(stderr, "options/softcap_t_accuracy %-7s |t̂ − t| ≤ %.3g ulp(t) (at s·x/c = %.6g), "
                "≤ %.3gu·|t| (lsce.h: 9u), ≤ %.3g·τ (at s·x/c = %.6g)\n",
                lsce_isa_to_string((lsce_isa)isa), worst_ulp, at_ulp, worst_rel / 0x1p-24,
                worst_tau, at_tau);
    }
    free(x);
    free(lse);
    free(tg);
    cr_assert_eq(bad, 0, "%d fp32 t values outside the bound", bad);
}

/* The softcap chain rule, densely (saturation included): V = 1 rows with z = 1/2 and sum have
 * p = 1 and gradient 2z·lse·J = t̂·Ĵ, with lse = t̂ exactly (row_lse). lsce.h: Ĵ within
 * (10 + 4|y|)u of J relative, y = fl(s/c·x); the products 2z·lse·p·J and the store add ≤ 4u, p̂ = 1
 * within 2^−22 (exp(0) of a SIMD exp); where v = 1 − |tanh y| underflows (|y| ≳ 44), J < 4s·2^−126. */
Test(options, softcap_chain_rule_accuracy, .timeout = 300)
{
    static const double caps[] = {30.0, 5.0, 50.0, 32.0};
    static const double ss[] = {1.0, 2.0, 0.5, 1.0};
    const int64_t n = 1 << 16;
    float *x = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
    float *lse = malloc(sizeof(float) * (size_t)n);
    int64_t *tg = calloc((size_t)n, sizeof(int64_t));
    cr_assert(x && g && lse && tg);
    int bad = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        double worst = 0.0, at = 0.0;
        for (int k = 0; k < 4; k++) {
            lsce_options o;
            lsce_options_default(&o);
            o.softcap = caps[k];
            o.logit_scale = ss[k];
            o.z_loss = 0.5;
            o.reduction = LSCE_REDUCTION_SUM;
            o.isa = (lsce_isa)isa;
            for (int64_t i = 0; i < n; i++) /* y from 1e−6 to 60, both signs */
                x[i] = (float)((i & 1 ? -1.0 : 1.0) * 1e-6 * pow(6e7, (double)i / (double)n) *
                               o.softcap / o.logit_scale);
            cr_assert_eq(lsce_forward_backward(&o, n, 1, x, 1, tg, NULL, g, 1, NULL, lse, NULL),
                         LSCE_OK);
            for (int64_t i = 0; i < n; i++) {
                const double y = o.logit_scale * (double)x[i] / o.softcap, ch = cosh(y);
                const double J = o.logit_scale / (ch * ch), want = (double)lse[i] * J;
                const double rel = (10.0 + 4.0 * fabs(y)) * 0x1p-24 + 0x1p-22 + 4.0 * 0x1p-24;
                const double tol = fabs(want) * rel + fabs((double)lse[i]) * o.logit_scale * 0x1p-124 +
                                   0x1p-149;
                const double err = fabs((double)g[i] - want);
                if (!(err <= tol)) {
                    if (bad++ < 10)
                        fprintf(stderr, "  FAIL %s softcap %g scale %g: x = %a (y = %.6g) grad %a, "
                                "want t̂·J = %.17g (err %.3g, tol %.3g)\n",
                                lsce_isa_to_string((lsce_isa)isa), o.softcap, o.logit_scale,
                                (double)x[i], y, (double)g[i], want, err, tol);
                } else if (fabs(want) > 0x1p-100 && err / tol > worst) {
                    worst = err / tol;
                    at = y;
                }
            }
        }
        fprintf(stderr, "options/softcap_chain_rule_accuracy %-7s worst error/bound %.3g (at y = %.6g)\n",
                lsce_isa_to_string((lsce_isa)isa), worst, at);
    }
    free(x);
    free(g);
    free(lse);
    free(tg);
    cr_assert_eq(bad, 0, "%d gradient elements outside lsce.h's chain-rule bound", bad);
}
