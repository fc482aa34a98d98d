/* Neumaier's compensated sum, the double oracles' accumulator (tests/oracle.c,
 * tests/options_oracle.c): error ≈ 2 ulp(result) + O(n·2^−106)·Σ|terms|. */
#ifndef LSCE_TESTS_COMPENSATED_SUM_H
#define LSCE_TESTS_COMPENSATED_SUM_H

#include <math.h>

typedef struct csum {
    double s, c;
} csum;

static inline void csum_add(csum *k, double v)
{
    const double t = k->s + v;
    if (fabs(k->s) >= fabs(v))
        k->c += (k->s - t) + v;
    else
        k->c += (v - t) + k->s;
    k->s = t;
}

static inline double csum_get(const csum *k)
{
    /* Non-finite sums: the compensation is NaN (inf − inf); the plain sum is the answer. */
    return isfinite(k->s) ? k->s + k->c : k->s;
}

#endif /* LSCE_TESTS_COMPENSATED_SUM_H */
