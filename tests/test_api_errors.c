/*
 * test_api, errors: every rejected call returns its status and writes nothing (tests/api_arena.h):
 * out-of-range targets, NULL pointers, bad shapes and overflowing strides, bad options and enum
 * values, variants this CPU cannot run, overlapping buffers; and the calls that must succeed
 * (the unmodified arena call, zero rows, adjacent buffers).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "api_arena.h"
#include "api_support.h"
#include "lsce.h"

/* ==== targets =============================================================================== */

/* Control: the unmodified arena call succeeds on every entry (the rejections below are caused
 * by their one change). */
Test(errors, control_the_valid_arena_call_succeeds)
{
    FOR_EACH_ISA(isa) {
        for (int e = 0; e < E_COUNT; e++) {
            args a = arena_call((entry)e);
            a.o.isa = isa;
            cr_expect_eq(call_entry(&a), LSCE_OK, "[%s %s]", lsce_isa_to_string(isa),
                         entry_names[e]);
        }
    }
}

static int64_t bad_target_value;
static void set_bad_last_target(args *a) { arena_targets()[AR_R - 1] = bad_target_value; (void)a; }

/* Out-of-range targets: LSCE_ERR_TARGET and nothing written (gradient, row outputs, result). The
 * bad target is the last row, after valid and ignored rows. */
Test(errors, target_out_of_range_writes_nothing)
{
    const int64_t bad[] = {AR_V, AR_V + 1, -1, -99, -101, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bad_target_value = bad[i];
        expect_rejected(ALL_ENTRIES, set_bad_last_target, LSCE_ERR_TARGET, "target out of range");
    }
}

static void set_ii0_target_m100(args *a)
{
    a->o.ignore_index = 0; /* row 1 holds −100: no longer ignored, out of range */
}
Test(errors, minus_100_target_with_ignore_index_0_writes_nothing)
{
    expect_rejected(ALL_ENTRIES, set_ii0_target_m100, LSCE_ERR_TARGET, "-100 with ignore_index 0");
}
/* ==== shapes and arguments =================================================================== */

Test(errors, zero_rows_is_ok_even_with_null_buffers)
{
    FOR_EACH_ISA(isa) {
        for (int red = 0; red < 3; red++) {
            lsce_options o = opts_of(isa, LSCE_CONV_UNIFORM, (lsce_reduction)red, 0, 0.1, -100);
            lsce_result res;
            memset(&res, 0x5A, sizeof res);
            cr_expect_eq(lsce_forward_backward(&o, 0, 10, NULL, 10, NULL, NULL, NULL, 10, NULL,
                                               NULL, &res), LSCE_OK);
            cr_expect(res.loss == 0.0 && res.n_tokens == 0 && res.nll_sum == 0.0 &&
                      res.n_correct == 0 && res.denominator == 0.0);
            memset(&res, 0x5A, sizeof res);
            cr_expect_eq(lsce_forward(&o, 0, 10, NULL, 10, NULL, NULL, NULL, &res), LSCE_OK);
            cr_expect(res.loss == 0.0 && res.n_tokens == 0);
            cr_expect_eq(lsce_backward(&o, 0, 10, NULL, 10, NULL, NULL, NULL, NULL, 10), LSCE_OK);
            args a = arena_call(E_FUSED);
            a.o = o;
            a.rows = 0;
            for (int e = 0; e < E_COUNT; e++) {
                a.e = (entry)e;
                memcpy(arena_snapshot, arena, sizeof arena);
                cr_expect_eq(call_entry(&a), LSCE_OK);
                /* Only the result may change. */
                cr_expect(!memcmp(arena, arena_snapshot, AR_RESULT * sizeof(float)));
            }
        }
    }
}

static void null_logits(args *a) { a->logits = NULL; }
static void null_targets(args *a) { a->y = NULL; }
static void null_grad(args *a) { a->grad = NULL; }
static void null_row_lse_input(args *a) { a->row_lse = NULL; }

Test(errors, null_pointers_rejected_nothing_written)
{
    for (int e = 0; e < E_COUNT; e++) {
        const args a = arena_call((entry)e);
        memcpy(arena_snapshot, arena, sizeof arena);
        cr_expect_eq(call_entry_with_options(&a, NULL), LSCE_ERR_NULL, "[%s] NULL opts",
                     entry_names[e]);
        cr_expect(!memcmp(arena, arena_snapshot, sizeof arena), "[%s] NULL opts wrote",
                  entry_names[e]);
    }
    expect_rejected(ALL_ENTRIES, null_logits, LSCE_ERR_NULL, "NULL logits");
    expect_rejected(ALL_ENTRIES, null_targets, LSCE_ERR_NULL, "NULL targets");
    expect_rejected(GRAD_ENTRIES, null_grad, LSCE_ERR_NULL, "NULL grad");
    expect_rejected(1u << E_BACKWARD, null_row_lse_input, LSCE_ERR_NULL, "NULL row_lse input");
}

static void vocab_0(args *a) { a->V = 0; }
static void vocab_neg(args *a) { a->V = -3; }
static void rows_neg(args *a) { a->rows = -1; }
static void logits_stride_small(args *a) { a->ls = a->V - 1; }
static void grad_stride_small(args *a) { a->gs = a->V - 1; }
static void logits_overflow(args *a) { a->ls = INT64_MAX / 2; }
static void grad_overflow(args *a) { a->gs = INT64_MAX / 3; }
static void rows_overflow(args *a)
{
    a->rows = INT64_MAX / 4;
    a->V = a->ls = a->gs = 8;
}
static void rows_overflow_max(args *a)
{
    a->rows = INT64_MAX;
    a->V = a->ls = a->gs = 1;
}

Test(errors, bad_shapes_rejected_nothing_written)
{
    expect_rejected(ALL_ENTRIES, vocab_0, LSCE_ERR_SHAPE, "vocab 0");
    expect_rejected(ALL_ENTRIES, vocab_neg, LSCE_ERR_SHAPE, "vocab -3");
    expect_rejected(ALL_ENTRIES, rows_neg, LSCE_ERR_SHAPE, "rows -1");
    expect_rejected(ALL_ENTRIES, logits_stride_small, LSCE_ERR_SHAPE, "logits stride < vocab");
    expect_rejected(GRAD_ENTRIES, grad_stride_small, LSCE_ERR_SHAPE, "grad stride < vocab");
}

Test(errors, rows_times_stride_overflow_rejected_nothing_written)
{
    expect_rejected(ALL_ENTRIES, logits_overflow, LSCE_ERR_SHAPE, "rows × logits stride overflow");
    expect_rejected(GRAD_ENTRIES, grad_overflow, LSCE_ERR_SHAPE, "rows × grad stride overflow");
    expect_rejected(ALL_ENTRIES, rows_overflow, LSCE_ERR_SHAPE, "rows × 8 × 4 bytes overflow");
    expect_rejected(ALL_ENTRIES, rows_overflow_max, LSCE_ERR_SHAPE, "INT64_MAX rows");
}

static double eps_value;
static void set_eps(args *a) { a->o.smoothing = eps_value; }
Test(errors, smoothing_outside_0_1_or_nan_rejected)
{
    const double bad[] = {-0.1, 1.1, NAN, -NAN, INFINITY, -INFINITY, -1e-300, 1.0 + 1e-15};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eps_value = bad[i];
        expect_rejected(ALL_ENTRIES, set_eps, LSCE_ERR_OPTION, "smoothing out of [0, 1]");
    }
}

static void conv_3(args *a) { a->o.convention = (lsce_convention)3; }
static void conv_neg(args *a) { a->o.convention = (lsce_convention)-1; }
static void red_3(args *a) { a->o.reduction = (lsce_reduction)3; }
static void red_neg(args *a) { a->o.reduction = (lsce_reduction)-1; }
static void kl_2(args *a) { a->o.kl = 2; }
static void kl_neg(args *a) { a->o.kl = -1; }
static void isa_5(args *a) { a->o.isa = LSCE_ISA_COUNT_; }
static void isa_100(args *a) { a->o.isa = (lsce_isa)100; }
static void isa_neg(args *a) { a->o.isa = (lsce_isa)-1; }
static void logits_dtype_3(args *a) { a->o.logits_dtype = (lsce_dtype)3; }
static void grad_dtype_neg(args *a) { a->o.grad_dtype = (lsce_dtype)-1; }

Test(errors, bad_enum_values_rejected)
{
    expect_rejected(ALL_ENTRIES, conv_3, LSCE_ERR_OPTION, "convention 3");
    expect_rejected(ALL_ENTRIES, conv_neg, LSCE_ERR_OPTION, "convention -1");
    expect_rejected(ALL_ENTRIES, red_3, LSCE_ERR_OPTION, "reduction 3");
    expect_rejected(ALL_ENTRIES, red_neg, LSCE_ERR_OPTION, "reduction -1");
    expect_rejected(ALL_ENTRIES, kl_2, LSCE_ERR_OPTION, "kl 2");
    expect_rejected(ALL_ENTRIES, kl_neg, LSCE_ERR_OPTION, "kl -1");
    expect_rejected(ALL_ENTRIES, isa_5, LSCE_ERR_ISA, "isa LSCE_ISA_COUNT_");
    expect_rejected(ALL_ENTRIES, isa_100, LSCE_ERR_ISA, "isa 100");
    expect_rejected(ALL_ENTRIES, isa_neg, LSCE_ERR_ISA, "isa -1");
    expect_rejected(ALL_ENTRIES, logits_dtype_3, LSCE_ERR_DTYPE, "logits dtype 3");
    expect_rejected(ALL_ENTRIES, grad_dtype_neg, LSCE_ERR_DTYPE, "grad dtype -1");
}

/* A smoothing prior generalises the uniform convention only, and must sum to 1 within 1e-4. */
static float prior_v[AR_V];
static void prior_sum(double total)
{
    for (int c = 0; c < AR_V; c++)
        prior_v[c] = (float)(total / AR_V);
}
static void prior_with_others(args *a)
{
    a->o.prior = prior_v;
    a->o.convention = LSCE_CONV_OTHERS;
}
static void prior_with_seed(args *a)
{
    a->o.prior = prior_v;
    a->o.convention = LSCE_CONV_SEED;
}
static void prior_uniform(args *a) { a->o.prior = prior_v; }

Test(errors, prior_outside_uniform_or_off_its_sum_rejected_nothing_written)
{
    prior_sum(1.0);
    expect_rejected(ALL_ENTRIES, prior_with_others, LSCE_ERR_OPTION, "prior with others");
    expect_rejected(ALL_ENTRIES, prior_with_seed, LSCE_ERR_OPTION, "prior with seed");
    prior_sum(1.0 + 2e-4);
    expect_rejected(ALL_ENTRIES, prior_uniform, LSCE_ERR_OPTION, "prior summing to 1 + 2e-4");
    prior_sum(1.0 - 2e-4);
    expect_rejected(ALL_ENTRIES, prior_uniform, LSCE_ERR_OPTION, "prior summing to 1 − 2e-4");
}

/* In place means the same buffer, stride and dtype: a bf16 gradient over fp32 logits would
 * overwrite logits not yet read (rows are half as long), so it is an overlap. */
static void in_place_other_dtype(args *a)
{
    a->grad = (float *)a->logits;
    a->gs = a->ls;
    a->o.grad_dtype = LSCE_DTYPE_BF16;
}

Test(errors, in_place_with_another_grad_dtype_is_alias)
{
    expect_rejected(GRAD_ENTRIES, in_place_other_dtype, LSCE_ERR_ALIAS, "bf16 grad over f32");
}

/* opts.isa naming a variant this CPU or build cannot run: LSCE_ERR_ISA (NEON on x86, AVX-512 on
 * an AVX2 machine, ...); every supported one runs. */
Test(errors, unsupported_isa_rejected_nothing_written)
{
    int unsupported = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        for (int e = 0; e < E_COUNT; e++) {
            args a = arena_call((entry)e);
            a.o.isa = (lsce_isa)isa;
            if (lsce_isa_supported((lsce_isa)isa)) {
                cr_expect_eq(call_entry(&a), LSCE_OK);
            } else {
                unsupported++;
                expect_status_nothing_written(&a, LSCE_ERR_ISA, lsce_isa_to_string((lsce_isa)isa));
            }
        }
    cr_expect(lsce_isa_supported(LSCE_ISA_SCALAR), "the scalar reference always runs");
    cr_log_info("%d unsupported (variant, entry) pairs checked", unsupported);
}

/* ---- aliasing: outputs overlapping each other or inputs (other than exact in place) ------- */

static void grad_over_logits_plus1(args *a) { a->grad = (float *)a->logits + 1; }
static void grad_over_logits_other_stride(args *a)
{
    a->grad = (float *)a->logits;
    a->gs = a->ls + 1;
}
static void grad_over_logits_offset_row(args *a) { a->grad = (float *)a->logits + AR_S; }
static void grad_over_targets(args *a) { a->grad = (float *)(void *)arena_targets(); }
static void grad_over_go(args *a) { a->grad = (float *)a->go - 8; }
static void grad_over_row_lse_in(args *a) { a->grad = a->row_lse - 3; }
static void row_lse_over_row_loss(args *a) { a->row_lse = a->row_loss + 1; }
static void row_loss_in_grad(args *a) { a->row_loss = a->grad + 2 * AR_S + 3; }
static void row_lse_in_grad(args *a) { a->row_lse = a->grad + (AR_R - 1) * AR_S; }
static void row_lse_over_logits(args *a) { a->row_lse = (float *)a->logits + 7; }
static void row_loss_over_targets(args *a) { a->row_loss = (float *)(void *)arena_targets() + 1; }
static void row_loss_is_go(args *a)
{
    a->o.reduction = LSCE_REDUCTION_NONE;
    a->row_loss = (float *)a->go;
}
static void row_lse_over_go_scalar(args *a) { a->row_lse = (float *)a->go - 3; }

Test(errors, overlapping_outputs_rejected_nothing_written)
{
    expect_rejected(GRAD_ENTRIES, grad_over_logits_plus1, LSCE_ERR_ALIAS,
                    "grad partially overlapping logits (shifted 1)");
    expect_rejected(GRAD_ENTRIES, grad_over_logits_other_stride, LSCE_ERR_ALIAS,
                    "grad == logits with a different stride");
    expect_rejected(GRAD_ENTRIES, grad_over_logits_offset_row, LSCE_ERR_ALIAS,
                    "grad shifted one row into logits");
    expect_rejected(GRAD_ENTRIES, grad_over_targets, LSCE_ERR_ALIAS, "grad over targets");
    expect_rejected(GRAD_ENTRIES, grad_over_go, LSCE_ERR_ALIAS, "grad over grad_output");
    expect_rejected(1u << E_BACKWARD, grad_over_row_lse_in, LSCE_ERR_ALIAS,
                    "grad over the row_lse input");
    expect_rejected(FWD_ENTRIES, row_lse_over_row_loss, LSCE_ERR_ALIAS, "row_lse over row_loss");
    expect_rejected(1u << E_FUSED, row_loss_in_grad, LSCE_ERR_ALIAS, "row_loss inside grad");
    expect_rejected(1u << E_FUSED, row_lse_in_grad, LSCE_ERR_ALIAS, "row_lse inside grad");
    expect_rejected(FWD_ENTRIES, row_lse_over_logits, LSCE_ERR_ALIAS, "row_lse over logits");
    expect_rejected(FWD_ENTRIES, row_loss_over_targets, LSCE_ERR_ALIAS, "row_loss over targets");
    expect_rejected(1u << E_FUSED, row_loss_is_go, LSCE_ERR_ALIAS, "row_loss == grad_output");
    expect_rejected(1u << E_FUSED, row_lse_over_go_scalar, LSCE_ERR_ALIAS,
                    "row_lse over the scalar grad_output");
}

/* Control for the alias check: buffers that merely touch (adjacent, no shared byte) are fine. */
Test(errors, adjacent_buffers_are_not_aliases)
{
    FOR_EACH_ISA(isa) {
        args a = arena_call(E_FUSED);
        a.o.isa = isa;
        a.grad = (float *)a.logits + (AR_R - 1) * AR_S + AR_V; /* right after the last logit */
        a.row_loss = a.grad + (AR_R - 1) * AR_S + AR_V;      /* right after the last grad */
        a.row_lse = a.row_loss + AR_R;
        cr_expect_eq(call_entry(&a), LSCE_OK, "[%s] adjacent buffers rejected",
                     lsce_isa_to_string(isa));
    }
}

/* Invalid class arrays are judged even by a call with no rows (V of them exist either way). */
Test(errors, class_arrays_judged_with_no_rows)
{
    const float bad_weight[3] = {1.0f, -1.0f, 1.0f}, bad_prior[3] = {0.5f, 0.5f, 0.5f};
    lsce_options o;
    lsce_options_default(&o);
    for (int which = 0; which < 2; which++) {
        o.class_weight = which == 0 ? bad_weight : NULL;
        o.prior = which == 1 ? bad_prior : NULL;
        cr_expect_eq(lsce_forward(&o, 0, 3, NULL, 3, NULL, NULL, NULL, NULL), LSCE_ERR_OPTION);
        cr_expect_eq(lsce_forward_backward(&o, 0, 3, NULL, 3, NULL, NULL, NULL, 3, NULL, NULL, NULL),
                     LSCE_ERR_OPTION);
        cr_expect_eq(lsce_backward(&o, 0, 3, NULL, 3, NULL, NULL, NULL, NULL, 3), LSCE_ERR_OPTION);
    }
}
