/* The objective options' double oracle (see options_oracle.h). No library code here. */
#include "options_oracle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compensated_sum.h"

/* The smallest magnitude that rounds to ±inf in fp32: (2 − 2^−24)·2^127 (ties to even go up). */
#define F32_OVERFLOW 0x1.ffffffp+127

double oopt_q(const lsce_options *o, int64_t V, int64_t y, int64_t c)
{
    const double eps = o->smoothing, n = (double)V;
    if (o->prior)
        return (c == y ? 1.0 - eps : 0.0) + eps * (double)o->prior[c];
    switch (o->convention) {
    case LSCE_CONV_OTHERS:
        return c == y ? 1.0 - eps : (V > 1 ? eps / (n - 1.0) : 0.0);
    case LSCE_CONV_SEED:
        return c == y ? 1.0 - eps : eps / n;
    case LSCE_CONV_UNIFORM:
    default:
        return c == y ? 1.0 - eps + eps / n : eps / n;
    }
}

double oopt_omega(const lsce_options *o, int64_t V, int64_t y, int64_t c)
{
    const double w = o->class_weight ? (double)o->class_weight[c] : 1.0;
    const double q = oopt_q(o, V, y, c);
    return w == 0.0 || q == 0.0 ? 0.0 : w * q;
}

double oopt_t(const lsce_options *o, double x)
{
    const double s = o->logit_scale, cap = o->softcap;
    if (isnan(x))
        return x;
    if (cap > 0.0) {
        if (isinf(x))
            return copysign(cap, x);
        return cap * tanh(s * x / cap);
    }
    const double t = s * x;
    return fabs(t) >= F32_OVERFLOW ? copysign(INFINITY, t) : t;
}

double oopt_dtdx(const lsce_options *o, double x)
{
    const double s = o->logit_scale, cap = o->softcap;
    if (cap > 0.0) {
        if (!isfinite(x))
            return isnan(x) ? x : 0.0;
        /* s·(1 − tanh²) = s / cosh²: no cancellation as tanh → ±1 (cosh² overflows to inf → 0) */
        const double ch = cosh(s * x / cap);
        return s / (ch * ch);
    }
    return s;
}

void oopt_eval_row(const lsce_options *o, int64_t V, const double *x, int64_t y, double rho,
                   oopt_row *out, double *t, double *p, double *omega, double *G, double *dx)
{
    double *tt = t ? t : malloc(sizeof(double) * (size_t)V);
    if (!tt)
        abort();
    memset(out, 0, sizeof *out);

    /* t, and the argmax: the first NaN, else the lowest index of the largest value */
    int64_t arg = 0;
    int has_nan = 0, has_pinf = 0, all_ninf = 1;
    for (int64_t c = 0; c < V; c++) {
        tt[c] = oopt_t(o, x[c]);
        if (isnan(tt[c])) {
            if (!has_nan)
                arg = c;
            has_nan = 1;
            continue;
        }
        if (tt[c] == INFINITY)
            has_pinf = 1;
        if (tt[c] != -INFINITY)
            all_ninf = 0;
        if (!has_nan && tt[c] > tt[arg])
            arg = c;
    }
    out->argmax = arg;
    if (omega)
        for (int64_t c = 0; c < V; c++)
            omega[c] = oopt_omega(o, V, y, c);

    if (has_nan || has_pinf || all_ninf) {
        out->loss = out->nll = out->lse = out->conf = out->zterm = NAN;
        out->m = out->d = out->logd = out->H = NAN;
        if (all_ninf && !has_nan && !has_pinf)
            out->lse = -INFINITY;
        for (int64_t c = 0; c < V; c++) {
            if (p)
                p[c] = NAN;
            if (G)
                G[c] = NAN;
            if (dx)
                dx[c] = NAN;
        }
        if (!t)
            free(tt);
        return;
    }
    out->finite = 1;

    const double m = tt[arg];
    csum dsum = {0, 0};
    for (int64_t c = 0; c < V; c++)
        csum_add(&dsum, exp(tt[c] - m)); /* exp(−inf) = 0 */
    const double d = csum_get(&dsum), logd = log(d);
    const double lse = m + logd;

    /* H, Ω, the weighted cross-entropy Σ ω_c (−log p_c) and Σ ω_c log q_c */
    csum hsum = {0, 0}, osum = {0, 0}, ce = {0, 0}, kl = {0, 0};
    for (int64_t c = 0; c < V; c++) {
        const double logp = (tt[c] - m) - logd; /* not t − lse: lse rounds log d away at large m */
        const double pc = exp(logp);
        if (p)
            p[c] = pc;
        if (pc > 0.0)
            csum_add(&hsum, -pc * logp);
        const double w = omega ? omega[c] : oopt_omega(o, V, y, c);
        if (w == 0.0)
            continue;
        csum_add(&osum, w);
        csum_add(&ce, -w * logp); /* +inf where t_c = −inf */
        if (o->kl)
            csum_add(&kl, w * log(oopt_q(o, V, y, c)));
    }
    const double H = csum_get(&hsum), Om = csum_get(&osum), z = o->z_loss, beta = o->confidence_penalty;

    csum inner = {0, 0};
    csum_add(&inner, csum_get(&ce));
    if (z != 0.0)
        csum_add(&inner, z * lse * lse);
    if (beta != 0.0)
        csum_add(&inner, -beta * H);
    if (o->kl)
        csum_add(&inner, csum_get(&kl));
    out->loss = rho * csum_get(&inner);
    out->zterm = rho * z * lse * lse;
    out->nll = logd - (tt[y] - m);
    out->lse = lse;
    out->conf = 1.0 / d; /* exp(t_max − lse) = exp(−log d) */
    out->m = m;
    out->d = d;
    out->logd = logd;
    out->H = H;
    out->omega_sum = Om;
    out->kl_sum = o->kl ? csum_get(&kl) : 0.0;

    if (G || dx) {
        for (int64_t c = 0; c < V; c++) {
            const double logp = (tt[c] - m) - logd;
            const double pc = exp(logp);
            const double w = omega ? omega[c] : oopt_omega(o, V, y, c);
            double gc = Om * pc - w;
            if (z != 0.0)
                gc += 2.0 * z * lse * pc;
            if (beta != 0.0 && pc > 0.0)
                gc += beta * pc * (logp + H);
            gc *= rho;
            if (G)
                G[c] = gc;
            if (dx) {
                const double J = oopt_dtdx(o, x[c]);
                dx[c] = J == 0.0 ? 0.0 : gc * J;
            }
        }
    }
    if (!t)
        free(tt);
}

double oopt_row_loss(const lsce_options *o, int64_t V, const double *x, int64_t y, double rho)
{
    oopt_row r;
    oopt_eval_row(o, V, x, y, rho, &r, NULL, NULL, NULL, NULL, NULL);
    return r.loss;
}

static double row_weight(const lsce_options *o, int64_t r)
{
    return o->row_weight ? (double)o->row_weight[r] : 1.0;
}

static double target_weight(const lsce_options *o, int64_t y)
{
    return o->class_weight ? (double)o->class_weight[y] : 1.0;
}

void oopt_batch_free(oopt_batch *b)
{
    free(b->row);
    free(b->scale);
    free(b->rho);
    free(b->kept);
    free(b->t);
    free(b->p);
    free(b->omega);
    free(b->G);
    free(b->J);
    free(b->grad);
    free(b->bins);
    memset(b, 0, sizeof *b);
}

int oopt_eval_batch(const lsce_options *o, int64_t rows, int64_t V, const double *x,
                    const int64_t *targets, const float *grad_output, int want_detail,
                    oopt_batch *out)
{
    memset(out, 0, sizeof *out);
    out->rows = rows;
    out->vocab = V;
    const size_t n = rows > 0 ? (size_t)rows : 1, nv = n * (size_t)V;
    out->row = calloc(n, sizeof(oopt_row));
    out->scale = calloc(n, sizeof(double));
    out->rho = calloc(n, sizeof(double));
    out->kept = calloc(n, sizeof(int));
    out->grad = calloc(nv, sizeof(double));
    int ok = out->row && out->scale && out->rho && out->kept && out->grad;
    if (want_detail) {
        out->t = calloc(nv, sizeof(double));
        out->p = calloc(nv, sizeof(double));
        out->omega = calloc(nv, sizeof(double));
        out->G = calloc(nv, sizeof(double));
        out->J = calloc(nv, sizeof(double));
        ok = ok && out->t && out->p && out->omega && out->G && out->J;
    }
    out->n_bins = o->calibration_bins > 0 ? o->calibration_bins : 0;
    if (out->n_bins) {
        out->bins = calloc((size_t)out->n_bins, sizeof(lsce_calibration_bin));
        ok = ok && out->bins;
    }
    if (!ok) {
        oopt_batch_free(out);
        return -1;
    }

    /* D = Σ_kept ρ_r·w_{y_r} */
    csum D = {0, 0};
    for (int64_t r = 0; r < rows; r++) {
        out->kept[r] = targets[r] != o->ignore_index;
        out->rho[r] = row_weight(o, r);
        if (out->kept[r])
            csum_add(&D, out->rho[r] * target_weight(o, targets[r]));
    }
    const double den = csum_get(&D);
    const double go0 = grad_output ? (double)grad_output[0] : 1.0;

    csum loss = {0, 0}, nll = {0, 0}, zs = {0, 0};
    int64_t kept = 0, correct = 0;
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * (size_t)V;
        const size_t off = (size_t)r * (size_t)V;
        double *t = want_detail ? out->t + off : NULL;
        double *p = want_detail ? out->p + off : NULL;
        double *om = want_detail ? out->omega + off : NULL;
        double *G = want_detail ? out->G + off : NULL;
        oopt_row *row = &out->row[r];
        if (!out->kept[r]) {
            /* any class as the target: only lse, argmax and conf are reported */
            oopt_eval_row(o, V, xr, 0, out->rho[r], row, t, p, NULL, NULL, NULL);
            row->loss = row->nll = row->zterm = 0.0;
            if (want_detail)
                for (int64_t c = 0; c < V; c++)
                    out->J[off + (size_t)c] = oopt_dtdx(o, xr[c]);
            continue; /* ω, G and the gradient stay 0 */
        }
        const int64_t y = targets[r];
        oopt_eval_row(o, V, xr, y, out->rho[r], row, t, p, om, G, out->grad + off);
        double g = 1.0;
        switch (o->reduction) {
        case LSCE_REDUCTION_MEAN: g = den != 0.0 ? go0 / den : 0.0; break;
        case LSCE_REDUCTION_SUM: g = go0; break;
        case LSCE_REDUCTION_NONE: g = grad_output ? (double)grad_output[r] : 1.0; break;
        }
        out->scale[r] = g;
        for (int64_t c = 0; c < V; c++) {
            double *gc = &out->grad[off + (size_t)c];
            *gc = (g == 0.0 && !isnan(*gc)) ? 0.0 : *gc * g;
            if (want_detail)
                out->J[off + (size_t)c] = oopt_dtdx(o, xr[c]);
        }
        kept++;
        correct += row->argmax == y;
        csum_add(&loss, row->loss);
        csum_add(&nll, row->nll);
        csum_add(&zs, row->zterm);
        if (out->n_bins && isfinite(row->conf)) {
            const int B = out->n_bins;
            double fb = floor(row->conf * (double)B);
            const int b = fb >= (double)(B - 1) ? B - 1 : (int)fb;
            out->bins[b].count += 1.0;
            out->bins[b].sum_confidence += row->conf;
            out->bins[b].sum_correct += row->argmax == y ? 1.0 : 0.0;
        }
    }
    out->result.n_tokens = kept;
    out->result.n_correct = correct;
    out->result.denominator = den;
    out->result.nll_sum = csum_get(&nll);
    out->result.z_sum = csum_get(&zs);
    if (o->reduction == LSCE_REDUCTION_MEAN)
        out->result.loss = den != 0.0 ? csum_get(&loss) / den : 0.0;
    else
        out->result.loss = csum_get(&loss);
    return 0;
}

double oopt_batch_loss(const lsce_options *o, int64_t rows, int64_t V, const double *x,
                       const int64_t *targets)
{
    csum D = {0, 0}, loss = {0, 0};
    for (int64_t r = 0; r < rows; r++) {
        if (targets[r] == o->ignore_index)
            continue;
        const double rho = row_weight(o, r);
        csum_add(&D, rho * target_weight(o, targets[r]));
        csum_add(&loss, oopt_row_loss(o, V, x + (size_t)r * (size_t)V, targets[r], rho));
    }
    if (o->reduction != LSCE_REDUCTION_MEAN)
        return csum_get(&loss);
    return csum_get(&D) != 0.0 ? csum_get(&loss) / csum_get(&D) : 0.0;
}

double oopt_ece(const lsce_calibration_bin *bins, int n_bins)
{
    double n = 0.0;
    for (int b = 0; b < n_bins; b++)
        n += bins[b].count;
    if (!(n > 0.0))
        return 0.0;
    csum e = {0, 0};
    for (int b = 0; b < n_bins; b++) {
        if (!(bins[b].count > 0.0))
            continue;
        const double acc = bins[b].sum_correct / bins[b].count;
        const double conf = bins[b].sum_confidence / bins[b].count;
        csum_add(&e, bins[b].count / n * fabs(acc - conf));
    }
    return csum_get(&e);
}

/* bf16: the top half of an fp32. f16: sign, 5 exponent bits (bias 15), 10 fraction bits. */
static double decode16(uint16_t h, lsce_dtype dt)
{
    if (dt == LSCE_DTYPE_BF16) {
        const uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return (double)f;
    }
    const int e = (h >> 10) & 0x1f, frac = h & 0x3ff;
    double v;
    if (e == 0x1f)
        v = frac ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp((double)frac, -24);
    else
        v = ldexp((double)(frac | 0x400), e - 25);
    return (h & 0x8000u) ? -v : v;
}

void oopt_upcast(const void *logits, lsce_dtype dt, int64_t rows, int64_t V, int64_t stride,
                 double *out)
{
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < V; c++) {
            const size_t i = (size_t)(r * stride + c);
            double v;
            if (dt == LSCE_DTYPE_F32) {
                float f;
                memcpy(&f, (const char *)logits + 4 * i, sizeof f);
                v = (double)f;
            } else {
                uint16_t h;
                memcpy(&h, (const char *)logits + 2 * i, sizeof h);
                v = decode16(h, dt);
            }
            out[(size_t)r * (size_t)V + (size_t)c] = v;
        }
    }
}
