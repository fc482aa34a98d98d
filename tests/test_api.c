/*
 * Edge cases of the public API, one named Test per behaviour, on every variant this CPU runs.
 *
 * Numbers are checked against tests/oracle.c (double precision, written independently of src/)
 * with the tolerances of tests/bounds.h (the accuracy lsce.h documents). Error paths are checked
 * for their status AND for "no output is touched": every buffer of such a call lives in one arena
 * filled with guard bytes, compared byte for byte after the call.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "lsce.h"
#include "oracle.h"

#define FOR_EACH_ISA(isa)                                                                          \
    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1))         \
        if (lsce_isa_supported(isa))

typedef enum entry { E_FUSED, E_FORWARD, E_BACKWARD, E_COUNT } entry;
static const char *const entry_names[E_COUNT] = {"forward_backward", "forward", "backward"};
static const char *const red_names[3] = {"mean", "sum", "none"};
static const char *const conv_names[3] = {"uniform", "others", "seed"};

#define GUARD_F (-7777.25f)

/* The random data come from LSCE_TEST_SEED (tests/oracle.h): print it once. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    test_print_seed("test_api");
}

/* ---- failure reporting: the first few failures of a comparison in full, then a count ------- */

typedef struct report {
    char ctx[160];
    int failures;
} report;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void fail(report *rp, const char *fmt, ...)
{
    if (++rp->failures > 8)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_expect_fail("%s: %s", rp->ctx, msg);
}

static void report_end(report *rp)
{
    if (rp->failures > 8)
        cr_expect_fail("%s: ... %d failures in all", rp->ctx, rp->failures);
}

/* got vs want within tol; a NaN wanted must be NaN, an infinity the same infinity. */
static int close_to(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return isfinite(got) && fabs(got - want) <= tol;
}

/* ---- batches ------------------------------------------------------------------------------ */

typedef struct batch {
    int64_t rows, V, stride;
    float *x;    /* rows × stride; the padding is NaN (a sweep reading past V poisons its row) */
    int64_t *y;  /* rows */
    float *go;   /* rows grad_output values (only [0] for mean/sum) */
} batch;

/* Normal logits × scale + offset; about frac_ignored of the rows get ignore_index. */
static batch make_batch(const char *name, int64_t rows, int64_t V, int64_t pad, double scale,
                        double offset, double frac_ignored, int64_t ignore_index)
{
    test_rng rng;
    rng_init(&rng, test_seed(), test_hash(name));
    batch b = {rows, V, V + pad, NULL, NULL, NULL};
    b.x = malloc((size_t)(rows * b.stride + 1) * sizeof(float));
    b.y = malloc((size_t)(rows + 1) * sizeof(int64_t));
    b.go = malloc((size_t)(rows + 1) * sizeof(float));
    cr_assert(b.x && b.y && b.go);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < b.stride; c++)
            b.x[r * b.stride + c] = c < V ? (float)(offset + scale * rng_normal(&rng)) : NAN;
        b.y[r] = rng_uniform(&rng) < frac_ignored ? ignore_index : rng_range(&rng, 0, V);
        if (b.y[r] == ignore_index && frac_ignored == 0.0)
            b.y[r] = (b.y[r] + 1) % V; /* ignore_index 0 drawn as a class: keep every row */
        b.go[r] = (float)(0.25 + 2.0 * rng_uniform(&rng)) * (r % 3 == 1 ? -1.0f : 1.0f);
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->x);
    free(b->y);
    free(b->go);
}

/* ---- running an entry point --------------------------------------------------------------- */

typedef struct outs {
    lsce_status st;
    float *grad;     /* rows × stride (NULL for forward) */
    float *row_loss; /* rows */
    float *row_lse;  /* rows */
    lsce_result res; /* backward: not produced (zeroed) */
} outs;

/* Runs an entry point on b with fresh guard-filled outputs. in_place: the gradient is written
 * over a copy of the logits (fused, backward). Backward gets row_lse from lsce_forward. */
static outs run(entry e, const lsce_options *o, const batch *b, const float *go, int in_place)
{
    outs out;
    memset(&out, 0, sizeof out);
    const int64_t n = b->rows * b->stride;
    out.row_loss = malloc((size_t)(b->rows + 1) * sizeof(float));
    out.row_lse = malloc((size_t)(b->rows + 1) * sizeof(float));
    cr_assert(out.row_loss && out.row_lse);
    for (int64_t r = 0; r < b->rows; r++)
        out.row_loss[r] = out.row_lse[r] = GUARD_F;
    memset(&out.res, 0x5A, sizeof out.res);
    if (e != E_FORWARD) {
        out.grad = malloc((size_t)(n + 1) * sizeof(float));
        cr_assert(out.grad);
        for (int64_t i = 0; i < n; i++)
            out.grad[i] = in_place ? b->x[i] : GUARD_F;
    }
    const float *x = in_place ? out.grad : b->x;
    switch (e) {
    case E_FUSED:
        out.st = lsce_forward_backward(o, b->rows, b->V, x, b->stride, b->y, go, out.grad,
                                       b->stride, out.row_loss, out.row_lse, &out.res);
        break;
    case E_FORWARD:
        out.st = lsce_forward(o, b->rows, b->V, x, b->stride, b->y, out.row_loss, out.row_lse,
                              &out.res);
        break;
    default:
        out.st = lsce_forward(o, b->rows, b->V, x, b->stride, b->y, out.row_loss, out.row_lse,
                              &out.res);
        if (out.st == LSCE_OK)
            out.st = lsce_backward(o, b->rows, b->V, x, b->stride, b->y, out.row_lse, go,
                                   out.grad, b->stride);
        break;
    }
    return out;
}

static void free_outs(outs *o)
{
    free(o->grad);
    free(o->row_loss);
    free(o->row_lse);
}

static void weights(const lsce_options *o, int64_t V, double *a, double *b, double *A)
{
    oracle_weights(o, V, a, b);
    *A = *a + *b * (double)(V - 1);
}

/* The tolerance of gradient element (r, c) against the oracle (tests/bounds.h); gmax = max |grad|
 * of the oracle's row; backward: the extra error of recomputing p from the fp32 row_lse. */
static double grad_tol(const lsce_options *o, const batch *b, const oracle_batch *ob, int64_t r,
                       int64_t c, double gmax, int backward)
{
    double a, bq, A;
    weights(o, b->V, &a, &bq, &A);
    const double p = exp((double)b->x[r * b->stride + c] - ob->row_lse[r]);
    const double scale = ob->row_scale[r];
    double tol = bound_grad(gmax, scale, a, bq);
    if (backward && isfinite(ob->row_lse[r]))
        tol += bound_backward_extra(ob->row_lse[r], A, scale, p);
    return tol;
}

/* Everything an entry point wrote, against the oracle, within tests/bounds.h. */
static void expect_oracle(const char *what, const lsce_options *o, const batch *b, const float *go,
                          entry e, const outs *out)
{
    report rp = {{0}, 0};
    snprintf(rp.ctx, sizeof rp.ctx, "%s [%s, %s, %s %s kl%d eps %g ii %lld, V %lld]", what,
             lsce_isa_to_string(o->isa), entry_names[e], conv_names[o->convention],
             red_names[o->reduction], o->kl, o->smoothing, (long long)o->ignore_index,
             (long long)b->V);
    if (out->st != LSCE_OK) {
        fail(&rp, "status %d (%s)", (int)out->st, lsce_strerror(out->st));
        return;
    }
    oracle_batch ob;
    cr_assert_eq(oracle_eval_batch(o, b->rows, b->V, b->x, b->stride, b->y, go, 1, &ob), 0);
    double a, bq, A;
    weights(o, b->V, &a, &bq, &A);
    double loss_tol = 0.0, nll_tol = 0.0;
    for (int64_t r = 0; r < b->rows; r++) {
        const int kept = b->y[r] != o->ignore_index;
        const double want_lse = ob.row_lse[r]; /* −inf for a row of only −inf (lsce.h) */
        const double tl = kept ? bound_row_loss(ob.row_loss[r], A) : 0.0;
        loss_tol += tl;
        nll_tol += kept ? bound_row_loss(ob.row_nll[r], 1.0) : 0.0;
        if (kept && !close_to(out->row_loss[r], ob.row_loss[r],
                              tl + BOUND_U * fabs(ob.row_loss[r])))
            fail(&rp, "row_loss[%lld] = %.9g, oracle %.9g", (long long)r, out->row_loss[r],
                 ob.row_loss[r]);
        if (!kept && out->row_loss[r] != 0.0f)
            fail(&rp, "row_loss[%lld] of an ignored row = %.9g, not 0", (long long)r,
                 out->row_loss[r]);
        if (!close_to(out->row_lse[r], want_lse, bound_row_lse(want_lse)))
            fail(&rp, "row_lse[%lld] = %.9g, want %.9g%s", (long long)r, out->row_lse[r],
                 want_lse, kept ? "" : " (ignored row)");
        if (!out->grad)
            continue;
        const float *g = out->grad + r * b->stride;
        const double *want = ob.grad + r * b->V;
        double gmax = 0.0;
        for (int64_t c = 0; c < b->V; c++)
            if (isfinite(want[c]))
                gmax = fmax(gmax, fabs(want[c]));
        for (int64_t c = 0; c < b->V; c++) {
            const double tol = kept ? grad_tol(o, b, &ob, r, c, gmax, e == E_BACKWARD) : 0.0;
            if (!kept ? g[c] != 0.0f : !close_to(g[c], want[c], tol))
                fail(&rp, "grad[%lld][%lld] = %.9g, oracle %.9g (tol %.3g)", (long long)r,
                     (long long)c, g[c], want[c], kept ? tol : 0.0);
        }
    }
    if (e != E_BACKWARD) {
        const lsce_result *res = &out->res, *w = &ob.result;
        const int64_t n = w->n_tokens;
        if (res->n_tokens != n || res->denominator != (double)n || res->n_correct != w->n_correct)
            fail(&rp, "n_tokens %lld denominator %g n_correct %lld, oracle %lld %lld",
                 (long long)res->n_tokens, res->denominator, (long long)res->n_correct,
                 (long long)n, (long long)w->n_correct);
        const double lt = o->reduction == LSCE_REDUCTION_MEAN && n > 0 ? loss_tol / (double)n
                                                                       : loss_tol;
        if (!close_to(res->loss, w->loss, lt))
            fail(&rp, "loss %.12g, oracle %.12g (tol %.3g)", res->loss, w->loss, lt);
        if (!close_to(res->nll_sum, w->nll_sum, nll_tol))
            fail(&rp, "nll_sum %.12g, oracle %.12g", res->nll_sum, w->nll_sum);
        if (res->z_sum != 0.0)
            fail(&rp, "z_sum %g, not 0", res->z_sum);
    }
    oracle_batch_free(&ob);
    report_end(&rp);
}

/* Runs every entry point and compares with the oracle. */
static void check_all_entries(const char *what, lsce_options o, const batch *b, const float *go)
{
    for (int e = 0; e < E_COUNT; e++) {
        outs out = run((entry)e, &o, b, go, 0);
        expect_oracle(what, &o, b, go, (entry)e, &out);
        free_outs(&out);
    }
}

static lsce_options opts_of(lsce_isa isa, lsce_convention conv, lsce_reduction red, int kl,
                            double eps, int64_t ignore_index)
{
    lsce_options o;
    lsce_options_default(&o);
    o.isa = isa;
    o.convention = conv;
    o.reduction = red;
    o.kl = kl;
    o.smoothing = eps;
    o.ignore_index = ignore_index;
    return o;
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

/* ==== targets =============================================================================== */

/* ---- the arena: every buffer of a call in one guard-filled block, compared after the call --- */

enum {
    AR_FLOATS = 8192,
    AR_LOGITS = 0,      /* R rows × stride S */
    AR_GRAD = 1024,
    AR_ROW_LOSS = 2048,
    AR_ROW_LSE = 2304,
    AR_GO = 2560,
    AR_TARGETS = 3072,  /* int64 */
    AR_RESULT = 4096,   /* lsce_result */
    AR_R = 4,
    AR_V = 37,
    AR_S = 40
};

static _Alignas(64) float arena[AR_FLOATS];
static _Alignas(64) float arena_snapshot[AR_FLOATS];

typedef struct args {
    entry e;
    lsce_options o;
    int64_t rows, V;
    const float *logits;
    int64_t ls;
    const int64_t *y;
    const float *go;
    float *grad; /* backward: written; fused: written */
    int64_t gs;
    float *row_loss;    /* fused, forward */
    float *row_lse;     /* fused, forward: output; backward: input */
    lsce_result *res;   /* fused, forward */
} args;

static int64_t *arena_targets(void) { return (int64_t *)(void *)(arena + AR_TARGETS); }

/* A valid call of entry e with every buffer in a freshly filled arena. */
static args arena_call(entry e)
{
    test_rng rng;
    rng_init(&rng, test_seed(), test_hash("arena"));
    memset(arena, 0xA5, sizeof arena);
    for (int i = 0; i < AR_R * AR_S; i++)
        arena[AR_LOGITS + i] = (float)(2.0 * rng_normal(&rng));
    for (int r = 0; r < AR_R; r++) {
        arena_targets()[r] = r == 1 ? -100 : rng_range(&rng, 0, AR_V);
        arena[AR_GO + r] = 1.5f;
        arena[AR_ROW_LSE + r] = 4.0f; /* backward input */
    }
    args a;
    memset(&a, 0, sizeof a);
    a.e = e;
    lsce_options_default(&a.o);
    a.o.smoothing = 0.1;
    a.rows = AR_R;
    a.V = AR_V;
    a.logits = arena + AR_LOGITS;
    a.ls = AR_S;
    a.y = arena_targets();
    a.go = arena + AR_GO;
    a.grad = arena + AR_GRAD;
    a.gs = AR_S;
    a.row_loss = arena + AR_ROW_LOSS;
    a.row_lse = arena + AR_ROW_LSE;
    a.res = (lsce_result *)(void *)(arena + AR_RESULT);
    return a;
}

static lsce_status call(const args *a)
{
    switch (a->e) {
    case E_FUSED:
        return lsce_forward_backward(&a->o, a->rows, a->V, a->logits, a->ls, a->y, a->go, a->grad,
                                     a->gs, a->row_loss, a->row_lse, a->res);
    case E_FORWARD:
        return lsce_forward(&a->o, a->rows, a->V, a->logits, a->ls, a->y, a->row_loss, a->row_lse,
                            a->res);
    default:
        return lsce_backward(&a->o, a->rows, a->V, a->logits, a->ls, a->y, a->row_lse, a->go,
                             a->grad, a->gs);
    }
}

/* The call returns `want` and leaves every byte of the arena as it was. */
static void expect_status_nothing_written(const args *a, lsce_status want, const char *what)
{
    memcpy(arena_snapshot, arena, sizeof arena);
    const lsce_status st = call(a);
    cr_expect_eq(st, want, "%s [%s, isa %d]: status %d (%s), want %d (%s)", what,
                 entry_names[a->e], (int)a->o.isa, (int)st, lsce_strerror(st), (int)want,
                 lsce_strerror(want));
    size_t first = sizeof arena;
    for (size_t i = 0; i < sizeof arena; i++)
        if (((unsigned char *)arena)[i] != ((unsigned char *)arena_snapshot)[i]) {
            first = i;
            break;
        }
    cr_expect(first == sizeof arena, "%s [%s]: an error call wrote to the arena at float %zu",
              what, entry_names[a->e], first / sizeof(float));
    memcpy(arena, arena_snapshot, sizeof arena);
}

/* Applies a change to the valid call of every entry (and every supported variant) and expects
 * `want` with nothing written. mask: the entries it applies to (1 << entry). */
typedef void (*mutator)(args *a);
static void expect_rejected(unsigned mask, mutator change, lsce_status want, const char *what)
{
    FOR_EACH_ISA(isa) {
        for (int e = 0; e < E_COUNT; e++) {
            if (!(mask & (1u << e)))
                continue;
            args a = arena_call((entry)e);
            a.o.isa = isa;
            change(&a);
            expect_status_nothing_written(&a, want, what);
        }
    }
}

#define ALL_ENTRIES 7u
#define GRAD_ENTRIES ((1u << E_FUSED) | (1u << E_BACKWARD))
#define FWD_ENTRIES ((1u << E_FUSED) | (1u << E_FORWARD))

/* Control: the unmodified arena call succeeds on every entry (the rejections below are caused
 * by their one change). */
Test(errors, control_the_valid_arena_call_succeeds)
{
    FOR_EACH_ISA(isa) {
        for (int e = 0; e < E_COUNT; e++) {
            args a = arena_call((entry)e);
            a.o.isa = isa;
            cr_expect_eq(call(&a), LSCE_OK, "[%s %s]", lsce_isa_to_string(isa), entry_names[e]);
        }
    }
}

static int64_t bad_target_value;
static void set_bad_last_target(args *a) { arena_targets()[AR_R - 1] = bad_target_value; (void)a; }

/* Out-of-range targets: LSCE_ERR_TARGET and nothing written (gradient, row outputs, result). The
 * bad target is the last row, after valid and ignored rows. */
Test(errors, target_out_of_range_writes_nothing)
{
    const int64_t bad[] = {AR_V, AR_V + 1, -1, -99, -101, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bad_target_value = bad[i];
        expect_rejected(ALL_ENTRIES, set_bad_last_target, LSCE_ERR_TARGET, "target out of range");
    }
}

static void set_ii0_target_m100(args *a)
{
    a->o.ignore_index = 0; /* row 1 holds −100: no longer ignored, out of range */
}
Test(errors, minus_100_target_with_ignore_index_0_writes_nothing)
{
    expect_rejected(ALL_ENTRIES, set_ii0_target_m100, LSCE_ERR_TARGET, "-100 with ignore_index 0");
}

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

/* ==== shapes and arguments =================================================================== */

Test(errors, zero_rows_is_ok_even_with_null_buffers)
{
    FOR_EACH_ISA(isa) {
        for (int red = 0; red < 3; red++) {
            lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, (lsce_reduction)red, 0, 0.1, -100);
            lsce_result res;
            memset(&res, 0x5A, sizeof res);
            cr_expect_eq(lsce_forward_backward(&o, 0, 10, NULL, 10, NULL, NULL, NULL, 10, NULL,
                                               NULL, &res), LSCE_OK);
            cr_expect(res.loss == 0.0 && res.n_tokens == 0 && res.nll_sum == 0.0 &&
                      res.n_correct == 0 && res.denominator == 0.0);
            memset(&res, 0x5A, sizeof res);
            cr_expect_eq(lsce_forward(&o, 0, 10, NULL, 10, NULL, NULL, NULL, &res), LSCE_OK);
            cr_expect(res.loss == 0.0 && res.n_tokens == 0);
            cr_expect_eq(lsce_backward(&o, 0, 10, NULL, 10, NULL, NULL, NULL, NULL, 10), LSCE_OK);
            args a = arena_call(E_FUSED);
            a.o = o;
            a.rows = 0;
            for (int e = 0; e < E_COUNT; e++) {
                a.e = (entry)e;
                memcpy(arena_snapshot, arena, sizeof arena);
                cr_expect_eq(call(&a), LSCE_OK);
                /* Only the result may change. */
                cr_expect(!memcmp(arena, arena_snapshot, AR_RESULT * sizeof(float)));
            }
        }
    }
}

static void null_opts_fn(args *a) { a->o.isa = LSCE_ISA_AUTO; }
static lsce_status call_null_opts(entry e, args *a)
{
    switch (e) {
    case E_FUSED:
        return lsce_forward_backward(NULL, a->rows, a->V, a->logits, a->ls, a->y, a->go, a->grad,
                                     a->gs, a->row_loss, a->row_lse, a->res);
    case E_FORWARD:
        return lsce_forward(NULL, a->rows, a->V, a->logits, a->ls, a->y, a->row_loss, a->row_lse,
                            a->res);
    default:
        return lsce_backward(NULL, a->rows, a->V, a->logits, a->ls, a->y, a->row_lse, a->go,
                             a->grad, a->gs);
    }
}
static void null_logits(args *a) { a->logits = NULL; }
static void null_targets(args *a) { a->y = NULL; }
static void null_grad(args *a) { a->grad = NULL; }
static void null_row_lse_input(args *a) { a->row_lse = NULL; }

Test(errors, null_pointers_rejected_nothing_written)
{
    for (int e = 0; e < E_COUNT; e++) {
        args a = arena_call((entry)e);
        null_opts_fn(&a);
        memcpy(arena_snapshot, arena, sizeof arena);
        cr_expect_eq(call_null_opts((entry)e, &a), LSCE_ERR_NULL, "[%s] NULL opts",
                     entry_names[e]);
        cr_expect(!memcmp(arena, arena_snapshot, sizeof arena), "[%s] NULL opts wrote",
                  entry_names[e]);
    }
    expect_rejected(ALL_ENTRIES, null_logits, LSCE_ERR_NULL, "NULL logits");
    expect_rejected(ALL_ENTRIES, null_targets, LSCE_ERR_NULL, "NULL targets");
    expect_rejected(GRAD_ENTRIES, null_grad, LSCE_ERR_NULL, "NULL grad");
    expect_rejected(1u << E_BACKWARD, null_row_lse_input, LSCE_ERR_NULL, "NULL row_lse input");
}

static void vocab_0(args *a) { a->V = 0; }
static void vocab_neg(args *a) { a->V = -3; }
static void rows_neg(args *a) { a->rows = -1; }
static void logits_stride_small(args *a) { a->ls = a->V - 1; }
static void grad_stride_small(args *a) { a->gs = a->V - 1; }
static void logits_overflow(args *a) { a->ls = INT64_MAX / 2; }
static void grad_overflow(args *a) { a->gs = INT64_MAX / 3; }
static void rows_overflow(args *a)
{
    a->rows = INT64_MAX / 4;
    a->V = a->ls = a->gs = 8;
}
static void rows_overflow_max(args *a)
{
    a->rows = INT64_MAX;
    a->V = a->ls = a->gs = 1;
}

Test(errors, bad_shapes_rejected_nothing_written)
{
    expect_rejected(ALL_ENTRIES, vocab_0, LSCE_ERR_SHAPE, "vocab 0");
    expect_rejected(ALL_ENTRIES, vocab_neg, LSCE_ERR_SHAPE, "vocab -3");
    expect_rejected(ALL_ENTRIES, rows_neg, LSCE_ERR_SHAPE, "rows -1");
    expect_rejected(ALL_ENTRIES, logits_stride_small, LSCE_ERR_SHAPE, "logits stride < vocab");
    expect_rejected(GRAD_ENTRIES, grad_stride_small, LSCE_ERR_SHAPE, "grad stride < vocab");
}

Test(errors, rows_times_stride_overflow_rejected_nothing_written)
{
    expect_rejected(ALL_ENTRIES, logits_overflow, LSCE_ERR_SHAPE, "rows × logits stride overflow");
    expect_rejected(GRAD_ENTRIES, grad_overflow, LSCE_ERR_SHAPE, "rows × grad stride overflow");
    expect_rejected(ALL_ENTRIES, rows_overflow, LSCE_ERR_SHAPE, "rows × 8 × 4 bytes overflow");
    expect_rejected(ALL_ENTRIES, rows_overflow_max, LSCE_ERR_SHAPE, "INT64_MAX rows");
}

static double eps_value;
static void set_eps(args *a) { a->o.smoothing = eps_value; }
Test(errors, smoothing_outside_0_1_or_nan_rejected)
{
    const double bad[] = {-0.1, 1.1, NAN, -NAN, INFINITY, -INFINITY, -1e-300, 1.0 + 1e-15};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eps_value = bad[i];
        expect_rejected(ALL_ENTRIES, set_eps, LSCE_ERR_OPTION, "smoothing out of [0, 1]");
    }
}

static void conv_3(args *a) { a->o.convention = (lsce_convention)3; }
static void conv_neg(args *a) { a->o.convention = (lsce_convention)-1; }
static void red_3(args *a) { a->o.reduction = (lsce_reduction)3; }
static void red_neg(args *a) { a->o.reduction = (lsce_reduction)-1; }
static void kl_2(args *a) { a->o.kl = 2; }
static void kl_neg(args *a) { a->o.kl = -1; }
static void isa_5(args *a) { a->o.isa = LSCE_ISA_COUNT_; }
static void isa_100(args *a) { a->o.isa = (lsce_isa)100; }
static void isa_neg(args *a) { a->o.isa = (lsce_isa)-1; }
static void logits_dtype_3(args *a) { a->o.logits_dtype = (lsce_dtype)3; }
static void grad_dtype_neg(args *a) { a->o.grad_dtype = (lsce_dtype)-1; }

Test(errors, bad_enum_values_rejected)
{
    expect_rejected(ALL_ENTRIES, conv_3, LSCE_ERR_OPTION, "convention 3");
    expect_rejected(ALL_ENTRIES, conv_neg, LSCE_ERR_OPTION, "convention -1");
    expect_rejected(ALL_ENTRIES, red_3, LSCE_ERR_OPTION, "reduction 3");
    expect_rejected(ALL_ENTRIES, red_neg, LSCE_ERR_OPTION, "reduction -1");
    expect_rejected(ALL_ENTRIES, kl_2, LSCE_ERR_OPTION, "kl 2");
    expect_rejected(ALL_ENTRIES, kl_neg, LSCE_ERR_OPTION, "kl -1");
    expect_rejected(ALL_ENTRIES, isa_5, LSCE_ERR_ISA, "isa LSCE_ISA_COUNT_");
    expect_rejected(ALL_ENTRIES, isa_100, LSCE_ERR_ISA, "isa 100");
    expect_rejected(ALL_ENTRIES, isa_neg, LSCE_ERR_ISA, "isa -1");
    expect_rejected(ALL_ENTRIES, logits_dtype_3, LSCE_ERR_DTYPE, "logits dtype 3");
    expect_rejected(ALL_ENTRIES, grad_dtype_neg, LSCE_ERR_DTYPE, "grad dtype -1");
}

static const float weights_v[AR_V] = {1.0f};
static lsce_calibration_bin bins[10];
static void opt_class_weight(args *a) { a->o.class_weight = weights_v; }
static void opt_prior(args *a) { a->o.prior = weights_v; }
static void opt_row_weight(args *a) { a->o.row_weight = weights_v; }
static void opt_z_loss(args *a) { a->o.z_loss = 1e-4; }
static void opt_logit_scale(args *a) { a->o.logit_scale = 2.0; }
static void opt_softcap(args *a) { a->o.softcap = 30.0; }
static void opt_conf_penalty(args *a) { a->o.confidence_penalty = 0.1; }
static void opt_calib_bins(args *a) { a->o.calibration_bins = 10; }
static void opt_calib_ptr(args *a) { a->o.calibration = bins; }
static void opt_calib_both(args *a)
{
    a->o.calibration_bins = 10;
    a->o.calibration = bins;
}

/* The objective options are accepted only at their defaults for now (lsce.h). */
Test(errors, unsupported_objective_options_rejected_nothing_written)
{
    const struct {
        mutator f;
        const char *name;
    } opts[] = {{opt_class_weight, "class_weight"}, {opt_prior, "prior"},
                {opt_row_weight, "row_weight"},     {opt_z_loss, "z_loss"},
                {opt_logit_scale, "logit_scale"},   {opt_softcap, "softcap"},
                {opt_conf_penalty, "confidence_penalty"}, {opt_calib_bins, "calibration_bins"},
                {opt_calib_ptr, "calibration"},     {opt_calib_both, "calibration bins+ptr"}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        expect_rejected(ALL_ENTRIES, opts[i].f, LSCE_ERR_OPTION, opts[i].name);
    for (int i = 0; i < 10; i++)
        cr_expect(bins[i].count == 0.0, "calibration bins written by a rejected call");
}

/* In place means the same buffer, stride and dtype: a bf16 gradient over fp32 logits would
 * overwrite logits not yet read (rows are half as long), so it is an overlap. */
static void in_place_other_dtype(args *a)
{
    a->grad = (float *)a->logits;
    a->gs = a->ls;
    a->o.grad_dtype = LSCE_DTYPE_BF16;
}

Test(errors, in_place_with_another_grad_dtype_is_alias)
{
    expect_rejected(GRAD_ENTRIES, in_place_other_dtype, LSCE_ERR_ALIAS, "bf16 grad over f32");
}

/* opts.isa naming a variant this CPU or build cannot run: LSCE_ERR_ISA (NEON on x86, AVX-512 on
 * an AVX2 machine, ...); every supported one runs. */
Test(errors, unsupported_isa_rejected_nothing_written)
{
    int unsupported = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        for (int e = 0; e < E_COUNT; e++) {
            args a = arena_call((entry)e);
            a.o.isa = (lsce_isa)isa;
            if (lsce_isa_supported((lsce_isa)isa)) {
                cr_expect_eq(call(&a), LSCE_OK);
            } else {
                unsupported++;
                expect_status_nothing_written(&a, LSCE_ERR_ISA, lsce_isa_to_string((lsce_isa)isa));
            }
        }
    cr_expect(lsce_isa_supported(LSCE_ISA_SCALAR), "the scalar reference always runs");
    cr_log_info("%d unsupported (variant, entry) pairs checked", unsupported);
}

/* ---- aliasing: outputs overlapping each other or inputs (other than exact in place) ------- */

static void grad_over_logits_plus1(args *a) { a->grad = (float *)a->logits + 1; }
static void grad_over_logits_other_stride(args *a)
{
    a->grad = (float *)a->logits;
    a->gs = a->ls + 1;
}
static void grad_over_logits_offset_row(args *a) { a->grad = (float *)a->logits + AR_S; }
static void grad_over_targets(args *a) { a->grad = (float *)(void *)arena_targets(); }
static void grad_over_go(args *a) { a->grad = (float *)a->go - 8; }
static void grad_over_row_lse_in(args *a) { a->grad = a->row_lse - 3; }
static void row_lse_over_row_loss(args *a) { a->row_lse = a->row_loss + 1; }
static void row_loss_in_grad(args *a) { a->row_loss = a->grad + 2 * AR_S + 3; }
static void row_lse_in_grad(args *a) { a->row_lse = a->grad + (AR_R - 1) * AR_S; }
static void row_lse_over_logits(args *a) { a->row_lse = (float *)a->logits + 7; }
static void row_loss_over_targets(args *a) { a->row_loss = (float *)(void *)arena_targets() + 1; }
static void row_loss_is_go(args *a)
{
    a->o.reduction = LSCE_REDUCTION_NONE;
    a->row_loss = (float *)a->go;
}
static void row_lse_over_go_scalar(args *a) { a->row_lse = (float *)a->go - 3; }

Test(errors, overlapping_outputs_rejected_nothing_written)
{
    expect_rejected(GRAD_ENTRIES, grad_over_logits_plus1, LSCE_ERR_ALIAS,
                    "grad partially overlapping logits (shifted 1)");
    expect_rejected(GRAD_ENTRIES, grad_over_logits_other_stride, LSCE_ERR_ALIAS,
                    "grad == logits with a different stride");
    expect_rejected(GRAD_ENTRIES, grad_over_logits_offset_row, LSCE_ERR_ALIAS,
                    "grad shifted one row into logits");
    expect_rejected(GRAD_ENTRIES, grad_over_targets, LSCE_ERR_ALIAS, "grad over targets");
    expect_rejected(GRAD_ENTRIES, grad_over_go, LSCE_ERR_ALIAS, "grad over grad_output");
    expect_rejected(1u << E_BACKWARD, grad_over_row_lse_in, LSCE_ERR_ALIAS,
                    "grad over the row_lse input");
    expect_rejected(FWD_ENTRIES, row_lse_over_row_loss, LSCE_ERR_ALIAS, "row_lse over row_loss");
    expect_rejected(1u << E_FUSED, row_loss_in_grad, LSCE_ERR_ALIAS, "row_loss inside grad");
    expect_rejected(1u << E_FUSED, row_lse_in_grad, LSCE_ERR_ALIAS, "row_lse inside grad");
    expect_rejected(FWD_ENTRIES, row_lse_over_logits, LSCE_ERR_ALIAS, "row_lse over logits");
    expect_rejected(FWD_ENTRIES, row_loss_over_targets, LSCE_ERR_ALIAS, "row_loss over targets");
    expect_rejected(1u << E_FUSED, row_loss_is_go, LSCE_ERR_ALIAS, "row_loss == grad_output");
    expect_rejected(1u << E_FUSED, row_lse_over_go_scalar, LSCE_ERR_ALIAS,
                    "row_lse over the scalar grad_output");
}

/* Control for the alias check: buffers that merely touch (adjacent, no shared byte) are fine. */
Test(errors, adjacent_buffers_are_not_aliases)
{
    FOR_EACH_ISA(isa) {
        args a = arena_call(E_FUSED);
        a.o.isa = isa;
        a.grad = (float *)a.logits + (AR_R - 1) * AR_S + AR_V; /* right after the last logit */
        a.row_loss = a.grad + (AR_R - 1) * AR_S + AR_V;      /* right after the last grad */
        a.row_lse = a.row_loss + AR_R;
        cr_expect_eq(call(&a), LSCE_OK, "[%s] adjacent buffers rejected", lsce_isa_to_string(isa));
    }
}

/* ==== dispatch and metadata ================================================================== */

Test(dispatch, set_isa_scalar_then_isa_name_is_scalar)
{
    cr_assert_eq(lsce_set_isa("scalar"), LSCE_OK);
    cr_expect_str_eq(lsce_isa_name(), "scalar");
    /* AUTO now runs the scalar reference: bit-identical to an explicit scalar call. */
    batch b = make_batch("setisa", 3, 70, 0, 2.0, 0.0, 0.0, -100);
    lsce_options o = opts_of(LSCE_ISA_AUTO, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.1, -100);
    outs a = run(E_FUSED, &o, &b, NULL, 0);
    o.isa = LSCE_ISA_SCALAR;
    outs s = run(E_FUSED, &o, &b, NULL, 0);
    cr_expect(!memcmp(a.grad, s.grad, (size_t)(b.rows * b.stride) * sizeof(float)) &&
              a.res.loss == s.res.loss);
    free_outs(&a);
    free_outs(&s);
    free_batch(&b);
    /* Every supported name round-trips; "auto" and NULL restore the best. */
    FOR_EACH_ISA(isa) {
        cr_expect_eq(lsce_set_isa(lsce_isa_to_string(isa)), LSCE_OK);
        cr_expect_str_eq(lsce_isa_name(), lsce_isa_to_string(isa));
    }
    cr_assert_eq(lsce_set_isa("auto"), LSCE_OK);
    const char *best = lsce_isa_name();
    cr_expect_eq(lsce_set_isa("scalar"), LSCE_OK);
    cr_expect_eq(lsce_set_isa(NULL), LSCE_OK);
    cr_expect_str_eq(lsce_isa_name(), best);
}

Test(dispatch, set_isa_bogus_rejected_and_nothing_changes)
{
    cr_assert_eq(lsce_set_isa("scalar"), LSCE_OK);
    const char *bogus[] = {"bogus", "AVX2", "scalar ", "avx", "sse2", "neon2"};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        cr_expect_eq(lsce_set_isa(bogus[i]), LSCE_ERR_ISA, "\"%s\" accepted", bogus[i]);
        cr_expect_str_eq(lsce_isa_name(), "scalar");
    }
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        if (!lsce_isa_supported((lsce_isa)isa)) {
            cr_expect_eq(lsce_set_isa(lsce_isa_to_string((lsce_isa)isa)), LSCE_ERR_ISA,
                         "unsupported %s accepted", lsce_isa_to_string((lsce_isa)isa));
            cr_expect_str_eq(lsce_isa_name(), "scalar");
        }
}

Test(dispatch, isa_names_and_support_queries)
{
    const char *names[LSCE_ISA_COUNT_] = {"auto", "scalar", "avx2", "avx512", "neon"};
    for (int isa = 0; isa < LSCE_ISA_COUNT_; isa++)
        cr_expect_str_eq(lsce_isa_to_string((lsce_isa)isa), names[isa]);
    cr_expect_null(lsce_isa_to_string(LSCE_ISA_COUNT_));
    cr_expect_null(lsce_isa_to_string((lsce_isa)-1));
    cr_expect(!lsce_isa_supported(LSCE_ISA_COUNT_));
    cr_expect(!lsce_isa_supported((lsce_isa)-1));
    cr_expect(lsce_isa_supported(LSCE_ISA_SCALAR));
    cr_expect_not_null(lsce_cpu_features());
    const char *name = lsce_isa_name();
    cr_assert_not_null(name);
    int found = 0;
    FOR_EACH_ISA(isa) found |= !strcmp(name, lsce_isa_to_string(isa));
    cr_expect(found, "lsce_isa_name() \"%s\" is not a supported variant", name);
}

/* ==== metadata ============================================================================== */

Test(meta, strerror_non_null_for_every_code)
{
    for (int s = LSCE_OK; s <= LSCE_ERR_NOMEM; s++) {
        const char *t = lsce_strerror((lsce_status)s);
        cr_assert_not_null(t);
        cr_expect(strlen(t) > 0);
        for (int u = LSCE_OK; u < s; u++)
            cr_expect_str_neq(t, lsce_strerror((lsce_status)u), "codes %d and %d share text", s,
                              u);
    }
    cr_expect_not_null(lsce_strerror((lsce_status)99));
    cr_expect_not_null(lsce_strerror((lsce_status)-1));
}

Test(meta, options_default_values)
{
    lsce_options o;
    memset(&o, 0x5A, sizeof o);
    lsce_options_default(&o);
    cr_expect(o.smoothing == 0.0);
    cr_expect_eq(o.convention, LSCE_CONV_UNIFORM);
    cr_expect_eq(o.kl, 0);
    cr_expect_eq(o.ignore_index, -100);
    cr_expect_eq(o.reduction, LSCE_REDUCTION_MEAN);
    cr_expect_eq(o.isa, LSCE_ISA_AUTO);
    cr_expect_null(o.class_weight);
    cr_expect_null(o.prior);
    cr_expect_null(o.row_weight);
    cr_expect(o.z_loss == 0.0 && o.logit_scale == 1.0 && o.softcap == 0.0 &&
              o.confidence_penalty == 0.0);
    cr_expect_eq(o.calibration_bins, 0);
    cr_expect_null(o.calibration);
    cr_expect_eq(o.logits_dtype, LSCE_DTYPE_F32);
    cr_expect_eq(o.grad_dtype, LSCE_DTYPE_F32);
    lsce_options_default(NULL); /* must not crash */
}

Test(meta, version_non_empty_and_matches_macros)
{
    const char *v = lsce_version();
    cr_assert_not_null(v);
    cr_expect(strlen(v) > 0);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", LSCE_VERSION_MAJOR, LSCE_VERSION_MINOR,
             LSCE_VERSION_PATCH);
    cr_expect_str_eq(v, want);
}
