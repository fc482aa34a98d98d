/*
 * Portable conversions between fp32 and the 16-bit storage types: the specification every SIMD
 * conversion must match bit for bit. fp32 → 16 bit rounds to nearest, ties to even, once; a NaN
 * stays a (quiet) NaN of the same sign; overflow gives ±inf; subnormal results are exact roundings
 * (never flushed). 16 bit → fp32 is exact.
 */
#ifndef LSCE_HALF_H
#define LSCE_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t lsce_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float lsce_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bfloat16: the high half of an fp32. */
static inline float lsce_bf16_to_f32(uint16_t h) { return lsce_bits_f32((uint32_t)h << 16); }

static inline uint16_t lsce_f32_to_bf16(float f)
{
    const uint32_t u = lsce_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign and payload top, force quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    /* Adding 0x7fff plus the lowest kept bit carries into bit 16 exactly when the dropped half
     * is above a tie, or a tie with an odd kept part; a carry out of the mantissa bumps the
     * exponent, up to inf. */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
static inline float lsce_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    if (exponent == 0x1f) /* inf, NaN (payload kept) */
        return lsce_bits_f32(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) { /* zero, subnormal: mantissa · 2^−24, exact in fp32 */
        const float magnitude = (float)mantissa * 0x1p-24f;
        return sign ? -magnitude : magnitude;
    }
    return lsce_bits_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

static inline uint16_t lsce_f32_to_f16(float f)
{
    const uint32_t u = lsce_f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: quiet, top payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* ≥ 65520 = 65504 + half an ulp, a tie that rounds to even: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* normal half (≥ 2^−14): rebias, round the 13 dropped bits */
        const uint32_t rounded = a + 0x0fffu + ((a >> 13) & 1u);
        return (uint16_t)(sign | ((rounded >> 13) - (112u << 10)));
    }
    /* Subnormal half: value = m·2^(e−150) with the 24-bit significand m; in units of 2^−24 that is
     * m >> (126 − e), rounded to nearest even. Below 2^−25 it rounds to 0. */
    const uint32_t e = a >> 23;
    if (e < 102)
        return sign;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;
    const uint32_t kept = m >> shift, dropped = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    return (uint16_t)(sign | (kept + (dropped > half || (dropped == half && (kept & 1u)))));
}

/* Element i of a row stored as dtype (lsce_dtype's values: 0 f32, 1 bf16, 2 f16), as fp32. */
static inline float lsce_load_as_f32(const void *row, int dtype, int64_t i)
{
    if (dtype == 0)
        return ((const float *)row)[i];
    const uint16_t h = ((const uint16_t *)row)[i];
    return dtype == 1 ? lsce_bf16_to_f32(h) : lsce_f16_to_f32(h);
}

/* Stores v into element i of a row of dtype, rounded once to nearest even. */
static inline void lsce_store_from_f32(void *row, int dtype, int64_t i, float v)
{
    if (dtype == 0)
        ((float *)row)[i] = v;
    else
        ((uint16_t *)row)[i] = dtype == 1 ? lsce_f32_to_bf16(v) : lsce_f32_to_f16(v);
}

static inline size_t lsce_dtype_size(int dtype) { return dtype == 0 ? 4 : 2; }

#endif /* LSCE_HALF_H */
