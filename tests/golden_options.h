/*
 * Golden vectors of the objective options (issue #3) from PyTorch
 * (tests/gen_golden_options.py → tests/golden_options/golden.bin): the reader and the checker used
 * by tests/golden_options_check.c (plain C: builds without Criterion). The entry points are run
 * through golden.c's golden_call; the tolerances are derived at the top of
 * golden_options_bounds.c (the reduced ones at the top of golden_options.c).
 */
#ifndef LSCE_TESTS_GOLDEN_OPTIONS_H
#define LSCE_TESTS_GOLDEN_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "golden.h"
#include "lsce.h"

enum {
    GOPT_FLAG_ALL_IGNORED_MEAN = 1,  /* every row ignored with mean: PyTorch NaN, lsce.h 0 */
    GOPT_FLAG_TORCH_CROSS_ENTROPY = 2, /* F.cross_entropy(weight=...) itself */
    GOPT_FLAG_ZERO_DENOMINATOR = 4,  /* mean, kept rows, D = 0: PyTorch NaN / inf, lsce.h 0 */
    GOPT_FLAG_ZERO_LOG_ZERO = 8,     /* explicit 0·log 0 = 0 where PyTorch gives NaN */
    GOPT_FLAG_WEIGHTED_Z_MEAN = 16   /* z-loss with class weights and mean: lsce.h's D-normalised
                                        z term (Liger-Kernel divides it by the kept-row count) */
};

typedef struct gopt_case {
    /* name, rows, vocab, opts (every option, the arrays below included), n_grad_output, flags,
     * logits, targets, grad_output, loss, row_loss, row_nll (of t), row_lse (of t), row_argmax
     * (of t; −1: the fp32 t may tie or swap the top two, either answer is accepted), grad. */
    golden_case base;
    float *class_weight, *prior, *row_weight; /* NULL when absent (opts points at them) */
    double z_sum;       /* Σ over kept rows of ρ·z·lse² */
    double denominator; /* D = Σ over kept rows of ρ_r·w_{y_r} */
} gopt_case;

typedef struct gopt_set {
    gopt_case *cases;
    int64_t n;
} gopt_set;

/* $LSCE_GOLDEN_OPTIONS_DIR, else the compile-time GOLDEN_OPTIONS_DIR. */
const char *gopt_dir(void);

/* Reads <dir>/golden.bin. 0 on success; on failure a message in err. */
int gopt_load(const char *dir, gopt_set *set, char *err, size_t err_size);
void gopt_free(gopt_set *set);

/* Runs one entry point with one variant on one case and compares every output (tolerances:
 * golden_options_bounds.c, golden_options.c). Returns the number of failed checks; each is
 * reported through fail (may be NULL), at most max_reports per call. *compared (may be NULL)
 * gets the number of values compared. */
int gopt_check(const gopt_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
               void *ctx, int max_reports, long *compared);

/* Whether the file covers what tests/gen_golden_options.py promises (every V with class weights,
 * every reduction, every flag, every option, all at once, grad_output kinds). Returns the number
 * of gaps, each reported through fail. */
int gopt_coverage(const gopt_set *set, golden_fail_fn fail, void *ctx);

/* Largest |got − want| / tolerance per quantity over every gopt_check so far, and where. */
enum {
    GOPT_QTY_LOSS,
    GOPT_QTY_NLL,
    GOPT_QTY_Z_SUM,
    GOPT_QTY_ROW_LOSS,
    GOPT_QTY_ROW_LSE,
    GOPT_QTY_GRAD,
    GOPT_QTY_COUNT_
};
extern const char *const gopt_qty_names[GOPT_QTY_COUNT_];
typedef struct gopt_worst {
    double ratio;
    char where[160]; /* case [isa, entry] row col */
} gopt_worst;
extern gopt_worst gopt_worst_ratio[GOPT_QTY_COUNT_];

/* Prints one line per quantity: the worst ratio and where it occurred. */
void gopt_report(FILE *out);

#endif
