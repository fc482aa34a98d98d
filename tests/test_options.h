/*
 * The harness of the objective-options suite (test_options): a case (shape, strides, alignment,
 * dtypes, logit distribution, options and their arrays), its guarded buffers, its run through
 * every variant and entry point (tests/test_options_run.c), and the bounds and checks derived in
 * tests/test_options_bounds.c (the TOLERANCES comment there).
 *
 *   tests/test_options.c          the tests: each option alone, everything at once, shapes, 16-bit
 *   tests/test_options_invalid.c  invalid values: LSCE_ERR_OPTION / LSCE_ERR_NULL, nothing written
 *   tests/test_options_oracle.c   the oracle's own checks (finite differences, identities)
 *   tests/test_options_softcap.c  the fp32 t and chain rule of softcap, measured densely
 *   tests/test_options_run.c      cases, buffers, running every variant and entry point
 *   tests/test_options_bounds.c   the tolerances (derivation) and the checks that assert them
 *   tests/options_oracle.{h,c}    the double oracle
 */
#ifndef LSCE_TESTS_TEST_OPTIONS_H
#define LSCE_TESTS_TEST_OPTIONS_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lsce.h"
#include "options_oracle.h"
#include "oracle.h"

/* ---- guarded buffers (any element size) ------------------------------------------------------ */

#define OGUARD 128         /* guard bytes before and after every buffer */
#define OGUARD_BYTE 0xA5

typedef struct gmem {
    unsigned char *raw;
    size_t raw_bytes, pre, bytes;
    void *p;
} gmem;

/* `bytes` of payload `offset` bytes past 64-byte alignment, guards and payload = fill. */
void *gm_alloc(gmem *g, size_t bytes, size_t offset, unsigned char fill);
void gm_free(gmem *g);
/* Guard bytes intact, and (rows > 1) the padding between rows of a strided matrix. */
int gm_untouched(const gmem *g, int64_t rows, int64_t V, int64_t stride, size_t elem,
                 unsigned char fill);

static inline size_t dt_bytes(lsce_dtype d) { return d == LSCE_DTYPE_F32 ? 4 : 2; }
static inline size_t mat_elems(int64_t rows, int64_t V, int64_t stride)
{
    return rows > 0 ? (size_t)((rows - 1) * stride + V) : 0;
}
/* Element i of a dtype-d array as a double (16-bit decoded exactly). */
double elem_value(const void *p, lsce_dtype d, size_t i);

/* ---- cases -------------------------------------------------------------------------------- */

typedef enum odist {
    O_NORMAL = 0, /* k·N(0, 1) */
    O_SPREAD,     /* uniform in [−200, 200] */
    O_OFFSET,     /* 1e4 + min(k, 4)·N(0, 1) */
    O_INT,        /* round(2·N(0, 1)): ties */
    O_CONFIDENT,  /* N(0, 1), the target raised by 8..40 */
    O_LSE_EDGE,   /* one logit x0 ∈ [8e3, 1.2e4], the others x0 − (7..9)/s: lse ≈ t_max, whose
                   * fp32 rounding (and that of t = s·x) shows in full */
    O_DIST_COUNT
} odist;

typedef struct ocase {
    int64_t rows, V, lstride, gstride;
    int loff, goff, ooff;   /* elements past 64-byte alignment: logits, grad, row outputs */
    lsce_dtype ldt, gdt;
    odist dist;
    double k;
    double ninf;            /* probability of a −inf logit (only where ω_c = 0, or with softcap) */
    double ignore;          /* probability of an ignored row */
    int sat;                /* softcap: some logits ±1e4·c, ±1e30, ±3e38, ±inf */
    int cw, prior, rw;      /* 0: NULL; 1: random arrays; prior 2: u = 1/V (rounded to fp32) */
    double cw_zero, prior_zero, rw_zero; /* fraction of zero entries */
    int cw_ninf;            /* −inf logits at every zero-weight class (and the target's, if 0) */
    int go;                 /* 0: grad_output NULL; 1: random (10% zeros) */
    int inplace;            /* also in place (when ldt == gdt) */
    lsce_options opts;      /* the scalar options; the arrays are the runner's */
} ocase;

/* Every option at its default, shape rows × V (strides V, aligned, f32). */
ocase base_case(int64_t rows, int64_t V);
/* Random layout (strides, offsets), distribution, ignored rows and grad_output. */
void randomize_layout(test_rng *rng, ocase *c);
/* Random options: every objective option on with probability ~1/2 (prior only with uniform). */
void randomize_options(test_rng *rng, ocase *c);
/* Short description, for failure messages. */
void describe(const ocase *c, char *buf, size_t n);

/* What run_case can hand back for cross-case comparisons: the fused call of one variant. */
typedef struct ocap {
    double *row_loss, *row_loss_tol; /* rows */
    double *grad, *grad_tol;         /* rows × V dense */
    double loss, loss_tol;           /* result.loss */
} ocap;
void ocap_free(ocap *c);

/* Runs one case on every supported variant through every entry point; returns the number of
 * failed checks (details on stderr). cap (optional): LSCE_ISA_COUNT_ entries, [isa] filled for
 * every variant that runs. */
int run_case(const char *test, int case_no, const ocase *kc, test_rng *rng, ocap *cap);

/* The random stream of a test: LSCE_TEST_SEED and the test's name. */
test_rng rng_for(const char *name);

/* ---- the checking context ------------------------------------------------------------------ */

typedef struct octx {
    const char *test;
    int case_no;
    const ocase *kc;
    lsce_options o;          /* kc->opts with the arrays below */
    float *cw, *prior, *rw;  /* class weights, prior, row weights (or NULL) */
    gmem logits;             /* storage dtype; guards and padding 0xFF (NaN in every dtype) */
    unsigned char *logits_copy;
    int64_t *targets, *targets_copy;
    float *go;
    double *x;               /* rows × V: the logits as doubles */
    oopt_batch ob;           /* the oracle (detail on) */
    /* per kept row (variant-independent), from test_options_bounds.c */
    double *tau;             /* rows × V: bound on |t̂_c − t_c| (the fp32 t) */
    double *lam, *dd, *et, *dlse_f, *tol_L, *tol_lse, *tol_nll, *tol_z, *tol_conf;
    int *amb;                /* argmax ambiguous within the t bounds */
    int64_t correct_lo, correct_hi;
    int failures, printed;
} octx;

/* One failed check: counted; the first 10 of a case printed (after the case). */
void ofail(octx *x, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- bounds and checks (test_options_bounds.c) --------------------------------------------- */

enum { Q_LOSS_ROW, Q_LOSS, Q_LSE, Q_NLL, Q_Z, Q_GRAD, Q_GRAD_BWD, Q_CONF, Q_COUNT };
extern const char *const q_names[Q_COUNT];
/* Worst |error| / bound per variant and quantity in this process (one Criterion test). */
extern double g_worst[LSCE_ISA_COUNT_][Q_COUNT];
extern char g_worst_where[LSCE_ISA_COUNT_][Q_COUNT][160];

/* (T): the bound on |t̂ − t| of one logit x (t = its double t). */
double tau_bound(const lsce_options *o, double x, double t);
void bounds_prepare(octx *x);
void bounds_free(octx *x);
void check_forward(octx *x, lsce_isa isa, const char *entry, const float *row_loss,
                   const float *row_lse, const lsce_result *res);
/* lse_in: NULL for the fused gradient, else the row_lse lsce_backward was given. */
void check_grad(octx *x, lsce_isa isa, const char *entry, const void *grad, int64_t stride,
                const float *lse_in);
/* got = the bins' increase over one call (B bins). */
void check_bins(octx *x, lsce_isa isa, const char *entry, const lsce_calibration_bin *got);
/* The V gradient bounds of kept finite row r (lse_in as check_grad), a row loss's, the result's. */
void grad_bounds_row(const octx *x, int64_t r, const float *lse_in, double *tol);
double row_loss_bound(const octx *x, int64_t r);
double result_loss_bound(const octx *x);

/* Prints the worst ratios of this test, one line per variant. */
void report_worst(const char *test);

#define OFINISH(name, failures)                                                                    \
    do {                                                                                           \
        report_worst(name);                                                                        \
        cr_assert_eq((failures), 0, "%d failed checks (details on stderr; LSCE_TEST_SEED=0x%" PRIx64 ")", \
                     (failures), test_seed());                                                     \
    } while (0)

#endif /* LSCE_TESTS_TEST_OPTIONS_H */
