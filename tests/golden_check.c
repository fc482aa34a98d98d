/*
 * The PyTorch golden vectors without Criterion (for cross builds that have none): every case ×
 * every variant this CPU runs × every entry point. Prints failures, a line per variant and
 * "N passed, N failed" (N counts case × variant × entry point); exits non-zero on any failure.
 * Usage: golden_check [golden-dir] (default $LSCE_GOLDEN_DIR, else the source tree's
 * tests/golden).
 */
#include <stdio.h>

#include "golden.h"

static void print_fail(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "FAIL %s\n", message);
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
    long passed = 0, failed = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        long isa_failed = 0;
        for (int e = 0; e < GOLDEN_ENTRY_COUNT_; e++)
            for (int64_t i = 0; i < set.n; i++) {
                if (golden_check(&set.cases[i], (lsce_isa)isa, (golden_entry)e, print_fail, NULL,
                                 5))
                    isa_failed++;
                else
                    passed++;
            }
        failed += isa_failed;
        printf("%-7s %lld cases x %d entry points: %ld failed\n",
               lsce_isa_to_string((lsce_isa)isa), (long long)set.n, GOLDEN_ENTRY_COUNT_,
               isa_failed);
    }
    golden_free(&set);
    printf("largest |error| / tolerance:");
    for (int i = 0; i < GOLDEN_QTY_COUNT_; i++)
        printf(" %s %.3g%s", golden_qty_names[i], golden_worst_ratio[i],
               i + 1 < GOLDEN_QTY_COUNT_ ? "," : "\n");
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed || !passed ? 1 : 0;
}
