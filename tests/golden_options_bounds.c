/*
 * The tolerances of the objective-option golden vectors (tests/golden_options.c checks with
 * them): the per-row and per-element model of lsce's arithmetic and the bounds derived from it.
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
 * The reduced quantities, the exact checks and flags 1 and 4: top of tests/golden_options.c.
 */
#include "golden_options_bounds.h"

#include "bounds.h"

#include <math.h>
#include <string.h>

#define U BOUND_U

/* One ulp of the fp32 value nearest t (0 for ±inf). */
static double ulp32(double t)
{
    const float f = fabsf((float)t);
    if (!isfinite(f))
        return 0.0;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

static double q_of(const gopt_case *c, int64_t j, int64_t y, double a, double b)
{
    if (c->prior) {
        const double eps = c->base.opts.smoothing;
        return eps * (double)c->prior[j] + (j == y ? 1.0 - eps : 0.0);
    }
    return j == y ? a : b;
}

void gopt_model_row(const gopt_case *c, int64_t r, const gopt_elem_model *e, gopt_row_model *m)
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

double gopt_tol_row_loss(const gopt_case *c, const gopt_row_model *m)
{
    const lsce_options *o = &c->base.opts;
    const double z = o->z_loss, beta = o->confidence_penalty, al = fabs(m->lse);
    return fabs(m->rho) *
               (BOUND_ABS * (m->Omega + beta * (1.0 + m->H) + 2.0 * z * al) +
                2.0 * z * U * al * al +
                BOUND_REL * (fabs(m->CE + m->KL) + z * al * al + beta * m->H)) +
           m->loss_tsens;
}

double gopt_tol_grad(const gopt_case *c, const gopt_row_model *m, const gopt_elem_model *e,
                     int64_t j, int backward)
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
