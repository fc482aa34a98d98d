/*
 * Reader and checker of the objective-option golden vectors (format: tests/golden_options/
 * README.md; generator: tests/gen_golden_options.py). The entry points run through golden.c's
 * golden_call on rows of stride V + 5 (padding checked), like tests/golden.c.
 *
 * TOLERANCES — lsce.h's accuracy section generalised to the options (u = 2^−24, ABS = 2.6e-6,
 * REL = 1.3e-6 of tests/bounds.h). Every quantity below is evaluated in double from the golden
 * data: t_c from the fp32 x_c (t = s·x, or c·tanh(s·x/c)), lse = the golden logsumexp(t),
 * p_c = exp(t_c − lse), H = −Σ p log p, ω_c = w_c·q_c, Ω = Σ_c ω_c, ρ = the row weight, g = the
 * row's gradient scale (grad_output, / D for mean). The library's loss of a kept row and its
 * derivative (lsce.h; the generator asserts both against PyTorch's autograd) are
 *   loss_r = ρ·[Σ ω_c (lse − t_c) + z·lse² − β·H (+ Σ ω_c log q_c if kl)]
 *   L_c    = ∂loss_r/∂t_c = ρ·[Ω p_c − ω_c + 2z·lse·p_c + β·p_c·(log p_c + H)],  G_c = g·L_c.
 *
 * (1) Arithmetic on exact t (the fp32 kernel of lsce.h's accuracy section, t in place of x):
 *   - weights: lsce.h's "A = Σ q" becomes Ω (with w = 1 and no prior, Ω = A: the old bound);
 *     every term is multiplied by ρ.
 *   - lse = m + log d: |δlse| ≤ ABS + u·|lse| (bound_row_lse: the nll's absolute part, fp32 out).
 *   - z·lse²: |δ| ≤ 2z·|lse|·δlse (first order; z·lse² rounding is in REL below).
 *   - −βH with H = log d − Σ p (t − m): Σ p (t − m) has one-signed terms (relative ≤ 1.2e-6 +
 *     exp's 1.65e-7 < ABS) and log d an absolute ABS: |δH| ≤ ABS·(1 + H).
 *   row loss:  ρ·[ABS·(Ω + β(1 + H) + 2z|lse|) + 2z·u·lse² + REL·(|CE + KL| + z·lse² + β·H)]
 *              (CE + KL is lsce.h's old loss: its relative term is the old one)
 *   gradient in t: the old bound ABS·(max_c |G_c| + |g|·max(q_y, q_c)) with the cancelling terms
 *     of L_c added: Ω p_c − ω_c (→ max(ω_y, ω_c)), 2z·lse·p_c (p to ABS relative, lse to δlse:
 *     2z·p_c·(|lse| + 1)·ABS + 2z·p_c·u·|lse|), β·p_c·(log p_c + H) (p relative, log p_c = t − lse
 *     to δlse, H to ABS·(1 + H): β·p_c·(|log p_c| + 2H + 2)·ABS + β·p_c·u·|lse|):
 *       E_c = ABS·(max|G| + |gρ|·[max(ω_y, ω_c) + 2z·p_c(|lse| + 1) + β·p_c(|log p_c| + 2H + 2)])
 *             + |gρ|·u·|lse|·p_c·(2z + β)
 *   lsce_backward (p from the saved fp32 row_lse, lse off by ≤ u|lse|; then p_c relative u|lse|,
 *     log p_c by u|lse|, H by |1 − H|·u|lse|):
 *       B_c = |gρ|·u·|lse|·p_c·(Ω + 2z(|lse| + 1) + β(|log p_c + H| + 1 + |1 − H|))
 *     (with no option this is bounds.h's bound_backward_extra, u·|lse|·A·|g|·p_c).
 * (2) t itself is fp32: |fp32 t_c − t_c| ≤ δt_c with
 *       logit scale only: δt_c = 2u·|t_c| (s rounded to fp32, s·x rounded);
 *       softcap:          δt_c = 4 ulp of fp32 t_c (the lead's budget for the fp32 tanh, its
 *                         argument s·x/c and the product by c; to be replaced by the measured
 *                         bound of the library's tanh);
 *     first-order propagation with P̄ = Σ_j p_j δt_j (= the bound on δlse), Q̄ = Σ_j p_j
 *     |log p_j + H| δt_j (≥ |δH|), ∂p_c/∂t_j = p_c(δ_cj − p_j):
 *       loss_r += Σ_c |L_c|·δt_c;  nll += δt_y + P̄;  lse += P̄;  z_sum += 2ρz|lse|·P̄
 *       D_c = |gρ|·[p_c(δt_c + P̄)·(Ω + 2z|lse| + β(|log p_c + H| + 1)) + 2z·p_c·P̄ + β·p_c·Q̄]
 * (3) chain rule grad_x = G_c·d_c, d_c = ∂t_c/∂x_c = s (scale) or s·(1 − (t_c/c)²) (softcap, from
 *     the fp32 t_c as lsce.h says — PyTorch's float64 uses the float64 t): |δd_c| ≤
 *       scale: 2u·s;   softcap: s·(δt_c/c)·(2|t_c|/c + δt_c/c) + 4u·s (fp32 evaluation of 1 − r²);
 *   gradient tolerance:  (E_c + D_c [+ B_c])·(|d_c| + δd_c) + |G_c|·δd_c
 *   (no option: d = 1, δd = δt = 0, ω = q: exactly bounds.h's bound_grad (+ backward extra)).
 * Reduced: loss Σ row bounds (/ D for mean), nll_sum Σ nll bounds, z_sum Σ of its row bounds
 * (+ REL·z·lse²); row_loss adds u·|loss_r| (fp32 output); denominator: Σ ρ_r·w_{y_r} (exact
 * products) summed in any order: N·2^−53·Σ; n_tokens exact; n_correct: torch.argmax of the exact
 * t, where the top two t are within δt of each other (golden argmax −1) either answer counts.
 * Exact: ignored rows (loss 0, gradient 0; lse still checked), rows of weight ρ = 0 (gradient
 * 0: its tolerance is 0), padding untouched, NaN / ±inf as in the golden file.
 * Flags 1 and 4 (mean with no kept row, or D = 0): PyTorch's loss is NaN (0/0) or inf; lsce.h
 * documents loss 0 and a zero gradient, and that is what is checked (row outputs as usual).
 */
#include "golden_options.h"

#include "bounds.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef GOLDEN_OPTIONS_DIR
#define GOLDEN_OPTIONS_DIR "tests/golden_options"
#endif

#define PAD 5

const char *gopt_dir(void)
{
    const char *env = getenv("LSCE_GOLDEN_OPTIONS_DIR");
    return env && *env ? env : GOLDEN_OPTIONS_DIR;
}

/* ---- reading ------------------------------------------------------------------------------- */

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

/* n elements of 4 bytes (float) or 8 bytes (int64 / double). */
static void *rd_array(reader *r, int64_t n, size_t elem)
{
    if (n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p) / elem) {
        r->bad = 1;
        return NULL;
    }
    void *out = malloc(n ? (size_t)n * elem : 1);
    const unsigned char *b = take(r, (size_t)n * elem);
    if (!out || !b) {
        free(out);
        r->bad = 1;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++, b += elem) {
        if (elem == 4) {
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            memcpy((float *)out + i, &u, 4);
        } else {
            uint64_t u = le64(b);
            memcpy((char *)out + (size_t)i * 8, &u, 8);
        }
    }
    return out;
}

static void case_free(gopt_case *c)
{
    golden_case *b = &c->base;
    free(b->logits);
    free(b->targets);
    free(b->grad_output);
    free(b->row_loss);
    free(b->row_nll);
    free(b->row_lse);
    free(b->row_argmax);
    free(b->grad);
    free(c->class_weight);
    free(c->prior);
    free(c->row_weight);
    memset(c, 0, sizeof *c);
}

void gopt_free(gopt_set *set)
{
    for (int64_t i = 0; i < set->n; i++)
        case_free(&set->cases[i]);
    free(set->cases);
    set->cases = NULL;
    set->n = 0;
}

static int read_case(reader *r, gopt_case *c)
{
    golden_case *b = &c->base;
    const unsigned char *name = take(r, 48);
    if (!name)
        return -1;
    memcpy(b->name, name, 48);
    b->name[48] = 0;
    b->rows = rd_i64(r);
    b->vocab = rd_i64(r);
    lsce_options_default(&b->opts);
    b->opts.convention = (lsce_convention)rd_i64(r);
    b->opts.kl = (int)rd_i64(r);
    b->opts.ignore_index = rd_i64(r);
    b->opts.reduction = (lsce_reduction)rd_i64(r);
    b->n_grad_output = rd_i64(r);
    b->flags = rd_i64(r);
    const int64_t has_w = rd_i64(r), has_u = rd_i64(r), has_rho = rd_i64(r);
    b->opts.smoothing = rd_f64(r);
    b->opts.z_loss = rd_f64(r);
    b->opts.logit_scale = rd_f64(r);
    b->opts.softcap = rd_f64(r);
    b->opts.confidence_penalty = rd_f64(r);
    b->logits_dtype = LSCE_DTYPE_F32;
    if (r->bad || b->rows < 0 || b->rows > 1 << 20 || b->vocab < 1 || b->vocab > 1 << 24 ||
        (b->n_grad_output != 0 && b->n_grad_output != 1 && b->n_grad_output != b->rows) ||
        (has_w | has_u | has_rho) & ~(int64_t)1)
        return -1;
    const int64_t N = b->rows, V = b->vocab;
    b->logits = rd_array(r, N * V, 4);
    b->targets = rd_array(r, N, 8);
    b->grad_output = b->n_grad_output ? rd_array(r, b->n_grad_output, 4) : NULL;
    c->class_weight = has_w ? rd_array(r, V, 4) : NULL;
    c->prior = has_u ? rd_array(r, V, 4) : NULL;
    c->row_weight = has_rho ? rd_array(r, N, 4) : NULL;
    b->opts.class_weight = c->class_weight;
    b->opts.prior = c->prior;
    b->opts.row_weight = c->row_weight;
    b->loss = rd_f64(r);
    c->z_sum = rd_f64(r);
    c->denominator = rd_f64(r);
    b->row_loss = rd_array(r, N, 8);
    b->row_nll = rd_array(r, N, 8);
    b->row_lse = rd_array(r, N, 8);
    b->row_argmax = rd_array(r, N, 8);
    b->grad = rd_array(r, N * V, 8);
    return r->bad ? -1 : 0;
}

int gopt_load(const char *dir, gopt_set *set, char *err, size_t err_size)
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
        const size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    fclose(f);

    reader r = {buf, buf + size, 0};
    const unsigned char *magic = take(&r, 8);
    const int64_t version = rd_i64(&r), n = rd_i64(&r);
    if (!magic || memcmp(magic, "LSCEGOPT", 8) || version != 1 || n < 1 || n > 100000) {
        free(buf);
        snprintf(err, err_size, "%s: not a version-1 lsce objective-option golden file", path);
        return -1;
    }
    set->cases = calloc((size_t)n, sizeof *set->cases);
    for (int64_t i = 0; set->cases && i < n; i++) {
        set->n = i + 1;
        if (read_case(&r, &set->cases[i])) {
            snprintf(err, err_size, "%s: case %lld is truncated or malformed", path,
                     (long long)i);
            gopt_free(set);
            free(buf);
            return -1;
        }
    }
    const int trailing = r.p != r.end;
    free(buf);
    if (!set->cases || trailing) {
        snprintf(err, err_size, "%s: %s", path, set->cases ? "trailing bytes" : "out of memory");
        gopt_free(set);
        return -1;
    }
    return 0;
}

/* ---- tolerances ---------------------------------------------------------------------------- */

#define U BOUND_U

/* One ulp of the fp32 value nearest t (0 for ±inf). */
static double ulp32(double t)
{
    const float f = fabsf((float)t);
    if (!isfinite(f))
        return 0.0;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

/* Per-row quantities of the derivation (row r of a case). */
typedef struct row_model {
    int kept;
    double rho, g, lse, H, Omega, CE, KL, Pbar, Qbar, loss_tsens, Gmax, omega_y;
} row_model;

/* Per-element quantities, scratch of V each. */
typedef struct elem_model {
    double *t, *dt, *p, *omega, *G;
} elem_model;

static double q_of(const gopt_case *c, int64_t j, int64_t y, double a, double b)
{
    if (c->prior) {
        const double eps = c->base.opts.smoothing;
        return eps * (double)c->prior[j] + (j == y ? 1.0 - eps : 0.0);
    }
    return j == y ? a : b;
}

static void model_row(const gopt_case *c, int64_t r, const elem_model *e, row_model *m)
{
    const golden_case *b = &c->base;
    const lsce_options *o = &b->opts;
    const int64_t V = b->vocab;
    const double s = o->logit_scale, cap = o->softcap, z = o->z_loss, beta = o->confidence_penalty;
    const float *x = b->logits + r * V;
    const int64_t y = b->targets[r];
    double a, bq, A;
    golden_weights(b, &a, &bq, &A);

    memset(m, 0, sizeof *m);
    m->kept = y != o->ignore_index;
    m->rho = c->row_weight ? (double)c->row_weight[r] : 1.0;
    m->lse = b->row_lse[r];
    double go = 1.0;
    if (b->n_grad_output == 1)
        go = b->grad_output[0];
    else if (b->n_grad_output > 1)
        go = b->grad_output[r];
    m->g = o->reduction == LSCE_REDUCTION_MEAN ? go / c->denominator : go;

    for (int64_t j = 0; j < V; j++) {
        const double xs = s == 1.0 ? (double)x[j] : s * (double)x[j];
        const double t = cap > 0.0 ? cap * tanh(xs / cap) : xs;
        e->t[j] = t;
        if (cap > 0.0)
            e->dt[j] = 4.0 * ulp32(t);
        else
            e->dt[j] = s != 1.0 && isfinite(t) ? 2.0 * U * fabs(t) : 0.0;
        e->p[j] = exp(t - m->lse);
    }
    for (int64_t j = 0; j < V; j++)
        if (e->p[j] > 0.0)
            m->H -= e->p[j] * (e->t[j] - m->lse);
    if (!m->kept)
        return;
    for (int64_t j = 0; j < V; j++) {
        const double q = q_of(c, j, y, a, bq);
        const double w = c->class_weight ? (double)c->class_weight[j] : 1.0;
        e->omega[j] = w * q;
        m->Omega += e->omega[j];
        if (e->omega[j] > 0.0) {
            m->CE += e->omega[j] * (m->lse - e->t[j]);
            if (o->kl)
                m->KL += e->omega[j] * log(q);
        }
    }
    m->omega_y = e->omega[y];
    for (int64_t j = 0; j < V; j++) {
        const double p = e->p[j], logp = e->t[j] - m->lse;
        double L = m->Omega * p - e->omega[j] + 2.0 * z * m->lse * p;
        if (p > 0.0)
            L += beta * p * (logp + m->H);
        L *= m->rho;
        e->G[j] = m->g * L;
        if (isfinite(e->G[j]))
            m->Gmax = fmax(m->Gmax, fabs(e->G[j]));
        if (e->dt[j] > 0.0) {
            m->loss_tsens += fabs(L) * e->dt[j];
            if (p > 0.0) {
                m->Pbar += p * e->dt[j];
                m->Qbar += p * fabs(logp + m->H) * e->dt[j];
            }
        }
    }
}

/* Bound on a kept row's loss (double), before the fp32 rounding of row_loss. */
static double tol_row_loss(const gopt_case *c, const row_model *m)
{
    const lsce_options *o = &c->base.opts;
    const double z = o->z_loss, beta = o->confidence_penalty, al = fabs(m->lse);
    return fabs(m->rho) *
               (BOUND_ABS * (m->Omega + beta * (1.0 + m->H) + 2.0 * z * al) +
                2.0 * z * U * al * al +
                BOUND_REL * (fabs(m->CE + m->KL) + z * al * al + beta * m->H)) +
           m->loss_tsens;
}

/* Bound on element j of a kept row's gradient. */
static double tol_grad(const gopt_case *c, const row_model *m, const elem_model *e, int64_t j,
                       int backward)
{
    const lsce_options *o = &c->base.opts;
    const double z = o->z_loss, beta = o->confidence_penalty, s = o->logit_scale,
                 cap = o->softcap, al = fabs(m->lse);
    const double gr = fabs(m->g * m->rho), p = e->p[j];
    const double logp = p > 0.0 ? e->t[j] - m->lse : 0.0;
    double E = BOUND_ABS * (m->Gmax + gr * (fmax(m->omega_y, e->omega[j]) +
                                            2.0 * z * p * (al + 1.0) +
                                            beta * p * (fabs(logp) + 2.0 * m->H + 2.0))) +
               gr * U * al * p * (2.0 * z + beta);
    E += gr * (p * (e->dt[j] + m->Pbar) *
                   (m->Omega + 2.0 * z * al + beta * (fabs(logp + m->H) + 1.0)) +
               2.0 * z * p * m->Pbar + beta * p * m->Qbar);
    if (backward)
        E += gr * U * al * p *
             (m->Omega + 2.0 * z * (al + 1.0) +
              beta * (fabs(logp + m->H) + 1.0 + fabs(1.0 - m->H)));
    double d = 1.0, dd = 0.0;
    if (cap > 0.0) {
        const double rr = e->t[j] / cap, dtc = e->dt[j] / cap;
        d = s * (1.0 - rr) * (1.0 + rr);
        dd = s * dtc * (2.0 * fabs(rr) + dtc) + 4.0 * U * s;
    } else if (s != 1.0) {
        d = s;
        dd = 2.0 * U * s;
    }
    return E * (fabs(d) + dd) + fabs(e->G[j]) * dd;
}

/* ---- checking ------------------------------------------------------------------------------ */

const char *const gopt_qty_names[GOPT_QTY_COUNT_] = {"loss", "nll_sum", "z_sum", "row_loss",
                                                     "row_lse", "gradient"};
gopt_worst gopt_worst_ratio[GOPT_QTY_COUNT_];

typedef struct checker {
    const gopt_case *c;
    lsce_isa isa;
    golden_entry entry;
    golden_fail_fn fail;
    void *ctx;
    int failures, max_reports;
    long compared;
} checker;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void failf(checker *k, const char *fmt, ...)
{
    k->failures++;
    if (!k->fail || k->failures > k->max_reports)
        return;
    char msg[640];
    int len = snprintf(msg, sizeof msg, "%s [%s, %s]: ", k->c->base.name,
                       lsce_isa_to_string(k->isa), golden_entry_name(k->entry));
    va_list ap;
    va_start(ap, fmt);
    if (len >= 0 && (size_t)len < sizeof msg)
        vsnprintf(msg + len, sizeof msg - (size_t)len, fmt, ap);
    va_end(ap);
    k->fail(k->ctx, msg);
}

static void expect_close(checker *k, int qty, const char *what, int64_t r, int64_t col,
                         double got, double want, double tol)
{
    int ok;
    k->compared++;
    if (isnan(tol)) {
        failf(k, "%s row %lld col %lld: the checker's tolerance is NaN", what, (long long)r,
              (long long)col);
        return;
    }
    if (isnan(want))
        ok = isnan(got);
    else if (isinf(want))
        ok = got == want;
    else
        ok = isfinite(got) && fabs(got - want) <= tol;
    if (ok && qty >= 0 && isfinite(want) && tol > 0.0 &&
        fabs(got - want) / tol > gopt_worst_ratio[qty].ratio) {
        gopt_worst_ratio[qty].ratio = fabs(got - want) / tol;
        snprintf(gopt_worst_ratio[qty].where, sizeof gopt_worst_ratio[qty].where,
                 "%s [%s, %s] row %lld col %lld", k->c->base.name, lsce_isa_to_string(k->isa),
                 golden_entry_name(k->entry), (long long)r, (long long)col);
    }
    if (!ok)
        failf(k, "%s row %lld col %lld: got %.9g, want %.9g (|diff| %.3g > tol %.3g)", what,
              (long long)r, (long long)col, got, want, fabs(got - want), tol);
}

int gopt_check(const gopt_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
               void *ctx, int max_reports, long *compared)
{
    checker k = {c, isa, entry, fail, ctx, 0, max_reports, 0};
    const golden_case *b = &c->base;
    const int64_t N = b->rows, V = b->vocab, ld = V + PAD;
    const float guard = -12345.75f;
    lsce_options o = b->opts;
    o.isa = isa;
    const int nothing_counts =
        (b->flags & (GOPT_FLAG_ALL_IGNORED_MEAN | GOPT_FLAG_ZERO_DENOMINATOR)) != 0;

    float *logits = malloc((size_t)(N * ld) * sizeof(float) + 1);
    float *grad = malloc((size_t)(N * ld) * sizeof(float) + 1);
    float *row_loss = malloc((size_t)N * sizeof(float) + 1);
    float *row_lse = malloc((size_t)N * sizeof(float) + 1);
    elem_model e;
    double *scratch = malloc(5 * (size_t)V * sizeof(double));
    if (!logits || !grad || !row_loss || !row_lse || !scratch) {
        failf(&k, "out of memory");
        goto done;
    }
    e = (elem_model){scratch, scratch + V, scratch + 2 * V, scratch + 3 * V, scratch + 4 * V};
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < ld; j++) {
            logits[r * ld + j] = j < V ? b->logits[r * V + j] : NAN;
            grad[r * ld + j] = guard;
        }
    for (int64_t r = 0; r < N; r++)
        row_loss[r] = row_lse[r] = guard;

    lsce_result res;
    memset(&res, 0xA5, sizeof res);
    golden_outputs written;
    const int st = golden_call(entry, &o, b, ld, logits, (size_t)(N * ld) * sizeof(float), grad,
                               row_loss, row_lse, &res, &written);
    if (st < 0) {
        failf(&k, "bad entry");
        goto done;
    }
    if (st != LSCE_OK) {
        failf(&k, "status %d (%s)", st, lsce_strerror((lsce_status)st));
        goto done;
    }
    const float *g_out = written.grad ? grad : NULL;

    int64_t n_kept = 0, correct_lo = 0, correct_hi = 0;
    double loss_tol = 0.0, nll_tol = 0.0, nll_sum = 0.0, z_tol = 0.0, d_abs = 0.0;
    for (int64_t r = 0; r < N; r++) {
        row_model m;
        model_row(c, r, &e, &m);
        const float *g = g_out ? g_out + r * ld : NULL;
        if (g)
            for (int64_t j = V; j < ld; j++)
                if (entry != GOLDEN_FUSED_IN_PLACE ? g[j] != guard : !isnan(g[j])) {
                    failf(&k, "gradient row %lld: stride padding col %lld overwritten (%.9g)",
                          (long long)r, (long long)j, g[j]);
                    break;
                }
        if (written.rows)
            expect_close(&k, m.kept ? GOPT_QTY_ROW_LSE : -1,
                         m.kept ? "row_lse" : "row_lse (ignored row)", r, -1, row_lse[r],
                         b->row_lse[r], bound_row_lse(b->row_lse[r]) + m.Pbar);
        if (!m.kept) {
            if (written.rows && row_loss[r] != 0.0f)
                failf(&k, "row_loss of ignored row %lld is %.9g, not 0", (long long)r,
                      row_loss[r]);
            for (int64_t j = 0; g && j < V; j++)
                if (g[j] != 0.0f) {
                    failf(&k, "gradient of ignored row %lld col %lld is %.9g, not 0",
                          (long long)r, (long long)j, g[j]);
                    break;
                }
            continue;
        }
        n_kept++;
        const int64_t am = b->row_argmax[r], y = b->targets[r];
        correct_lo += am == y;
        correct_hi += am == y || am < 0;
        const double rl_tol = tol_row_loss(c, &m);
        loss_tol += rl_tol;
        nll_tol += bound_row_loss(b->row_nll[r], 1.0) + e.dt[y] + m.Pbar;
        nll_sum += b->row_nll[r];
        const double zl = o.z_loss * m.lse * m.lse;
        z_tol += fabs(m.rho) * (2.0 * o.z_loss * fabs(m.lse) *
                                    (BOUND_ABS + U * fabs(m.lse) + m.Pbar) +
                                BOUND_REL * zl);
        d_abs += fabs(m.rho * (c->class_weight ? (double)c->class_weight[y] : 1.0));
        if (written.rows)
            expect_close(&k, GOPT_QTY_ROW_LOSS, "row_loss", r, -1, row_loss[r], b->row_loss[r],
                         rl_tol + U * fabs(b->row_loss[r]));
        if (!g)
            continue;
        if (nothing_counts) {
            for (int64_t j = 0; j < V; j++)
                if (g[j] != 0.0f) {
                    failf(&k, "mean with D = 0: gradient row %lld col %lld is %.9g; lsce.h "
                          "documents a zero gradient", (long long)r, (long long)j, g[j]);
                    break;
                }
            continue;
        }
        for (int64_t j = 0; j < V; j++)
            expect_close(&k, GOPT_QTY_GRAD, "gradient", r, j, g[j], b->grad[r * V + j],
                         tol_grad(c, &m, &e, j, entry == GOLDEN_BACKWARD));
    }

    if (written.result) {
        if (res.n_tokens != n_kept)
            failf(&k, "n_tokens %lld, want %lld", (long long)res.n_tokens, (long long)n_kept);
        if (res.n_correct < correct_lo || res.n_correct > correct_hi)
            failf(&k, "n_correct %lld, want %lld..%lld (torch.argmax of t)",
                  (long long)res.n_correct, (long long)correct_lo, (long long)correct_hi);
        k.compared += 2;
        expect_close(&k, -1, "denominator", -1, -1, res.denominator, c->denominator,
                     (double)N * 0x1p-53 * d_abs);
        if (nothing_counts) {
            /* PyTorch: NaN (0/0) or inf; lsce.h documents loss 0 for mean with D = 0. */
            if (!(isnan(b->loss) || isinf(b->loss)))
                failf(&k, "golden file: PyTorch's loss with D = 0 is %.9g, not NaN / inf",
                      b->loss);
            k.compared++;
            if (res.loss != 0.0)
                failf(&k, "mean with D = 0 (%s): loss %.9g, lsce.h documents 0",
                      n_kept ? "kept rows of zero weight" : "every row ignored", res.loss);
        } else {
            const double mean = o.reduction == LSCE_REDUCTION_MEAN;
            expect_close(&k, GOPT_QTY_LOSS, "loss", -1, -1, res.loss, b->loss,
                         mean ? loss_tol / c->denominator : loss_tol);
        }
        expect_close(&k, GOPT_QTY_NLL, "nll_sum", -1, -1, res.nll_sum, nll_sum, nll_tol);
        expect_close(&k, GOPT_QTY_Z_SUM, "z_sum", -1, -1, res.z_sum, c->z_sum, z_tol);
    }

done:
    free(logits);
    free(grad);
    free(row_loss);
    free(row_lse);
    free(scratch);
    if (compared)
        *compared += k.compared;
    return k.failures;
}

int gopt_coverage(const gopt_set *set, golden_fail_fn fail, void *ctx)
{
    static const int64_t Vs[] = {1, 5, 17, 100, 1000, 4097};
    int seen_V[6] = {0}, seen_red[3] = {0}, seen_flag[5] = {0}, failures = 0;
    int w_ii0 = 0, w_ii100 = 0, w_zero = 0, prior = 0, rho = 0, z = 0, scale = 0, cap = 0,
        beta = 0, kl = 0, all = 0, go_vec = 0, go_scalar = 0;
    for (int64_t i = 0; i < set->n; i++) {
        const gopt_case *c = &set->cases[i];
        const lsce_options *o = &c->base.opts;
        if (c->class_weight) {
            for (int v = 0; v < 6; v++)
                seen_V[v] |= c->base.vocab == Vs[v] &&
                             (c->base.flags & GOPT_FLAG_TORCH_CROSS_ENTROPY) != 0;
            for (int64_t j = 0; j < c->base.vocab; j++)
                w_zero |= c->class_weight[j] == 0.0f;
            w_ii0 |= o->ignore_index == 0;
            w_ii100 |= o->ignore_index == -100;
            seen_red[o->reduction] |= (c->base.flags & GOPT_FLAG_TORCH_CROSS_ENTROPY) != 0;
        }
        for (int f = 0; f < 5; f++)
            seen_flag[f] |= (c->base.flags >> f) & 1;
        prior |= c->prior != NULL;
        rho |= c->row_weight != NULL;
        z |= o->z_loss > 0;
        scale |= o->logit_scale != 1.0;
        cap |= o->softcap > 0;
        beta |= o->confidence_penalty > 0;
        kl |= o->kl && (c->prior || c->class_weight);
        all |= c->class_weight && c->prior && c->row_weight && o->z_loss > 0 &&
               o->logit_scale != 1.0 && o->softcap > 0 && o->confidence_penalty > 0;
        go_vec |= c->base.n_grad_output > 1;
        go_scalar |= c->base.n_grad_output == 1;
    }
    const struct {
        int ok;
        const char *what;
    } want[] = {{seen_V[0] && seen_V[1] && seen_V[2] && seen_V[3] && seen_V[4] && seen_V[5],
                 "F.cross_entropy(weight=) at every V of 1, 5, 17, 100, 1000, 4097"},
                {seen_red[0] && seen_red[1] && seen_red[2], "weights with every reduction"},
                {w_ii0 && w_ii100 && w_zero, "weights with ignore_index 0 and -100, a zero weight"},
                {seen_flag[0] && seen_flag[1] && seen_flag[2] && seen_flag[3] && seen_flag[4],
                 "every flag (all ignored, torch itself, D = 0, 0 log 0, weighted z mean)"},
                {prior && rho && z && scale && cap && beta && kl, "every option"},
                {all, "a case with every option at once"},
                {go_vec && go_scalar, "grad_output vector and scalar"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!want[i].ok) {
            failures++;
            if (fail) {
                char msg[200];
                snprintf(msg, sizeof msg, "golden file does not cover %s", want[i].what);
                fail(ctx, msg);
            }
        }
    return failures;
}

void gopt_report(FILE *out)
{
    fprintf(out, "largest |error| / tolerance:\n");
    for (int i = 0; i < GOPT_QTY_COUNT_; i++)
        fprintf(out, "  %-9s %.3g  %s\n", gopt_qty_names[i], gopt_worst_ratio[i].ratio,
                gopt_worst_ratio[i].where[0] ? gopt_worst_ratio[i].where : "-");
}
