/*
 * libFuzzer target: the objective options of lsce.h (class_weight, prior, row_weight, z_loss,
 * logit_scale, softcap, confidence_penalty, calibration), issue #3. Differential: every variant
 * this CPU runs against the scalar reference variant, on all three entry points, within the
 * tolerance options_bounds.c derives from lsce.h's "Accuracy" (2·B: each variant is within B of
 * the exact value); where the reference is NaN or infinite, the same NaN / infinity.
 *
 * The fuzzer's bytes choose the shape (rows ≤ 8, V small, around the vector widths and the
 * 4096-element chunk), strides, dtypes (f32 / bf16 / f16 logits and gradient), convention,
 * reduction, kl, ε, ignore_index, which options are on and their values (weights with exact zeros,
 * a prior with zeros normalised to sum 1, row weights with zeros, z, s, c tiny and huge, β, B),
 * grad_output, which outputs are passed, and hostile logits (fuzz/decode.h: NaN, ±inf, ±0,
 * subnormals, ±1e30, ±FLT_MAX, ties, raw bits; optionally −inf at every zero-weight class). Or one
 * invalid option value instead (checked on every variant and entry point).
 *
 * Checked on every call (any violation aborts with a description on stderr):
 *   - the differential bounds: row_loss, row_lse, gradient, result (loss, nll_sum, z_sum within
 *     tolerance; n_tokens and the denominator exactly) and the calibration bins (a row within its
 *     bound of a bin edge may move to the neighbour); backward is given the scalar's saved lse;
 *   - exact facts: the denominator Σ ρ_r·w_{y_r}, n_tokens, n_correct within the rows whose argmax
 *     is certain (softcap can reorder near-ties), each bin's count within the rows whose confidence
 *     is certainly / possibly in it (from a double estimate), added to the bins' previous content;
 *   - identities bit for bit: in place = out of place, lsce_forward = the fused call (row_loss,
 *     row_lse, result, bins); ignored rows' gradient all zero bits, row_loss 0;
 *   - nothing else written: gradient padding, the result and the bins of lsce_backward; the inputs
 *     (logits, targets, option arrays, grad_output, saved lse, the options) unmodified; every
 *     buffer allocated to its exact extent (ASan reports any access past it);
 *   - an invalid option: LSCE_ERR_OPTION (LSCE_ERR_NULL for bins without storage), nothing
 *     written (bins included).
 * Not compared (known limits, options_bounds.c; LSCE_FUZZ_STRICT=1 compares them too): the loss
 * of a row whose fp32 lane sums may overflow (lsce.h "Range"), the gradient of a row whose fp32
 * coefficients may. Array options with rows = 0 (never read) may give LSCE_OK.
 *
 * Input layout: 0 rows (% 9), 1-2 V, 3 paddings, 4 convention / reduction / kl, 5 ε,
 * 6 ignore_index, grad_output, outputs, 7 dtypes, 8 logit magnitude, 9 options on (bit mask: class_weight, prior,
 * row_weight, z, s, c, β, B), 10-12 styles of the three arrays, 13-17 z, s, c, β, B, 18 invalid
 * option (≥ 0xA0), then one byte per target, then the logits. Bytes that run out read as 0
 * (fuzz/options_case.c decodes; fuzz/options_bounds.c has the tolerances). In place runs whenever
 * the two dtypes agree. LSCE_FUZZ_DUMP=1 prints the decoded case, LSCE_FUZZ_RATIO=1 each new worst
 * |difference| / tolerance.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry_points.h"
#include "fuzz_common.h"
#include "lsce.h"
#include "options_bounds.h"
#include "options_case.h"
#include "storage.h"

/* ---- running an entry point ----------------------------------------------------------------- */

typedef struct outs {
    int ran;
    lsce_status st;
    void *grad;        /* NULL for forward; gs-strided rows */
    size_t grad_bytes; /* its exact extent */
    int64_t gs;
    float *row_loss, *row_lse; /* rows floats each, or NULL */
    lsce_result res;
    lsce_calibration_bin *bins; /* n_bins, or NULL */
    int n_bins;
} outs;

/* The bins' previous content (the library adds to it), or the pattern where nothing may be
 * added. */
static void fill_bins(lsce_calibration_bin *b, int n, int baseline)
{
    if (!baseline)
        memset(b, PATTERN, (size_t)n * sizeof *b);
    for (int i = 0; i < n && baseline; i++)
        b[i] = (lsce_calibration_bin){(double)(i % 3), 0.125 * (i % 3), (double)(i % 3 == 2)};
}

static outs run_entry(const fuzz_case *c, const lsce_options *opts, int no_bins, entry e,
                      lsce_isa isa, const float *saved_lse)
{
    outs out;
    memset(&out, 0, sizeof out);
    memset(&out.res, PATTERN, sizeof out.res);
    out.ran = 1;
    lsce_options o = *opts;
    o.isa = isa;
    const int B = o.calibration_bins;
    out.n_bins = B >= 1 && B <= 1000 ? B : B != 0 ? 4 : 0;
    if (out.n_bins > 0 && !no_bins) {
        out.bins = fuzz_alloc((size_t)out.n_bins * sizeof *out.bins);
        fill_bins(out.bins, out.n_bins, c->inv < 0 && !backward(e));
        o.calibration = out.bins;
    }
    const void *x = c->x;
    out.grad = entry_grad_buffer(e, c->rows, c->V, c->ls, c->gs, c->in_dt, c->out_dt, &x, &out.gs,
                                 &out.grad_bytes);
    const size_t row_bytes = (size_t)c->rows * sizeof(float);
    out.row_loss = c->pass_row_loss && !backward(e) ? pattern_bytes(row_bytes) : NULL;
    out.row_lse = (c->pass_row_lse && !backward(e)) || e == E_FORWARD ? pattern_bytes(row_bytes)
                                                                        : NULL;
    lsce_result *res = c->pass_result ? &out.res : NULL;
    out.st = call_entry(e, &o, c->rows, c->V, x, c->ls, c->y, c->go, saved_lse, out.grad, out.gs,
                        out.row_loss, out.row_lse, res);
    return out;
}

static void free_outs(outs *o)
{
    free(o->grad);
    free(o->row_loss);
    free(o->row_lse);
    free(o->bins);
    memset(o, 0, sizeof *o);
}

/* FNV-1a over every input the calls read (not the saved lse: see the main loop). */
static uint64_t inputs_hash(const fuzz_case *c)
{
    uint64_t h = fuzz_hash(c->x, c->x_count * dtype_size(c->in_dt));
    const struct { const void *p; size_t n; } parts[5] = {
        {c->y, (size_t)c->rows * sizeof *c->y},
        {c->cw, c->cw ? (size_t)c->V * sizeof(float) : 0},
        {c->prior, c->prior ? (size_t)c->V * sizeof(float) : 0},
        {c->rw, c->rw ? (size_t)c->rows * sizeof(float) : 0},
        {c->go, c->go ? (size_t)(c->o.reduction == LSCE_REDUCTION_NONE ? c->rows : 1) * 4 : 0}};
    for (int i = 0; i < 5; i++)
        h = h * 31 + fuzz_hash(parts[i].p, parts[i].n);
    return h;
}

/* ---- checks ------------------------------------------------------------------------------- */

#define T2 (2.0 * b->safe) /* two variants, each within its bound */

/* got vs want within tol, an infinity standing for a value beyond the overflow edge of its sign
 * (max: the output's largest finite). A NaN wanted must be NaN; an infinity against a finite
 * value passes when the finite one is within tol of that edge, and against the other infinity
 * when tol spans both edges. Such tolerances come from ill-conditioned elements: backward from a
 * saved lse of magnitude 1e30 (its fp32 rounding alone moves exp(t − lse) anywhere in [0, 1]), or
 * the confidence penalty's backward split p·(t − lse) + p·H cancelling terms 1e30 times the
 * result (class weights 1e-30 make the mean's scale 1e27). */
CHECKER static int close_to(double got, double want, double tol, double max)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) && isinf(got))
        return want == got || tol >= 2.0 * max;
    if (isinf(want) || isinf(got)) {
        const double fin = isinf(want) ? got : want, inf = isinf(want) ? want : got;
        return inf > 0 ? fin + tol >= max : fin - tol <= -max;
    }
    return fabs(got - want) <= tol;
}

/* LSCE_FUZZ_RATIO=1: prints each new worst |got − want| / tol per quantity (how tight the
 * tolerances are in practice). */
enum { Q_GRAD, Q_GRAD_BWD, Q_GRAD16, Q_LOSS, Q_LSE, Q_RESULT, Q_COUNT };
CHECKER static void note_ratio(int q, double got, double want, double tol)
{
    static int on = -1;
    static double worst[Q_COUNT];
    static const char *const names[Q_COUNT] = {"grad", "grad_bwd", "grad16", "row_loss", "row_lse",
                                                "result"};
    if (on < 0)
        on = getenv("LSCE_FUZZ_RATIO") != NULL;
    const double ratio = fabs(got - want) / tol;
    if (on && isfinite(ratio) && ratio > worst[q]) {
        worst[q] = ratio;
        fprintf(stderr, "RATIO %s %.3g (got %.9g want %.9g tol %.3g)\n", names[q], ratio, got,
                want, tol);
    }
}

static double dtype_max(lsce_dtype dt)
{
    return dt == LSCE_DTYPE_F32 ? FLT_MAX : dt == LSCE_DTYPE_F16 ? 65504.0 : 0x1.fep127;
}

/* A rejected call: its status, and not one byte of any output written. */
CHECKER static void check_rejected(const fuzz_case *c, entry e, lsce_isa isa, const outs *out,
                                   unsigned want)
{
    const char *name = lsce_isa_to_string(isa);
    if (!(want >> out->st & 1))
        fuzz_fail("[%s %s] invalid option '%s' (variation %d), rows %lld: status %d (%s), want "
                  "the set 0x%x", name, entry_names[e], invalid_names[c->inv], c->inv_sub,
                  (long long)c->rows, (int)out->st, lsce_strerror(out->st), want);
    if (out->st == LSCE_OK)
        return; /* rows = 0 with an array option: nothing to write anyway */
    const size_t row_bytes = (size_t)c->rows * sizeof(float);
    if (out->grad && !(in_place(e) ? !memcmp(out->grad, c->x, out->grad_bytes)
                                   : is_pattern(out->grad, out->grad_bytes)))
        fuzz_fail("[%s %s] a call rejected for '%s' wrote the gradient", name, entry_names[e],
                  invalid_names[c->inv]);
    if ((out->row_loss && !is_pattern(out->row_loss, row_bytes)) ||
        (out->row_lse && !is_pattern(out->row_lse, row_bytes)) ||
        !is_pattern(&out->res, sizeof out->res) ||
        (out->bins && !is_pattern(out->bins, (size_t)out->n_bins * sizeof *out->bins)))
        fuzz_fail("[%s %s] a call rejected for '%s' wrote row_loss, row_lse, the result or the "
                  "calibration bins", name, entry_names[e], invalid_names[c->inv]);
}

/* What holds for every variant alone: status, padding, ignored rows, exact counts and bins. */
CHECKER static void check_call(const fuzz_case *c, const ob_bounds *b, entry e, lsce_isa isa,
                               const outs *out)
{
    const char *name = lsce_isa_to_string(isa), *en = entry_names[e];
    if (out->st != LSCE_OK)
        fuzz_fail("[%s %s] status %d (%s) for a valid call", name, en, (int)out->st,
                  lsce_strerror(out->st));
    const lsce_dtype dt = in_place(e) ? c->in_dt : c->out_dt;
    const size_t size = dtype_size(dt);
    for (int64_t r = 0; r < c->rows && out->grad; r++) {
        const char *g = (const char *)out->grad + (size_t)(r * out->gs) * size;
        if (!b->row[r].kept)
            for (size_t i = 0; i < (size_t)c->V * size; i++)
                if (g[i])
                    fuzz_fail("[%s %s] ignored row %lld: gradient not all zero bits", name, en,
                              (long long)r);
        if (r + 1 == c->rows)
            break; /* the extent ends at V */
        const size_t at = (size_t)c->V * size, pad = (size_t)(out->gs - c->V) * size;
        const char *orig = (const char *)c->x + (g - (const char *)out->grad);
        if (in_place(e) ? memcmp(g + at, orig + at, pad) != 0 : !is_pattern(g + at, pad))
            fuzz_fail("[%s %s] the padding after gradient row %lld was written", name, en,
                      (long long)r);
    }
    for (int64_t r = 0; r < c->rows && out->row_loss; r++)
        if (!b->row[r].kept && memcmp(&out->row_loss[r], &(float){0.0f}, sizeof(float)))
            fuzz_fail("[%s %s] ignored row %lld: row_loss %g, not 0", name, en, (long long)r,
                      out->row_loss[r]);
    const size_t bin_bytes = (size_t)out->n_bins * sizeof *out->bins;
    if (backward(e)) {
        if (!is_pattern(&out->res, sizeof out->res) ||
            (out->bins && !is_pattern(out->bins, bin_bytes)))
            fuzz_fail("[%s %s] the result or the calibration bins were written", name, en);
        return;
    }
    const lsce_result *res = &out->res;
    if (c->pass_result &&
        (res->n_tokens != b->kept || res->denominator != b->denominator ||
         res->n_correct < b->correct_lo || res->n_correct > b->correct_hi ||
         (c->o.z_loss == 0.0 && res->z_sum != 0.0)))
        fuzz_fail("[%s %s] n_tokens %lld denominator %.17g n_correct %lld z_sum %g; want %lld, "
                  "%.17g, [%lld, %lld]", name, en, (long long)res->n_tokens, res->denominator,
                  (long long)res->n_correct, res->z_sum, (long long)b->kept, b->denominator,
                  (long long)b->correct_lo, (long long)b->correct_hi);
    if (!out->bins)
        return;
    lsce_calibration_bin base[1000];
    fill_bins(base, out->n_bins, 1);
    double added = 0.0;
    for (int k = 0; k < out->n_bins; k++) {
        int64_t sure = 0, maybe = 0;
        for (int64_t r = 0; r < c->rows; r++) {
            const ob_row *w = &b->row[r];
            if (w->kept && w->finite && w->bin_lo <= k && k <= w->bin_hi)
                *(w->edge ? &maybe : &sure) += 1;
        }
        const double n = out->bins[k].count - base[k].count;
        added += n;
        if (!(n >= (double)sure && n <= (double)(sure + maybe)))
            fuzz_fail("[%s %s] calibration bin %d of %d: count %g over its previous %g; want "
                      "[%lld, %lld] rows", name, en, k, out->n_bins, out->bins[k].count,
                      base[k].count, (long long)sure, (long long)(sure + maybe));
    }
    if (added != (double)b->finite_kept)
        fuzz_fail("[%s %s] the bins counted %g rows, want the %lld kept rows of finite confidence",
                  name, en, added, (long long)b->finite_kept);
}

/* Variant `out` against the scalar reference `ref` of the same entry point. */
CHECKER static void check_diff(const fuzz_case *c, const ob_bounds *b, entry e, lsce_isa isa,
                               const outs *out, const outs *ref)
{
    const char *name = lsce_isa_to_string(isa), *en = entry_names[e];
    const lsce_dtype dt = in_place(e) ? c->in_dt : c->out_dt;
    const size_t size = dtype_size(dt);
    for (int64_t r = 0; r < c->rows && out->grad; r++) {
        const ob_row *w = &b->row[r];
        if (!w->kept || w->skip_grad)
            continue;
        const char *g = (const char *)out->grad + (size_t)(r * out->gs) * size;
        const char *h = (const char *)ref->grad + (size_t)(r * ref->gs) * size;
        for (int64_t col = 0; col < c->V; col++) {
            const double bound = (backward(e) ? b->b_grad_bwd : b->b_grad)[r * c->V + col];
            const double est = fabs(b->grad[r * c->V + col]);
            /* + each variant's 16-bit rounding: relative, or half the subnormal spacing */
            const double rel = rounding_rel(dt); /* 0 for f32 (also where bound is inf) */
            const double sub = dt == LSCE_DTYPE_BF16 ? 0x1p-134 : rounding_abs(dt);
            const double tol = T2 * bound + 2.0 * ((rel > 0.0 ? rel * (est + T2 * bound) : 0.0) +
                                                    sub);
            const double got = element(g, dt, col), want = element(h, dt, col);
            note_ratio(dt != LSCE_DTYPE_F32 ? Q_GRAD16 : backward(e) ? Q_GRAD_BWD : Q_GRAD, got,
                       want, tol);
            if (!close_to(got, want, tol, dtype_max(dt)))
                fuzz_fail("[%s %s] grad[%lld][%lld] = %.9g, scalar %.9g (tol %.3g, estimate "
                          "%.9g)", name, en, (long long)r, (long long)col, got, want, tol,
                          b->grad[r * c->V + col]);
        }
    }
    if (backward(e))
        return;
    double t_loss = 0.0, t_nll = 0.0, t_z = 0.0, t_conf = 0.0;
    int loss_ok = 1;
    for (int64_t r = 0; r < c->rows; r++) {
        const ob_row *w = &b->row[r];
        if (out->row_lse && ref->row_lse)
            note_ratio(Q_LSE, out->row_lse[r], ref->row_lse[r], T2 * w->b_lse);
        if (out->row_lse && ref->row_lse &&
            !close_to(out->row_lse[r], ref->row_lse[r], T2 * w->b_lse, FLT_MAX))
            fuzz_fail("[%s %s] row_lse[%lld] = %.9g, scalar %.9g (tol %.3g)", name, en,
                      (long long)r, out->row_lse[r], ref->row_lse[r], T2 * w->b_lse);
        if (!w->kept)
            continue;
        t_loss += w->b_loss;
        t_nll += w->b_nll;
        t_z += w->b_z;
        t_conf += w->finite ? w->b_conf : 0.0; /* the others add no bin */
        loss_ok &= !w->skip_loss;
        if (out->row_loss && !w->skip_loss)
            note_ratio(Q_LOSS, out->row_loss[r], ref->row_loss[r], T2 * w->b_loss);
        if (out->row_loss && !w->skip_loss &&
            !close_to(out->row_loss[r], ref->row_loss[r], T2 * w->b_loss, FLT_MAX))
            fuzz_fail("[%s %s] row_loss[%lld] = %.9g, scalar %.9g (tol %.3g)", name, en,
                      (long long)r, out->row_loss[r], ref->row_loss[r], T2 * w->b_loss);
    }
    if (c->pass_result) {
        const lsce_result *p = &out->res, *q = &ref->res;
        const double D = c->o.reduction == LSCE_REDUCTION_MEAN && b->denominator > 0.0
                             ? b->denominator : 1.0;
        if (loss_ok)
            note_ratio(Q_RESULT, p->loss, q->loss, T2 * t_loss / D);
        if ((loss_ok && !close_to(p->loss, q->loss, T2 * t_loss / D, DBL_MAX)) ||
            !close_to(p->nll_sum, q->nll_sum, T2 * t_nll, DBL_MAX) ||
            !close_to(p->z_sum, q->z_sum, T2 * t_z, DBL_MAX) ||
            llabs(p->n_correct - q->n_correct) > b->amb_kept)
            fuzz_fail("[%s %s] result loss %.17g nll_sum %.17g z_sum %.17g n_correct %lld; scalar "
                      "%.17g %.17g %.17g %lld (tol %.3g %.3g %.3g, %lld ambiguous)", name, en,
                      p->loss, p->nll_sum, p->z_sum, (long long)p->n_correct, q->loss, q->nll_sum,
                      q->z_sum, (long long)q->n_correct, T2 * t_loss / D, T2 * t_nll, T2 * t_z,
                      (long long)b->amb_kept);
    }
    for (int k = 0; out->bins && k < out->n_bins; k++) {
        int64_t moved = 0;
        for (int64_t r = 0; r < c->rows; r++)
            moved += b->row[r].kept && b->row[r].edge && b->row[r].bin_lo <= k &&
                     k <= b->row[r].bin_hi;
        const lsce_calibration_bin *p = &out->bins[k], *q = &ref->bins[k];
        if (!(fabs(p->sum_confidence - q->sum_confidence) <= (double)moved + T2 * t_conf) ||
            fabs(p->sum_correct - q->sum_correct) > (double)(moved + b->amb_kept))
            fuzz_fail("[%s %s] calibration bin %d: sum_confidence %.17g sum_correct %g; scalar "
                      "%.17g %g (%lld rows at an edge)", name, en, k, p->sum_confidence,
                      p->sum_correct, q->sum_confidence, q->sum_correct, (long long)moved);
    }
}

/* Bit for bit: in place = out of place; forward = the fused call's forward outputs. */
CHECKER static void check_identities(const fuzz_case *c, lsce_isa isa, const outs *all)
{
    const char *name = lsce_isa_to_string(isa);
    const size_t size = dtype_size(c->out_dt), row_bytes = (size_t)c->rows * sizeof(float);
    for (int pair = 0; pair < 2; pair++) {
        const outs *p = &all[pair ? E_BACKWARD : E_FUSED];
        const outs *q = &all[pair ? E_BACKWARD_IN_PLACE : E_FUSED_IN_PLACE];
        if (!q->ran)
            continue;
        check_in_place_rows(name, pair ? "backward" : "fused", c->rows, c->V, size, p->grad, p->gs,
                            q->grad, q->gs);
    }
    const outs *f = &all[E_FUSED], *i = &all[E_FUSED_IN_PLACE], *w = &all[E_FORWARD];
    const size_t bin_bytes = (size_t)f->n_bins * sizeof(lsce_calibration_bin);
    if (i->ran && (!same_bytes(f->row_loss, i->row_loss, row_bytes) ||
                   !same_bytes(f->row_lse, i->row_lse, row_bytes) ||
                   memcmp(&f->res, &i->res, sizeof f->res) ||
                   !same_bytes(f->bins, i->bins, bin_bytes)))
        fuzz_fail("[%s] fused in place: row_loss, row_lse, result or bins differ", name);
    if (!same_bytes(f->row_loss, w->row_loss, row_bytes) ||
        (f->row_lse && !same_bytes(f->row_lse, w->row_lse, row_bytes)) ||
        memcmp(&f->res, &w->res, sizeof f->res) || !same_bytes(f->bins, w->bins, bin_bytes))
        fuzz_fail("[%s] forward: row_loss, row_lse, result or bins differ from the fused call",
                  name);
}

static void check_inputs(const fuzz_case *c, uint64_t hash, entry e, lsce_isa isa)
{
    if (inputs_hash(c) != hash)
        fuzz_fail("[%s %s] an input (logits, targets, option arrays, grad_output) was modified",
                  lsce_isa_to_string(isa), entry_names[e]);
}

/* Every variant and entry point with case c's invalid option. */
static void run_invalid(const fuzz_case *c, uint64_t hash)
{
    bad_options bad;
    make_invalid(c, &bad);
    const lsce_options before = bad.o;
    float *lse = fuzz_alloc((size_t)c->rows * sizeof *lse);
    for (int64_t r = 0; r < c->rows; r++)
        lse[r] = 1.0f;
    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1)) {
        if (!lsce_isa_supported(isa))
            continue;
        for (int e = 0; e < E_COUNT; e++) {
            if (in_place((entry)e) && c->in_dt != c->out_dt)
                continue;
            outs out = run_entry(c, &bad.o, bad.no_bins, (entry)e, isa, lse);
            check_rejected(c, (entry)e, isa, &out, bad.want);
            check_inputs(c, hash, (entry)e, isa);
            if (memcmp(&before, &bad.o, sizeof before))
                fuzz_fail("the options were modified");
            free_outs(&out);
        }
    }
    free(lse);
    free(bad.cw);
    free(bad.prior);
    free(bad.rw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int strict = -1;
    if (strict < 0)
        strict = getenv("LSCE_FUZZ_STRICT") != NULL;
    fuzz_case c;
    decode_case(data, size, &c);
    if (getenv("LSCE_FUZZ_DUMP"))
        dump_case(&c);
    const uint64_t hash = inputs_hash(&c);
    if (c.inv >= 0) {
        run_invalid(&c, hash);
        free_case(&c);
        return 0;
    }
    const ob_input bin = {&c.o, c.rows, c.V, c.ls, c.xf, c.y, c.go};
    ob_bounds b;
    if (ob_prepare(&bin, strict, &b))
        fuzz_fail("the bounds are out of memory");
    const lsce_options before = c.o;
    outs ref[E_COUNT];
    memset(ref, 0, sizeof ref);
    float *saved = NULL; /* the scalar forward's row_lse: every variant's backward reads it */
    uint64_t saved_hash = 0;
    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1)) {
        if (!lsce_isa_supported(isa))
            continue;
        outs all[E_COUNT];
        memset(all, 0, sizeof all);
        const entry order[E_COUNT] = {E_FORWARD, E_FUSED, E_FUSED_IN_PLACE, E_BACKWARD,
                                      E_BACKWARD_IN_PLACE};
        for (int i = 0; i < E_COUNT; i++) {
            const entry e = order[i];
            if (in_place(e) && c.in_dt != c.out_dt)
                continue; /* in place needs one dtype (fuzz_kernels checks the ALIAS status) */
            all[e] = run_entry(&c, &c.o, 0, e, isa, saved);
            check_call(&c, &b, e, isa, &all[e]);
            check_inputs(&c, hash, e, isa);
            if (memcmp(&before, &c.o, sizeof before) ||
                (saved &&
                 fuzz_hash((const uint8_t *)saved, (size_t)c.rows * sizeof *saved) != saved_hash))
                fuzz_fail("[%s %s] the options or the saved row_lse were modified",
                          lsce_isa_to_string(isa), entry_names[e]);
            if (isa != LSCE_ISA_SCALAR)
                check_diff(&c, &b, e, isa, &all[e], &ref[e]);
            if (e == E_FORWARD && !saved) {
                saved = fuzz_alloc((size_t)c.rows * sizeof *saved);
                memcpy(saved, all[e].row_lse, (size_t)c.rows * sizeof *saved);
                saved_hash = fuzz_hash((const uint8_t *)saved, (size_t)c.rows * sizeof *saved);
            }
        }
        check_identities(&c, isa, all);
        for (int e = 0; e < E_COUNT; e++) {
            if (isa == LSCE_ISA_SCALAR)
                ref[e] = all[e];
            else
                free_outs(&all[e]);
        }
    }
    for (int e = 0; e < E_COUNT; e++)
        free_outs(&ref[e]);
    free(saved);
    ob_free(&b);
    free_case(&c);
    return 0;
}
