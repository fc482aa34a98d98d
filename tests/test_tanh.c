/*
 * The softcap transform of every kernel table (row_transform with cap = scale = k = 1, so that
 * t = tanh(y) and v = 1 − |tanh y| with no other rounding), against tanh in double.
 *
 * Claims checked (lsce.h "Accuracy", softcap): t within TANH_MAX_ULP ulp of tanh(y); v within
 * V_MAX_ULP ulp of 1 − |tanh y| where exp(−2|y|) ≥ 2^−126 (|y| ≤ 43.6; beyond, exp may flush:
 * absolute error < 2^−125). Exact: tanh(±0) = ±0, v(0) = 1, tanh(±inf) = ±1, v(±inf) = 0,
 * NaN → NaN (tanh(−0) may be +0), and odd symmetry (t(−y) = −t(y), v(−y) = v(y)).
 *
 * Arguments: every 64th float bit pattern of [0, 64] (a seed-dependent phase; every float with
 * LSCE_TEST_EXHAUSTIVE=1, ~40 s per table), exhaustive windows around the branch point 0.625 and
 * the exhaustive sweep's worst arguments, and the negatives of a sample. The exact value: tanh() in double; 1 − |tanh y| = 2e/(1 + e), e = exp(−2|y|), in
 * double (no cancellation), error ≤ a few double ulps: negligible in float ulps.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "oracle.h"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    test_print_seed("test_tanh");
}

/* Bounds: the worst errors of an exhaustive sweep of [0, 64] (2026-11, every table) rounded up.
 * Their parts: |y| < 0.625: the minimax polynomial (0.74 ulp in fp32 Horner evaluation);
 * |y| ≥ 0.625: exp's 2.02 ulp on e ≤ 0.287 shrinks to ≤ 2.02·e/(1 − e) ≤ 0.81 ulp in 1 − e and to
 * ≤ 2.02·(1 − e/(1 + e)) in v = 2e/(1 + e), plus the roundings of 1 ± e, 1/(1 + e) and the
 * products (≤ 0.5 ulp each); v = 1 − |t| below 0.625 adds one rounding to |t|'s error, scaled by
 * |t|/v ≤ 1.25. The scalar reference (libm tanhf and expf) is within these too. */
#define TANH_MAX_ULP 2.25
#define V_MAX_ULP 3.9
#define CHUNK 65536

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Spacing of floats in the binade of |e| (e normal). */
static double ulp_of(double e)
{
    int exponent;
    frexp(fabs(e), &exponent);
    return ldexp(1.0, exponent - 24);
}

typedef struct tanh_stats {
    double t_ulp, v_ulp;
    float t_arg, v_arg;
    long n, bad;
} tanh_stats;

static const lsce_transform unit_softcap = {LSCE_TRANSFORM_SOFTCAP, 1.0f, 1.0f, 1.0f};

static void check(tanh_stats *s, const char *name, const float *y, const float *t, const float *v,
                  int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const double a = fabs((double)y[i]), e = exp(-2.0 * a);
        const double want_t = tanh((double)y[i]), want_v = 2.0 * e / (1.0 + e);
        const double t_ulp = want_t == 0.0 ? (t[i] == 0.0f ? 0.0 : INFINITY)
                                           : fabs((double)t[i] - want_t) / ulp_of(want_t);
        double v_ulp;
        if (e >= FLT_MIN)
            v_ulp = fabs((double)v[i] - want_v) / ulp_of(want_v);
        else /* exp(−2|y|) may flush: v = 2e/(1 + e) < 2^−125 */
            v_ulp = fabs((double)v[i] - want_v) < 2.0 * FLT_MIN ? 0.0 : INFINITY;
        if (t_ulp > s->t_ulp) {
            s->t_ulp = t_ulp;
            s->t_arg = y[i];
        }
        if (v_ulp > s->v_ulp) {
            s->v_ulp = v_ulp;
            s->v_arg = y[i];
        }
        if (!(t_ulp <= TANH_MAX_ULP && v_ulp <= V_MAX_ULP)) {
            if (s->bad++ < 10)
                cr_log_error("%s: y = %a: t = %a (%.3f ulp), v = %a (%.3f ulp)", name,
                             (double)y[i], (double)t[i], t_ulp, (double)v[i], v_ulp);
        }
    }
    s->n += n;
}

static void sweep(tanh_stats *s, const lsce_kernels *k, const char *name, uint32_t lo,
                  uint32_t hi, uint32_t stride, float *y, float *t, float *v, int negate)
{
    int64_t n = 0;
    for (uint64_t b = lo; b <= hi; b += stride) {
        y[n++] = negate ? -u2f((uint32_t)b) : u2f((uint32_t)b);
        if (n == CHUNK || b + stride > hi) {
            k->row_transform[LSCE_DTYPE_F32](y, n, &unit_softcap, t, v);
            check(s, name, y, t, v, n);
            n = 0;
        }
    }
}

static void tanh_test(const lsce_kernels *k)
{
    const char *name = k->name;
    float *y = malloc(3 * sizeof(float) * CHUNK);
    cr_assert(y);
    float *t = y + CHUNK, *v = t + CHUNK;
    tanh_stats s;
    memset(&s, 0, sizeof s);
    const char *ex = getenv("LSCE_TEST_EXHAUSTIVE");
    const uint32_t stride = ex && *ex && *ex != '0' ? 1 : 64;
    const uint32_t phase = (uint32_t)(test_seed() % stride);
    sweep(&s, k, name, f2u(0.0f) + phase, f2u(64.0f), stride, y, t, v, 0);
    sweep(&s, k, name, f2u(0.625f) - 100000, f2u(0.625f) + 100000, 1, y, t, v, 0);
    /* the worst arguments of the exhaustive sweep (t: 2.2399 ulp, v: 3.8880 ulp), ± 4096 floats */
    sweep(&s, k, name, f2u(0x1.432e2ap-1f) - 4096, f2u(0x1.432e2ap-1f) + 4096, 1, y, t, v, 0);
    sweep(&s, k, name, f2u(0x1.f5465ap-1f) - 4096, f2u(0x1.f5465ap-1f) + 4096, 1, y, t, v, 0);
    sweep(&s, k, name, f2u(0.0f) + phase, f2u(64.0f), 509, y, t, v, 1);

    /* exact values and symmetry */
    float sp[6] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f}, st[6], sv[6];
    k->row_transform[LSCE_DTYPE_F32](sp, 6, &unit_softcap, st, sv);
    cr_expect(st[0] == 0.0f && !signbit(st[0]) && sv[0] == 1.0f, "%s: tanh(+0)", name);
    /* the sign of a zero t reaches no output (p, loss and gradient see t − max): not checked */
    cr_expect(st[1] == 0.0f && sv[1] == 1.0f, "%s: tanh(-0)", name);
    cr_expect(st[2] == 1.0f && sv[2] == 0.0f, "%s: tanh(+inf) = %a, v %a", name, (double)st[2],
              (double)sv[2]);
    cr_expect(st[3] == -1.0f && sv[3] == 0.0f, "%s: tanh(-inf) = %a, v %a", name, (double)st[3],
              (double)sv[3]);
    cr_expect(isnan(st[4]) && isnan(sv[4]), "%s: tanh(NaN) = %a, v %a", name, (double)st[4],
              (double)sv[4]);
    cr_expect(st[5] == 1.0f && sv[5] == 0.0f, "%s: tanh(1e30)", name);
    {
        float a[2][37], r[2][37], w[2][37];
        for (int i = 0; i < 37; i++) {
            a[0][i] = 0.173f * (float)i - 3.1f;
            a[1][i] = -a[0][i];
        }
        k->row_transform[LSCE_DTYPE_F32](a[0], 37, &unit_softcap, r[0], w[0]);
        k->row_transform[LSCE_DTYPE_F32](a[1], 37, &unit_softcap, r[1], w[1]);
        for (int i = 0; i < 37; i++)
            cr_expect(r[1][i] == -r[0][i] && w[1][i] == w[0][i], "%s: odd symmetry at %a", name,
                      (double)a[0][i]);
    }
    fprintf(stderr, "tanh %-10s max error %.4f ulp (at y = %a), v = 1 − |tanh| %.4f ulp (at y = %a); "
                    "%ld arguments (stride %u)\n",
            name, s.t_ulp, (double)s.t_arg, s.v_ulp, (double)s.v_arg, s.n, stride);
    free(y);
    cr_assert_eq(s.bad, 0, "%s: %ld results outside the bounds (t %.3f ulp, v %.3f ulp)", name,
                 s.bad, s.t_ulp, s.v_ulp);
}

Test(tanh, every_table, .timeout = 600)
{
    const lsce_kernels *tables[8];
    const int n = lsce_kernels_all(tables, 8);
    cr_assert(n >= 1);
    for (int i = 0; i < n; i++)
        tanh_test(tables[i]);
}
