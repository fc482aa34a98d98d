/*
 * The storage dtypes as the kernels fuzz target reads and writes them, written independently of
 * src/half.h: widening a 16-bit value (exact), storing a test input (truncating: any 16-bit
 * pattern is a valid input), and the rounding a 16-bit gradient adds (lsce.h: half an ulp of its
 * dtype).
 */
#ifndef LSCE_FUZZ_STORAGE_H
#define LSCE_FUZZ_STORAGE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lsce.h"

static inline size_t dtype_size(lsce_dtype dt) { return dt == LSCE_DTYPE_F32 ? 4 : 2; }

static inline float f16_value(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 0x3ff;
    const float v = e == 31 ? (m ? NAN : INFINITY)
                    : e == 0 ? ldexpf((float)m, -24)
                             : ldexpf((float)(1024 + m), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element i of a row of dtype dt, as fp32. */
static inline float element(const void *row, lsce_dtype dt, int64_t i)
{
    if (dt == LSCE_DTYPE_F32)
        return ((const float *)row)[i];
    const uint16_t h = ((const uint16_t *)row)[i];
    if (dt == LSCE_DTYPE_F16)
        return f16_value(h);
    const uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Stores v as dtype dt (truncating: any 16-bit pattern is a valid input). */
static inline void store_element(void *row, lsce_dtype dt, int64_t i, float v)
{
    if (dt == LSCE_DTYPE_F32) {
        ((float *)row)[i] = v;
        return;
    }
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint16_t h = (uint16_t)(bits >> 16);
    if (dt == LSCE_DTYPE_F16) {
        const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
        const float a = fabsf(v);
        if (isnan(v))
            h = sign | 0x7e00u;
        else if (a >= 65536.0f)
            h = sign | 0x7c00u;
        else if (a >= 0x1p-14f) /* normal: exponent and the top 10 mantissa bits */
            h = (uint16_t)(sign | (((bits >> 23 & 0xffu) - 112u) << 10) | ((bits >> 13) & 0x3ffu));
        else /* subnormal or 0: units of 2^−24 */
            h = (uint16_t)(sign | (uint16_t)ldexpf(a, 24));
    } else if (isnan(v)) {
        h |= 0x0040u; /* a NaN whose payload was only in the dropped half stays a NaN */
    }
    ((uint16_t *)row)[i] = h;
}

/* Rounding of one fp32 value to dt: relative (u) and absolute (below the subnormals) parts. */
static inline double rounding_rel(lsce_dtype dt)
{
    return dt == LSCE_DTYPE_F32 ? 0.0 : dt == LSCE_DTYPE_BF16 ? 0x1p-8 : 0x1p-11;
}
static inline double rounding_abs(lsce_dtype dt) { return dt == LSCE_DTYPE_F16 ? 0x1p-25 : 0.0; }

#endif /* LSCE_FUZZ_STORAGE_H */
