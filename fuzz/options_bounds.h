/*
 * The tolerances of the options fuzz target (fuzz_options.c): per row and per gradient element,
 * a bound B on the error of ONE variant, derived from lsce.h's "Accuracy" statements in
 * options_bounds.c (the derivation is there). Two variants then differ by at most 2·B.
 * B is evaluated from a double-precision estimate of the exact values (t, p, lse, H, …) that this
 * file computes from the logits as stored; it needs no oracle to be exact, only to estimate
 * magnitudes. No library code here.
 */
#ifndef LSCE_FUZZ_OPTIONS_BOUNDS_H
#define LSCE_FUZZ_OPTIONS_BOUNDS_H

#include <stdint.h>

#include "lsce.h"

#define OB_MAX_ROWS 8

typedef struct ob_input {
    const lsce_options *o; /* valid options, with their arrays */
    int64_t rows, V, ls;   /* logits row r at xf + r·ls */
    const float *xf;       /* the logits as fp32 (16-bit values widened, exactly) */
    const int64_t *y;
    const float *go;       /* grad_output as passed (NULL: 1) */
} ob_input;

typedef struct ob_row {
    int kept, finite;   /* finite: no NaN or +inf t, not every t −inf */
    int skip_loss;      /* lsce.h's range limit: loss not comparable (see options_bounds.c) */
    int skip_grad;      /* an fp32 gradient coefficient may overflow: the gradient not compared */
    int amb;            /* softcap: the argmax may differ between variants */
    int edge;           /* calibration: the row may land in bin_lo or bin_hi */
    int bin_lo, bin_hi; /* its possible bins (kept finite rows, calibration on) */
    int64_t argmax;     /* of t: lowest index of the max, or the first NaN (exact unless amb) */
    double scale;       /* g·ρ: the row's gradient scale */
    double b_loss, b_lse, b_nll, b_z, b_conf; /* per-variant bounds (b_loss: the fp32 row_loss) */
} ob_row;

typedef struct ob_bounds {
    int64_t rows, V;
    ob_row row[OB_MAX_ROWS];
    double *grad;       /* rows × V: estimate of the exact gradient (0 for ignored rows) */
    double *b_grad;     /* rows × V: per-variant bound, fused (before 16-bit rounding) */
    double *b_grad_bwd; /* rows × V: the same for lsce_backward from a saved fp32 row_lse */
    int64_t kept, finite_kept, amb_kept;
    int64_t correct_lo, correct_hi; /* n_correct's range: certain rows, + the ambiguous ones */
    double denominator; /* Σ_kept ρ_r·w_{y_r}, summed in row order as lsce.h defines it */
    double safe;        /* the factor the target applies to 2·B (first-order terms dropped) */
} ob_bounds;

/* Returns 0, or −1 when out of memory. strict: no range skips (LSCE_FUZZ_STRICT). */
int ob_prepare(const ob_input *in, int strict, ob_bounds *b);
void ob_free(ob_bounds *b);

#endif /* LSCE_FUZZ_OPTIONS_BOUNDS_H */
