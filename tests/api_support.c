/*
 * The test_api suites' batches, entry-point runs and oracle comparisons (tests/api_support.h).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_support.h"
#include "bounds.h"
#include "lsce.h"
#include "oracle.h"

const char *const entry_names[E_COUNT] = {"forward_backward", "forward", "backward"};
const char *const red_names[3] = {"mean", "sum", "none"};
const char *const conv_names[3] = {"uniform", "others", "seed"};

#define GUARD_F (-7777.25f)

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

/* ---- batches ------------------------------------------------------------------------------ */

batch make_batch(const char *name, int64_t rows, int64_t V, int64_t pad, double scale,
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

void free_batch(batch *b)
{
    free(b->x);
    free(b->y);
    free(b->go);
}

/* ---- running an entry point --------------------------------------------------------------- */

outs run(entry e, const lsce_options *o, const batch *b, const float *go, int in_place)
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

void free_outs(outs *o)
{
    free(o->grad);
    free(o->row_loss);
    free(o->row_lse);
}

void weights(const lsce_options *o, int64_t V, double *a, double *b, double *A)
{
    oracle_weights(o, V, a, b);
    *A = *a + *b * (double)(V - 1);
}

double grad_tol(const lsce_options *o, const batch *b, const oracle_batch *ob, int64_t r,
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

void expect_oracle(const char *what, const lsce_options *o, const batch *b, const float *go,
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
        if (kept && !bound_close(out->row_loss[r], ob.row_loss[r],
                              tl + BOUND_U * fabs(ob.row_loss[r])))
            fail(&rp, "row_loss[%lld] = %.9g, oracle %.9g", (long long)r, out->row_loss[r],
                 ob.row_loss[r]);
        if (!kept && out->row_loss[r] != 0.0f)
            fail(&rp, "row_loss[%lld] of an ignored row = %.9g, not 0", (long long)r,
                 out->row_loss[r]);
        if (!bound_close(out->row_lse[r], want_lse, bound_row_lse(want_lse)))
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
            if (!kept ? g[c] != 0.0f : !bound_close(g[c], want[c], tol))
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
        if (!bound_close(res->loss, w->loss, lt))
            fail(&rp, "loss %.12g, oracle %.12g (tol %.3g)", res->loss, w->loss, lt);
        if (!bound_close(res->nll_sum, w->nll_sum, nll_tol))
            fail(&rp, "nll_sum %.12g, oracle %.12g", res->nll_sum, w->nll_sum);
        if (res->z_sum != 0.0)
            fail(&rp, "z_sum %g, not 0", res->z_sum);
    }
    oracle_batch_free(&ob);
    report_end(&rp);
}

void check_all_entries(const char *what, lsce_options o, const batch *b, const float *go)
{
    for (int e = 0; e < E_COUNT; e++) {
        outs out = run((entry)e, &o, b, go, 0);
        expect_oracle(what, &o, b, go, (entry)e, &out);
        free_outs(&out);
    }
}

lsce_options opts_of(lsce_isa isa, lsce_convention conv, lsce_reduction red, int kl, double eps,
                     int64_t ignore_index)
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
