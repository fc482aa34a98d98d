/*
 * What the test_api suites (tests/test_api*.c) share: random batches, running an entry point on
 * one with fresh guard-filled outputs, and checking everything it wrote against tests/oracle.c
 * within the tolerances of tests/bounds.h (the accuracy lsce.h documents). The error paths'
 * guard-byte arena is tests/api_arena.h.
 */
#ifndef LSCE_TESTS_API_SUPPORT_H
#define LSCE_TESTS_API_SUPPORT_H

#include <stdint.h>

#include "each_isa.h"
#include "lsce.h"
#include "oracle.h"

typedef enum entry { E_FUSED, E_FORWARD, E_BACKWARD, E_COUNT } entry;
extern const char *const entry_names[E_COUNT];
extern const char *const red_names[3];
extern const char *const conv_names[3];

/* ---- batches ------------------------------------------------------------------------------ */

typedef struct batch {
    int64_t rows, V, stride;
    float *x;    /* rows × stride; the padding is NaN (a sweep reading past V poisons its row) */
    int64_t *y;  /* rows */
    float *go;   /* rows grad_output values (only [0] for mean/sum) */
} batch;

/* Normal logits × scale + offset; about frac_ignored of the rows get ignore_index. The values
 * come from LSCE_TEST_SEED and `name`. */
batch make_batch(const char *name, int64_t rows, int64_t V, int64_t pad, double scale,
                 double offset, double frac_ignored, int64_t ignore_index);
void free_batch(batch *b);

/* ---- running an entry point --------------------------------------------------------------- */

typedef struct outs {
    lsce_status st;
    float *grad;     /* rows × stride (NULL for forward) */
    float *row_loss; /* rows */
    float *row_lse;  /* rows */
    lsce_result res; /* backward: not produced (zeroed) */
} outs;

/* Runs an entry point on b with fresh guard-filled outputs. in_place: the gradient is written
 * over a copy of the logits (fused, backward). Backward gets row_lse from lsce_forward. */
outs run(entry e, const lsce_options *o, const batch *b, const float *go, int in_place);
void free_outs(outs *o);

lsce_options opts_of(lsce_isa isa, lsce_convention conv, lsce_reduction red, int kl, double eps,
                     int64_t ignore_index);

/* ---- against the oracle ------------------------------------------------------------------- */

/* The smoothing weights: *a = q_y, *b = q_c (c ≠ y), *A = Σ_c q_c. */
void weights(const lsce_options *o, int64_t V, double *a, double *b, double *A);

/* The tolerance of gradient element (r, c) against the oracle (tests/bounds.h); gmax = max |grad|
 * of the oracle's row; backward: the extra error of recomputing p from the fp32 row_lse. */
double grad_tol(const lsce_options *o, const batch *b, const oracle_batch *ob, int64_t r,
                int64_t c, double gmax, int backward);

/* Everything an entry point wrote, against the oracle, within tests/bounds.h. */
void expect_oracle(const char *what, const lsce_options *o, const batch *b, const float *go,
                   entry e, const outs *out);

/* Runs every entry point and compares with the oracle. */
void check_all_entries(const char *what, lsce_options o, const batch *b, const float *go);

#endif /* LSCE_TESTS_API_SUPPORT_H */
