/* AVX-512 (F/DQ/BW/VL) row sweeps. Specification: src/ref/ref.c. 16 lanes, 4 accumulators,
 * masked tails, non-temporal gradient stores when the caller streams. Compiled a second time with
 * LSCE_EXP_SLEEF for the benchmark's SLEEF-exp variant. */
#include <immintrin.h>
#include <stdint.h>

#include "../kernels.h"

#if defined(LSCE_EXP_SLEEF)
#include <sleef.h>
#define VARIANT avx512_sleef
#else
#define VARIANT avx512
#endif
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, VARIANT)

LSCE_DECLARE_VARIANT(VARIANT);

#define W 16            /* lanes */
#define UNROLL 4        /* vectors per iteration, one accumulator each */
#define BLOCK 1024      /* elements summed in fp32 before folding into double: ≤ 16 per lane */

static inline __mmask16 tail_mask(int64_t n) { return (__mmask16)((1u << n) - 1u); }

#if defined(LSCE_EXP_SLEEF)
static inline __m512 exp_neg(__m512 t) { return Sleef_expf16_u10avx512f(t); }
#else
/* exp(t) for t ≤ 0 (or NaN): t = n·ln2 + r, |r| ≤ ln2/2 (two-constant Cody–Waite), exp(r) by a
 * degree-5 minimax polynomial (relative error 9.2e-8 on the interval), then scalef by 2^n, which
 * rounds subnormal results once. t is clamped at −104 where exp(t) < 2^−150 rounds to 0, so −inf
 * gives exactly 0; max(−104, NaN) keeps the NaN. */
static inline __m512 exp_neg(__m512 t)
{
    t = _mm512_max_ps(_mm512_set1_ps(-104.0f), t);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(0x1.715476p+0f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e43p-1f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-0x1.05c61p-29f), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0fa830p-7f), r, _mm512_set1_ps(0x1.573a54p-5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.555a6ap-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.fffdc6p-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.fffff6p-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}
#endif

/* Reads ahead of the hardware prefetcher, which falls behind once the core is busy with exp. */
#define PREFETCH_DISTANCE LSCE_CHUNK /* floats */
#define PREFETCH_HINT _MM_HINT_T1

static float chunk_max(const float *x, int64_t n)
{
    const __m512 lowest = _mm512_set1_ps(-__builtin_inff());
    __m512 m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
    int64_t i = 0;
    for (; i + UNROLL * W <= n; i += UNROLL * W) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + W));
        m2 = _mm512_max_ps(m2, _mm512_loadu_ps(x + i + 2 * W));
        m3 = _mm512_max_ps(m3, _mm512_loadu_ps(x + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
    if (i < n)
        m1 = _mm512_max_ps(m1, _mm512_mask_loadu_ps(lowest, tail_mask(n - i), x + i));
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

decl_row_find_fn(FN(lsce_row_find))
{
    const __m512 v = _mm512_set1_ps(value);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const __mmask16 k = _mm512_cmpeq_ps_mask(_mm512_loadu_ps(x + i), v);
        if (k)
            return i + __builtin_ctz(k);
    }
    if (i < n) {
        const __mmask16 k = _mm512_mask_cmpeq_ps_mask(tail_mask(n - i), _mm512_maskz_loadu_ps(tail_mask(n - i), x + i), v);
        if (k)
            return i + __builtin_ctz(k);
    }
    return n;
}

static inline __m512d fold_pd(__m512d acc, __m512 v)
{
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/* One vector of the exp-sum sweep: e = exp(x − shift) (stored when exp_out), sums += e, t. */
#define EXPSUM_STEP(off, e_acc, t_acc)                                                             \
    do {                                                                                           \
        const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(x + i + (off)), s);                         \
        const __m512 e = exp_neg(t);                                                               \
        if (exp_out)                                                                               \
            _mm512_store_ps(exp_out + i + (off), e);                                               \
        e_acc = _mm512_add_ps(e_acc, e);                                                           \
        t_acc = _mm512_add_ps(t_acc, t);                                                           \
    } while (0)

typedef struct chunk_sums {
    double sum_exp, sum_shift;
} chunk_sums;

static chunk_sums chunk_expsum(const float *x, int64_t n, float shift, float *exp_out)
{
    const __m512 s = _mm512_set1_ps(shift);
    __m512d sum_e = _mm512_setzero_pd(), sum_t = _mm512_setzero_pd();
    int64_t i = 0;
    while (i < n) {
        const int64_t end = n - i < BLOCK ? n : i + BLOCK;
        __m512 e0 = _mm512_setzero_ps(), e1 = e0, e2 = e0, e3 = e0;
        __m512 t0 = e0, t1 = e0, t2 = e0, t3 = e0;
        for (; i + UNROLL * W <= end; i += UNROLL * W) {
            for (int line = 0; line < UNROLL * W / 16; line++)
                _mm_prefetch((const char *)(x + i + PREFETCH_DISTANCE) + 64 * line, PREFETCH_HINT);
            EXPSUM_STEP(0, e0, t0);
            EXPSUM_STEP(W, e1, t1);
            EXPSUM_STEP(2 * W, e2, t2);
            EXPSUM_STEP(3 * W, e3, t3);
        }
        for (; i + W <= end; i += W)
            EXPSUM_STEP(0, e0, t0);
        if (i < end) {
            const __mmask16 k = tail_mask(end - i);
            const __m512 t = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), s);
            const __m512 e = _mm512_maskz_mov_ps(k, exp_neg(t));
            if (exp_out)
                _mm512_mask_store_ps(exp_out + i, k, e);
            e1 = _mm512_add_ps(e1, e);
            t1 = _mm512_add_ps(t1, t);
            i = end;
        }
        sum_e = fold_pd(sum_e, _mm512_add_ps(_mm512_add_ps(e0, e1), _mm512_add_ps(e2, e3)));
        sum_t = fold_pd(sum_t, _mm512_add_ps(_mm512_add_ps(t0, t1), _mm512_add_ps(t2, t3)));
    }
    return (chunk_sums){_mm512_reduce_add_pd(sum_e), _mm512_reduce_add_pd(sum_t)};
}

decl_row_stats_fn(FN(lsce_row_stats))
{
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        const float max = chunk_max(x + begin, len);
        const float shift = max == -__builtin_inff() ? 0.0f : max;
        const chunk_sums s = chunk_expsum(x + begin, len, shift, exp_out ? exp_out + begin : NULL);
        chunks[begin / LSCE_CHUNK] = (lsce_chunk_stats){max, shift, s.sum_exp, s.sum_shift};
    }
}

/* Elements to store before dst is 64-byte aligned (0 when streaming is off or impossible). */
static inline int64_t head_for_stream(const float *dst, int64_t n, int stream)
{
    const uintptr_t a = (uintptr_t)dst;
    if (!stream || (a & 3))
        return -1;
    const int64_t head = (int64_t)((64 - (a & 63)) & 63) / 4;
    return head < n ? head : n;
}

/* The store loop shared by both gradient sweeps: VALUE(i) gives the 16 results at element i. */
#define GRAD_LOOP(VALUE, MASKED_VALUE, AHEAD)                                                             \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        const int64_t head = head_for_stream(dst, n, stream);                                      \
        if (head > 0) {                                                                            \
            const __mmask16 k = tail_mask(head);                                                   \
            _mm512_mask_storeu_ps(dst, k, MASKED_VALUE(0, k));                                     \
            i = head;                                                                              \
        }                                                                                          \
        if (head >= 0) {                                                                           \
            for (; i + W <= n; i += W) {                                                           \
                AHEAD(i);                                                                          \
                _mm512_stream_ps(dst + i, VALUE(i));                                               \
            }                                                                                      \
        } else {                                                                                   \
            for (; i + 2 * W <= n; i += 2 * W) {                                                   \
                AHEAD(i);                                                                          \
                _mm512_storeu_ps(dst + i, VALUE(i));                                               \
                _mm512_storeu_ps(dst + i + W, VALUE(i + W));                                       \
            }                                                                                      \
            for (; i + W <= n; i += W)                                                             \
                _mm512_storeu_ps(dst + i, VALUE(i));                                               \
        }                                                                                          \
        if (i < n) {                                                                               \
            const __mmask16 k = tail_mask(n - i);                                                  \
            _mm512_mask_storeu_ps(dst + i, k, MASKED_VALUE(i, k));                                 \
        }                                                                                          \
    } while (0)

/* dst = fma(src, coef, bias) over one chunk. */
static void scale_chunk(const float *src, int64_t n, float coef, float bias, float *dst, int stream)
{
    const __m512 vc = _mm512_set1_ps(coef), vb = _mm512_set1_ps(bias);
#define NOTHING_AHEAD(j) (void)0
#define SCALE(j) _mm512_fmadd_ps(_mm512_loadu_ps(src + (j)), vc, vb)
#define SCALE_MASKED(j, k) _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, src + (j)), vc, vb)
    GRAD_LOOP(SCALE, SCALE_MASKED, NOTHING_AHEAD);
#undef SCALE
#undef SCALE_MASKED
#undef NOTHING_AHEAD
}

decl_row_scale_fn(FN(lsce_row_scale))
{
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        scale_chunk(src + begin, len, coef[begin / LSCE_CHUNK], bias, dst + begin, stream);
    }
}

decl_row_expscale_fn(FN(lsce_row_expscale))
{
    const __m512 vc = _mm512_set1_ps(coef), vb = _mm512_set1_ps(bias), s = _mm512_set1_ps(shift);
#define READ_AHEAD(j) _mm_prefetch((const char *)(x + (j) + 1024), _MM_HINT_T0)
#define EXPSCALE(j) _mm512_fmadd_ps(exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + (j)), s)), vc, vb)
#define EXPSCALE_MASKED(j, k)                                                                      \
    _mm512_fmadd_ps(exp_neg(_mm512_sub_ps(_mm512_mask_loadu_ps(s, k, x + (j)), s)), vc, vb)
    GRAD_LOOP(EXPSCALE, EXPSCALE_MASKED, READ_AHEAD);
#undef EXPSCALE
#undef EXPSCALE_MASKED
#undef READ_AHEAD
}

decl_exp_fn(FN(lsce_exp))
{
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(out + i, exp_neg(_mm512_loadu_ps(in + i)));
    if (i < n) {
        const __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, k, exp_neg(_mm512_maskz_loadu_ps(k, in + i)));
    }
}

decl_fence_fn(FN(lsce_fence)) { _mm_sfence(); }
