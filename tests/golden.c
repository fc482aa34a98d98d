/*
 * Reader and checker of the PyTorch golden vectors (format: tests/golden/README.md; decoding:
 * tests/golden_io.c), and what the checkers of tests/golden_half.c and tests/golden_options.c
 * share with it: failure reports, the fp32 run of an entry point, the loop over the variants.
 *
 * TOLERANCES: the accuracy lsce.h documents, evaluated with the golden float64 values; the bounds
 * and their justification are in tests/bounds.h (shared with tests/test_api.c).
 * Exact checks: n_tokens, denominator, n_correct (torch.argmax of the fp32 row, NaN counted as
 * the largest, lowest index on ties), ignored rows (loss exactly 0, gradient exactly 0, lse still
 * checked), the stride padding of the gradient untouched, and special values: a golden NaN must
 * be NaN, a golden ±inf the same infinity.
 * Every row ignored with mean: PyTorch returns NaN (the golden file holds it); lsce.h documents
 * loss 0 and a zero gradient instead, and that is what is checked here.
 */
#include "golden.h"

#include "bounds.h"
#include "golden_io.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

#define PAD 5 /* extra stride: rows misaligned, padding checked */

const char *golden_dir(void)
{
    const char *env = getenv("LSCE_GOLDEN_DIR");
    return env && *env ? env : GOLDEN_DIR;
}

/* ---- reading (tests/golden_io.c decodes) --------------------------------------------------- */

static int read_case(golden_reader *r, void *cv, int64_t version)
{
    golden_case *c = cv;
    golden_rd_case_head(r, c);
    c->opts.smoothing = golden_rd_f64(r);
    if (r->bad || !golden_case_head_ok(c))
        return -1;
    const int64_t nv = c->rows * c->vocab;
    golden_rd_case_inputs(r, c);
    c->loss = golden_rd_f64(r);
    golden_rd_case_outputs(r, c);
    if (version >= 2) {
        const int64_t dt = golden_rd_i64(r);
        if (dt != LSCE_DTYPE_BF16 && dt != LSCE_DTYPE_F16)
            return -1;
        c->logits_dtype = (lsce_dtype)dt;
        c->logits16 = golden_rd_array(r, nv, 2);
        c->grad_bf16 = golden_rd_array(r, nv, 2);
        c->grad_f16 = golden_rd_array(r, nv, 2);
    }
    return r->bad ? -1 : 0;
}

static void free_case(void *c) { golden_case_free(c); }

void golden_free(golden_set *set)
{
    for (int64_t i = 0; i < set->n; i++)
        golden_case_free(&set->cases[i]);
    free(set->cases);
    set->cases = NULL;
    set->n = 0;
}

int golden_load(const char *dir, golden_set *set, char *err, size_t err_size)
{
    static const golden_format fmt = {"LSCEGOLD", 1, 2, "a version-1 or -2 lsce golden file",
                                      sizeof(golden_case), read_case, free_case};
    void *cases;
    const int rc = golden_load_file(dir, &fmt, &cases, &set->n, err, err_size);
    set->cases = cases;
    return rc;
}

const char *golden_entry_name(golden_entry e)
{
    static const char *const names[GOLDEN_ENTRY_COUNT_] = {"forward_backward",
                                                            "forward_backward(in place)",
                                                            "forward", "backward"};
    return (unsigned)e < GOLDEN_ENTRY_COUNT_ ? names[e] : "?";
}

/* ---- shared by the checkers ------------------------------------------------------------- */

void golden_failf(golden_reporter *k, const char *fmt, ...)
{
    k->failures++;
    if (!k->fail || k->failures > k->max_reports)
        return;
    char msg[640];
    int len = snprintf(msg, sizeof msg, "%s: ", k->prefix);
    va_list ap;
    va_start(ap, fmt);
    if (len >= 0 && (size_t)len < sizeof msg)
        vsnprintf(msg + len, sizeof msg - (size_t)len, fmt, ap);
    va_end(ap);
    k->fail(k->ctx, msg);
}

void golden_run_free(golden_run *run)
{
    free(run->logits);
    free(run->grad);
    free(run->row_loss);
    free(run->row_lse);
    memset(run, 0, sizeof *run);
}

int golden_run_f32(golden_run *run, golden_entry entry, const lsce_options *o,
                   const golden_case *c, golden_reporter *k)
{
    const int64_t N = c->rows, V = c->vocab, ld = V + PAD;
    memset(run, 0, sizeof *run);
    run->ld = ld;
    run->logits = malloc((size_t)(N * ld) * sizeof(float) + 1);
    run->grad = malloc((size_t)(N * ld) * sizeof(float) + 1);
    run->row_loss = malloc((size_t)N * sizeof(float) + 1);
    run->row_lse = malloc((size_t)N * sizeof(float) + 1);
    if (!run->logits || !run->grad || !run->row_loss || !run->row_lse) {
        golden_failf(k, "out of memory");
        return -1;
    }
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < ld; j++) {
            run->logits[r * ld + j] = j < V ? c->logits[r * V + j] : NAN;
            run->grad[r * ld + j] = GOLDEN_GUARD;
        }
    for (int64_t r = 0; r < N; r++)
        run->row_loss[r] = run->row_lse[r] = GOLDEN_GUARD;
    memset(&run->res, 0xA5, sizeof run->res);
    const int st = golden_call(entry, o, c, ld, run->logits, (size_t)(N * ld) * sizeof(float),
                               run->grad, run->row_loss, run->row_lse, &run->res, &run->written);
    if (st < 0) {
        golden_failf(k, "bad entry");
        return -1;
    }
    if (st != LSCE_OK) {
        golden_failf(k, "status %d (%s)", st, lsce_strerror((lsce_status)st));
        return -1;
    }
    return 0;
}

void golden_check_padding(golden_reporter *k, const golden_run *run, golden_entry entry,
                          int64_t V, int64_t r)
{
    const float *g = run->grad + r * run->ld;
    for (int64_t j = V; j < run->ld; j++)
        if (entry != GOLDEN_FUSED_IN_PLACE ? g[j] != GOLDEN_GUARD : !isnan(g[j])) {
            golden_failf(k, "gradient row %lld: stride padding col %lld overwritten (%.9g)",
                         (long long)r, (long long)j, g[j]);
            return;
        }
}

void golden_check_zero_row(golden_reporter *k, const float *g, int64_t V, int64_t r,
                           const char *what, const char *tail)
{
    for (int64_t j = 0; j < V; j++)
        if (g[j] != 0.0f) {
            golden_failf(k, "%s row %lld col %lld is %.9g%s", what, (long long)r, (long long)j,
                         g[j], tail);
            return;
        }
}

void golden_print_fail(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "FAIL %s\n", message);
}

long golden_each_variant(int64_t n, int (*check)(void *arg, int64_t i, lsce_isa isa,
                                                 golden_entry entry),
                         void *arg, long *passed)
{
    long failed = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        long isa_failed = 0;
        for (int e = 0; e < GOLDEN_ENTRY_COUNT_; e++)
            for (int64_t i = 0; i < n; i++) {
                if (check(arg, i, (lsce_isa)isa, (golden_entry)e))
                    isa_failed++;
                else
                    (*passed)++;
            }
        failed += isa_failed;
        printf("%-7s %lld cases x %d entry points: %ld failed\n",
               lsce_isa_to_string((lsce_isa)isa), (long long)n, GOLDEN_ENTRY_COUNT_, isa_failed);
    }
    return failed;
}

/* ---- checking ---------------------------------------------------------------------------- */

const char *const golden_qty_names[GOLDEN_QTY_COUNT_] = {"loss", "nll mean", "row_loss", "row_lse",
                                                         "gradient"};
double golden_worst_ratio[GOLDEN_QTY_COUNT_];

/* got vs the golden value want within tol (bound_close). qty: the golden_qty_names index whose
 * worst ratio this updates, or −1. */
static void expect_close(golden_reporter *k, int qty, const char *what, int64_t r, int64_t col,
                         double got, double want, double tol)
{
    const int ok = bound_close(got, want, tol);
    if (ok && qty >= 0 && isfinite(want) && tol > 0.0 &&
        fabs(got - want) / tol > golden_worst_ratio[qty])
        golden_worst_ratio[qty] = fabs(got - want) / tol;
    if (!ok)
        golden_failf(k, "%s row %lld col %lld: got %.9g, want %.9g (|diff| %.3g > tol %.3g)",
                     what, (long long)r, (long long)col, got, want, fabs(got - want), tol);
}

void golden_weights(const golden_case *c, double *a, double *b, double *A)
{
    const double eps = c->opts.smoothing, V = (double)c->vocab;
    switch (c->opts.convention) {
    case LSCE_CONV_OTHERS: *a = 1.0 - eps; *b = c->vocab > 1 ? eps / (V - 1.0) : 0.0; break;
    case LSCE_CONV_SEED: *a = 1.0 - eps; *b = eps / V; break;
    default: *a = 1.0 - eps + eps / V; *b = eps / V; break;
    }
    *A = *a + *b * (V - 1.0);
}

double golden_row_scale(const golden_case *c, int64_t r, int64_t n_kept)
{
    double go = 1.0;
    if (c->n_grad_output == 1)
        go = c->grad_output[0];
    else if (c->n_grad_output > 1)
        go = c->grad_output[r];
    return c->opts.reduction == LSCE_REDUCTION_MEAN ? go / (double)n_kept : go;
}

double golden_grad_max(const golden_case *c, int64_t r)
{
    const double *G = c->grad + r * c->vocab;
    double gmax = 0.0;
    for (int64_t j = 0; j < c->vocab; j++)
        if (isfinite(G[j]))
            gmax = fmax(gmax, fabs(G[j]));
    return gmax;
}

int golden_call(golden_entry entry, const lsce_options *o, const golden_case *c, int64_t ld,
                const void *logits, size_t logits_bytes, void *grad, float *row_loss,
                float *row_lse, lsce_result *res, golden_outputs *out)
{
    const int64_t N = c->rows, V = c->vocab;
    const float *go = c->grad_output;
    *out = (golden_outputs){1, 1, 1};
    switch (entry) {
    case GOLDEN_FUSED:
        return lsce_forward_backward(o, N, V, logits, ld, c->targets, go, grad, ld, row_loss,
                                     row_lse, res);
    case GOLDEN_FUSED_IN_PLACE:
        memcpy(grad, logits, logits_bytes);
        return lsce_forward_backward(o, N, V, grad, ld, c->targets, go, grad, ld, row_loss,
                                     row_lse, res);
    case GOLDEN_FORWARD:
        out->grad = 0;
        return lsce_forward(o, N, V, logits, ld, c->targets, row_loss, row_lse, res);
    case GOLDEN_BACKWARD: {
        out->rows = out->result = 0;
        const lsce_status st = lsce_forward(o, N, V, logits, ld, c->targets, NULL, row_lse, NULL);
        return st != LSCE_OK ? st
                             : lsce_backward(o, N, V, logits, ld, c->targets, row_lse, go, grad,
                                             ld);
    }
    default: return -1;
    }
}

void golden_reference_of(const golden_case *c, golden_reference *ref)
{
    memset(ref, 0, sizeof *ref);
    golden_weights(c, &ref->a, &ref->b, &ref->A);
    for (int64_t r = 0; r < c->rows; r++)
        if (c->targets[r] != c->opts.ignore_index) {
            ref->n_kept++;
            ref->n_correct += c->row_argmax[r] == c->targets[r];
            ref->loss_tol += bound_row_loss(c->row_loss[r], ref->A);
            ref->nll_tol += bound_row_loss(c->row_nll[r], 1.0);
            ref->nll_sum += c->row_nll[r];
        }
}

int golden_check(const golden_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
                 void *ctx, int max_reports)
{
    golden_reporter k = {fail, ctx, 0, max_reports, ""};
    snprintf(k.prefix, sizeof k.prefix, "%s [%s, %s]", c->name, lsce_isa_to_string(isa),
             golden_entry_name(entry));
    const int64_t N = c->rows, V = c->vocab;
    lsce_options o = c->opts;
    o.isa = isa;
    if (c->logits_dtype != LSCE_DTYPE_F32) {
        golden_failf(&k, "a 16-bit-logits case (version 2): tests/golden_half.c checks those");
        return k.failures;
    }

    golden_run run;
    if (golden_run_f32(&run, entry, &o, c, &k))
        goto done;
    const int64_t ld = run.ld;
    const float *g_out = run.written.grad ? run.grad : NULL; /* the gradient, with stride ld */
    const int have_rows = run.written.rows, have_result = run.written.result;
    const float *row_loss = run.row_loss, *row_lse = run.row_lse;
    const lsce_result res = run.res;

    golden_reference ref;
    golden_reference_of(c, &ref);
    const int mean = c->opts.reduction == LSCE_REDUCTION_MEAN;

    for (int64_t r = 0; r < N; r++) {
        const int kept = c->targets[r] != c->opts.ignore_index;
        if (have_rows) {
            if (kept)
                expect_close(&k, 2, "row_loss", r, -1, row_loss[r], c->row_loss[r],
                             bound_row_loss(c->row_loss[r], ref.A) +
                                 BOUND_U * fabs(c->row_loss[r]));
            else if (row_loss[r] != 0.0f)
                golden_failf(&k, "row_loss of ignored row %lld is %.9g, not 0", (long long)r,
                             row_loss[r]);
            expect_close(&k, kept ? 3 : -1, kept ? "row_lse" : "row_lse (ignored row)", r, -1,
                         row_lse[r], c->row_lse[r], bound_row_lse(c->row_lse[r]));
        }
        if (!g_out)
            continue;
        const float *g = g_out + r * ld;
        const double *want = c->grad + r * V;
        golden_check_padding(&k, &run, entry, V, r);
        if (!kept) {
            golden_check_zero_row(&k, g, V, r, "gradient of ignored", ", not 0");
            continue;
        }
        const double gmax = golden_grad_max(c, r);
        const double scale = golden_row_scale(c, r, ref.n_kept);
        for (int64_t j = 0; j < V; j++) {
            double tol = bound_grad(gmax, scale, ref.a, ref.b);
            if (entry == GOLDEN_BACKWARD && isfinite(c->row_lse[r]))
                tol += bound_backward_extra(c->row_lse[r], ref.A, scale,
                                            exp((double)c->logits[r * V + j] - c->row_lse[r]));
            expect_close(&k, 4, "gradient", r, j, g[j], want[j], tol);
        }
    }

    if (have_result) {
        if (res.n_tokens != ref.n_kept)
            golden_failf(&k, "n_tokens %lld, want %lld", (long long)res.n_tokens,
                         (long long)ref.n_kept);
        if (res.denominator != (double)ref.n_kept)
            golden_failf(&k, "denominator %.17g, want %lld", res.denominator,
                         (long long)ref.n_kept);
        if (res.n_correct != ref.n_correct)
            golden_failf(&k, "n_correct %lld, want %lld (torch.argmax)", (long long)res.n_correct,
                         (long long)ref.n_correct);
        if (c->flags & GOLDEN_FLAG_ALL_IGNORED_MEAN) {
            /* PyTorch: NaN. lsce.h documents 0 for mean with no kept row: check lsce's 0. */
            if (!isnan(c->loss))
                golden_failf(&k, "golden file: PyTorch's all-ignored mean loss is %.9g, not NaN",
                             c->loss);
            if (res.loss != 0.0)
                golden_failf(&k, "all rows ignored with mean: loss %.9g, lsce documents 0",
                             res.loss);
            if (res.nll_sum != 0.0)
                golden_failf(&k, "all rows ignored: nll_sum %.9g, want 0", res.nll_sum);
        } else {
            expect_close(&k, 0, "loss", -1, -1, res.loss, c->loss,
                         mean ? ref.loss_tol / (double)ref.n_kept : ref.loss_tol);
            if (ref.n_kept > 0)
                expect_close(&k, 1, "nll mean", -1, -1, res.nll_sum / (double)res.n_tokens,
                             ref.nll_sum / (double)ref.n_kept, ref.nll_tol / (double)ref.n_kept);
            else if (res.nll_sum != 0.0)
                golden_failf(&k, "no kept row: nll_sum %.9g, want 0", res.nll_sum);
        }
    }

done:
    golden_run_free(&run);
    return k.failures;
}
