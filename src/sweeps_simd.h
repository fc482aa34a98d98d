/*
 * The row sweeps of every SIMD variant, written once over a small vector vocabulary. What they
 * compute is specified in src/ref/ref.c; src/kernels.h fixes their signatures.
 *
 * An ISA file (src/x86/avx2.c, src/x86/avx512.c, src/arm/neon.c) defines, then includes this:
 *   VARIANT                     suffix of the kernel names (lsce_<fn>_<VARIANT>)
 *   W                           lanes of a float vector
 *   STREAM_ALIGN                bytes a non-temporal store needs (0: no such stores)
 *   vf                          the float vector type; vsum the accumulator that folds into double
 *   vf_set1, vf_zero, vf_add, vf_sub, vf_max, vf_fma(a, b, c) = a·b + c
 *   vf_load(p), vf_store(p, v)            unaligned
 *   vf_store_aligned(p, v)                p aligned to the vector size
 *   vf_load_tail(p, n, fill), vf_store_tail(p, n, v)   the first n < W lanes (others: fill / kept)
 *   vf_keep(v, n)                         v with the lanes from n on set to 0
 *   vf_stream(p, v)                       non-temporal store (p aligned to STREAM_ALIGN)
 *   vf_max_lane(v)                        horizontal max
 *   vf_find(v, value)                     lowest lane equal to value, or −1
 *   vf_exp_neg(t)                         exp(t) for t ≤ 0 or NaN (−inf → 0, NaN → NaN)
 *   vsum_zero(), vsum_fold(acc, v), vsum_total(acc)   double accumulation of float vectors
 *   prefetch_l1(p), prefetch_l2(p), store_fence()
 */
#include <stdint.h>

#include "kernels.h"

#define SWEEP_CAT2(a, b) a##_##b
#define SWEEP_CAT(a, b) SWEEP_CAT2(a, b)
#define FN(name) SWEEP_CAT(name, VARIANT)

LSCE_DECLARE_VARIANT(VARIANT);

#define UNROLL 4             /* vectors per iteration, one accumulator each */
#define BLOCK (16 * W * UNROLL) /* elements summed in fp32 before folding into double: ≤ 16 per lane */
#define LINE_FLOATS 16       /* floats per 64-byte cache line */

/* The stats sweep reads the next chunk into L2 while it computes this one: the hardware
 * prefetcher falls behind once the core is busy with exp. The gradient-from-lse sweep reads
 * 4 KiB ahead into L1. A prefetch past the end of the buffer never faults. */
#define STATS_AHEAD LSCE_CHUNK
#define EXPSCALE_AHEAD 1024

static inline float chunk_max(const float *x, int64_t n)
{
    const vf lowest = vf_set1(-__builtin_inff());
    vf m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
    int64_t i = 0;
    for (; i + UNROLL * W <= n; i += UNROLL * W) {
        m0 = vf_max(m0, vf_load(x + i));
        m1 = vf_max(m1, vf_load(x + i + W));
        m2 = vf_max(m2, vf_load(x + i + 2 * W));
        m3 = vf_max(m3, vf_load(x + i + 3 * W));
    }
    for (; i + W <= n; i += W)
        m0 = vf_max(m0, vf_load(x + i));
    if (i < n)
        m1 = vf_max(m1, vf_load_tail(x + i, n - i, -__builtin_inff()));
    return vf_max_lane(vf_max(vf_max(m0, m1), vf_max(m2, m3)));
}

decl_row_find_fn(FN(lsce_row_find))
{
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const int lane = vf_find(vf_load(x + i), value);
        if (lane >= 0)
            return i + lane;
    }
    for (; i < n; i++)
        if (x[i] == value)
            return i;
    return n;
}

typedef struct chunk_sums {
    double sum_exp, sum_shift;
} chunk_sums;

/* One vector of the exp-sum sweep: e = exp(x − shift) (stored when exp_out), sums += e, t. */
#define EXPSUM_STEP(off, e_acc, t_acc)                                                             \
    do {                                                                                           \
        const vf t = vf_sub(vf_load(x + i + (off)), s);                                            \
        const vf e = vf_exp_neg(t);                                                                \
        if (exp_out)                                                                               \
            vf_store_aligned(exp_out + i + (off), e);                                              \
        e_acc = vf_add(e_acc, e);                                                                  \
        t_acc = vf_add(t_acc, t);                                                                  \
    } while (0)

static inline chunk_sums chunk_expsum(const float *x, int64_t n, float shift, float *exp_out)
{
    const vf s = vf_set1(shift);
    vsum sum_e = vsum_zero(), sum_t = vsum_zero();
    int64_t i = 0;
    while (i < n) {
        const int64_t end = n - i < BLOCK ? n : i + BLOCK;
        vf e0 = vf_zero(), e1 = e0, e2 = e0, e3 = e0;
        vf t0 = e0, t1 = e0, t2 = e0, t3 = e0;
        for (; i + UNROLL * W <= end; i += UNROLL * W) {
            for (int line = 0; line < UNROLL * W; line += LINE_FLOATS)
                prefetch_l2(x + i + STATS_AHEAD + line);
            EXPSUM_STEP(0, e0, t0);
            EXPSUM_STEP(W, e1, t1);
            EXPSUM_STEP(2 * W, e2, t2);
            EXPSUM_STEP(3 * W, e3, t3);
        }
        for (; i + W <= end; i += W)
            EXPSUM_STEP(0, e0, t0);
        if (i < end) { /* lanes past the end are dropped */
            const vf t = vf_sub(vf_load_tail(x + i, end - i, shift), s);
            const vf e = vf_exp_neg(t);
            if (exp_out)
                vf_store_tail(exp_out + i, end - i, e);
            e1 = vf_add(e1, vf_keep(e, end - i));
            t1 = vf_add(t1, vf_keep(t, end - i));
            i = end;
        }
        sum_e = vsum_fold(sum_e, vf_add(vf_add(e0, e1), vf_add(e2, e3)));
        sum_t = vsum_fold(sum_t, vf_add(vf_add(t0, t1), vf_add(t2, t3)));
    }
    return (chunk_sums){vsum_total(sum_e), vsum_total(sum_t)};
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

/* Elements to store before dst is STREAM_ALIGN-aligned, or −1 when not streaming. */
static inline int64_t head_for_stream(const float *dst, int64_t n, int stream)
{
    const uintptr_t a = (uintptr_t)dst;
    if (!STREAM_ALIGN || !stream || (a & 3))
        return -1;
    const int64_t head = (int64_t)((STREAM_ALIGN - (a % STREAM_ALIGN)) % STREAM_ALIGN) / 4;
    return head < n ? head : n;
}

/* The store loop of both gradient sweeps: VALUE(j) gives the W results at element j from a
 * vector load of element j, VALUE_TAIL(j, m) those of the m < W elements left; AHEAD(j) reads
 * ahead. The head before the streaming alignment goes through VALUE_TAIL too. */
#define GRAD_LOOP(VALUE, VALUE_TAIL, AHEAD)                                                        \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        const int64_t head = head_for_stream(dst, n, stream);                                      \
        if (head > 0) {                                                                            \
            vf_store_tail(dst, head, VALUE_TAIL(0, head));                                         \
            i = head;                                                                              \
        }                                                                                          \
        if (head >= 0) {                                                                           \
            for (; i + W <= n; i += W) {                                                           \
                AHEAD(i);                                                                          \
                vf_stream(dst + i, VALUE(i));                                                      \
            }                                                                                      \
        } else {                                                                                   \
            for (; i + 2 * W <= n; i += 2 * W) {                                                   \
                AHEAD(i);                                                                          \
                vf_store(dst + i, VALUE(i));                                                       \
                vf_store(dst + i + W, VALUE(i + W));                                               \
            }                                                                                      \
            for (; i + W <= n; i += W)                                                             \
                vf_store(dst + i, VALUE(i));                                                       \
        }                                                                                          \
        if (i < n)                                                                                 \
            vf_store_tail(dst + i, n - i, VALUE_TAIL(i, n - i));                                   \
    } while (0)

/* dst = fma(src, coef, bias) over one chunk. */
static inline void scale_chunk(const float *src, int64_t n, float coef, float bias, float *dst,
                               int stream)
{
    const vf vc = vf_set1(coef), vb = vf_set1(bias);
#define NOTHING_AHEAD(j) (void)0
#define SCALE(j) vf_fma(vf_load(src + (j)), vc, vb)
#define SCALE_TAIL(j, m) vf_fma(vf_load_tail(src + (j), m, 0.0f), vc, vb)
    GRAD_LOOP(SCALE, SCALE_TAIL, NOTHING_AHEAD);
#undef NOTHING_AHEAD
#undef SCALE
#undef SCALE_TAIL
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
    const vf vc = vf_set1(coef), vb = vf_set1(bias), s = vf_set1(shift);
#define READ_AHEAD(j) prefetch_l1(x + (j) + EXPSCALE_AHEAD)
#define EXPSCALE(j) vf_fma(vf_exp_neg(vf_sub(vf_load(x + (j)), s)), vc, vb)
#define EXPSCALE_TAIL(j, m) vf_fma(vf_exp_neg(vf_sub(vf_load_tail(x + (j), m, shift), s)), vc, vb)
    GRAD_LOOP(EXPSCALE, EXPSCALE_TAIL, READ_AHEAD);
#undef READ_AHEAD
#undef EXPSCALE
#undef EXPSCALE_TAIL
}

decl_exp_fn(FN(lsce_exp))
{
    int64_t i = 0;
    for (; i + W <= n; i += W)
        vf_store(out + i, vf_exp_neg(vf_load(in + i)));
    if (i < n)
        vf_store_tail(out + i, n - i, vf_exp_neg(vf_load_tail(in + i, n - i, 0.0f)));
}

decl_fence_fn(FN(lsce_fence)) { store_fence(); }
