/*
 * A double-precision oracle for the unit tests, written independently of src/ (it calls no library
 * code; it only uses the public types of lsce.h), plus the tests' deterministic random numbers.
 *
 * One kept row x[0..V) with target y, smoothed target q (q_y = a, q_c = b for c ≠ y, per the table
 * in lsce.h; `others` with V == 1 has b = 0):
 *   lse    = m + log Σ_c exp(x_c − m)            (m = max_c x_c; max-shifted, libm exp/log)
 *   log p_c = x_c − lse
 *   loss   = −Σ_c q_c·log p_c  (+ Σ_c q_c log q_c with kl); terms with q_c == 0 contribute 0
 *   nll    = lse − x_y
 *   ∂loss/∂x_c = (Σ_c q_c)·p_c − q_c
 *   argmax = the lowest index of the largest value, NaN larger than every number (torch.argmax)
 * Sums are compensated (Neumaier), so the oracle's own error is a few double ulps of its result.
 * A row with a NaN or +inf logit, or with only −inf logits, has NaN loss, nll, lse and gradient
 * (lsce.h "Non-finite input").
 */
#ifndef LSCE_TESTS_ORACLE_H
#define LSCE_TESTS_ORACLE_H

#include <stdint.h>

#include "lsce.h"

typedef struct oracle_row {
    double loss, nll, lse;
    int64_t argmax;
} oracle_row;

/* The smoothing weights of a row of V classes: *a = q_y, *b = q_c (c ≠ y). */
void oracle_weights(const lsce_options *o, int64_t V, double *a, double *b);

/* One row (kept, target y ∈ [0, V)): loss, nll, lse, argmax, and when grad is not NULL the
 * gradient of the row loss (V entries, unscaled). Uses o->smoothing, o->convention and o->kl. */
void oracle_eval_row(const lsce_options *o, int64_t V, const float *x, int64_t y, oracle_row *out,
                     double *grad);

/* The whole batch with the public API's reductions:
 *   kept rows: target != o->ignore_index; ignored rows have loss 0, nll 0, gradient 0 (their lse
 *   is still the row's lse);
 *   mean: loss = Σ kept / n_kept (0, and a zero gradient, when none is kept), gradient scale
 *         g = grad_output[0] (1 when NULL) / n_kept;
 *   sum:  loss = Σ kept, g = grad_output[0] (or 1);
 *   none: loss = Σ kept (the per-row losses are in row_loss), g_r = grad_output[r] (or 1). */
typedef struct oracle_batch {
    lsce_result result; /* expected reduced results (z_sum 0) */
    int64_t rows, vocab;
    double *row_loss;   /* rows */
    double *row_nll;    /* rows */
    double *row_lse;    /* rows */
    double *row_scale;  /* rows: the gradient scale g_r (0 for ignored rows) */
    int64_t *argmax;    /* rows */
    double *grad;       /* rows × vocab (dense), NULL unless asked for */
} oracle_batch;

/* Returns 0, or −1 when out of memory. logits: rows × stride, V used per row. */
int oracle_eval_batch(const lsce_options *o, int64_t rows, int64_t V, const float *logits,
                      int64_t stride, const int64_t *targets, const float *grad_output,
                      int want_grad, oracle_batch *out);
void oracle_batch_free(oracle_batch *b);

/* ---- deterministic random numbers (xoshiro256**, seeded through splitmix64) --------------- */

typedef struct test_rng {
    uint64_t s[4];
} test_rng;

/* The suite's seed: $LSCE_TEST_SEED (decimal or 0x-hex), else a fixed default. */
uint64_t test_seed(void);
/* Prints "<binary>: LSCE_TEST_SEED=<seed>" to stderr (call once per test binary). */
void test_print_seed(const char *binary);
/* FNV-1a of a string: derive independent streams per test from one seed. */
uint64_t test_hash(const char *s);

void rng_init(test_rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(test_rng *r);
double rng_uniform(test_rng *r);                        /* [0, 1) */
int64_t rng_range(test_rng *r, int64_t lo, int64_t hi); /* [lo, hi), hi > lo */
double rng_normal(test_rng *r);                         /* N(0, 1) */

#endif /* LSCE_TESTS_ORACLE_H */
