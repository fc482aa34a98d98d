/*
 * The row sweeps of every SIMD variant, written once over a small vector vocabulary. What they
 * compute is specified in src/ref/ref.c; src/kernels.h fixes their signatures.
 *
 * An ISA file (src/x86/avx2.c, src/x86/avx512.c, src/arm/neon.c) defines, then includes this:
 *   VARIANT                     suffix of the kernel names (lsce_<sweep>_<dtypes>_<VARIANT>)
 *   W                           lanes of a float vector
 *   HAVE_STREAM                 1 when vf_stream* exist (non-temporal stores of one vector)
 *   vf                          the float vector type; vsum the accumulator that folds into double
 *   vf_set1, vf_zero, vf_add, vf_sub, vf_max, vf_fma(a, b, c) = a·b + c
 *                               (vf_max's NaN behaviour is the ISA's: a NaN row is NaN either way)
 *   vf_load(p), vf_store(p, v)            unaligned
 *   vf_store_aligned(p, v)                p aligned to the vector size
 *   vf_load_tail(p, n, fill), vf_store_tail(p, n, v)   the first n < W lanes (others: fill / kept)
 *   vf_keep(v, n)                         v with the lanes from n on set to 0
 *   vf_stream(p, v)                       non-temporal store (p aligned to the vector size; only
 *                                         used when HAVE_STREAM)
 *   vf_max_lane(v)                        horizontal max
 *   vf_find(v, value)                     lowest lane equal to value, or −1
 *   vf_split_zero(t, &e)                  zeroes the lanes of e where t == 0, returns their count
 *   vf_exp_neg(t)                         exp(t) for t ≤ 0 or NaN (−inf → 0, NaN → NaN)
 *   vf_mul, vf_div, vf_abs(v), vf_copysign(mag, sgn) (mag ≥ 0: mag with sgn's sign bit)
 *   vf_select_lt(x, limit, a, b)          lanes x < limit ? a : b (NaN x → b)
 *   vf_all_lt(x, limit)                   1 when every lane has x < limit (NaN: no)
 *   vf_fma_nz(b, t, acc)                  acc + b·t where b ≠ 0, acc where b == 0 (t = ±inf too)
 *   vsum_zero(), vsum_fold(acc, v), vsum_total(acc)   double accumulation of float vectors
 *   prefetch_l1(p) (p: const void *), store_fence()
 * optionally prefetch_chunk(p) (a macro): how the stats sweeps request a line of the next chunk,
 *   when not the default below
 * and, for 16-bit storage, when HAVE_HALF is 1 (otherwise portable fallbacks below are used):
 *   vf_from_bf16(p), vf_from_f16(p)       W values of uint16_t → fp32 (exact)
 *   vf_to_bf16(p, v), vf_to_f16(p, v)     fp32 → W values of uint16_t, nearest-even (src/half.h)
 *   vf_stream_bf16(p, v), vf_stream_f16(p, v)   the same, non-temporal (if HAVE_STREAM)
 * and optionally, HAVE_BF16_PAIR 1 with
 *   vf_pair_to_bf16(p, lo, hi), vf_pair_stream_bf16(p, lo, hi)   2·W values at once (lo first;
 *                                         the stream one with p aligned to 2·W values), the same
 *                                         bits as two vf_to_bf16 (AVX512-BF16: one vcvtne2ps2bf16)
 *
 * The dtype of a sweep is a compile-time constant argument of always-inlined functions: each
 * exported kernel is one specialisation, with no dtype test left in its loops.
 */
#include <stdint.h>
#include <string.h>

#include "half.h"
#include "kernels.h"

#define SWEEP_CAT2(a, b) a##_##b
#define SWEEP_CAT(a, b) SWEEP_CAT2(a, b)
#define FN(name) SWEEP_CAT(name, VARIANT)
#define FN_D(name, d) SWEEP_CAT(SWEEP_CAT(name, d), VARIANT)
#define FN_DD(name, d1, d2) SWEEP_CAT(SWEEP_CAT(SWEEP_CAT(name, d1), d2), VARIANT)
#define SWEEP_INLINE static inline __attribute__((always_inline))

LSCE_DECLARE_VARIANT(VARIANT);

enum { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2 }; /* lsce_dtype's values */

#define UNROLL 4                /* vectors per iteration, one accumulator each */
#define BLOCK (16 * W * UNROLL) /* elements summed in fp32 before folding into double: ≤ 16 per lane */
#define LINE_BYTES 64

/* The stats sweep requests the next chunk while it computes this one (prefetch_chunk): the
 * hardware prefetcher falls behind once the core is busy with exp. The gradient-from-lse sweep
 * reads 4 KiB ahead into L1. A prefetch past the end of the buffer never faults. */
#define STATS_AHEAD LSCE_CHUNK
#define EXPSCALE_AHEAD_BYTES 4096

/* The next chunk goes into L1 (prefetcht0 on x86) rather than L2: the max sweep then reads it from
 * L1. Same-run A/B (2026-11-30, avx512 fp32 fused): 4096 × 32000 and 1024 × 128256 from
 * 0.80–0.82× memcpy to 0.85–0.86×, 4 × 32000 in cache 7 % less time; avx2 0.73–0.76 →
 * 0.76–0.79×; 16-bit logits unchanged. */
#ifndef prefetch_chunk
#define prefetch_chunk(p) prefetch_l1(p)
#endif

/* The next chunk's lines are requested as interleaved sequences, one per 4 KiB part of the chunk
 * (its line j is line j / parts of part j % parts): the L2 streamers, which follow a stream within
 * a 4 KiB page, then run several streams at once instead of one. At 4096 × 32000 (avx512, one run,
 * 2026-11-29) the forward took 12 % less time and the fused call 3–8 % less than with one
 * sequential stream (fp32: 4 parts; 2 parts of 8 KiB or 8 of 2 KiB gained less); 16-bit logits
 * (2 parts) gained ~5 %, and lost ~5 % with 4 parts of 2 KiB. */
#define PREFETCH_PART_BYTES 4096

/* Requests the lines of the chunk at `next` (LSCE_CHUNK elements of `size` bytes) that a
 * sequential read would cover while the sweep moves from element i to i + step of its chunk. */
SWEEP_INLINE void prefetch_next_chunk(const char *next, int64_t i, int64_t step, size_t size)
{
    const size_t chunk_bytes = LSCE_CHUNK * size;
    const size_t parts = chunk_bytes > PREFETCH_PART_BYTES ? chunk_bytes / PREFETCH_PART_BYTES : 1;
    const size_t part = chunk_bytes / parts;
    const size_t first = (size_t)i * size / LINE_BYTES, end = (size_t)(i + step) * size / LINE_BYTES;
    for (size_t j = first; j < end; j++)
        prefetch_chunk(next + (j % parts) * part + (j / parts) * LINE_BYTES);
}

#if !HAVE_HALF /* portable 16-bit conversions, one lane at a time */
static inline vf vf_from_bf16(const uint16_t *p)
{
    float lanes[W];
    for (int i = 0; i < W; i++)
        lanes[i] = lsce_bf16_to_f32(p[i]);
    return vf_load(lanes);
}
static inline vf vf_from_f16(const uint16_t *p)
{
    float lanes[W];
    for (int i = 0; i < W; i++)
        lanes[i] = lsce_f16_to_f32(p[i]);
    return vf_load(lanes);
}
static inline void vf_to_bf16(uint16_t *p, vf v)
{
    float lanes[W];
    vf_store(lanes, v);
    for (int i = 0; i < W; i++)
        p[i] = lsce_f32_to_bf16(lanes[i]);
}
static inline void vf_to_f16(uint16_t *p, vf v)
{
    float lanes[W];
    vf_store(lanes, v);
    for (int i = 0; i < W; i++)
        p[i] = lsce_f32_to_f16(lanes[i]);
}
#define vf_stream_bf16 vf_to_bf16
#define vf_stream_f16 vf_to_f16
#endif

SWEEP_INLINE size_t elem_size(int dt) { return dt == DT_F32 ? 4 : 2; }

/* W elements of dtype dt at element i of x, as fp32. */
SWEEP_INLINE vf load_vec(const void *x, int64_t i, int dt)
{
    if (dt == DT_F32)
        return vf_load((const float *)x + i);
    if (dt == DT_BF16)
        return vf_from_bf16((const uint16_t *)x + i);
    return vf_from_f16((const uint16_t *)x + i);
}

/* The first n < W elements; the other lanes hold fill. */
SWEEP_INLINE vf load_tail(const void *x, int64_t i, int64_t n, float fill, int dt)
{
    if (dt == DT_F32)
        return vf_load_tail((const float *)x + i, n, fill);
    /* fill is −inf, 0 or a value read from x: exact in the 16-bit dtype (else the lanes are
     * never used) */
    const uint16_t fill_bits = dt == DT_BF16 ? lsce_f32_to_bf16(fill) : lsce_f32_to_f16(fill);
    uint16_t lanes[W];
    for (int lane = 0; lane < W; lane++)
        lanes[lane] = fill_bits;
    memcpy(lanes, (const uint16_t *)x + i, (size_t)n * sizeof(uint16_t));
    return dt == DT_BF16 ? vf_from_bf16(lanes) : vf_from_f16(lanes);
}

SWEEP_INLINE void store_vec(void *dst, int64_t i, vf v, int dt, int stream)
{
#if HAVE_STREAM
    if (stream) {
        if (dt == DT_F32)
            vf_stream((float *)dst + i, v);
        else if (dt == DT_BF16)
            vf_stream_bf16((uint16_t *)dst + i, v);
        else
            vf_stream_f16((uint16_t *)dst + i, v);
        return;
    }
#else
    (void)stream;
#endif
    if (dt == DT_F32)
        vf_store((float *)dst + i, v);
    else if (dt == DT_BF16)
        vf_to_bf16((uint16_t *)dst + i, v);
    else
        vf_to_f16((uint16_t *)dst + i, v);
}

#if !defined(HAVE_BF16_PAIR)
#define HAVE_BF16_PAIR 0
#endif

/* Two vectors at element i, i + W (stream: i + 2·W within the streaming stretch, whose lines
 * then hold whole pairs of 16-bit vectors). */
SWEEP_INLINE void store_pair(void *dst, int64_t i, vf lo, vf hi, int dt, int stream)
{
#if HAVE_BF16_PAIR
    if (dt == DT_BF16) {
        if (stream)
            vf_pair_stream_bf16((uint16_t *)dst + i, lo, hi);
        else
            vf_pair_to_bf16((uint16_t *)dst + i, lo, hi);
        return;
    }
#endif
    store_vec(dst, i, lo, dt, stream);
    store_vec(dst, i + W, hi, dt, stream);
}

SWEEP_INLINE void store_tail(void *dst, int64_t i, int64_t n, vf v, int dt)
{
    if (dt == DT_F32) {
        vf_store_tail((float *)dst + i, n, v);
        return;
    }
    uint16_t lanes[W];
    if (dt == DT_BF16)
        vf_to_bf16(lanes, v);
    else
        vf_to_f16(lanes, v);
    memcpy((uint16_t *)dst + i, lanes, (size_t)n * sizeof(uint16_t));
}

/* p = exp(min(t − lse, 0)) of the sweeps that recompute p from a saved lse: t − lse ≤ 0 but for an
 * lse saved by another variant or the caller, ulps below a t; p ≤ 1, a NaN argument stays NaN. */
SWEEP_INLINE vf p_from_saved_lse(vf arg)
{
    const vf zero = vf_zero();
    return vf_exp_neg(vf_select_lt(zero, arg, zero, arg));
}

SWEEP_INLINE float chunk_max(const void *x, int64_t n, int dt)
{
    const vf lowest = vf_set1(-__builtin_inff());
    vf m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
    int64_t i = 0;
    for (; i + UNROLL * W <= n; i += UNROLL * W) {
        m0 = vf_max(m0, load_vec(x, i, dt));
        m1 = vf_max(m1, load_vec(x, i + W, dt));
        m2 = vf_max(m2, load_vec(x, i + 2 * W, dt));
        m3 = vf_max(m3, load_vec(x, i + 3 * W, dt));
    }
    for (; i + W <= n; i += W)
        m0 = vf_max(m0, load_vec(x, i, dt));
    if (i < n)
        m1 = vf_max(m1, load_tail(x, i, n - i, -__builtin_inff(), dt));
    return vf_max_lane(vf_max(vf_max(m0, m1), vf_max(m2, m3)));
}

SWEEP_INLINE int64_t row_find(const void *x, int64_t n, float value, int dt)
{
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const int lane = vf_find(load_vec(x, i, dt), value);
        if (lane >= 0)
            return i + lane;
    }
    if (i < n) {
        const int lane = vf_find(vf_keep(load_tail(x, i, n - i, 0.0f, dt), n - i), value);
        if (lane >= 0 && lane < n - i)
            return i + lane;
    }
    return n;
}

typedef struct chunk_sums {
    int64_t n_at_max;
    double sum_below, sum_shift;
} chunk_sums;

/* Where a stats sweep stands in the pending gradient chunk it writes (src/kernels.h): UNROLL
 * vectors per step of its exp-sum loop from `next`, while they fit before `end` (the end of the
 * streaming stretch), then the rest at once. The pending exponentials may be the row buffer the
 * loop stores into: each step writes the pending elements from its own position on before it
 * stores any (next ≥ i), and whatever is left goes out before the loop's last vectors. */
typedef struct pending_cursor {
    const float *e;
    void *dst;
    float coef, bias;
    int64_t next, end;
} pending_cursor;

/* Calls this variant's exported gradient sweep `name` of gradient dtype `out` (one copy of it,
 * not inlined again into the sweep that writes a pending row). */
#define CALL_BY_OUT(name, out, ...)                                                                \
    do {                                                                                           \
        if ((out) == DT_F32)                                                                       \
            FN_D(name, f32)(__VA_ARGS__);                                                          \
        else if ((out) == DT_BF16)                                                                 \
            FN_D(name, bf16)(__VA_ARGS__);                                                         \
        else                                                                                       \
            FN_D(name, f16)(__VA_ARGS__);                                                          \
    } while (0)

/* Elements [c, c + n) of a pending chunk, by the exported gradient sweep. */
SWEEP_INLINE void scale_part(const pending_cursor *pc, int64_t c, int64_t n, int stream, int out)
{
    if (n <= 0)
        return;
    void *dst = (char *)pc->dst + (size_t)c * elem_size(out);
    CALL_BY_OUT(lsce_row_scale, out, pc->e + c, n, &pc->coef, pc->bias, dst, stream);
}

/* One vector of the exp-sum sweep: e = exp(x − shift) (stored when exp_out); with split, the
 * lanes at the max (t == 0, e == 1) are counted, the others summed (src/kernels.h); t summed
 * with sum_t. */
#define EXPSUM_STEP(off, e_acc, t_acc)                                                             \
    do {                                                                                           \
        const vf t = vf_sub(load_vec(x, i + (off), dt), s);                                        \
        vf e = vf_exp_neg(t);                                                                      \
        if (exp_out)                                                                               \
            vf_store_aligned(exp_out + i + (off), e);                                              \
        if (split)                                                                                 \
            n_at_max += vf_split_zero(t, &e);                                                      \
        e_acc = vf_add(e_acc, e);                                                                  \
        if (sum_t)                                                                                 \
            t_acc = vf_add(t_acc, t);                                                              \
    } while (0)

_Static_assert(UNROLL % 2 == 0, "the pending writer stores pairs of vectors");

/* out: the pending chunk's gradient dtype, or −1 when there is none (a constant). */
SWEEP_INLINE chunk_sums chunk_expsum(const void *x, int64_t n, float shift, float *exp_out, int dt,
                                    int split, int sum_t, pending_cursor *pending, int out)
{
    const vf s = vf_set1(shift);
    const char *bytes = (const char *)x;
    vsum sum_e = vsum_zero(), sums_t = vsum_zero();
    int64_t n_at_max = 0;
    const float *pe = out >= 0 ? pending->e : NULL;
    void *pdst = out >= 0 ? pending->dst : NULL;
    const vf pc = vf_set1(out >= 0 ? pending->coef : 0.0f);
    const vf pb = vf_set1(out >= 0 ? pending->bias : 0.0f);
    int64_t next = out >= 0 ? pending->next : n;
    const int64_t pend = out >= 0 ? pending->end - UNROLL * W : 0;
    int64_t i = 0;
    while (i < n) {
        const int64_t end = n - i < BLOCK ? n : i + BLOCK;
        vf e0 = vf_zero(), e1 = e0, e2 = e0, e3 = e0;
        vf t0 = e0, t1 = e0, t2 = e0, t3 = e0;
        for (; i + UNROLL * W <= end; i += UNROLL * W) {
            prefetch_next_chunk(bytes + (size_t)STATS_AHEAD * elem_size(dt), i, UNROLL * W,
                                elem_size(dt));
            if (out >= 0 && next < n) {
                if (next <= pend) {
                    for (int u = 0; u < UNROLL; u += 2)
                        store_pair(pdst, next + u * W, vf_fma(vf_load(pe + next + u * W), pc, pb),
                                   vf_fma(vf_load(pe + next + (u + 1) * W), pc, pb), out, 1);
                    next += UNROLL * W;
                } else {
                    scale_part(pending, next, n - next, 1, out);
                    next = n;
                }
            }
            EXPSUM_STEP(0, e0, t0);
            EXPSUM_STEP(W, e1, t1);
            EXPSUM_STEP(2 * W, e2, t2);
            EXPSUM_STEP(3 * W, e3, t3);
        }
        if (out >= 0 && end == n && next < n) {
            scale_part(pending, next, n - next, 1, out);
            next = n;
        }
        for (; i + W <= end; i += W)
            EXPSUM_STEP(0, e0, t0);
        if (i < end) { /* lanes past the end: x = −inf, so e = 0 and t ≠ 0; t dropped */
            const vf t = vf_sub(load_tail(x, i, end - i, -__builtin_inff(), dt), s);
            vf e = vf_exp_neg(t);
            if (exp_out)
                vf_store_tail(exp_out + i, end - i, e);
            if (split)
                n_at_max += vf_split_zero(t, &e);
            e1 = vf_add(e1, e);
            if (sum_t)
                t1 = vf_add(t1, vf_keep(t, end - i));
            i = end;
        }
        sum_e = vsum_fold(sum_e, vf_add(vf_add(e0, e1), vf_add(e2, e3)));
        if (sum_t)
            sums_t = vsum_fold(sums_t, vf_add(vf_add(t0, t1), vf_add(t2, t3)));
    }
    return (chunk_sums){n_at_max, vsum_total(sum_e), sum_t ? vsum_total(sums_t) : 0.0};
}

/* Whether a chunk's exact 1s must be kept out of its lane sums (src/kernels.h): only when its
 * max exceeds every earlier chunk's of the sweep. Updates the running max. */
SWEEP_INLINE int split_needed(float max, float *running_max)
{
    if (!(max > *running_max))
        return 0;
    *running_max = max;
    return 1;
}

/* The stretch [begin, *end) of the n elements at dst that non-temporal stores write: whole
 * 64-byte lines only (nothing when not streaming). A line written partly by non-temporal stores
 * and partly by ordinary ones leaves the write-combining buffer as a partial line, which the
 * memory controller completes by a read-modify-write: 16-bit gradient rows at 2-byte offsets
 * (odd V), whose chunks started mid-line, ran ~30 % slower before the stretch kept to lines. */
SWEEP_INLINE int64_t stream_stretch(const void *dst, int64_t n, int stream, int dt, int64_t *end)
{
    const uintptr_t a = (uintptr_t)dst, size = elem_size(dt);
    *end = 0;
    if (!HAVE_STREAM || !stream || (a % size))
        return 0;
    const int64_t begin = (int64_t)(((LINE_BYTES - a % LINE_BYTES) % LINE_BYTES) / size);
    if (begin >= n)
        return 0;
    *end = begin + (int64_t)((size_t)(n - begin) * size / LINE_BYTES * LINE_BYTES / size);
    return begin;
}
_Static_assert(LINE_BYTES % (W * sizeof(float)) == 0, "a line holds whole vectors");

/* The store loop of both gradient sweeps: VALUE(j) gives the W results at element j from a
 * vector load of element j, VALUE_TAIL(j, m) those of the m < W elements left; AHEAD(j) reads
 * ahead. Ordinary stores before and after the streaming stretch. */
#define GRAD_LOOP(VALUE, VALUE_TAIL, AHEAD)                                                        \
    do {                                                                                           \
        int64_t i = 0, stream_end;                                                                 \
        const int64_t stream_begin = stream_stretch(dst, n, stream, out, &stream_end);            \
        if (stream_end > stream_begin) {                                                           \
            for (; i + W <= stream_begin; i += W)                                                  \
                store_vec(dst, i, VALUE(i), out, 0);                                               \
            if (i < stream_begin) {                                                                \
                store_tail(dst, i, stream_begin - i, VALUE_TAIL(i, stream_begin - i), out);        \
                i = stream_begin;                                                                  \
            }                                                                                      \
            for (; i + 2 * W <= stream_end; i += 2 * W) {                                          \
                AHEAD(i);                                                                          \
                AHEAD(i + W);                                                                      \
                store_pair(dst, i, VALUE(i), VALUE(i + W), out, 1);                                \
            }                                                                                      \
            for (; i < stream_end; i += W) {                                                       \
                AHEAD(i);                                                                          \
                store_vec(dst, i, VALUE(i), out, 1);                                               \
            }                                                                                      \
        }                                                                                          \
        for (; i + 2 * W <= n; i += 2 * W) {                                                       \
            AHEAD(i);                                                                              \
            store_pair(dst, i, VALUE(i), VALUE(i + W), out, 0);                                    \
        }                                                                                          \
        for (; i + W <= n; i += W)                                                                 \
            store_vec(dst, i, VALUE(i), out, 0);                                                   \
        if (i < n)                                                                                 \
            store_tail(dst, i, n - i, VALUE_TAIL(i, n - i), out);                                  \
    } while (0)

/* dst = fma(src, coef, bias) over one chunk, rounded to the gradient dtype `out`. */
SWEEP_INLINE void scale_chunk(const float *src, int64_t n, float coef, float bias, void *dst,
                              int stream, int out)
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

SWEEP_INLINE void row_scale(const float *src, int64_t n, const float *coef, float bias, void *dst,
                            int stream, int out)
{
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        scale_chunk(src + begin, len, coef[begin / LSCE_CHUNK], bias,
                    (char *)dst + (size_t)begin * elem_size(out), stream, out);
    }
}

/* The stats sweep; with out ≥ 0 (a constant), it also writes the pending gradient row pg of
 * that dtype (row_stats_write, src/kernels.h). */
SWEEP_INLINE void row_stats(const void *x, int64_t n, float *exp_out, lsce_chunk_stats *chunks,
                            int dt, int sum_t, const lsce_pending_grad *pg, int out)
{
    float running_max = -__builtin_inff();
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        const void *chunk = (const char *)x + (size_t)begin * elem_size(dt);
        const float max = chunk_max(chunk, len, dt);
        const float shift = max == -__builtin_inff() ? 0.0f : max;
        float *e_chunk = exp_out ? exp_out + begin : NULL;
        pending_cursor pc = {NULL, NULL, 0.0f, 0.0f, 0, 0};
        if (out >= 0) { /* the head before the streaming stretch first: the loop does the rest */
            pc = (pending_cursor){pg->e + begin, (char *)pg->dst + (size_t)begin * elem_size(out),
                                  pg->coef[begin / LSCE_CHUNK], pg->bias, 0, 0};
            pc.next = stream_stretch(pc.dst, len, 1, out, &pc.end);
            scale_part(&pc, 0, pc.next, 0, out);
        }
        const chunk_sums s = split_needed(max, &running_max)
                                 ? chunk_expsum(chunk, len, shift, e_chunk, dt, 1, sum_t, &pc, out)
                                 : chunk_expsum(chunk, len, shift, e_chunk, dt, 0, sum_t, &pc, out);
        chunks[begin / LSCE_CHUNK] =
            (lsce_chunk_stats){max, shift, s.n_at_max, s.sum_below, s.sum_shift, 0.0, 0.0};
    }
}

SWEEP_INLINE void row_expscale(const void *x, int64_t n, float shift, float coef, float bias,
                               void *dst, int stream, int in, int out)
{
    const vf vc = vf_set1(coef), vb = vf_set1(bias), s = vf_set1(shift);
#define READ_AHEAD(j) prefetch_l1((const char *)x + (size_t)(j) * elem_size(in) + EXPSCALE_AHEAD_BYTES)
#define EXPSCALE(j) vf_fma(p_from_saved_lse(vf_sub(load_vec(x, j, in), s)), vc, vb)
#define EXPSCALE_TAIL(j, m)                                                                        \
    vf_fma(p_from_saved_lse(vf_sub(load_tail(x, j, m, shift, in), s)), vc, vb)
    GRAD_LOOP(EXPSCALE, EXPSCALE_TAIL, READ_AHEAD);
#undef READ_AHEAD
#undef EXPSCALE
#undef EXPSCALE_TAIL
}

#include "sweeps_ex_simd.h"

#define STATS_WRITE(d, DT, o, OUT)                                                                 \
    decl_row_stats_write_fn(FN_DD(lsce_row_stats_write, d, o))                                     \
    {                                                                                              \
        if (flags & LSCE_STATS_SUM_SHIFT)                                                          \
            row_stats(x, n, exp_out, chunks, DT, 1, pending, OUT);                                 \
        else                                                                                       \
            row_stats(x, n, exp_out, chunks, DT, 0, pending, OUT);                                 \
    }

/* The exported specialisations: one per logits dtype (find, stats, stats_ex, and × gradient
 * dtype expscale and stats_write) and per gradient dtype (scale, scale_ex). */
#define SWEEPS_OF_DTYPE(d, DT)                                                                     \
    decl_row_find_fn(FN_D(lsce_row_find, d)) { return row_find(x, n, value, DT); }                 \
    decl_row_stats_fn(FN_D(lsce_row_stats, d))                                                     \
    {                                                                                              \
        if (flags & LSCE_STATS_SUM_SHIFT)                                                          \
            row_stats(x, n, exp_out, chunks, DT, 1, NULL, -1);                                     \
        else                                                                                       \
            row_stats(x, n, exp_out, chunks, DT, 0, NULL, -1);                                     \
    }                                                                                              \
    STATS_WRITE(d, DT, f32, DT_F32)                                                                \
    STATS_WRITE(d, DT, bf16, DT_BF16)                                                              \
    STATS_WRITE(d, DT, f16, DT_F16)                                                                \
    decl_row_scale_fn(FN_D(lsce_row_scale, d))                                                     \
    {                                                                                              \
        row_scale(src, n, coef, bias, dst, stream, DT);                                            \
    }                                                                                              \
    decl_row_expscale_fn(FN_DD(lsce_row_expscale, d, f32))                                         \
    {                                                                                              \
        row_expscale(x, n, shift, coef, bias, dst, stream, DT, DT_F32);                            \
    }                                                                                              \
    decl_row_expscale_fn(FN_DD(lsce_row_expscale, d, bf16))                                        \
    {                                                                                              \
        row_expscale(x, n, shift, coef, bias, dst, stream, DT, DT_BF16);                           \
    }                                                                                              \
    decl_row_expscale_fn(FN_DD(lsce_row_expscale, d, f16))                                         \
    {                                                                                              \
        row_expscale(x, n, shift, coef, bias, dst, stream, DT, DT_F16);                            \
    }                                                                                              \
    decl_row_transform_fn(FN_D(lsce_row_transform, d))                                             \
    {                                                                                              \
        row_transform_dispatch(x, n, tf, t_out, v_out, DT);                                        \
    }                                                                                              \
    decl_row_stats_ex_fn(FN_D(lsce_row_stats_ex, d))                                               \
    {                                                                                              \
        row_stats_ex(x, n, tf, beta, flags, exp_out, t_out, v_out, chunks, pending, DT);         \
    }                                                                                              \
    decl_row_scale_ex_fn(FN_D(lsce_row_scale_ex, d)) { row_scale_ex(e, n, sx, dst, stream, DT); }

SWEEPS_OF_DTYPE(f32, DT_F32)
SWEEPS_OF_DTYPE(bf16, DT_BF16)
SWEEPS_OF_DTYPE(f16, DT_F16)

decl_exp_fn(FN(lsce_exp))
{
    int64_t i = 0;
    for (; i + W <= n; i += W)
        vf_store(out + i, vf_exp_neg(vf_load(in + i)));
    if (i < n)
        vf_store_tail(out + i, n - i, vf_exp_neg(vf_load_tail(in + i, n - i, 0.0f)));
}

decl_fence_fn(FN(lsce_fence)) { store_fence(); }
