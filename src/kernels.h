/*
 * The kernel contract: every variant (scalar reference, AVX2, AVX-512, NEON) provides the same row
 * sweeps, declared through one macro each so that the variants cannot drift apart. The driver
 * (src/lsce.c) is ISA-free: it validates, prepares per-row coefficients and composes the sweeps.
 * src/ref/ref.c documents what each sweep computes; SIMD files only say how.
 */
#ifndef LSCE_KERNELS_H
#define LSCE_KERNELS_H

#include <stdint.h>

/* The stats sweep works in chunks of LSCE_CHUNK elements (the last one may be shorter): each chunk
 * is read from memory once and then swept again from L1, so the exponentials need no row maximum
 * up front and the DRAM reads overlap the arithmetic. The driver merges the chunks. */
#define LSCE_CHUNK 4096

typedef struct lsce_chunk_stats {
    float max;         /* max of the chunk (−inf if every element is −inf; NaN rows: unspecified) */
    float shift;       /* what the sums are relative to: max, or 0 when max is −inf */
    int64_t n_at_max;  /* elements with x_c − shift == 0: each contributes exp(0) = 1 exactly
                        * (or 0 when the sweep left them in sum_below, see below) */
    double sum_below;  /* Σ exp(x_c − shift) over the other elements (NaN ones included) */
    double sum_shift;  /* Σ (x_c − shift) over all (with LSCE_STATS_SUM_SHIFT only) */
    /* only from row_stats_ex, when asked (0 otherwise): */
    double sum_beta;   /* Σ β_c·(x_c − shift), a term with β_c = 0 being 0 (even for x_c = −inf);
                        * Σ β_c of the chunk is the same for every row: the driver's, per call */
    double sum_et;     /* Σ e_c·(x_c − shift), e_c = exp(x_c − shift) (a term with e_c = 0 is 0) */
} lsce_chunk_stats;
/* Keeping the exact 1s out of the fp32 lane sums keeps d − 1 = (n_at_max − 1) + sum_below exact
 * to the last bit of the small terms: a confident row's loss log d = log1p(d − 1) and target
 * gradient A·p_y − q_y keep full relative precision (a lane holding 1 + small terms would round
 * them to 2^−24). Only the first chunk to reach the row's max needs it: any other chunk's sum
 * enters d − 1 whole (scaled by exp(shift − max) ≤ 1; for a later chunk at the same max its 1s
 * make d − 1 ≥ 1), so its fp32 rounding stays relative to a part of d − 1. The SIMD sweeps
 * therefore split only a chunk whose max exceeds every earlier chunk's of the same sweep; the
 * others keep n_at_max = 0 and their 1s in sum_below, which saves a compare, a masked move and a
 * count per vector (a NaN max never splits: its row is NaN). */

/* The logit transform of the objective options: the general sweeps see t = T(x) where every
 * plain sweep sees x. All variants evaluate it with the same fp32 operations:
 *   NONE: t = x;  SCALE: t = scale·x;  SOFTCAP: t = cap·tanh(k·x), k = fp32(scale / cap). */
enum { LSCE_TRANSFORM_NONE = 0, LSCE_TRANSFORM_SCALE = 1, LSCE_TRANSFORM_SOFTCAP = 2 };
typedef struct lsce_transform {
    int kind;
    float scale, cap, k;
} lsce_transform;

/* The general gradient sweep: for element c of chunk k (e_c from `e`, or exp(t_c − shift_k)
 * when e is NULL),
 *   inner_c = e_c·coef_k + D_k·e_c·(t_c − shift_k) + bias·β_c     (D term when coef_t != NULL,
 *                                                                   β_c = 1 when beta is NULL)
 *   dst_c   = inner_c·jac_s·v_c·(2 − v_c)  with softcap (jv != NULL), else inner_c
 * (e_c·(t_c − shift_k) is 0 where e_c is 0). v_c = 1 − |tanh(k·x_c)|, so that jac_s·v(2 − v) is
 * s·(1 − tanh²) without the cancellation of 1 − (t/c)² where tanh saturates. t is needed with
 * coef_t or e == NULL. */
typedef struct lsce_scale_ex {
    const float *coef;   /* C_k per chunk */
    const float *coef_t; /* D_k per chunk, or NULL */
    const float *shift;  /* shift_k per chunk (with coef_t or e == NULL) */
    const float *beta;   /* n off-target weights, or NULL */
    const float *t;      /* n transformed logits, or NULL */
    const float *jv;     /* n values v_c (softcap), or NULL */
    float bias;
    float jac_s;
} lsce_scale_ex;

/* Storage types of logits and gradients: lsce_dtype's values index the kernel tables. Every
 * sweep computes in fp32; 16-bit outputs are rounded once, to nearest even (src/half.h). */
#define LSCE_N_DTYPES 3 /* f32, bf16, f16 */

/* Lowest index c in [0, n) with x[c] == value (x of the sweep's dtype, compared as fp32), or n. */
#define decl_row_find_fn(name) int64_t(name)(const void *x, int64_t n, float value)

/* Flags of the stats sweeps (each ignores those it has no use for). LSCE_STATS_SUM_SHIFT asks for
 * sum_shift (only smoothing reads it: without the flag it is 0 and the sweep saves an add per
 * vector; row_stats_ex with beta never sums it). row_stats_ex: LSCE_STATS_ET asks for sum_et;
 * LSCE_STATS_BETA_ZEROS tells that some β_c is 0 (their terms must then be exactly 0 even where
 * x_c = −inf; without the flag a SIMD sweep may assume β_c ≠ 0 and skip that test). */
enum { LSCE_STATS_ET = 1, LSCE_STATS_BETA_ZEROS = 2, LSCE_STATS_SUM_SHIFT = 4 };

/* Per-chunk statistics of x[0..n) into chunks[0 .. ceil(n / LSCE_CHUNK)); when exp_out is not
 * NULL, also stores exp(x_c − shift of c's chunk) into exp_out[c] (an fp32 scratch row, 64-byte
 * aligned). SIMD variants prefetch the next chunk while they compute the current one (past the
 * end of x too: a prefetch never faults), so that the DRAM reads overlap the exp arithmetic. */
#define decl_row_stats_fn(name)                                                                    \
    void(name)(const void *x, int64_t n, unsigned flags, float *exp_out, lsce_chunk_stats *chunks)

/* The previous row's gradient, which the fused path writes while it reads the next row
 * (src/rows.c): dst[c] = fma(e[c], coef[chunk of c], bias), as row_scale with streaming on. */
typedef struct lsce_pending_grad {
    const float *e;    /* its exponentials */
    const float *coef; /* per chunk */
    float bias;
    void *dst;         /* its gradient row */
} lsce_pending_grad;

/* row_stats that also writes `pending` (same n): in each chunk, the stretch of the pending row
 * that non-temporal stores cover goes out a few vectors per step of the exp-sum loop, alongside
 * that loop's reads, so that DRAM reads and writes overlap as in a copy; the partial lines at
 * its ends with ordinary stores. Writes of the pending row in 16 KiB bursts between the sweeps'
 * reads overlapped nothing (src/rows.c). pending->e may be exp_out: every pending element is
 * read before the sweep stores the exponential of the same index. */
#define decl_row_stats_write_fn(name)                                                              \
    void(name)(const void *x, int64_t n, unsigned flags, float *exp_out,                           \
               lsce_chunk_stats *chunks, const lsce_pending_grad *pending)

/* dst[c] = fma(src[c], coef[chunk of c], bias) rounded to dst's dtype: the gradient from stored
 * exponentials, one coefficient per LSCE_CHUNK elements. `stream`: the caller will not read dst
 * soon (non-temporal stores allowed; the driver fences once per call). */
#define decl_row_scale_fn(name)                                                                    \
    void(name)(const float *src, int64_t n, const float *coef, float bias, void *dst, int stream)

/* dst[c] = fma(exp(x[c] − shift), coef, bias): the gradient recomputed from a saved lse. dst may
 * equal x (in place, same dtype). */
#define decl_row_expscale_fn(name)                                                                 \
    void(name)(const void *x, int64_t n, float shift, float coef, float bias, void *dst,           \
               int stream)

/* t_out[c] = T(x[c]) (fp32) for c in [0, n); with softcap and v_out not NULL, also
 * v_out[c] = 1 − |tanh(k·x_c)| (see lsce_scale_ex). */
#define decl_row_transform_fn(name)                                                                \
    void(name)(const void *x, int64_t n, const lsce_transform *tf, float *t_out, float *v_out)

/* The previous row's general gradient, which the fused path writes while it reads the next row
 * (src/rows.c): row_scale_ex(e, n, &sx, dst) into a gradient row of dtype `out`, streaming. */
typedef struct lsce_pending_ex {
    const float *e;
    lsce_scale_ex sx; /* its rows t and jv are not the sweep's t_out and v_out */
    void *dst;
    int out;
} lsce_pending_ex;

/* row_stats over t = T(x) (tf), plus, per chunk: sum_beta when beta (n weights) is not NULL
 * (sum_shift is then 0: the β sums replace it), sum_et with LSCE_STATS_ET in flags. t_out and
 * v_out (fp32 rows, or NULL) receive t and, with softcap, v = 1 − |tanh(k·x)| (row_transform).
 * With `pending` (same n, or NULL), also writes that row as row_stats_write does, a block of a
 * few hundred elements at a time ahead of the exp-sum loop (one call of the exported gradient
 * sweep per block rather than a writer inlined into each of the loop's specialisations, whose
 * code size made the sanitizer builds take over 15 minutes); pending->e may be exp_out. */
#define decl_row_stats_ex_fn(name)                                                                 \
    void(name)(const void *x, int64_t n, const lsce_transform *tf, const float *beta,             \
               unsigned flags, float *exp_out, float *t_out, float *v_out,                        \
               lsce_chunk_stats *chunks, const lsce_pending_ex *pending)

/* The general gradient sweep (lsce_scale_ex above) into dst, rounded to dst's dtype. */
#define decl_row_scale_ex_fn(name)                                                                 \
    void(name)(const float *e, int64_t n, const lsce_scale_ex *sx, void *dst, int stream)

/* out[i] = exp(in[i]) for in[i] ≤ 0 (the exp the sweeps use; exposed for its accuracy test). */
#define decl_exp_fn(name) void(name)(const float *in, int64_t n, float *out)

/* Ends the non-temporal stores of a call (sfence on x86; nothing elsewhere). */
#define decl_fence_fn(name) void(name)(void)

typedef decl_row_find_fn(*lsce_row_find_fn);
typedef decl_row_stats_fn(*lsce_row_stats_fn);
typedef decl_row_stats_write_fn(*lsce_row_stats_write_fn);
typedef decl_row_scale_fn(*lsce_row_scale_fn);
typedef decl_row_expscale_fn(*lsce_row_expscale_fn);
typedef decl_row_transform_fn(*lsce_row_transform_fn);
typedef decl_row_stats_ex_fn(*lsce_row_stats_ex_fn);
typedef decl_row_scale_ex_fn(*lsce_row_scale_ex_fn);
typedef decl_exp_fn(*lsce_exp_fn);
typedef decl_fence_fn(*lsce_fence_fn);

typedef struct lsce_kernels {
    const char *name;
    lsce_row_find_fn row_find[LSCE_N_DTYPES];                         /* by logits dtype */
    lsce_row_stats_fn row_stats[LSCE_N_DTYPES];                       /* by logits dtype */
    lsce_row_stats_write_fn row_stats_write[LSCE_N_DTYPES][LSCE_N_DTYPES]; /* [logits][gradient] */
    lsce_row_scale_fn row_scale[LSCE_N_DTYPES];                       /* by gradient dtype */
    lsce_row_expscale_fn row_expscale[LSCE_N_DTYPES][LSCE_N_DTYPES]; /* [logits][gradient] */
    lsce_row_transform_fn row_transform[LSCE_N_DTYPES];               /* by logits dtype */
    lsce_row_stats_ex_fn row_stats_ex[LSCE_N_DTYPES];                 /* by logits dtype */
    lsce_row_scale_ex_fn row_scale_ex[LSCE_N_DTYPES];                 /* by gradient dtype */
    lsce_exp_fn exp;
    lsce_fence_fn fence;
} lsce_kernels;

/* Declares the kernels of one variant — lsce_<sweep>_<dtype(s)>_<isa> — and its table. */
#define LSCE_DECLARE_VARIANT(isa) LSCE_DECLARE_VARIANT_(isa)
#define LSCE_DECLARE_PER_DTYPE_(isa, d)                                                            \
    decl_row_find_fn(lsce_row_find_##d##_##isa);                                                   \
    decl_row_stats_fn(lsce_row_stats_##d##_##isa);                                                 \
    decl_row_stats_write_fn(lsce_row_stats_write_##d##_f32_##isa);                                 \
    decl_row_stats_write_fn(lsce_row_stats_write_##d##_bf16_##isa);                                \
    decl_row_stats_write_fn(lsce_row_stats_write_##d##_f16_##isa);                                 \
    decl_row_scale_fn(lsce_row_scale_##d##_##isa);                                                 \
    decl_row_expscale_fn(lsce_row_expscale_##d##_f32_##isa);                                       \
    decl_row_expscale_fn(lsce_row_expscale_##d##_bf16_##isa);                                      \
    decl_row_expscale_fn(lsce_row_expscale_##d##_f16_##isa);                                       \
    decl_row_transform_fn(lsce_row_transform_##d##_##isa);                                         \
    decl_row_stats_ex_fn(lsce_row_stats_ex_##d##_##isa);                                           \
    decl_row_scale_ex_fn(lsce_row_scale_ex_##d##_##isa)
#define LSCE_DECLARE_VARIANT_(isa)                                                                 \
    LSCE_DECLARE_PER_DTYPE_(isa, f32);                                                             \
    LSCE_DECLARE_PER_DTYPE_(isa, bf16);                                                            \
    LSCE_DECLARE_PER_DTYPE_(isa, f16);                                                             \
    decl_exp_fn(lsce_exp_##isa);                                                                   \
    decl_fence_fn(lsce_fence_##isa)

#define LSCE_VARIANT_TABLE(isa) LSCE_VARIANT_TABLE_(isa)
#define LSCE_VARIANT_TABLE_(isa)                                                                   \
    {                                                                                              \
        .name = #isa,                                                                              \
        .row_find = {lsce_row_find_f32_##isa, lsce_row_find_bf16_##isa, lsce_row_find_f16_##isa},  \
        .row_stats = {lsce_row_stats_f32_##isa, lsce_row_stats_bf16_##isa,                        \
                      lsce_row_stats_f16_##isa},                                                   \
        .row_stats_write = {{lsce_row_stats_write_f32_f32_##isa,                                   \
                             lsce_row_stats_write_f32_bf16_##isa,                                  \
                             lsce_row_stats_write_f32_f16_##isa},                                  \
                            {lsce_row_stats_write_bf16_f32_##isa,                                  \
                             lsce_row_stats_write_bf16_bf16_##isa,                                 \
                             lsce_row_stats_write_bf16_f16_##isa},                                 \
                            {lsce_row_stats_write_f16_f32_##isa,                                   \
                             lsce_row_stats_write_f16_bf16_##isa,                                  \
                             lsce_row_stats_write_f16_f16_##isa}},                                 \
        .row_scale = {lsce_row_scale_f32_##isa, lsce_row_scale_bf16_##isa,                         \
                      lsce_row_scale_f16_##isa},                                                   \
        .row_expscale = {{lsce_row_expscale_f32_f32_##isa, lsce_row_expscale_f32_bf16_##isa,       \
                          lsce_row_expscale_f32_f16_##isa},                                        \
                         {lsce_row_expscale_bf16_f32_##isa, lsce_row_expscale_bf16_bf16_##isa,     \
                          lsce_row_expscale_bf16_f16_##isa},                                       \
                         {lsce_row_expscale_f16_f32_##isa, lsce_row_expscale_f16_bf16_##isa,       \
                          lsce_row_expscale_f16_f16_##isa}},                                       \
        .row_transform = {lsce_row_transform_f32_##isa, lsce_row_transform_bf16_##isa,             \
                          lsce_row_transform_f16_##isa},                                           \
        .row_stats_ex = {lsce_row_stats_ex_f32_##isa, lsce_row_stats_ex_bf16_##isa,                \
                         lsce_row_stats_ex_f16_##isa},                                             \
        .row_scale_ex = {lsce_row_scale_ex_f32_##isa, lsce_row_scale_ex_bf16_##isa,                \
                         lsce_row_scale_ex_f16_##isa},                                             \
        .exp = lsce_exp_##isa, .fence = lsce_fence_##isa                                           \
    }

LSCE_DECLARE_VARIANT(scalar);
#if defined(LSCE_HAVE_AVX2)
LSCE_DECLARE_VARIANT(avx2);
#endif
#if defined(LSCE_HAVE_AVX512)
LSCE_DECLARE_VARIANT(avx512);
LSCE_DECLARE_VARIANT(avx512bf16); /* the same sweeps storing bf16 with AVX512-BF16 */
#endif
#if defined(LSCE_HAVE_NEON)
LSCE_DECLARE_VARIANT(neon);
#endif

#endif /* LSCE_KERNELS_H */
