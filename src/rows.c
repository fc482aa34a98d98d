/*
 * The row pass of the driver: composes a kernel table's sweeps row by row, merges the chunk
 * statistics in double and forms every per-row number (loss, gradient coefficients, target
 * element). What the sweeps compute, and the algebra used here, is specified in src/ref/ref.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "half.h"

/* Statistics of a row or of a run of its chunks, relative to `max` (of t = T(x)). */
typedef struct row_stats {
    float max;         /* the largest chunk maximum (NaN ignored: NaN rows are caught by d) */
    int64_t max_chunk; /* first chunk whose maximum is `max` */
    int64_t n;         /* elements covered */
    double n_at;       /* elements equal to max: each exp(0) = 1 */
    double d_below;    /* Σ exp(t − max) over the others: d = n_at + d_below */
    double S;          /* Σ (t − max): only when smoothing reads it (plain sweeps: κ ≠ 0) */
    double Sv, v_mass; /* Σ v_c·(t_c − max) and Σ v_c (general sweeps with class factors) */
    double E;          /* Σ exp(t_c − max)·(t_c − max) (confidence penalty) */
} row_stats;

/* d − 1 = (n_at − 1) + d_below: exact to the precision of the small terms (a confident row). */
static double d_minus_1(const row_stats *st) { return (st->n_at - 1.0) + st->d_below; }
static double d_of(const row_stats *st) { return st->n_at + st->d_below; }
static double log_d_of(const row_stats *st)
{
    return st->n_at >= 1.0 ? log1p(d_minus_1(st)) : log(d_of(st));
}

/* Merges `count` chunks that start at element `first` (a multiple of LSCE_CHUNK) of a row of V
 * elements; v_sum[k]: Σ v_c over chunk k (the plan's, from chunk first / LSCE_CHUNK on), or NULL
 * without class factors. When w is not NULL, w[k] = exp(shift_k − max), the factor that takes
 * chunk k's exponentials to the row's. */
static row_stats merge_chunks(const lsce_chunk_stats *ch, int64_t count, int64_t first,
                              int64_t V, const double *v_sum, double *w)
{
    row_stats st = {-INFINITY, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int64_t k = 0; k < count; k++)
        if (ch[k].max > st.max) {
            st.max = ch[k].max;
            st.max_chunk = first / LSCE_CHUNK + k;
        }
    for (int64_t k = 0; k < count; k++) {
        const int64_t begin = first + k * LSCE_CHUNK;
        const int64_t n_k = V - begin < LSCE_CHUNK ? V - begin : LSCE_CHUNK;
        const double shift_gap = (double)ch[k].shift - (double)st.max;
        const double w_k = ch[k].max == -INFINITY ? 0.0 : exp(shift_gap);
        const double d_k = (double)ch[k].n_at_max + ch[k].sum_below;
        if (ch[k].max == st.max && w_k == 1.0) { /* its exact 1s are the row's */
            st.n_at += (double)ch[k].n_at_max;
            st.d_below += ch[k].sum_below;
        } else {
            st.d_below += w_k * d_k;
        }
        st.S += ch[k].sum_shift + (double)n_k * shift_gap;
        if (v_sum && (v_sum[k] != 0.0 || ch[k].sum_beta != 0.0)) {
            st.Sv += ch[k].sum_beta + v_sum[k] * shift_gap;
            st.v_mass += v_sum[k];
        }
        if (w_k != 0.0)
            st.E += w_k * (ch[k].sum_et + d_k * shift_gap);
        st.n += n_k;
        if (w)
            w[k] = w_k;
    }
    return st;
}

/* acc ← acc ∪ part (online softmax merge); acc covers the elements before part's. */
static void merge_stats(row_stats *acc, const row_stats *part)
{
    if (acc->n == 0 || part->max > acc->max) {
        const row_stats older = *acc;
        *acc = *part;
        if (older.n == 0)
            return;
        merge_stats(acc, &older); /* now older.max < acc->max */
        return;
    }
    const double gap = part->max == acc->max ? 0.0 : (double)part->max - (double)acc->max;
    if (gap == 0.0) {
        acc->n_at += part->n_at;
        acc->d_below += part->d_below;
        acc->E += part->E;
    } else if (d_of(part) != 0.0) {
        acc->d_below += d_of(part) * exp(gap);
        acc->E += exp(gap) * (part->E + d_of(part) * gap);
    }
    acc->S += part->S + (gap == 0.0 ? 0.0 : (double)part->n * gap);
    if (part->v_mass != 0.0 || part->Sv != 0.0)
        acc->Sv += part->Sv + (gap == 0.0 ? 0.0 : part->v_mass * gap);
    acc->v_mass += part->v_mass;
    acc->n += part->n;
}

/* A kept row's gradient waiting to be written by the next kept row's stats sweep (the fused
 * path's pipelining, src/kernels.h row_stats_write and row_stats_ex): its sweep part and its
 * target element. */
typedef struct pending_row {
    lsce_pending_ex ex; /* ex.dst NULL: nothing pending; the plain sweeps read e, coef and bias */
    int64_t y;
    float target;
} pending_row;

/* The part of a pending row that the plain sweeps read (src/kernels.h row_stats_write). */
static lsce_pending_grad plain_part(const lsce_pending_ex *ex)
{
    return (lsce_pending_grad){ex->e, ex->sx.coef, ex->sx.bias, ex->dst};
}

/* Stats of a whole row, in groups of at most `capacity` chunks (the forward path's stack array).
 * With one group (capacity ≥ chunks of the row) w receives every chunk's factor. A pending
 * gradient row (of dtype out_dt; one group) is written by the same sweep. */
static row_stats row_statistics(const lsce_kernels *k, const plan *p, int dt, const void *x,
                                int64_t V, float *exp_out, float *t_out, float *v_out,
                                lsce_chunk_stats *chunks, int64_t capacity, double *w,
                                pending_row *pending, int out_dt)
{
    row_stats acc = {-INFINITY, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int64_t first = 0; first < V; first += capacity * LSCE_CHUNK) {
        const int64_t n = V - first < capacity * LSCE_CHUNK ? V - first : capacity * LSCE_CHUNK;
        const void *xs = (const char *)x + (size_t)first * lsce_dtype_size(dt);
        const int write = pending && pending->ex.dst; /* then first == 0 and n == V */
        if (p->general)
            k->row_stats_ex[dt](xs, n, &p->tf, p->v ? p->v + first : NULL, p->stats_flags,
                                exp_out ? exp_out + first : NULL, t_out ? t_out + first : NULL,
                                v_out ? v_out + first : NULL, chunks, write ? &pending->ex : NULL);
        else if (write) {
            const lsce_pending_grad plain = plain_part(&pending->ex);
            k->row_stats_write[dt][out_dt](xs, n, p->stats_flags, exp_out, chunks, &plain);
        }
        else
            k->row_stats[dt](xs, n, p->stats_flags, exp_out ? exp_out + first : NULL, chunks);
        if (write) {
            lsce_store_from_f32(pending->ex.dst, out_dt, pending->y, pending->target);
            pending->ex.dst = NULL;
        }
        const row_stats part =
            merge_chunks(chunks, (n + LSCE_CHUNK - 1) / LSCE_CHUNK, first, V,
                         p->v ? p->v_chunk_sum + first / LSCE_CHUNK : NULL, w);
        merge_stats(&acc, &part);
    }
    return acc;
}

/* t_c as the sweeps compute it (the kernel's own transform of one element). */
static float t_of(const lsce_kernels *k, const plan *p, int dt, const void *x, int64_t c)
{
    if (p->tf.kind == LSCE_TRANSFORM_NONE)
        return lsce_load_as_f32(x, dt, c);
    float t;
    k->row_transform[dt]((const char *)x + (size_t)c * lsce_dtype_size(dt), 1, &p->tf, &t, NULL);
    return t;
}

/* Lowest index of the argmax of t with torch.argmax semantics: a NaN is larger than every
 * number. t_row: the row's t when the fused path stored it, else NULL. */
static int64_t row_argmax(const lsce_kernels *k, const plan *p, int dt, const void *x, int64_t V,
                          const float *t_row, const row_stats *st)
{
    if (isnan(st->d_below))
        for (int64_t c = 0; c < V; c++)
            if (isnan(lsce_load_as_f32(x, dt, c))) /* T keeps NaN and makes no other NaN */
                return c;
    const int64_t begin = st->max_chunk * LSCE_CHUNK;
    const int64_t n = V - begin < LSCE_CHUNK ? V - begin : LSCE_CHUNK;
    if (p->tf.kind == LSCE_TRANSFORM_NONE)
        return begin + k->row_find[dt]((const char *)x + (size_t)begin * lsce_dtype_size(dt), n,
                                       st->max);
    float local_t[LSCE_CHUNK];
    const float *t_chunk = t_row ? t_row + begin : local_t;
    if (!t_row)
        k->row_transform[dt]((const char *)x + (size_t)begin * lsce_dtype_size(dt), n, &p->tf,
                             local_t, NULL);
    return begin + k->row_find[LSCE_DTYPE_F32](t_chunk, n, st->max);
}

/* Σ_{c ≠ y} β_c·(t_c − max): the linear term without the target, for the rare row whose target
 * logit is −inf while the target's total weight is 0 (a = 0: "others" at ε = 1). */
static double off_target_linear(const lsce_kernels *k, const plan *p, int dt, const void *x,
                                int64_t V, int64_t y, float max)
{
    double sum = 0.0;
    for (int64_t c = 0; c < V; c++) {
        const double beta = p->kappa * (p->v ? (double)p->v[c] : 1.0);
        if (c != y && beta != 0.0)
            sum += beta * ((double)t_of(k, p, dt, x, c) - (double)max);
    }
    return sum;
}

/* The weights of a row with target y (driver.h): ω_y = β_y + α, Ω = Σ_c ω_c. */
typedef struct target_weights {
    double w_y, q_off_y;
    double alpha;   /* the target's extra weight */
    double omega_y; /* ω_y */
    double omega;   /* Ω */
} target_weights;

static target_weights target_weights_of(const plan *p, int64_t y)
{
    target_weights tw;
    tw.w_y = p->w ? (double)p->w[y] : 1.0;
    tw.q_off_y = p->kappa * (p->u ? (double)p->u[y] : 1.0);
    tw.alpha = p->alpha0 * tw.w_y;
    tw.omega_y = tw.w_y * tw.q_off_y + tw.alpha;
    tw.omega = p->beta_sum + tw.alpha;
    return tw;
}

/* Everything about one kept row that the loss and the gradient share. */
typedef struct row_terms {
    double d, log_d, lse;
    double ty;       /* t_y − max (exact) */
    target_weights tw;
    double E_over_d; /* Σ p_c (t_c − max) */
} row_terms;

static row_terms terms_of(const plan *p, const row_stats *rs, float t_y, int64_t y)
{
    row_terms rt;
    rt.d = d_of(rs);
    rt.log_d = log_d_of(rs);
    rt.lse = (double)rs->max + rt.log_d;
    rt.ty = (double)t_y - (double)rs->max;
    rt.tw = target_weights_of(p, y);
    rt.E_over_d = p->cp > 0.0 ? rs->E / rt.d : 0.0;
    return rt;
}

static double xlogx(double x) { return x > 0.0 ? x * log(x) : 0.0; }

/* The row's loss before its row weight (src/ref/ref.c, step 3'). */
static double row_loss_value(const lsce_kernels *k, const plan *p, int kl, int dt, const void *x,
                             int64_t V, int64_t y, const row_stats *rs, const row_terms *rt)
{
    const double S_beta = p->v ? p->kappa * rs->Sv : (p->kappa != 0.0 ? p->kappa * rs->S : 0.0);
    double linear;
    if (rt->ty == -INFINITY && !isnan(rs->d_below)) {
        /* the target's terms are ω_y·(t_y − max), split as α + β_y */
        if (rt->tw.omega_y > 0.0)
            linear = INFINITY;
        else if (rt->tw.alpha == 0.0)
            linear = -S_beta; /* β_y = 0 too: S_beta has no target term */
        else
            linear = -off_target_linear(k, p, dt, x, V, y, rs->max);
    } else {
        linear = (rt->tw.alpha != 0.0 ? -rt->tw.alpha * rt->ty : 0.0) - S_beta;
    }
    double loss = rt->tw.omega * rt->log_d + linear;
    if (kl)
        loss += p->kl_base - rt->tw.w_y * xlogx(rt->tw.q_off_y) +
                rt->tw.w_y * xlogx(rt->tw.q_off_y + p->alpha0);
    if (p->z > 0.0)
        loss += p->z * rt->lse * rt->lse;
    if (p->cp > 0.0)
        loss += p->cp * (rt->E_over_d - rt->log_d);
    return loss;
}

/* A reported value; NaN as the positive quiet NaN (lsce.h), whatever its sign and payload from
 * the order of operations (rounding to fp32 keeps the canonical NaN canonical). */
static double reported(double v) { return isnan(v) ? (double)NAN : v; }

/* The gradient scale of row r: grad_output (per row for none), over the denominator for mean,
 * times the row weight. */
static double row_scale(const call *c, const plan *p, int64_t r)
{
    const double rho = p->rho ? (double)p->rho[r] : 1.0;
    switch (c->opts->reduction) {
    case LSCE_REDUCTION_MEAN:
        if (!(p->denominator > 0.0))
            return 0.0;
        return rho * (c->grad_output ? (double)c->grad_output[0] : 1.0) / p->denominator;
    case LSCE_REDUCTION_SUM: return rho * (c->grad_output ? (double)c->grad_output[0] : 1.0);
    case LSCE_REDUCTION_NONE: return rho * (c->grad_output ? (double)c->grad_output[r] : 1.0);
    }
    return rho;
}

/* ∂t/∂x at the logit x: s, or s·(1 − tanh²(k·x)) = s·4e/(1 + e)², e = exp(−2|k·x|) (the
 * argument rounded to fp32 as the sweeps round it). */
static double chain_rule(const plan *p, float x)
{
    if (!p->softcap)
        return p->scale;
    const double e = exp(-2.0 * fabs((double)(p->tf.k * x)));
    return p->scale * 4.0 * e / ((1.0 + e) * (1.0 + e));
}

#define GROUP_CHUNKS 64 /* chunk statistics the forward path keeps on its stack */

/* Fused path scratch: the row's exponentials (and t and v when the gradient reads them), per
 * chunk its statistics, factor w_k, coefficients C_k and D_k and shift; when pipelined, a second
 * set of those the gradient reads, the pending row's (the two sets swap after every kept row).
 * The pending row's exponentials share the row buffer: the stats sweep writes each pending
 * element before it stores the exponential of the same index (src/kernels.h). */
typedef struct scratch_set {
    float *t, *v;
    float *coef, *coef_t, *shift;
} scratch_set;
typedef struct scratch {
    void *block;
    float *e;
    scratch_set cur, pending;
    lsce_chunk_stats *chunks;
    double *w;
} scratch;

/* Whether the t row the fused gradient needs (confidence penalty) is the logits row itself:
 * fp32 logits without a transform, read in place rather than copied (one row less in L2). */
static int t_is_logits(const plan *p, int dt)
{
    return dt == LSCE_DTYPE_F32 && p->tf.kind == LSCE_TRANSFORM_NONE;
}

/* Whether the t and v rows of the fused gradient are needed (confidence penalty without
 * t_is_logits; softcap). */
static int need_t_row(const plan *p, int dt) { return p->cp > 0.0 && !t_is_logits(p, dt); }
static int need_v_row(const plan *p) { return p->softcap; }

/* Whether the fused path writes each kept row's gradient during the next kept row's stats
 * sweep (src/kernels.h, row_stats_write and row_stats_ex), when the gradient streams.
 * Stand-alone loops of this traffic (4096 × 32000 and 1024 × 128256, fp32, no arithmetic) ran
 * at 0.70× memcpy reading a row then writing one, 0.81–0.88× interleaving the writes with the
 * reads four vectors at a time, 0.78–0.85× 256 elements at a time (the general sweeps' blocks),
 * 0.73–0.80× 1024 at a time and 0.65–0.70× one 16 KiB chunk at a time. The exponentials must
 * stay in L2 (2 MiB here) while the logits stream through it: with a second exponential row the
 * fused kernel gained 10–20 % at V ≤ 128256 (two 0.5 MiB rows) and lost ~6 % at V = 262144 (two
 * 1 MiB rows); with one row V = 262144 gains too (avx512 0.65 → 0.74× memcpy). The general
 * sweeps also keep the pending row's t and v rows (double-buffered: the next row's transform
 * overwrites its own), and all their rows must fit. */
#define PIPELINE_L2_BYTES ((size_t)5 << 18) /* 1.25 MiB */
static int pipelined(const plan *p, int dt, int64_t V)
{
    const size_t rows = 1 + 2 * (size_t)(need_t_row(p, dt) + need_v_row(p));
    return p->stream && (size_t)V * sizeof(float) * rows <= PIPELINE_L2_BYTES;
}

/* Carves one set's rows (row_bytes each) and per-chunk coefficients out of *rows and *coefs. */
static scratch_set carve_set(char **rows, float **coefs, size_t row_bytes, int need_t, int need_v,
                             int64_t n_chunks)
{
    scratch_set set = {NULL, NULL, *coefs, *coefs + n_chunks, *coefs + 2 * n_chunks};
    *coefs += 3 * n_chunks;
    if (need_t) {
        set.t = (float *)*rows;
        *rows += row_bytes;
    }
    if (need_v) {
        set.v = (float *)*rows;
        *rows += row_bytes;
    }
    return set;
}

static int scratch_alloc(scratch *s, const plan *p, int dt, int64_t V, int64_t n_chunks)
{
    const size_t row_bytes = ((size_t)V * sizeof(float) + 63) & ~(size_t)63;
    const int need_t = need_t_row(p, dt), need_v = need_v_row(p);
    const size_t sets = pipelined(p, dt, V) ? 2 : 1;
    const size_t per_chunk =
        sizeof(lsce_chunk_stats) + sizeof(double) + 3 * sets * sizeof(float);
    s->block = aligned_alloc(64, row_bytes * (1 + sets * (size_t)(need_t + need_v)) +
                                     (((size_t)n_chunks * per_chunk + 63) & ~(size_t)63));
    if (!s->block)
        return 0;
    char *rows = s->block;
    s->e = (float *)rows;
    rows += row_bytes;
    char *per_chunk_part = rows + sets * (size_t)(need_t + need_v) * row_bytes;
    s->chunks = (lsce_chunk_stats *)per_chunk_part;
    s->w = (double *)(s->chunks + n_chunks);
    float *coefs = (float *)(s->w + n_chunks);
    s->cur = carve_set(&rows, &coefs, row_bytes, need_t, need_v, n_chunks);
    s->pending = sets == 2 ? carve_set(&rows, &coefs, row_bytes, need_t, need_v, n_chunks)
                           : (scratch_set){NULL, NULL, NULL, NULL, NULL};
    return 1;
}

/* The target element K·p_y − ω_y (before the row's scale) with p_y = w_y·e_y/d, e_y·w_y =
 * exp(t_y − max) and ty = t_y − max: at the maximum p_y = 1/d and the difference is formed from
 * d − 1; where t_y = −inf, p_y = 0 and p·log p → 0 even though K is infinite. */
static double target_term(const row_stats *rs, double ty, double K, double w_y, double e_y,
                          double omega_y)
{
    const double d = d_of(rs);
    if (ty == 0.0)
        return ((K - omega_y) - omega_y * d_minus_1(rs)) / d;
    if (e_y == 0.0 && isinf(K) && !isnan(d))
        return -omega_y;
    return K * w_y * e_y / d - omega_y;
}

/* Writes the fused gradient of a kept row (src/ref/ref.c, step 4'); t_row: the row's t (the
 * logits themselves when t_is_logits), read by the confidence penalty's term. With `pending`
 * (pipelined), leaves it there to be written by the next kept row's stats sweep instead, and
 * swaps the two scratch sets. */
static void fused_gradient(const lsce_kernels *k, const plan *p, int out_dt, scratch *s,
                           const float *t_row, int64_t V, int64_t y, float x_y,
                           const row_stats *rs, const row_terms *rt, double G, void *g,
                           pending_row *pending)
{
    const int64_t n_chunks = (V + LSCE_CHUNK - 1) / LSCE_CHUNK;
    const double common = rt->tw.omega + 2.0 * p->z * rt->lse - p->cp * rt->E_over_d;
    const double folded = p->softcap ? 1.0 : p->scale; /* ∂t/∂x when it is a constant */
    const double G_over_d = G / rt->d;
    const scratch_set *set = &s->cur;
    for (int64_t kc = 0; kc < n_chunks; kc++) {
        const double gap = (double)s->chunks[kc].shift - (double)rs->max;
        set->coef[kc] = (float)(folded * G_over_d * s->w[kc] *
                                (common + (p->cp > 0.0 ? p->cp * gap : 0.0)));
        set->coef_t[kc] = (float)(folded * G_over_d * s->w[kc] * p->cp);
        set->shift[kc] = s->chunks[kc].shift;
    }
    const float bias = (float)(-folded * G * p->kappa);
    const double K = common + (p->cp > 0.0 ? p->cp * rt->ty : 0.0);
    const double target =
        target_term(rs, rt->ty, K, s->w[y / LSCE_CHUNK], (double)s->e[y], rt->tw.omega_y);
    const float g_y = (float)(G * target * chain_rule(p, x_y));
    const lsce_scale_ex sx = {set->coef, p->cp > 0.0 ? set->coef_t : NULL, set->shift, p->v, t_row,
                              set->v, bias, (float)p->scale};
    if (pending) {
        *pending = (pending_row){{s->e, sx, g, out_dt}, y, g_y};
        const scratch_set written_next = s->cur;
        s->cur = s->pending;
        s->pending = written_next;
        return;
    }
    if (p->general)
        k->row_scale_ex[out_dt](s->e, V, &sx, g, p->stream);
    else
        k->row_scale[out_dt](s->e, V, set->coef, bias, g, p->stream);
    lsce_store_from_f32(g, out_dt, y, g_y);
}

/* Writes the pending row, if any (the last kept row of a call). */
static void flush_pending(const lsce_kernels *k, const plan *p, int out_dt, pending_row *pending,
                          int64_t V)
{
    const lsce_pending_ex *ex = &pending->ex;
    if (!ex->dst)
        return;
    if (p->general)
        k->row_scale_ex[out_dt](ex->e, V, &ex->sx, ex->dst, 1);
    else
        k->row_scale[out_dt](ex->e, V, ex->sx.coef, ex->sx.bias, ex->dst, 1);
    lsce_store_from_f32(ex->dst, out_dt, pending->y, pending->target);
    pending->ex.dst = NULL;
}

/* Writes the gradient of a kept row from its saved lse (lsce_backward). With a confidence penalty
 * the row's entropy needs one more stats sweep, which also gives max and d: p_c = e_c/d with
 * e_c = exp(t_c − max), as in the fused path. Forming the penalty's part from the saved lse
 * instead, β·p·(t − lse) + β·p·H, would cancel two terms of size β·p·log d where the exact
 * β·p·((t − max) − E/d) is small (a uniform row: exactly 0). */
static void backward_gradient(const lsce_kernels *k, const plan *p, int in_dt, int out_dt,
                              const void *x, int64_t V, int64_t y, double lse, double G, void *g)
{
    /* read before an in-place write */
    const float x_y = lsce_load_as_f32(x, in_dt, y), t_y = t_of(k, p, in_dt, x, y);
    const target_weights tw = target_weights_of(p, y);
    const double folded = p->softcap ? 1.0 : p->scale;
    const float bias = (float)(-folded * G * p->kappa);
    double common = tw.omega + 2.0 * p->z * lse, scale = 1.0, target;
    float shift = (float)lse;
    if (p->cp > 0.0) {
        lsce_chunk_stats chunks[GROUP_CHUNKS];
        const row_stats rs = row_statistics(k, p, in_dt, x, V, NULL, NULL, NULL, chunks,
                                            GROUP_CHUNKS, NULL, NULL, 0);
        const double d = d_of(&rs), ty = (double)t_y - (double)rs.max;
        common -= p->cp * rs.E / d;
        scale = 1.0 / d; /* the sweep's exp(t − max) is d·p */
        shift = rs.max == -INFINITY ? 0.0f : rs.max;
        target = target_term(&rs, ty, common + p->cp * ty, 1.0, exp(ty), tw.omega_y);
    } else {
        /* t_y may exceed a saved lse from another variant (or the caller) by ulps: p_y ≤ 1,
         * NaN kept */
        const double arg_y = (double)t_y - lse;
        const double p_y = exp(arg_y > 0.0 ? 0.0 : arg_y);
        target = p_y == 0.0 && isinf(common) ? -tw.omega_y : common * p_y - tw.omega_y;
    }
    const float coef = (float)(folded * G * common * scale);
    const float coef_t = (float)(folded * G * p->cp * scale);
    if (p->general) {
        float t_buf[LSCE_CHUNK], v_buf[LSCE_CHUNK];
        const size_t in_size = lsce_dtype_size(in_dt), out_size = lsce_dtype_size(out_dt);
        for (int64_t begin = 0; begin < V; begin += LSCE_CHUNK) {
            const int64_t n = V - begin < LSCE_CHUNK ? V - begin : LSCE_CHUNK;
            k->row_transform[in_dt]((const char *)x + (size_t)begin * in_size, n, &p->tf, t_buf,
                                    v_buf);
            const lsce_scale_ex sx = {&coef, p->cp > 0.0 ? &coef_t : NULL, &shift,
                                      p->v ? p->v + begin : NULL, t_buf,
                                      p->softcap ? v_buf : NULL, bias, (float)p->scale};
            k->row_scale_ex[out_dt](NULL, n, &sx, (char *)g + (size_t)begin * out_size, p->stream);
        }
    } else {
        k->row_expscale[in_dt][out_dt](x, V, shift, coef, bias, g, p->stream);
    }
    lsce_store_from_f32(g, out_dt, y, (float)(G * target * chain_rule(p, x_y)));
}

lsce_status lsce_run(const lsce_kernels *k, const call *c)
{
    const int mode = c->mode;
    lsce_result *result = c->result;
    plan p;
    lsce_status st = lsce_prepare(c, &p);
    if (st != LSCE_OK)
        return st;
    if ((mode == 2 && c->rows > 0 && !c->row_lse_in) || (mode != 0 && c->rows > 0 && !c->grad)) {
        lsce_plan_release(&p);
        return LSCE_ERR_NULL;
    }

    const int64_t V = c->vocab;
    const int64_t n_chunks = (V + LSCE_CHUNK - 1) / LSCE_CHUNK;
    lsce_chunk_stats stack_chunks[GROUP_CHUNKS];
    scratch s;
    memset(&s, 0, sizeof s);
    s.chunks = stack_chunks;
    pending_row pending;
    memset(&pending, 0, sizeof pending);
    pending_row *const pipe =
        mode == 1 && pipelined(&p, (int)c->opts->logits_dtype, c->vocab) ? &pending : NULL;
    int64_t capacity = GROUP_CHUNKS;
    if (mode == 1 && c->rows > 0) {
        if (!scratch_alloc(&s, &p, (int)c->opts->logits_dtype, V, n_chunks)) {
            lsce_plan_release(&p);
            return LSCE_ERR_NOMEM;
        }
        capacity = n_chunks;
    }

    const lsce_options *o = c->opts;
    const int in_dt = (int)o->logits_dtype, out_dt = (int)o->grad_dtype;
    const size_t in_size = lsce_dtype_size(in_dt), out_size = lsce_dtype_size(out_dt);
    double loss_sum = 0.0, nll_sum = 0.0, z_sum = 0.0;
    int64_t n_correct = 0;
    for (int64_t r = 0; r < c->rows; r++) {
        const void *x = (const char *)c->logits + (size_t)(r * c->logits_stride) * in_size;
        void *g = c->grad ? (char *)c->grad + (size_t)(r * c->grad_stride) * out_size : NULL;
        const int64_t y = c->targets[r];
        const int kept = y != o->ignore_index;

        if (mode == 2) {
            if (kept)
                backward_gradient(k, &p, in_dt, out_dt, x, V, y, (double)c->row_lse_in[r],
                                  row_scale(c, &p, r), g);
            else
                memset(g, 0, (size_t)V * out_size);
            continue;
        }

        if (!kept) {
            if (c->row_lse) { /* before the gradient row, which may be this very row */
                const row_stats rs = row_statistics(k, &p, in_dt, x, V, NULL, NULL, NULL, s.chunks,
                                                    capacity, NULL, NULL, 0);
                c->row_lse[r] = (float)reported((double)rs.max + log_d_of(&rs));
            }
            if (g)
                memset(g, 0, (size_t)V * out_size);
            if (c->row_loss)
                c->row_loss[r] = 0.0f;
            continue;
        }

        const row_stats rs =
            row_statistics(k, &p, in_dt, x, V, s.e, s.cur.t, s.cur.v, s.chunks, capacity, s.w, pipe,
                           out_dt);
        const float t_y = s.cur.t ? s.cur.t[y] : t_of(k, &p, in_dt, x, y);
        const row_terms rt = terms_of(&p, &rs, t_y, y);
        const double rho = p.rho ? (double)p.rho[r] : 1.0;
        const double loss = rho * row_loss_value(k, &p, o->kl, in_dt, x, V, y, &rs, &rt);
        const int correct = row_argmax(k, &p, in_dt, x, V, s.cur.t, &rs) == y;
        loss_sum += loss;
        nll_sum += rt.log_d - rt.ty;
        if (p.z > 0.0)
            z_sum += rho * p.z * rt.lse * rt.lse;
        n_correct += correct;
        if (p.bins) {
            const double confidence = 1.0 / rt.d; /* exp(max − lse) */
            if (confidence >= 0.0 && confidence <= 1.0) {
                const double scaled = floor(confidence * p.bins);
                lsce_calibration_bin *bin =
                    &o->calibration[scaled < p.bins - 1 ? (int)scaled : p.bins - 1];
                bin->count += 1.0;
                bin->sum_confidence += confidence;
                bin->sum_correct += correct;
            }
        }
        if (c->row_loss)
            c->row_loss[r] = (float)reported(loss);
        if (c->row_lse)
            c->row_lse[r] = (float)reported(rt.lse);
        if (mode == 1)
            fused_gradient(k, &p, out_dt, &s, t_is_logits(&p, in_dt) ? (const float *)x : s.cur.t, V,
                           y, lsce_load_as_f32(x, in_dt, y), &rs, &rt, row_scale(c, &p, r), g,
                           pipe);
    }
    if (pipe)
        flush_pending(k, &p, out_dt, pipe, V);
    if (p.stream)
        k->fence();
    free(s.block);
    lsce_plan_release(&p);

    if (result) {
        memset(result, 0, sizeof *result);
        result->n_tokens = p.n_kept;
        result->denominator = p.denominator;
        if (mode != 2) {
            result->nll_sum = reported(nll_sum);
            result->z_sum = reported(z_sum);
            result->n_correct = n_correct;
            result->loss = reported(o->reduction == LSCE_REDUCTION_MEAN
                                               ? (p.denominator > 0.0 ? loss_sum / p.denominator
                                                                      : 0.0)
                                               : loss_sum);
        }
    }
    return LSCE_OK;
}
