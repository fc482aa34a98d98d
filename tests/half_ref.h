/*
 * Reference conversions between binary64 / binary32 values and the 16-bit storage types, for the
 * tests (tests/test_dtypes.c, tests/golden_half.c). Written from the IEEE 754 definitions on
 * values — the binade, exact scalings by powers of two and nearbyint in the default
 * round-to-nearest-even mode — independently
 * of the bit manipulations of src/half.h (the library's specification, which test_dtypes checks
 * against this file, against the compiler's _Float16 and against PyTorch's tables).
 *
 *   format  significand bits p   normal exponents   bias   largest finite
 *   bf16    8                    [−126, 127]         127    (2 − 2^−7)·2^127
 *   f16     11                   [−14, 15]           15     65504
 *
 * Rounding: nearest, ties to even, subnormal results exact (never flushed), past the largest
 * finite value by half an ulp or more (a tie rounds to the even 2^(emax+1)): ±inf. NaN: a quiet
 * NaN of the same sign keeping the top payload bits (fp32 payload bits 21.. below the quiet bit),
 * as src/half.h specifies; PyTorch returns a canonical NaN instead (only the class compares).
 */
#ifndef LSCE_TESTS_HALF_REF_H
#define LSCE_TESTS_HALF_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lsce.h"

typedef struct ref_fmt {
    int p, emin, emax, bias;
    uint16_t inf, quiet; /* bits of +inf; the quiet bit of a NaN */
} ref_fmt;

static inline ref_fmt ref_format(lsce_dtype dt)
{
    if (dt == LSCE_DTYPE_BF16)
        return (ref_fmt){8, -126, 127, 127, 0x7f80u, 0x0040u};
    return (ref_fmt){11, -14, 15, 15, 0x7c00u, 0x0200u};
}

/* 2^e for e ∈ [−1022, 1023], exactly (a multiplication by it is an exact scaling here: every
 * product below stays within the normal range of binary64). */
static inline double ref_pow2(int e)
{
    const uint64_t u = (uint64_t)(e + 1023) << 52;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* floor(log2 |a|) of a finite a with |a| ≥ 2^−1022 (what ilogb returns). */
static inline int ref_exponent(double a)
{
    uint64_t u;
    memcpy(&u, &a, sizeof u);
    return (int)((u >> 52) & 0x7ffu) - 1023;
}

/* The largest finite value of the format. */
static inline double ref_max(lsce_dtype dt)
{
    const ref_fmt f = ref_format(dt);
    return (2.0 - ref_pow2(1 - f.p)) * ref_pow2(f.emax);
}

/* x rounded to the 16-bit format, as a double (exact): ±inf past the largest finite value, NaN for
 * NaN, the sign of zero kept. */
static inline double ref_round(double x, lsce_dtype dt)
{
    if (isnan(x) || isinf(x) || x == 0.0)
        return x;
    const ref_fmt f = ref_format(dt);
    const double a = fabs(x);
    if (a < 0x1p-1000) /* far below half the smallest subnormal of either format */
        return copysign(0.0, x);
    if (a >= ref_pow2(f.emax + 1))
        return copysign(INFINITY, x);
    int e = ref_exponent(a);
    if (e < f.emin)
        e = f.emin; /* subnormal: the spacing stops shrinking */
    /* x·2^(p−1−e) has its units digit at the format's last place; nearbyint rounds it to nearest
     * even (the default rounding mode) */
    const double r = nearbyint(x * ref_pow2(f.p - 1 - e)) * ref_pow2(e - (f.p - 1));
    return fabs(r) > ref_max(dt) ? copysign(INFINITY, x) : r;
}

/* The spacing of the format at |v| (at the largest finite value for ±inf). */
static inline double ref_ulp(double v, lsce_dtype dt)
{
    const ref_fmt f = ref_format(dt);
    const double a = fabs(v);
    int e = isinf(a) || a > ref_max(dt) ? f.emax : (a < 0x1p-1000 ? f.emin : ref_exponent(a));
    if (e < f.emin)
        e = f.emin;
    return ref_pow2(e - (f.p - 1));
}

/* Bits of v, a value of the format (ref_round's result) or ±inf. */
static inline uint16_t ref_encode(double v, lsce_dtype dt)
{
    const ref_fmt f = ref_format(dt);
    const uint16_t sign = signbit(v) ? 0x8000u : 0u;
    const double a = fabs(v);
    if (isinf(a))
        return (uint16_t)(sign | f.inf);
    if (a == 0.0)
        return sign;
    const int e = ref_exponent(a);
    if (e < f.emin) /* a = m·2^(emin − p + 1), m < 2^(p−1) */
        return (uint16_t)(sign | (uint16_t)(a * ref_pow2(f.p - 1 - f.emin)));
    const unsigned frac = (unsigned)(a * ref_pow2(f.p - 1 - e) - ref_pow2(f.p - 1));
    return (uint16_t)(sign | (unsigned)(e + f.bias) << (f.p - 1) | frac);
}

/* The value of 16-bit bits (exact; NaN for every NaN). */
static inline double ref_decode(uint16_t h, lsce_dtype dt)
{
    const ref_fmt f = ref_format(dt);
    const int m_bits = f.p - 1;
    const unsigned e_all = (unsigned)f.inf >> m_bits;
    const unsigned E = (h >> m_bits) & e_all, m = h & ((1u << m_bits) - 1u);
    double v;
    if (E == e_all)
        v = m ? NAN : INFINITY;
    else if (E == 0)
        v = (double)m * ref_pow2(f.emin - m_bits);
    else
        v = (double)(m | 1u << m_bits) * ref_pow2((int)E - f.bias - m_bits);
    return (h & 0x8000u) ? -v : v;
}

static inline int ref_is_nan16(uint16_t h, lsce_dtype dt)
{
    const ref_fmt f = ref_format(dt);
    return (h & f.inf) == f.inf && (h & ((1u << (f.p - 1)) - 1u)) != 0;
}

static inline int ref_is_quiet_nan16(uint16_t h, lsce_dtype dt)
{
    return ref_is_nan16(h, dt) && (h & ref_format(dt).quiet);
}

static inline uint32_t ref_f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float ref_bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* fp32 NaN → quiet 16-bit NaN: sign, quiet bit, the top p − 2 payload bits below fp32's quiet bit. */
static inline uint16_t ref_nan16(uint32_t u, lsce_dtype dt)
{
    const ref_fmt f = ref_format(dt);
    const uint32_t payload = u & 0x3fffffu; /* below the quiet bit (22) */
    return (uint16_t)(((u >> 16) & 0x8000u) | f.inf | f.quiet | (payload >> (22 - (f.p - 2))));
}

/* fp32 → 16 bit, rounded once (the specification src/half.h implements). */
static inline uint16_t ref_f32_to_16(float x, lsce_dtype dt)
{
    if (isnan(x))
        return ref_nan16(ref_f32_bits(x), dt);
    return ref_encode(ref_round((double)x, dt), dt);
}

/* binary64 → 16 bit, rounded once (directly, not through fp32); NaN → the quiet NaN of its sign. */
static inline uint16_t ref_f64_to_16(double x, lsce_dtype dt)
{
    if (isnan(x))
        return (uint16_t)((signbit(x) ? 0x8000u : 0u) | ref_format(dt).inf | ref_format(dt).quiet);
    return ref_encode(ref_round(x, dt), dt);
}

/* Position of a non-NaN 16-bit value on the number line: consecutive values (±inf next to the
 * largest finite ones) differ by 1, and +0 and −0 share 0. |ordinal(a) − ordinal(b)| is the
 * distance in ulps of the format. */
static inline int32_t ref_ordinal(uint16_t h)
{
    const int32_t magnitude = h & 0x7fff;
    return (h & 0x8000u) ? -magnitude : magnitude;
}

#endif /* LSCE_TESTS_HALF_REF_H */
