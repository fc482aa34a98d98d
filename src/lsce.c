/*
 * The ISA-free driver: validation (all of it before any write), per-call constants, per-row
 * coefficients and reductions. The row sweeps come from a kernel table (src/kernels.h); what they
 * compute is specified in src/ref/ref.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "internal.h"

#define LSCE_STR2(x) #x
#define LSCE_STR(x) LSCE_STR2(x)

/* Out-of-place gradients of calls larger than this are written with non-temporal stores: they
 * would only evict the logits still to be read, and ordinary stores read each line from DRAM
 * first (measured 0.64× memcpy against 0.46× with ordinary stores at 4096 × 32000). */
#define LSCE_STREAM_MIN_BYTES ((int64_t)4 << 20)

const char *lsce_version(void)
{
    return LSCE_STR(LSCE_VERSION_MAJOR) "." LSCE_STR(LSCE_VERSION_MINOR) "." LSCE_STR(
        LSCE_VERSION_PATCH);
}

const char *lsce_strerror(lsce_status status)
{
    switch (status) {
    case LSCE_OK: return "success";
    case LSCE_ERR_NULL: return "a required pointer is NULL";
    case LSCE_ERR_SHAPE: return "invalid shape: rows < 0, vocab < 1, stride < vocab or size overflow";
    case LSCE_ERR_TARGET: return "a target is outside [0, vocab) and is not ignore_index";
    case LSCE_ERR_OPTION: return "an option is outside its domain or not supported";
    case LSCE_ERR_ISA: return "unknown instruction-set variant, or one this CPU cannot run";
    case LSCE_ERR_DTYPE: return "unsupported dtype or dtype combination";
    case LSCE_ERR_ALIAS: return "outputs overlap each other or the inputs";
    case LSCE_ERR_NOMEM: return "out of memory for the scratch row";
    }
    return "unknown status";
}

void lsce_options_default(lsce_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->smoothing = 0.0;
    opts->convention = LSCE_CONV_UNIFORM;
    opts->kl = 0;
    opts->ignore_index = -100;
    opts->reduction = LSCE_REDUCTION_MEAN;
    opts->isa = LSCE_ISA_AUTO;
    opts->logit_scale = 1.0;
    opts->logits_dtype = LSCE_DTYPE_F32;
    opts->grad_dtype = LSCE_DTYPE_F32;
}

double lsce_ece(const lsce_calibration_bin *bins, int n_bins)
{
    double n = 0.0, ece = 0.0;
    if (!bins || n_bins <= 0)
        return 0.0;
    for (int i = 0; i < n_bins; i++)
        n += bins[i].count;
    if (!(n > 0.0))
        return 0.0;
    for (int i = 0; i < n_bins; i++)
        if (bins[i].count > 0.0)
            ece += fabs(bins[i].sum_correct - bins[i].sum_confidence) / n;
    return ece;
}

/* ---- per-call constants ------------------------------------------------------------------ */

typedef struct plan {
    double a, b;     /* q_y and q_c (c ≠ y) */
    double A;        /* Σ_c q_c = a + b(V−1) */
    double kl_const; /* Σ_c q_c log q_c when opts->kl, else 0 */
    double denominator;
    int64_t n_kept;
    int stream;
} plan;

static double xlogx(double x) { return x > 0.0 ? x * log(x) : 0.0; }

static lsce_status check_options(const lsce_options *o)
{
    if ((unsigned)o->logits_dtype > LSCE_DTYPE_F16 || (unsigned)o->grad_dtype > LSCE_DTYPE_F16)
        return LSCE_ERR_DTYPE;
    if (!(o->smoothing >= 0.0 && o->smoothing <= 1.0)) /* also rejects NaN */
        return LSCE_ERR_OPTION;
    if ((unsigned)o->convention > LSCE_CONV_SEED || (unsigned)o->reduction > LSCE_REDUCTION_NONE)
        return LSCE_ERR_OPTION;
    if (o->kl != 0 && o->kl != 1)
        return LSCE_ERR_OPTION;
    /* The objective options are not implemented yet: only their defaults are accepted. */
    if (o->class_weight || o->prior || o->row_weight || o->z_loss != 0.0 ||
        o->logit_scale != 1.0 || o->softcap != 0.0 || o->confidence_penalty != 0.0 ||
        o->calibration_bins != 0 || o->calibration)
        return LSCE_ERR_OPTION;
    return LSCE_OK;
}

/* Byte extent of a strided matrix; 0 when it would overflow. */
static size_t extent_bytes(int64_t rows, int64_t vocab, int64_t stride, size_t elem)
{
    if (rows == 0)
        return 0;
    const uint64_t limit = (uint64_t)PTRDIFF_MAX / elem;
    if ((uint64_t)vocab > limit || (uint64_t)(rows - 1) > (limit - (uint64_t)vocab) / (uint64_t)stride)
        return 0;
    return (size_t)(((uint64_t)(rows - 1) * (uint64_t)stride + (uint64_t)vocab) * elem);
}

typedef struct span {
    const char *begin;
    size_t bytes;
} span;

static int overlap(span p, span q)
{
    if (!p.begin || !q.begin || !p.bytes || !q.bytes)
        return 0;
    return p.begin < q.begin + q.bytes && q.begin < p.begin + p.bytes;
}

/* Everything an entry point checks before it writes: arguments, aliasing, targets. Fills the plan
 * (per-call constants and the mean's denominator). */
typedef struct call {
    const lsce_options *opts;
    int64_t rows, vocab;
    const void *logits;
    int64_t logits_stride;
    const int64_t *targets;
    const float *grad_output;
    void *grad;
    int64_t grad_stride;
    float *row_loss;
    float *row_lse;
    const float *row_lse_in;
    lsce_result *result;
} call;

static lsce_status prepare(const call *c, plan *p)
{
    const lsce_options *o = c->opts;
    lsce_status st;
    if (!o)
        return LSCE_ERR_NULL;
    if ((st = check_options(o)) != LSCE_OK)
        return st;
    if (c->rows < 0 || c->vocab < 1 || c->logits_stride < c->vocab ||
        (c->grad && c->grad_stride < c->vocab))
        return LSCE_ERR_SHAPE;
    if (c->rows == 0) {
        memset(p, 0, sizeof *p);
        return LSCE_OK;
    }
    if (!c->logits || !c->targets)
        return LSCE_ERR_NULL;

    const size_t logits_bytes =
        extent_bytes(c->rows, c->vocab, c->logits_stride, lsce_dtype_size(o->logits_dtype));
    const size_t grad_bytes =
        c->grad ? extent_bytes(c->rows, c->vocab, c->grad_stride, lsce_dtype_size(o->grad_dtype))
                : 1;
    if (!logits_bytes || !grad_bytes || (uint64_t)c->rows > PTRDIFF_MAX / sizeof(int64_t))
        return LSCE_ERR_SHAPE;
    const size_t row_bytes = (size_t)c->rows * sizeof(float);
    const size_t go_bytes =
        o->reduction == LSCE_REDUCTION_NONE ? row_bytes : sizeof(float);
    const span in_logits = {(const char *)c->logits, logits_bytes};
    const span in_targets = {(const char *)c->targets, (size_t)c->rows * sizeof(int64_t)};
    const span in_go = {(const char *)c->grad_output, go_bytes};
    const span in_lse = {(const char *)c->row_lse_in, row_bytes};
    const span out_grad = {(const char *)c->grad, c->grad ? grad_bytes : 0};
    const span out_loss = {(const char *)c->row_loss, row_bytes};
    const span out_lse = {(const char *)c->row_lse, row_bytes};
    const span out_result = {(const char *)c->result, c->result ? sizeof *c->result : 0};
    const span in_opts = {(const char *)o, sizeof *o}; /* read until the result is written */
    const int in_place = c->grad && (const void *)c->grad == c->logits &&
                         c->grad_stride == c->logits_stride && o->grad_dtype == o->logits_dtype;
    if (!in_place && overlap(out_grad, in_logits))
        return LSCE_ERR_ALIAS;
    const span outs[4] = {out_grad, out_loss, out_lse, out_result};
    const span ins[5] = {in_logits, in_targets, in_go, in_lse, in_opts};
    for (int i = 0; i < 4; i++) {
        for (int j = i + 1; j < 4; j++)
            if (overlap(outs[i], outs[j]))
                return LSCE_ERR_ALIAS;
        for (int j = i == 0 ? 1 : 0; j < 5; j++)
            if (overlap(outs[i], ins[j]))
                return LSCE_ERR_ALIAS;
    }

    int64_t n_kept = 0;
    for (int64_t r = 0; r < c->rows; r++) {
        const int64_t y = c->targets[r];
        if (y == o->ignore_index)
            continue;
        if (y < 0 || y >= c->vocab)
            return LSCE_ERR_TARGET;
        n_kept++;
    }

    const double eps = o->smoothing, V = (double)c->vocab;
    switch (o->convention) {
    case LSCE_CONV_UNIFORM: p->a = 1.0 - eps + eps / V; p->b = eps / V; break;
    case LSCE_CONV_OTHERS: p->a = 1.0 - eps; p->b = c->vocab > 1 ? eps / (V - 1.0) : 0.0; break;
    case LSCE_CONV_SEED:
    default: /* checked above: the default only tells the compiler a and b are always set */
        p->a = 1.0 - eps;
        p->b = eps / V;
        break;
    }
    p->A = p->a + p->b * (V - 1.0);
    p->kl_const = o->kl ? xlogx(p->a) + (V - 1.0) * xlogx(p->b) : 0.0;
    p->n_kept = n_kept;
    p->denominator = (double)n_kept;
    /* In place, the gradient lines are the logits lines the stats sweep just brought into cache:
     * ordinary stores write them back without any read (measured 0.76× memcpy against 0.53×
     * with non-temporal stores, which evict them first). */
    p->stream = c->grad && !in_place && (int64_t)grad_bytes >= LSCE_STREAM_MIN_BYTES;
    return LSCE_OK;
}

/* The gradient scale of row r: grad_output (per row for none), over the denominator for mean. */
static double row_scale(const call *c, const plan *p, int64_t r)
{
    switch (c->opts->reduction) {
    case LSCE_REDUCTION_MEAN:
        return (c->grad_output ? (double)c->grad_output[0] : 1.0) / p->denominator;
    case LSCE_REDUCTION_SUM: return c->grad_output ? (double)c->grad_output[0] : 1.0;
    case LSCE_REDUCTION_NONE: return c->grad_output ? (double)c->grad_output[r] : 1.0;
    }
    return 1.0;
}

/* ---- merging chunk statistics (see src/ref/ref.c, step 2) ---------------------------------- */

/* Statistics of a row or of a run of its chunks, relative to `max`. */
typedef struct row_stats {
    float max;         /* the largest chunk maximum (NaN ignored: NaN rows are caught by d, S) */
    int64_t max_chunk; /* first chunk whose maximum is `max` */
    int64_t n;         /* elements covered */
    double n_at;       /* elements equal to max: each exp(0) = 1 */
    double d_below;    /* Σ exp(x − max) over the others: d = n_at + d_below */
    double S;          /* Σ (x − max) */
} row_stats;

/* d − 1 = (n_at − 1) + d_below: exact to the precision of the small terms (a confident row). */
static double d_minus_1(const row_stats *st) { return (st->n_at - 1.0) + st->d_below; }
static double d_of(const row_stats *st) { return st->n_at + st->d_below; }
static double log_d_of(const row_stats *st)
{
    return st->n_at >= 1.0 ? log1p(d_minus_1(st)) : log(d_of(st));
}

/* Merges `count` chunks that start at element `first` (a multiple of LSCE_CHUNK) of a row of V
 * elements. When w is not NULL, w[k] = exp(shift_k − max), the factor that takes chunk k's
 * exponentials to the row's. */
static row_stats merge_chunks(const lsce_chunk_stats *ch, int64_t count, int64_t first,
                              int64_t V, double *w)
{
    row_stats st = {-INFINITY, 0, 0, 0.0, 0.0, 0.0};
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
        if (ch[k].max == st.max && w_k == 1.0) { /* its exact 1s are the row's */
            st.n_at += (double)ch[k].n_at_max;
            st.d_below += ch[k].sum_below;
        } else {
            st.d_below += w_k * ((double)ch[k].n_at_max + ch[k].sum_below);
        }
        st.S += ch[k].sum_shift + (double)n_k * shift_gap;
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
    } else if (d_of(part) != 0.0) {
        acc->d_below += d_of(part) * exp(gap);
    }
    acc->S += part->S + (gap == 0.0 ? 0.0 : (double)part->n * gap);
    acc->n += part->n;
}

/* Stats of a whole row, in groups of at most `capacity` chunks (the forward path's stack array).
 * With one group (capacity ≥ chunks of the row) w receives every chunk's factor. */
static row_stats row_statistics(const lsce_kernels *k, int dt, const void *x, int64_t V,
                                float *exp_out,
                                lsce_chunk_stats *chunks, int64_t capacity, double *w)
{
    row_stats acc = {-INFINITY, 0, 0, 0.0, 0.0, 0.0};
    for (int64_t first = 0; first < V; first += capacity * LSCE_CHUNK) {
        const int64_t n = V - first < capacity * LSCE_CHUNK ? V - first : capacity * LSCE_CHUNK;
        k->row_stats[dt]((const char *)x + (size_t)first * lsce_dtype_size(dt), n,
                         exp_out ? exp_out + first : NULL, chunks);
        const row_stats part =
            merge_chunks(chunks, (n + LSCE_CHUNK - 1) / LSCE_CHUNK, first, V, w);
        merge_stats(&acc, &part);
    }
    return acc;
}

/* Lowest index of the argmax with torch.argmax semantics: a NaN is larger than every number. */
static int64_t row_argmax(const lsce_kernels *k, int dt, const void *x, int64_t V,
                          const row_stats *st)
{
    if (isnan(st->d_below) || isnan(st->S))
        for (int64_t c = 0; c < V; c++)
            if (isnan(lsce_load_as_f32(x, dt, c)))
                return c;
    const int64_t begin = st->max_chunk * LSCE_CHUNK;
    const int64_t n = V - begin < LSCE_CHUNK ? V - begin : LSCE_CHUNK;
    return begin + k->row_find[dt]((const char *)x + (size_t)begin * lsce_dtype_size(dt), n,
                                   st->max);
}

/* loss = A·log d − (a − b)·(x_y − m) − b·S (+ Σ q log q), ref.c step 3. A −inf target logit
 * makes the two linear terms inf − inf: split S = (x_y − m) + S_y, S_y = Σ_{c≠y} (x_c − m), so
 * loss = A·log d − a·(x_y − m) − b·S_y, which is +inf when a > 0 and needs S_y when a = 0 (the
 * "others" convention at ε = 1: a rare call that may afford one more sweep). */
static double row_loss_value(const plan *p, int dt, const void *x, int64_t V, int64_t y,
                             const row_stats *rs, double log_d, double x_y)
{
    double linear;
    if (x_y == -INFINITY && !isnan(rs->S)) {
        if (p->a > 0.0) {
            linear = INFINITY;
        } else {
            double S_y = 0.0;
            for (int64_t c = 0; c < V; c++)
                if (c != y)
                    S_y += (double)lsce_load_as_f32(x, dt, c) - (double)rs->max;
            linear = p->b != 0.0 ? -p->b * S_y : 0.0;
        }
    } else {
        linear = -(p->a - p->b) * x_y - (p->b != 0.0 ? p->b * rs->S : 0.0);
    }
    return p->A * log_d + linear + p->kl_const;
}

#define GROUP_CHUNKS 64 /* chunk statistics the forward path keeps on its stack */

/* The row pass shared by the three entry points. mode: 0 forward, 1 fused, 2 backward. */
static lsce_status run(const lsce_kernels *k, const call *c, int mode)
{
    lsce_result *result = c->result;
    plan p;
    lsce_status st = prepare(c, &p);
    if (st != LSCE_OK)
        return st;
    if (mode == 2 && c->rows > 0 && !c->row_lse_in)
        return LSCE_ERR_NULL;
    if (mode != 0 && c->rows > 0 && !c->grad)
        return LSCE_ERR_NULL;

    const int64_t V = c->vocab;
    const int64_t n_chunks = (V + LSCE_CHUNK - 1) / LSCE_CHUNK;
    lsce_chunk_stats stack_chunks[GROUP_CHUNKS];
    lsce_chunk_stats *chunks = stack_chunks;
    int64_t capacity = GROUP_CHUNKS;
    /* The fused path's one allocation: the scratch row of exponentials, then per chunk its
     * statistics, its factor w_k and its gradient coefficient. */
    void *block = NULL;
    float *scratch = NULL, *coef = NULL;
    double *w = NULL;
    if (mode == 1 && c->rows > 0) {
        const size_t row_bytes = ((size_t)V * sizeof(float) + 63) & ~(size_t)63;
        const size_t per_chunk = sizeof(lsce_chunk_stats) + sizeof(double) + sizeof(float);
        block = aligned_alloc(64, row_bytes + (((size_t)n_chunks * per_chunk + 63) & ~(size_t)63));
        if (!block)
            return LSCE_ERR_NOMEM;
        scratch = block;
        chunks = (lsce_chunk_stats *)((char *)block + row_bytes);
        w = (double *)(chunks + n_chunks);
        coef = (float *)(w + n_chunks);
        capacity = n_chunks;
    }

    const lsce_options *o = c->opts;
    const int in_dt = (int)o->logits_dtype, out_dt = (int)o->grad_dtype;
    const size_t in_size = lsce_dtype_size(in_dt), out_size = lsce_dtype_size(out_dt);
    double loss_sum = 0.0, nll_sum = 0.0;
    int64_t n_correct = 0;
    for (int64_t r = 0; r < c->rows; r++) {
        const void *x = (const char *)c->logits + (size_t)(r * c->logits_stride) * in_size;
        void *g = c->grad ? (char *)c->grad + (size_t)(r * c->grad_stride) * out_size : NULL;
        const int64_t y = c->targets[r];
        const int kept = y != o->ignore_index;

        if (mode == 2) {
            if (!kept) {
                memset(g, 0, (size_t)V * out_size);
                continue;
            }
            const double scale = row_scale(c, &p, r);
            const float lse = c->row_lse_in[r];
            /* read before an in-place write */
            const double p_y = exp((double)lsce_load_as_f32(x, in_dt, y) - (double)lse);
            k->row_expscale[in_dt][out_dt](x, V, lse, (float)(scale * p.A), (float)(-scale * p.b),
                                           g, p.stream);
            lsce_store_from_f32(g, out_dt, y, (float)(scale * (p.A * p_y - p.a)));
            continue;
        }

        if (!kept) {
            if (c->row_lse) { /* before the gradient row, which may be this very row */
                const row_stats rs = row_statistics(k, in_dt, x, V, NULL, chunks, capacity, NULL);
                c->row_lse[r] = (float)((double)rs.max + log_d_of(&rs));
            }
            if (g)
                memset(g, 0, (size_t)V * out_size);
            if (c->row_loss)
                c->row_loss[r] = 0.0f;
            continue;
        }

        const row_stats rs = row_statistics(k, in_dt, x, V, scratch, chunks, capacity, w);
        const double log_d = log_d_of(&rs);
        const double x_y = (double)lsce_load_as_f32(x, in_dt, y) - (double)rs.max; /* exact */
        const double loss = row_loss_value(&p, in_dt, x, V, y, &rs, log_d, x_y);
        loss_sum += loss;
        nll_sum += log_d - x_y;
        n_correct += row_argmax(k, in_dt, x, V, &rs) == y;
        if (c->row_loss)
            c->row_loss[r] = (float)loss;
        if (c->row_lse)
            c->row_lse[r] = (float)((double)rs.max + log_d);
        if (mode == 1) {
            const double scale = row_scale(c, &p, r);
            const double d = d_of(&rs), g_A_over_d = scale * p.A / d;
            for (int64_t kc = 0; kc < n_chunks; kc++)
                coef[kc] = (float)(g_A_over_d * w[kc]);
            /* A·p_y − a; at the maximum p_y = 1/d, and the difference is formed from d − 1 */
            const double target = x_y == 0.0 ? ((p.A - p.a) - p.a * d_minus_1(&rs)) / d
                                             : p.A * w[y / LSCE_CHUNK] * (double)scratch[y] / d - p.a;
            k->row_scale[out_dt](scratch, V, coef, (float)(-scale * p.b), g, p.stream);
            lsce_store_from_f32(g, out_dt, y, (float)(scale * target));
        }
    }
    if (p.stream)
        k->fence();
    free(block);

    if (result) {
        memset(result, 0, sizeof *result);
        result->n_tokens = p.n_kept;
        result->denominator = p.denominator;
        if (mode != 2) {
            result->nll_sum = nll_sum;
            result->n_correct = n_correct;
            result->loss = o->reduction == LSCE_REDUCTION_MEAN
                               ? (p.n_kept > 0 ? loss_sum / p.denominator : 0.0)
                               : loss_sum;
        }
    }
    return LSCE_OK;
}

static lsce_status resolve(const lsce_options *opts, const lsce_kernels **k)
{
    if (!opts)
        return LSCE_ERR_NULL;
    if ((unsigned)opts->isa >= LSCE_ISA_COUNT_)
        return LSCE_ERR_ISA;
    *k = lsce_kernels_get(opts->isa);
    return *k ? LSCE_OK : LSCE_ERR_ISA;
}

lsce_status lsce_forward_backward_with(const lsce_kernels *k, const lsce_options *opts,
                                       int64_t rows, int64_t vocab, const void *logits,
                                       int64_t logits_stride, const int64_t *targets,
                                       const float *grad_output, void *grad, int64_t grad_stride,
                                       float *row_loss, float *row_lse, lsce_result *result)
{
    const call c = {opts, rows, vocab, logits, logits_stride, targets, grad_output, grad,
                    grad_stride, row_loss, row_lse, NULL, result};
    if (rows > 0 && !grad)
        return LSCE_ERR_NULL;
    return run(k, &c, 1);
}

lsce_status lsce_forward_backward(const lsce_options *opts, int64_t rows, int64_t vocab,
                                  const void *logits, int64_t logits_stride,
                                  const int64_t *targets, const float *grad_output, void *grad,
                                  int64_t grad_stride, float *row_loss, float *row_lse,
                                  lsce_result *result)
{
    const lsce_kernels *k;
    lsce_status st = resolve(opts, &k);
    if (st != LSCE_OK)
        return st;
    return lsce_forward_backward_with(k, opts, rows, vocab, logits, logits_stride, targets,
                                      grad_output, grad, grad_stride, row_loss, row_lse, result);
}

lsce_status lsce_forward(const lsce_options *opts, int64_t rows, int64_t vocab, const void *logits,
                         int64_t logits_stride, const int64_t *targets, float *row_loss,
                         float *row_lse, lsce_result *result)
{
    const lsce_kernels *k;
    lsce_status st = resolve(opts, &k);
    if (st != LSCE_OK)
        return st;
    const call c = {opts, rows, vocab, logits, logits_stride, targets, NULL, NULL, 0,
                    row_loss, row_lse, NULL, result};
    return run(k, &c, 0);
}

lsce_status lsce_backward(const lsce_options *opts, int64_t rows, int64_t vocab,
                          const void *logits, int64_t logits_stride, const int64_t *targets,
                          const float *row_lse, const float *grad_output, void *grad,
                          int64_t grad_stride)
{
    const lsce_kernels *k;
    lsce_status st = resolve(opts, &k);
    if (st != LSCE_OK)
        return st;
    if (rows > 0 && (!grad || !row_lse))
        return LSCE_ERR_NULL;
    const call c = {opts, rows, vocab, logits, logits_stride, targets, grad_output, grad,
                    grad_stride, NULL, NULL, row_lse, NULL};
    return run(k, &c, 2);
}
