/*
 * The error bounds of the objective options, derived below, and the checks that assert them.
 *
 * ---- TOLERANCES (derivation) ----------------------------------------------------------------
 * Extends tests/test_kernels.c's analysis of the plain loss (read it first) to lsce.h's
 * "Objective options". u = 2^−24, DU = 2^−53. Per kept row (all exact quantities from the double
 * oracle, tests/options_oracle.c): t_c (double), m = max t, d = Σ e^{t_c − m}, lse, p_c,
 * lp_c = log p_c, ω_c, Ω = Σ ω_c, H = −Σ p log p, E_t = Σ p_c|t_c − m|,
 * S_ω = Σ_{c≠y} ω_c|t_c − m| + max(ω_y, β_y)·|t_y − m| (β_y = w_y·q_y as if y were not the target:
 * a lane sum over every class weights the target like the others and corrects it by α = ω_y − β_y
 * in double — test_kernels.c's b·|S|, whose S includes the target, is the special case),
 * K = |Σ ω_c log q_c| (kl; every term ≤ 0), G_c = ∂L/∂t_c of the inner loss L (loss = ρ·L),
 * J_c = ∂t_c/∂x_c, ρ the row weight, g the reduction's scale.
 *
 * The library computes t̂_c = t_c + Δt_c in fp32, then the plain kernel's arithmetic on t̂. So
 * error = [F(t̂) − F(t)] (the t part, first order: Σ_c |∂F/∂t_c|·|Δt_c|) + [the kernel's
 * rounding at t̂] (test_kernels.c's model with x replaced by t).
 *
 *  (T) |Δt_c| ≤ τ_c (lsce.h, "objective options"):
 *      s = 1, no softcap: t = x, τ = 0.  s ≠ 1: s rounded to fp32, then the product: τ = 2u|t|.
 *      ±inf (no softcap): exact.  Softcap c: y = fl(fl(s/c)·x) is within 2u of s·x/c, which tanh
 *      does not amplify (b(1 − tanh²b) ≤ tanh b); tanh within TANH_ULPS = 2.25 ulp ≤ 4.5u (lsce.h,
 *      measured by tests/test_tanh.c); c rounded to fp32 and c·tanh rounded: lsce.h's δ_t ≤ 9u,
 *      so τ_c = 9u·|t_c| + 4c·2^−149 (subnormal t),   ±inf logits: τ = 2u·c (fl(c) only).
 *      (fl(fl(s)·x) reaches ~1.7u, beyond one rounding: the lse_edge rows of
 *      options/logit_scale, at s = 1.5·(1 + 0.67u), probe exactly that.)
 *      λ = Σ_c p_c τ_c bounds the t part of lse (∂lse/∂t_c = p_c), and |Δ log p_c| ≤ τ_c + λ.
 *  (K) the kernel at t̂, as test_kernels.c (1)–(2): ε_c = 2^−22 + u|t_c − m| per exponential;
 *      γ = γ_20 = 20u/(1 − 20u) for every one-signed fp32 lane sum (lsce.h: ≤ 20 roundings per
 *      chain, every variant; the scalar's double sums are far inside it);
 *      δd = E + γ(1 + E) + V·2^−126/d, E = 2^−22 + u·E_t; δd' = δd/(1 − δd) bounds log d̂ − log d.
 *      A weighted one-signed sum (Σ ω_c|t_c − m|, Ω, Σ ω log q): each term carries ≤ 3 fp32
 *      roundings (t − m; ω = w·q formed in fp32; the product), then the chain: δ_w = 3u + γ.
 *  (lse)  |Δ| ≤ λ + δd' + u|lse| (fp32 output) + 4DU|m|.
 *  (nll)  |Δ| ≤ τ_y + λ + δd' + 4DU(log d + |t_y − m| + |nll|).
 *  (H)    with ν_c = bound on |Δ lp_c| and ψ_c = bound on the relative error of p̂_c:
 *         |ΔH| ≤ Σ_c p_c[ψ_c(|lp_c| + |t_c − m|) + ν_c] + (γ + 3u)(H + E_t)
 *         (covers H = log d − Σ p (t − m) and H = −Σ p̂ lp̂: each product and sum; |t − m| ≤
 *         |lp| + log d is why both forms are counted).
 *  (loss) L = Ω log d + Σ ω_c(m − t_c) + z·lse² − βH (+ Σ ω log q): t part Σ_c |G_c|·τ_c;
 *         kernel part
 *           Ω·δd' + δ_w·(S_ω + Ω log d + K) + z(2|lse|δd' + 3u·lse²) + β·ΔH₀
 *           + 4u·(Ω log d + S_ω + z lse² + βH + K)      (≤ 4 fp32 roundings combining the terms)
 *         where ΔH₀ is (H) with ν_c = δd' + u|t_c − m|, ψ_c = expm1(ν_c)(1 + 2^−22) + 2^−22 + u.
 *         row_loss = ρ·L, stored in fp32: ρ·bound + 2u·|loss|.
 *         result.loss: Σ_kept of the row bounds (/ D for mean) + 2·rows·DU·Σ|loss_r| (+ D's own
 *         double rounding, rows·DU relative).  z_sum: Σ ρ z (2|lse|(λ + δd') + 3u·lse²).
 *  (grad) element c, before the chain rule:
 *         fused:    Δℓ = λ + δd',                         ν_c = τ_c + Δℓ + u|t_c − m|
 *         backward: Δℓ = |ℓ̂ − lse| (measured; ℓ̂ = the saved fp32 row_lse) + 2DU|lse|,
 *                   ν_c = τ_c + Δℓ + u|t_c − ℓ̂|
 *         ψ_c = expm1(ν_c)(1 + 2^−22) + 2^−22 + u        (exp, then the coefficient ×1/d̂)
 *         ΔG_c ≤ Ω p_c(ψ_c + δ_w) + 2u·ω_c
 *              + 2z(|lse| p_c ψ_c + p_c Δℓ)
 *              + β p_c(ψ_c|lp_c + H| + ν_c + u|lp_c| + ΔH)           (ΔH: (H) with these ν, ψ)
 *              + 3u(Ω p_c + ω_c + 2z|lse| p_c + β p_c(|lp_c| + H))    (≤ 3 fp32 additions)
 *         (p_c = 0, a −inf t: only the ω_c terms, 5u·ω_c.)
 *         Chain rule: J = s exactly for s = 1; u·s for another s (fl(s)); softcap: lsce.h's
 *         J = s·v(2 − v), v = 1 − |tanh y| within 3.9 ulp, y = fl(k·x): ΔJ ≤ (10 + 4|y|)u·J
 *         (relative even where tanh saturates; y's 2u moves 1 − tanh² y by 2|y|·2u), + s·2^−124
 *         absolute: v < 2^−125 may flush to 0 (an exponential below 2^−126 may, lsce.h), and
 *         then J = s·v(2 − v) < s·2^−124 (|y| ≳ 43.6).
 *         |Δgrad_c| ≤ |gρ|·(ΔG_c·J_c + |G_c|·ΔJ_c + ΔG_c·ΔJ_c) + 3u·|grad_c| (the products by g,
 *         ρ, J and the fp32 store) + |gρ|·J_c·(Ω + 2z|lse| + β(|lp_c| + H + 1))·2^−126/d
 *         (1 instead of 1/d for backward: a flushed exponential) + 2^−149.
 *         A 16-bit gradient: the fp32 value rounded once (lsce.h): between the roundings of
 *         grad ∓ bound — half an ulp more, or ±inf past the dtype's largest finite value.
 *  (argmax) fp32 t̂ can tie or reorder classes within τ: class c is a candidate when t_c + τ_c ≥
 *         t_max − τ_max (τ's not both 0; with τ = 0, t = x exactly and the lowest-index rule is
 *         the oracle's). n_correct ∈ [rows surely correct, rows possibly correct].
 *  (calibration) conf = exp(t_max − lse): ν = 2τ_max (ambiguous argmax) + λ + δd' + u|lse|,
 *         Δconf = conf·(expm1(ν)(1 + 2^−22) + 2^−22 + u); a row whose [conf ± Δconf] straddles
 *         a bin edge may land in either bin; per bin count / Σconf / Σcorrect must lie between
 *         the sure and the possible contributions; the totals are exact (count) or ± ΣΔconf.
 *  Every bound is multiplied by SAFE = 1 + 1e−3: it covers the second-order products dropped
 *  above (two kernel rounding terms, each < 1e−5, e.g. δ_w·ψ_c); the t part's effect on an
 *  exponential is kept exactly (expm1), and ΔG·ΔJ is written out.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "half_ref.h"
#include "test_options.h"

#define U 0x1.0p-24
#define DU 0x1.0p-53
#define EXP_REL 0x1.0p-22
#define FLUSH 0x1.0p-126
#define SUBN 0x1.0p-149
#define SAFE (1.0 + 1e-3)
#define TANH_ULPS 2.25 /* lsce.h: tanh within 2.25 ulp */
/* lsce.h: δ_t ≤ 9u (2u argument + 2·TANH_ULPS·u tanh + u for fl(c) + u product = 8.5u, rounded
 * up) */
#define DELTA_T_SOFTCAP 9.0
#define GAMMA (20.0 * U / (1.0 - 20.0 * U))
#define DELTA_W (3.0 * U + GAMMA)

const char *const q_names[Q_COUNT] = {"row_loss", "loss", "row_lse", "nll_sum",
                                      "z_sum",    "grad", "grad_bwd", "calib"};
double g_worst[LSCE_ISA_COUNT_][Q_COUNT];
char g_worst_where[LSCE_ISA_COUNT_][Q_COUNT][160];

/* a·b with 0·inf = 0 */
static double mul0(double a, double b) { return a == 0.0 || b == 0.0 ? 0.0 : a * b; }

static void note(const octx *x, lsce_isa isa, int q, double err, double tol, int64_t r)
{
    double ratio;
    if (!(err > 0.0))
        ratio = 0.0;
    else
        ratio = tol > 0.0 ? err / tol : INFINITY;
    if (ratio > g_worst[isa][q]) {
        g_worst[isa][q] = ratio;
        const ocase *c = x->kc;
        snprintf(g_worst_where[isa][q], sizeof g_worst_where[isa][q],
                 "%s#%d V=%" PRId64 " row %" PRId64 " s=%g c=%g z=%g b=%g eps=%g", x->test,
                 x->case_no, c->V, r, c->opts.logit_scale, c->opts.softcap, c->opts.z_loss,
                 c->opts.confidence_penalty, c->opts.smoothing);
    }
}

double tau_bound(const lsce_options *o, double xv, double t)
{
    const double s = o->logit_scale, cap = o->softcap;
    if (isnan(xv))
        return 0.0;
    if (cap > 0.0) {
        if (isinf(xv))
            return 2.0 * U * cap;
        return DELTA_T_SOFTCAP * U * fabs(t) + 4.0 * cap * SUBN;
    }
    if (s == 1.0 || isinf(t))
        return 0.0;
    return 2.0 * U * fabs(t) + SUBN;
}

void bounds_free(octx *x)
{
    free(x->tau);
    free(x->lam);
    free(x->dd);
    free(x->et);
    free(x->dlse_f);
    free(x->tol_L);
    free(x->tol_lse);
    free(x->tol_nll);
    free(x->tol_z);
    free(x->tol_conf);
    free(x->amb);
}

/* β_y = w_y·q_y as if y were not the target (ε·u_y with a prior, else b of the convention): the
 * weight the target has in a lane sum over every class (corrected by α = ω_y − β_y in double). */
static double beta_off(const lsce_options *o, int64_t V, int64_t y)
{
    const double w = o->class_weight ? (double)o->class_weight[y] : 1.0;
    const double q = oopt_q(o, V, -1, y);
    return w == 0.0 || q == 0.0 ? 0.0 : w * q;
}

/* ΔH for row r with the per-element ν_c = nu0 + tau_c·with_tau + u|t_c − ref| */
static double delta_H(const octx *x, int64_t r, double nu0, int with_tau, double ref)
{
    const int64_t V = x->kc->V;
    const oopt_row *row = &x->ob.row[r];
    const size_t off = (size_t)r * (size_t)V;
    double s = 0.0;
    for (int64_t c = 0; c < V; c++) {
        const double p = x->ob.p[off + c];
        if (!(p > 0.0))
            continue;
        const double t = x->ob.t[off + c], lp = (t - row->m) - row->logd;
        const double nu = nu0 + (with_tau ? x->tau[off + c] : 0.0) + U * fabs(t - ref);
        const double psi = expm1(nu) * (1.0 + EXP_REL) + EXP_REL + U;
        s += p * (psi * (fabs(lp) + fabs(t - row->m)) + nu);
    }
    return s + (GAMMA + 3.0 * U) * (row->H + x->et[r]);
}

void bounds_prepare(octx *x)
{
    const ocase *kc = x->kc;
    const int64_t rows = kc->rows, V = kc->V;
    const size_t n = rows ? (size_t)rows : 1;
    const lsce_options *o = &x->o;
    x->tau = calloc(n * (size_t)V, sizeof(double));
    x->lam = calloc(n, sizeof(double));
    x->dd = calloc(n, sizeof(double));
    x->et = calloc(n, sizeof(double));
    x->dlse_f = calloc(n, sizeof(double));
    x->tol_L = calloc(n, sizeof(double));
    x->tol_lse = calloc(n, sizeof(double));
    x->tol_nll = calloc(n, sizeof(double));
    x->tol_z = calloc(n, sizeof(double));
    x->tol_conf = calloc(n, sizeof(double));
    x->amb = calloc(n, sizeof(int));
    cr_assert(x->tau && x->lam && x->dd && x->et && x->dlse_f && x->tol_L && x->tol_lse &&
              x->tol_nll && x->tol_z && x->tol_conf && x->amb);
    const double z = o->z_loss, beta = o->confidence_penalty;
    x->correct_lo = x->correct_hi = 0;
    for (int64_t r = 0; r < rows; r++) {
        const size_t off = (size_t)r * (size_t)V;
        const oopt_row *row = &x->ob.row[r];
        for (int64_t c = 0; c < V; c++)
            x->tau[off + c] = tau_bound(o, x->x[off + c], x->ob.t[off + c]);
        if (!row->finite)
            continue;
        const double *t = x->ob.t + off, *p = x->ob.p + off, *om = x->ob.omega + off;
        const double *tau = x->tau + off, m = row->m;
        double lam = 0.0, et = 0.0;
        for (int64_t c = 0; c < V; c++) {
            if (!(p[c] > 0.0))
                continue;
            lam += p[c] * tau[c];
            et += p[c] * fabs(t[c] - m);
        }
        x->lam[r] = lam;
        x->et[r] = et;
        const double E = EXP_REL + U * et;
        const double dd0 = E + GAMMA * (1.0 + E) + (double)V * FLUSH / row->d;
        const double dd = dd0 / (1.0 - dd0);
        x->dd[r] = dd;
        x->dlse_f[r] = lam + dd;
        const double lse = row->lse;
        x->tol_lse[r] = SAFE * (lam + dd + U * fabs(lse)) + 4.0 * DU * fabs(m);

        /* argmax candidates (bit 0: ambiguous, bit 1: the target is a candidate) */
        const int64_t am = row->argmax;
        const int64_t y = x->ob.kept[r] ? x->targets[r] : -1;
        for (int64_t c = 0; c < V; c++) {
            if (c == am || tau[c] + tau[am] == 0.0)
                continue;
            if (t[c] + tau[c] >= t[am] - tau[am]) {
                x->amb[r] |= 1;
                if (c == y)
                    x->amb[r] |= 2;
            }
        }
        if (!x->ob.kept[r])
            continue;
        x->correct_lo += !(x->amb[r] & 1) && am == y;
        x->correct_hi += am == y || (x->amb[r] & 2);
        x->tol_nll[r] = SAFE * (tau[y] + lam + dd) +
                        4.0 * DU * (row->logd + fabs(t[y] - m) + fabs(row->nll));

        /* inner loss L (ρ excluded) */
        const double Om = row->omega_sum, logd = row->logd, H = row->H, K = fabs(row->kl_sum);
        double tpart = 0.0, Sw = 0.0;
        for (int64_t c = 0; c < V; c++) {
            double Gi = -om[c];
            if (p[c] > 0.0) {
                const double lp = (t[c] - m) - logd;
                Gi += Om * p[c] + 2.0 * z * lse * p[c] + beta * p[c] * (lp + H);
            }
            tpart += mul0(fabs(Gi), tau[c]);
            /* the target with the larger of ω_y and its off-target weight β_y = w_y·q_y|off */
            const double wt = c == y && isfinite(t[c]) ? fmax(om[c], beta_off(o, V, y)) : om[c];
            Sw += mul0(wt, fabs(t[c] - m));
        }
        const double dH0 = beta != 0.0 ? delta_H(x, r, dd, 0, m) : 0.0;
        x->tol_L[r] = SAFE * (tpart + Om * dd + DELTA_W * (Sw + Om * logd + K) +
                              z * (2.0 * fabs(lse) * dd + 3.0 * U * lse * lse) + beta * dH0 +
                              4.0 * U * (Om * logd + Sw + z * lse * lse + beta * H + K));
        x->tol_z[r] = SAFE * x->ob.rho[r] * z * (2.0 * fabs(lse) * (lam + dd) + 3.0 * U * lse * lse);
        const double nu = 2.0 * tau[am] + lam + dd + U * fabs(lse);
        x->tol_conf[r] = row->conf * (expm1(nu) * (1.0 + EXP_REL) + EXP_REL + U) + DU;
    }
}

double row_loss_bound(const octx *x, int64_t r)
{
    if (!x->ob.kept[r])
        return 0.0;
    return SAFE * (mul0(x->ob.rho[r], x->tol_L[r]) + 2.0 * U * fabs(x->ob.row[r].loss)) + SUBN;
}

double result_loss_bound(const octx *x)
{
    const int64_t rows = x->kc->rows;
    double s = 0.0, a = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        if (!x->ob.kept[r])
            continue;
        s += row_loss_bound(x, r);
        a += fabs(x->ob.row[r].loss);
    }
    double den = 1.0;
    if (x->o.reduction == LSCE_REDUCTION_MEAN) {
        if (x->ob.result.denominator == 0.0)
            return 0.0;
        den = x->ob.result.denominator;
    }
    return s / den + 2.0 * (double)rows * DU * a / den + (double)rows * DU * fabs(x->ob.result.loss);
}

/* A reproducer: row r's inputs (small V only), once per case. */
static void dump_row(octx *x, int64_t r)
{
    const int64_t V = x->kc->V;
    if (V > 40 || x->printed > 9)
        return;
    fprintf(stderr, "    row %" PRId64 ": target %" PRId64 ", rho %a, x =", r, x->targets[r],
            x->ob.rho[r]);
    for (int64_t c = 0; c < V; c++)
        fprintf(stderr, " %a", x->x[(size_t)r * (size_t)V + c]);
    if (x->cw) {
        fprintf(stderr, "; w =");
        for (int64_t c = 0; c < V; c++)
            fprintf(stderr, " %a", (double)x->cw[c]);
    }
    if (x->prior) {
        fprintf(stderr, "; u =");
        for (int64_t c = 0; c < V; c++)
            fprintf(stderr, " %a", (double)x->prior[c]);
    }
    fputc('\n', stderr);
}

void check_forward(octx *x, lsce_isa isa, const char *entry, const float *rl, const float *rs,
                   const lsce_result *res)
{
    const int64_t rows = x->kc->rows;
    const char *name = lsce_isa_to_string(isa);
    double tn = 0.0, an = 0.0, tz = 0.0, az = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const oopt_row *row = &x->ob.row[r];
        const int k = x->ob.kept[r];
        if (rl) {
            const double want = k ? row->loss : 0.0, tol = row_loss_bound(x, r);
            if (!bound_close(rl[r], want, tol)) {
                ofail(x, "%s %s row_loss[%" PRId64 "] = %.9g, want %.17g (err %.3g, tol %.3g, kept %d)",
                      name, entry, r, (double)rl[r], want, fabs(rl[r] - want), tol, k);
                dump_row(x, r);
            }
            else if (isfinite(want))
                note(x, isa, Q_LOSS_ROW, fabs(rl[r] - want), tol, r);
        }
        if (rs) {
            const double want = row->lse, tol = row->finite ? x->tol_lse[r] : 0.0;
            if (!bound_close(rs[r], want, tol))
                ofail(x, "%s %s row_lse[%" PRId64 "] = %.9g, want %.17g (err %.3g, tol %.3g)", name,
                      entry, r, (double)rs[r], want, fabs(rs[r] - want), tol);
            else if (isfinite(want))
                note(x, isa, Q_LSE, fabs(rs[r] - want), tol, r);
        }
        if (k && row->finite) {
            tn += x->tol_nll[r];
            an += fabs(row->nll);
            tz += x->tol_z[r];
            az += fabs(row->zterm);
        }
    }
    if (!res)
        return;
    const lsce_result *w = &x->ob.result;
    if (res->n_tokens != w->n_tokens)
        ofail(x, "%s %s n_tokens = %" PRId64 ", want %" PRId64, name, entry, res->n_tokens,
              w->n_tokens);
    if (res->n_correct < x->correct_lo || res->n_correct > x->correct_hi)
        ofail(x, "%s %s n_correct = %" PRId64 ", want %" PRId64 " (ties within the t bounds: [%" PRId64
                 ", %" PRId64 "])",
              name, entry, res->n_correct, w->n_correct, x->correct_lo, x->correct_hi);
    const double td = 2.0 * (double)rows * DU * fabs(w->denominator);
    if (!bound_close(res->denominator, w->denominator, td))
        ofail(x, "%s %s denominator = %.17g, want %.17g", name, entry, res->denominator,
              w->denominator);
    const double tl = result_loss_bound(x);
    if (!bound_close(res->loss, w->loss, tl))
        ofail(x, "%s %s result.loss = %.17g, want %.17g (err %.3g, tol %.3g)", name, entry,
              res->loss, w->loss, fabs(res->loss - w->loss), tl);
    else if (isfinite(w->loss))
        note(x, isa, Q_LOSS, fabs(res->loss - w->loss), tl, -1);
    const double tnll = tn + 2.0 * (double)rows * DU * an;
    if (!bound_close(res->nll_sum, w->nll_sum, tnll))
        ofail(x, "%s %s nll_sum = %.17g, want %.17g (err %.3g, tol %.3g)", name, entry,
              res->nll_sum, w->nll_sum, fabs(res->nll_sum - w->nll_sum), tnll);
    else if (isfinite(w->nll_sum))
        note(x, isa, Q_NLL, fabs(res->nll_sum - w->nll_sum), tnll, -1);
    const double tzs = tz + 2.0 * (double)rows * DU * az;
    if (!bound_close(res->z_sum, w->z_sum, tzs))
        ofail(x, "%s %s z_sum = %.17g, want %.17g (err %.3g, tol %.3g)", name, entry, res->z_sum,
              w->z_sum, fabs(res->z_sum - w->z_sum), tzs);
    else if (isfinite(w->z_sum))
        note(x, isa, Q_Z, fabs(res->z_sum - w->z_sum), tzs, -1);
}

/* The V gradient bounds of kept finite row r (fused: lse_in NULL). */
/* The absolute floor of gradient element c: flushed exponentials and a subnormal result. */
static double flush_floor(const octx *x, int64_t r, int64_t c, const float *lse_in)
{
    const size_t k = (size_t)r * (size_t)x->kc->V + (size_t)c;
    const oopt_row *row = &x->ob.row[r];
    const double gs = fabs(x->ob.scale[r] * x->ob.rho[r]), J = x->ob.J[k];
    const double lp = x->ob.p[k] > 0.0 ? (x->ob.t[k] - row->m) - row->logd : 0.0;
    const double coef = row->omega_sum + 2.0 * x->o.z_loss * fabs(row->lse) +
                        x->o.confidence_penalty * (fabs(lp) + row->H + 1.0);
    /* softcap: J where v = 1 − |tanh y| flushes (below) */
    const double jfloor = x->o.softcap > 0.0
        ? 1.01 * SAFE * fabs(x->ob.scale[r]) * fabs(x->ob.G[k]) * x->o.logit_scale * 0x1p-124
        : 0.0;
    return gs * J * coef * FLUSH * (lse_in ? 1.0 : 1.0 / row->d) + jfloor + SUBN;
}

void grad_bounds_row(const octx *x, int64_t r, const float *lse_in, double *tol)
{
    const int64_t V = x->kc->V;
    const size_t off = (size_t)r * (size_t)V;
    const oopt_row *row = &x->ob.row[r];
    const lsce_options *o = &x->o;
    const double z = o->z_loss, beta = o->confidence_penalty, s = o->logit_scale, cap = o->softcap;
    const double m = row->m, lse = row->lse, Om = row->omega_sum, H = row->H;
    double Dl, ref;
    if (lse_in) {
        ref = lse_in[r];
        Dl = fabs((double)lse_in[r] - lse) + 2.0 * DU * fabs(lse);
    } else {
        ref = m;
        Dl = x->dlse_f[r];
    }
    const double dH = beta != 0.0 ? delta_H(x, r, Dl, 1, ref) : 0.0;
    const double gs = fabs(x->ob.scale[r] * x->ob.rho[r]);
    for (int64_t c = 0; c < V; c++) {
        const double p = x->ob.p[off + c], w = x->ob.omega[off + c], t = x->ob.t[off + c];
        const double J = x->ob.J[off + c], tau = x->tau[off + c];
        double dG, Gi = -w, lp = 0.0;
        if (p > 0.0) {
            lp = (t - m) - row->logd;
            const double nu = tau + Dl + U * fabs(t - ref);
            const double psi = expm1(nu) * (1.0 + EXP_REL) + EXP_REL + U;
            Gi += Om * p + 2.0 * z * lse * p + beta * p * (lp + H);
            dG = Om * p * (psi + DELTA_W) + 2.0 * U * w +
                 2.0 * z * (fabs(lse) * p * psi + p * Dl) +
                 beta * p * (psi * fabs(lp + H) + nu + U * fabs(lp) + dH) +
                 3.0 * U * (Om * p + w + 2.0 * z * fabs(lse) * p + beta * p * (fabs(lp) + H));
        } else {
            dG = 5.0 * U * w;
        }
        double dJ;
        if (cap > 0.0) {
            const double y = isfinite(x->x[off + c]) ? fabs(s * x->x[off + c] / cap) : 0.0;
            dJ = (10.0 + 4.0 * y) * U * J; /* + s·2^−124 in flush_floor */
        } else {
            dJ = s == 1.0 ? 0.0 : U * s;
        }
        const double want = x->ob.grad[off + c];
        const double flush = flush_floor(x, r, c, lse_in) - SUBN;
        tol[c] = SAFE * gs * (dG * J + fabs(Gi) * dJ + dG * dJ) + 3.0 * U * fabs(want) + flush + SUBN;
    }
}

void check_grad(octx *x, lsce_isa isa, const char *entry, const void *grad, int64_t stride,
                const float *lse_in)
{
    const int64_t rows = x->kc->rows, V = x->kc->V;
    const lsce_dtype gdt = x->kc->gdt;
    const char *name = lsce_isa_to_string(isa);
    double *tol = malloc(sizeof(double) * (size_t)V);
    cr_assert(tol);
    for (int64_t r = 0; r < rows; r++) {
        const size_t base = (size_t)(r * stride), off = (size_t)r * (size_t)V;
        if (!x->ob.kept[r]) {
            for (int64_t c = 0; c < V; c++)
                if (elem_value(grad, gdt, base + c) != 0.0) {
                    ofail(x, "%s %s ignored row %" PRId64 " grad[%" PRId64 "] = %g, want 0", name,
                          entry, r, c, elem_value(grad, gdt, base + c));
                    break;
                }
            continue;
        }
        if (!x->ob.row[r].finite) {
            for (int64_t c = 0; c < V; c++)
                if (!isnan(elem_value(grad, gdt, base + c))) {
                    ofail(x, "%s %s NaN row %" PRId64 " grad[%" PRId64 "] not NaN", name, entry, r, c);
                    break;
                }
            continue;
        }
        grad_bounds_row(x, r, lse_in, tol);
        for (int64_t c = 0; c < V; c++) {
            const double got = elem_value(grad, gdt, base + c), want = x->ob.grad[off + c];
            double t = tol[c];
            int ok;
            if (gdt != LSCE_DTYPE_F32 && isfinite(want)) {
                /* the fp32 value (within t) rounded once, monotonically: between the roundings of
                 * want ∓ t (±inf past the largest finite value), i.e. + half an ulp */
                const double lo = ref_round(want - t, gdt), hi = ref_round(want + t, gdt);
                ok = !isnan(got) && got >= lo && got <= hi;
                t += 0.5 * ref_ulp(fabs(want) + t, gdt);
            } else {
                ok = bound_close(got, want, t);
            }
            if (!ok)
                ofail(x, "%s %s row %" PRId64 " grad[%" PRId64 "] = %.9g, want %.17g (err %.3g, "
                         "tol %.3g; target %" PRId64 ", x = %.9g, t = %.9g, p = %.6g, w = %.4g)",
                      name, entry, r, c, got, want, fabs(got - want), t, x->targets[r],
                      x->x[off + c], x->ob.t[off + c], x->ob.p[off + c], x->ob.omega[off + c]);
            else if (gdt == LSCE_DTYPE_F32 && x->ob.p[off + c] * x->ob.row[r].d >= 0x1p-125) {
                /* headroom over normal exponentials, the subnormal floor (a flushed exp is off
                 * by nearly all of it) taken out; 16-bit gradients: the half ulp dominates */
                const double fl = flush_floor(x, r, c, lse_in);
                note(x, isa, lse_in ? Q_GRAD_BWD : Q_GRAD, fmax(0.0, fabs(got - want) - fl),
                     t - fl, r);
            }
        }
    }
    free(tol);
}

void check_bins(octx *x, lsce_isa isa, const char *entry, const lsce_calibration_bin *got)
{
    const int B = x->o.calibration_bins;
    const int64_t rows = x->kc->rows;
    const char *name = lsce_isa_to_string(isa);
    double *lim = calloc((size_t)B * 6, sizeof(double)); /* cnt, conf, corr: min then max */
    cr_assert(lim);
    double n_sure = 0.0, conf_sum = 0.0, conf_tol = 0.0, corr_lo = 0.0, corr_hi = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const oopt_row *row = &x->ob.row[r];
        if (!x->ob.kept[r] || !isfinite(row->conf))
            continue;
        const double conf = row->conf, dc = x->tol_conf[r];
        const int64_t y = x->targets[r];
        const double clo = !(x->amb[r] & 1) && row->argmax == y;
        const double chi = row->argmax == y || (x->amb[r] & 2);
        const double fl = floor((conf - dc) * B), fh = floor((conf + dc) * B);
        const int blo = fl < 0 ? 0 : (fl > B - 1 ? B - 1 : (int)fl);
        const int bhi = fh > B - 1 ? B - 1 : (fh < 0 ? 0 : (int)fh);
        for (int b = blo; b <= bhi; b++) {
            double *l = lim + 6 * b;
            if (blo == bhi) {
                l[0] += 1.0;
                l[1] += conf - dc;
                l[2] += clo;
            }
            l[3] += 1.0;
            l[4] += conf + dc;
            l[5] += chi;
        }
        n_sure += 1.0;
        conf_sum += conf;
        conf_tol += dc;
        corr_lo += clo;
        corr_hi += chi;
    }
    double n_got = 0.0, conf_got = 0.0, corr_got = 0.0;
    for (int b = 0; b < B; b++) {
        const double *l = lim + 6 * b;
        const lsce_calibration_bin *g = &got[b];
        const double slack = 1e-12 * (1.0 + l[3]);
        if (!(g->count >= l[0] && g->count <= l[3] && g->sum_confidence >= l[1] - slack &&
              g->sum_confidence <= l[4] + slack && g->sum_correct >= l[2] &&
              g->sum_correct <= l[5]))
            ofail(x, "%s %s bin %d of %d: (count %g, conf %.17g, correct %g) outside [%g, %g] "
                     "[%.17g, %.17g] [%g, %g]",
                  name, entry, b, B, g->count, g->sum_confidence, g->sum_correct, l[0], l[3], l[1],
                  l[4], l[2], l[5]);
        else if (l[0] == l[3] && l[3] > 0)
            note(x, isa, Q_CONF, fabs(g->sum_confidence - 0.5 * (l[1] + l[4])),
                 0.5 * (l[4] - l[1]) + slack, -1);
        n_got += g->count;
        conf_got += g->sum_confidence;
        corr_got += g->sum_correct;
    }
    if (n_got != n_sure || fabs(conf_got - conf_sum) > conf_tol + 1e-12 * (1.0 + n_sure) ||
        corr_got < corr_lo || corr_got > corr_hi)
        ofail(x, "%s %s bins total (count %g, conf %.17g, correct %g), want (%g, %.17g ± %.3g, "
                 "[%g, %g])",
              name, entry, n_got, conf_got, corr_got, n_sure, conf_sum, conf_tol, corr_lo, corr_hi);
    free(lim);
}

void report_worst(const char *test)
{
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        int any = 0;
        for (int q = 0; q < Q_COUNT; q++)
            any |= g_worst[isa][q] > 0.0;
        if (!any)
            continue;
        fprintf(stderr, "options/%s %-7s worst error/bound:", test, lsce_isa_to_string((lsce_isa)isa));
        for (int q = 0; q < Q_COUNT; q++)
            if (g_worst[isa][q] > 0.0)
                fprintf(stderr, " %s %.3g", q_names[q], g_worst[isa][q]);
        fputc('\n', stderr);
        for (int q = 0; q < Q_COUNT; q++)
            if (g_worst[isa][q] > 0.5)
                fprintf(stderr, "    %s %.3g at %s\n", q_names[q], g_worst[isa][q],
                        g_worst_where[isa][q]);
    }
}
