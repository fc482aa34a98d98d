/*
 * The tolerances of the objective-option golden vectors, derived at the top of
 * tests/golden_options_bounds.c and used by tests/golden_options.c's gopt_check.
 */
#ifndef LSCE_TESTS_GOLDEN_OPTIONS_BOUNDS_H
#define LSCE_TESTS_GOLDEN_OPTIONS_BOUNDS_H

#include <stdint.h>

#include "golden_options.h"

/* Per-row quantities of the derivation (row r of a case). */
typedef struct gopt_row_model {
    int kept;
    double rho, g, lse, H, Omega, CE, KL, Pbar, Qbar, loss_tsens, Gmax, omega_y;
} gopt_row_model;

/* Per-element quantities, scratch of V each: t, its fp32 error δt, p, ω = w·q, G = g·L. */
typedef struct gopt_elem_model {
    double *t, *dt, *p, *omega, *G;
} gopt_elem_model;

/* Fills *m and e's V elements for row r of c (the elements that need a kept row — ω, G and the
 * sums over them — only for a kept row). */
void gopt_model_row(const gopt_case *c, int64_t r, const gopt_elem_model *e, gopt_row_model *m);

/* Bound on a kept row's loss (double), before the fp32 rounding of row_loss. */
double gopt_tol_row_loss(const gopt_case *c, const gopt_row_model *m);

/* Bound on element j of a kept row's gradient (backward: through lsce_backward from the saved
 * fp32 row_lse). */
double gopt_tol_grad(const gopt_case *c, const gopt_row_model *m, const gopt_elem_model *e,
                     int64_t j, int backward);

#endif
