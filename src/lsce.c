/*
 * The ISA-free driver: validation (all of it before any write), per-call constants, per-row
 * coefficients and reductions. The row sweeps come from a kernel table (src/kernels.h); what they
 * compute is specified in src/ref/ref.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <float.h>

#include "driver.h"
#include "half.h"

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
    case LSCE_ERR_NOMEM: return "out of memory for a per-call buffer";
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

/* ---- validation and per-call constants --------------------------------------------------- */

static double xlogx(double x) { return x > 0.0 ? x * log(x) : 0.0; }

/* A finite value ≥ 0 (NaN fails every comparison). */
static int finite_nonneg(double v) { return v >= 0.0 && v <= DBL_MAX; }
static int finite_positive_f32(double v) { return v > 0.0 && (float)v > 0.0f && (float)v <= FLT_MAX; }

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
    if (!finite_nonneg(o->z_loss) || !finite_nonneg(o->confidence_penalty) ||
        !finite_nonneg(o->softcap))
        return LSCE_ERR_OPTION;
    /* s and c are used in fp32: their fp32 values (and s/c) must be finite and positive */
    if (!finite_positive_f32(o->logit_scale))
        return LSCE_ERR_OPTION;
    if (o->softcap > 0.0 &&
        (!finite_positive_f32(o->softcap) || !finite_positive_f32(o->logit_scale / o->softcap)))
        return LSCE_ERR_OPTION;
    if (o->calibration_bins < 0 || o->calibration_bins > 1000)
        return LSCE_ERR_OPTION;
    if (o->prior && o->convention != LSCE_CONV_UNIFORM)
        return LSCE_ERR_OPTION;
    return LSCE_OK;
}

/* Σ v[i] in double, as eight interleaved partial sums: independent chains of additions (which
 * the compiler packs into vectors) instead of one, for these O(V) sums are a small batch's fixed
 * cost per call. */
#define SUM_PARTS 8
static double sum_f32(const float *v, int64_t n)
{
    double part[SUM_PARTS] = {0.0};
    int64_t i = 0;
    for (; i + SUM_PARTS <= n; i += SUM_PARTS)
        for (int k = 0; k < SUM_PARTS; k++)
            part[k] += v[i + k];
    for (; i < n; i++)
        part[i % SUM_PARTS] += v[i];
    double total = 0.0;
    for (int k = 0; k < SUM_PARTS; k++)
        total += part[k];
    return total;
}

/* Every entry finite and ≥ 0; *sum their sum. */
static int check_weights(const float *v, int64_t n, double *sum)
{
    int valid = 1;
    for (int64_t i = 0; i < n; i++) /* fp32 compares, no early exit: the loop vectorises */
        valid &= (v[i] >= 0.0f) & (v[i] <= FLT_MAX);
    if (!valid)
        return 0;
    *sum = sum_f32(v, n);
    return 1;
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

/* Outputs must not overlap each other or any input (the gradient may be exactly the logits). */
static lsce_status check_aliasing(const call *c, size_t logits_bytes, size_t grad_bytes,
                                  int in_place, int writes_bins)
{
    const lsce_options *o = c->opts;
    const size_t row_bytes = (size_t)c->rows * sizeof(float);
    const size_t vocab_bytes = (size_t)c->vocab * sizeof(float);
    const size_t go_bytes = o->reduction == LSCE_REDUCTION_NONE ? row_bytes : sizeof(float);
    const span in_logits = {(const char *)c->logits, logits_bytes};
    const span ins[8] = {
        in_logits,
        {(const char *)c->targets, (size_t)c->rows * sizeof(int64_t)},
        {(const char *)c->grad_output, go_bytes},
        {(const char *)c->row_lse_in, row_bytes},
        {(const char *)o, sizeof *o}, /* read until the result is written */
        {(const char *)o->class_weight, vocab_bytes},
        {(const char *)o->prior, vocab_bytes},
        {(const char *)o->row_weight, row_bytes},
    };
    const span outs[5] = {
        {(const char *)c->grad, c->grad ? grad_bytes : 0},
        {(const char *)c->row_loss, row_bytes},
        {(const char *)c->row_lse, row_bytes},
        {(const char *)c->result, c->result ? sizeof *c->result : 0},
        {(const char *)o->calibration,
         writes_bins ? (size_t)o->calibration_bins * sizeof(lsce_calibration_bin) : 0},
    };
    if (!in_place && overlap(outs[0], in_logits))
        return LSCE_ERR_ALIAS;
    for (int i = 0; i < 5; i++) {
        for (int j = i + 1; j < 5; j++)
            if (overlap(outs[i], outs[j]))
                return LSCE_ERR_ALIAS;
        for (int j = i == 0 ? 1 : 0; j < 8; j++)
            if (overlap(outs[i], ins[j]))
                return LSCE_ERR_ALIAS;
    }
    return LSCE_OK;
}

/* The smoothing constants of the plan (see driver.h). */
/* w_sum, u_sum: Σ of the class weights (V without) and of the prior (1 without), judged valid. */
static lsce_status plan_objective(const call *c, plan *p, double w_sum, double u_sum)
{
    const lsce_options *o = c->opts;
    const int64_t V = c->vocab;
    const double eps = o->smoothing, Vd = (double)V;
    switch (o->convention) {
    case LSCE_CONV_UNIFORM: p->a = 1.0 - eps + eps / Vd; p->b = eps / Vd; break;
    case LSCE_CONV_OTHERS: p->a = 1.0 - eps; p->b = V > 1 ? eps / (Vd - 1.0) : 0.0; break;
    case LSCE_CONV_SEED:
    default: /* checked: the default only tells the compiler a and b are always set */
        p->a = 1.0 - eps;
        p->b = eps / Vd;
        break;
    }
    p->w = o->class_weight;
    p->u = o->prior;
    if (o->prior) {
        p->kappa = eps;
        p->alpha0 = 1.0 - eps;
        p->a = 1.0 - eps;
        p->b = 0.0;
    } else {
        p->kappa = p->b;
        p->alpha0 = p->a - p->b;
    }
    /* v and Σ v; the product of weights and prior is formed once per call (an allocation, like
     * the chunk sums below; lsce.h Memory) */
    p->v = o->prior ? o->prior : o->class_weight;
    p->v_sum = o->prior ? u_sum : w_sum;
    if (o->prior && o->class_weight && p->kappa != 0.0) {
        p->v_owned = malloc((size_t)V * sizeof(float));
        if (!p->v_owned)
            return LSCE_ERR_NOMEM;
        for (int64_t i = 0; i < V; i++)
            p->v_owned[i] = o->prior[i] * o->class_weight[i];
        p->v = p->v_owned;
        p->v_sum = sum_f32(p->v_owned, V);
    }
    p->beta_sum = p->kappa * p->v_sum;
    if (p->kappa == 0.0)
        p->v = NULL; /* no off-target weight: the β sums are not needed */
    /* Σ v over each chunk of the stats sweeps and whether some v_c is 0: the same for every row,
     * so the sweeps need not recompute them (src/kernels.h) */
    if (p->v) {
        const int64_t n_chunks = (V + LSCE_CHUNK - 1) / LSCE_CHUNK;
        p->v_chunk_sum = malloc((size_t)n_chunks * sizeof(double));
        if (!p->v_chunk_sum)
            return LSCE_ERR_NOMEM;
        for (int64_t k = 0; k < n_chunks; k++) {
            const int64_t first = k * LSCE_CHUNK;
            p->v_chunk_sum[k] = sum_f32(p->v + first, V - first < LSCE_CHUNK ? V - first : LSCE_CHUNK);
        }
        int has_zero = 0;
        for (int64_t i = 0; i < V; i++)
            has_zero |= p->v[i] == 0.0f;
        p->v_has_zero = has_zero;
    }
    /* Σ_c w_c·xlogx(q_c^off) with q_c^off = kappa·(u_c or 1) */
    p->kl_base = 0.0;
    if (o->kl) {
        if (!o->prior && !o->class_weight)
            p->kl_base = Vd * xlogx(p->kappa);
        else
            for (int64_t i = 0; i < V; i++)
                p->kl_base += (o->class_weight ? (double)o->class_weight[i] : 1.0) *
                              xlogx(p->kappa * (o->prior ? (double)o->prior[i] : 1.0));
    }
    p->z = o->z_loss;
    p->cp = o->confidence_penalty;
    p->scale = o->logit_scale;
    p->softcap = o->softcap > 0.0;
    p->tf.kind = p->softcap ? LSCE_TRANSFORM_SOFTCAP
                            : (o->logit_scale != 1.0 ? LSCE_TRANSFORM_SCALE : LSCE_TRANSFORM_NONE);
    p->tf.scale = (float)o->logit_scale;
    p->tf.cap = (float)o->softcap;
    p->tf.k = p->softcap ? (float)(o->logit_scale / o->softcap) : 0.0f;
    p->general = p->v != NULL || p->tf.kind != LSCE_TRANSFORM_NONE || p->cp > 0.0;
    /* Σ(t − max) only when smoothing reads it (a NaN row shows in d alone: src/ref/ref.c) */
    p->stats_flags = (p->cp > 0.0 ? LSCE_STATS_ET : 0u) |
                     (p->v_has_zero ? LSCE_STATS_BETA_ZEROS : 0u) |
                     (p->kappa != 0.0 ? LSCE_STATS_SUM_SHIFT : 0u);
    return LSCE_OK;
}

lsce_status lsce_prepare(const call *c, plan *p)
{
    const lsce_options *o = c->opts;
    lsce_status st;
    memset(p, 0, sizeof *p);
    if (!o)
        return LSCE_ERR_NULL;
    if ((st = check_options(o)) != LSCE_OK)
        return st;
    if (c->rows < 0 || c->vocab < 1 || c->logits_stride < c->vocab ||
        (c->grad && c->grad_stride < c->vocab))
        return LSCE_ERR_SHAPE;
    if (o->calibration_bins > 0 && !o->calibration) /* every entry point: the same options */
        return LSCE_ERR_NULL;
    /* the class arrays are judged even when there is no row to use them on */
    double w_sum = (double)c->vocab, u_sum = 1.0;
    if ((o->class_weight && !check_weights(o->class_weight, c->vocab, &w_sum)) ||
        (o->prior && (!check_weights(o->prior, c->vocab, &u_sum) || !(fabs(u_sum - 1.0) <= 1e-4))))
        return LSCE_ERR_OPTION;
    const int writes_bins = o->calibration_bins > 0 && c->mode != 2; /* not lsce_backward */
    if (c->rows == 0)
        return LSCE_OK;
    if (!c->logits || !c->targets)
        return LSCE_ERR_NULL;

    const size_t logits_bytes =
        extent_bytes(c->rows, c->vocab, c->logits_stride, lsce_dtype_size(o->logits_dtype));
    const size_t grad_bytes =
        c->grad ? extent_bytes(c->rows, c->vocab, c->grad_stride, lsce_dtype_size(o->grad_dtype))
                : 1;
    if (!logits_bytes || !grad_bytes || (uint64_t)c->rows > PTRDIFF_MAX / sizeof(int64_t))
        return LSCE_ERR_SHAPE;
    const int in_place = c->grad && (const void *)c->grad == c->logits &&
                         c->grad_stride == c->logits_stride && o->grad_dtype == o->logits_dtype;
    if ((st = check_aliasing(c, logits_bytes, grad_bytes, in_place, writes_bins)) != LSCE_OK)
        return st;
    double rho_sum;
    if (o->row_weight && !check_weights(o->row_weight, c->rows, &rho_sum))
        return LSCE_ERR_OPTION;

    int64_t n_kept = 0;
    double denominator = 0.0;
    for (int64_t r = 0; r < c->rows; r++) {
        const int64_t y = c->targets[r];
        if (y == o->ignore_index)
            continue;
        if (y < 0 || y >= c->vocab)
            return LSCE_ERR_TARGET;
        n_kept++;
        denominator += (o->row_weight ? (double)o->row_weight[r] : 1.0) *
                       (o->class_weight ? (double)o->class_weight[y] : 1.0);
    }
    if ((st = plan_objective(c, p, w_sum, u_sum)) != LSCE_OK) {
        lsce_plan_release(p);
        return st;
    }
    p->rho = o->row_weight;
    p->bins = writes_bins ? o->calibration_bins : 0;
    p->n_kept = n_kept;
    p->denominator = denominator;
    /* In place, the gradient lines are the logits lines the stats sweep just brought into cache:
     * ordinary stores write them back without any read (measured 0.76× memcpy against 0.53×
     * with non-temporal stores, which evict them first). */
    p->stream = c->grad && !in_place && (int64_t)grad_bytes >= LSCE_STREAM_MIN_BYTES;
    return LSCE_OK;
}

void lsce_plan_release(plan *p)
{
    free(p->v_owned);
    free(p->v_chunk_sum);
    p->v_owned = NULL;
    p->v_chunk_sum = NULL;
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
                    grad_stride, row_loss, row_lse, NULL, result, 1};
    if (rows > 0 && !grad)
        return LSCE_ERR_NULL;
    return lsce_run(k, &c);
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
                    row_loss, row_lse, NULL, result, 0};
    return lsce_run(k, &c);
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
                    grad_stride, NULL, NULL, row_lse, NULL, 2};
    return lsce_run(k, &c);
}
