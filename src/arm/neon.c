/* AdvSIMD (NEON) vocabulary for the SIMD sweeps (src/sweeps_simd.h): 4 lanes, lane-by-lane
 * tails, ordinary stores only. AdvSIMD is part of the AArch64 base ISA, so this file needs no
 * extra compiler flags and the variant runs on every aarch64 CPU. */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#define VARIANT neon
#define W 4
/* No streaming stores (so no vf_stream*): AArch64's only non-temporal store is STNP (a register
 * pair, no ACLE intrinsic), and Cortex-A / Neoverse cores switch to a write-streaming mode on runs
 * of full-line stores, which already avoids reading each gradient line before writing it (the
 * reason for streaming stores on x86). Not measured on ARM hardware yet. */
#define HAVE_STREAM 0
/* 16-bit storage in vectors: fp16 ↔ fp32 conversions (FCVTL / FCVTN) are base AdvSIMD (only fp16
 * arithmetic needs FEAT_FP16), bf16 is integer shifts; no HWCAP bit gates either. */
#define HAVE_HALF 1

typedef float32x4_t vf;
/* Two double accumulators, one per half of the folded vector (AArch64 converts two floats to
 * double per instruction): two independent add chains instead of one. */
typedef struct vsum {
    float64x2_t low, high;
} vsum;

static inline vf vf_set1(float a) { return vdupq_n_f32(a); }
static inline vf vf_zero(void) { return vdupq_n_f32(0.0f); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
/* FMAX returns NaN when either input is NaN (x86 maxps returns its second operand instead). The
 * chunk maximum of a row holding a NaN is then NaN, its shift NaN and its sums NaN: the row comes
 * out NaN either way, which is all the contract asks (kernels.h: "NaN rows: unspecified"). */
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf vf_abs(vf a) { return vabsq_f32(a); }
static inline vf vf_copysign(vf mag, vf sgn)
{
    return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag);
}
static inline vf vf_select_lt(vf x, vf limit, vf a, vf b) { return vbslq_f32(vcltq_f32(x, limit), a, b); }
static inline int vf_all_lt(vf x, vf limit) { return vminvq_u32(vcltq_f32(x, limit)) != 0; }
static inline vf vf_fma_nz(vf b, vf t, vf acc)
{
    const uint32x4_t zero = vceqq_f32(b, vdupq_n_f32(0.0f));
    return vfmaq_f32(acc, b, vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(t), zero)));
}
static inline vf vf_load(const float *p) { return vld1q_f32(p); }
static inline void vf_store(float *p, vf v) { vst1q_f32(p, v); }
/* LD1/ST1 take any alignment; the aligned form exists for ISAs where alignment is faster. */
static inline void vf_store_aligned(float *p, vf v) { vst1q_f32(p, v); }

/* NEON has no masked load or store: tails go lane by lane, so nothing past p + n is touched (it
 * may be an unmapped page). At most W − 1 lanes, once per chunk or row. */
static inline vf vf_load_tail(const float *p, int64_t n, float fill)
{
    vf v = vdupq_n_f32(fill);
    if (n > 0)
        v = vld1q_lane_f32(p, v, 0);
    if (n > 1)
        v = vld1q_lane_f32(p + 1, v, 1);
    if (n > 2)
        v = vld1q_lane_f32(p + 2, v, 2);
    return v;
}
static inline void vf_store_tail(float *p, int64_t n, vf v)
{
    if (n > 0)
        vst1q_lane_f32(p, v, 0);
    if (n > 1)
        vst1q_lane_f32(p + 1, v, 1);
    if (n > 2)
        vst1q_lane_f32(p + 2, v, 2);
}

/* All-ones in the lanes below n, zero from n on. */
static inline uint32x4_t lanes_below(int64_t n)
{
    static const uint32_t lane_index[4] = {0, 1, 2, 3};
    const uint32_t count = n < 0 ? 0u : n > W ? (uint32_t)W : (uint32_t)n;
    return vcltq_u32(vld1q_u32(lane_index), vdupq_n_u32(count));
}
static inline vf vf_keep(vf v, int64_t n)
{
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), lanes_below(n)));
}

static inline float vf_max_lane(vf v) { return vmaxvq_f32(v); }

/* The equal lanes as 16-bit all-ones fields of a 64-bit word (NEON has no movemask): the lowest
 * set bit's field is the lowest equal lane. */
static inline int vf_find(vf v, float value)
{
    const uint16x4_t equal = vmovn_u32(vceqq_f32(v, vdupq_n_f32(value)));
    const uint64_t bits = vget_lane_u64(vreinterpret_u64_u16(equal), 0);
    return bits ? __builtin_ctzll(bits) / 16 : -1;
}

/* FCMEQ against 0 (true for ±0, false for NaN, as x86's EQ_OQ); each true lane is all ones, so
 * shifting by 31 leaves a 1 there and ADDV counts them. */
static inline int vf_split_zero(vf t, vf *e)
{
    const uint32x4_t at = vceqzq_f32(t);
    *e = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(*e), at));
    return (int)vaddvq_u32(vshrq_n_u32(at, 31));
}

static inline vsum vsum_zero(void) { return (vsum){vdupq_n_f64(0.0), vdupq_n_f64(0.0)}; }
static inline vsum vsum_fold(vsum acc, vf v)
{
    acc.low = vaddq_f64(acc.low, vcvt_f64_f32(vget_low_f32(v)));
    acc.high = vaddq_f64(acc.high, vcvt_high_f64_f32(v));
    return acc;
}
static inline double vsum_total(vsum acc) { return vaddvq_f64(vaddq_f64(acc.low, acc.high)); }

/* PRFM PLDL1KEEP / PLDL2KEEP (GCC maps locality 3 to L1 and 2 to L2 on AArch64). A prefetch never
 * faults, so reading ahead past the end of the row is harmless. */
static inline void prefetch_l1(const void *p) { __builtin_prefetch(p, 0, 3); }
/* The stats sweeps' next chunk into L2, not the default L1 of src/sweeps_simd.h (measured on x86
 * only; not measured here). */
#define prefetch_chunk(p) __builtin_prefetch((p), 0, 2)
/* Nothing to order: this variant makes no non-temporal stores. */
static inline void store_fence(void) {}

/* 16-bit storage, bit for bit as src/half.h. bf16 → fp32 is a widening shift; fp32 → bf16 rounds
 * to nearest even in integers (adding 0x7fff plus the lowest kept bit carries exactly when the
 * dropped half is above a tie or a tie with an odd kept part), a NaN made quiet (bit 22) instead.
 * BFCVTN would need FEAT_BF16 (HWCAP2_BF16) and flushes subnormals: not used. fp16 both ways with
 * FCVTL / FCVTN under the default FPCR (nearest even, no flush, no default NaN), which quietens a
 * NaN keeping its top payload bits, as half.h does. */
static inline vf vf_from_bf16(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}
static inline vf vf_from_f16(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
static inline uint16x4_t bf16_bits(vf v)
{
    const uint32x4_t u = vreinterpretq_u32_f32(v);
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vaddq_u32(u, vaddq_u32(odd, vdupq_n_u32(0x7fff)));
    const uint32x4_t quiet = vorrq_u32(u, vdupq_n_u32(0x400000));
    const uint32x4_t nan = vmvnq_u32(vceqq_f32(v, v));
    return vshrn_n_u32(vbslq_u32(nan, quiet, rounded), 16);
}
static inline void vf_to_bf16(uint16_t *p, vf v) { vst1_u16(p, bf16_bits(v)); }
static inline void vf_to_f16(uint16_t *p, vf v)
{
    vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v)));
}

/* exp(t) for t ≤ 0 (or NaN), the AVX2 variant's algorithm and constants step for step (FMLA,
 * FMLS fuse like vfmadd/vfnmadd, FMAX keeps a NaN like maxps with the NaN second), so both give
 * the same bits: t clamped at −88, t = n·ln2 + r, |r| ≤ ln2/2 (two-constant Cody–Waite; n by
 * adding 1.5·2^23 + 127 in the FMA), exp(r) by a degree-5 minimax polynomial (relative error
 * 9.2e-8), times 2^n built in the exponent field: n = −127 gives 2^n = +0 (exactly 0 for −inf),
 * n = −126 rounds once into the subnormals (absolute error < 2^−126 below 2^−126). */
static inline vf vf_exp_neg(vf t)
{
    t = vmaxq_f32(vdupq_n_f32(-88.0f), t);
    const vf shifter = vdupq_n_f32(0x1.8p+23f + 127.0f); /* + 127: the exponent bias */
    const vf n_shifted = vfmaq_f32(shifter, t, vdupq_n_f32(0x1.715476p+0f));
    const vf n = vsubq_f32(n_shifted, shifter);
    vf r = vfmsq_f32(t, n, vdupq_n_f32(0x1.62e43p-1f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-0x1.05c61p-29f));
    vf p = vfmaq_f32(vdupq_n_f32(0x1.573a54p-5f), vdupq_n_f32(0x1.0fa830p-7f), r);
    p = vfmaq_f32(vdupq_n_f32(0x1.555a6ap-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0x1.fffdc6p-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0x1.fffff6p-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    /* n_shifted's bits are 0x4b40007f + n: shifted by 23 only n + 127 remains (mod 2^32) */
    const vf two_n = vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(n_shifted), 23));
    return vmulq_f32(p, two_n);
}

#include "../sweeps_simd.h"
