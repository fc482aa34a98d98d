/*
 * Tolerances of the options fuzz target (see options_bounds.h). No library code here.
 *
 * ---- DERIVATION --------------------------------------------------------------------------------
 * The target compares every SIMD variant with the scalar reference variant. lsce.h's accuracy
 * statements hold for EVERY variant against the exact value, so two variants differ by at most
 * the sum of their bounds: |simd − scalar| ≤ B_simd + B_scalar = 2·B (one formula B for both,
 * evaluated at this file's double estimate of the exact values), times SAFE = 1.25 for the second-
 * order products the first-order statements drop. u = 2^−24. Per row (lsce.h's notation):
 * t_c, m = max t, d = Σ e^{t_c − m}, lse, p_c, lp_c = log p_c, H = −Σ p lp, E_t = Σ p (m − t),
 * ω_c = w_c·q_c, Ω = Σ ω, ρ, z, β, g the reduction's scale, J_c = ∂t_c/∂x_c,
 * G_c = ∂L/∂t_c = Ω p_c − ω_c + 2z·lse·p_c + β p_c (lp_c + H)  (loss = ρ·L).
 *
 *  t   lsce.h: all variants form t with the same fp32 operations; t = fl(s·x) is one IEEE product
 *      of the same operands everywhere (and this file computes that very product), so τ_c = 0;
 *      softcap: tanh is each variant's own, δ_t ≤ 6u: τ_c = 6u·|t_c| + 2^−147 (the absolute part
 *      for a subnormal t), t here = c·tanh of the variants' shared fp32 argument fl(k·x).
 *      λ = Σ p_c τ_c bounds t's effect on lse (∂lse/∂t_c = p_c), τ_c + λ its effect on lp_c.
 *  log d   "nll likewise with A = 1" at t_y = m: |Δ log d| ≤ δ = 2.6e-6 + 1.3e-6·log d + u·E_t
 *      (the last: each exp argument t − m rounded once, u|t − m|, p-weighted: ≤ u·log V, which
 *      the plain statement absorbs; written out because options make t − m large).
 *  lse    B_lse = δ + λ + u|lse| (fp32 output). nll: 2.6e-6 + 1.3e-6·|nll| + τ_y + λ.
 *  loss   lsce.h's row bound 2.6e-6·A + 1.3e-6·|loss| with A → Ω; its relative part is the one-
 *      signed row sums' relative error, which with options applies to each combined term's size
 *      M = Ω log d + S_ω + K + z·lse² + β(H + log d), S_ω = Σ β_c (m − t_c) + |α|(m − t_y) (the
 *      lane sum weights the target by its off-target β_y, the driver adds α = ω_y − β_y in double),
 *      K = Σ|ω log q| (kl): −βH and the kl sum have the other sign, so |loss| alone is too small.
 *      Plus lsce.h's t part δ_t·Σ|t_c ∂L/∂t_c| → Σ |G_c|·τ_c; z part 2z|lse|(δ + λ) + 3u·z·lse²;
 *      β part β·ΔH, ΔH = 2.6e-6(1 + H + E_t) + 2u·Σ p (m − t)² + Σ p_c|lp_c + H|·τ_c
 *      (H = log d − E/d, E and d one-signed sums "like the others", each e·(t − m) with t − m
 *      rounded; ∂H/∂t_c = −p_c(lp_c + H)).  row_loss = ρ·that + u·ρ·M (fp32).
 *      result: Σ of the rows' bounds (/ D for mean: D is computed identically by every variant);
 *      z_sum: Σ ρ z (2|lse|(δ + λ) + 3u·lse²).
 *  grad   lsce.h: 2.6e-6·(max_c|grad_c| + |g|·max(q_y, q_c)) with g → |gρ|J_c, q → ω; "each p_c a
 *      relative ≤ 2δ_t·max|t|", sharpened to ψ_c = expm1(τ_c + λ + δ + u|t_c − m| + 1.65e-7)
 *      (t part, d, the exp argument's rounding and the exp, lsce.h's figures) on the p-proportional
 *      part P_c = p_c(Ω + 2z|lse| + β(|lp_c| + H + 1)); the z coefficient's lse: 2z·p_c(δ + λ); the
 *      β term p_c(lp_c + H): β p_c(ΔH + τ_c + λ + u|t_c − m|). Softcap chain rule: + 10u·|grad_c|
 *      (lsce.h), else 2u (s folded into fp32 coefficients). lsce_backward: p from the saved fp32
 *      lse, lsce.h's "+ |lse|·u": the saved value's whole error B_lse replaces δ + λ in ψ and in
 *      the z term. Exponentials below 2^−126 may flush (lsce.h): + |gρ|·s·(4|G_c| + Ω + 2z|lse|
 *      + β(H + |log d| + 105) + 1)·2^−126 (p·|t − m| ≤ 105·e there; v = 1 − |tanh| flushes alike)
 *      + 2^−147·(1 + 2s) (subnormal coefficients). A 16-bit gradient: + half an ulp of its dtype
 *      of |grad| + B per variant (the target adds it).
 *  calibration  conf = 1/d = e^{m − lse}: B_conf = conf·expm1(τ_max + λ + δ); a row whose
 *      [conf ± SAFE·B_conf] holds a bin edge k/B may land in either bin.
 *  argmax (softcap only; otherwise every variant sees the same t): a class c ≠ argmax with
 *      another fp32 argument and t_c + τ_c ≥ t_max − τ_max may win in one variant.
 * Rows this cannot bound, skipped by the target (unless LSCE_FUZZ_STRICT) and reported:
 *   - lsce.h "Range": the SIMD lane sums of v_c·(t_c − m) (v the class factor, 1 without one)
 *     run in fp32: a row with max v_c·(m − t_c) or spread above FLT_MAX/128 may read +inf —
 *     the loss (only with κ ≠ 0) is not compared;
 *   - an fp32 gradient coefficient above FLT_MAX/16: inf·0 (a flushed exponential) vs inf·tiny
 *     gives NaN in one variant and inf in another — the gradient is not compared.
 */
#include "options_bounds.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U 0x1p-24
#define ABS_L 2.6e-6   /* lsce.h: the loss's absolute term (× A), the gradient's factor */
#define REL_L 1.3e-6   /* lsce.h: the loss's relative term */
#define EXP_E 1.65e-7  /* lsce.h: the SIMD exp's relative error */
#define FLUSH 0x1p-126
#define TINY 0x1p-147
#define SAFE 1.25

static double mul0(double a, double b) { return a == 0.0 || b == 0.0 ? 0.0 : a * b; }

/* q_c of a row with target y (lsce.h's table, or the prior). */
static double q_of(const lsce_options *o, int64_t V, int64_t y, int64_t c)
{
    const double eps = o->smoothing, n = (double)V;
    if (o->prior)
        return (c == y ? 1.0 - eps : 0.0) + eps * (double)o->prior[c];
    switch (o->convention) {
    case LSCE_CONV_OTHERS: return c == y ? 1.0 - eps : (V > 1 ? eps / (n - 1.0) : 0.0);
    case LSCE_CONV_SEED: return c == y ? 1.0 - eps : eps / n;
    default: return c == y ? 1.0 - eps + eps / n : eps / n;
    }
}

static double w_of(const lsce_options *o, int64_t c)
{
    return o->class_weight ? (double)o->class_weight[c] : 1.0;
}

/* The reduction's scale g of row r (without ρ). */
static double g_of(const ob_input *in, double D, int64_t r)
{
    const double go0 = in->go ? (double)in->go[0] : 1.0;
    switch (in->o->reduction) {
    case LSCE_REDUCTION_MEAN: return D > 0.0 ? go0 / D : 0.0;
    case LSCE_REDUCTION_SUM: return go0;
    default: return in->go ? (double)in->go[r] : 1.0;
    }
}

static int bin_of(double conf, int B)
{
    const double f = floor(conf * B);
    return f < 0.0 ? 0 : f > B - 1 ? B - 1 : (int)f;
}

/* Row r into b (t, tau, J, arg: V elements of scratch each). */
static void eval_row(const ob_input *in, int64_t r, int strict, ob_bounds *b, double *t,
                     double *tau, double *J, float *arg)
{
    const lsce_options *o = in->o;
    const int64_t V = in->V, y = in->y[r];
    const float *x = in->xf + r * in->ls;
    ob_row *row = &b->row[r];
    double *grad = b->grad + r * V, *bg = b->b_grad + r * V, *bb = b->b_grad_bwd + r * V;
    const int softcap = o->softcap > 0.0;
    const double s = o->logit_scale;
    const float s_f = (float)s, c_f = (float)o->softcap;
    const float k_f = softcap ? (float)(s / o->softcap) : 0.0f;
    int bad = 0, any = 0;
    for (int64_t c = 0; c < V; c++) {
        tau[c] = 0.0;
        J[c] = s;
        if (softcap) {
            arg[c] = k_f * x[c]; /* the fp32 argument every variant forms */
            t[c] = isnan(arg[c]) ? NAN : (double)c_f * tanh((double)arg[c]);
            tau[c] = 6.0 * U * fabs(t[c]) + TINY;
            const double e = exp(-2.0 * fabs((double)arg[c])); /* s·(1 − tanh²), 0 at ±inf */
            J[c] = s * 4.0 * e / ((1.0 + e) * (1.0 + e));
        } else {
            t[c] = s == 1.0 ? (double)x[c] : (double)(s_f * x[c]);
        }
        bad |= isnan(t[c]) || t[c] == INFINITY;
        any |= t[c] > -INFINITY;
    }
    row->kept = y != o->ignore_index;
    row->finite = !bad && any;
    row->argmax = 0;
    for (int64_t c = 0, nan = 0; c < V; c++) { /* torch.argmax: a NaN above all, else first max */
        if (isnan(t[c]) && !nan++)
            row->argmax = c;
        if (!nan && t[c] > t[row->argmax])
            row->argmax = c;
    }
    memset(grad, 0, (size_t)V * sizeof *grad);
    memset(bg, 0, (size_t)V * sizeof *bg);
    memset(bb, 0, (size_t)V * sizeof *bb);
    if (!row->finite) { /* only NaN / inf classes are compared */
        row->b_loss = row->b_lse = row->b_nll = row->b_z = row->b_conf = INFINITY;
        for (int64_t c = 0; c < V && row->kept; c++)
            bg[c] = bb[c] = INFINITY;
        return;
    }
    double m = -INFINITY, lo = INFINITY, hi = -INFINITY;
    int64_t cm = 0;
    for (int64_t c = 0; c < V; c++) {
        if (t[c] > m) {
            m = t[c];
            cm = c;
        }
        if (isfinite(t[c])) {
            lo = fmin(lo, t[c]);
            hi = fmax(hi, t[c]);
        }
    }
    /* d − 1 without the 1: the terms below the max would vanish in 1 + 1e-20, and with them a
     * tiny lse whose z·lse² the library reports (z_sum) to full relative precision */
    double d_minus_1 = -1.0;
    for (int64_t c = 0; c < V; c++)
        if (t[c] == m)
            d_minus_1 += 1.0;
    for (int64_t c = 0; c < V; c++)
        if (t[c] != m)
            d_minus_1 += exp(t[c] - m);
    const double d = 1.0 + d_minus_1, logd = log1p(d_minus_1), lse = m + logd;
    double H = 0.0, Et = 0.0, lam = 0.0, Q2 = 0.0;
    for (int64_t c = 0; c < V; c++) {
        const double p = exp(t[c] - m) / d;
        if (p > 0.0) {
            H -= p * ((t[c] - m) - logd);
            Et += p * (m - t[c]);
            Q2 += p * (m - t[c]) * (m - t[c]);
            lam += p * tau[c];
        }
    }
    const double delta = ABS_L + REL_L * logd + U * Et;
    row->b_lse = delta + lam + U * fabs(lse);
    if (!row->kept) {
        row->b_loss = row->b_nll = row->b_z = row->b_conf = 0.0;
        return;
    }

    /* weights: ω_c, the off-target part β_c (the lane sums' weight), α = ω_y − β_y */
    const double z = o->z_loss, beta = o->confidence_penalty, rho =
        o->row_weight ? (double)o->row_weight[r] : 1.0;
    double Om = 0.0, K = 0.0, S = 0.0, vmax_gap = 0.0, vmax = 0.0;
    const double kappa = o->prior ? o->smoothing : q_of(o, V, -1, 0); /* b of the convention */
    const double beta_y = mul0(w_of(o, y), q_of(o, V, -1, y));
    const double omega_y = mul0(w_of(o, y), q_of(o, V, y, y)), alpha = omega_y - beta_y;
    for (int64_t c = 0; c < V; c++) {
        const double q = q_of(o, V, y, c), om = mul0(w_of(o, c), q);
        const double off = c == y ? beta_y : om;
        Om += om;
        if (o->kl && om > 0.0)
            K += fabs(om * log(q));
        if (off > 0.0)
            S += off * (m - t[c]);
        const double v = o->prior ? (double)o->prior[c] * w_of(o, c) : w_of(o, c);
        vmax = fmax(vmax, v);
        if (v > 0.0 && isfinite(t[c]))
            vmax_gap = fmax(vmax_gap, v * (m - t[c]));
    }
    if (alpha != 0.0)
        S += fabs(alpha) * (m - t[y]);
    const double M = Om * logd + S + K + z * lse * lse + beta * (H + logd);
    const double g = g_of(in, b->denominator, r), G = g * rho;
    row->scale = G;

    /* gradient estimate and the loss's t part */
    double gmax = 0.0, t_part = 0.0, dH_t = 0.0;
    for (int64_t c = 0; c < V; c++) {
        const double p = exp(t[c] - m) / d, lp = (t[c] - m) - logd;
        const double om = mul0(w_of(o, c), q_of(o, V, y, c));
        const double Gc = Om * p - om + (p > 0.0 ? 2.0 * z * lse * p + beta * p * (lp + H) : 0.0);
        grad[c] = G * Gc * J[c];
        gmax = fmax(gmax, fabs(grad[c]));
        t_part += mul0(fabs(Gc), tau[c]);
        if (p > 0.0)
            dH_t += p * fabs(lp + H) * tau[c];
    }
    const double dH = ABS_L * (1.0 + H + Et) + 2.0 * U * Q2 + dH_t;
    const double inner = ABS_L * Om + REL_L * M + t_part +
                         z * (2.0 * fabs(lse) * (delta + lam) + 3.0 * U * lse * lse) + beta * dH;
    row->b_loss = mul0(rho, inner + U * M); /* ρ = 0: every variant 0 (or NaN: 0·inf) */
    row->b_nll = ABS_L + REL_L * (logd - (t[y] - m)) + tau[y] + lam;
    row->b_z = mul0(rho * z, 2.0 * fabs(lse) * (delta + lam) + 3.0 * U * lse * lse);
    row->skip_loss = !strict && kappa != 0.0 &&
                     (hi - lo > FLT_MAX / 128.0 || vmax_gap > FLT_MAX / 128.0);
    const double fold = softcap ? 1.0 : s;
    const double coef = fabs(G) * fold * (Om + 2.0 * z * fabs(lse) + beta * (hi - lo + Et + 1.0) +
                                          kappa * vmax);
    row->skip_grad = !strict && !(coef * fmax(s, 1.0) * 16.0 <= FLT_MAX);

    const double jrel = softcap ? 10.0 * U : 2.0 * U;
    for (int64_t c = 0; c < V; c++) {
        const double p = exp(t[c] - m) / d, lp = (t[c] - m) - logd;
        const double om = mul0(w_of(o, c), q_of(o, V, y, c));
        const double Jc = J[c];
        const double Gc = Om * p - om + (p > 0.0 ? 2.0 * z * lse * p + beta * p * (lp + H) : 0.0);
        /* G = 0 (grad_output, ρ or D) makes every variant write exact zeros: mul0 */
        const double common = ABS_L * gmax + jrel * fabs(grad[c]) + TINY * (1.0 + 2.0 * s) +
                              mul0(fabs(G) * s, FLUSH * (4.0 * fabs(Gc) + Om + 2.0 * z * fabs(lse) +
                                                         beta * (H + fabs(logd) + 105.0) + 1.0));
        double fused = ABS_L * fmax(omega_y, om), bwd = fused;
        if (p > 0.0) {
            const double P = p * (Om + 2.0 * z * fabs(lse) + beta * (fabs(lp) + H + 1.0));
            const double arg_err = U * fabs(t[c] - m) + EXP_E;
            const double psi_f = expm1(tau[c] + lam + delta + arg_err);
            const double psi_b = expm1(tau[c] + row->b_lse + U * fabs(t[c] - lse) + EXP_E);
            const double cp = beta * p * (dH + tau[c] + lam + U * fabs(t[c] - m));
            fused += mul0(P, psi_f) + 2.0 * z * p * (delta + lam) + cp; /* P = 0 when Ω = 0 */
            bwd += mul0(P, psi_b) + mul0(2.0 * z * p, row->b_lse) + cp;
        }
        bg[c] = mul0(fabs(G) * Jc, fused) + common;
        bb[c] = mul0(fabs(G) * Jc, bwd) + common;
    }

    /* argmax and calibration */
    double tau_max = tau[cm];
    row->amb = 0;
    for (int64_t c = 0; softcap && c < V; c++)
        if (c != cm && arg[c] != arg[cm] && t[c] + tau[c] >= m - tau_max)
            row->amb = 1;
    const double conf = 1.0 / d;
    row->b_conf = conf * expm1(tau_max + lam + delta);
    const int B = o->calibration_bins;
    if (B > 0) {
        const double w = SAFE * row->b_conf + 1e-12 * conf;
        row->bin_lo = bin_of(conf - w, B);
        row->bin_hi = bin_of(conf + w, B);
        row->edge = row->bin_lo != row->bin_hi;
    }
}

int ob_prepare(const ob_input *in, int strict, ob_bounds *b)
{
    const int64_t V = in->V, n = in->rows * V;
    memset(b, 0, sizeof *b);
    b->rows = in->rows;
    b->V = V;
    b->safe = SAFE;
    b->grad = malloc((size_t)(n ? n : 1) * sizeof(double));
    b->b_grad = malloc((size_t)(n ? n : 1) * sizeof(double));
    b->b_grad_bwd = malloc((size_t)(n ? n : 1) * sizeof(double));
    double *t = malloc((size_t)V * sizeof(double)), *tau = malloc((size_t)V * sizeof(double));
    double *J = malloc((size_t)V * sizeof(double));
    float *arg = malloc((size_t)V * sizeof(float));
    if (!b->grad || !b->b_grad || !b->b_grad_bwd || !t || !tau || !J || !arg) {
        free(t);
        free(tau);
        free(J);
        free(arg);
        ob_free(b);
        return -1;
    }
    for (int64_t r = 0; r < in->rows; r++) /* as lsce.c sums it */
        if (in->y[r] != in->o->ignore_index)
            b->denominator += (in->o->row_weight ? (double)in->o->row_weight[r] : 1.0) *
                              w_of(in->o, in->y[r]);
    for (int64_t r = 0; r < in->rows; r++) {
        eval_row(in, r, strict, b, t, tau, J, arg);
        const ob_row *row = &b->row[r];
        b->kept += row->kept;
        b->finite_kept += row->kept && row->finite;
        b->amb_kept += row->kept && row->amb;
        b->correct_lo += row->kept && !row->amb && row->argmax == in->y[r];
        b->correct_hi += row->kept && (row->amb || row->argmax == in->y[r]);
    }
    free(t);
    free(tau);
    free(J);
    free(arg);
    return 0;
}

void ob_free(ob_bounds *b)
{
    free(b->grad);
    free(b->b_grad);
    free(b->b_grad_bwd);
    b->grad = b->b_grad = b->b_grad_bwd = NULL;
}
