/*
 * checkasm-style suite: every variant this CPU runs (scalar, avx2, avx512, ...) through the three
 * entry points (lsce_forward_backward, lsce_forward, lsce_backward) against the double oracle
 * (tests/oracle.c), over vocabulary sizes around the vector widths (8, 16), the 4× unroll, the
 * fp32 sum blocks (512, 1024) and real vocabularies up to 262144; row strides > V; base pointers
 * 1..3 floats off 64-byte alignment; guard bytes before and after every output (and the padding
 * between strided rows) that must stay untouched; in-place and out-of-place gradients; gradients
 * of ≥ 4 MiB (the streaming-store path); −inf masked logits, NaN / +inf rows.
 *
 * Seed: LSCE_TEST_SEED (printed once); every test derives its own stream from it and its name.
 *
 * ---- TOLERANCES (derivation) ----------------------------------------------------------------
 * u = 2^−24 (fp32 unit roundoff). Per row: m = max x, t_c = x_c − m (exact in double), e_c = e^t_c,
 * d = Σ e_c ≥ 1, p_c = e_c/d, S = Σ t_c, a = q_y, b = q_c, A = a + b(V−1), g = the row's gradient
 * scale, G_c = exact gradient (oracle), E_t = Σ_c p_c·|t_c|.
 * The driver works in stats chunks (src/kernels.h LSCE_CHUNK): the kernels exponentiate relative
 * to the chunk's max m_k ≤ m and the driver rescales by w_k = e^(m_k − m) in double (relative error
 * ~2^−52, neglected below). Since x_c ≤ m_k ≤ m, |x_c − m_k| ≤ |t_c|: the bounds below, written
 * with t_c, cover any chunking (one chunk = the plain row max).
 *
 *  (1) one exponential e_c. The kernel evaluates exp(fl(x_c − m_k)); fl(s) = s(1 + θ), |θ| ≤ u
 *      (exact when Sterbenz applies, e.g. the +1e4 offset rows), so the argument is off by
 *      ≤ u|t_c| and e^{u|t|} − 1 ≈ u|t| (|t| ≤ 104 wherever e_c ≠ 0: ≤ 6.2e−6, second order
 *      negligible). The exp itself: ≤ 2 ulp (lsce.h) = relative ≤ 2·2^−23 = 2^−22 where the result
 *      is normal (tests/test_exp.c checks that claim; measured relative max 1.64e−7 < 2^−22);
 *      results below 2^−126 may flush: absolute < 2^−126, and w_k ≤ 1 keeps it so.
 *      Hence  |ê_c − e_c| ≤ e_c·ε_c + 2^−126,  ε_c = 2^−22 + u|t_c|.
 *  (2) the sums. Every term of d (and of S) has one sign, so a sum whose chains have ≤ k roundings
 *      has relative error ≤ γ_k = k·ρ/(1 − k·ρ) (Higham, Thm 4.1 for any summation order).
 *      SIMD variants: per block (512 elements for AVX2, 1024 for AVX-512) each fp32 lane
 *      accumulator takes ≤ 16 vectors from the 4× unrolled loop, plus ≤ 3 single vectors (or the
 *      masked tail) in the last, partial block: ≤ 18 additions, then 2 for the (e0+e1)+(e2+e3)
 *      tree, then exact conversion and double folds (≤ V/512 double roundings, < 2^−44): k = 20
 *      with ρ = u: γ ≈ 1.19e−6. (lsce.h says "≤ 16 terms per lane ... 16·2^−24 ≈ 1e−6": the
 *      partial last block gives up to 18 per lane plus 2 tree roundings; the brief's "≤ ~24
 *      roundings, 1.5e−6" is consistent with k = 20.) Scalar: double accumulation, k = V, ρ = 2^−53.
 *      So δd := |d̂ − d|/d ≤ E + γ(1 + E) + V·2^−126/d with E = Σ p_c ε_c = 2^−22 + u·E_t,
 *      and δS := |Ŝ − S|/|S| ≤ u + γ(1 + u) (each t̂_c carries u, then the sum).
 *      log d̂ and 1/d̂ are then off by δd' = δd/(1 − δd) (absolute, resp. relative).
 *  (3) loss (double: A·log d̂ − (a − b)(x_y − m) − b·Ŝ, x_y − m exact in double):
 *        |Δloss| ≤ A·δd' + b·|S|·δS + 4·2^−53·(A·log d + |a − b||t_y| + b|S| + |kl|)
 *      plus u·|loss| when the per-row loss is stored as float. nll: δd' (+ double roundings).
 *      lse (float): δd' + u·|lse|. Reduced results: Σ of the row bounds (/ n_kept for mean).
 *  (4) fused gradient, c ≠ y: fma(ê_c, fl(gA·w_k/d̂), fl(−g b)) rounded once:
 *        |Δ| ≤ |g|·A·p_c·(ε_c + δd' + u) + u·|g|·b + u·|G_c| + |g|·A·2^−126/d + 2^−149
 *      (a coefficient fl(gA·w_k/d̂) that is subnormal — a chunk far below the max — is off by
 *      ≤ 2^−150 absolute, times ê_c ≤ 1: inside the 2^−149 term)
 *      target c = y: (gA/d̂)·ê_y − g a in double, rounded once to float:
 *        |Δ| ≤ |g|·A·p_y·(ε_y + δd') + u·|G_y| + 2^−52·|g|(A p_y + a) + |g|·A·2^−126/d + 2^−149.
 *  (5) backward from the saved fp32 lse ℓ̂ (Δℓ = |ℓ̂ − lse|, measured exactly from the forward's
 *      output, itself checked by (3)): exp(fl(x_c − ℓ̂)) has argument error ≤ Δℓ + u|x_c − ℓ̂|,
 *      ε'_c = expm1(Δℓ + u|x_c − ℓ̂|)·(1 + 2^−22) + 2^−22; coefficient fl(gA), bias fl(−gb):
 *        c ≠ y: |Δ| ≤ |g|·A·p_c·(ε'_c + u) + u·|g|·b + u·|G_c| + |g|·A·2^−126 + 2^−149
 *        c = y: p_y = exp(x_y − ℓ̂) in double: |Δ| ≤ |g|·A·p_y·(expm1(Δℓ) + 2^−51) + u·|G_y| + ...
 *  Every bound is multiplied by SAFE = 1 + 1e−4, which covers the dropped second-order products
 *  (each factor ≤ 1e−3 even for the +1e4-offset backward, so products are < 1e−3 of the sum).
 *
 *  Compared with lsce.h: since |g|·A·p_c = |G_c + g·q_c| ≤ |G_c| + |g|·q_c, u|t_c|e^{t_c} ≤ u/e and
 *  E_t = H(p) − log d ≤ ln V, bound (4) gives |Δ_c| ≤ c·(max_c |G_c| + |g|·a) + 2^−149 + ...
 *  with c = 2^−21 + γ + u·(ln V + 3) ≈ 2.6e−6 for V ≤ 2^18 (SIMD; scalar ≈ 1.5e−6), and (3) gives
 *  |Δloss| ≤ (2^−22 + γ + u ln V)·A + (u + γ)·b|S| ≤ 2.6e−6·A + 1.3e−6·|loss| when a ≥ b (then
 *  every term of the loss is ≥ 0, so b|S| ≤ loss). These are the forms lsce.h states; the |g|·a
 *  term cannot be dropped: on a confident row (p_y → 1, ε = 0) every G_c → 0 while the computed
 *  A/d̂ − a keeps an absolute error ~γ, and the loss log d ≈ d − 1 → 0 keeps the absolute error
 *  A·δd'. kernels.header_claims_confident_row checks lsce.h's statement on such rows.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "oracle.h"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    test_print_seed("test_kernels");
}

#define U 0x1.0p-24        /* fp32 unit roundoff */
#define EXP_REL 0x1.0p-22  /* 2 ulp, relative */
#define FLUSH 0x1.0p-126   /* absolute error allowed for a subnormal exp result */
#define SUBN 0x1.0p-149    /* absolute rounding error of a subnormal float result (≥ 2^−150) */
#define DU 0x1.0p-53       /* double unit roundoff */
#define SAFE (1.0 + 1e-4)
#define SIMD_SUM_ROUNDINGS 20
#define STREAM_BYTES ((int64_t)4 << 20) /* src/lsce.c LSCE_STREAM_MIN_BYTES */

#define GUARD_FLOATS 32    /* 128 guard bytes before and after every buffer */
#define GUARD_BYTE 0xA5
static const uint32_t PAD_NAN = 0x7fc0dead; /* logits padding/guards: any read of them shows */

/* ---- guarded buffers ------------------------------------------------------------------------ */

typedef struct gbuf {
    unsigned char *raw;
    size_t raw_bytes, pre_bytes, n; /* n floats of payload at raw + pre_bytes */
    float *p;
} gbuf;

static float *gbuf_alloc(gbuf *b, size_t n, int offset)
{
    b->n = n;
    b->pre_bytes = (size_t)(GUARD_FLOATS + offset) * sizeof(float);
    b->raw_bytes = (b->pre_bytes + n * sizeof(float) + GUARD_FLOATS * sizeof(float) + 63) & ~(size_t)63;
    b->raw = aligned_alloc(64, b->raw_bytes);
    cr_assert(b->raw, "out of memory (%zu bytes)", b->raw_bytes);
    memset(b->raw, GUARD_BYTE, b->raw_bytes);
    b->p = (float *)(void *)(b->raw + b->pre_bytes);
    return b->p;
}

static void gbuf_free(gbuf *b)
{
    free(b->raw);
    memset(b, 0, sizeof *b);
}

/* Guards intact? For a strided matrix (rows, V, stride) also the padding between rows. */
static int gbuf_untouched(const gbuf *b, int64_t rows, int64_t V, int64_t stride)
{
    for (size_t i = 0; i < b->pre_bytes; i++)
        if (b->raw[i] != GUARD_BYTE)
            return 0;
    for (size_t i = b->pre_bytes + b->n * sizeof(float); i < b->raw_bytes; i++)
        if (b->raw[i] != GUARD_BYTE)
            return 0;
    for (int64_t r = 0; r + 1 < rows; r++) {
        const unsigned char *pad = (const unsigned char *)(b->p + r * stride + V);
        for (size_t i = 0; i < (size_t)(stride - V) * sizeof(float); i++)
            if (pad[i] != GUARD_BYTE)
                return 0;
    }
    return 1;
}

static size_t matrix_floats(int64_t rows, int64_t V, int64_t stride)
{
    return rows > 0 ? (size_t)((rows - 1) * stride + V) : 0;
}

/* ---- cases ---------------------------------------------------------------------------------- */

typedef enum dist_kind {
    D_NORMAL = 0, /* k·N(0, 1) */
    D_SPREAD,     /* uniform in [−200, 200] */
    D_OFFSET,     /* 1e4 + k·N(0, 1) */
    D_INT,        /* round(2·N(0, 1)): many ties (argmax: lowest index) */
    D_CONFIDENT,  /* N(0, 1), the target raised by 8..40: p_y → 1 */
    D_COUNT
} dist_kind;

static const char *const dist_names[D_COUNT] = {"normal", "spread200", "offset1e4", "integer",
                                                 "confident"};

typedef struct kcase {
    int64_t rows, V, lstride, gstride;
    int loff, goff, ooff;  /* floats past 64-byte alignment: logits, grad, row_loss/row_lse */
    dist_kind dist;
    double k;
    double ninf;           /* probability of a −inf logit (never a whole row, unless special) */
    int target_ninf;       /* the target itself may be −inf */
    double ignore;         /* probability of an ignored row */
    lsce_options opts;
    int go;                /* 0: grad_output NULL; 1: random values */
    int inplace;
    int fused_outputs;     /* bit 0: row_loss, 1: row_lse, 2: result (the fused call) */
    int special;           /* rows with NaN, +inf, only −inf */
    int pattern;           /* structured rows: see apply_pattern */
} kcase;

static const double k_choices[] = {0.1, 1.0, 4.0, 16.0};

static kcase random_case(test_rng *rng, int64_t rows, int64_t V)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.rows = rows;
    c.V = V;
    c.lstride = rng_uniform(rng) < 0.5 ? V : V + rng_range(rng, 1, 40);
    c.gstride = rng_uniform(rng) < 0.5 ? V : V + rng_range(rng, 1, 40);
    c.loff = (int)rng_range(rng, 0, 4);
    c.goff = (int)rng_range(rng, 0, 4);
    c.ooff = (int)rng_range(rng, 0, 4);
    c.dist = (dist_kind)rng_range(rng, 0, D_COUNT);
    c.k = k_choices[rng_range(rng, 0, 4)];
    c.ninf = rng_uniform(rng) < 0.25 ? 0.1 : 0.0;
    c.target_ninf = rng_uniform(rng) < 0.1;
    c.ignore = rng_uniform(rng) < 0.5 ? 0.0 : 0.25;
    memset(&c.opts, 0, sizeof c.opts);
    c.opts.logit_scale = 1.0;
    c.opts.ignore_index = -100;
    static const double eps[] = {0.0, 0.0, 0.1, 0.1, 0.3, 1.0};
    c.opts.smoothing = eps[rng_range(rng, 0, 6)];
    c.opts.convention = (lsce_convention)rng_range(rng, 0, 3);
    c.opts.kl = rng_uniform(rng) < 0.25;
    c.opts.reduction = (lsce_reduction)rng_range(rng, 0, 3);
    c.go = rng_uniform(rng) < 0.5;
    c.inplace = rng_uniform(rng) < 0.3;
    c.fused_outputs = rng_uniform(rng) < 0.8 ? 7 : (int)rng_range(rng, 0, 8);
    return c;
}

static float draw_logit(test_rng *rng, const kcase *c)
{
    switch (c->dist) {
    case D_NORMAL: return (float)(c->k * rng_normal(rng));
    case D_SPREAD: return (float)(400.0 * rng_uniform(rng) - 200.0);
    case D_OFFSET: return (float)(1e4 + (c->k > 4.0 ? 4.0 : c->k) * rng_normal(rng));
    case D_INT: return (float)nearbyint(2.0 * rng_normal(rng));
    case D_CONFIDENT: return (float)rng_normal(rng);
    case D_COUNT: break;
    }
    return 0.0f;
}

/* ---- per-variant error model ---------------------------------------------------------------- */

typedef struct model {
    double gamma; /* relative error of a one-signed row sum (beyond its terms' own errors) */
} model;

static model variant_model(lsce_isa isa, int64_t V)
{
    model m;
    if (isa == LSCE_ISA_SCALAR) {
        const double k = (double)V * DU;
        m.gamma = k / (1.0 - k);
    } else {
        const double k = SIMD_SUM_ROUNDINGS * U;
        m.gamma = k / (1.0 - k);
    }
    return m;
}

/* Variant-independent facts about each row, for the tolerances. */
typedef struct row_info {
    int finite;         /* not a NaN row */
    double m, d, S_abs, Et, a, b, A, kl_abs, ty_abs, logd;
} row_info;

/* ---- the checking context ------------------------------------------------------------------- */

typedef struct ctx {
    const char *test;
    int case_no;
    const kcase *kc;
    gbuf logits;            /* pristine logits (with guards, padding = PAD_NAN) */
    unsigned char *logits_copy; /* byte copy of logits.raw */
    int64_t *targets, *targets_copy;
    float *go;              /* grad_output or NULL */
    int64_t n_go;
    oracle_batch ob;
    row_info *ri;
    double *p;              /* rows × V: p_c (0 for NaN rows) */
    int failures;
    int printed;
    /* lsce.h claim tracking, per variant */
    double claim_grad_worst[LSCE_ISA_COUNT_];
    double claim_loss_worst[LSCE_ISA_COUNT_];
} ctx;

/* Aggregated per test (one process per Criterion test). */
typedef struct claim_stats {
    long calls, rows_checked, rows_grad_over, rows_loss_over;
    double grad_worst, loss_worst;
    double err_grad_rel_worst; /* worst |Δ|/tolerance seen: how much headroom the bound has */
} claim_stats;
static claim_stats g_claims[LSCE_ISA_COUNT_];

static void describe_case(const ctx *x)
{
    const kcase *c = x->kc;
    fprintf(stderr,
            "  case %s#%d: rows=%" PRId64 " V=%" PRId64 " lstride=%" PRId64 " gstride=%" PRId64
            " offsets(l,g,o)=%d,%d,%d dist=%s k=%g ninf=%g target_ninf=%d ignore=%g eps=%g "
            "conv=%d kl=%d red=%d ignore_index=%" PRId64 " grad_output=%d inplace=%d outputs=%d "
            "special=%d (LSCE_TEST_SEED=0x%" PRIx64 ")\n",
            x->test, x->case_no, c->rows, c->V, c->lstride, c->gstride, c->loff, c->goff, c->ooff,
            dist_names[c->dist], c->k, c->ninf, c->target_ninf, c->ignore, c->opts.smoothing,
            (int)c->opts.convention, c->opts.kl, (int)c->opts.reduction, c->opts.ignore_index,
            c->go, c->inplace, c->fused_outputs, c->special, test_seed());
}

#define FAIL(x, ...)                                                                               \
    do {                                                                                           \
        (x)->failures++;                                                                           \
        if ((x)->printed < 12) {                                                                   \
            if ((x)->printed == 0)                                                                 \
                describe_case(x);                                                                  \
            (x)->printed++;                                                                        \
            fprintf(stderr, "  FAIL " __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* |got − want| ≤ tol, with non-finite values matched by class (NaN ↔ NaN, ±inf exactly). */
static int close_enough(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    if (!isfinite(got))
        return 0;
    return fabs(got - want) <= tol;
}

/* Structured rows (kcase.pattern) over the drawn values. CH = the driver's stats chunk. */
#ifdef LSCE_CHUNK
#define CH LSCE_CHUNK
#else
#define CH 4096
#endif
static void apply_pattern(test_rng *rng, const kcase *c, float *row)
{
    const int64_t V = c->V;
    switch (c->pattern) {
    case 1: /* every logit equal: argmax 0 */
        for (int64_t j = 0; j < V; j++)
            row[j] = 1.5f;
        break;
    case 2: /* small integers, the max (10) twice: once in [V/2, V−1), once at V−1 */
        for (int64_t j = 0; j < V; j++)
            row[j] = (float)fmin(nearbyint(2.0 * rng_normal(rng)), 3.0);
        row[V - 1] = 10.0f;
        if (V > 2)
            row[rng_range(rng, V / 2, V - 1)] = 10.0f;
        break;
    case 3: { /* one whole chunk of −inf (a masked vocabulary range), never the whole row */
        const int64_t n_ch = (V + CH - 1) / CH;
        if (n_ch < 2)
            break;
        const int64_t k = rng_range(rng, 0, n_ch);
        for (int64_t j = k * CH; j < V && j < (k + 1) * CH; j++)
            row[j] = -INFINITY;
        break;
    }
    case 4: /* chunk k lowered by 150·k: chunk weights e^(m_k − m) underflow float */
        for (int64_t j = 0; j < V; j++)
            row[j] -= 150.0f * (float)(j / CH);
        break;
    case 5: /* chunk k raised by 40·k: the max sits in the last chunk */
        for (int64_t j = 0; j < V; j++)
            row[j] += 40.0f * (float)(j / CH);
        break;
    default: break;
    }
}

static void make_data(ctx *x, test_rng *rng)
{
    const kcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const size_t nl = matrix_floats(rows, V, c->lstride);
    gbuf_alloc(&x->logits, nl, c->loff);
    /* Guards and padding of the logits are NaN: a kernel reading them would poison its row. */
    for (size_t i = 0; i < x->logits.raw_bytes / 4; i++)
        memcpy(x->logits.raw + 4 * i, &PAD_NAN, 4);
    x->targets = malloc(sizeof(int64_t) * (size_t)(rows ? rows : 1));
    cr_assert(x->targets);

    for (int64_t r = 0; r < rows; r++) {
        float *row = x->logits.p + r * c->lstride;
        for (int64_t j = 0; j < V; j++)
            row[j] = draw_logit(rng, c);
        if (c->ninf > 0.0) {
            int64_t finite = 0;
            for (int64_t j = 0; j < V; j++) {
                if (rng_uniform(rng) < c->ninf)
                    row[j] = -INFINITY;
                finite += row[j] != -INFINITY;
            }
            if (!finite)
                row[rng_range(rng, 0, V)] = draw_logit(rng, c);
        }
        apply_pattern(rng, c, row);
        int64_t y = rng_range(rng, 0, V);
        if (!c->target_ninf && row[y] == -INFINITY)
            row[y] = draw_logit(rng, c);
        if (c->dist == D_CONFIDENT && row[y] != -INFINITY)
            row[y] += (float)(8.0 + 32.0 * rng_uniform(rng));
        if (rng_uniform(rng) < c->ignore)
            y = c->opts.ignore_index;
        x->targets[r] = y;
    }

    if (c->special && rows > 0) {
        /* Row kinds cycle: NaN (target elsewhere / at the NaN), +inf, only −inf, −inf target. */
        for (int64_t r = 0; r < rows; r++) {
            float *row = x->logits.p + r * c->lstride;
            const int64_t j = rng_range(rng, 0, V);
            switch (r % 6) {
            case 0: row[j] = NAN; break;
            case 1: row[j] = NAN; if (x->targets[r] != c->opts.ignore_index) x->targets[r] = j; break;
            case 2: row[j] = INFINITY; break;
            case 3: for (int64_t i = 0; i < V; i++) row[i] = -INFINITY; break;
            case 4: if (x->targets[r] != c->opts.ignore_index) row[x->targets[r]] = -INFINITY; break;
            default: break; /* an ordinary row */
            }
        }
    }

    x->logits_copy = malloc(x->logits.raw_bytes);
    x->targets_copy = malloc(sizeof(int64_t) * (size_t)(rows ? rows : 1));
    cr_assert(x->logits_copy && x->targets_copy);
    memcpy(x->logits_copy, x->logits.raw, x->logits.raw_bytes);
    memcpy(x->targets_copy, x->targets, sizeof(int64_t) * (size_t)rows);

    x->n_go = 0;
    x->go = NULL;
    if (c->go) {
        x->n_go = c->opts.reduction == LSCE_REDUCTION_NONE ? rows : 1;
        x->go = malloc(sizeof(float) * (size_t)(x->n_go ? x->n_go : 1));
        cr_assert(x->go);
        for (int64_t i = 0; i < x->n_go; i++) {
            const double u = rng_uniform(rng);
            x->go[i] = u < 0.1 ? 0.0f : (float)(rng_normal(rng) * 3.0);
        }
        if (x->n_go == 0) { /* none with 0 rows: pass a valid pointer anyway */
            x->go[0] = 1.0f;
        }
    }
}

static void compute_oracle(ctx *x)
{
    const kcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    cr_assert_eq(oracle_eval_batch(&c->opts, rows, V, x->logits.p, c->lstride, x->targets, x->go,
                                   1, &x->ob),
                 0, "oracle: out of memory");
    x->ri = calloc((size_t)(rows ? rows : 1), sizeof(row_info));
    x->p = malloc(sizeof(double) * (size_t)(rows ? rows : 1) * (size_t)V);
    cr_assert(x->ri && x->p);
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x->logits.p + r * c->lstride;
        row_info *ri = &x->ri[r];
        double *p = x->p + r * V;
        oracle_weights(&c->opts, V, &ri->a, &ri->b);
        ri->A = ri->a + ri->b * (double)(V - 1);
        ri->finite = !isnan(x->ob.row_lse[r]);
        if (!ri->finite) {
            for (int64_t j = 0; j < V; j++)
                p[j] = 0.0;
            continue;
        }
        double m = -INFINITY;
        for (int64_t j = 0; j < V; j++)
            m = row[j] > m ? row[j] : m;
        double d = 0.0, S = 0.0;
        for (int64_t j = 0; j < V; j++) {
            const double t = (double)row[j] - m;
            p[j] = exp(t);
            d += p[j];
            S += t;
        }
        double Et = 0.0;
        for (int64_t j = 0; j < V; j++) {
            p[j] /= d;
            if (p[j] > 0.0)
                Et += p[j] * fabs((double)row[j] - m);
        }
        ri->m = m;
        ri->d = d;
        ri->logd = log(d);
        ri->S_abs = fabs(S);
        ri->Et = Et;
        const int64_t y = x->targets[r];
        ri->ty_abs = (y != c->opts.ignore_index) ? fabs((double)row[y] - m) : 0.0;
        double kl = 0.0;
        if (c->opts.kl) {
            if (ri->a > 0) kl += fabs(ri->a * log(ri->a));
            if (ri->b > 0) kl += (double)(V - 1) * fabs(ri->b * log(ri->b));
        }
        ri->kl_abs = kl;
    }
}

/* a·b with 0·inf = 0 (a weight of 0 times an infinite magnitude contributes nothing). */
static double mul0(double a, double b) { return a == 0.0 || b == 0.0 ? 0.0 : a * b; }

static double delta_d(const row_info *ri, const model *md, int64_t V)
{
    const double E = EXP_REL + U * ri->Et * (1.0 + 1e-5);
    const double dd = E + md->gamma * (1.0 + E) + (double)V * FLUSH / ri->d;
    return dd / (1.0 - dd);
}

static double loss_tol(const ctx *x, int64_t r, const model *md)
{
    const row_info *ri = &x->ri[r];
    const double dS = U + md->gamma * (1.0 + U);
    const double ab = fabs(ri->a - ri->b);
    return SAFE * (ri->A * delta_d(ri, md, x->kc->V) + mul0(ri->b, ri->S_abs) * dS) +
           4.0 * DU * (ri->A * ri->logd + mul0(ab, ri->ty_abs) + mul0(ri->b, ri->S_abs) + ri->kl_abs) +
           4.0 * DU * fabs(x->ob.row_loss[r]);
}

static double nll_tol(const ctx *x, int64_t r, const model *md)
{
    const row_info *ri = &x->ri[r];
    return SAFE * delta_d(ri, md, x->kc->V) + 4.0 * DU * (ri->logd + ri->ty_abs + fabs(x->ob.row_nll[r]));
}

static double lse_tol(const ctx *x, int64_t r, const model *md)
{
    const row_info *ri = &x->ri[r];
    return SAFE * (delta_d(ri, md, x->kc->V) + U * fabs(x->ob.row_lse[r])) + 4.0 * DU * fabs(ri->m);
}

static int kept(const ctx *x, int64_t r) { return x->targets[r] != x->kc->opts.ignore_index; }

/* row_loss / row_lse / result of a forward or fused call. */
static void check_forward(ctx *x, lsce_isa isa, const char *entry, const float *row_loss,
                          const float *row_lse, const lsce_result *res)
{
    const kcase *c = x->kc;
    const model md = variant_model(isa, c->V);
    const char *name = lsce_isa_to_string(isa);
    double tol_loss_sum = 0.0, tol_nll_sum = 0.0, abs_loss_sum = 0.0;
    for (int64_t r = 0; r < c->rows; r++) {
        const int k = kept(x, r);
        const double tl = k ? loss_tol(x, r, &md) : 0.0;
        if (k) {
            tol_loss_sum += tl;
            tol_nll_sum += nll_tol(x, r, &md);
            abs_loss_sum += fabs(x->ob.row_loss[r]);
            /* lsce.h's loss claim: |Δ| ≤ 4e−6·(|loss| + A·|log d|) (tracked, not asserted) */
            if (row_loss && x->ri[r].finite && isfinite(x->ob.row_loss[r])) {
                /* discount the float store and double roundings: only what the claim is about */
                const row_info *ri = &x->ri[r];
                const double err = fabs((double)row_loss[r] - x->ob.row_loss[r]) -
                                   U * fabs(x->ob.row_loss[r]) -
                                   1e-15 * (ri->A * ri->logd + mul0(fabs(ri->a - ri->b), ri->ty_abs) +
                                            mul0(ri->b, ri->S_abs) + ri->kl_abs + fabs(x->ob.row_loss[r]));
                const double scale = fabs(x->ob.row_loss[r]) + x->ri[r].A * x->ri[r].logd;
                const double ratio = err > 0 ? (scale > 0 ? err / scale : INFINITY) : 0.0;
                if (ratio > x->claim_loss_worst[isa])
                    x->claim_loss_worst[isa] = ratio;
                if (ratio > 4e-6)
                    g_claims[isa].rows_loss_over++;
            }
        }
        if (row_loss) {
            const double want = k ? x->ob.row_loss[r] : 0.0;
            const double tol = k ? SAFE * (tl + U * fabs(want)) + SUBN : 0.0;
            if (!close_enough(row_loss[r], want, tol))
                FAIL(x, "%s %s row_loss[%" PRId64 "] = %.9g, want %.17g (tol %.3g, kept %d)", name,
                     entry, r, (double)row_loss[r], want, tol, k);
        }
        if (row_lse) {
            const double want = x->ob.row_lse[r];
            const double tol = x->ri[r].finite ? lse_tol(x, r, &md) : 0.0;
            if (!close_enough(row_lse[r], want, tol))
                FAIL(x, "%s %s row_lse[%" PRId64 "] = %.9g, want %.17g (tol %.3g, kept %d)", name,
                     entry, r, (double)row_lse[r], want, tol, k);
        }
    }
    if (res) {
        const lsce_result *w = &x->ob.result;
        if (res->n_tokens != w->n_tokens)
            FAIL(x, "%s %s n_tokens = %" PRId64 ", want %" PRId64, name, entry, res->n_tokens,
                 w->n_tokens);
        if (res->n_correct != w->n_correct)
            FAIL(x, "%s %s n_correct = %" PRId64 ", want %" PRId64, name, entry, res->n_correct,
                 w->n_correct);
        if (res->denominator != w->denominator)
            FAIL(x, "%s %s denominator = %g, want %g", name, entry, res->denominator,
                 w->denominator);
        if (res->z_sum != 0.0)
            FAIL(x, "%s %s z_sum = %g, want 0", name, entry, res->z_sum);
        const double n = c->opts.reduction == LSCE_REDUCTION_MEAN && w->n_tokens > 0
                             ? (double)w->n_tokens
                             : 1.0;
        const double tl = tol_loss_sum / n + 2.0 * (double)c->rows * DU * abs_loss_sum / n;
        if (!close_enough(res->loss, w->loss, tl))
            FAIL(x, "%s %s result.loss = %.17g, want %.17g (tol %.3g)", name, entry, res->loss,
                 w->loss, tl);
        const double tn = tol_nll_sum + 2.0 * (double)c->rows * DU * fabs(w->nll_sum);
        if (!close_enough(res->nll_sum, w->nll_sum, tn))
            FAIL(x, "%s %s result.nll_sum = %.17g, want %.17g (tol %.3g)", name, entry,
                 res->nll_sum, w->nll_sum, tn);
    }
}

/* The gradient of a fused (lse_in == NULL) or backward call. */
static void check_grad(ctx *x, lsce_isa isa, const char *entry, const float *grad, int64_t stride,
                       const float *lse_in)
{
    const kcase *c = x->kc;
    const int64_t V = c->V;
    const model md = variant_model(isa, V);
    const char *name = lsce_isa_to_string(isa);
    for (int64_t r = 0; r < c->rows; r++) {
        const float *gr = grad + r * stride;
        const double *G = x->ob.grad + r * V;
        if (!kept(x, r)) {
            for (int64_t j = 0; j < V; j++) {
                if (gr[j] != 0.0f) { /* ±0 exactly */
                    FAIL(x, "%s %s ignored row %" PRId64 " grad[%" PRId64 "] = %a, want 0", name,
                         entry, r, j, (double)gr[j]);
                    break;
                }
            }
            continue;
        }
        const row_info *ri = &x->ri[r];
        const float *row = x->logits.p + r * c->lstride;
        const double *p = x->p + r * V;
        const int64_t y = x->targets[r];
        const double g = fabs(x->ob.row_scale[r]);
        if (!ri->finite) {
            for (int64_t j = 0; j < V; j++)
                if (!isnan(gr[j])) {
                    FAIL(x, "%s %s NaN row %" PRId64 " grad[%" PRId64 "] = %g, want NaN", name,
                         entry, r, j, (double)gr[j]);
                    break;
                }
            continue;
        }
        const double gA = g * ri->A, gb = g * ri->b;
        double dl = 0.0, lse_f = 0.0, ddp = 0.0;
        if (lse_in) {
            lse_f = lse_in[r];
            dl = fabs(lse_f - x->ob.row_lse[r]) + 2.0 * DU * fabs(x->ob.row_lse[r]);
        } else {
            ddp = delta_d(ri, &md, V);
        }
        double max_err = 0.0, max_G = 0.0;
        for (int64_t j = 0; j < V; j++) {
            const double want = G[j], got = gr[j];
            double tol;
            if (p[j] == 0.0) {
                /* −inf logit (or e^t below double range): e = 0, the result is fl(−g·q_c) */
                tol = SAFE * (U * fabs(want)) + (lse_in ? gA * FLUSH : gA * FLUSH / ri->d) + SUBN;
            } else if (!lse_in) {
                const double eps_c = EXP_REL + U * fabs((double)row[j] - ri->m) * (1.0 + 1e-5);
                if (j != y)
                    tol = SAFE * (gA * p[j] * (eps_c + ddp + U) + U * gb + U * fabs(want)) +
                          gA * FLUSH / ri->d + SUBN;
                else
                    tol = SAFE * (gA * p[j] * (eps_c + ddp) + U * fabs(want)) +
                          2.0 * DU * (gA * p[j] + g * ri->a) + gA * FLUSH / ri->d + SUBN;
            } else {
                if (j != y) {
                    const double arg = dl + U * fabs((double)row[j] - lse_f);
                    const double em = expm1(arg);
                    const double eps_c = em * (1.0 + EXP_REL) + EXP_REL;
                    tol = SAFE * (gA * p[j] * (eps_c + U) + U * gb + U * fabs(want)) +
                          gA * FLUSH + SUBN;
                } else {
                    tol = SAFE * (gA * p[j] * (expm1(dl) + 2.0 * DU) + U * fabs(want)) +
                          2.0 * DU * (gA * p[j] + g * ri->a) + SUBN;
                }
            }
            if (!close_enough(got, want, tol)) {
                FAIL(x, "%s %s row %" PRId64 " grad[%" PRId64 "] = %.9g, want %.17g (err %.3g, "
                        "tol %.3g; target %" PRId64 ", x = %.9g, p = %.6g)",
                     name, entry, r, j, got, want, fabs(got - want), tol, y, (double)row[j], p[j]);
            } else if (p[j] * ri->d >= 2.0 * FLUSH && !lse_in) {
                /* headroom of the fused bound, with the fp32 roundings of the bias and of the
                 * result (tight by construction) taken out, over normal exponentials (a flushed one is off by
                 * nearly its flush allowance); the backward bound uses the measured lse error,
                 * so it is tight by construction too */
                const double fixed = SAFE * U * (fabs(want) + (j != y ? gb : 0.0)) + SUBN;
                const double rel = tol > fixed ? fmax(0.0, fabs(got - want) - fixed) / (tol - fixed) : 0.0;
                if (rel > g_claims[isa].err_grad_rel_worst)
                    g_claims[isa].err_grad_rel_worst = rel;
            }
            if (isfinite(want)) {
                if (fabs(want) > max_G)
                    max_G = fabs(want);
                /* minus the subnormal floor, which no relative claim can cover */
                const double e = fabs(got - want) - (gA * FLUSH / ri->d + SUBN);
                if (isfinite(got) && e > max_err)
                    max_err = e;
            }
        }
        /* lsce.h's gradient claim: max |Δ| ≤ 4e−6·max |G| (tracked for the fused call). */
        if (!lse_in) {
            g_claims[isa].rows_checked++;
            const double ratio = max_err > 0 ? (max_G > 0 ? max_err / max_G : INFINITY) : 0.0;
            if (ratio > x->claim_grad_worst[isa])
                x->claim_grad_worst[isa] = ratio;
            if (ratio > 4e-6)
                g_claims[isa].rows_grad_over++;
        }
    }
}

static void check_inputs(ctx *x, lsce_isa isa, const char *entry)
{
    const kcase *c = x->kc;
    if (memcmp(x->logits.raw, x->logits_copy, x->logits.raw_bytes) != 0)
        FAIL(x, "%s %s modified the logits (or their guards/padding)", lsce_isa_to_string(isa),
             entry);
    if (c->rows && memcmp(x->targets, x->targets_copy, sizeof(int64_t) * (size_t)c->rows) != 0)
        FAIL(x, "%s %s modified the targets", lsce_isa_to_string(isa), entry);
}

/* A working copy of the logits for an in-place call (guards and padding included). */
static float *inplace_copy(ctx *x, gbuf *w)
{
    w->raw_bytes = x->logits.raw_bytes;
    w->pre_bytes = x->logits.pre_bytes;
    w->n = x->logits.n;
    w->raw = aligned_alloc(64, w->raw_bytes);
    cr_assert(w->raw);
    memcpy(w->raw, x->logits_copy, w->raw_bytes);
    w->p = (float *)(void *)(w->raw + w->pre_bytes);
    return w->p;
}

/* In place: everything but the rows' first V entries must equal the pristine logits. */
static int inplace_untouched(const ctx *x, const gbuf *w)
{
    const kcase *c = x->kc;
    if (memcmp(w->raw, x->logits_copy, w->pre_bytes) != 0)
        return 0;
    const size_t end = w->pre_bytes + w->n * sizeof(float);
    if (memcmp(w->raw + end, x->logits_copy + end, w->raw_bytes - end) != 0)
        return 0;
    for (int64_t r = 0; r + 1 < c->rows; r++) {
        const size_t off = w->pre_bytes + (size_t)(r * c->lstride + c->V) * sizeof(float);
        if (memcmp(w->raw + off, x->logits_copy + off, (size_t)(c->lstride - c->V) * 4) != 0)
            return 0;
    }
    return 1;
}

static void run_variant(ctx *x, lsce_isa isa)
{
    const kcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const char *name = lsce_isa_to_string(isa);
    lsce_options o = c->opts;
    o.isa = isa;
    lsce_status st;
    x->claim_grad_worst[isa] = 0.0;
    x->claim_loss_worst[isa] = 0.0;

    /* ---- fused ---- */
    {
        gbuf gb = {0}, lb = {0}, sb = {0}, work = {0};
        float *grad;
        int64_t gstride;
        if (c->inplace) {
            grad = inplace_copy(x, &work);
            gstride = c->lstride;
        } else {
            grad = gbuf_alloc(&gb, matrix_floats(rows, V, c->gstride), c->goff);
            gstride = c->gstride;
        }
        float *rl = (c->fused_outputs & 1) ? gbuf_alloc(&lb, (size_t)rows, c->ooff) : NULL;
        float *rs = (c->fused_outputs & 2) ? gbuf_alloc(&sb, (size_t)rows, (c->ooff + 1) & 3) : NULL;
        lsce_result res;
        memset(&res, 0xff, sizeof res);
        const float *logits = c->inplace ? grad : x->logits.p;
        st = lsce_forward_backward(&o, rows, V, logits, c->lstride, x->targets, x->go, grad,
                                   gstride, rl, rs, (c->fused_outputs & 4) ? &res : NULL);
        g_claims[isa].calls++;
        if (st != LSCE_OK) {
            FAIL(x, "%s fused: status %d (%s)", name, (int)st, lsce_strerror(st));
        } else {
            check_forward(x, isa, "fused", rl, rs, (c->fused_outputs & 4) ? &res : NULL);
            check_grad(x, isa, c->inplace ? "fused-inplace" : "fused", grad, gstride, NULL);
            if (c->inplace ? !inplace_untouched(x, &work) : !gbuf_untouched(&gb, rows, V, gstride))
                FAIL(x, "%s fused: a grad guard byte or padding between rows changed", name);
            if (rl && !gbuf_untouched(&lb, rows, 1, 1))
                FAIL(x, "%s fused: a row_loss guard byte changed", name);
            if (rs && !gbuf_untouched(&sb, rows, 1, 1))
                FAIL(x, "%s fused: a row_lse guard byte changed", name);
        }
        check_inputs(x, isa, "fused");
        gbuf_free(&gb);
        gbuf_free(&lb);
        gbuf_free(&sb);
        gbuf_free(&work);
    }

    /* ---- forward, then backward from its row_lse ---- */
    gbuf lb = {0}, sb = {0};
    float *rl = gbuf_alloc(&lb, (size_t)rows, (c->ooff + 2) & 3);
    float *rs = gbuf_alloc(&sb, (size_t)rows, (c->ooff + 3) & 3);
    lsce_result res;
    memset(&res, 0xff, sizeof res);
    st = lsce_forward(&o, rows, V, x->logits.p, c->lstride, x->targets, rl, rs, &res);
    g_claims[isa].calls++;
    if (st != LSCE_OK) {
        FAIL(x, "%s forward: status %d (%s)", name, (int)st, lsce_strerror(st));
    } else {
        check_forward(x, isa, "forward", rl, rs, &res);
        if (!gbuf_untouched(&lb, rows, 1, 1) || !gbuf_untouched(&sb, rows, 1, 1))
            FAIL(x, "%s forward: a row_loss/row_lse guard byte changed", name);
    }
    check_inputs(x, isa, "forward");

    if (st == LSCE_OK) {
        gbuf gb = {0}, work = {0};
        float *grad;
        int64_t gstride;
        if (c->inplace) {
            grad = inplace_copy(x, &work);
            gstride = c->lstride;
        } else {
            grad = gbuf_alloc(&gb, matrix_floats(rows, V, c->gstride), (c->goff + 1) & 3);
            gstride = c->gstride;
        }
        const float *logits = c->inplace ? grad : x->logits.p;
        st = lsce_backward(&o, rows, V, logits, c->lstride, x->targets, rs, x->go, grad, gstride);
        g_claims[isa].calls++;
        if (st != LSCE_OK) {
            FAIL(x, "%s backward: status %d (%s)", name, (int)st, lsce_strerror(st));
        } else {
            check_grad(x, isa, c->inplace ? "backward-inplace" : "backward", grad, gstride, rs);
            if (c->inplace ? !inplace_untouched(x, &work) : !gbuf_untouched(&gb, rows, V, gstride))
                FAIL(x, "%s backward: a grad guard byte or padding between rows changed", name);
        }
        check_inputs(x, isa, "backward");
        gbuf_free(&gb);
        gbuf_free(&work);
    }
    gbuf_free(&lb);
    gbuf_free(&sb);

    if (x->claim_grad_worst[isa] > g_claims[isa].grad_worst)
        g_claims[isa].grad_worst = x->claim_grad_worst[isa];
    if (x->claim_loss_worst[isa] > g_claims[isa].loss_worst)
        g_claims[isa].loss_worst = x->claim_loss_worst[isa];
}

/* Runs one case on every supported variant; returns its number of failures. */
static int run_case(const char *test, int case_no, const kcase *kc, test_rng *rng)
{
    ctx x;
    memset(&x, 0, sizeof x);
    x.test = test;
    x.case_no = case_no;
    x.kc = kc;
    make_data(&x, rng);
    compute_oracle(&x);
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        if (lsce_isa_supported((lsce_isa)isa))
            run_variant(&x, (lsce_isa)isa);
    oracle_batch_free(&x.ob);
    gbuf_free(&x.logits);
    free(x.logits_copy);
    free(x.targets);
    free(x.targets_copy);
    free(x.go);
    free(x.ri);
    free(x.p);
    return x.failures;
}

static void report_claims(const char *test)
{
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        const claim_stats *s = &g_claims[isa];
        if (!s->calls)
            continue;
        fprintf(stderr,
                "kernels/%s %-7s %4ld calls; fused grad (error − rounding)/(bound − rounding) ≤ %.3f; lsce.h form: grad max|Δ|/max|G| "
                "≤ %.3g (rows > 4e-6: %ld of %ld), loss |Δ|/(|loss|+A·log d) ≤ %.3g (rows > 4e-6: "
                "%ld)\n",
                test, lsce_isa_to_string((lsce_isa)isa), s->calls, s->err_grad_rel_worst,
                s->grad_worst, s->rows_grad_over, s->rows_checked, s->loss_worst,
                s->rows_loss_over);
    }
}

static test_rng test_rng_for(const char *name)
{
    test_rng r;
    rng_init(&r, test_seed(), test_hash(name));
    return r;
}

#define FINISH(name, failures)                                                                     \
    do {                                                                                           \
        report_claims(name);                                                                       \
        cr_assert_eq((failures), 0, "%d failed checks (details on stderr; LSCE_TEST_SEED=0x%" PRIx64 ")", \
                     (failures), test_seed());                                                     \
    } while (0)

/* ---- the tests -------------------------------------------------------------------------------- */

/* Around the vector widths W = 8, 16 and the 4× unroll (4W = 32, 64). */
static const int64_t small_V[] = {1,  2,  3,  4,  5,  7,  8,  9,  11, 15,  16,  17,  19,
                                  23, 31, 32, 33, 35, 40, 47, 48, 63, 64,  65,  67,  95,
                                  96, 97, 127, 128, 129, 191, 192, 193, 255, 256, 257, 300};

Test(kernels, small_vocab, .timeout = 120)
{
    test_rng rng = test_rng_for("small_vocab");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof small_V / sizeof small_V[0]; i++)
        for (int dist = 0; dist < D_COUNT; dist++) {
            kcase c = random_case(&rng, rng_range(&rng, 1, 10), small_V[i]);
            c.dist = (dist_kind)dist;
            failures += run_case("small_vocab", n++, &c, &rng);
        }
    FINISH("small_vocab", failures);
}

/* Around the fp32 sum blocks (512 for AVX2, 1024 for AVX-512), their multiples and the driver's
 * stats chunk (src/kernels.h LSCE_CHUNK = 4096). */
static const int64_t block_V[] = {511,  512,  513,  1023, 1024, 1025, 1535, 1536, 1537, 2047,
                                  2048, 2049, 2079, 3077, 4095, 4096, 4097, 5000, 8191, 8193};

Test(kernels, block_edges, .timeout = 120)
{
    test_rng rng = test_rng_for("block_edges");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof block_V / sizeof block_V[0]; i++)
        for (int rep = 0; rep < 3; rep++) {
            kcase c = random_case(&rng, rng_range(&rng, 1, 6), block_V[i]);
            failures += run_case("block_edges", n++, &c, &rng);
        }
    FINISH("block_edges", failures);
}

/* Real vocabularies, few rows. */
Test(kernels, large_vocab, .timeout = 120)
{
    static const int64_t Vs[] = {1000, 32000, 50257, 128256, 262144};
    test_rng rng = test_rng_for("large_vocab");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int rep = 0; rep < 2; rep++) {
            const int64_t rows = Vs[i] > 100000 ? 2 : 3;
            kcase c = random_case(&rng, rows, Vs[i]);
            c.dist = rep == 0 ? D_NORMAL : (dist_kind)rng_range(&rng, 1, D_COUNT);
            c.fused_outputs = 7;
            if (Vs[i] > 100000)
                c.inplace = 0; /* the streaming test covers large in-place calls */
            failures += run_case("large_vocab", n++, &c, &rng);
        }
    FINISH("large_vocab", failures);
}

/* Strides > V and base pointers 1..3 floats off alignment, every buffer. */
Test(kernels, strides_and_alignment, .timeout = 120)
{
    test_rng rng = test_rng_for("strides_and_alignment");
    int failures = 0, n = 0;
    for (int off = 0; off < 4; off++)
        for (size_t i = 0; i < sizeof small_V / sizeof small_V[0]; i += 3) {
            const int64_t V = small_V[i] * (i % 2 ? 1 : 7);
            kcase c = random_case(&rng, rng_range(&rng, 2, 7), V);
            c.loff = off;
            c.goff = (off + 1) & 3;
            c.ooff = (off + 2) & 3;
            c.lstride = V + rng_range(&rng, 1, 70);
            c.gstride = V + rng_range(&rng, 1, 70);
            c.inplace = (int)(i / 3) % 2;
            failures += run_case("strides_and_alignment", n++, &c, &rng);
        }
    FINISH("strides_and_alignment", failures);
}

/* In place (grad == logits, same stride), with ignored rows, every optional output. */
Test(kernels, in_place, .timeout = 120)
{
    static const int64_t Vs[] = {1, 3, 8, 17, 64, 100, 513, 1025, 3000};
    test_rng rng = test_rng_for("in_place");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int rep = 0; rep < 2; rep++) {
            kcase c = random_case(&rng, rng_range(&rng, 3, 9), Vs[i]);
            c.inplace = 1;
            c.ignore = 0.3;
            c.fused_outputs = 7;
            c.lstride = rep ? Vs[i] : Vs[i] + rng_range(&rng, 1, 20);
            failures += run_case("in_place", n++, &c, &rng);
        }
    FINISH("in_place", failures);
}

/* Gradients of ≥ 4 MiB: the non-temporal store path, aligned and unaligned, in and out of place. */
Test(kernels, streaming, .timeout = 120)
{
    typedef struct {
        int64_t rows, V, gpad;
        int goff, inplace;
    } shape;
    static const shape shapes[] = {
        {33, 32000, 0, 0, 0}, {33, 32000, 0, 1, 0}, {36, 32000, 3, 3, 0},
        {5, 262144, 5, 2, 0}, {300, 3501, 0, 1, 0}, {33, 32000, 7, 2, 1},
        {4, 262144, 0, 3, 1},
    };
    test_rng rng = test_rng_for("streaming");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        kcase c = random_case(&rng, s->rows, s->V);
        c.gstride = s->V + s->gpad;
        c.goff = s->goff;
        c.inplace = s->inplace;
        if (s->inplace) {
            c.lstride = c.gstride;
            c.loff = s->goff;
        }
        c.dist = (dist_kind)(i % D_COUNT);
        const int64_t st = c.inplace ? c.lstride : c.gstride;
        cr_assert((int64_t)matrix_floats(c.rows, c.V, st) * 4 >= STREAM_BYTES,
                  "shape %zu does not reach the streaming threshold", i);
        failures += run_case("streaming", n++, &c, &rng);
    }
    FINISH("streaming", failures);
}

/* Every convention × ε × kl × reduction × grad_output. */
Test(kernels, options_matrix, .timeout = 120)
{
    static const int64_t Vs[] = {1, 2, 7, 100, 1030};
    static const double eps[] = {0.0, 0.1, 0.5, 1.0};
    test_rng rng = test_rng_for("options_matrix");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int conv = 0; conv < 3; conv++)
            for (int e = 0; e < 4; e++)
                for (int kl = 0; kl < 2; kl++)
                    for (int red = 0; red < 3; red++)
                        for (int go = 0; go < 2; go++) {
                            kcase c = random_case(&rng, rng_range(&rng, 1, 5), Vs[i]);
                            c.opts.convention = (lsce_convention)conv;
                            c.opts.smoothing = eps[e];
                            c.opts.kl = kl;
                            c.opts.reduction = (lsce_reduction)red;
                            c.go = go;
                            failures += run_case("options_matrix", n++, &c, &rng);
                        }
    FINISH("options_matrix", failures);
}

/* ignore_index values inside and outside [0, V), and batches with nothing kept. */
Test(kernels, ignore_index, .timeout = 120)
{
    static const int64_t Vs[] = {1, 9, 33, 1029};
    test_rng rng = test_rng_for("ignore_index");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++) {
        const int64_t V = Vs[i];
        const int64_t idx[] = {-100, -1, 0, V - 1};
        for (int j = 0; j < 4; j++)
            for (int all = 0; all < 2; all++)
                for (int red = 0; red < 3; red++) {
                    kcase c = random_case(&rng, rng_range(&rng, 1, 7), V);
                    c.opts.ignore_index = idx[j];
                    c.opts.reduction = (lsce_reduction)red;
                    c.ignore = all ? 1.0 : 0.4;
                    failures += run_case("ignore_index", n++, &c, &rng);
                }
    }
    FINISH("ignore_index", failures);
}

/* −inf masks (dense), −inf targets (loss +inf with ε > 0), NaN / +inf / all −inf rows. */
Test(kernels, special_values, .timeout = 120)
{
    static const int64_t Vs[] = {1, 2, 5, 8, 16, 17, 33, 65, 513, 1025, 2100};
    test_rng rng = test_rng_for("special_values");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int rep = 0; rep < 4; rep++) {
            kcase c = random_case(&rng, rng_range(&rng, 6, 13), Vs[i]);
            c.ninf = rep < 2 ? 0.5 : 0.05;
            c.target_ninf = rep == 1;
            c.special = rep >= 2;
            /* NaN rows make mean/sum NaN: `none` keeps the other rows checkable one by one. */
            if (rep == 3)
                c.opts.reduction = LSCE_REDUCTION_NONE;
            failures += run_case("special_values", n++, &c, &rng);
        }
    FINISH("special_values", failures);
}

/* Argmax ties (lowest index) across lanes, unrolled vectors and blocks. */
Test(kernels, argmax_ties, .timeout = 120)
{
    static const int64_t Vs[] = {2, 9, 17, 40, 129, 600, 1100, 2100, 9000, 12289};
    test_rng rng = test_rng_for("argmax_ties");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int rep = 0; rep < 3; rep++) {
            kcase c = random_case(&rng, rng_range(&rng, 4, 12), Vs[i]);
            c.dist = D_INT;
            c.ignore = 0.0;
            failures += run_case("argmax_ties", n++, &c, &rng);
        }
    /* Rows of equal values (argmax 0), and rows whose max is repeated, the last copy at V−1. */
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++) {
        for (int pattern = 1; pattern <= 2; pattern++) {
            kcase c = random_case(&rng, 3, Vs[i]);
            c.pattern = pattern;
            c.dist = D_NORMAL;
            c.ninf = 0.0;
            c.ignore = 0.0;
            failures += run_case("argmax_ties", n++, &c, &rng);
        }
    }
    FINISH("argmax_ties", failures);
}

/* Rows of several stats chunks: −inf chunks, chunks far below the max (their weight underflows
 * fp32), the max in the last chunk, and V > 64 chunks (the forward path merges groups). */
Test(kernels, chunks, .timeout = 120)
{
    static const int64_t Vs[] = {4097, 8193, 12288, 20000, 262145, 266241, 300000};
    test_rng rng = test_rng_for("chunks");
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof Vs / sizeof Vs[0]; i++)
        for (int pattern = 0; pattern <= 5; pattern++) {
            if (Vs[i] > 100000 && pattern == 1)
                continue;
            kcase c = random_case(&rng, Vs[i] > 100000 ? 1 : 3, Vs[i]);
            c.pattern = pattern;
            c.dist = (dist_kind)(pattern % D_COUNT);
            if (Vs[i] > 100000)
                c.inplace = 0;
            failures += run_case("chunks", n++, &c, &rng);
        }
    FINISH("chunks", failures);
}

/*
 * lsce.h's stated accuracy on a confident row (ε = 0, target = argmax by a margin of 12 and 40):
 * the loss is log d ≈ (V−1)·e^−margin and every gradient element is O(e^−margin), while the
 * computed d keeps an absolute error ~1e−7..1e−6 (fp32 lane sums holding the 1 = e^0 term). The
 * header's forms allow exactly that: |Δloss| ≤ 2.6e−6·A + 1.3e−6·|loss| (A = 1 here) and
 * |Δgrad_c| ≤ 2.6e−6·(max_c |G_c| + |g|·q_y) (g = 1, q_y = 1 here). A relative-only claim fails.
 */
Test(kernels, header_claims_confident_row)
{
    const int64_t V = 4096;
    float *x = malloc(sizeof(float) * V);
    double *G = malloc(sizeof(double) * V);
    float *g = malloc(sizeof(float) * V);
    cr_assert(x && G && g);
    int bad = 0;
    static const float margins[] = {12.0f, 40.0f}; /* SIMD fails from ~8, scalar from ~30 */
    for (int mi = 0; mi < 2; mi++) {
        for (int64_t c = 0; c < V; c++)
            x[c] = -margins[mi] + 0.001f * (float)(c % 7);
        x[0] = 0.0f;
        const int64_t y = 0;
        lsce_options o;
        lsce_options_default(&o);
        o.reduction = LSCE_REDUCTION_SUM;
        oracle_row want;
        oracle_eval_row(&o, V, x, y, &want, G);
        for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
            if (!lsce_isa_supported((lsce_isa)isa))
                continue;
            o.isa = (lsce_isa)isa;
            float loss;
            cr_assert_eq(lsce_forward_backward(&o, 1, V, x, V, &y, NULL, g, V, &loss, NULL, NULL),
                         LSCE_OK);
            double max_G = 0, max_err = 0;
            for (int64_t c = 0; c < V; c++) {
                max_G = fmax(max_G, fabs(G[c]));
                max_err = fmax(max_err, fabs(g[c] - G[c]));
            }
            const double loss_rel = fabs(loss - want.loss) / fabs(want.loss);
            fprintf(stderr,
                    "margin %g %-7s loss %.9g want %.17g (rel %.3g), grad max err %.3g "
                    "(max|G| %.3g)\n",
                    (double)margins[mi], lsce_isa_to_string((lsce_isa)isa), (double)loss,
                    want.loss, loss_rel, max_err, max_G);
            bad += fabs(loss - want.loss) > 2.6e-6 * 1.0 + 1.3e-6 * fabs(want.loss) ||
                   max_err > 2.6e-6 * (max_G + 1.0);
        }
    }
    free(x);
    free(G);
    free(g);
    cr_assert_eq(bad, 0, "%d (margin, variant) pairs outside lsce.h's stated bounds", bad);
}
