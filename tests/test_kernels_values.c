/*
 * test_kernels, values and options: every convention × ε × kl × reduction × grad_output,
 * ignore_index inside and outside [0, V), −inf / NaN / +inf logits, argmax ties, and rows of
 * several stats chunks. Every case runs on every variant (tests/kernel_run.h) and is checked
 * against the bounds derived in tests/test_kernels.c.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel_cases.h"
#include "kernel_run.h"
#include "lsce.h"
#include "oracle.h"

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
