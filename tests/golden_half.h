/*
 * PyTorch golden vectors with bf16 / fp16 logits (tests/gen_golden_half.py → tests/golden_half/,
 * read by tests/golden.c as version 2): the checker, run by tests/golden_half_check.c on every
 * variant, entry point and gradient dtype. Tolerances: top of tests/golden_half.c.
 */
#ifndef LSCE_TESTS_GOLDEN_HALF_H
#define LSCE_TESTS_GOLDEN_HALF_H

#include <stdio.h>

#include "golden.h"

/* The directory: $LSCE_GOLDEN_HALF_DIR, else the source tree's tests/golden_half. */
const char *golden_half_dir(void);

/* PyTorch's conversions held by a version-2 case — its logits x.to(dtype), its gradient
 * grad.to(bfloat16 / float16) — against tests/half_ref.h and src/half.h. Returns the number of
 * failed checks (reported through fail, at most max_reports of them). */
int golden_half_conversions(const golden_case *c, golden_fail_fn fail, void *ctx,
                            int max_reports);

/* Runs one entry point with one variant and gradient dtype on a 16-bit-logits case and compares
 * every output (nothing to run — 0 — for a conversion table, or in place with another gradient
 * dtype). Returns the number of failed checks. */
int golden_half_check(const golden_case *c, lsce_isa isa, golden_entry entry,
                      lsce_dtype grad_dtype, golden_fail_fn fail, void *ctx, int max_reports);

/* Prints what the checks measured: per variant × logits dtype × gradient dtype, the distance of
 * the gradients from the correctly rounded golden value and from PyTorch's own rounding, the
 * largest share of the tolerance used; and how PyTorch rounded float64 to 16 bit. */
void golden_half_report(FILE *out);

#endif
