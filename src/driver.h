/*
 * The ISA-free driver's two halves: src/lsce.c validates a call and prepares its per-call
 * constants (a plan); src/rows.c runs the row pass over a kernel table.
 */
#ifndef LSCE_DRIVER_H
#define LSCE_DRIVER_H

#include "internal.h"

/* One call's arguments, as the three entry points receive them. */
typedef struct call {
    const lsce_options *opts;
    int64_t rows, vocab;
    const void *logits;
    int64_t logits_stride;
    const int64_t *targets;
    const float *grad_output;
    void *grad;
    int64_t grad_stride;
    float *row_loss;
    float *row_lse;
    const float *row_lse_in;
    lsce_result *result;
    int mode; /* 0 forward, 1 fused, 2 backward */
} call;

/*
 * Per-call constants. Every class's weight ω_c = w_c·q_c is written as an off-target part
 * β_c = kappa·v_c (v = class weights, prior, or their product; all 1 when v is NULL) and the
 * target's extra α = alpha0·w_y (src/ref/ref.c, "THE OBJECTIVE OPTIONS"):
 *   plain conventions: kappa = b, alpha0 = a − b;   prior: kappa = ε, v ∋ u, alpha0 = 1 − ε.
 */
typedef struct plan {
    double a, b;         /* q_y and q_c (c ≠ y) of the convention (prior: a = 1 − ε, b = 0) */
    double kappa, alpha0;
    const float *v;      /* per-class factor of β (NULL: 1), or NULL when kappa is 0 */
    float *v_owned;      /* v when it had to be formed (class weights × prior) */
    double v_sum;        /* Σ_c v_c (V when v is NULL) */
    double *v_chunk_sum; /* with v: Σ v_c over each chunk of LSCE_CHUNK classes (allocated) */
    int v_has_zero;      /* with v: some v_c is 0 */
    double beta_sum;     /* Σ_c β_c = kappa·v_sum: Ω = beta_sum + α */
    double kl_base;      /* Σ_c w_c·q_c^off·log q_c^off, for kl */
    const float *w;      /* class weights or NULL */
    const float *u;      /* prior or NULL */
    const float *rho;    /* row weights or NULL */
    double z, cp;        /* z-loss, confidence penalty */
    lsce_transform tf;   /* the logit transform (kind NONE when s = 1 and no softcap) */
    int softcap;         /* per-element chain rule (else ∂t/∂x = scale, folded) */
    double scale;
    int general;         /* the _ex sweeps: v, a transform or a confidence penalty */
    unsigned stats_flags; /* LSCE_STATS_* of every stats sweep of the call (src/kernels.h) */
    int bins;            /* calibration bins to accumulate (0: none) */
    double denominator;  /* Σ over kept rows of ρ_r·w_{y_r} */
    int64_t n_kept;
    int stream;          /* non-temporal gradient stores */
} plan;

/* Validates everything a call reads before it writes anything and fills the plan (the caller
 * frees p->v_owned and p->v_chunk_sum with plan_release). */
lsce_status lsce_prepare(const call *c, plan *p);
void lsce_plan_release(plan *p);

/* The row pass of c->mode. */
lsce_status lsce_run(const lsce_kernels *k, const call *c);

#endif /* LSCE_DRIVER_H */
