/*
 * The PyTorch golden vectors without Criterion (for cross builds that have none): every case ×
 * every variant this CPU runs × every entry point. Prints failures, a line per variant and
 * "N passed, N failed" (N counts case × variant × entry point); exits non-zero on any failure.
 * Usage: golden_check [golden-dir] (default $LSCE_GOLDEN_DIR, else the source tree's
 * tests/golden).
 */
#include <stdio.h>

#include "golden.h"

static int check(void *arg, int64_t i, lsce_isa isa, golden_entry entry)
{
    const golden_set *set = arg;
    return golden_check(&set->cases[i], isa, entry, golden_print_fail, NULL, 5);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : golden_dir();
    golden_set set;
    char err[512];
    if (golden_load(dir, &set, err, sizeof err)) {
        fprintf(stderr, "golden_check: %s\n", err);
        return 2;
    }
    long passed = 0;
    const long failed = golden_each_variant(set.n, check, &set, &passed);
    golden_free(&set);
    printf("largest |error| / tolerance:");
    for (int i = 0; i < GOLDEN_QTY_COUNT_; i++)
        printf(" %s %.3g%s", golden_qty_names[i], golden_worst_ratio[i],
               i + 1 < GOLDEN_QTY_COUNT_ ? "," : "\n");
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed || !passed ? 1 : 0;
}
