/*
 * test_api, special: non-finite logits (−inf masks and targets, rows of only −inf, NaN and +inf
 * rows) and argmax ties, every variant, against tests/oracle.c and the exact values lsce.h states.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "api_support.h"
#include "lsce.h"

/* ==== non-finite logits ===================================================================== */

/* −inf logits are a masked vocabulary: p exactly 0, gradient exactly −b·scale (bit-exact), loss
 * +inf with ε > 0 and finite with ε = 0. Masked columns in SIMD bodies and tails. */
Test(special, neginf_masked_entries_exact_gradient_every_variant)
{
    const int64_t masked[] = {0, 5, 16, 17, 31, 36};
    batch b = make_batch("mask", 5, 37, 3, 2.0, 0.0, 0.0, -100);
    for (int64_t r = 0; r < b.rows; r++)
        for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++)
            if ((r + (int64_t)i) % 2 == 0 || r == 4)
                b.x[r * b.stride + masked[i]] = -INFINITY;
    for (int64_t r = 0; r < b.rows; r++)
        b.y[r] = 3 + r; /* never masked */
    b.y[2] = -100;
    FOR_EACH_ISA(isa) {
        for (int red = 0; red < 3; red++)
            for (int i = 0; i < 3; i++) {
                const double eps = i == 0 ? 0.0 : i == 1 ? 0.1 : 1.0;
                const lsce_options o = opts_of(isa, (lsce_convention)(i % 3),
                                               (lsce_reduction)red, 0, eps, -100);
                double a, bq, A;
                weights(&o, b.V, &a, &bq, &A);
                for (int e = 0; e < E_COUNT; e++) {
                    outs out = run((entry)e, &o, &b, b.go, 0);
                    expect_oracle("-inf mask", &o, &b, b.go, (entry)e, &out);
                    for (int64_t r = 0; r < b.rows; r++) {
                        if (b.y[r] == -100)
                            continue;
                        const double go = red == LSCE_REDUCTION_NONE ? b.go[r] : b.go[0];
                        const double scale = red == LSCE_REDUCTION_MEAN ? go / 4.0 : go;
                        const float want = (float)(-scale * bq);
                        for (int64_t c = 0; out.grad && c < b.V; c++) {
                            if (b.x[r * b.stride + c] != -INFINITY)
                                continue;
                            const float got = out.grad[r * b.stride + c];
                            cr_expect(bq == 0.0 ? got == 0.0f : !memcmp(&got, &want, 4),
                                      "[%s %s %s eps %g] masked grad[%lld][%lld] = %a, want %a",
                                      lsce_isa_to_string(isa), entry_names[e], red_names[red], eps,
                                      (long long)r, (long long)c, got, want);
                        }
                        if (e != E_BACKWARD)
                            cr_expect(eps > 0.0 ? out.row_loss[r] == INFINITY
                                                : isfinite(out.row_loss[r]),
                                      "[%s] masked row loss %g with eps %g",
                                      lsce_isa_to_string(isa), out.row_loss[r], eps);
                    }
                    if (e != E_BACKWARD)
                        cr_expect(eps > 0.0 ? out.res.loss == INFINITY : isfinite(out.res.loss));
                    free_outs(&out);
                }
            }
    }
    free_batch(&b);
}

/* The target itself masked (ε = 0): loss +inf, grad_y exactly −a·scale, the rest exactly 0. */
Test(special, neginf_target_gives_inf_loss_and_exact_gradient)
{
    batch b = make_batch("masky", 2, 20, 0, 1.0, 0.0, 0.0, -100);
    b.y[0] = 9;
    b.x[9] = -INFINITY;
    FOR_EACH_ISA(isa) {
        const lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.0, -100);
        for (int e = 0; e < E_COUNT; e++) {
            outs out = run((entry)e, &o, &b, NULL, 0);
            expect_oracle("-inf target", &o, &b, NULL, (entry)e, &out);
            cr_expect(out.row_loss[0] == INFINITY);
            if (out.grad)
                cr_expect(out.grad[9] == -1.0f, "[%s %s] grad_y %g", lsce_isa_to_string(isa),
                          entry_names[e], out.grad[9]);
            free_outs(&out);
        }
    }
    free_batch(&b);
}

/* A row of only −inf: lse −inf (torch.logsumexp), NaN loss and gradient (lsce.h). */
Test(special, row_of_only_neginf_has_lse_neginf_and_nan_loss_and_gradient)
{
    batch b = make_batch("allmask", 3, 19, 0, 1.0, 0.0, 0.0, -100);
    for (int64_t c = 0; c < b.V; c++)
        b.x[1 * b.stride + c] = -INFINITY;
    FOR_EACH_ISA(isa) {
        const lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_NONE, 0, 0.1, -100);
        for (int e = 0; e < E_COUNT; e++) {
            outs out = run((entry)e, &o, &b, NULL, 0);
            expect_oracle("all -inf row", &o, &b, NULL, (entry)e, &out);
            cr_expect(isnan(out.row_loss[1]) && out.row_lse[1] == -INFINITY,
                      "[%s %s] all -inf row: loss %g lse %g", lsce_isa_to_string(isa),
                      entry_names[e], out.row_loss[1], out.row_lse[1]);
            for (int64_t c = 0; out.grad && c < b.V; c++)
                cr_expect(isnan(out.grad[1 * b.stride + c]));
            free_outs(&out);
        }
    }
    free_batch(&b);
}

/* A NaN logit (in the SIMD body, its tail, first column) or a +inf logit: that row's loss, lse and
 * every gradient element NaN; the other rows exact as usual; the reduced loss NaN. */
Test(special, nan_row_and_posinf_row_are_nan_other_rows_fine)
{
    const int64_t cols[] = {0, 5, 16, 36};
    for (int kind = 0; kind < 2; kind++)
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
            batch b = make_batch("nanrow", 4, 37, 2, 2.0, 0.0, 0.0, -100);
            b.x[2 * b.stride + cols[i]] = kind ? INFINITY : NAN;
            FOR_EACH_ISA(isa) {
                for (int red = 0; red < 3; red++) {
                    const lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, (lsce_reduction)red,
                                                   0, 0.1, -100);
                    for (int e = 0; e < E_COUNT; e++) {
                        outs out = run((entry)e, &o, &b, NULL, 0);
                        expect_oracle(kind ? "+inf row" : "nan row", &o, &b, NULL, (entry)e,
                                      &out);
                        cr_expect(isnan(out.row_loss[2]) && isnan(out.row_lse[2]),
                                  "[%s %s] row loss %g lse %g", lsce_isa_to_string(isa),
                                  entry_names[e], out.row_loss[2], out.row_lse[2]);
                        for (int64_t c = 0; out.grad && c < b.V; c++)
                            cr_expect(isnan(out.grad[2 * b.stride + c]),
                                      "[%s %s] grad[2][%lld] = %g, want NaN",
                                      lsce_isa_to_string(isa), entry_names[e], (long long)c,
                                      out.grad[2 * b.stride + c]);
                        if (e != E_BACKWARD)
                            cr_expect(isnan(out.res.loss) && isnan(out.res.nll_sum));
                        free_outs(&out);
                    }
                }
            }
            free_batch(&b);
        }
}

/* argmax (n_correct): ties go to the lowest index, a NaN counts as the largest (torch.argmax). */
Test(special, argmax_ties_lowest_index_and_nan_largest)
{
    float x[3][8] = {{1, 5, 2, 5, 0, 5, 1, 1},
                     {1, 5, 2, 5, 0, 5, 1, 1},
                     {1, 2, 9, NAN, 3, NAN, 0, 0}};
    int64_t y_hit[3] = {1, 3, 3}, y_miss[3] = {3, 5, 2};
    FOR_EACH_ISA(isa) {
        lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.0, -100);
        lsce_result res;
        cr_expect_eq(lsce_forward(&o, 3, 8, x, 8, y_hit, NULL, NULL, &res), LSCE_OK);
        cr_expect_eq(res.n_correct, 2, "[%s] n_correct %lld, want 2 (rows 0 and 2)",
                     lsce_isa_to_string(isa), (long long)res.n_correct);
        cr_expect_eq(lsce_forward(&o, 3, 8, x, 8, y_miss, NULL, NULL, &res), LSCE_OK);
        cr_expect_eq(res.n_correct, 0, "[%s] n_correct %lld, want 0", lsce_isa_to_string(isa),
                     (long long)res.n_correct);
    }
}
