/*
 * Hostile arguments the API tests (test_api*.c) do not cover: byte counts at and past the
 * PTRDIFF_MAX boundary (including sizes that wrap), a scratch row too large to allocate, buffers
 * that share exactly one element, spans that depend on the reduction or include row padding,
 * in place across same-size dtypes, objective options outside their domain (NaN, negative, out of
 * range: invalid even once those options are implemented), and the result or options struct
 * overlapping another buffer.
 *
 * Rule (lsce.h): validation happens before anything is written. Every call here is made with all
 * its real buffers inside one guard-filled arena, compared byte for byte afterwards: a rejected
 * call must leave every output, the result and the inputs untouched. A few tests pass addresses
 * that are never mapped (sizes no memory can hold): a library that accessed them would crash,
 * which Criterion reports as a failure.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lsce.h"

/* A call that must fail for want of memory asks for more than ASan's allocator serves; let it
 * return NULL (as malloc does) rather than abort. Ignored by builds without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

typedef enum entry { E_FUSED, E_FORWARD, E_BACKWARD, E_COUNT } entry;
static const char *const entry_names[E_COUNT] = {"forward_backward", "forward", "backward"};
#define ALL_ENTRIES 7u
#define GRAD_ENTRIES ((1u << E_FUSED) | (1u << E_BACKWARD))

/* ---- the arena: every real buffer of a call, guard-filled ----------------------------------- */

enum {
    R = 4,         /* rows of the valid call */
    V = 37,        /* vocabulary */
    S = 40,        /* strides */
    /* float offsets, lowest address first: what a test places "above everything" goes last */
    AR_TARGETS = 0,  /* R int64 */
    AR_GO = 64,      /* R floats */
    AR_ROW_LOSS = 128,
    AR_ROW_LSE = 192,
    AR_RESULT = 256, /* lsce_result */
    AR_OPTIONS = 320, /* lsce_options: an input too, which no output may overlap */
    AR_LOGITS = 512, /* R × S */
    AR_GRAD = 1024,  /* R × S */
    AR_FLOATS = 2048
};

static _Alignas(64) float arena[AR_FLOATS];
static _Alignas(64) float arena_before[AR_FLOATS];

typedef struct call {
    entry e;
    lsce_options o;
    int64_t rows, vocab;
    const void *logits;
    int64_t ls;
    const int64_t *targets;
    const float *go;
    void *grad;
    int64_t gs;
    float *row_loss, *row_lse; /* backward: row_lse is its input */
    lsce_result *result;       /* fused and forward */
} call;

static int64_t *arena_targets(void) { return (int64_t *)(void *)(arena + AR_TARGETS); }
static lsce_options *arena_options(void) { return (lsce_options *)(void *)(arena + AR_OPTIONS); }

/* A valid call of entry e (smoothing 0.1, row 1 ignored), buffers in a freshly filled arena. */
static call valid_call(entry e)
{
    memset(arena, 0xA5, sizeof arena);
    for (int i = 0; i < R * S; i++)
        arena[AR_LOGITS + i] = (float)((i * 37) % 19) * 0.25f - 2.0f;
    for (int r = 0; r < R; r++) {
        arena_targets()[r] = r == 1 ? -100 : (r * 11) % V;
        arena[AR_GO + r] = 1.5f;
        arena[AR_ROW_LSE + r] = 4.0f; /* the backward input */
    }
    call c;
    memset(&c, 0, sizeof c);
    c.e = e;
    lsce_options_default(&c.o);
    c.o.smoothing = 0.1;
    c.rows = R;
    c.vocab = V;
    c.logits = arena + AR_LOGITS;
    c.ls = S;
    c.targets = arena_targets();
    c.go = arena + AR_GO;
    c.grad = arena + AR_GRAD;
    c.gs = S;
    c.row_loss = arena + AR_ROW_LOSS;
    c.row_lse = arena + AR_ROW_LSE;
    c.result = (lsce_result *)(void *)(arena + AR_RESULT);
    return c;
}

/* Calls c->e with the options copied into the arena (expect_status puts them there). */
static lsce_status run(const call *c)
{
    const lsce_options *o = arena_options();
    switch (c->e) {
    case E_FUSED:
        return lsce_forward_backward(o, c->rows, c->vocab, c->logits, c->ls, c->targets, c->go,
                                     c->grad, c->gs, c->row_loss, c->row_lse, c->result);
    case E_FORWARD:
        return lsce_forward(o, c->rows, c->vocab, c->logits, c->ls, c->targets, c->row_loss,
                            c->row_lse, c->result);
    default:
        return lsce_backward(o, c->rows, c->vocab, c->logits, c->ls, c->targets, c->row_lse,
                             c->go, c->grad, c->gs);
    }
}

/* The call returns want; unless want is LSCE_OK, not one byte of the arena changed. The options
 * live in the arena too, below the buffers a test places last: a test's span that reaches far
 * above its buffer then overlaps no input it does not mean to. */
static void expect_status(const call *c, lsce_status want, const char *what)
{
    *arena_options() = c->o;
    memcpy(arena_before, arena, sizeof arena);
    const lsce_status st = run(c);
    cr_expect_eq(st, want, "%s [%s, isa %s]: status %d (%s), want %d (%s)", what,
                 entry_names[c->e], lsce_isa_to_string(c->o.isa), (int)st, lsce_strerror(st),
                 (int)want, lsce_strerror(want));
    if (want == LSCE_OK)
        return;
    for (size_t i = 0; i < sizeof arena; i++)
        if (((unsigned char *)arena)[i] != ((unsigned char *)arena_before)[i]) {
            cr_expect_fail("%s [%s]: a rejected call wrote float %zu of the arena", what,
                           entry_names[c->e], i / sizeof(float));
            break;
        }
}

/* Applies change to the valid call of each entry in mask, on every variant this CPU runs. */
typedef void (*mutator)(call *c);
static void expect_for_entries(unsigned mask, mutator change, lsce_status want, const char *what)
{
    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1)) {
        if (!lsce_isa_supported(isa))
            continue;
        for (int e = 0; e < E_COUNT; e++) {
            if (!(mask & (1u << e)))
                continue;
            call c = valid_call((entry)e);
            c.o.isa = isa;
            change(&c);
            expect_status(&c, want, what);
        }
    }
}

static void no_change(call *c) { (void)c; }

Test(hostile, control_the_valid_calls_succeed)
{
    expect_for_entries(ALL_ENTRIES, no_change, LSCE_OK, "the unmodified call");
}

/* ---- byte counts at and past PTRDIFF_MAX --------------------------------------------------- */

/* The element counts whose byte counts (× 4 for f32, × 2 for bf16) sit at the boundary. */
#define F32_MAX_ELEMENTS ((int64_t)(PTRDIFF_MAX / 4))
#define BF16_MAX_ELEMENTS ((int64_t)(PTRDIFF_MAX / 2))

typedef struct extent_case {
    const char *what;
    int64_t rows, vocab, stride;
    lsce_dtype dtype;
    lsce_status want;
} extent_case;

/* Forward with no outputs at all (row_loss, row_lse, result: NULL), so that only the logits and
 * targets spans exist and no overlap can be reported. Cases that fit (want LSCE_ERR_TARGET) carry
 * a first target out of range: the call must get past the shape checks and stop at the targets,
 * reading nothing else. Cases that overflow carry valid targets: only the shape check stands
 * between them and reading far past the 40-float logits buffer. */
static void expect_extent(const extent_case *k)
{
    call c = valid_call(E_FORWARD);
    c.rows = k->rows;
    c.vocab = k->vocab;
    c.ls = k->stride;
    c.o.logits_dtype = k->dtype;
    c.row_loss = c.row_lse = NULL;
    c.result = NULL;
    arena_targets()[0] = k->want == LSCE_ERR_TARGET ? k->vocab : 0;
    expect_status(&c, k->want, k->what);
}

Test(hostile, logits_byte_count_at_and_past_ptrdiff_max)
{
    const extent_case cases[] = {
        {"V = PTRDIFF_MAX/4: the largest f32 row that fits", 1, F32_MAX_ELEMENTS,
         F32_MAX_ELEMENTS, LSCE_DTYPE_F32, LSCE_ERR_TARGET},
        {"V = PTRDIFF_MAX/4 + 1", 1, F32_MAX_ELEMENTS + 1, F32_MAX_ELEMENTS + 1, LSCE_DTYPE_F32,
         LSCE_ERR_SHAPE},
        {"V = 2^61: 2^63 bytes", 1, INT64_C(1) << 61, INT64_C(1) << 61, LSCE_DTYPE_F32,
         LSCE_ERR_SHAPE},
        {"V = 2^62 + 1: V·4 wraps to 4 bytes", 1, (INT64_C(1) << 62) + 1,
         (INT64_C(1) << 62) + 1, LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
        {"V = INT64_MAX", 1, INT64_MAX, INT64_MAX, LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
        {"bf16, V = PTRDIFF_MAX/2: fits", 1, BF16_MAX_ELEMENTS, BF16_MAX_ELEMENTS,
         LSCE_DTYPE_BF16, LSCE_ERR_TARGET},
        {"bf16, V = PTRDIFF_MAX/2 + 1", 1, BF16_MAX_ELEMENTS + 1, BF16_MAX_ELEMENTS + 1,
         LSCE_DTYPE_BF16, LSCE_ERR_SHAPE},
        {"3 rows of V = 2^62 + 1", 3, (INT64_C(1) << 62) + 1, (INT64_C(1) << 62) + 1,
         LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
        {"2 rows, stride PTRDIFF_MAX/4 − 1: extent exactly PTRDIFF_MAX/4", 2, 1,
         F32_MAX_ELEMENTS - 1, LSCE_DTYPE_F32, LSCE_ERR_TARGET},
        {"2 rows, stride PTRDIFF_MAX/4: one element past", 2, 1, F32_MAX_ELEMENTS,
         LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
        {"PTRDIFF_MAX/8 rows of 1: the int64 targets fit", (int64_t)(PTRDIFF_MAX / 8), 1, 1,
         LSCE_DTYPE_F32, LSCE_ERR_TARGET},
        {"PTRDIFF_MAX/8 + 1 rows of 1: logits fit, int64 targets do not",
         (int64_t)(PTRDIFF_MAX / 8) + 1, 1, 1, LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_extent(&cases[i]);
}

/* The same boundary for the gradient's stride (fused): the gradient is placed above every other
 * buffer (the options included), so that its span, however long, overlaps none of them. */
Test(hostile, gradient_byte_count_at_and_past_ptrdiff_max)
{
    const struct {
        int64_t gs;
        lsce_dtype dtype;
        lsce_status want;
    } cases[] = {
        {F32_MAX_ELEMENTS - 1, LSCE_DTYPE_F32, LSCE_ERR_TARGET},
        {F32_MAX_ELEMENTS, LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
        {INT64_MAX, LSCE_DTYPE_F32, LSCE_ERR_SHAPE},
        {BF16_MAX_ELEMENTS - 1, LSCE_DTYPE_F16, LSCE_ERR_TARGET},
        {BF16_MAX_ELEMENTS, LSCE_DTYPE_F16, LSCE_ERR_SHAPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        call c = valid_call(E_FUSED);
        c.rows = 2;
        c.vocab = c.ls = 1;
        c.gs = cases[i].gs;
        c.o.grad_dtype = cases[i].dtype;
        c.grad = arena + AR_FLOATS - 16;
        arena_targets()[0] = cases[i].want == LSCE_ERR_TARGET ? 1 : 0;
        expect_status(&c, cases[i].want, "2 rows of V = 1, huge grad stride");
    }
}

/* ---- a scratch row no allocator can serve ---------------------------------------------------- */

/* V = 2^45 floats: the fused call's scratch row alone is 2^47 bytes, the whole user address space
 * of x86-64 and AArch64, so the allocation fails everywhere. The logits and gradient are two
 * adjacent ranges above it, never mapped: they must not be touched (the allocation comes before
 * any row is read), and no other buffer may change. */
Test(hostile, scratch_row_too_large_is_nomem_nothing_written)
{
    const int64_t huge = INT64_C(1) << 45;
    const uintptr_t above = (uintptr_t)1 << 48;
    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1)) {
        if (!lsce_isa_supported(isa))
            continue;
        call c = valid_call(E_FUSED);
        c.o.isa = isa;
        c.rows = 1;
        c.vocab = c.ls = c.gs = huge;
        c.logits = (const void *)above;
        c.grad = (void *)(above + (uintptr_t)huge * sizeof(float));
        expect_status(&c, LSCE_ERR_NOMEM, "a 2^47-byte scratch row");
    }
}

/* ---- overlaps of exactly one element, spans that depend on options --------------------------- */

static void last_row_lse_is_first_grad(call *c) { c->row_lse = (float *)c->grad - (R - 1); }
static void first_row_loss_is_last_grad(call *c)
{
    c->row_loss = (float *)c->grad + (R - 1) * S + V - 1;
}
static void first_grad_is_last_logit(call *c)
{
    c->grad = (float *)c->logits + (R - 1) * S + V - 1;
}
static void last_row_loss_is_first_go(call *c)
{
    c->o.reduction = LSCE_REDUCTION_NONE; /* grad_output: R values */
    c->row_loss = (float *)c->go - (R - 1);
}
static void row_lse_over_last_target_half(call *c)
{
    c->row_lse = (float *)(void *)(arena_targets() + R) - 1; /* the high half of targets[R−1] */
}
static void row_lse_over_last_logit(call *c) { c->row_lse = (float *)c->logits + (R - 1) * S + V - 1; }

/* The same pairs one element apart: touching, not overlapping. */
static void row_lse_just_below_grad(call *c) { c->row_lse = (float *)c->grad - R; }
static void row_loss_just_after_grad(call *c) { c->row_loss = (float *)c->grad + (R - 1) * S + V; }
static void grad_just_after_logits(call *c) { c->grad = (float *)c->logits + (R - 1) * S + V; }

Test(hostile, buffers_sharing_one_element_are_alias_touching_ones_are_not)
{
    expect_for_entries(GRAD_ENTRIES, last_row_lse_is_first_grad, LSCE_ERR_ALIAS,
                       "row_lse's last element (backward: the input) is the gradient's first");
    expect_for_entries(1u << E_FUSED, first_row_loss_is_last_grad, LSCE_ERR_ALIAS,
                       "row_loss's first element is the gradient's last");
    expect_for_entries(GRAD_ENTRIES, first_grad_is_last_logit, LSCE_ERR_ALIAS,
                       "the gradient's first element is the last logit");
    expect_for_entries(1u << E_FUSED, last_row_loss_is_first_go, LSCE_ERR_ALIAS,
                       "row_loss's last element is grad_output's first (reduction none)");
    expect_for_entries((1u << E_FUSED) | (1u << E_FORWARD), row_lse_over_last_target_half,
                       LSCE_ERR_ALIAS, "row_lse's first element is half of the last target");
    expect_for_entries((1u << E_FUSED) | (1u << E_FORWARD), row_lse_over_last_logit,
                       LSCE_ERR_ALIAS, "row_lse's first element is the last logit");
    expect_for_entries(GRAD_ENTRIES, row_lse_just_below_grad, LSCE_OK, "row_lse just below grad");
    expect_for_entries(1u << E_FUSED, row_loss_just_after_grad, LSCE_OK,
                       "row_loss just after the gradient");
    expect_for_entries(GRAD_ENTRIES, grad_just_after_logits, LSCE_OK,
                       "the gradient just after the logits");
}

/* grad_output is one value for mean and sum, rows values for none: its span follows. */
static void row_lse_after_go_0_mean(call *c) { c->row_lse = (float *)c->go + 1; }
static void row_lse_after_go_0_none(call *c)
{
    c->row_lse = (float *)c->go + 1;
    c->o.reduction = LSCE_REDUCTION_NONE;
}

Test(hostile, grad_output_span_follows_the_reduction)
{
    expect_for_entries(1u << E_FUSED, row_lse_after_go_0_mean, LSCE_OK,
                       "row_lse after the scalar grad_output (mean)");
    expect_for_entries(1u << E_FUSED, row_lse_after_go_0_none, LSCE_ERR_ALIAS,
                       "row_lse over grad_output[1..] (reduction none)");
}

/* Strided buffers are compared by extent, padding included: gradient rows interleaved between
 * logits rows share no element but are an overlap, and so is a buffer in the logits' padding. */
static void grad_rows_between_logits_rows(call *c)
{
    c->ls = c->gs = 2 * V;
    c->grad = (float *)c->logits + V;
}
static void row_loss_in_logits_padding(call *c)
{
    c->ls = V + R; /* R floats of padding after each row: row_loss fits in row 0's */
    c->row_loss = (float *)c->logits + V;
}

Test(hostile, interleaved_rows_and_buffers_in_padding_are_alias)
{
    expect_for_entries(GRAD_ENTRIES, grad_rows_between_logits_rows, LSCE_ERR_ALIAS,
                       "gradient rows interleaved with the logits rows");
    expect_for_entries((1u << E_FUSED) | (1u << E_FORWARD), row_loss_in_logits_padding,
                       LSCE_ERR_ALIAS, "row_loss inside the padding of logits row 0");
}

/* In place means the same buffer, stride and dtype (lsce.h). */
static void in_place_narrower_grad_stride(call *c)
{
    c->grad = (void *)c->logits;
    c->gs = V; /* logits stride S > V: gradient rows would overwrite logits not yet read */
}
static void in_place_bf16_logits_f16_grad(call *c)
{
    c->o.logits_dtype = LSCE_DTYPE_BF16;
    c->o.grad_dtype = LSCE_DTYPE_F16; /* same size and stride, another dtype */
    c->grad = (void *)c->logits;
}
static void in_place_bf16(call *c)
{
    c->o.logits_dtype = c->o.grad_dtype = LSCE_DTYPE_BF16;
    c->grad = (void *)c->logits;
}

Test(hostile, in_place_needs_the_same_stride_and_dtype)
{
    expect_for_entries(GRAD_ENTRIES, in_place_narrower_grad_stride, LSCE_ERR_ALIAS,
                       "in place with a narrower gradient stride");
    expect_for_entries(GRAD_ENTRIES, in_place_bf16_logits_f16_grad, LSCE_ERR_ALIAS,
                       "in place, bf16 logits and an f16 gradient");
    expect_for_entries(GRAD_ENTRIES, in_place_bf16, LSCE_OK, "in place, bf16 both (control)");
}

/* The result struct is an output too: over another buffer it must be an overlap. The options
 * struct is an input (read until the result is written): no output may overlap it. */
static void result_over_options(call *c) { c->result = (lsce_result *)(void *)arena_options(); }
static void row_lse_over_options(call *c) { c->row_lse = (float *)(void *)arena_options() + 2; }
static void result_over_row_loss(call *c) { c->result = (lsce_result *)(void *)c->row_loss; }
static void result_over_logits(call *c) { c->result = (lsce_result *)(void *)c->logits; }
static void result_over_grad(call *c) { c->result = (lsce_result *)c->grad; }
static void result_over_targets(call *c) { c->result = (lsce_result *)(void *)arena_targets(); }

Test(hostile, result_or_options_overlapping_another_buffer_is_alias)
{
    const unsigned forward_outputs = (1u << E_FUSED) | (1u << E_FORWARD);
    expect_for_entries(forward_outputs, result_over_row_loss, LSCE_ERR_ALIAS, "result over row_loss");
    expect_for_entries(forward_outputs, result_over_logits, LSCE_ERR_ALIAS, "result over the logits");
    expect_for_entries(1u << E_FUSED, result_over_grad, LSCE_ERR_ALIAS, "result over the gradient");
    expect_for_entries(forward_outputs, result_over_targets, LSCE_ERR_ALIAS, "result over targets");
    expect_for_entries(forward_outputs, result_over_options, LSCE_ERR_ALIAS, "result over opts");
    expect_for_entries(forward_outputs, row_lse_over_options, LSCE_ERR_ALIAS, "row_lse over opts");
}

/* ---- objective options outside their domain --------------------------------------------------- */

static float bad_weights[V];
static lsce_calibration_bin bins[4];
static double option_value;
static int option_int;

static void z_loss_value(call *c) { c->o.z_loss = option_value; }
static void logit_scale_value(call *c) { c->o.logit_scale = option_value; }
static void softcap_value(call *c) { c->o.softcap = option_value; }
static void penalty_value(call *c) { c->o.confidence_penalty = option_value; }
static void bins_without_storage(call *c) { c->o.calibration_bins = option_int; }
static void bins_value_with_storage(call *c)
{
    c->o.calibration_bins = option_int;
    c->o.calibration = bins;
}
static void class_weight_bad(call *c) { c->o.class_weight = bad_weights; }
static void row_weight_bad(call *c) { c->o.row_weight = bad_weights; }
static void prior_bad(call *c) { c->o.prior = bad_weights; }

/* Values no implementation may accept (lsce.h: z ≥ 0, c ≥ 0, β ≥ 0, B ∈ [0, 1000], weights ≥ 0,
 * a prior summing to 1); each must give LSCE_ERR_OPTION and write nothing, bins included. */
Test(hostile, objective_options_outside_their_domain_rejected)
{
    const double negative_or_nan[] = {-1.0, -1e-300, NAN, -INFINITY};
    for (size_t i = 0; i < sizeof negative_or_nan / sizeof negative_or_nan[0]; i++) {
        option_value = negative_or_nan[i];
        expect_for_entries(ALL_ENTRIES, z_loss_value, LSCE_ERR_OPTION, "z_loss < 0 or NaN");
        expect_for_entries(ALL_ENTRIES, softcap_value, LSCE_ERR_OPTION, "softcap < 0 or NaN");
        expect_for_entries(ALL_ENTRIES, penalty_value, LSCE_ERR_OPTION,
                           "confidence_penalty < 0 or NaN");
    }
    const double bad_scales[] = {0.0, -1.0, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_scales / sizeof bad_scales[0]; i++) {
        option_value = bad_scales[i];
        expect_for_entries(ALL_ENTRIES, logit_scale_value, LSCE_ERR_OPTION,
                           "logit_scale 0, negative, NaN or inf");
    }
    const int bad_bins[] = {-1, 1001, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad_bins / sizeof bad_bins[0]; i++) {
        option_int = bad_bins[i];
        expect_for_entries(ALL_ENTRIES, bins_value_with_storage, LSCE_ERR_OPTION,
                           "calibration_bins outside [0, 1000]");
    }
    option_int = 4;
    expect_for_entries(ALL_ENTRIES, bins_without_storage, LSCE_ERR_NULL,
                       "calibration_bins > 0 with no calibration storage");
    const float bad_weight_values[] = {-1.0f, NAN};
    for (size_t i = 0; i < 2; i++) {
        for (int k = 0; k < V; k++)
            bad_weights[k] = k == R / 2 ? bad_weight_values[i] : 1.0f / V; /* R ≤ V: each array */
        expect_for_entries(ALL_ENTRIES, class_weight_bad, LSCE_ERR_OPTION,
                           "a negative or NaN class weight");
        expect_for_entries(ALL_ENTRIES, row_weight_bad, LSCE_ERR_OPTION,
                           "a negative or NaN row weight");
        expect_for_entries(ALL_ENTRIES, prior_bad, LSCE_ERR_OPTION, "a negative or NaN prior");
    }
    for (int k = 0; k < 4; k++)
        cr_expect(bins[k].count == 0.0 && bins[k].sum_confidence == 0.0 &&
                      bins[k].sum_correct == 0.0,
                  "calibration bin %d written by a rejected call", k);
}
