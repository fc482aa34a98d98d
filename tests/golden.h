/*
 * Golden vectors from PyTorch (tests/gen_golden.py → tests/golden/golden.bin): the reader and the
 * checker shared by the Criterion suite (tests/test_golden.c) and the Criterion-free runner
 * (tests/golden_check.c, for cross builds without Criterion).
 */
#ifndef LSCE_TESTS_GOLDEN_H
#define LSCE_TESTS_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "lsce.h"

enum {
    GOLDEN_FLAG_ALL_IGNORED_MEAN = 1, /* PyTorch's loss is NaN here; lsce documents 0 */
    GOLDEN_FLAG_TORCH_CROSS_ENTROPY = 2 /* computed by F.cross_entropy itself */
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
} golden_case;

typedef struct golden_set {
    golden_case *cases;
    int64_t n;
} golden_set;

/* The golden directory: $LSCE_GOLDEN_DIR, else the compile-time GOLDEN_DIR. */
const char *golden_dir(void);

/* Reads <dir>/golden.bin. Returns 0 on success; on failure writes a message into err. */
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
 * At most max_reports failures are reported per call (the count is still complete). */
int golden_check(const golden_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
                 void *ctx, int max_reports);

/* The largest |got − want| / tolerance seen so far per checked quantity (how much margin the
 * tolerances leave): loss, nll mean, row_loss, row_lse, gradient. */
enum { GOLDEN_QTY_COUNT_ = 5 };
extern const char *const golden_qty_names[GOLDEN_QTY_COUNT_];
extern double golden_worst_ratio[GOLDEN_QTY_COUNT_];

#endif
