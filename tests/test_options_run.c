/*
 * The objective-options suite's cases and their run (tests/test_options.h): data, guarded buffers,
 * every variant through lsce_forward_backward (out of place and in place), lsce_forward (into the
 * same calibration bins) and lsce_backward from the saved row_lse (out of place and in place), with
 * the guard, input, in-place and calibration checks. The accuracy checks are
 * tests/test_options_bounds.c.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half_ref.h"
#include "test_options.h"

/* ---- guarded buffers ------------------------------------------------------------------------ */

void *gm_alloc(gmem *g, size_t bytes, size_t offset, unsigned char fill)
{
    g->bytes = bytes;
    g->pre = OGUARD + offset;
    g->raw_bytes = (g->pre + bytes + OGUARD + 63) & ~(size_t)63;
    g->raw = aligned_alloc(64, g->raw_bytes);
    cr_assert(g->raw, "out of memory (%zu bytes)", g->raw_bytes);
    memset(g->raw, fill, g->raw_bytes);
    g->p = g->raw + g->pre;
    return g->p;
}

void gm_free(gmem *g)
{
    free(g->raw);
    memset(g, 0, sizeof *g);
}

int gm_untouched(const gmem *g, int64_t rows, int64_t V, int64_t stride, size_t elem,
                 unsigned char fill)
{
    for (size_t i = 0; i < g->pre; i++)
        if (g->raw[i] != fill)
            return 0;
    for (size_t i = g->pre + g->bytes; i < g->raw_bytes; i++)
        if (g->raw[i] != fill)
            return 0;
    for (int64_t r = 0; r + 1 < rows; r++) {
        const unsigned char *pad = (const unsigned char *)g->p + (size_t)(r * stride + V) * elem;
        for (size_t i = 0; i < (size_t)(stride - V) * elem; i++)
            if (pad[i] != fill)
                return 0;
    }
    return 1;
}

double elem_value(const void *p, lsce_dtype d, size_t i)
{
    if (d == LSCE_DTYPE_F32) {
        float f;
        memcpy(&f, (const char *)p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)p + 2 * i, 2);
    return ref_decode(h, d);
}

/* ---- cases ---------------------------------------------------------------------------------- */

static const char *const dist_name[O_DIST_COUNT] = {"normal",    "spread200", "offset1e4",
                                                    "integer",   "confident", "lse_edge"};

void describe(const ocase *c, char *buf, size_t n)
{
    const lsce_options *o = &c->opts;
    static const char *const dtn[] = {"f32", "bf16", "f16"};
    snprintf(buf, n,
             "rows=%" PRId64 " V=%" PRId64 " lstride=%" PRId64 " gstride=%" PRId64
             " off(l,g,o)=%d,%d,%d dtypes=%s/%s dist=%s k=%g ninf=%g ignore=%g sat=%d "
             "cw=%d(zero %g%s) prior=%d(zero %g) rw=%d(zero %g) eps=%g conv=%d kl=%d red=%d "
             "z=%g s=%.17g cap=%g beta=%g B=%d go=%d inplace=%d (LSCE_TEST_SEED=0x%" PRIx64 ")",
             c->rows, c->V, c->lstride, c->gstride, c->loff, c->goff, c->ooff, dtn[c->ldt],
             dtn[c->gdt], dist_name[c->dist], c->k, c->ninf, c->ignore, c->sat, c->cw, c->cw_zero,
             c->cw_ninf ? ", -inf there" : "", c->prior, c->prior_zero, c->rw, c->rw_zero,
             o->smoothing, (int)o->convention, o->kl, (int)o->reduction, o->z_loss, o->logit_scale,
             o->softcap, o->confidence_penalty, o->calibration_bins, c->go, c->inplace, test_seed());
}

void ofail(octx *x, const char *fmt, ...)
{
    x->failures++;
    if (x->printed >= 10)
        return;
    if (x->printed == 0) {
        char buf[768];
        describe(x->kc, buf, sizeof buf);
        fprintf(stderr, "  case %s#%d: %s\n", x->test, x->case_no, buf);
    }
    x->printed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("  FAIL ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

test_rng rng_for(const char *name)
{
    test_rng r;
    rng_init(&r, test_seed(), test_hash(name));
    return r;
}

void ocap_free(ocap *c)
{
    free(c->row_loss);
    free(c->row_loss_tol);
    free(c->grad);
    free(c->grad_tol);
    c->row_loss = c->row_loss_tol = c->grad = c->grad_tol = NULL;
}

/* ---- data ----------------------------------------------------------------------------------- */

static double draw(test_rng *rng, const ocase *c)
{
    switch (c->dist) {
    case O_NORMAL: return c->k * rng_normal(rng);
    case O_SPREAD: return 400.0 * rng_uniform(rng) - 200.0;
    case O_OFFSET: return 1e4 + (c->k > 4.0 ? 4.0 : c->k) * rng_normal(rng);
    case O_INT: return nearbyint(2.0 * rng_normal(rng));
    case O_CONFIDENT: return rng_normal(rng);
    case O_LSE_EDGE: /* x0 − (7..9)/s; make_data puts x0 itself at one class */
        return -(7.0 + 2.0 * rng_uniform(rng)) / c->opts.logit_scale;
    case O_DIST_COUNT: break;
    }
    return 0.0;
}

static void store(void *p, lsce_dtype d, size_t i, double v)
{
    if (d == LSCE_DTYPE_F32) {
        const float f = (float)v;
        memcpy((char *)p + 4 * i, &f, 4);
    } else {
        const uint16_t h = ref_f32_to_16((float)v, d);
        memcpy((char *)p + 2 * i, &h, 2);
    }
}

static float *weights(test_rng *rng, int64_t n, double lo, double hi, double zero)
{
    float *w = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(w);
    int any = 0;
    for (int64_t i = 0; i < n; i++) {
        w[i] = rng_uniform(rng) < zero ? 0.0f : (float)(lo + (hi - lo) * rng_uniform(rng));
        any |= w[i] > 0.0f;
    }
    if (!any && n > 0 && zero < 1.0)
        w[rng_range(rng, 0, n)] = 1.0f;
    return w;
}

static void make_data(octx *x, test_rng *rng)
{
    const ocase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const size_t n = rows ? (size_t)rows : 1, le = dt_bytes(c->ldt);
    x->o = c->opts;
    x->o.logits_dtype = c->ldt;
    x->o.grad_dtype = c->gdt;
    if (c->cw)
        x->o.class_weight = x->cw = weights(rng, V, 0.05, 3.0, c->cw_zero);
    if (c->prior == 2) {
        x->prior = malloc(sizeof(float) * (size_t)V);
        cr_assert(x->prior);
        for (int64_t j = 0; j < V; j++)
            x->prior[j] = (float)(1.0 / (double)V);
        x->o.prior = x->prior;
    } else if (c->prior) {
        double *raw = malloc(sizeof(double) * (size_t)V), s = 0.0;
        x->prior = malloc(sizeof(float) * (size_t)V);
        cr_assert(raw && x->prior);
        for (int64_t j = 0; j < V; j++) {
            const double u = rng_uniform(rng);
            raw[j] = rng_uniform(rng) < c->prior_zero ? 0.0 : u * u;
            s += raw[j];
        }
        if (s == 0.0) {
            raw[0] = 1.0;
            s = 1.0;
        }
        for (int64_t j = 0; j < V; j++)
            x->prior[j] = (float)(raw[j] / s);
        free(raw);
        x->o.prior = x->prior;
    }
    if (c->rw)
        x->o.row_weight = x->rw = weights(rng, rows, 0.0, 2.0, c->rw_zero);

    gm_alloc(&x->logits, mat_elems(rows, V, c->lstride) * le, (size_t)c->loff * le, 0xFF);
    x->targets = malloc(sizeof(int64_t) * n);
    double *row = malloc(sizeof(double) * (size_t)V);
    cr_assert(x->targets && row);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < V; j++)
            row[j] = draw(rng, c);
        if (c->dist == O_LSE_EDGE) {
            const double x0 = (double)(float)(8e3 + 4e3 * rng_uniform(rng));
            for (int64_t j = 0; j < V; j++)
                row[j] += x0;
            row[rng_range(rng, 0, V)] = x0;
        }
        const int64_t y = rng_range(rng, 0, V);
        const int kept = !(rng_uniform(rng) < c->ignore);
        if (c->dist == O_CONFIDENT)
            row[y] += 8.0 + 32.0 * rng_uniform(rng);
        const double cap = c->opts.softcap;
        if (c->sat) {
            static const double big[] = {1e30, 3e38, INFINITY};
            for (int64_t j = 0; j < V; j++) {
                if (rng_uniform(rng) >= 0.05)
                    continue;
                const int k = (int)rng_range(rng, 0, 4);
                const double v = k == 3 ? 1e4 * cap / c->opts.logit_scale : big[k];
                row[j] = rng_uniform(rng) < 0.5 ? -v : v;
            }
        }
        /* −inf only where it adds no infinity: ω_c = 0 (or softcap, which maps it to −c) */
        int64_t finite = 0;
        for (int64_t j = 0; j < V; j++) {
            const int zero_w = !kept || cap > 0.0 || oopt_omega(&x->o, V, y, j) == 0.0;
            if (zero_w && ((c->cw_ninf && kept && x->cw && x->cw[j] == 0.0f) ||
                           (c->ninf > 0.0 && rng_uniform(rng) < c->ninf)))
                row[j] = -INFINITY;
            finite += row[j] != -INFINITY;
        }
        if (!finite)
            row[rng_range(rng, 0, V)] = draw(rng, c);
        for (int64_t j = 0; j < V; j++)
            store(x->logits.p, c->ldt, (size_t)(r * c->lstride + j), row[j]);
        x->targets[r] = kept ? y : c->opts.ignore_index;
    }
    free(row);
    x->logits_copy = malloc(x->logits.raw_bytes);
    x->targets_copy = malloc(sizeof(int64_t) * n);
    cr_assert(x->logits_copy && x->targets_copy);
    memcpy(x->logits_copy, x->logits.raw, x->logits.raw_bytes);
    memcpy(x->targets_copy, x->targets, sizeof(int64_t) * (size_t)rows);

    x->go = NULL;
    if (c->go) {
        const int64_t ng = c->opts.reduction == LSCE_REDUCTION_NONE ? rows : 1;
        x->go = malloc(sizeof(float) * (size_t)(ng ? ng : 1));
        cr_assert(x->go);
        x->go[0] = 1.0f;
        for (int64_t i = 0; i < ng; i++)
            x->go[i] = rng_uniform(rng) < 0.1 ? 0.0f : (float)(3.0 * rng_normal(rng));
    }
    x->x = malloc(sizeof(double) * n * (size_t)V);
    cr_assert(x->x);
    oopt_upcast(x->logits.p, c->ldt, rows, V, c->lstride, x->x);
}

/* ---- running one variant -------------------------------------------------------------------- */

static int bin_of(double conf, int B)
{
    const double f = floor(conf * (double)B);
    return f < 0.0 ? 0 : (f > (double)(B - 1) ? B - 1 : (int)f);
}

static void init_bins(lsce_calibration_bin *b, int B)
{
    for (int i = 0; i < B; i++) {
        b[i].count = (double)(i % 3);
        b[i].sum_confidence = 0.375 * (double)(i % 3);
        b[i].sum_correct = (double)(i % 3 == 2);
    }
}

static void bins_minus(const lsce_calibration_bin *a, const lsce_calibration_bin *b, int B,
                       lsce_calibration_bin *out)
{
    for (int i = 0; i < B; i++) {
        out[i].count = a[i].count - b[i].count;
        out[i].sum_confidence = a[i].sum_confidence - b[i].sum_confidence;
        out[i].sum_correct = a[i].sum_correct - b[i].sum_correct;
    }
}

static void check_inputs(octx *x, lsce_isa isa, const char *entry)
{
    const ocase *c = x->kc;
    if (memcmp(x->logits.raw, x->logits_copy, x->logits.raw_bytes) != 0)
        ofail(x, "%s %s modified the logits (or their guards/padding)", lsce_isa_to_string(isa), entry);
    if (c->rows && memcmp(x->targets, x->targets_copy, sizeof(int64_t) * (size_t)c->rows) != 0)
        ofail(x, "%s %s modified the targets", lsce_isa_to_string(isa), entry);
}

/* A working copy of the logits for an in-place call (guards and padding included). */
static void *inplace_copy(const octx *x, gmem *w)
{
    *w = x->logits;
    w->raw = aligned_alloc(64, w->raw_bytes);
    cr_assert(w->raw);
    memcpy(w->raw, x->logits_copy, w->raw_bytes);
    w->p = w->raw + w->pre;
    return w->p;
}

/* In place: everything but the rows' first V elements equals the pristine logits, and each
 * gradient element has the bits of the out-of-place one (ref, stride rstride). */
static void check_inplace(octx *x, const char *what, const gmem *w, const void *ref,
                          int64_t rstride)
{
    const ocase *c = x->kc;
    const size_t e = dt_bytes(c->ldt);
    int bad_pad = memcmp(w->raw, x->logits_copy, w->pre) != 0 ||
                  memcmp(w->raw + w->pre + w->bytes, x->logits_copy + w->pre + w->bytes,
                         w->raw_bytes - w->pre - w->bytes) != 0;
    for (int64_t r = 0; r + 1 < c->rows && !bad_pad; r++) {
        const size_t o = w->pre + (size_t)(r * c->lstride + c->V) * e;
        bad_pad = memcmp(w->raw + o, x->logits_copy + o, (size_t)(c->lstride - c->V) * e) != 0;
    }
    if (bad_pad)
        ofail(x, "%s: a guard byte or the padding between rows changed", what);
    for (int64_t r = 0; r < c->rows; r++) {
        const unsigned char *a = (const unsigned char *)w->p + (size_t)(r * c->lstride) * e;
        const unsigned char *b = (const unsigned char *)ref + (size_t)(r * rstride) * e;
        if (memcmp(a, b, (size_t)c->V * e) != 0) {
            ofail(x, "%s: row %" PRId64 " differs from the out-of-place gradient's bits", what, r);
            break;
        }
    }
}

static void capture(octx *x, ocap *cap, const float *rl, const void *grad, int64_t gstride,
                    const lsce_result *res)
{
    const int64_t rows = x->kc->rows, V = x->kc->V;
    const size_t n = rows ? (size_t)rows : 1;
    cap->row_loss = malloc(sizeof(double) * n);
    cap->row_loss_tol = malloc(sizeof(double) * n);
    cap->grad = malloc(sizeof(double) * n * (size_t)V);
    cap->grad_tol = calloc(n * (size_t)V, sizeof(double));
    cr_assert(cap->row_loss && cap->row_loss_tol && cap->grad && cap->grad_tol);
    for (int64_t r = 0; r < rows; r++) {
        cap->row_loss[r] = rl[r];
        cap->row_loss_tol[r] = row_loss_bound(x, r);
        for (int64_t c = 0; c < V; c++)
            cap->grad[(size_t)r * (size_t)V + c] = elem_value(grad, x->kc->gdt, (size_t)(r * gstride + c));
        if (x->ob.kept[r] && x->ob.row[r].finite)
            grad_bounds_row(x, r, NULL, cap->grad_tol + (size_t)r * (size_t)V);
    }
    cap->loss = res->loss;
    cap->loss_tol = result_loss_bound(x);
}

static void run_variant(octx *x, lsce_isa isa, ocap *cap)
{
    const ocase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const size_t ge = dt_bytes(c->gdt), nr = rows ? (size_t)rows : 1;
    const char *name = lsce_isa_to_string(isa);
    lsce_options o = x->o;
    o.isa = isa;
    const int B = o.calibration_bins;
    const size_t bb = sizeof(lsce_calibration_bin) * (size_t)(B ? B : 1);
    const int inplace = c->inplace && c->ldt == c->gdt;
    char what[96];

    gmem gg = {0}, lg = {0}, sg = {0}, bg = {0};
    void *grad = gm_alloc(&gg, mat_elems(rows, V, c->gstride) * ge, (size_t)c->goff * ge, OGUARD_BYTE);
    float *rl = gm_alloc(&lg, nr * 4, (size_t)c->ooff * 4, OGUARD_BYTE);
    float *rs = gm_alloc(&sg, nr * 4, (size_t)((c->ooff + 1) & 3) * 4, OGUARD_BYTE);
    lsce_calibration_bin *bins = B ? gm_alloc(&bg, bb, 8 * (size_t)(c->ooff & 1), OGUARD_BYTE) : NULL;
    lsce_calibration_bin *init = malloc(bb), *after1 = malloc(bb), *delta = malloc(bb);
    cr_assert(init && after1 && delta);
    if (B) {
        init_bins(bins, B);
        memcpy(init, bins, bb);
    }
    o.calibration = bins;

    /* ---- fused, out of place ---- */
    lsce_result res;
    memset(&res, 0xA5, sizeof res);
    lsce_status st = lsce_forward_backward(&o, rows, V, x->logits.p, c->lstride, x->targets, x->go,
                                           grad, c->gstride, rl, rs, &res);
    if (st != LSCE_OK) {
        ofail(x, "%s fused: status %d (%s)", name, (int)st, lsce_strerror(st));
        goto out;
    }
    check_forward(x, isa, "fused", rl, rs, &res);
    check_grad(x, isa, "fused", grad, c->gstride, NULL);
    if (!gm_untouched(&gg, rows, V, c->gstride, ge, OGUARD_BYTE))
        ofail(x, "%s fused: a grad guard byte or padding between rows changed", name);
    if (!gm_untouched(&lg, 1, 1, 1, 4, OGUARD_BYTE) || !gm_untouched(&sg, 1, 1, 1, 4, OGUARD_BYTE))
        ofail(x, "%s fused: a row_loss / row_lse guard byte changed", name);
    check_inputs(x, isa, "fused");
    if (B) {
        if (!gm_untouched(&bg, 1, 1, 1, 1, OGUARD_BYTE))
            ofail(x, "%s fused: a calibration guard byte changed", name);
        memcpy(after1, bins, bb);
        bins_minus(after1, init, B, delta);
        check_bins(x, isa, "fused", delta);
    }
    if (cap)
        capture(x, &cap[isa], rl, grad, c->gstride, &res);

    /* ---- fused, in place: the same bits ---- */
    if (inplace) {
        gmem w;
        void *g2 = inplace_copy(x, &w);
        float *rl2 = malloc(nr * 4), *rs2 = malloc(nr * 4);
        lsce_calibration_bin *b2 = malloc(bb);
        cr_assert(rl2 && rs2 && b2);
        memcpy(b2, init, bb);
        o.calibration = B ? b2 : NULL;
        lsce_result res2;
        st = lsce_forward_backward(&o, rows, V, g2, c->lstride, x->targets, x->go, g2, c->lstride,
                                   rl2, rs2, &res2);
        o.calibration = bins;
        snprintf(what, sizeof what, "%s fused in place", name);
        if (st != LSCE_OK) {
            ofail(x, "%s: status %d", what, (int)st);
        } else {
            check_inplace(x, what, &w, grad, c->gstride);
            if (memcmp(rl2, rl, (size_t)rows * 4) != 0 || memcmp(rs2, rs, (size_t)rows * 4) != 0 ||
                memcmp(&res2, &res, sizeof res) != 0 || (B && memcmp(b2, after1, bb) != 0))
                ofail(x, "%s: row_loss / row_lse / result / bins differ from out of place", what);
        }
        free(w.raw);
        free(rl2);
        free(rs2);
        free(b2);
    }

    /* ---- forward (into the same bins), then backward from its row_lse ---- */
    gmem lf = {0}, sf = {0};
    float *rlf = gm_alloc(&lf, nr * 4, (size_t)((c->ooff + 2) & 3) * 4, OGUARD_BYTE);
    float *rsf = gm_alloc(&sf, nr * 4, (size_t)((c->ooff + 3) & 3) * 4, OGUARD_BYTE);
    memset(&res, 0xA5, sizeof res);
    st = lsce_forward(&o, rows, V, x->logits.p, c->lstride, x->targets, rlf, rsf, &res);
    if (st != LSCE_OK) {
        ofail(x, "%s forward: status %d (%s)", name, (int)st, lsce_strerror(st));
    } else {
        check_forward(x, isa, "forward", rlf, rsf, &res);
        if (!gm_untouched(&lf, 1, 1, 1, 4, OGUARD_BYTE) || !gm_untouched(&sf, 1, 1, 1, 4, OGUARD_BYTE))
            ofail(x, "%s forward: a row_loss / row_lse guard byte changed", name);
        check_inputs(x, isa, "forward");
        if (B) {
            if (!gm_untouched(&bg, 1, 1, 1, 1, OGUARD_BYTE))
                ofail(x, "%s forward: a calibration guard byte changed", name);
            bins_minus(bins, after1, B, delta);
            check_bins(x, isa, "forward (second call into the bins)", delta);
            const double e_lib = lsce_ece(bins, B), e_mine = oopt_ece(bins, B);
            if (!(fabs(e_lib - e_mine) <= 1e-12))
                ofail(x, "%s lsce_ece = %.17g, the definition gives %.17g", name, e_lib, e_mine);
            /* against the oracle's bins (init + 2 calls) when no row may change bins */
            int sure = 1;
            double n = 0.0, dc = 0.0;
            for (int64_t r = 0; r < rows; r++) {
                const double cf = x->ob.row[r].conf, t = x->tol_conf[r];
                if (!x->ob.kept[r] || !isfinite(cf))
                    continue;
                sure &= !(x->amb[r] & 1) && bin_of(cf - t, B) == bin_of(cf + t, B);
                dc += 2.0 * t;
            }
            for (int b = 0; b < B; b++) {
                delta[b] = init[b];
                delta[b].count += 2.0 * x->ob.bins[b].count;
                delta[b].sum_confidence += 2.0 * x->ob.bins[b].sum_confidence;
                delta[b].sum_correct += 2.0 * x->ob.bins[b].sum_correct;
                n += delta[b].count;
            }
            const double e_want = oopt_ece(delta, B);
            if (sure && n > 0 && !(fabs(e_lib - e_want) <= dc / n + 1e-12))
                ofail(x, "%s lsce_ece = %.17g, want %.17g (tol %.3g)", name, e_lib, e_want, dc / n + 1e-12);
        }
    }

    if (st == LSCE_OK) {
        gmem g3 = {0};
        void *gb = gm_alloc(&g3, mat_elems(rows, V, c->gstride) * ge, (size_t)((c->goff + 1) & 3) * ge,
                            OGUARD_BYTE);
        if (B)
            memcpy(after1, bins, bb);
        st = lsce_backward(&o, rows, V, x->logits.p, c->lstride, x->targets, rsf, x->go, gb,
                           c->gstride);
        if (st != LSCE_OK) {
            ofail(x, "%s backward: status %d (%s)", name, (int)st, lsce_strerror(st));
        } else {
            check_grad(x, isa, "backward", gb, c->gstride, rsf);
            if (!gm_untouched(&g3, rows, V, c->gstride, ge, OGUARD_BYTE))
                ofail(x, "%s backward: a grad guard byte or padding between rows changed", name);
            check_inputs(x, isa, "backward");
            if (B && (memcmp(bins, after1, bb) != 0 || !gm_untouched(&bg, 1, 1, 1, 1, OGUARD_BYTE)))
                ofail(x, "%s backward: wrote the calibration bins", name);
            if (inplace) {
                gmem w;
                void *g4 = inplace_copy(x, &w);
                st = lsce_backward(&o, rows, V, g4, c->lstride, x->targets, rsf, x->go, g4,
                                   c->lstride);
                snprintf(what, sizeof what, "%s backward in place", name);
                if (st != LSCE_OK)
                    ofail(x, "%s: status %d", what, (int)st);
                else
                    check_inplace(x, what, &w, gb, c->gstride);
                free(w.raw);
            }
        }
        gm_free(&g3);
    }
    gm_free(&lf);
    gm_free(&sf);
out:
    gm_free(&gg);
    gm_free(&lg);
    gm_free(&sg);
    gm_free(&bg);
    free(init);
    free(after1);
    free(delta);
}

int run_case(const char *test, int case_no, const ocase *kc, test_rng *rng, ocap *cap)
{
    octx x;
    memset(&x, 0, sizeof x);
    x.test = test;
    x.case_no = case_no;
    x.kc = kc;
    make_data(&x, rng);
    cr_assert_eq(oopt_eval_batch(&x.o, kc->rows, kc->V, x.x, x.targets, x.go, 1, &x.ob), 0,
                 "oracle: out of memory");
    bounds_prepare(&x);
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        if (lsce_isa_supported((lsce_isa)isa))
            run_variant(&x, (lsce_isa)isa, cap);
    bounds_free(&x);
    oopt_batch_free(&x.ob);
    gm_free(&x.logits);
    free(x.logits_copy);
    free(x.targets);
    free(x.targets_copy);
    free(x.go);
    free(x.x);
    free(x.cw);
    free(x.prior);
    free(x.rw);
    return x.failures;
}
