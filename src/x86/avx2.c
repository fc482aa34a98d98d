/* AVX2 + FMA row sweeps. Specification: src/ref/ref.c. 8 lanes, 4 accumulators, masked tails
 * (vmaskmov), non-temporal gradient stores when the caller streams. */
#include <immintrin.h>
#include <stdint.h>

#include "../kernels.h"

LSCE_DECLARE_VARIANT(avx2);

#define W 8       /* lanes */
#define UNROLL 4  /* vectors per iteration, one accumulator each */
#define BLOCK 512 /* elements summed in fp32 before folding into double: ≤ 16 per lane */

static inline __m256i tail_mask(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256 load_tail(const float *p, __m256i mask, __m256 fill)
{
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, mask), _mm256_castsi256_ps(mask));
}

/* exp(t) for t ≤ 0 (or NaN): t = n·ln2 + r, |r| ≤ ln2/2 (two-constant Cody–Waite), exp(r) by a
 * degree-5 minimax polynomial (relative error 9.2e-8), times 2^n built in the exponent field
 * (n ∈ [−126, 0]). Below t = −126·ln2 the result would be subnormal: it is flushed to 0 (absolute
 * error < 2^−126), so −inf gives exactly 0; a NaN compares false and stays NaN. */
static inline __m256 exp_neg(__m256 t)
{
    const __m256 underflow = _mm256_cmp_ps(t, _mm256_set1_ps(-0x1.5d58a0p+6f), _CMP_LT_OQ);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(0x1.715476p+0f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e43p-1f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-0x1.05c61p-29f), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0fa830p-7f), r, _mm256_set1_ps(0x1.573a54p-5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.555a6ap-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffdc6p-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffff6p-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

static inline float hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline double hsum_pd(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Reads ahead of the hardware prefetcher, which falls behind once the core is busy with exp. */
#define PREFETCH_DISTANCE LSCE_CHUNK /* floats */
#define PREFETCH_HINT _MM_HINT_T1

static float chunk_max(const float *x, int64_t n)
{
    const __m256 lowest = _mm256_set1_ps(-__builtin_inff());
    __m256 m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
    int64_t i = 0;
    for (; i + UNROLL * W <= n; i += UNROLL * W) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + W));
        m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + i + 2 * W));
        m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    if (i < n)
        m1 = _mm256_max_ps(m1, load_tail(x + i, tail_mask(n - i), lowest));
    return hmax(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
}

decl_row_find_fn(lsce_row_find_avx2)
{
    const __m256 v = _mm256_set1_ps(value);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const int k = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), v, _CMP_EQ_OQ));
        if (k)
            return i + __builtin_ctz((unsigned)k);
    }
    for (; i < n; i++)
        if (x[i] == value)
            return i;
    return n;
}

static inline __m256d fold_pd(__m256d acc, __m256 v)
{
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

/* One vector of the exp-sum sweep: e = exp(x − shift) (stored when exp_out), sums += e, t. */
#define EXPSUM_STEP(off, e_acc, t_acc)                                                             \
    do {                                                                                           \
        const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(x + i + (off)), s);                         \
        const __m256 e = exp_neg(t);                                                               \
        if (exp_out)                                                                               \
            _mm256_store_ps(exp_out + i + (off), e);                                               \
        e_acc = _mm256_add_ps(e_acc, e);                                                           \
        t_acc = _mm256_add_ps(t_acc, t);                                                           \
    } while (0)

typedef struct chunk_sums {
    double sum_exp, sum_shift;
} chunk_sums;

static chunk_sums chunk_expsum(const float *x, int64_t n, float shift, float *exp_out)
{
    const __m256 s = _mm256_set1_ps(shift);
    __m256d sum_e = _mm256_setzero_pd(), sum_t = _mm256_setzero_pd();
    int64_t i = 0;
    while (i < n) {
        const int64_t end = n - i < BLOCK ? n : i + BLOCK;
        __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0;
        __m256 t0 = e0, t1 = e0, t2 = e0, t3 = e0;
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
            const __m256i k = tail_mask(end - i);
            const __m256 keep = _mm256_castsi256_ps(k);
            const __m256 t = _mm256_and_ps(keep, _mm256_sub_ps(load_tail(x + i, k, s), s));
            const __m256 e = _mm256_and_ps(keep, exp_neg(t));
            if (exp_out)
                _mm256_maskstore_ps(exp_out + i, k, e);
            e1 = _mm256_add_ps(e1, e);
            t1 = _mm256_add_ps(t1, t);
            i = end;
        }
        sum_e = fold_pd(sum_e, _mm256_add_ps(_mm256_add_ps(e0, e1), _mm256_add_ps(e2, e3)));
        sum_t = fold_pd(sum_t, _mm256_add_ps(_mm256_add_ps(t0, t1), _mm256_add_ps(t2, t3)));
    }
    return (chunk_sums){hsum_pd(sum_e), hsum_pd(sum_t)};
}

decl_row_stats_fn(lsce_row_stats_avx2)
{
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        const float max = chunk_max(x + begin, len);
        const float shift = max == -__builtin_inff() ? 0.0f : max;
        const chunk_sums s = chunk_expsum(x + begin, len, shift, exp_out ? exp_out + begin : NULL);
        chunks[begin / LSCE_CHUNK] = (lsce_chunk_stats){max, shift, s.sum_exp, s.sum_shift};
    }
}

/* Elements to store before dst is 32-byte aligned, or −1 when not streaming. */
static inline int64_t head_for_stream(const float *dst, int64_t n, int stream)
{
    const uintptr_t a = (uintptr_t)dst;
    if (!stream || (a & 3))
        return -1;
    const int64_t head = (int64_t)((32 - (a & 31)) & 31) / 4;
    return head < n ? head : n;
}

/* The store loop shared by both gradient sweeps: VALUE(i) gives the 8 results at element i,
 * MASKED_VALUE(i, k) those of a partial vector (lanes outside k are never stored). */
#define GRAD_LOOP(VALUE, MASKED_VALUE, AHEAD)                                                             \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        const int64_t head = head_for_stream(dst, n, stream);                                      \
        if (head > 0) {                                                                            \
            const __m256i k = tail_mask(head);                                                     \
            _mm256_maskstore_ps(dst, k, MASKED_VALUE(0, k));                                       \
            i = head;                                                                              \
        }                                                                                          \
        if (head >= 0) {                                                                           \
            for (; i + W <= n; i += W) {                                                           \
                AHEAD(i);                                                                          \
                _mm256_stream_ps(dst + i, VALUE(i));                                               \
            }                                                                                      \
        } else {                                                                                   \
            for (; i + 2 * W <= n; i += 2 * W) {                                                   \
                AHEAD(i);                                                                          \
                _mm256_storeu_ps(dst + i, VALUE(i));                                               \
                _mm256_storeu_ps(dst + i + W, VALUE(i + W));                                       \
            }                                                                                      \
            for (; i + W <= n; i += W)                                                             \
                _mm256_storeu_ps(dst + i, VALUE(i));                                               \
        }                                                                                          \
        if (i < n) {                                                                               \
            const __m256i k = tail_mask(n - i);                                                    \
            _mm256_maskstore_ps(dst + i, k, MASKED_VALUE(i, k));                                   \
        }                                                                                          \
    } while (0)

/* dst = fma(src, coef, bias) over one chunk. */
static void scale_chunk(const float *src, int64_t n, float coef, float bias, float *dst, int stream)
{
    const __m256 vc = _mm256_set1_ps(coef), vb = _mm256_set1_ps(bias);
#define NOTHING_AHEAD(j) (void)0
#define SCALE(j) _mm256_fmadd_ps(_mm256_loadu_ps(src + (j)), vc, vb)
#define SCALE_MASKED(j, k) _mm256_fmadd_ps(_mm256_maskload_ps(src + (j), k), vc, vb)
    GRAD_LOOP(SCALE, SCALE_MASKED, NOTHING_AHEAD);
#undef SCALE
#undef SCALE_MASKED
#undef NOTHING_AHEAD
}

decl_row_scale_fn(lsce_row_scale_avx2)
{
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        scale_chunk(src + begin, len, coef[begin / LSCE_CHUNK], bias, dst + begin, stream);
    }
}

decl_row_expscale_fn(lsce_row_expscale_avx2)
{
    const __m256 vc = _mm256_set1_ps(coef), vb = _mm256_set1_ps(bias), s = _mm256_set1_ps(shift);
#define READ_AHEAD(j) _mm_prefetch((const char *)(x + (j) + 1024), _MM_HINT_T0)
#define EXPSCALE(j) _mm256_fmadd_ps(exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + (j)), s)), vc, vb)
#define EXPSCALE_MASKED(j, k)                                                                      \
    _mm256_fmadd_ps(exp_neg(_mm256_sub_ps(load_tail(x + (j), k, s), s)), vc, vb)
    GRAD_LOOP(EXPSCALE, EXPSCALE_MASKED, READ_AHEAD);
#undef EXPSCALE
#undef EXPSCALE_MASKED
#undef READ_AHEAD
}

decl_exp_fn(lsce_exp_avx2)
{
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(out + i, exp_neg(_mm256_loadu_ps(in + i)));
    if (i < n) {
        const __m256i k = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, k, exp_neg(load_tail(in + i, k, _mm256_setzero_ps())));
    }
}

decl_fence_fn(lsce_fence_avx2) { _mm_sfence(); }
