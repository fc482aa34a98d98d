/*
 * The scalar reference: the specification of every row sweep, in plain C.
 *
 * THE ALGORITHM (one row of V logits x, target y; the driver in src/lsce.c composes the sweeps)
 *
 *   1. Stats, chunk by chunk (row_stats). For chunk k (LSCE_CHUNK elements, read from memory once
 *      and swept a second time while it sits in L1):
 *        m_k = max x_c,  d_k = Σ exp(x_c − m_k),  S_k = Σ (x_c − m_k),   e_c = exp(x_c − m_k)
 *      with d_k kept as n_k (elements at m_k, each exp(0) = 1 exactly) + the sum of the others,
 *      so that d − 1 is known to the precision of its small terms (a confident row: d ≈ 1).
 *      (e_c stored in a scratch row by the fused path: one exp per element; S_k only when b ≠ 0,
 *      the one term that reads it). A NaN or +inf logit makes d_k NaN (x − m_k is NaN at the
 *      +inf): d alone tells a NaN row. Every term of d_k lies in [0, 1] and every term of S_k in
 *      [−inf, 0]: each sum has one sign, so its relative error is bounded by the length of its
 *      longest chain of roundings, and nothing cancels however large |m| is (logits offset by 1e4
 *      lose nothing). An all −inf chunk uses shift 0.
 *   2. Merge (driver, double): m = max_k m_k, w_k = exp(m_k − m),
 *        d = Σ_k w_k·d_k,   S = Σ_k S_k + n_k·(m_k − m)   (= Σ_c (x_c − m)),   lse = m + log d.
 *      This is the associative merge of online softmax (Milakov & Gimelshein 2018); the same
 *      merge combines vocabulary slices held by other threads or machines.
 *   3. With a = q_y, b = q_c (c ≠ y), A = a + b(V−1) = Σ q:
 *        loss = A·lse − (a − b)·x_y − b·Σ x
 *             = A·log d − (a − b)·(x_y − m) − b·S             (A = (a − b) + bV cancels every m)
 *        nll  = log d − (x_y − m),        log d = log1p(d − 1)
 *   4. Gradient, with g the row's scale (grad_output, 1/denominator for mean), p_c = w_k·e_c/d:
 *        grad_c = g·(A·p_c − b)  = fma(e_c, coef_k, −g·b),  coef_k = g·A·w_k/d   (row_scale)
 *        grad_y = g·(A·p_y − a)    formed in double, rounded once, stored over grad_y;
 *      when x_y is the maximum, p_y = 1/d and A·p_y − a = ((A − a) − a·(d − 1))/d, so a target
 *      probability near 1 keeps full relative precision.
 *   Backward from a saved lse recomputes p_c = exp(min(x_c − lse, 0)) (row_expscale): the clamp
 *   only acts on an lse saved by another variant or computed by the caller, ulps below a logit
 *   (the SIMD exp is defined for arguments ≤ 0); a NaN argument stays NaN.
 *   argmax: the lowest c with x_c == m (row_find in the first chunk whose max is m); a NaN row's
 *   argmax is its first NaN (torch.argmax).
 *
 * THE OBJECTIVE OPTIONS (lsce.h) run the same steps over transformed logits t = T(x) with general
 * class weights, through the _ex sweeps (the plain sweeps above serve every call without class
 * weights, prior, logit scale, softcap or confidence penalty — z-loss, row weights and calibration
 * only change per-row numbers):
 *   T: t = s·x, or t = c·tanh(k·x) with k = s/c (row_transform; stats pass 1 stores t, pass 2 reads
 *      it from L1). ω_c = w_c·q_c splits into an off-target vector β_c (b·w_c, ε·u_c, ε·u_c·w_c)
 *      and the target's extra α (= ω_y − β_y); Ω = Σ ω = Σ β + α.
 *   1'. per chunk, besides step 1: Sβ_k = Σ β_c·(t_c − m_k) (row_stats_ex; Σ β_c over the chunk is
 *      the same for every row, summed once per call), and for the confidence penalty
 *      E_k = Σ e_c·(t_c − m_k) (one-signed sums again; 0·(−inf) taken as 0).
 *   2'. merge: Sβ = Σ_k Sβ_k + (Σ_k β)·(m_k − m),   E = Σ_k w_k·(E_k + d_k·(m_k − m))
 *      (E/d = Σ p_c (t_c − m), so Σ p log p = E/d − log d = −H).
 *   3'. loss = ρ·[Ω·log d − α·(t_y − m) − Sβ + z·lse² + β_cp·(E/d − log d) (+ Σ ω log q)]
 *   4'. ∂loss/∂t_c = G·[p_c·(Ω + 2z·lse + β_cp·((t_c − m) − E/d)) − β_c − α·[c = y]], G = ρ·g;
 *      with p_c = w_k·e_c/d: grad_c = e_c·C_k + D_k·e_c·(t_c − m_k) − G·β_c (row_scale_ex),
 *        C_k = G·w_k/d·(Ω + 2z·lse + β_cp·((m_k − m) − E/d)),   D_k = G·w_k·β_cp/d,
 *      times ∂t/∂x: s (folded into C, D and the bias) or s·(1 − (t/c)²) per element (softcap).
 *      The target again in double, with p_y = 1/d at the maximum.
 *   Backward from a saved lse: the same sweep with e_c = exp(t_c − lse), shift lse, and H from one
 *   more stats sweep only when β_cp > 0.
 *
 * Special values follow from IEEE arithmetic, with no special cases in the sweeps:
 *   −inf logit: e = exp(−inf) = 0 exactly, its gradient is exactly −g·b; S = −inf, so a
 *   smoothed row's loss is +inf (the driver drops b·S when b = 0 so that ε = 0 stays finite).
 *   NaN or +inf logit: x − m is NaN for it, d and S become NaN, and so do loss and gradient.
 *
 * The scalar sweeps accumulate in double and use libm expf (correctly rounded within 1 ulp).
 */
#include <math.h>
#include <string.h>

#include "../half.h"
#include "../kernels.h"

/* Storage: logits and gradients of any dtype are converted to fp32 on load (exactly) and rounded
 * once to their dtype on store (nearest even, src/half.h). The dtype is a constant argument of
 * these inline bodies: each exported kernel below is one specialisation. */

static inline int64_t row_find(const void *x, int64_t n, float value, int dt)
{
    for (int64_t c = 0; c < n; c++)
        if (lsce_load_as_f32(x, dt, c) == value)
            return c;
    return n;
}

static inline void row_stats(const void *x, int64_t n, unsigned flags, float *exp_out,
                             lsce_chunk_stats *chunks, int dt)
{
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t end = n - begin < LSCE_CHUNK ? n : begin + LSCE_CHUNK;
        float max = lsce_load_as_f32(x, dt, begin);
        for (int64_t c = begin + 1; c < end; c++) {
            const float v = lsce_load_as_f32(x, dt, c);
            max = v > max ? v : max;
        }
        const float shift = max == -INFINITY ? 0.0f : max;
        int64_t n_at_max = 0;
        double sum_below = 0.0, sum_shift = 0.0;
        for (int64_t c = begin; c < end; c++) {
            const float t = lsce_load_as_f32(x, dt, c) - shift;
            const float e = expf(t);
            if (exp_out)
                exp_out[c] = e;
            if (t == 0.0f) /* every chunk here; the SIMD sweeps only where it matters (kernels.h) */
                n_at_max++;
            else
                sum_below += e;
            if (flags & LSCE_STATS_SUM_SHIFT) /* S_k: only smoothing (b ≠ 0) reads it */
                sum_shift += t;
        }
        chunks[begin / LSCE_CHUNK] =
            (lsce_chunk_stats){max, shift, n_at_max, sum_below, sum_shift, 0.0, 0.0};
    }
}

/* The scalar reference leaves the store policy (`stream`) to the hardware. */
static inline void row_scale(const float *src, int64_t n, const float *coef, float bias,
                             void *dst, int out)
{
    for (int64_t c = 0; c < n; c++)
        lsce_store_from_f32(dst, out, c, fmaf(src[c], coef[c / LSCE_CHUNK], bias));
}

/* The gradient of the previous row and the stats of this one: the SIMD sweeps interleave the
 * two (src/kernels.h); the results are those of the two sweeps one after the other, the
 * gradient first (its exponentials may be the buffer the stats overwrite). */
static inline void row_stats_write(const void *x, int64_t n, unsigned flags, float *exp_out,
                                   lsce_chunk_stats *chunks, const lsce_pending_grad *pending,
                                   int in, int out)
{
    row_scale(pending->e, n, pending->coef, pending->bias, pending->dst, out);
    row_stats(x, n, flags, exp_out, chunks, in);
}

/* p = exp(min(t − lse, 0)) from a saved lse (step 4's note on backward): NaN stays NaN. */
static inline float p_from_saved_lse(float arg) { return expf(arg > 0.0f ? 0.0f : arg); }

static inline void row_expscale(const void *x, int64_t n, float shift, float coef, float bias,
                                void *dst, int in, int out)
{
    for (int64_t c = 0; c < n; c++)
        lsce_store_from_f32(dst, out, c,
                            fmaf(p_from_saved_lse(lsce_load_as_f32(x, in, c) - shift), coef, bias));
}

/* ---- the general sweeps of the objective options ---- */

/* tanh(y) and v = 1 − |tanh y|: for |y| ≥ 0.625, v = 2e/(1 + e) with e = exp(−2|y|) keeps its
 * relative precision where tanh saturates (1 − |tanhf(y)| would cancel). */
static inline float tanh_v(float y, float *v)
{
    const float tau = tanhf(y);
    if (fabsf(y) < 0.625f) {
        *v = 1.0f - fabsf(tau);
    } else {
        const float e = expf(-2.0f * fabsf(y));
        *v = 2.0f * e / (1.0f + e);
    }
    return tau;
}

static inline float transform(float x, const lsce_transform *tf, float *v)
{
    switch (tf->kind) {
    case LSCE_TRANSFORM_SCALE: return tf->scale * x;
    case LSCE_TRANSFORM_SOFTCAP: return tf->cap * tanh_v(tf->k * x, v);
    default: return x;
    }
}

static inline void row_transform(const void *x, int64_t n, const lsce_transform *tf, float *t_out,
                                 float *v_out, int dt)
{
    for (int64_t c = 0; c < n; c++) {
        float v = 1.0f;
        t_out[c] = transform(lsce_load_as_f32(x, dt, c), tf, &v);
        if (v_out && tf->kind == LSCE_TRANSFORM_SOFTCAP)
            v_out[c] = v;
    }
}

static inline void row_scale_ex(const float *e_in, int64_t n, const lsce_scale_ex *sx, void *dst,
                                int out);

/* A pending row is written first, whole (the SIMD sweeps interleave it with their reads). */
static inline void row_stats_ex(const void *x, int64_t n, const lsce_transform *tf,
                                const float *beta, unsigned flags, float *exp_out, float *t_out,
                                float *v_out, lsce_chunk_stats *chunks,
                                const lsce_pending_ex *pending, int dt)
{
    if (pending)
        row_scale_ex(pending->e, n, &pending->sx, pending->dst, pending->out);
    const int want_et = (flags & LSCE_STATS_ET) != 0;
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t end = n - begin < LSCE_CHUNK ? n : begin + LSCE_CHUNK;
        float max = -INFINITY;
        for (int64_t c = begin; c < end; c++) {
            float v = 1.0f;
            const float t = transform(lsce_load_as_f32(x, dt, c), tf, &v);
            if (t_out)
                t_out[c] = t;
            if (v_out && tf->kind == LSCE_TRANSFORM_SOFTCAP)
                v_out[c] = v;
            max = c == begin || t > max ? t : max;
        }
        const float shift = max == -INFINITY ? 0.0f : max;
        lsce_chunk_stats st = {max, shift, 0, 0.0, 0.0, 0.0, 0.0};
        for (int64_t c = begin; c < end; c++) {
            float v;
            const float t = transform(lsce_load_as_f32(x, dt, c), tf, &v) - shift;
            const float e = expf(t);
            if (exp_out)
                exp_out[c] = e;
            if (t == 0.0f)
                st.n_at_max++;
            else
                st.sum_below += e;
            if (!beta && (flags & LSCE_STATS_SUM_SHIFT))
                st.sum_shift += t;
            if (beta && beta[c] != 0.0f) /* 0·(−inf) is 0 here */
                st.sum_beta += (double)(beta[c] * t);
            if (want_et && e != 0.0f)
                st.sum_et += (double)(e * t);
        }
        chunks[begin / LSCE_CHUNK] = st;
    }
}

static inline void row_scale_ex(const float *e_in, int64_t n, const lsce_scale_ex *sx, void *dst,
                                int out)
{
    for (int64_t c = 0; c < n; c++) {
        const int64_t k = c / LSCE_CHUNK;
        const float t = sx->t ? sx->t[c] : 0.0f;
        const float e = e_in ? e_in[c] : p_from_saved_lse(t - sx->shift[k]);
        float inner = fmaf(e, sx->coef[k], sx->beta ? sx->bias * sx->beta[c] : sx->bias);
        if (sx->coef_t && e != 0.0f)
            inner = fmaf(sx->coef_t[k], e * (t - sx->shift[k]), inner);
        if (sx->jv)
            inner *= sx->jac_s * (sx->jv[c] * (2.0f - sx->jv[c]));
        lsce_store_from_f32(dst, out, c, inner);
    }
}

/* The stats of logits dtype d with a pending gradient row of dtype o. */
#define REF_STATS_WRITE(d, DT, o, OUT)                                                             \
    decl_row_stats_write_fn(lsce_row_stats_write_##d##_##o##_scalar)                               \
    {                                                                                              \
        row_stats_write(x, n, flags, exp_out, chunks, pending, DT, OUT);                           \
    }

#define REF_SWEEPS_OF_DTYPE(d, DT)                                                                 \
    decl_row_find_fn(lsce_row_find_##d##_scalar) { return row_find(x, n, value, DT); }             \
    decl_row_stats_fn(lsce_row_stats_##d##_scalar) { row_stats(x, n, flags, exp_out, chunks, DT); }\
    REF_STATS_WRITE(d, DT, f32, 0)                                                                 \
    REF_STATS_WRITE(d, DT, bf16, 1)                                                                \
    REF_STATS_WRITE(d, DT, f16, 2)                                                                 \
    decl_row_scale_fn(lsce_row_scale_##d##_scalar)                                                 \
    {                                                                                              \
        (void)stream;                                                                              \
        row_scale(src, n, coef, bias, dst, DT);                                                    \
    }                                                                                              \
    decl_row_expscale_fn(lsce_row_expscale_##d##_f32_scalar)                                       \
    {                                                                                              \
        (void)stream;                                                                              \
        row_expscale(x, n, shift, coef, bias, dst, DT, 0);                                         \
    }                                                                                              \
    decl_row_expscale_fn(lsce_row_expscale_##d##_bf16_scalar)                                      \
    {                                                                                              \
        (void)stream;                                                                              \
        row_expscale(x, n, shift, coef, bias, dst, DT, 1);                                         \
    }                                                                                              \
    decl_row_expscale_fn(lsce_row_expscale_##d##_f16_scalar)                                       \
    {                                                                                              \
        (void)stream;                                                                              \
        row_expscale(x, n, shift, coef, bias, dst, DT, 2);                                         \
    }                                                                                              \
    decl_row_transform_fn(lsce_row_transform_##d##_scalar)                                        \
    {                                                                                              \
        row_transform(x, n, tf, t_out, v_out, DT);                                                 \
    }                                                                                              \
    decl_row_stats_ex_fn(lsce_row_stats_ex_##d##_scalar)                                           \
    {                                                                                              \
        row_stats_ex(x, n, tf, beta, flags, exp_out, t_out, v_out, chunks, pending, DT);         \
    }                                                                                              \
    decl_row_scale_ex_fn(lsce_row_scale_ex_##d##_scalar)                                           \
    {                                                                                              \
        (void)stream;                                                                              \
        row_scale_ex(e, n, sx, dst, DT);                                                           \
    }

REF_SWEEPS_OF_DTYPE(f32, 0)
REF_SWEEPS_OF_DTYPE(bf16, 1)
REF_SWEEPS_OF_DTYPE(f16, 2)

void lsce_exp_scalar(const float *in, int64_t n, float *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = expf(in[i]);
}

void lsce_fence_scalar(void) {}
