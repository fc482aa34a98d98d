/* AVX2 + FMA (+ F16C) vocabulary for the SIMD sweeps (src/sweeps_simd.h): 8 lanes, vmaskmov tails,
 * non-temporal stores. */
#include <immintrin.h>
#include <stdint.h>

#define VARIANT avx2
#define W 8
#define HAVE_STREAM 1
#define HAVE_HALF 1

typedef __m256 vf;
typedef __m256d vsum;

static inline __m256i lanes_below(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_set1(float a) { return _mm256_set1_ps(a); }
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vf vf_copysign(vf mag, vf sgn)
{
    return _mm256_or_ps(mag, _mm256_and_ps(sgn, _mm256_set1_ps(-0.0f)));
}
static inline vf vf_select_lt(vf x, vf limit, vf a, vf b)
{
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, limit, _CMP_LT_OQ));
}
static inline int vf_all_lt(vf x, vf limit)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(x, limit, _CMP_LT_OQ)) == 0xff;
}
static inline vf vf_fma_nz(vf b, vf t, vf acc)
{
    const vf keep = _mm256_cmp_ps(b, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    return _mm256_fmadd_ps(b, _mm256_and_ps(t, keep), acc);
}
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline void vf_store_aligned(float *p, vf v) { _mm256_store_ps(p, v); }
static inline void vf_stream(float *p, vf v) { _mm256_stream_ps(p, v); }
static inline vf vf_load_tail(const float *p, int64_t n, float fill)
{
    const __m256i k = lanes_below(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, k), _mm256_castsi256_ps(k));
}
static inline void vf_store_tail(float *p, int64_t n, vf v) { _mm256_maskstore_ps(p, lanes_below(n), v); }
static inline vf vf_keep(vf v, int64_t n) { return _mm256_and_ps(_mm256_castsi256_ps(lanes_below(n)), v); }
static inline float vf_max_lane(vf v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
static inline int vf_find(vf v, float value)
{
    const int k = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(value), _CMP_EQ_OQ));
    return k ? __builtin_ctz((unsigned)k) : -1;
}
static inline int vf_split_zero(vf t, vf *e)
{
    const vf at = _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_EQ_OQ);
    *e = _mm256_andnot_ps(at, *e);
    return __builtin_popcount((unsigned)_mm256_movemask_ps(at));
}
static inline vsum vsum_zero(void) { return _mm256_setzero_pd(); }
static inline vsum vsum_fold(vsum acc, vf v)
{
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
static inline double vsum_total(vsum acc)
{
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
/* Macros, not functions: the hint must be a literal where the builtin expands (through the
 * always-inlined sweeps GCC 12 silently dropped _mm_prefetch's enum argument, and every prefetch). */
#define prefetch_l1(p) __builtin_prefetch((p), 0, 3) /* prefetcht0 */
static inline void store_fence(void) { _mm_sfence(); }

/* 16-bit storage. bf16 → fp32 is a shift; fp32 → bf16 rounds to nearest even in integers (the
 * bits of src/half.h), a NaN made quiet; fp16 both ways with F16C (nearest even, subnormals
 * exact). */
static inline vf vf_from_bf16(const uint16_t *p)
{
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
static inline vf vf_from_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline __m128i bf16_bits(vf v)
{
    const __m256i u = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    if (__builtin_expect(!_mm256_testz_ps(nan, nan), 0)) { /* NaN lanes: quiet, payload kept */
        const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
        rounded = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), nan));
    }
    /* every lane is ≤ 0xffff: the unsigned saturating pack keeps it */
    return _mm_packus_epi32(_mm256_castsi256_si128(rounded), _mm256_extracti128_si256(rounded, 1));
}
static inline __m128i f16_bits(vf v)
{
    return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline void vf_to_bf16(uint16_t *p, vf v) { _mm_storeu_si128((__m128i *)p, bf16_bits(v)); }
static inline void vf_to_f16(uint16_t *p, vf v) { _mm_storeu_si128((__m128i *)p, f16_bits(v)); }
static inline void vf_stream_bf16(uint16_t *p, vf v) { _mm_stream_si128((__m128i *)p, bf16_bits(v)); }
static inline void vf_stream_f16(uint16_t *p, vf v) { _mm_stream_si128((__m128i *)p, f16_bits(v)); }

/* exp(t) for t ≤ 0 (or NaN): t = n·ln2 + r, |r| ≤ ln2/2 (two-constant Cody–Waite), exp(r) by a
 * degree-5 minimax polynomial (relative error 9.2e-8), times 2^n built in the exponent field.
 * n = t·log2(e) rounded to nearest by adding 1.5·2^23 + 127 in the same FMA (the sum's low bits
 * are n + 127, the biased exponent of 2^n: no separate rounding, conversion or bias). t is clamped
 * at −88, so n ≥ −127: n = −127 (t < −87.68) gives the exponent field 0, i.e. 2^n = +0 and a
 * result of exactly 0 (−inf included), and n = −126 rounds p·2^−126 once into the subnormals:
 * below 2^−126 the absolute error stays < 2^−126. max(−88, NaN) keeps the NaN. */
static inline vf vf_exp_neg(vf t)
{
    t = _mm256_max_ps(_mm256_set1_ps(-88.0f), t);
    const vf shifter = _mm256_set1_ps(0x1.8p+23f + 127.0f); /* + 127: the exponent bias */
    const vf n_shifted = _mm256_fmadd_ps(t, _mm256_set1_ps(0x1.715476p+0f), shifter);
    const vf n = _mm256_sub_ps(n_shifted, shifter);
    vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e43p-1f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-0x1.05c61p-29f), r);
    vf p = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0fa830p-7f), r, _mm256_set1_ps(0x1.573a54p-5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.555a6ap-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffdc6p-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffff6p-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* n_shifted's bits are 0x4b40007f + n: shifted by 23 only n + 127 remains (mod 2^32) */
    const vf two_n = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(n_shifted), 23));
    return _mm256_mul_ps(p, two_n);
}

#include "../sweeps_simd.h"
