/*
 * The error bounds of every variant and the checks that assert them, for tests/kernel_run.c.
 * They are defined in tests/test_kernels.c, next to their derivation (the TOLERANCES comment).
 */
#ifndef LSCE_TESTS_KERNEL_BOUNDS_H
#define LSCE_TESTS_KERNEL_BOUNDS_H

#include <stdint.h>

#include "kernel_run.h"
#include "lsce.h"

/* The oracle's answer for x's data (x->ob), and the per-row facts of the bounds (x->ri, x->p). */
void compute_oracle(ctx *x);

/* row_loss / row_lse / result of a forward or fused call (each may be NULL: not asked for). */
void check_forward(ctx *x, lsce_isa isa, const char *entry, const float *row_loss,
                   const float *row_lse, const lsce_result *res);

/* The gradient of a fused (lse_in == NULL) or backward call. */
void check_grad(ctx *x, lsce_isa isa, const char *entry, const float *grad, int64_t stride,
                const float *lse_in);

#endif /* LSCE_TESTS_KERNEL_BOUNDS_H */
