/* AVX-512 (F/DQ/BW/VL) vocabulary for the SIMD sweeps (src/sweeps_simd.h): 16 lanes, masked
 * tails, non-temporal stores. Compiled a second time with LSCE_EXP_SLEEF for the benchmark's
 * SLEEF-exp variant. */
#include <immintrin.h>
#include <stdint.h>

#if defined(LSCE_EXP_SLEEF)
#include <sleef.h>
#define VARIANT avx512_sleef
#elif defined(LSCE_NATIVE_BF16) /* compiled again with -mavx512bf16 for CPUs that have it */
#define VARIANT avx512bf16
#else
#define VARIANT avx512
#endif
#define W 16
#define HAVE_STREAM 1
#define HAVE_HALF 1

typedef __m512 vf;
typedef __m512d vsum;

static inline __mmask16 lanes_below(int64_t n) { return (__mmask16)((1u << n) - 1u); }
static inline vf vf_set1(float a) { return _mm512_set1_ps(a); }
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_abs(vf a) { return _mm512_abs_ps(a); }
static inline vf vf_copysign(vf mag, vf sgn)
{
    return _mm512_or_ps(mag, _mm512_and_ps(sgn, _mm512_set1_ps(-0.0f)));
}
static inline vf vf_select_lt(vf x, vf limit, vf a, vf b)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, limit, _CMP_LT_OQ), b, a);
}
static inline int vf_all_lt(vf x, vf limit)
{
    return _mm512_cmp_ps_mask(x, limit, _CMP_LT_OQ) == 0xffff;
}
static inline vf vf_fma_nz(vf b, vf t, vf acc)
{
    const __mmask16 keep = _mm512_cmp_ps_mask(b, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    return _mm512_mask3_fmadd_ps(b, t, acc, keep);
}
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline void vf_store_aligned(float *p, vf v) { _mm512_store_ps(p, v); }
static inline void vf_stream(float *p, vf v) { _mm512_stream_ps(p, v); }
static inline vf vf_load_tail(const float *p, int64_t n, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes_below(n), p);
}
static inline void vf_store_tail(float *p, int64_t n, vf v) { _mm512_mask_storeu_ps(p, lanes_below(n), v); }
static inline vf vf_keep(vf v, int64_t n) { return _mm512_maskz_mov_ps(lanes_below(n), v); }
static inline float vf_max_lane(vf v) { return _mm512_reduce_max_ps(v); }
static inline int vf_find(vf v, float value)
{
    const __mmask16 k = _mm512_cmpeq_ps_mask(v, _mm512_set1_ps(value));
    return k ? __builtin_ctz(k) : -1;
}
static inline int vf_split_zero(vf t, vf *e)
{
    const __mmask16 at = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_EQ_OQ);
    *e = _mm512_mask_mov_ps(*e, at, _mm512_setzero_ps());
    return __builtin_popcount(at);
}
static inline vsum vsum_zero(void) { return _mm512_setzero_pd(); }
static inline vsum vsum_fold(vsum acc, vf v)
{
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(high));
}
static inline double vsum_total(vsum acc) { return _mm512_reduce_add_pd(acc); }
/* Macros, not functions: the hint must be a literal where the builtin expands (through the
 * always-inlined sweeps GCC 12 silently dropped _mm_prefetch's enum argument, and every prefetch). */
#define prefetch_l1(p) __builtin_prefetch((p), 0, 3) /* prefetcht0 */
static inline void store_fence(void) { _mm_sfence(); }

/* 16-bit storage. bf16 → fp32 is a shift; fp32 → bf16 rounds to nearest even in integers (the
 * bits of src/half.h), a NaN made quiet; fp16 both ways with the F16C instructions (nearest even,
 * subnormals exact). */
static inline vf vf_from_bf16(const uint16_t *p)
{
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
static inline vf vf_from_f16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline __m256i bf16_bits_integer(vf v)
{
    const __m512i u = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
}
#if defined(LSCE_NATIVE_BF16)
/* vcvtneps2bf16 rounds to nearest even and quiets NaNs like src/half.h, but treats subnormal
 * inputs as zero: those rare lanes (|v| < 2^−126, bf16 has fp32's exponent range) take the
 * integer rounding. One bit test finds the lanes with a zero exponent field (±0 or subnormal);
 * only when there are some does a second one pick the subnormals among them. */
static inline __m256i bf16_bits(vf v)
{
    const __m512i bits = _mm512_castps_si512(v);
    const __m256i native = (__m256i)_mm512_cvtneps_pbh(v);
    const __mmask16 zero_exponent = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(0x7f800000));
    if (__builtin_expect(zero_exponent == 0, 1))
        return native;
    const __mmask16 subnormal =
        _mm512_mask_test_epi32_mask(zero_exponent, bits, _mm512_set1_epi32(0x007fffff));
    return _mm256_mask_mov_epi16(native, subnormal, bf16_bits_integer(v));
}
/* Two vectors, lo in the low half, by one vcvtne2ps2bf16 (half the conversions' operations of
 * two vcvtneps2bf16); the subnormal lanes as above. */
#define HAVE_BF16_PAIR 1
static inline __m512i bf16_pair_bits(vf lo, vf hi)
{
    const __m512i native = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    const __m512i exponent = _mm512_set1_epi32(0x7f800000);
    if (__builtin_expect((_mm512_testn_epi32_mask(_mm512_castps_si512(lo), exponent) |
                          _mm512_testn_epi32_mask(_mm512_castps_si512(hi), exponent)) == 0, 1))
        return native;
    return _mm512_inserti64x4(_mm512_castsi256_si512(bf16_bits(lo)), bf16_bits(hi), 1);
}
static inline void vf_pair_to_bf16(uint16_t *p, vf lo, vf hi)
{
    _mm512_storeu_si512(p, bf16_pair_bits(lo, hi));
}
static inline void vf_pair_stream_bf16(uint16_t *p, vf lo, vf hi)
{
    _mm512_stream_si512((__m512i *)p, bf16_pair_bits(lo, hi));
}
#else
static inline __m256i bf16_bits(vf v) { return bf16_bits_integer(v); }
#endif
static inline __m256i f16_bits(vf v)
{
    return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline void vf_to_bf16(uint16_t *p, vf v) { _mm256_storeu_si256((__m256i *)p, bf16_bits(v)); }
static inline void vf_to_f16(uint16_t *p, vf v) { _mm256_storeu_si256((__m256i *)p, f16_bits(v)); }
static inline void vf_stream_bf16(uint16_t *p, vf v) { _mm256_stream_si256((__m256i *)p, bf16_bits(v)); }
static inline void vf_stream_f16(uint16_t *p, vf v) { _mm256_stream_si256((__m256i *)p, f16_bits(v)); }

#if defined(LSCE_EXP_SLEEF)
static inline vf vf_exp_neg(vf t) { return Sleef_expf16_u10avx512f(t); }
#else
/* exp(t) for t ≤ 0 (or NaN): t = n·ln2 + r, |r| ≤ ln2/2 (two-constant Cody–Waite), exp(r) by a
 * degree-5 minimax polynomial (relative error 9.2e-8 on the interval), then scalef by 2^n, which
 * rounds subnormal results once. t is clamped at −104 where exp(t) < 2^−150 rounds to 0, so −inf
 * gives exactly 0; max(−104, NaN) keeps the NaN. */
static inline vf vf_exp_neg(vf t)
{
    t = _mm512_max_ps(_mm512_set1_ps(-104.0f), t);
    const vf shifter = _mm512_set1_ps(0x1.8p+23f); /* n: see src/x86/avx2.c */
    const vf n_shifted = _mm512_fmadd_ps(t, _mm512_set1_ps(0x1.715476p+0f), shifter);
    const vf n = _mm512_sub_ps(n_shifted, shifter);
    vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e43p-1f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-0x1.05c61p-29f), r);
    vf p = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0fa830p-7f), r, _mm512_set1_ps(0x1.573a54p-5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.555a6ap-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.fffdc6p-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.fffff6p-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}
#endif

#include "../sweeps_simd.h"
