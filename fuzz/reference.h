/*
 * The exact answer the kernels fuzz target compares against: tests/oracle.c, with the rows it
 * cannot resolve re-evaluated.
 *
 * The oracle forms log p_c = x_c − lse from lse = m + log d rounded in double: once |m| ≳ 1e9
 * the digits of log d are lost (at m = 1e30, three equal maxima get p = 1 instead of 1/3 and a
 * loss of 0 instead of log 3). The fuzzer feeds ±1e30 and FLT_MAX, so every row with a finite lse
 * is recomputed here relative to m:
 *   log p_c = (x_c − m) − log d,  loss = Σ_c q_c·(log d − (x_c − m)) (+ Σ q log q),
 *   nll = log d − (x_y − m),      grad_c = g·(A·exp(x_c − m)/d − q_c),
 * every term of each sum one-signed. Where the oracle is exact (|m| < 2^20) the two must agree
 * (a check of this code against the independent oracle). Rows the oracle makes NaN or −inf (a NaN
 * or +inf logit, only −inf logits), argmax, counts and gradient scales are the oracle's.
 */
#ifndef LSCE_FUZZ_REFERENCE_H
#define LSCE_FUZZ_REFERENCE_H

#include <stdint.h>

#include "lsce.h"
#include "oracle.h"

/* oracle_eval_batch (with the gradient) on logits x (rows × stride, V used), then the
 * re-evaluation above. Returns 0, or −1 when out of memory. */
int reference_eval(const lsce_options *o, int64_t rows, int64_t V, const float *x,
                   int64_t stride, const int64_t *targets, const float *grad_output,
                   oracle_batch *out);

#endif /* LSCE_FUZZ_REFERENCE_H */
