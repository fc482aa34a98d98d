/*
 * Reader and checker of the PyTorch golden vectors (format: tests/golden/README.md).
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

/* ---- reading (portable little-endian decoding) ------------------------------------------- */

typedef struct reader {
    const unsigned char *p, *end;
    int bad;
} reader;

static const unsigned char *take(reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int64_t rd_i64(reader *r)
{
    const unsigned char *b = take(r, 8);
    return b ? (int64_t)le64(b) : 0;
}

static double rd_f64(reader *r)
{
    const unsigned char *b = take(r, 8);
    uint64_t u = b ? le64(b) : 0;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Arrays: n elements (n checked against the remaining bytes before allocating); kind 'f' float,
 * 'h' uint16, otherwise 8-byte int64 or double. */
static void *rd_array(reader *r, int64_t n, size_t elem, int kind)
{
    if (n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p) / elem) {
        r->bad = 1;
        return NULL;
    }
    void *out = malloc(n ? (size_t)n * elem : 1);
    if (!out) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *b = take(r, (size_t)n * elem);
    for (int64_t i = 0; i < n; i++, b += elem) {
        if (kind == 'f') {
            uint32_t u = le32(b);
            memcpy((float *)out + i, &u, 4);
        } else if (kind == 'h') {
            ((uint16_t *)out)[i] = (uint16_t)(b[0] | b[1] << 8);
        } else {
            uint64_t u = le64(b);
            memcpy((char *)out + (size_t)i * 8, &u, 8); /* int64 or double */
        }
    }
    return out;
}

static void case_free(golden_case *c)
{
    free(c->logits);
    free(c->targets);
    free(c->grad_output);
    free(c->row_loss);
    free(c->row_nll);
    free(c->row_lse);
    free(c->row_argmax);
    free(c->grad);
    free(c->logits16);
    free(c->grad_bf16);
    free(c->grad_f16);
    memset(c, 0, sizeof *c);
}

void golden_free(golden_set *set)
{
    for (int64_t i = 0; i < set->n; i++)
        case_free(&set->cases[i]);
    free(set->cases);
    set->cases = NULL;
    set->n = 0;
}

static int read_case(reader *r, golden_case *c, int64_t version)
{
    const unsigned char *name = take(r, 48);
    if (!name)
        return -1;
    memcpy(c->name, name, 48);
    c->name[48] = 0;
    c->rows = rd_i64(r);
    c->vocab = rd_i64(r);
    lsce_options_default(&c->opts);
    c->opts.convention = (lsce_convention)rd_i64(r);
    c->opts.kl = (int)rd_i64(r);
    c->opts.ignore_index = rd_i64(r);
    c->opts.reduction = (lsce_reduction)rd_i64(r);
    c->n_grad_output = rd_i64(r);
    c->flags = rd_i64(r);
    c->opts.smoothing = rd_f64(r);
    if (r->bad || c->rows < 0 || c->rows > 1 << 20 || c->vocab < 1 || c->vocab > 1 << 24 ||
        (c->n_grad_output != 0 && c->n_grad_output != 1 && c->n_grad_output != c->rows))
        return -1;
    const int64_t nv = c->rows * c->vocab;
    c->logits = rd_array(r, nv, 4, 'f');
    c->targets = rd_array(r, c->rows, 8, 'i');
    c->grad_output = c->n_grad_output ? rd_array(r, c->n_grad_output, 4, 'f') : NULL;
    c->loss = rd_f64(r);
    c->row_loss = rd_array(r, c->rows, 8, 'd');
    c->row_nll = rd_array(r, c->rows, 8, 'd');
    c->row_lse = rd_array(r, c->rows, 8, 'd');
    c->row_argmax = rd_array(r, c->rows, 8, 'i');
    c->grad = rd_array(r, nv, 8, 'd');
    c->logits_dtype = LSCE_DTYPE_F32;
    if (version >= 2) {
        const int64_t dt = rd_i64(r);
        if (dt != LSCE_DTYPE_BF16 && dt != LSCE_DTYPE_F16)
            return -1;
        c->logits_dtype = (lsce_dtype)dt;
        c->logits16 = rd_array(r, nv, 2, 'h');
        c->grad_bf16 = rd_array(r, nv, 2, 'h');
        c->grad_f16 = rd_array(r, nv, 2, 'h');
    }
    return r->bad ? -1 : 0;
}

int golden_load(const char *dir, golden_set *set, char *err, size_t err_size)
{
    char path[4096];
    memset(set, 0, sizeof *set);
    snprintf(path, sizeof path, "%s/golden.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open %s", path);
        return -1;
    }
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, err_size, "out of memory reading %s", path);
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    fclose(f);

    reader r = {buf, buf + size, 0};
    const unsigned char *magic = take(&r, 8);
    const int64_t version = rd_i64(&r), n = rd_i64(&r);
    if (!magic || memcmp(magic, "LSCEGOLD", 8) || version < 1 || version > 2 || n < 1 ||
        n > 100000) {
        free(buf);
        snprintf(err, err_size, "%s: not a version-1 or -2 lsce golden file", path);
        return -1;
    }
    set->cases = calloc((size_t)n, sizeof *set->cases);
    for (int64_t i = 0; set->cases && i < n; i++) {
        set->n = i + 1;
        if (read_case(&r, &set->cases[i], version)) {
            snprintf(err, err_size, "%s: case %lld is truncated or malformed", path,
                     (long long)i);
            golden_free(set);
            free(buf);
            return -1;
        }
    }
    const int trailing = r.p != r.end;
    free(buf);
    if (!set->cases || trailing) {
        snprintf(err, err_size, "%s: %s", path, set->cases ? "trailing bytes" : "out of memory");
        golden_free(set);
        return -1;
    }
    return 0;
}

const char *golden_entry_name(golden_entry e)
{
    static const char *const names[GOLDEN_ENTRY_COUNT_] = {"forward_backward",
                                                            "forward_backward(in place)",
                                                            "forward", "backward"};
    return (unsigned)e < GOLDEN_ENTRY_COUNT_ ? names[e] : "?";
}

/* ---- checking ---------------------------------------------------------------------------- */

const char *const golden_qty_names[GOLDEN_QTY_COUNT_] = {"loss", "nll mean", "row_loss", "row_lse",
                                                         "gradient"};
double golden_worst_ratio[GOLDEN_QTY_COUNT_];

typedef struct checker {
    const golden_case *c;
    lsce_isa isa;
    golden_entry entry;
    golden_fail_fn fail;
    void *ctx;
    int failures, max_reports;
} checker;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void failf(checker *k, const char *fmt, ...)
{
    k->failures++;
    if (!k->fail || k->failures > k->max_reports)
        return;
    char msg[512];
    int len = snprintf(msg, sizeof msg, "%s [%s, %s]: ", k->c->name, lsce_isa_to_string(k->isa),
                       golden_entry_name(k->entry));
    va_list ap;
    va_start(ap, fmt);
    if (len >= 0 && (size_t)len < sizeof msg)
        vsnprintf(msg + len, sizeof msg - (size_t)len, fmt, ap);
    va_end(ap);
    k->fail(k->ctx, msg);
}

/* got vs the golden value want within tol; NaN must match NaN, ±inf the same infinity. qty: the
 * golden_qty_names index whose worst ratio this updates, or −1. */
static void expect_close(checker *k, int qty, const char *what, int64_t r, int64_t col,
                         double got, double want, double tol)
{
    int ok;
    if (isnan(want))
        ok = isnan(got);
    else if (isinf(want))
        ok = got == want;
    else
        ok = isfinite(got) && fabs(got - want) <= tol;
    if (ok && qty >= 0 && isfinite(want) && tol > 0.0 &&
        fabs(got - want) / tol > golden_worst_ratio[qty])
        golden_worst_ratio[qty] = fabs(got - want) / tol;
    if (!ok)
        failf(k, "%s row %lld col %lld: got %.9g, want %.9g (|diff| %.3g > tol %.3g)", what,
              (long long)r, (long long)col, got, want, fabs(got - want), tol);
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

void golden_count_kept(const golden_case *c, int64_t *n_kept, int64_t *n_correct)
{
    *n_kept = *n_correct = 0;
    for (int64_t r = 0; r < c->rows; r++)
        if (c->targets[r] != c->opts.ignore_index) {
            (*n_kept)++;
            *n_correct += c->row_argmax[r] == c->targets[r];
        }
}

int golden_check(const golden_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
                 void *ctx, int max_reports)
{
    checker k = {c, isa, entry, fail, ctx, 0, max_reports};
    const int64_t N = c->rows, V = c->vocab, ld = V + PAD;
    const float guard = -12345.75f;
    lsce_options o = c->opts;
    o.isa = isa;
    if (c->logits_dtype != LSCE_DTYPE_F32) {
        failf(&k, "a 16-bit-logits case (version 2): tests/golden_half.c checks those");
        return k.failures;
    }

    float *logits = malloc((size_t)(N * ld) * sizeof(float) + 1);
    float *grad = malloc((size_t)(N * ld) * sizeof(float) + 1);
    float *row_loss = malloc((size_t)N * sizeof(float) + 1);
    float *row_lse = malloc((size_t)N * sizeof(float) + 1);
    if (!logits || !grad || !row_loss || !row_lse) {
        failf(&k, "out of memory");
        goto done;
    }
    /* Logits padding is NaN (a sweep reading past V would poison its row), grad padding a guard. */
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < ld; j++) {
            logits[r * ld + j] = j < V ? c->logits[r * V + j] : NAN;
            grad[r * ld + j] = guard;
        }
    for (int64_t r = 0; r < N; r++)
        row_loss[r] = row_lse[r] = guard;

    lsce_result res;
    memset(&res, 0xA5, sizeof res);
    golden_outputs written;
    const int st = golden_call(entry, &o, c, ld, logits, (size_t)(N * ld) * sizeof(float), grad,
                               row_loss, row_lse, &res, &written);
    if (st < 0) {
        failf(&k, "bad entry");
        goto done;
    }
    if (st != LSCE_OK) {
        failf(&k, "status %d (%s)", st, lsce_strerror((lsce_status)st));
        goto done;
    }
    const float *g_out = written.grad ? grad : NULL; /* the gradient, with stride ld */
    const int have_rows = written.rows, have_result = written.result;

    double a, b, A;
    golden_weights(c, &a, &b, &A);
    int64_t n_kept, n_correct;
    golden_count_kept(c, &n_kept, &n_correct);
    const int mean = c->opts.reduction == LSCE_REDUCTION_MEAN;

    double loss_tol = 0.0, nll_tol = 0.0, nll_sum = 0.0;
    for (int64_t r = 0; r < N; r++) {
        const int kept = c->targets[r] != c->opts.ignore_index;
        if (kept) {
            loss_tol += bound_row_loss(c->row_loss[r], A);
            nll_tol += bound_row_loss(c->row_nll[r], 1.0);
            nll_sum += c->row_nll[r];
        }
        if (have_rows) {
            if (kept)
                expect_close(&k, 2, "row_loss", r, -1, row_loss[r], c->row_loss[r],
                             bound_row_loss(c->row_loss[r], A) + BOUND_U * fabs(c->row_loss[r]));
            else if (row_loss[r] != 0.0f)
                failf(&k, "row_loss of ignored row %lld is %.9g, not 0", (long long)r,
                      row_loss[r]);
            expect_close(&k, kept ? 3 : -1, kept ? "row_lse" : "row_lse (ignored row)", r, -1,
                         row_lse[r], c->row_lse[r], bound_row_lse(c->row_lse[r]));
        }
        if (!g_out)
            continue;
        const float *g = g_out + r * ld;
        const double *want = c->grad + r * V;
        for (int64_t j = V; j < ld; j++)
            if (entry != GOLDEN_FUSED_IN_PLACE ? g[j] != guard : !isnan(g[j])) {
                failf(&k, "gradient row %lld: stride padding col %lld overwritten (%.9g)",
                      (long long)r, (long long)j, g[j]);
                break;
            }
        if (!kept) {
            for (int64_t j = 0; j < V; j++)
                if (g[j] != 0.0f) {
                    failf(&k, "gradient of ignored row %lld col %lld is %.9g, not 0",
                          (long long)r, (long long)j, g[j]);
                    break;
                }
            continue;
        }
        double gmax = 0.0;
        for (int64_t j = 0; j < V; j++)
            if (isfinite(want[j]))
                gmax = fmax(gmax, fabs(want[j]));
        const double scale = golden_row_scale(c, r, n_kept);
        for (int64_t j = 0; j < V; j++) {
            double tol = bound_grad(gmax, scale, a, b);
            if (entry == GOLDEN_BACKWARD && isfinite(c->row_lse[r]))
                tol += bound_backward_extra(c->row_lse[r], A, scale,
                                            exp((double)c->logits[r * V + j] - c->row_lse[r]));
            expect_close(&k, 4, "gradient", r, j, g[j], want[j], tol);
        }
    }

    if (have_result) {
        if (res.n_tokens != n_kept)
            failf(&k, "n_tokens %lld, want %lld", (long long)res.n_tokens, (long long)n_kept);
        if (res.denominator != (double)n_kept)
            failf(&k, "denominator %.17g, want %lld", res.denominator, (long long)n_kept);
        if (res.n_correct != n_correct)
            failf(&k, "n_correct %lld, want %lld (torch.argmax)", (long long)res.n_correct,
                  (long long)n_correct);
        if (c->flags & GOLDEN_FLAG_ALL_IGNORED_MEAN) {
            /* PyTorch: NaN. lsce.h documents 0 for mean with no kept row: check lsce's 0. */
            if (!isnan(c->loss))
                failf(&k, "golden file: PyTorch's all-ignored mean loss is %.9g, not NaN",
                      c->loss);
            if (res.loss != 0.0)
                failf(&k, "all rows ignored with mean: loss %.9g, lsce documents 0", res.loss);
            if (res.nll_sum != 0.0)
                failf(&k, "all rows ignored: nll_sum %.9g, want 0", res.nll_sum);
        } else {
            expect_close(&k, 0, "loss", -1, -1, res.loss, c->loss,
                         mean ? loss_tol / (double)n_kept : loss_tol);
            if (n_kept > 0)
                expect_close(&k, 1, "nll mean", -1, -1, res.nll_sum / (double)res.n_tokens,
                             nll_sum / (double)n_kept, nll_tol / (double)n_kept);
            else if (res.nll_sum != 0.0)
                failf(&k, "no kept row: nll_sum %.9g, want 0", res.nll_sum);
        }
    }

done:
    free(logits);
    free(grad);
    free(row_loss);
    free(row_lse);
    return k.failures;
}
