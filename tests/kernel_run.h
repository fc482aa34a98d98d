/*
 * Running a test_kernels case (tests/kernel_cases.h) on every variant this CPU runs, through the
 * three entry points, with its checking context: the data and their pristine copies, the oracle
 * and the per-row facts the tolerances use (tests/kernel_bounds.h), failures printed with the case
 * that produced them, and the lsce.h claim statistics reported at the end of each test.
 */
#ifndef LSCE_TESTS_KERNEL_RUN_H
#define LSCE_TESTS_KERNEL_RUN_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "kernel_cases.h"
#include "lsce.h"
#include "oracle.h"

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
extern claim_stats g_claims[LSCE_ISA_COUNT_];

/* Prints the case of x to stderr (once, before its first failure). */
void describe_case(const ctx *x);

/* One failed check of case x: counted; the first 12 printed to stderr, after the case. */
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

/* Runs one case on every supported variant; returns its number of failures. */
int run_case(const char *test, int case_no, const kcase *kc, test_rng *rng);

/* The lsce.h claim statistics of this test, one line per variant, to stderr. */
void report_claims(const char *test);

/* The random stream of a test: LSCE_TEST_SEED and the test's name. */
test_rng test_rng_for(const char *name);

/* The end of every case-running test: its claim statistics, then no failed check (Criterion). */
#define FINISH(name, failures)                                                                     \
    do {                                                                                           \
        report_claims(name);                                                                       \
        cr_assert_eq((failures), 0, "%d failed checks (details on stderr; LSCE_TEST_SEED=0x%" PRIx64 ")", \
                     (failures), test_seed());                                                     \
    } while (0)

#endif /* LSCE_TESTS_KERNEL_RUN_H */
