/*
 * A double-precision oracle for the objective options of lsce.h ("Objective options"), written
 * independently of src/ (it calls no library code; it uses only the public types of lsce.h) and
 * of tests/oracle.c (whose random numbers the tests share: rng_*, test_seed, test_print_seed).
 *
 * Inputs are the logits as doubles (fp32 values, or 16-bit values upcast exactly:
 * oopt_upcast). For one kept row x[0..V) with target y and row weight ρ:
 *   t_c   = s·x_c, or c·tanh(s·x_c / c) with softcap c > 0 (±inf → ±c), in double;
 *           (an |s·x_c| beyond fp32's range is ±inf, as the fp32 t of lsce.h would be)
 *   m     = max t, d = Σ exp(t_c − m), log p_c = (t_c − m) − log d, lse = m + log d, p = e^log p
 *   q_c   = convention a / b (oracle.h's table), or (1 − ε)·[c = y] + ε·u_c with a prior u
 *   ω_c   = w_c·q_c (w = 1 without class weights), Ω = Σ ω_c, H = −Σ p_c log p_c
 *   loss  = ρ·[ Σ_c ω_c·(−log p_c) + z·lse² + β·Σ p_c log p_c (+ Σ_c ω_c log q_c with kl) ]
 *           terms with ω_c = 0 contribute 0 (also where t_c = −inf), and 0·log 0 = 0
 *   G_c   = ∂loss/∂t_c = ρ·[ Ω p_c − ω_c + 2z·lse·p_c + β·p_c·(log p_c + H) ]
 *   J_c   = ∂t_c/∂x_c = s, or s·(1 − tanh²(s·x_c/c)) (0 at ±inf)
 *   grad_c = g·G_c·J_c (g: the reduction's scale, below)
 *   nll   = lse − t_y (unweighted), argmax of t (lowest index of the max; NaN above all),
 *   conf  = exp(t_max − lse)
 * A row with a NaN t, a +inf t, or only −inf t has NaN loss, nll, gradient and conf (lse −inf for
 * the all −inf row), as tests/oracle.c.
 * Batch (reductions of lsce.h): D = Σ_kept ρ_r·w_{y_r}; mean: loss = Σ loss_r / D and
 * g = grad_output[0]/D (D = 0: loss 0, g = 0); sum: g = grad_output[0]; none: g_r = grad_output[r]
 * (NULL grad_output: 1). Ignored rows: loss 0, nll 0, gradient 0, their lse reported.
 * nll_sum, z_sum = Σ_kept ρ·z·lse², n_tokens, n_correct, and the calibration bins (every kept row
 * with a finite conf adds (1, conf, argmax = y) to bin min(floor(conf·B), B − 1)).
 * Sums are compensated (Neumaier); libm exp / log / tanh in double.
 */
#ifndef LSCE_TESTS_OPTIONS_ORACLE_H
#define LSCE_TESTS_OPTIONS_ORACLE_H

#include <stdint.h>

#include "lsce.h"

/* One row's answer. */
typedef struct oopt_row {
    double loss;      /* ρ·[...] */
    double nll;       /* lse − t_y */
    double lse;       /* of t */
    double zterm;     /* ρ·z·lse² */
    double conf;      /* p_max = exp(t_max − lse); NaN for a non-finite row */
    int64_t argmax;   /* of t */
    int finite;       /* 0: a NaN / +inf / all −inf row */
    /* facts the tests' tolerances use (unweighted by ρ) */
    double m, d, logd, H, omega_sum, kl_sum; /* kl_sum = Σ_c ω_c log q_c (0 without kl) */
} oopt_row;

/* The smoothing target q_c of class c in a row of target y, per o's convention or prior. */
double oopt_q(const lsce_options *o, int64_t V, int64_t y, int64_t c);
/* ω_c = w_c·q_c. */
double oopt_omega(const lsce_options *o, int64_t V, int64_t y, int64_t c);
/* t of one logit, and ∂t/∂x there (both in double). */
double oopt_t(const lsce_options *o, double x);
double oopt_dtdx(const lsce_options *o, double x);

/* One kept row (y ∈ [0, V)) of row weight rho. Optional outputs (V entries each, NULL: not
 * wanted): t, p, omega, G (∂loss/∂t_c, ρ included), dx (∂loss/∂x_c = G_c·J_c, ρ included). */
void oopt_eval_row(const lsce_options *o, int64_t V, const double *x, int64_t y, double rho,
                   oopt_row *out, double *t, double *p, double *omega, double *G, double *dx);

/* The loss alone of one row (for finite differences). */
double oopt_row_loss(const lsce_options *o, int64_t V, const double *x, int64_t y, double rho);

typedef struct oopt_batch {
    lsce_result result;
    int64_t rows, vocab;
    oopt_row *row;      /* rows (ignored rows: loss, nll, zterm 0; lse, argmax, conf of the row) */
    double *scale;      /* rows: g_r (0 for ignored rows) — the gradient is g_r·∂loss_r/∂x */
    double *rho;        /* rows: ρ_r */
    int *kept;          /* rows */
    /* rows × V, dense (only with want_detail): t, p, ω, G (∂loss_r/∂t, ρ in), J = ∂t/∂x */
    double *t, *p, *omega, *G, *J;
    double *grad;       /* rows × V, dense: g_r·∂loss_r/∂x_c (0 for ignored rows) */
    lsce_calibration_bin *bins; /* o->calibration_bins bins (NULL when 0): this call's part */
    int n_bins;
} oopt_batch;

/* x: rows × V dense doubles. Returns 0, or −1 when out of memory. o->calibration is not read:
 * the bins of this call alone are in out->bins. */
int oopt_eval_batch(const lsce_options *o, int64_t rows, int64_t V, const double *x,
                    const int64_t *targets, const float *grad_output, int want_detail,
                    oopt_batch *out);
void oopt_batch_free(oopt_batch *b);

/* The batch's reduced loss alone (for finite differences of the whole objective). */
double oopt_batch_loss(const lsce_options *o, int64_t rows, int64_t V, const double *x,
                       const int64_t *targets);

/* Σ_b (n_b / n)·|acc_b − conf_b| over non-empty bins (0 when all are empty), from its definition. */
double oopt_ece(const lsce_calibration_bin *bins, int n_bins);

/* The logits of storage dtype dt (rows × stride elements, V used per row) as dense doubles,
 * exactly (bf16 / f16 decoded from their bit fields). */
void oopt_upcast(const void *logits, lsce_dtype dt, int64_t rows, int64_t V, int64_t stride,
                 double *out);

#endif /* LSCE_TESTS_OPTIONS_ORACLE_H */
