/*
 * The harness of the bf16 / fp16 suite (tests/test_dtypes.c: what is checked and the tolerances):
 * variants, guarded buffers, per-test statistics, random cases and their data
 * (tests/dtype_harness.c), and the run of a case through every variant, entry point and gradient
 * dtype with every check (tests/dtype_checks.c).
 */
#ifndef LSCE_TESTS_DTYPE_HARNESS_H
#define LSCE_TESTS_DTYPE_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bounds.h"
#include "half_ref.h"
#include "internal.h" /* lsce_kernels_all, lsce_forward_backward_with: the alternative tables */
#include "oracle.h"

#define F32 LSCE_DTYPE_F32
#define BF16 LSCE_DTYPE_BF16
#define F16 LSCE_DTYPE_F16
#define N_DT 3
#define FLUSH 0x1.0p-126
#define SUBN 0x1.0p-149
#define STREAM_BYTES ((int64_t)4 << 20) /* src/lsce.c LSCE_STREAM_MIN_BYTES */
#define GUARD 128                       /* guard bytes before and after every buffer */
#define GUARD_BYTE 0xA5

extern const char *const dt_name[N_DT]; /* "f32", "bf16", "f16" */
static inline size_t dt_size(lsce_dtype d) { return d == F32 ? 4 : 2; }

/* ---- values of any dtype ------------------------------------------------------------------- */

static inline uint32_t elem_bits(const void *p, lsce_dtype d, int64_t i)
{
    if (d == F32) {
        uint32_t u;
        memcpy(&u, (const char *)p + 4 * i, 4);
        return u;
    }
    uint16_t h;
    memcpy(&h, (const char *)p + 2 * i, 2);
    return h;
}

static inline double bits_value(uint32_t bits, lsce_dtype d)
{
    return d == F32 ? (double)ref_bits_f32(bits) : ref_decode((uint16_t)bits, d);
}

static inline int bits_quiet_nan(uint32_t bits, lsce_dtype d)
{
    return d == F32 ? isnan(ref_bits_f32(bits)) && (bits & 0x400000u)
                    : ref_is_quiet_nan16((uint16_t)bits, d);
}

/* The correctly rounded value of a double in dtype d, as bits. */
static inline uint32_t round_bits(double v, lsce_dtype d)
{
    return d == F32 ? ref_f32_bits((float)v) : ref_f64_to_16(v, d);
}

/* fp32 → dtype d, rounded once (half_ref.h); the identity for f32. */
static inline uint32_t from_f32_bits(float v, lsce_dtype d)
{
    return d == F32 ? ref_f32_bits(v) : ref_f32_to_16(v, d);
}

static inline int64_t ordinal(uint32_t bits, lsce_dtype d)
{
    if (d == F32) {
        const int64_t m = bits & 0x7fffffffu;
        return (bits & 0x80000000u) ? -m : m;
    }
    return ref_ordinal((uint16_t)bits);
}

static inline double ulp_of(double v, lsce_dtype d)
{
    if (d != F32)
        return ref_ulp(v, d);
    const double a = fabs(v);
    int e = isinf(a) || a < 0x1p-1000 ? -126 : ref_exponent(a);
    if (e > 127)
        e = 127;
    if (e < -126)
        e = -126;
    return ref_pow2(e - 23);
}

/* ---- variants -------------------------------------------------------------------------------
 * Every variant the public API dispatches to (opts.isa over LSCE_ISA_SCALAR .. LSCE_ISA_COUNT_ − 1
 * where lsce_isa_supported), then every other kernel table this CPU runs (lsce_kernels_all: e.g.
 * AVX-512 with integer bf16 rounding where the dispatched AVX-512 table stores bf16 with
 * AVX512-BF16), which only lsce_forward_backward_with reaches: fused calls only. */

#define MAX_VARIANTS 8

typedef struct variant {
    char name[40];
    lsce_isa isa;
    const lsce_kernels *table; /* NULL: the public entry points with opts.isa */
} variant;

extern variant g_var[MAX_VARIANTS];
extern int g_nvar;

/* Fills g_var once per process. */
void init_variants(void);

/* lsce_forward_backward, or lsce_forward_backward_with for an alternative table. */
lsce_status call_fused(const variant *v, const lsce_options *o, int64_t rows, int64_t V,
                       const void *logits, int64_t lstride, const int64_t *targets,
                       const float *go, void *grad, int64_t gstride, float *row_loss,
                       float *row_lse, lsce_result *res);

/* ---- guarded buffers ------------------------------------------------------------------------ */

typedef struct gbuf {
    unsigned char *raw;
    size_t raw_bytes, pre, bytes;
    unsigned char *p;
} gbuf;

/* bytes of payload at off_bytes past a 64-byte boundary, GUARD bytes of GUARD_BYTE around. */
void *gbuf_alloc(gbuf *b, size_t bytes, size_t off_bytes);
void gbuf_free(gbuf *b);
size_t matrix_elems(int64_t rows, int64_t V, int64_t stride);
/* Guards and the padding between rows (stride > V) still GUARD_BYTE? */
int gbuf_untouched(const gbuf *b, int64_t rows, int64_t V, int64_t stride, size_t esize);

/* ---- statistics printed per test ------------------------------------------------------------ */

typedef struct gstat {
    long n;                 /* gradient elements of finite kept rows compared with the oracle */
    long exact, within1;    /* ordinal distance 0, ≤ 1 from the correctly rounded oracle value */
    double max_rowulp;      /* |got − G| in ulps of the row's largest |G| (the bound's scale) */
    double max_headroom;    /* fp32: |got − G|/B; 16 bit: (|got − G| − ulp(G)/2)/B: the share of
                             * the fp32 bound used (beyond the final rounding) */
    long n_precise;         /* elements whose fp32 bound is ≤ ulp(G)/4 */
    int64_t max_dist_precise;
    double max_ulp_precise; /* |got − G| / ulp(G) over those */
    long bit_checked, bit_bad; /* against the rounding of the variant's fp32 output */
    long target_n[2];       /* target elements of p_y → 1 rows: fused, backward */
    int64_t target_max_dist[2];
    long masked_n, masked_double_rounding; /* −inf entries; fl16(fl32(v)) ≠ fl16(v) */
    long n_subnormal, n_inf; /* outputs that are subnormal / ±inf in the output dtype */
} gstat;

extern gstat g_stat[MAX_VARIANTS][N_DT][N_DT];
extern double g_loss_rel[MAX_VARIANTS][N_DT];       /* worst relative error, reduced loss / nll */
extern double g_loss_rel_small[MAX_VARIANTS][N_DT]; /* the same where the mean row value < 0.5 */

/* Prints this process's statistics (one Criterion test) to stderr. */
void report(const char *test);

/* ---- cases ---------------------------------------------------------------------------------- */

typedef enum dist_kind { D_NORMAL = 0, D_SPREAD, D_OFFSET, D_INT, D_CONFIDENT, D_COUNT } dist_kind;
extern const char *const dist_names[D_COUNT];

typedef struct dcase {
    int64_t rows, V, lstride, gstride; /* strides in elements */
    int loff, goff, ooff;              /* elements past 64-byte alignment: logits, grad, rows */
    lsce_dtype ld;                     /* logits dtype (every gradient dtype is run) */
    dist_kind dist;
    double k;
    double ninf;        /* probability of a −inf logit (never a whole row unless special) */
    int target_ninf;    /* the target may be −inf */
    double ignore;      /* probability of an ignored row */
    int special;        /* rows cycle: NaN (signalling bits), NaN target, +inf, all −inf, −inf target */
    double p_target;    /* > 0: confident rows, p_y ≈ p_target */
    int layout;         /* confident rows: 0 others ≈ 0, target high; 1 target 0, others low */
    int pattern;        /* chunk and sign patterns (see apply_pattern) */
    lsce_options opts;
    int go;             /* 0: NULL; 1: N(0, 3²), 10 % zeros; 2: go_value (every entry) */
    double go_value;
    int inplace;        /* also run in place (matching dtypes) */
    int strict_target;  /* bit 0: fused target within 1 ulp of round16(G_y); bit 1: backward */
    int rel_loss;       /* check the reduced loss and nll within 1e-5 relative */
} dcase;

/* A random case: distribution, options, reductions, grad_output; strides = V, aligned. */
dcase random_case(test_rng *rng, int64_t rows, int64_t V, lsce_dtype ld);

/* ---- per-case context ----------------------------------------------------------------------- */

typedef struct ctx {
    const char *test;
    int case_no;
    const dcase *kc;
    gbuf logits;                 /* ld, strided; guards and padding hold NaN */
    unsigned char *logits_copy;  /* logits.raw pristine */
    float *xu;                   /* rows × V dense: the exact fp32 upcast of the logits */
    int64_t *targets, *targets_copy;
    float *go;
    int64_t n_go;
    oracle_batch ob;             /* on xu */
    double *gmax;                /* per row: max |G_c| */
    int *nan_row;
    double a, b, A;
    int failures, printed;
} ctx;

/* Prints the case (and the seed) once, before its first failure. */
void describe_case(const ctx *x);

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

/* Draws the logits (rounded to the case's dtype), targets and grad_output of a case. */
void make_data(ctx *x, test_rng *rng);
/* The double oracle on the upcast logits, the weights, max |G| per row, NaN rows. */
void compute_oracle(ctx *x);

static inline int kept(const ctx *x, int64_t r)
{
    return x->targets[r] != x->kc->opts.ignore_index;
}

/* Runs one case on every variant; returns its number of failures. */
int run_case(const char *test, int case_no, const dcase *kc, test_rng *rng);

/* The test's random stream: the suite's seed and the test's name. */
test_rng test_rng_for(const char *name);

#define FINISH(name, failures)                                                                     \
    do {                                                                                           \
        const int finish_failures_ = (failures);                                                   \
        report(name);                                                                              \
        cr_assert_eq(finish_failures_, 0,                                                          \
                     "%d failed checks (details on stderr; LSCE_TEST_SEED=0x%" PRIx64 ")",         \
                     finish_failures_, test_seed());                                               \
    } while (0)

#endif /* LSCE_TESTS_DTYPE_HARNESS_H */
