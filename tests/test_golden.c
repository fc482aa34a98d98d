/*
 * PyTorch golden vectors (tests/gen_golden.py → tests/golden/) against every variant this CPU
 * runs and every entry point. The reading and checking (and the tolerances, justified at the top
 * of tests/golden.c) are shared with tests/golden_check.c, the Criterion-free runner.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "golden.h"

static golden_set set;

static void load(void)
{
    char err[512];
    if (golden_load(golden_dir(), &set, err, sizeof err))
        cr_assert_fail("cannot load the golden vectors: %s", err);
}

static void unload(void) { golden_free(&set); }

TestSuite(golden, .init = load, .fini = unload);

static void report(void *ctx, const char *message)
{
    (void)ctx;
    cr_expect_fail("%s", message);
}

/* Every case × every supported variant through one entry point. */
static void run_entry(golden_entry entry)
{
    int variants = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        variants++;
        for (int64_t i = 0; i < set.n; i++)
            golden_check(&set.cases[i], (lsce_isa)isa, entry, report, NULL, 5);
    }
    cr_assert_geq(variants, 1, "no variant runs here");
}

Test(golden, forward_backward_every_variant) { run_entry(GOLDEN_FUSED); }
Test(golden, forward_backward_in_place_every_variant) { run_entry(GOLDEN_FUSED_IN_PLACE); }
Test(golden, forward_with_row_lse_every_variant) { run_entry(GOLDEN_FORWARD); }
Test(golden, backward_from_saved_row_lse_every_variant) { run_entry(GOLDEN_BACKWARD); }

/* The file covers what gen_golden.py promises: every V, ε, reduction, convention, kl,
 * ignore_index, grad_output kind, and the special inputs. */
Test(golden, file_covers_the_option_space)
{
    const int64_t Vs[] = {1, 2, 7, 33, 100, 1000};
    const double epss[] = {0.0, 0.1, 0.3, 1.0};
    int seen_V[6] = {0}, seen_eps[4] = {0}, seen_red[3] = {0}, seen_conv[3] = {0}, seen_kl[2] = {0};
    int seen_ii0 = 0, seen_ii100 = 0, go_vec = 0, go_scalar = 0, all_ignored_mean = 0, torch_ce = 0;
    int neginf = 0, nan_in = 0, offset = 0;
    cr_assert_geq(set.n, 60);
    for (int64_t i = 0; i < set.n; i++) {
        const golden_case *c = &set.cases[i];
        for (int j = 0; j < 6; j++)
            seen_V[j] |= c->vocab == Vs[j];
        for (int j = 0; j < 4; j++)
            seen_eps[j] |= c->opts.smoothing == epss[j];
        seen_red[c->opts.reduction] = 1;
        seen_conv[c->opts.convention] = 1;
        seen_kl[c->opts.kl] = 1;
        seen_ii0 |= c->opts.ignore_index == 0;
        seen_ii100 |= c->opts.ignore_index == -100;
        go_vec |= c->n_grad_output > 1;
        go_scalar |= c->n_grad_output == 1 && c->opts.reduction != LSCE_REDUCTION_NONE;
        all_ignored_mean |= (c->flags & GOLDEN_FLAG_ALL_IGNORED_MEAN) != 0;
        torch_ce |= (c->flags & GOLDEN_FLAG_TORCH_CROSS_ENTROPY) != 0;
        for (int64_t j = 0; j < c->rows * c->vocab; j++) {
            neginf |= isinf(c->logits[j]) && c->logits[j] < 0;
            nan_in |= isnan(c->logits[j]);
            offset |= c->logits[j] > 5000.0f;
        }
    }
    for (int j = 0; j < 6; j++)
        cr_expect(seen_V[j], "no case with V = %lld", (long long)Vs[j]);
    for (int j = 0; j < 4; j++)
        cr_expect(seen_eps[j], "no case with eps = %g", epss[j]);
    for (int j = 0; j < 3; j++) {
        cr_expect(seen_red[j], "no case with reduction %d", j);
        cr_expect(seen_conv[j], "no case with convention %d", j);
    }
    cr_expect(seen_kl[0] && seen_kl[1]);
    cr_expect(seen_ii0 && seen_ii100);
    cr_expect(go_vec && go_scalar);
    cr_expect(all_ignored_mean && torch_ce && neginf && nan_in && offset);
}
