/*
 * The general sweeps of the objective options (src/ref/ref.c, "THE OBJECTIVE OPTIONS"): the logit
 * transform (scale, softcap's tanh), the stats sweep with class-weight and e·t sums, and the
 * general gradient sweep. Part of src/sweeps_simd.h (included by it, after the plain sweeps,
 * whose vocabulary and helpers it uses); the flags of each sweep are constants of its
 * specialisations, chosen once per row by a switch.
 */
#define UNROLL_EX 2 /* up to five accumulators per vector: two vectors per iteration */
#define BLOCK_EX (16 * W * UNROLL_EX)

/* tanh(y) and v = 1 − |tanh y| (src/ref/ref.c): |y| < 0.625: tanh = y + y³·P(y²), P a minimax
 * fit of degree 4 in y² (0.74 ulp evaluated in fp32), v = 1 − |tanh|; otherwise, with
 * e = exp(−2|y|) ≤ 0.287, tanh = ±(1 − e)/(1 + e) and v = 2e/(1 + e), which keeps its precision
 * where tanh saturates (±inf → ±1 and v = 0; NaN stays NaN). A vector with every |y| < 0.625
 * (moderate logits: the usual case) skips the second; otherwise both are evaluated, one kept per
 * lane. */
SWEEP_INLINE vf vf_tanh_v(vf y, vf *v)
{
    const vf a = vf_abs(y), z = vf_mul(y, y), one = vf_set1(1.0f);
    vf p = vf_fma(vf_set1(-0x1.75e242p-8f), z, vf_set1(0x1.5226bcp-6f));
    p = vf_fma(p, z, vf_set1(-0x1.b83c60p-5f));
    p = vf_fma(p, z, vf_set1(0x1.110728p-3f));
    p = vf_fma(p, z, vf_set1(-0x1.555532p-2f));
    const vf small = vf_fma(vf_mul(y, z), p, y);
    const vf is_small_limit = vf_set1(0.625f);
    if (vf_all_lt(a, is_small_limit)) { /* the common case of moderate logits: no exp, no divide */
        *v = vf_sub(one, vf_abs(small));
        return small;
    }
    const vf e = vf_exp_neg(vf_mul(a, vf_set1(-2.0f)));
    const vf inv = vf_div(one, vf_add(one, e));
    const vf large = vf_copysign(vf_mul(vf_sub(one, e), inv), y);
    *v = vf_select_lt(a, is_small_limit, vf_sub(one, vf_abs(small)), vf_mul(vf_add(e, e), inv));
    return vf_select_lt(a, is_small_limit, small, large);
}

typedef struct transform_vecs {
    vf scale, cap, k;
} transform_vecs;

SWEEP_INLINE transform_vecs transform_setup(const lsce_transform *tf)
{
    return (transform_vecs){vf_set1(tf->scale), vf_set1(tf->cap), vf_set1(tf->k)};
}

/* t = T(x) of src/kernels.h, kind a constant of each specialisation; *v = 1 − |tanh| (softcap). */
SWEEP_INLINE vf transform_vec(vf x, const transform_vecs *tv, vf *v, int kind)
{
    if (kind == LSCE_TRANSFORM_SCALE)
        return vf_mul(tv->scale, x);
    if (kind == LSCE_TRANSFORM_SOFTCAP)
        return vf_mul(tv->cap, vf_tanh_v(vf_mul(tv->k, x), v));
    return x;
}

/* Pass 1 of a chunk with a transform: t into t_out (and v into v_out when not NULL, softcap),
 * returns max t. Lanes past the end load −inf, whose t (−inf, or −cap with softcap) never
 * exceeds the chunk's largest t. */
SWEEP_INLINE float chunk_transform_max(const void *x, int64_t n, const lsce_transform *tf,
                                       float *t_out, float *v_out, int dt, int kind)
{
    const transform_vecs tv = transform_setup(tf);
    const int keep_v = kind == LSCE_TRANSFORM_SOFTCAP && v_out;
    vf m0 = vf_set1(-__builtin_inff()), m1 = m0, v0 = vf_zero(), v1 = v0;
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        const vf t0 = transform_vec(load_vec(x, i, dt), &tv, &v0, kind);
        const vf t1 = transform_vec(load_vec(x, i + W, dt), &tv, &v1, kind);
        vf_store(t_out + i, t0);
        vf_store(t_out + i + W, t1);
        if (keep_v) {
            vf_store(v_out + i, v0);
            vf_store(v_out + i + W, v1);
        }
        m0 = vf_max(m0, t0);
        m1 = vf_max(m1, t1);
    }
    for (; i + W <= n; i += W) {
        const vf t = transform_vec(load_vec(x, i, dt), &tv, &v0, kind);
        vf_store(t_out + i, t);
        if (keep_v)
            vf_store(v_out + i, v0);
        m0 = vf_max(m0, t);
    }
    if (i < n) {
        const vf t = transform_vec(load_tail(x, i, n - i, -__builtin_inff(), dt), &tv, &v0, kind);
        vf_store_tail(t_out + i, n - i, t);
        if (keep_v)
            vf_store_tail(v_out + i, n - i, v0);
        m1 = vf_max(m1, t);
    }
    return vf_max_lane(vf_max(m0, m1));
}

/* Elements [c, c + m) of the pending row, within one chunk, by the exported gradient sweep of
 * its dtype: one copy of the writer for every specialisation of the sweep below. */
static __attribute__((noinline)) void pending_ex_part(const lsce_pending_ex *pw, int64_t c,
                                                      int64_t m)
{
    const int64_t k = c / LSCE_CHUNK;
    const lsce_scale_ex *sx = &pw->sx;
    const lsce_scale_ex part = {sx->coef + k,
                                sx->coef_t ? sx->coef_t + k : NULL,
                                sx->shift ? sx->shift + k : NULL,
                                sx->beta ? sx->beta + c : NULL,
                                sx->t ? sx->t + c : NULL,
                                sx->jv ? sx->jv + c : NULL,
                                sx->bias,
                                sx->jac_s};
    void *dst = (char *)pw->dst + (size_t)c * elem_size(pw->out);
    CALL_BY_OUT(lsce_row_scale_ex, pw->out, pw->e + c, m, &part, dst, 1);
}

/* The pending elements of a chunk (begin: its first element in the row) go out WRITE_EX at a
 * time, each block before the loop stores the first exponential of it (*written: how far). In
 * stand-alone loops of the traffic, blocks of 256 elements kept most of the overlap of four
 * vectors per step (0.78–0.85× memcpy against 0.81–0.88×; 1024: 0.73–0.81×). */
#define WRITE_EX 256
_Static_assert(WRITE_EX % (UNROLL_EX * W) == 0, "pending blocks start at a step of the loop");
SWEEP_INLINE void pending_ex_ahead(const lsce_pending_ex *pw, int64_t begin, int64_t *written,
                                   int64_t i, int64_t n)
{
    if (*written <= i) { /* the caller checked *written < n */
        const int64_t m = n - *written < WRITE_EX ? n - *written : WRITE_EX;
        pending_ex_part(pw, begin + *written, m);
        *written += m;
    }
}

/* One vector of the general exp-sum sweep (EXPSUM_STEP plus the β and e·t sums). */
#define EXPSUM_EX_STEP(off, u)                                                                     \
    do {                                                                                           \
        const vf t = vf_sub(load_vec(src, i + (off), dt), s);                                      \
        vf e = vf_exp_neg(t);                                                                      \
        if (exp_out)                                                                               \
            vf_store_aligned(exp_out + i + (off), e);                                              \
        if (has_et)                                                                                \
            et[u] = vf_fma(e, vf_max(t, lowest), et[u]);                                           \
        if (has_beta) {                                                                            \
            const vf bv = vf_load(beta + i + (off));                                               \
            bt[u] = beta_zeros ? vf_fma_nz(bv, t, bt[u]) : vf_fma(bv, t, bt[u]);                   \
        }                                                                                          \
        if (split)                                                                                 \
            n_at_max += vf_split_zero(t, &e);                                                      \
        ea[u] = vf_add(ea[u], e);                                                                  \
        if (sum_t) /* without β: Σβ(t − shift) replaces it */                                     \
            ta[u] = vf_add(ta[u], t);                                                              \
    } while (0)

/* Sums of one chunk over src (x itself, or the fp32 t of pass 1); prefetches the next chunk of x
 * (ahead: the first byte of the next chunk of x, whose elements are ahead_size bytes); writes
 * the pending row's elements of the chunk (pw, or NULL; begin: the chunk's offset). Without
 * beta_zeros every β_c is known to be nonzero (the tail's padding lanes, β = 0 and t = −inf,
 * always take the test). */
SWEEP_INLINE lsce_chunk_stats chunk_expsum_ex(const void *src, int64_t n, float shift,
                                              float *exp_out, const float *beta,
                                              const char *ahead, size_t ahead_size,
                                              const lsce_pending_ex *pw, int64_t begin, int dt,
                                              int has_beta, int beta_zeros, int has_et, int split,
                                              int sum_t)
{
    const vf s = vf_set1(shift), lowest = vf_set1(-0x1.fffffep127f);
    vsum sum_e = vsum_zero(), sums_t = vsum_zero(), sum_b = vsum_zero(), sum_et = vsum_zero();
    int64_t n_at_max = 0, written = pw ? 0 : n;
    int64_t i = 0;
    while (i < n) {
        const int64_t end = n - i < BLOCK_EX ? n : i + BLOCK_EX;
        vf ea[2], ta[2], bt[2], et[2];
        for (int u = 0; u < 2; u++)
            ea[u] = ta[u] = bt[u] = et[u] = vf_zero();
        for (; i + UNROLL_EX * W <= end; i += UNROLL_EX * W) {
            prefetch_next_chunk(ahead, i, UNROLL_EX * W, ahead_size);
            if (written < n)
                pending_ex_ahead(pw, begin, &written, i, n);
            EXPSUM_EX_STEP(0, 0);
            EXPSUM_EX_STEP(W, 1);
        }
        if (written < n && end == n) { /* the rest before the last vectors' stores */
            pending_ex_part(pw, begin + written, n - written);
            written = n;
        }
        for (; i + W <= end; i += W)
            EXPSUM_EX_STEP(0, 0);
        if (i < end) { /* lanes past the end: t = −inf, e = 0, β = 0; t dropped */
            const vf t = vf_sub(load_tail(src, i, end - i, -__builtin_inff(), dt), s);
            vf e = vf_exp_neg(t);
            if (exp_out)
                vf_store_tail(exp_out + i, end - i, e);
            if (has_et)
                et[1] = vf_fma(e, vf_max(t, lowest), et[1]);
            if (has_beta)
                bt[1] = vf_fma_nz(vf_load_tail(beta + i, end - i, 0.0f), t, bt[1]);
            if (split)
                n_at_max += vf_split_zero(t, &e);
            ea[1] = vf_add(ea[1], e);
            if (sum_t)
                ta[1] = vf_add(ta[1], vf_keep(t, end - i));
            i = end;
        }
        sum_e = vsum_fold(sum_e, vf_add(ea[0], ea[1]));
        if (sum_t)
            sums_t = vsum_fold(sums_t, vf_add(ta[0], ta[1]));
        if (has_beta)
            sum_b = vsum_fold(sum_b, vf_add(bt[0], bt[1]));
        if (has_et)
            sum_et = vsum_fold(sum_et, vf_add(et[0], et[1]));
    }
    return (lsce_chunk_stats){0.0f, shift, n_at_max, vsum_total(sum_e),
                              sum_t ? vsum_total(sums_t) : 0.0,
                              has_beta ? vsum_total(sum_b) : 0.0,
                              has_et ? vsum_total(sum_et) : 0.0};
}

/* Pass 2 specialised on (source dtype, β with or without zeros or no β with or without
 * Σ(t − shift), e·t, split): x's dtype dt when there was no pass 1. */
SWEEP_INLINE lsce_chunk_stats expsum_ex_dispatch(const void *src, int64_t n, float shift,
                                                 float *exp_out, const float *beta, unsigned flags,
                                                 const char *ahead, const lsce_pending_ex *pw,
                                                 int64_t begin, int from_t, int dt, int split)
{
    const size_t ahead_size = elem_size(dt);
    /* bits 1-2: 0 no β, 4 no β and no Σ(t − shift), 2 β, 6 β with zeros */
    const int beta_sel = beta ? ((flags & LSCE_STATS_BETA_ZEROS) ? 6 : 2)
                              : ((flags & LSCE_STATS_SUM_SHIFT) ? 0 : 4);
#define EXPSUM_EX_CASE(sel, DT)                                                                    \
    case sel:                                                                                      \
        return chunk_expsum_ex(src, n, shift, exp_out, beta, ahead, ahead_size, pw, begin, DT,    \
                               ((sel) >> 1) & 1, ((sel) >> 2) & 1, (sel) & 1, ((sel) >> 4) & 1,    \
                               ((sel) & 6) == 0)
#define EXPSUM_EX_CASES(high, DT)                                                                  \
    EXPSUM_EX_CASE((high) | 0, DT);                                                                \
    EXPSUM_EX_CASE((high) | 1, DT);                                                                \
    EXPSUM_EX_CASE((high) | 4, DT);                                                                \
    EXPSUM_EX_CASE((high) | 5, DT);                                                                \
    EXPSUM_EX_CASE((high) | 2, DT);                                                                \
    EXPSUM_EX_CASE((high) | 3, DT);                                                                \
    EXPSUM_EX_CASE((high) | 6, DT);                                                                \
    EXPSUM_EX_CASE((high) | 7, DT)
    switch ((split ? 16 : 0) | (from_t ? 8 : 0) | beta_sel | ((flags & LSCE_STATS_ET) ? 1 : 0)) {
        EXPSUM_EX_CASES(0, dt);
        EXPSUM_EX_CASES(8, DT_F32);
        EXPSUM_EX_CASES(16, dt);
        EXPSUM_EX_CASES(24, DT_F32);
    default: __builtin_unreachable();
    }
#undef EXPSUM_EX_CASES
#undef EXPSUM_EX_CASE
}

SWEEP_INLINE float transform_max_dispatch(const void *x, int64_t n, const lsce_transform *tf,
                                          float *t_out, float *v_out, int dt)
{
    switch (tf ? tf->kind : LSCE_TRANSFORM_NONE) {
    case LSCE_TRANSFORM_SCALE:
        return chunk_transform_max(x, n, tf, t_out, v_out, dt, LSCE_TRANSFORM_SCALE);
    case LSCE_TRANSFORM_SOFTCAP:
        return chunk_transform_max(x, n, tf, t_out, v_out, dt, LSCE_TRANSFORM_SOFTCAP);
    default: return chunk_transform_max(x, n, tf, t_out, v_out, dt, LSCE_TRANSFORM_NONE);
    }
}

SWEEP_INLINE void row_stats_ex(const void *x, int64_t n, const lsce_transform *tf,
                               const float *beta, unsigned flags, float *exp_out, float *t_out,
                               float *v_out, lsce_chunk_stats *chunks,
                               const lsce_pending_ex *pending, int dt)
{
    float local_t[LSCE_CHUNK] __attribute__((aligned(64))); /* pass 1's t when t_out is NULL */
    const int from_t = (tf && tf->kind != LSCE_TRANSFORM_NONE) || t_out;
    float running_max = -__builtin_inff();
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        const char *chunk = (const char *)x + (size_t)begin * elem_size(dt);
        float *t_chunk = t_out ? t_out + begin : local_t;
        const float max =
            from_t ? transform_max_dispatch(chunk, len, tf, t_chunk, v_out ? v_out + begin : NULL, dt)
                   : chunk_max(chunk, len, dt);
        const float shift = max == -__builtin_inff() ? 0.0f : max;
        lsce_chunk_stats st = expsum_ex_dispatch(
            from_t ? (const void *)t_chunk : (const void *)chunk, len, shift,
            exp_out ? exp_out + begin : NULL, beta ? beta + begin : NULL, flags,
            chunk + (size_t)STATS_AHEAD * elem_size(dt), pending, begin, from_t, dt,
            split_needed(max, &running_max));
        st.max = max;
        chunks[begin / LSCE_CHUNK] = st;
    }
}

SWEEP_INLINE void row_transform(const void *x, int64_t n, const lsce_transform *tf, float *t_out,
                                float *v_out, int dt, int kind)
{
    const transform_vecs tv = transform_setup(tf);
    const int keep_v = kind == LSCE_TRANSFORM_SOFTCAP && v_out;
    vf v = vf_zero();
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        vf_store(t_out + i, transform_vec(load_vec(x, i, dt), &tv, &v, kind));
        if (keep_v)
            vf_store(v_out + i, v);
    }
    if (i < n) {
        vf_store_tail(t_out + i, n - i,
                      transform_vec(load_tail(x, i, n - i, 0.0f, dt), &tv, &v, kind));
        if (keep_v)
            vf_store_tail(v_out + i, n - i, v);
    }
}

SWEEP_INLINE void row_transform_dispatch(const void *x, int64_t n, const lsce_transform *tf,
                                         float *t_out, float *v_out, int dt)
{
    switch (tf->kind) {
    case LSCE_TRANSFORM_SCALE:
        row_transform(x, n, tf, t_out, v_out, dt, LSCE_TRANSFORM_SCALE);
        break;
    case LSCE_TRANSFORM_SOFTCAP:
        row_transform(x, n, tf, t_out, v_out, dt, LSCE_TRANSFORM_SOFTCAP);
        break;
    default: row_transform(x, n, tf, t_out, v_out, dt, LSCE_TRANSFORM_NONE); break;
    }
}

/* The general gradient of W lanes (lsce_scale_ex in src/kernels.h); flags constant. */
SWEEP_INLINE vf scale_ex_value(vf e, vf t, vf bv, vf jv, vf vc, vf vd, vf vs, vf vb, vf vjs,
                               int from_t, int has_t_term, int has_beta, int has_jac)
{
    if (from_t)
        e = p_from_saved_lse(vf_sub(t, vs));
    vf inner = vf_fma(e, vc, has_beta ? vf_mul(vb, bv) : vb);
    if (has_t_term)
        inner = vf_fma(vd, vf_mul(e, vf_max(vf_sub(t, vs), vf_set1(-0x1.fffffep127f))), inner);
    if (has_jac)
        inner = vf_mul(inner, vf_mul(vjs, vf_mul(jv, vf_sub(vf_set1(2.0f), jv))));
    return inner;
}

SWEEP_INLINE void scale_ex_chunk(const float *e_in, int64_t n, const lsce_scale_ex *sx,
                                 int64_t begin, void *dst, int stream, int out, int from_t,
                                 int has_t_term, int has_beta, int has_jac)
{
    const int64_t k = begin / LSCE_CHUNK;
    const float *t_in = sx->t ? sx->t + begin : NULL, *beta = sx->beta ? sx->beta + begin : NULL;
    const float *jv_in = sx->jv ? sx->jv + begin : NULL;
    const vf vc = vf_set1(sx->coef[k]), vd = vf_set1(has_t_term ? sx->coef_t[k] : 0.0f),
             vs = vf_set1(sx->shift ? sx->shift[k] : 0.0f), vb = vf_set1(sx->bias),
             vjs = vf_set1(sx->jac_s), none = vf_zero();
    const int need_t = from_t || has_t_term;
#define EX_LOAD(flag, p, j) ((flag) ? vf_load((p) + (j)) : none)
#define EX_LOAD_TAIL(flag, p, j, m) ((flag) ? vf_load_tail((p) + (j), m, 0.0f) : none)
#define EX_VALUE(j)                                                                                \
    scale_ex_value(EX_LOAD(!from_t, e_in, j), EX_LOAD(need_t, t_in, j), EX_LOAD(has_beta, beta, j), \
                   EX_LOAD(has_jac, jv_in, j), vc, vd, vs, vb, vjs, from_t, has_t_term, has_beta,   \
                   has_jac)
#define EX_VALUE_TAIL(j, m)                                                                        \
    scale_ex_value(EX_LOAD_TAIL(!from_t, e_in, j, m), EX_LOAD_TAIL(need_t, t_in, j, m),             \
                   EX_LOAD_TAIL(has_beta, beta, j, m), EX_LOAD_TAIL(has_jac, jv_in, j, m), vc, vd,  \
                   vs, vb, vjs, from_t, has_t_term, has_beta, has_jac)
#define EX_NOTHING_AHEAD(j) (void)0
    GRAD_LOOP(EX_VALUE, EX_VALUE_TAIL, EX_NOTHING_AHEAD);
#undef EX_LOAD
#undef EX_LOAD_TAIL
#undef EX_VALUE
#undef EX_VALUE_TAIL
#undef EX_NOTHING_AHEAD
}

SWEEP_INLINE void row_scale_ex(const float *e, int64_t n, const lsce_scale_ex *sx, void *dst,
                               int stream, int out)
{
    const int sel = (e ? 0 : 8) | (sx->coef_t ? 4 : 0) | (sx->beta ? 2 : 0) | (sx->jv ? 1 : 0);
    for (int64_t begin = 0; begin < n; begin += LSCE_CHUNK) {
        const int64_t len = n - begin < LSCE_CHUNK ? n - begin : LSCE_CHUNK;
        const float *e_chunk = e ? e + begin : NULL;
        void *d = (char *)dst + (size_t)begin * elem_size(out);
#define SCALE_EX_CASE(c)                                                                           \
    case c:                                                                                        \
        scale_ex_chunk(e_chunk, len, sx, begin, d, stream, out, (c >> 3) & 1, (c >> 2) & 1,        \
                       (c >> 1) & 1, c & 1);                                                       \
        break
        switch (sel) {
            SCALE_EX_CASE(0); SCALE_EX_CASE(1); SCALE_EX_CASE(2); SCALE_EX_CASE(3);
            SCALE_EX_CASE(4); SCALE_EX_CASE(5); SCALE_EX_CASE(6); SCALE_EX_CASE(7);
            SCALE_EX_CASE(8); SCALE_EX_CASE(9); SCALE_EX_CASE(10); SCALE_EX_CASE(11);
            SCALE_EX_CASE(12); SCALE_EX_CASE(13); SCALE_EX_CASE(14);
        default: SCALE_EX_CASE(15);
        }
#undef SCALE_EX_CASE
    }
}

