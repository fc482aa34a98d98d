/*
 * Edge cases of the public API, one named Test per behaviour, on every variant this CPU runs.
 *
 * Numbers are checked against tests/oracle.c (double precision, written independently of src/)
 * with the tolerances of tests/bounds.h (the accuracy lsce.h documents). Error paths are checked
 * for their status AND for "no output is touched": every buffer of such a call lives in one arena
 * filled with guard bytes, compared byte for byte after the call.
 *
 * The test_api binary is this file (suites oracle, edge) and
 *   tests/test_api_special.c      special: −inf / NaN / +inf logits, argmax ties
 *   tests/test_api_consistency.c  consistency: in place, fused vs split, reductions, grad_output
 *   tests/test_api_errors.c       errors: rejected calls write nothing (tests/api_arena.h)
 *   tests/test_api_dispatch.c     dispatch, meta: lsce_set_isa, names, strerror, defaults
 * with their helpers in tests/api_support.h (batches, runs, oracle checks) and tests/api_arena.h.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api_support.h"
#include "lsce.h"
#include "oracle.h"

/* The random data come from LSCE_TEST_SEED (tests/oracle.h): print it once. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    test_print_seed("test_api");
}

/* ==== against the oracle ==================================================================== */

Test(oracle, every_convention_reduction_kl_and_eps_every_variant)
{
    const double epss[] = {0.0, 0.1, 0.3, 1.0};
    batch b = make_batch("grid", 7, 37, 3, 2.0, 0.0, 0.3, -100);
    FOR_EACH_ISA(isa) {
        for (int conv = 0; conv < 3; conv++)
            for (int red = 0; red < 3; red++)
                for (int kl = 0; kl < 2; kl++)
                    for (int i = 0; i < 4; i++) {
                        const lsce_options o = opts_of(isa, (lsce_convention)conv,
                                                       (lsce_reduction)red, kl, epss[i], -100);
                        check_all_entries("grid", o, &b, NULL);
                        check_all_entries("grid+grad_output", o, &b, b.go);
                    }
    }
    free_batch(&b);
}

Test(oracle, vocab_sizes_across_simd_bodies_and_tails)
{
    const int64_t Vs[] = {2, 3, 8, 15, 16, 17, 31, 33, 64, 100, 257, 1000};
    FOR_EACH_ISA(isa) {
        for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++) {
            char name[32];
            snprintf(name, sizeof name, "V%lld", (long long)Vs[i]);
            batch b = make_batch(name, 5, Vs[i], (int64_t)i % 4, 3.0, 0.0, 0.2, -100);
            check_all_entries(name, opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_MEAN, 0, 0.1,
                                            -100), &b, NULL);
            check_all_entries(name, opts_of(isa, LSCE_CONV_OTHERS, LSCE_REDUCTION_NONE, 1, 0.3,
                                            -100), &b, b.go);
            free_batch(&b);
        }
    }
}

/* ε = 0: every convention is plain cross-entropy (a = 1, b = 0): identical bits, loss = nll. */
Test(oracle, eps_0_every_convention_is_plain_cross_entropy)
{
    batch b = make_batch("eps0", 6, 37, 0, 3.0, 0.0, 0.2, -100);
    FOR_EACH_ISA(isa) {
        lsce_options o0 = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.0, -100);
        outs ref = run(E_FUSED, &o0, &b, NULL, 0);
        expect_oracle("eps0", &o0, &b, NULL, E_FUSED, &ref);
        cr_expect(fabs(ref.res.loss - ref.res.nll_sum) <= 1e-12 * fabs(ref.res.nll_sum),
                  "[%s] eps 0: loss %.17g != nll_sum %.17g", lsce_isa_to_string(isa),
                  ref.res.loss, ref.res.nll_sum);
        for (int conv = 1; conv < 3; conv++) {
            lsce_options o = o0;
            o.convention = (lsce_convention)conv;
            outs out = run(E_FUSED, &o, &b, NULL, 0);
            cr_expect_eq(out.st, LSCE_OK);
            cr_expect(!memcmp(out.grad, ref.grad, (size_t)(b.rows * b.stride) * sizeof(float)) &&
                          !memcmp(out.row_loss, ref.row_loss, (size_t)b.rows * sizeof(float)) &&
                          out.res.loss == ref.res.loss,
                      "[%s] eps 0: convention %s differs from uniform", lsce_isa_to_string(isa),
                      conv_names[conv]);
            free_outs(&out);
        }
        free_outs(&ref);
    }
    free_batch(&b);
}

Test(oracle, eps_1_every_convention_every_variant)
{
    batch b = make_batch("eps1", 6, 50, 2, 2.0, 0.0, 0.2, -100);
    FOR_EACH_ISA(isa) {
        for (int conv = 0; conv < 3; conv++)
            for (int kl = 0; kl < 2; kl++)
                check_all_entries("eps1", opts_of(isa, (lsce_convention)conv,
                                                  LSCE_REDUCTION_MEAN, kl, 1.0, -100), &b, NULL);
    }
    free_batch(&b);
}

/* q_y = 0 (others / seed at ε = 1) with the target logit far below the rest: p ≈ q, so every
 * gradient element cancels to ~1e-14 while its terms A·p_c and q_c are ~1/V: the bound's
 * |g|·max(q_y, q_c) term is what covers it (with q_y alone it was 1e4× too small). */
Test(oracle, gradient_bound_when_target_weight_is_0_and_row_cancels)
{
    batch b = make_batch("qy0", 2, 64, 0, 1e-3, 0.0, 0.0, -100);
    b.y[0] = 5;
    b.x[5] = -40.0f;
    b.y[1] = 0;
    for (int64_t c = 0; c < b.V; c++)
        b.x[b.stride + c] = c == 0 ? -30.0f : 0.0f;
    FOR_EACH_ISA(isa) {
        for (int conv = 1; conv < 3; conv++)
            check_all_entries("q_y = 0", opts_of(isa, (lsce_convention)conv, LSCE_REDUCTION_SUM,
                                                 0, 1.0, -100), &b, NULL);
    }
    free_batch(&b);
}

/* V = 1: p = 1, so the loss is 0 (kl: Σ q log q = a·log a) and the gradient exactly 0. */
Test(edge, vocab_1_loss_zero_and_gradient_exactly_zero)
{
    batch b = make_batch("V1", 5, 1, 0, 4.0, 0.0, 0.0, -100);
    b.y[3] = -100;
    FOR_EACH_ISA(isa) {
        for (int conv = 0; conv < 3; conv++)
            for (int kl = 0; kl < 2; kl++)
                for (int red = 0; red < 3; red++) {
                    const lsce_options o = opts_of(isa, (lsce_convention)conv,
                                                   (lsce_reduction)red, kl, 0.3, -100);
                    double a, bq, A;
                    weights(&o, 1, &a, &bq, &A);
                    const double row = kl ? a * log(a) : 0.0;
                    for (int e = 0; e < E_COUNT; e++) {
                        outs out = run((entry)e, &o, &b, NULL, 0);
                        expect_oracle("V1", &o, &b, NULL, (entry)e, &out);
                        for (int64_t r = 0; r < b.rows && out.grad; r++)
                            cr_expect(out.grad[r] == 0.0f, "[%s %s %s kl%d] V=1 grad[%lld] = %g",
                                      lsce_isa_to_string(isa), entry_names[e], conv_names[conv],
                                      kl, (long long)r, out.grad[r]);
                        for (int64_t r = 0; r < b.rows; r++)
                            cr_expect(out.row_loss[r] == (r == 3 ? 0.0f : (float)row),
                                      "V=1 row_loss[%lld] = %.9g, want %.9g", (long long)r,
                                      out.row_loss[r], r == 3 ? 0.0 : row);
                        free_outs(&out);
                    }
                }
    }
    free_batch(&b);
}

/* ==== ignored rows ========================================================================= */

Test(edge, all_rows_ignored_mean_gives_loss_0_zero_gradient_no_tokens)
{
    batch b = make_batch("allign", 4, 37, 1, 2.0, 0.0, 1.0, -100);
    FOR_EACH_ISA(isa) {
        for (int red = 0; red < 3; red++)
            for (int e = 0; e < E_COUNT; e++) {
                const lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, (lsce_reduction)red, 0,
                                               0.1, -100);
                outs out = run((entry)e, &o, &b, b.go, 0);
                cr_expect_eq(out.st, LSCE_OK);
                if (e != E_BACKWARD) {
                    /* PyTorch: NaN for mean; lsce.h documents 0. */
                    cr_expect(out.res.loss == 0.0 && out.res.n_tokens == 0 &&
                                  out.res.nll_sum == 0.0 && out.res.n_correct == 0 &&
                                  out.res.denominator == 0.0,
                              "[%s %s %s] all ignored: loss %g n_tokens %lld",
                              lsce_isa_to_string(isa), entry_names[e], red_names[red],
                              out.res.loss, (long long)out.res.n_tokens);
                }
                for (int64_t r = 0; r < b.rows; r++) {
                    cr_expect(out.row_loss[r] == 0.0f);
                    for (int64_t c = 0; out.grad && c < b.V; c++)
                        cr_expect(out.grad[r * b.stride + c] == 0.0f,
                                  "[%s %s] ignored grad[%lld][%lld] = %g", lsce_isa_to_string(isa),
                                  entry_names[e], (long long)r, (long long)c,
                                  out.grad[r * b.stride + c]);
                }
                expect_oracle("all ignored", &o, &b, b.go, (entry)e, &out);
                free_outs(&out);
            }
    }
    free_batch(&b);
}

/* ignore_index 0 ignores class 0 (a real class under −100); the same rows ignored through −100
 * give bit-identical outputs; −100 is an invalid target when ignore_index is 0. */
Test(edge, ignore_index_0_versus_minus_100)
{
    batch b = make_batch("ii0", 9, 7, 0, 2.0, 0.0, 0.0, -100);
    for (int r = 0; r < 9; r++)
        b.y[r] = r == 0 || r == 4 || r == 7 ? 0 : 1 + b.y[r] % 6; /* class 0 in rows 0, 4, 7 */
    batch b100 = make_batch("ii0", 9, 7, 0, 2.0, 0.0, 0.0, -100);
    memcpy(b100.y, b.y, 9 * sizeof(int64_t));
    b100.y[0] = b100.y[4] = b100.y[7] = -100;
    FOR_EACH_ISA(isa) {
        for (int e = 0; e < E_COUNT; e++) {
            lsce_options o0 = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_MEAN, 0, 0.1, 0);
            lsce_options o100 = o0;
            o100.ignore_index = -100;
            outs a = run((entry)e, &o0, &b, NULL, 0), c = run((entry)e, &o100, &b100, NULL, 0);
            outs kept0 = run((entry)e, &o100, &b, NULL, 0); /* class 0 kept under −100 */
            expect_oracle("ignore_index 0", &o0, &b, NULL, (entry)e, &a);
            expect_oracle("class 0 kept", &o100, &b, NULL, (entry)e, &kept0);
            cr_expect(!memcmp(a.row_loss, c.row_loss, 9 * sizeof(float)) &&
                          !memcmp(a.row_lse, c.row_lse, 9 * sizeof(float)) &&
                          (!a.grad || !memcmp(a.grad, c.grad, 9 * 7 * sizeof(float))) &&
                          (e == E_BACKWARD || !memcmp(&a.res, &c.res, sizeof a.res)),
                      "[%s %s] ignore_index 0 and the same rows as -100 differ",
                      lsce_isa_to_string(isa), entry_names[e]);
            if (e != E_BACKWARD) {
                cr_expect_eq(a.res.n_tokens, 6);
                cr_expect_eq(kept0.res.n_tokens, 9);
            }
            free_outs(&a);
            free_outs(&c);
            free_outs(&kept0);
            outs bad = run((entry)e, &o0, &b100, NULL, 0);
            cr_expect_eq(bad.st, LSCE_ERR_TARGET, "-100 with ignore_index 0 must be rejected");
            free_outs(&bad);
        }
    }
    free_batch(&b);
    free_batch(&b100);
}

/* ==== magnitudes ============================================================================ */

Test(edge, logits_offset_by_1e4_match_the_oracle)
{
    FOR_EACH_ISA(isa) {
        for (int sign = -1; sign <= 1; sign += 2) {
            batch b = make_batch(sign > 0 ? "off+" : "off-", 6, 67, 1, 3.0, sign * 1e4, 0.2,
                                 -100);
            check_all_entries("offset 1e4", opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_MEAN,
                                                    0, 0.1, -100), &b, NULL);
            check_all_entries("offset 1e4", opts_of(isa, LSCE_CONV_SEED, LSCE_REDUCTION_NONE, 1,
                                                    0.3, -100), &b, b.go);
            free_batch(&b);
        }
    }
}

Test(edge, logits_spread_plus_minus_200_match_the_oracle)
{
    batch b = make_batch("spread", 6, 257, 0, 1.0, 0.0, 0.2, -100);
    test_rng rng;
    rng_init(&rng, test_seed(), test_hash("spread-values"));
    for (int64_t i = 0; i < b.rows * b.stride; i++)
        b.x[i] = (float)(-200.0 + 400.0 * rng_uniform(&rng));
    FOR_EACH_ISA(isa) {
        check_all_entries("spread", opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.1,
                                            -100), &b, NULL);
        check_all_entries("spread", opts_of(isa, LSCE_CONV_OTHERS, LSCE_REDUCTION_MEAN, 0, 0.0,
                                            -100), &b, NULL);
    }
    free_batch(&b);
}
