/*
 * test_api, consistency: in place equals out of place, forward + backward matches the fused call,
 * sum equals mean × count, and grad_output (a vector for `none`, a scalar for mean / sum) scales
 * only the gradient.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "api_support.h"
#include "lsce.h"
#include "oracle.h"

/* ==== in place, fused vs split, reductions, grad_output ===================================== */

/* The gradient written over the logits equals the out-of-place one bit for bit, with every other
 * output (ignored rows included: their row_lse must still be their lse). */
Test(consistency, in_place_equals_out_of_place_bit_identical)
{
    batch b = make_batch("inplace", 8, 53, 3, 3.0, 0.0, 0.3, -100);
    FOR_EACH_ISA(isa) {
        for (int red = 0; red < 3; red++)
            for (int e = 0; e < E_COUNT; e += 2) { /* fused, backward */
                const lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, (lsce_reduction)red, 0,
                                               0.1, -100);
                outs oop = run((entry)e, &o, &b, b.go, 0), inp = run((entry)e, &o, &b, b.go, 1);
                cr_expect_eq(inp.st, LSCE_OK);
                for (int64_t r = 0; r < b.rows; r++) {
                    cr_expect(!memcmp(oop.grad + r * b.stride, inp.grad + r * b.stride,
                                      (size_t)b.V * sizeof(float)),
                              "[%s %s %s] in-place gradient row %lld differs",
                              lsce_isa_to_string(isa), entry_names[e], red_names[red],
                              (long long)r);
                    cr_expect(!memcmp(&oop.row_loss[r], &inp.row_loss[r], sizeof(float)) &&
                                  !memcmp(&oop.row_lse[r], &inp.row_lse[r], sizeof(float)),
                              "[%s %s %s] row %lld%s: in place row_loss %.9g row_lse %.9g, "
                              "out of place %.9g %.9g",
                              lsce_isa_to_string(isa), entry_names[e], red_names[red],
                              (long long)r, b.y[r] == -100 ? " (ignored)" : "", inp.row_loss[r],
                              inp.row_lse[r], oop.row_loss[r], oop.row_lse[r]);
                }
                cr_expect(!memcmp(&oop.res, &inp.res, sizeof oop.res),
                          "[%s %s] in-place result differs", lsce_isa_to_string(isa),
                          entry_names[e]);
                free_outs(&oop);
                free_outs(&inp);
            }
    }
    free_batch(&b);
}

/* lsce_forward + lsce_backward (from the fp32 row_lse) vs lsce_forward_backward: both within the
 * documented bound of the exact gradient, so within the sum of the two bounds of each other; the
 * forward outputs are bit-identical. */
Test(consistency, forward_then_backward_matches_fused_within_bound)
{
    batch b = make_batch("split", 6, 301, 1, 3.0, 0.0, 0.2, -100);
    FOR_EACH_ISA(isa) {
        for (int conv = 0; conv < 3; conv++) {
            const lsce_options o = opts_of(isa, (lsce_convention)conv, LSCE_REDUCTION_MEAN, 0,
                                           0.2, -100);
            outs f = run(E_FUSED, &o, &b, b.go, 0), s = run(E_BACKWARD, &o, &b, b.go, 0);
            oracle_batch ob;
            cr_assert_eq(oracle_eval_batch(&o, b.rows, b.V, b.x, b.stride, b.y, b.go, 1, &ob), 0);
            cr_expect(!memcmp(f.row_loss, s.row_loss, (size_t)b.rows * sizeof(float)) &&
                      !memcmp(f.row_lse, s.row_lse, (size_t)b.rows * sizeof(float)) &&
                      f.res.loss == s.res.loss && f.res.nll_sum == s.res.nll_sum);
            for (int64_t r = 0; r < b.rows; r++) {
                double gmax = 0.0;
                for (int64_t c = 0; c < b.V; c++)
                    gmax = fmax(gmax, fabs(ob.grad[r * b.V + c]));
                for (int64_t c = 0; c < b.V; c++) {
                    const double tol = b.y[r] == -100 ? 0.0
                                                      : grad_tol(&o, &b, &ob, r, c, gmax, 0) +
                                                            grad_tol(&o, &b, &ob, r, c, gmax, 1);
                    const float gf = f.grad[r * b.stride + c], gs = s.grad[r * b.stride + c];
                    cr_expect(fabs((double)gf - gs) <= tol,
                              "[%s %s] grad[%lld][%lld]: fused %.9g, split %.9g (tol %.3g)",
                              lsce_isa_to_string(isa), conv_names[conv], (long long)r,
                              (long long)c, gf, gs, tol);
                }
            }
            oracle_batch_free(&ob);
            free_outs(&f);
            free_outs(&s);
        }
    }
    free_batch(&b);
}

/* sum = mean × n_tokens for the loss (double: a few ulps) and the gradient (each within its
 * documented bound of the exact one). */
Test(consistency, sum_equals_mean_times_count)
{
    batch b = make_batch("summean", 9, 45, 0, 2.0, 0.0, 0.3, -100);
    FOR_EACH_ISA(isa) {
        lsce_options om = opts_of(isa, LSCE_CONV_OTHERS, LSCE_REDUCTION_MEAN, 0, 0.1, -100);
        lsce_options os = om;
        os.reduction = LSCE_REDUCTION_SUM;
        outs m = run(E_FUSED, &om, &b, NULL, 0), s = run(E_FUSED, &os, &b, NULL, 0);
        const double n = (double)m.res.n_tokens;
        cr_expect(m.res.n_tokens == s.res.n_tokens && n > 0);
        cr_expect(fabs(m.res.loss * n - s.res.loss) <= 8 * DBL_EPSILON * fabs(s.res.loss),
                  "[%s] mean %.17g × %g != sum %.17g", lsce_isa_to_string(isa), m.res.loss, n,
                  s.res.loss);
        cr_expect(m.res.nll_sum == s.res.nll_sum);
        oracle_batch ob;
        cr_assert_eq(oracle_eval_batch(&os, b.rows, b.V, b.x, b.stride, b.y, NULL, 1, &ob), 0);
        for (int64_t r = 0; r < b.rows; r++) {
            double gmax = 0.0;
            for (int64_t c = 0; c < b.V; c++)
                gmax = fmax(gmax, fabs(ob.grad[r * b.V + c]));
            for (int64_t c = 0; c < b.V; c++) {
                const double gm = m.grad[r * b.stride + c] * n, gs = s.grad[r * b.stride + c];
                /* Each within its bound of the exact gradient (the mean's bound × n). */
                const double tol =
                    b.y[r] == -100 ? 0.0 : 2.0 * grad_tol(&os, &b, &ob, r, c, gmax, 0);
                cr_expect(fabs(gm - gs) <= tol * (1.0 + 1e-6),
                          "[%s] grad[%lld][%lld]: mean × n %.9g, sum %.9g",
                          lsce_isa_to_string(isa), (long long)r, (long long)c, gm, gs);
            }
        }
        oracle_batch_free(&ob);
        free_outs(&m);
        free_outs(&s);
    }
    free_batch(&b);
}

/* Reduction none with a grad_output vector: per-row losses independent of it, result.loss their
 * sum, the gradient of row r scaled by grad_output[r] (0 gives an exactly zero row). */
Test(consistency, reduction_none_with_grad_output_vector)
{
    batch b = make_batch("none_go", 8, 40, 2, 2.0, 0.0, 0.2, -100);
    b.go[5] = 0.0f;
    b.go[6] = -3.0f;
    if (b.y[5] == -100)
        b.y[5] = 1;
    FOR_EACH_ISA(isa) {
        const lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_NONE, 0, 0.1, -100);
        for (int e = 0; e < E_COUNT; e += 2) {
            outs w = run((entry)e, &o, &b, b.go, 0), u = run((entry)e, &o, &b, NULL, 0);
            expect_oracle("none+go", &o, &b, b.go, (entry)e, &w);
            cr_expect(!memcmp(w.row_loss, u.row_loss, (size_t)b.rows * sizeof(float)));
            double sum = 0.0;
            for (int64_t r = 0; r < b.rows; r++)
                sum += w.row_loss[r];
            if (e == E_FUSED)
                cr_expect(fabs(w.res.loss - sum) <= 1e-6 * fabs(sum),
                          "result.loss %.9g is not the sum of the row losses %.9g", w.res.loss,
                          sum);
            for (int64_t c = 0; c < b.V; c++)
                cr_expect(w.grad[5 * b.stride + c] == 0.0f, "[%s] grad_output 0: grad %g",
                          lsce_isa_to_string(isa), w.grad[5 * b.stride + c]);
            free_outs(&w);
            free_outs(&u);
        }
    }
    free_batch(&b);
}

/* A scalar grad_output scales the mean / sum gradient (not the loss); 0 gives zero. */
Test(consistency, grad_output_scalar_scales_the_gradient)
{
    const float gos[] = {2.5f, -0.5f, 0.0f, 1e-3f};
    batch b = make_batch("go_scalar", 5, 29, 0, 2.0, 0.0, 0.2, -100);
    FOR_EACH_ISA(isa) {
        for (int red = 0; red < 2; red++) {
            const lsce_options o = opts_of(isa, LSCE_CONV_SEED, (lsce_reduction)red, 1, 0.2, -100);
            outs one = run(E_FUSED, &o, &b, NULL, 0);
            for (size_t i = 0; i < sizeof gos / sizeof gos[0]; i++)
                for (int e = 0; e < E_COUNT; e += 2) {
                    outs w = run((entry)e, &o, &b, &gos[i], 0);
                    expect_oracle("scalar go", &o, &b, &gos[i], (entry)e, &w);
                    if (e == E_FUSED)
                        cr_expect(w.res.loss == one.res.loss, "grad_output changed the loss");
                    for (int64_t j = 0; gos[i] == 0.0f && j < b.rows * b.stride; j++)
                        cr_expect(w.grad[j] == 0.0f);
                    free_outs(&w);
                }
            free_outs(&one);
        }
    }
    free_batch(&b);
}

/* lsce_backward given an lse below a logit's t (an lse saved by another variant, whose tanh
 * differs by ulps, or computed by the caller): p = exp(min(t − lse, 0)) ≤ 1, never inf or NaN.
 * With the max at 1e30 an ulp of it is 2^76, so an unclamped exp overflows. Expected values, in
 * double: p = 1 at the max, exp(t − 1e30) = 0 elsewhere; grad_c = (A·p_c − q_c)·∂t/∂x_c with
 * A = Σ q = 1 (sum reduction, grad_output 1). Tolerance 1e-5 relative to the largest |grad|: the
 * softcap chain rule's bound (10 + 4|y|)u at |y| ≤ 1, with room for q's and the store's rounding. */
Test(consistency, backward_from_an_lse_below_a_logit_clamps_p_at_1)
{
    enum { V = 37, MAX_AT = 5 };
    const double eps = 0.1, cap = 1e30;
    float x[V], grad[V];
    for (int c = 0; c < V; c++)
        x[c] = (float)((c * 7 % 11) - 5) * 0.5f;
    x[MAX_AT] = 1e30f;
    FOR_EACH_ISA(isa) {
        for (int softcap = 0; softcap < 4; softcap++) { /* bit 0: softcap; bit 1: y at the max */
            const int64_t y[1] = {softcap & 2 ? MAX_AT : 2};
            lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, eps, -100);
            o.softcap = softcap & 1 ? cap : 0.0;
            const double t_max = o.softcap > 0 ? cap * tanh((double)x[MAX_AT] / cap) : x[MAX_AT];
            /* below any variant's t_max: by an ulp (plain), by 2^-20 relative (softcap) */
            const float lse = o.softcap > 0 ? (float)(t_max * (1.0 - 0x1p-20))
                                            : nextafterf(x[MAX_AT], 0.0f);
            cr_assert_eq(lsce_backward(&o, 1, V, x, V, y, &lse, NULL, grad, V), LSCE_OK);
            for (int c = 0; c < V; c++) {
                const double q = (c == y[0] ? 1.0 - eps : 0.0) + eps / V;
                const double p = c == MAX_AT ? 1.0 : 0.0;
                const double th = o.softcap > 0 ? tanh((double)x[c] / cap) : 0.0;
                const double expected = (p - q) * (1.0 - th * th);
                cr_expect(fabs((double)grad[c] - expected) <= 1e-5,
                          "[%s softcap %d y %lld] grad[%d] = %.9g, expected %.9g",
                          lsce_isa_to_string(isa), softcap & 1, (long long)y[0], c, grad[c],
                          expected);
            }
        }
    }
}

/* Every NaN reported is the positive quiet NaN (lsce.h), whichever variant, entry point or sweep
 * produced it: inf − inf gives x86's negative default NaN, a NaN logit its own payload. Rows: an
 * +inf logit, a NaN logit with a negative sign, both; plain and general (confidence penalty)
 * sweeps, fused and forward. */
Test(consistency, nan_outputs_are_the_positive_quiet_nan)
{
    enum { ROWS = 3, V = 19 };
    float x[ROWS * V], grad[ROWS * V], row_loss[ROWS], row_lse[ROWS];
    for (int i = 0; i < ROWS * V; i++)
        x[i] = (float)(i % 7) - 3.0f;
    x[4] = INFINITY;
    x[V + 9] = -NAN;
    x[2 * V + 1] = INFINITY;
    x[2 * V + 17] = NAN;
    const int64_t y[ROWS] = {1, 2, 3};
    const float canonical = NAN;
    FOR_EACH_ISA(isa) {
        for (int general = 0; general < 2; general++)
            for (int fused = 0; fused < 2; fused++) {
                lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.1, -100);
                o.confidence_penalty = general ? 0.25 : 0.0;
                lsce_result res;
                const lsce_status st =
                    fused ? lsce_forward_backward(&o, ROWS, V, x, V, y, NULL, grad, V, row_loss,
                                                  row_lse, &res)
                          : lsce_forward(&o, ROWS, V, x, V, y, row_loss, row_lse, &res);
                cr_assert_eq(st, LSCE_OK);
                for (int r = 0; r < ROWS; r++)
                    cr_expect(!memcmp(&row_loss[r], &canonical, sizeof canonical) &&
                                  !memcmp(&row_lse[r], &canonical, sizeof canonical),
                              "[%s general %d fused %d] row %d: row_loss %a row_lse %a",
                              lsce_isa_to_string(isa), general, fused, r, row_loss[r],
                              row_lse[r]);
                const double nan_d = (double)NAN;
                cr_expect(!memcmp(&res.loss, &nan_d, sizeof nan_d) &&
                              !memcmp(&res.nll_sum, &nan_d, sizeof nan_d),
                          "[%s general %d fused %d] loss %a nll_sum %a", lsce_isa_to_string(isa),
                          general, fused, res.loss, res.nll_sum);
            }
    }
}
