/*
 * The PyTorch golden vectors with bf16 / fp16 logits (tests/golden_half/), plain C: PyTorch's
 * conversions against the reference, then every case × every variant this CPU runs × every entry
 * point × every gradient dtype (f32, bf16, f16). Prints failures, a line per variant, what was
 * measured, and "N passed, N failed" (N counts case × variant × entry × gradient dtype runs);
 * exits non-zero on any failure.
 * Usage: golden_half_check [dir] (default $LSCE_GOLDEN_HALF_DIR, else the source tree's
 * tests/golden_half).
 */
#include <stdio.h>

#include "golden_half.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : golden_half_dir();
    golden_set set;
    char err[512];
    if (golden_load(dir, &set, err, sizeof err)) {
        fprintf(stderr, "golden_half_check: %s\n", err);
        return 2;
    }
    long passed = 0, failed = 0, tables = 0;
    for (int64_t i = 0; i < set.n; i++) {
        tables += (set.cases[i].flags & GOLDEN_FLAG_CONVERSION_TABLE) != 0;
        if (golden_half_conversions(&set.cases[i], golden_print_fail, NULL, 5))
            failed++;
        else
            passed++;
    }
    if (tables < 2) {
        fprintf(stderr, "FAIL the file holds %ld conversion tables, want one per 16-bit dtype\n",
                tables);
        failed++;
    }
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        long isa_failed = 0, runs = 0;
        for (int e = 0; e < GOLDEN_ENTRY_COUNT_; e++)
            for (int gd = LSCE_DTYPE_F32; gd <= LSCE_DTYPE_F16; gd++) {
                if (e == GOLDEN_FORWARD && gd != LSCE_DTYPE_F32)
                    continue; /* no gradient: once is enough */
                for (int64_t i = 0; i < set.n; i++) {
                    const golden_case *c = &set.cases[i];
                    if ((c->flags & GOLDEN_FLAG_CONVERSION_TABLE) ||
                        (e == GOLDEN_FUSED_IN_PLACE && gd != (int)c->logits_dtype))
                        continue;
                    runs++;
                    if (golden_half_check(c, (lsce_isa)isa, (golden_entry)e, (lsce_dtype)gd,
                                          golden_print_fail, NULL, 5))
                        isa_failed++;
                    else
                        passed++;
                }
            }
        failed += isa_failed;
        printf("%-7s %ld runs (case × entry point × gradient dtype): %ld failed\n",
               lsce_isa_to_string((lsce_isa)isa), runs, isa_failed);
    }
    golden_free(&set);
    golden_half_report(stdout);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed || !passed ? 1 : 0;
}
