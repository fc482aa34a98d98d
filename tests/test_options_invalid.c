/*
 * Invalid objective options (lsce.h): LSCE_ERR_OPTION — or LSCE_ERR_NULL for B > 0 without bins —
 * from every variant and entry point, with NOTHING written: the gradient (padding and guards
 * included), row_loss, row_lse, the result and the calibration bins keep their fill bytes, and the
 * inputs are unchanged. The offending entry sits in the last class / last row, so that a library
 * validating while it computes would already have written the rows before it. Then the boundary
 * values that are valid (0 weights, c = 0, z = 0, β = 0, B = 1000, a prior 5e−5 off 1, B = 0 with
 * bins) are accepted.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_options.h"

#define ROWS 4
#define VOC 19
#define STRIDE 23
#define NB 10
#define FILL 0xA5

typedef struct fixture {
    float logits[ROWS * STRIDE];
    int64_t targets[ROWS];
    float cw[VOC], prior[VOC], rw[ROWS], go[ROWS];
    unsigned char grad[(ROWS * STRIDE + 16) * 4];
    unsigned char rl[(ROWS + 8) * 4], rs[(ROWS + 8) * 4], lse_in[ROWS * 4];
    unsigned char bins[(NB + 4) * sizeof(lsce_calibration_bin)];
    lsce_result res;
} fixture;

static void fixture_init(fixture *f, test_rng *rng)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < ROWS * STRIDE; i++)
        f->logits[i] = (float)(3.0 * rng_normal(rng));
    for (int r = 0; r < ROWS; r++) {
        f->targets[r] = rng_range(rng, 0, VOC);
        f->rw[r] = 0.5f;
        f->go[r] = 1.0f;
        const float lse = 4.0f;
        memcpy(f->lse_in + 4 * r, &lse, 4);
    }
    for (int c = 0; c < VOC; c++) {
        f->cw[c] = 1.0f;
        f->prior[c] = 1.0f / (float)VOC;
    }
}

static void fill_outputs(fixture *f)
{
    memset(f->grad, FILL, sizeof f->grad);
    memset(f->rl, FILL, sizeof f->rl);
    memset(f->rs, FILL, sizeof f->rs);
    memset(f->bins, FILL, sizeof f->bins);
    memset(&f->res, FILL, sizeof f->res);
}

static int outputs_untouched(const fixture *f)
{
    unsigned char ref[sizeof f->grad];
    memset(ref, FILL, sizeof ref);
    return memcmp(f->grad, ref, sizeof f->grad) == 0 && memcmp(f->rl, ref, sizeof f->rl) == 0 &&
           memcmp(f->rs, ref, sizeof f->rs) == 0 && memcmp(f->bins, ref, sizeof f->bins) == 0 &&
           memcmp(&f->res, ref, sizeof f->res) == 0;
}

/* Calls every entry point of variant isa with options o; each must return want and (unless want
 * is LSCE_OK) write nothing. Returns the number of failures. */
static int first_entry = 0, last_entry = 2; /* 0 fused, 1 forward, 2 backward */

static int call_all(fixture *f, const lsce_options *o0, lsce_isa isa, lsce_status want,
                    const char *what)
{
    lsce_options o = *o0;
    o.isa = isa;
    int bad = 0;
    unsigned char ref[sizeof f->bins];
    memset(ref, FILL, sizeof ref);
    static const char *const entries[] = {"fused", "forward", "backward"};
    for (int e = first_entry; e <= last_entry; e++) {
        fixture before = *f;
        fill_outputs(f);
        const float *go = f->go; /* rows values: enough for every reduction */
        lsce_status st;
        if (e == 0)
            st = lsce_forward_backward(&o, ROWS, VOC, f->logits, STRIDE, f->targets, go, f->grad,
                                       STRIDE, (float *)(void *)f->rl, (float *)(void *)f->rs, &f->res);
        else if (e == 1)
            st = lsce_forward(&o, ROWS, VOC, f->logits, STRIDE, f->targets, (float *)(void *)f->rl,
                              (float *)(void *)f->rs, &f->res);
        else
            st = lsce_backward(&o, ROWS, VOC, f->logits, STRIDE, f->targets,
                               (const float *)(const void *)f->lse_in, go, f->grad, STRIDE);
        if (st != want) {
            bad++;
            fprintf(stderr, "  FAIL %s %s %s: status %d (%s), want %d (%s)\n", what,
                    lsce_isa_to_string(isa), entries[e], (int)st, lsce_strerror(st), (int)want,
                    lsce_strerror(want));
        } else if (want != LSCE_OK && !outputs_untouched(f)) {
            bad++;
            fprintf(stderr, "  FAIL %s %s %s: returned %s but wrote an output\n", what,
                    lsce_isa_to_string(isa), entries[e], lsce_strerror(st));
        } else if ((o.calibration_bins <= 0 || e == 2) && memcmp(f->bins, ref, sizeof ref) != 0) {
            bad++; /* B = 0 ignores the bins; lsce_backward never writes them */
            fprintf(stderr, "  FAIL %s %s %s: wrote the calibration bins\n", what,
                    lsce_isa_to_string(isa), entries[e]);
        }
        if (memcmp(before.logits, f->logits, sizeof f->logits) != 0 ||
            memcmp(before.targets, f->targets, sizeof f->targets) != 0 ||
            memcmp(before.cw, f->cw, sizeof f->cw) != 0 ||
            memcmp(before.prior, f->prior, sizeof f->prior) != 0 ||
            memcmp(before.rw, f->rw, sizeof f->rw) != 0) {
            bad++;
            fprintf(stderr, "  FAIL %s %s %s: modified an input\n", what, lsce_isa_to_string(isa),
                    entries[e]);
        }
    }
    return bad;
}

/* One invalid (or valid) setting: a label, a mutation of the options / arrays, the status. */
typedef struct setting {
    const char *what;
    void (*apply)(lsce_options *o, fixture *f);
    lsce_status want;
} setting;

#define LAST (VOC - 1)
static void cw_neg(lsce_options *o, fixture *f) { o->class_weight = f->cw; f->cw[LAST] = -1e-6f; }
static void cw_nan(lsce_options *o, fixture *f) { o->class_weight = f->cw; f->cw[LAST] = NAN; }
static void cw_inf(lsce_options *o, fixture *f) { o->class_weight = f->cw; f->cw[LAST] = INFINITY; }
static void cw_ninf(lsce_options *o, fixture *f) { o->class_weight = f->cw; f->cw[LAST] = -INFINITY; }
static void pr_neg(lsce_options *o, fixture *f)
{
    o->prior = f->prior;
    o->smoothing = 0.1;
    f->prior[0] += f->prior[LAST] + 0.01f; /* the sum stays 1 */
    f->prior[LAST] = -0.01f;
}
static void pr_high(lsce_options *o, fixture *f)
{
    o->prior = f->prior;
    o->smoothing = 0.1;
    f->prior[LAST] += 2e-4f;
}
static void pr_low(lsce_options *o, fixture *f)
{
    o->prior = f->prior;
    o->smoothing = 0.1;
    f->prior[LAST] -= 2e-4f;
}
static void pr_nan(lsce_options *o, fixture *f) { o->prior = f->prior; f->prior[LAST] = NAN; }
static void pr_inf(lsce_options *o, fixture *f) { o->prior = f->prior; f->prior[LAST] = INFINITY; }
static void pr_others(lsce_options *o, fixture *f)
{
    o->prior = f->prior;
    o->smoothing = 0.1;
    o->convention = LSCE_CONV_OTHERS;
}
static void pr_seed(lsce_options *o, fixture *f)
{
    o->prior = f->prior;
    o->smoothing = 0.1;
    o->convention = LSCE_CONV_SEED;
}
static void rw_neg(lsce_options *o, fixture *f) { o->row_weight = f->rw; f->rw[ROWS - 1] = -0.5f; }
static void rw_nan(lsce_options *o, fixture *f) { o->row_weight = f->rw; f->rw[ROWS - 1] = NAN; }
static void rw_inf(lsce_options *o, fixture *f) { o->row_weight = f->rw; f->rw[ROWS - 1] = INFINITY; }
static void z_neg(lsce_options *o, fixture *f) { (void)f; o->z_loss = -1e-300; }
static void z_nan(lsce_options *o, fixture *f) { (void)f; o->z_loss = NAN; }
static void z_inf(lsce_options *o, fixture *f) { (void)f; o->z_loss = INFINITY; }
static void s_zero(lsce_options *o, fixture *f) { (void)f; o->logit_scale = 0.0; }
static void s_mzero(lsce_options *o, fixture *f) { (void)f; o->logit_scale = -0.0; }
static void s_neg(lsce_options *o, fixture *f) { (void)f; o->logit_scale = -1.0; }
static void s_nan(lsce_options *o, fixture *f) { (void)f; o->logit_scale = NAN; }
static void s_inf(lsce_options *o, fixture *f) { (void)f; o->logit_scale = INFINITY; }
static void c_neg(lsce_options *o, fixture *f) { (void)f; o->softcap = -1.0; }
static void c_nan(lsce_options *o, fixture *f) { (void)f; o->softcap = NAN; }
static void c_inf(lsce_options *o, fixture *f) { (void)f; o->softcap = INFINITY; }
static void b_neg(lsce_options *o, fixture *f) { (void)f; o->confidence_penalty = -0.1; }
static void b_nan(lsce_options *o, fixture *f) { (void)f; o->confidence_penalty = NAN; }
static void b_inf(lsce_options *o, fixture *f) { (void)f; o->confidence_penalty = INFINITY; }
static void bins_neg(lsce_options *o, fixture *f)
{
    o->calibration_bins = -1;
    o->calibration = (lsce_calibration_bin *)(void *)f->bins;
}
static void bins_big(lsce_options *o, fixture *f)
{
    o->calibration_bins = 1001;
    o->calibration = (lsce_calibration_bin *)(void *)f->bins;
}
static void bins_null(lsce_options *o, fixture *f)
{
    (void)f;
    o->calibration_bins = NB;
    o->calibration = NULL;
}
/* valid boundaries */
static void ok_zero_weights(lsce_options *o, fixture *f)
{
    o->class_weight = f->cw;
    o->row_weight = f->rw;
    f->cw[LAST] = 0.0f;
    f->rw[ROWS - 1] = 0.0f;
}
static void ok_defaults_explicit(lsce_options *o, fixture *f)
{
    (void)f;
    o->softcap = 0.0;
    o->z_loss = 0.0;
    o->confidence_penalty = 0.0;
    o->logit_scale = 1.0;
}
static void ok_prior_near(lsce_options *o, fixture *f)
{
    o->prior = f->prior;
    o->smoothing = 0.1;
    f->prior[LAST] += 5e-5f;
}
static void ok_bins_max(lsce_options *o, fixture *f)
{
    (void)f;
    o->calibration_bins = 1000;
    o->calibration = NULL; /* call_all points it at a 1000-bin buffer */
}
static void ok_bins_zero_with_pointer(lsce_options *o, fixture *f)
{
    o->calibration_bins = 0;
    o->calibration = (lsce_calibration_bin *)(void *)f->bins;
}

static const setting invalid_settings[] = {
    {"class weight −1e−6", cw_neg, LSCE_ERR_OPTION},
    {"class weight NaN", cw_nan, LSCE_ERR_OPTION},
    {"class weight +inf", cw_inf, LSCE_ERR_OPTION},
    {"class weight −inf", cw_ninf, LSCE_ERR_OPTION},
    {"prior with a negative entry", pr_neg, LSCE_ERR_OPTION},
    {"prior summing to 1 + 2e−4", pr_high, LSCE_ERR_OPTION},
    {"prior summing to 1 − 2e−4", pr_low, LSCE_ERR_OPTION},
    {"prior NaN", pr_nan, LSCE_ERR_OPTION},
    {"prior +inf", pr_inf, LSCE_ERR_OPTION},
    {"prior with convention others", pr_others, LSCE_ERR_OPTION},
    {"prior with convention seed", pr_seed, LSCE_ERR_OPTION},
    {"row weight −0.5", rw_neg, LSCE_ERR_OPTION},
    {"row weight NaN", rw_nan, LSCE_ERR_OPTION},
    {"row weight +inf", rw_inf, LSCE_ERR_OPTION},
    {"z < 0", z_neg, LSCE_ERR_OPTION},
    {"z NaN", z_nan, LSCE_ERR_OPTION},
    {"z +inf", z_inf, LSCE_ERR_OPTION},
    {"s = 0", s_zero, LSCE_ERR_OPTION},
    {"s = −0", s_mzero, LSCE_ERR_OPTION},
    {"s < 0", s_neg, LSCE_ERR_OPTION},
    {"s NaN", s_nan, LSCE_ERR_OPTION},
    {"s +inf", s_inf, LSCE_ERR_OPTION},
    {"softcap < 0", c_neg, LSCE_ERR_OPTION},
    {"softcap NaN", c_nan, LSCE_ERR_OPTION},
    {"softcap +inf", c_inf, LSCE_ERR_OPTION},
    {"β < 0", b_neg, LSCE_ERR_OPTION},
    {"β NaN", b_nan, LSCE_ERR_OPTION},
    {"β +inf", b_inf, LSCE_ERR_OPTION},
    {"B = −1", bins_neg, LSCE_ERR_OPTION},
    {"B = 1001", bins_big, LSCE_ERR_OPTION},
};

Test(options_invalid, nothing_written, .timeout = 120)
{
    test_rng rng = rng_for("options_invalid");
    fixture *f = malloc(sizeof *f);
    cr_assert(f);
    int bad = 0;
    const int n = (int)(sizeof invalid_settings / sizeof invalid_settings[0]);
    for (int i = 0; i < n; i++) {
        for (int red = 0; red < 3; red++) {
            fixture_init(f, &rng);
            lsce_options o;
            lsce_options_default(&o);
            o.reduction = (lsce_reduction)red;
            /* every other option valid and on, so only the one setting is wrong */
            if (invalid_settings[i].apply != bins_neg && invalid_settings[i].apply != bins_big) {
                o.calibration_bins = NB;
                o.calibration = (lsce_calibration_bin *)(void *)f->bins;
            }
            invalid_settings[i].apply(&o, f);
            for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
                if (lsce_isa_supported((lsce_isa)isa))
                    bad += call_all(f, &o, (lsce_isa)isa, invalid_settings[i].want,
                                    invalid_settings[i].what);
        }
    }
    free(f);
    cr_assert_eq(bad, 0, "%d invalid-option calls misbehaved (details on stderr)", bad);
}

/* B > 0 with calibration NULL: LSCE_ERR_NULL (lsce.h's options comment), from lsce_backward too,
 * although it never touches the bins: lsce.h states the rule for the options, not per entry point,
 * and lsce_backward takes "the same options" (one validation for every entry point). */
static void bins_null_test(int first, int last, const char *name)
{
    test_rng rng = rng_for(name);
    fixture *f = malloc(sizeof *f);
    cr_assert(f);
    int bad = 0;
    first_entry = first;
    last_entry = last;
    for (int red = 0; red < 3; red++) {
        fixture_init(f, &rng);
        lsce_options o;
        lsce_options_default(&o);
        o.reduction = (lsce_reduction)red;
        bins_null(&o, f);
        for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
            if (lsce_isa_supported((lsce_isa)isa))
                bad += call_all(f, &o, (lsce_isa)isa, LSCE_ERR_NULL, "B > 0 with calibration NULL");
    }
    first_entry = 0;
    last_entry = 2;
    free(f);
    cr_assert_eq(bad, 0, "%d calls misbehaved (details on stderr)", bad);
}

Test(options_invalid, bins_null_fused_and_forward, .timeout = 120)
{
    bins_null_test(0, 1, "options_bins_null");
}

Test(options_invalid, bins_null_backward, .timeout = 120)
{
    bins_null_test(2, 2, "options_bins_null_backward");
}

static const setting valid_settings[] = {
    {"class and row weights 0", ok_zero_weights, LSCE_OK},
    {"c = 0, z = 0, β = 0, s = 1 explicitly", ok_defaults_explicit, LSCE_OK},
    {"prior summing to 1 + 5e−5", ok_prior_near, LSCE_OK},
    {"B = 1000", ok_bins_max, LSCE_OK},
    {"B = 0 with a bins pointer (ignored)", ok_bins_zero_with_pointer, LSCE_OK},
};

Test(options_invalid, boundaries_accepted, .timeout = 120)
{
    test_rng rng = rng_for("options_valid_boundaries");
    fixture *f = malloc(sizeof *f);
    lsce_calibration_bin *big = calloc(1000, sizeof *big);
    cr_assert(f && big);
    int bad = 0;
    const int n = (int)(sizeof valid_settings / sizeof valid_settings[0]);
    for (int i = 0; i < n; i++) {
        fixture_init(f, &rng);
        lsce_options o;
        lsce_options_default(&o);
        valid_settings[i].apply(&o, f);
        for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
            if (!lsce_isa_supported((lsce_isa)isa))
                continue;
            lsce_options oi = o;
            if (oi.calibration_bins == 1000)
                oi.calibration = big;
            bad += call_all(f, &oi, (lsce_isa)isa, LSCE_OK, valid_settings[i].what);
        }
    }
    free(big);
    free(f);
    cr_assert_eq(bad, 0, "%d valid boundary calls misbehaved (details on stderr)", bad);
}
