/*
 * Golden vectors from PyTorch (tests/gen_golden.py → tests/golden/golden.bin): the reader and the
 * checker shared by the Criterion suite (tests/test_golden.c) and the Criterion-free runner
 * (tests/golden_check.c, for cross builds without Criterion), and the pieces the checkers of
 * tests/golden_half.c and tests/golden_options.c share (bottom of this file). The reader also reads version 2,
 * the 16-bit-logits vectors of tests/gen_golden_half.py (tests/golden_half/, checked by
 * tests/golden_half.c).
 */
#ifndef LSCE_TESTS_GOLDEN_H
#define LSCE_TESTS_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "lsce.h"

enum {
    GOLDEN_FLAG_ALL_IGNORED_MEAN = 1, /* PyTorch's loss is NaN here; lsce documents 0 */
    GOLDEN_FLAG_TORCH_CROSS_ENTROPY = 2, /* computed by F.cross_entropy itself */
    GOLDEN_FLAG_CONVERSION_TABLE = 4 /* version 2: PyTorch's conversions only, no library call */
};

typedef struct golden_case {
    char name[49];
    int64_t rows, vocab;
    lsce_options opts;     /* smoothing, convention, kl, ignore_index, reduction from the file */
    int64_t n_grad_output; /* 0 (NULL), 1 (scalar) or rows (reduction none) */
    int64_t flags;
    float *logits;         /* rows × vocab */
    int64_t *targets;      /* rows */
    float *grad_output;    /* n_grad_output values, NULL when 0 */
    double loss;           /* reduced loss (none: Σ row losses) */
    double *row_loss, *row_nll, *row_lse; /* rows each (nll 0 for ignored rows) */
    int64_t *row_argmax;   /* torch.argmax of the fp32 row */
    double *grad;          /* rows × vocab */
    /* Version 2 (16-bit logits). `logits` then holds the fp32 values before PyTorch rounded them
     * to logits16, and every output above is that of the exact upcast of logits16. */
    lsce_dtype logits_dtype; /* f32 for version 1 */
    uint16_t *logits16;      /* rows × vocab: x.to(torch.bfloat16 / float16), NULL in version 1 */
    uint16_t *grad_bf16;     /* rows × vocab: PyTorch's grad.to(torch.bfloat16) */
    uint16_t *grad_f16;      /* rows × vocab: PyTorch's grad.to(torch.float16) */
} golden_case;

typedef struct golden_set {
    golden_case *cases;
    int64_t n;
} golden_set;

/* The golden directory: $LSCE_GOLDEN_DIR, else the compile-time GOLDEN_DIR. */
const char *golden_dir(void);

/* Reads <dir>/golden.bin (version 1 or 2). Returns 0 on success; on failure writes a message into
 * err. */
int golden_load(const char *dir, golden_set *set, char *err, size_t err_size);
void golden_free(golden_set *set);

/* The entry points checked against a case. */
typedef enum golden_entry {
    GOLDEN_FUSED = 0,    /* lsce_forward_backward (grad, row_loss, row_lse, result) */
    GOLDEN_FUSED_IN_PLACE, /* the same with grad == logits (a copy) */
    GOLDEN_FORWARD,      /* lsce_forward (row_loss, row_lse, result) */
    GOLDEN_BACKWARD,     /* lsce_backward from the row_lse saved by lsce_forward */
    GOLDEN_ENTRY_COUNT_
} golden_entry;

const char *golden_entry_name(golden_entry e);

/* Called once per failed check with a one-line description. */
typedef void (*golden_fail_fn)(void *ctx, const char *message);

/* Runs one entry point with one variant on one case and compares every output. Returns the
 * number of failed checks (0: pass); each failure is reported through fail (which may be NULL).
 * At most max_reports failures are reported per call (the count is still complete). fp32-logits
 * (version 1) cases only: tests/golden_half.h checks the others. */
int golden_check(const golden_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
                 void *ctx, int max_reports);

/* The largest |got − want| / tolerance seen so far per checked quantity (how much margin the
 * tolerances leave): loss, nll mean, row_loss, row_lse, gradient. */
enum { GOLDEN_QTY_COUNT_ = 5 };
extern const char *const golden_qty_names[GOLDEN_QTY_COUNT_];
extern double golden_worst_ratio[GOLDEN_QTY_COUNT_];

/* The smoothing weights of a case (q_y = a, q_c = b, A = Σ q) and the gradient scale of row r
 * (grad_output, / n_kept for mean), as lsce.h defines them. */
void golden_weights(const golden_case *c, double *a, double *b, double *A);
double golden_row_scale(const golden_case *c, int64_t r, int64_t n_kept);

/* max |grad| over the finite golden gradient values of row r (0 if none): bound_grad's max |G|. */
double golden_grad_max(const golden_case *c, int64_t r);

/* The outputs an entry point writes. */
typedef struct golden_outputs {
    int grad, rows, result;
} golden_outputs;

/* Calls `entry` on a case's prepared buffers (rows of stride ld elements; the in-place entry
 * first copies the logits_bytes of logits into grad). Returns the library's status, or −1 for an
 * unknown entry; *out says which outputs the entry wrote. */
int golden_call(golden_entry entry, const lsce_options *o, const golden_case *c, int64_t ld,
                const void *logits, size_t logits_bytes, void *grad, float *row_loss,
                float *row_lse, lsce_result *res, golden_outputs *out);

/* What a case's outputs are checked against, from the golden data: the smoothing weights
 * (golden_weights), the kept rows and those whose reference argmax is the target, and over the
 * kept rows Σ row_nll and the bounds.h tolerances of the reduced loss and nll, Σ
 * bound_row_loss(row_loss, A) and Σ bound_row_loss(row_nll, 1). */
typedef struct golden_reference {
    double a, b, A;
    int64_t n_kept, n_correct;
    double loss_tol, nll_tol, nll_sum;
} golden_reference;

void golden_reference_of(const golden_case *c, golden_reference *ref);

/* ---- shared by the checkers (tests/golden.c, golden_half.c, golden_options.c) -------------- */

/* Failures of one run: counted, and the first max_reports reported through fail (may be NULL)
 * as "<prefix>: <message>" (the prefix names the case and the run, e.g. "name [isa, entry]"). */
typedef struct golden_reporter {
    golden_fail_fn fail;
    void *ctx;
    int failures, max_reports;
    char prefix[160];
} golden_reporter;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void golden_failf(golden_reporter *k, const char *fmt, ...);

/* An fp32-logits run of one entry point: the case's logits in rows of stride ld = vocab + 5 (the
 * padding NaN: a sweep reading past V would poison its row), the gradient and row outputs
 * prefilled with GOLDEN_GUARD, res with 0xA5 bytes. */
#define GOLDEN_GUARD (-12345.75f)
typedef struct golden_run {
    int64_t ld;
    float *logits, *grad, *row_loss, *row_lse;
    lsce_result res;
    golden_outputs written;
} golden_run;

/* Runs entry with options o (the isa included) on c. Returns 0; or reports "out of memory",
 * "bad entry" or the status through k and returns −1. Free with golden_run_free either way. */
int golden_run_f32(golden_run *run, golden_entry entry, const lsce_options *o,
                   const golden_case *c, golden_reporter *k);
void golden_run_free(golden_run *run);

/* Row r of the run's gradient: its stride padding must be untouched (the guard, or the logits'
 * NaN padding in place); reports the first overwritten column. */
void golden_check_padding(golden_reporter *k, const golden_run *run, golden_entry entry,
                          int64_t vocab, int64_t r);

/* Row r of a gradient g (V values) must be 0: reports the first other value as "<what> row r
 * col j is x<tail>". */
void golden_check_zero_row(golden_reporter *k, const float *g, int64_t V, int64_t r,
                           const char *what, const char *tail);

/* The Criterion-free checkers' mains: prints "FAIL <message>" to stderr. */
void golden_print_fail(void *ctx, const char *message);

/* Every variant this CPU runs × every entry point × cases 0..n−1 through check (0: pass); prints
 * "<isa> <n> cases x 4 entry points: <failed> failed" per variant. Adds to *passed, returns the
 * number failed. */
long golden_each_variant(int64_t n, int (*check)(void *arg, int64_t i, lsce_isa isa,
                                                 golden_entry entry),
                         void *arg, long *passed);

#endif
