/*
 * The PyTorch golden vectors of the objective options (tests/golden_options/, issue #3), plain C
 * (cross builds have no Criterion): every case × every variant this CPU runs × every entry point
 * (lsce_forward_backward, the same in place, lsce_forward, lsce_backward from the saved row_lse).
 * Prints failures, a line per variant, the worst |error| / tolerance per quantity and where, and a
 * closing summary "golden_options_check: N runs (M values compared), worst error/bound R (qty);
 * N passed, N failed"; exits non-zero on any failure.
 * Usage: golden_options_check [dir] (default $LSCE_GOLDEN_OPTIONS_DIR, else the source tree's
 * tests/golden_options).
 */
#include <stdio.h>
#include <string.h>

#include "golden_options.h"

typedef struct fail_ctx {
    long option_unsupported; /* LSCE_ERR_OPTION: the options are not implemented yet */
} fail_ctx;

static void print_fail(void *ctx, const char *message)
{
    fail_ctx *f = ctx;
    if (strstr(message, "status 4 "))
        f->option_unsupported++;
    golden_print_fail(NULL, message);
}

typedef struct run_ctx {
    const gopt_set *set;
    fail_ctx *fails;
    long compared;
} run_ctx;

static int check(void *arg, int64_t i, lsce_isa isa, golden_entry entry)
{
    run_ctx *rc = arg;
    return gopt_check(&rc->set->cases[i], isa, entry, print_fail, rc->fails, 5, &rc->compared);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : gopt_dir();
    gopt_set set;
    char err[512];
    if (gopt_load(dir, &set, err, sizeof err)) {
        fprintf(stderr, "golden_options_check: %s\n", err);
        return 2;
    }
    long passed = 0;
    fail_ctx fctx = {0};
    const int gaps = gopt_coverage(&set, print_fail, &fctx);
    run_ctx rc = {&set, &fctx, 0};
    const long failed = golden_each_variant(set.n, check, &rc, &passed);
    const long compared = rc.compared;
    gopt_free(&set);
    gopt_report(stdout);
    int worst = 0;
    for (int q = 1; q < GOPT_QTY_COUNT_; q++)
        if (gopt_worst_ratio[q].ratio > gopt_worst_ratio[worst].ratio)
            worst = q;
    if (fctx.option_unsupported)
        printf("%ld runs returned LSCE_ERR_OPTION (objective options not implemented yet?)\n",
               fctx.option_unsupported);
    printf("golden_options_check: %ld runs (%ld values compared), worst error/bound %.3g (%s); "
           "%ld passed, %ld failed\n",
           passed + failed, compared, gopt_worst_ratio[worst].ratio, gopt_qty_names[worst],
           passed, failed);
    return failed || gaps || !passed ? 1 : 0;
}
