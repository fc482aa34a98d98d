/*
 * checkasm-style suite of lsce.h's objective options (issue #3): every variant this CPU runs
 * (scalar, avx2, avx512, neon) through lsce_forward_backward (out of place and in place, the same
 * bits), lsce_forward (into the same calibration bins: they accumulate) and lsce_backward from the
 * saved row_lse (out of place and in place), against the independent double oracle
 * (tests/options_oracle.c), with the bounds derived in tests/test_options_bounds.c; guard bytes
 * after every output (and the padding between strided gradient rows) must stay untouched.
 *
 * Seed: LSCE_TEST_SEED (printed once); every test derives its own stream from it and its name.
 * Each test ends with the worst error/bound ratio per variant and quantity on stderr.
 *
 * The binary: this file (each option alone, all at once, shapes, layouts, 16-bit storage),
 * tests/test_options_invalid.c (invalid values), tests/test_options_oracle.c (the oracle's own
 * checks), tests/test_options_softcap.c (softcap's t and chain rule, densely),
 * tests/test_options_run.c and tests/test_options_bounds.c (harness and bounds; test_options.h).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_options.h"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    test_print_seed("test_options");
}

/* ---- cases (declared in test_options.h) ---------------------------------------------------- */

ocase base_case(int64_t rows, int64_t V)
{
    ocase c;
    memset(&c, 0, sizeof c);
    c.rows = rows;
    c.V = V;
    c.lstride = c.gstride = V;
    c.ldt = c.gdt = LSCE_DTYPE_F32;
    c.dist = O_NORMAL;
    c.k = 4.0;
    lsce_options_default(&c.opts);
    return c;
}

void randomize_layout(test_rng *rng, ocase *c)
{
    static const double ks[] = {0.1, 1.0, 4.0, 16.0};
    c->lstride = rng_uniform(rng) < 0.5 ? c->V : c->V + rng_range(rng, 1, 40);
    c->gstride = rng_uniform(rng) < 0.5 ? c->V : c->V + rng_range(rng, 1, 40);
    c->loff = (int)rng_range(rng, 0, 4);
    c->goff = (int)rng_range(rng, 0, 4);
    c->ooff = (int)rng_range(rng, 0, 4);
    c->dist = (odist)rng_range(rng, 0, O_DIST_COUNT);
    c->k = ks[rng_range(rng, 0, 4)];
    c->ninf = rng_uniform(rng) < 0.25 ? 0.1 : 0.0;
    c->ignore = rng_uniform(rng) < 0.5 ? 0.0 : 0.25;
    c->go = rng_uniform(rng) < 0.5;
    c->inplace = rng_uniform(rng) < 0.3;
}

void randomize_options(test_rng *rng, ocase *c)
{
    static const double eps[] = {0.0, 0.1, 1.0};
    static const double zs[] = {1e-4, 0.1, 1.0};
    static const double ss[] = {0.5, 0.1, 2.0, 0.08838834764831845, 30.0};
    static const double caps[] = {30.0, 50.0, 5.0};
    static const double betas[] = {0.1, 1.0};
    static const int bins[] = {1, 10, 15, 1000};
    lsce_options *o = &c->opts;
    o->smoothing = eps[rng_range(rng, 0, 3)];
    o->convention = (lsce_convention)rng_range(rng, 0, 3);
    o->kl = rng_uniform(rng) < 0.5;
    o->reduction = (lsce_reduction)rng_range(rng, 0, 3);
    c->cw = rng_uniform(rng) < 0.5;
    c->cw_zero = rng_uniform(rng) < 0.5 ? 0.0 : 0.2;
    c->prior = o->convention == LSCE_CONV_UNIFORM && rng_uniform(rng) < 0.5;
    c->prior_zero = rng_uniform(rng) < 0.5 ? 0.0 : 0.3;
    c->rw = rng_uniform(rng) < 0.5;
    c->rw_zero = 0.25;
    o->z_loss = rng_uniform(rng) < 0.5 ? zs[rng_range(rng, 0, 3)] : 0.0;
    o->logit_scale = rng_uniform(rng) < 0.5 ? ss[rng_range(rng, 0, 5)] : 1.0;
    o->softcap = rng_uniform(rng) < 0.5 ? caps[rng_range(rng, 0, 3)] : 0.0;
    o->confidence_penalty = rng_uniform(rng) < 0.5 ? betas[rng_range(rng, 0, 2)] : 0.0;
    o->calibration_bins = rng_uniform(rng) < 0.5 ? bins[rng_range(rng, 0, 4)] : 0;
    c->sat = o->softcap > 0.0 && rng_uniform(rng) < 0.5;
}

/* The vocabulary sizes around the vector widths 4 / 8 / 16, the 4× unroll and the 4096 chunk. */
static const int64_t all_V[] = {1,  2,  3,  7,    8,    9,    15,   16,   17,   31,
                                32, 33, 65, 1000, 4095, 4096, 4097, 8193, 32000};
#define N_ALL_V ((int)(sizeof all_V / sizeof all_V[0]))
/* A cheaper subset (the prior-vs-uniform comparison runs every case twice). */
static const int64_t some_V[] = {1, 2, 7, 8, 9, 17, 33, 1000, 4097};
#define N_SOME_V ((int)(sizeof some_V / sizeof some_V[0]))

static int64_t rows_for(test_rng *rng, int64_t V)
{
    return V >= 4000 ? rng_range(rng, 1, 4) : rng_range(rng, 2, 8);
}

/* A random base case of size V: layout, distribution, ε, convention, kl, reduction. */
static ocase random_base(test_rng *rng, int64_t V)
{
    static const double eps[] = {0.0, 0.1, 1.0};
    ocase c = base_case(rows_for(rng, V), V);
    randomize_layout(rng, &c);
    c.opts.smoothing = eps[rng_range(rng, 0, 3)];
    c.opts.convention = (lsce_convention)rng_range(rng, 0, 3);
    c.opts.kl = rng_uniform(rng) < 0.3;
    c.opts.reduction = (lsce_reduction)rng_range(rng, 0, 3);
    return c;
}

typedef void (*setup_fn)(test_rng *rng, ocase *c, int i);

/* n cases per vocabulary size of Vs, each from random_base then setup. */
static void sweep(const char *name, const int64_t *Vs, int nV, int per_V, setup_fn setup)
{
    test_rng rng = rng_for(name);
    int failures = 0, no = 0;
    for (int v = 0; v < nV; v++)
        for (int i = 0; i < per_V; i++, no++) {
            ocase c = random_base(&rng, Vs[v]);
            setup(&rng, &c, no);
            failures += run_case(name, no, &c, &rng, NULL);
        }
    OFINISH(name, failures);
}

/* ---- each option alone ------------------------------------------------------------------- */

static void set_class_weight(test_rng *rng, ocase *c, int i)
{
    c->cw = 1;
    c->cw_zero = (i % 3) ? 0.2 : 0.0;
    (void)rng;
}
Test(options, class_weight, .timeout = 300)
{
    sweep("class_weight", all_V, N_ALL_V, 12, set_class_weight);
}

/* zero-weight classes with −inf logits (the target's too, when its weight is 0): 0, not NaN */
static void set_class_weight_ninf(test_rng *rng, ocase *c, int i)
{
    c->cw = 1;
    c->cw_zero = 0.3;
    c->cw_ninf = 1;
    c->opts.smoothing = (i % 2) ? 0.1 : 1.0;
    c->opts.kl = i % 3 == 0;
    (void)rng;
}
Test(options, class_weight_zero_with_ninf_logit, .timeout = 300)
{
    sweep("class_weight_zero_with_ninf_logit", all_V, N_ALL_V, 9, set_class_weight_ninf);
}

/* Past 64 chunks (262144 classes) the forward path sweeps a row in groups of chunk statistics:
 * each group must take the per-call chunk sums of the class factors from its own offset. */
static void set_class_factors_past_one_group(test_rng *rng, ocase *c, int i)
{
    c->cw = 1;
    c->cw_zero = i ? 0.2 : 0.0;
    c->prior = i;
    c->opts.convention = LSCE_CONV_UNIFORM;
    c->opts.smoothing = i ? 1.0 : 0.1;
    (void)rng;
}
Test(options, class_factors_past_one_chunk_group, .timeout = 300)
{
    static const int64_t past_one_group[] = {64 * 4096 + 4097};
    sweep("class_factors_past_one_chunk_group", past_one_group, 1, 2,
          set_class_factors_past_one_group);
}

static void set_prior(test_rng *rng, ocase *c, int i)
{
    static const double eps[] = {0.1, 1.0, 0.3};
    c->opts.convention = LSCE_CONV_UNIFORM;
    c->opts.smoothing = eps[i % 3];
    c->prior = 1;
    c->prior_zero = (i % 2) ? 0.3 : 0.0;
    c->ninf = (i % 4 == 1) ? 0.1 : 0.0; /* only where u_c = 0 and c ≠ y */
    (void)rng;
}
Test(options, prior, .timeout = 300)
{
    sweep("prior", all_V, N_ALL_V, 12, set_prior);
}

/* u = 1/V (rounded to fp32) against the uniform convention: the same results within the two
 * bounds and the difference of the two oracles (which ε·|fl(1/V) − 1/V| ≤ ε·u/V per class makes
 * ≤ ~2u·(|loss| + Ω), checked at 1e−6). */
Test(options, prior_uniform_equals_convention, .timeout = 300)
{
    const char *name = "prior_uniform_equals_convention";
    test_rng rng = rng_for(name);
    int failures = 0, no = 0;
    for (int v = 0; v < N_SOME_V; v++) {
        for (int i = 0; i < 2; i++, no++) {
            ocase c = random_base(&rng, some_V[v]);
            c.opts.convention = LSCE_CONV_UNIFORM;
            c.opts.smoothing = i ? 1.0 : 0.1;
            c.cw = i;
            c.opts.z_loss = i ? 0.01 : 0.0;
            ocap a[LSCE_ISA_COUNT_], b[LSCE_ISA_COUNT_];
            memset(a, 0, sizeof a);
            memset(b, 0, sizeof b);
            test_rng r1 = rng; /* the same data twice: neither prior mode draws numbers */
            c.prior = 2;
            failures += run_case(name, no, &c, &r1, a);
            c.prior = 0;
            failures += run_case(name, no, &c, &rng, b);
            for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
                if (!a[isa].grad || !b[isa].grad)
                    continue;
                const char *nm = lsce_isa_to_string((lsce_isa)isa);
                for (int64_t r = 0; r < c.rows; r++) {
                    const double la = a[isa].row_loss[r], lb = b[isa].row_loss[r];
                    if (!(fabs(la - lb) <= a[isa].row_loss_tol[r] + b[isa].row_loss_tol[r] +
                                               1e-6 * (1.0 + fabs(lb)))) {
                        failures++;
                        fprintf(stderr, "  FAIL %s#%d %s row %" PRId64 ": prior 1/V loss %.9g, "
                                "uniform %.9g\n", name, no, nm, r, la, lb);
                    }
                    for (int64_t j = 0; j < c.V; j++) {
                        const size_t k = (size_t)r * (size_t)c.V + (size_t)j;
                        const double ga = a[isa].grad[k], gb = b[isa].grad[k];
                        if (!(fabs(ga - gb) <= a[isa].grad_tol[k] + b[isa].grad_tol[k] +
                                                   1e-6 * fabs(gb))) {
                            failures++;
                            fprintf(stderr, "  FAIL %s#%d %s row %" PRId64 " grad[%" PRId64
                                    "]: prior 1/V %.9g, uniform %.9g\n", name, no, nm, r, j, ga, gb);
                            break;
                        }
                    }
                }
            }
            for (int isa = 0; isa < LSCE_ISA_COUNT_; isa++) {
                ocap_free(&a[isa]);
                ocap_free(&b[isa]);
            }
        }
    }
    OFINISH(name, failures);
}

static void set_row_weight(test_rng *rng, ocase *c, int i)
{
    c->rw = 1;
    c->rw_zero = (i % 2) ? 0.25 : 0.0;
    c->cw = i % 3 == 0;
    (void)rng;
}
Test(options, row_weight, .timeout = 300)
{
    sweep("row_weight", all_V, N_ALL_V, 12, set_row_weight);
}

/* mean with D = Σ ρ w_y = 0 (every row weight 0, or only zero-weight targets): loss 0, gradient 0 */
static void set_zero_denominator(test_rng *rng, ocase *c, int i)
{
    c->opts.reduction = LSCE_REDUCTION_MEAN;
    c->rw = 1;
    c->rw_zero = 1.0;
    c->opts.z_loss = (i % 2) ? 0.1 : 0.0;
    c->opts.calibration_bins = (i % 3 == 0) ? 10 : 0;
    (void)rng;
}
Test(options, zero_denominator, .timeout = 300)
{
    sweep("zero_denominator", all_V, N_ALL_V, 6, set_zero_denominator);
}

static void set_z_loss(test_rng *rng, ocase *c, int i)
{
    static const double zs[] = {1e-4, 0.1, 1.0};
    c->opts.z_loss = zs[i % 3];
    (void)rng;
}
Test(options, z_loss, .timeout = 300)
{
    sweep("z_loss", all_V, N_ALL_V, 9, set_z_loss);
}

/* s ∈ {0.5, 0.1, 2, 1/√128, 30, 1/3, 1.5·(1 + 0.67u)}: the last is 2/3 of an fp32 spacing from
 * 1.5 (its own rounding to fp32 is nearly the largest there is), with the lse_edge rows: t = s·x
 * must carry one rounding (test_options_bounds.c (T)), not fl(fl(s)·x)'s two. */
static void set_logit_scale(test_rng *rng, ocase *c, int i)
{
    static const double ss[] = {0.5, 0.1, 2.0, 0.08838834764831845, 30.0, 1.0 / 3.0,
                                0x1.800000ffbe76dp+0};
    c->opts.logit_scale = ss[i % 7];
    if (i % 7 == 6 && i % 2 == 0)
        c->dist = O_LSE_EDGE;
    (void)rng;
}
Test(options, logit_scale, .timeout = 300)
{
    sweep("logit_scale", all_V, N_ALL_V, 14, set_logit_scale);
}

/* softcap, with huge |x| (tanh saturates in fp32) and ±inf logits (→ ±c) in half the cases */
static void set_softcap(test_rng *rng, ocase *c, int i)
{
    static const double caps[] = {30.0, 50.0, 5.0};
    static const double ss[] = {1.0, 1.0, 0.5, 2.0};
    c->opts.softcap = caps[i % 3];
    c->opts.logit_scale = ss[i % 4];
    c->sat = i % 2;
    c->ninf = (i % 5 == 2) ? 0.1 : 0.0; /* −inf anywhere: softcap maps it to −c */
    (void)rng;
}
Test(options, softcap, .timeout = 300)
{
    sweep("softcap", all_V, N_ALL_V, 18, set_softcap);
}

static void set_confidence_penalty(test_rng *rng, ocase *c, int i)
{
    c->opts.confidence_penalty = (i % 2) ? 0.1 : 1.0;
    c->ninf = (i % 3 == 0) ? 0.1 : 0.0;
    (void)rng;
}
Test(options, confidence_penalty, .timeout = 300)
{
    sweep("confidence_penalty", all_V, N_ALL_V, 12, set_confidence_penalty);
}

/* A uniform row (all logits equal) has p = 1/V and p·(log p + H) = 0: with β = 10, class weights
 * 1e-30 and the mean (scale G = 1/w_y = 1e30) the gradient is exactly the plain one, 1/V − [c = y].
 * lsce_backward re-sweeps the row for the entropy; it once formed the penalty's part as
 * β·p·(t − lse) + β·p·H from the saved lse, two terms ~1e31 that cancel (errors ~1e23). Bound:
 * e = exp(0) = 1 exactly, so every element is one fp32 rounding of a double value (the target's,
 * and the coefficient G·Ω/d of the others, each with relative error ~1e-15): ≤ 2u·|g|. */
Test(options, confidence_penalty_uniform_row_huge_scale, .timeout = 60)
{
    static const int64_t sizes[] = {18, 5000};
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        for (int si = 0; si < 2; si++) {
            const int64_t V = sizes[si], y = 6;
            float *x = malloc(sizeof(float) * (size_t)V), *w = malloc(sizeof(float) * (size_t)V);
            float *g = malloc(sizeof(float) * (size_t)V), *h = malloc(sizeof(float) * (size_t)V);
            cr_assert(x && w && g && h);
            for (int64_t c = 0; c < V; c++) {
                x[c] = 0.5f;
                w[c] = 1e-30f;
            }
            lsce_options o;
            lsce_options_default(&o);
            o.isa = (lsce_isa)isa;
            o.confidence_penalty = 10.0;
            o.class_weight = w;
            float lse;
            cr_assert_eq(lsce_forward_backward(&o, 1, V, x, V, &y, NULL, g, V, NULL, &lse, NULL),
                         LSCE_OK);
            cr_assert_eq(lsce_backward(&o, 1, V, x, V, &y, &lse, NULL, h, V), LSCE_OK);
            for (int64_t c = 0; c < V; c++) {
                const double want = 1.0 / (double)V - (c == y ? 1.0 : 0.0);
                const double tol = 2.0 * 0x1p-24 * fabs(want);
                cr_expect(fabs(g[c] - want) <= tol && fabs(h[c] - want) <= tol,
                          "%s V=%" PRId64 " c=%" PRId64 ": fused %.9g, backward %.9g, exact %.9g",
                          lsce_isa_to_string((lsce_isa)isa), V, c, g[c], h[c], want);
            }
            free(x);
            free(w);
            free(g);
            free(h);
        }
    }
}

/* B bins; the runner checks them after the fused call and again after lsce_forward into the same
 * bins (accumulation), that lsce_backward leaves them alone, and lsce_ece against the definition */
static void set_calibration(test_rng *rng, ocase *c, int i)
{
    static const int bins[] = {1, 2, 10, 15, 1000};
    c->opts.calibration_bins = bins[i % 5];
    if (i % 4 == 3)
        c->dist = O_CONFIDENT; /* conf → 1: the last bin */
    (void)rng;
}
Test(options, calibration_bins, .timeout = 300)
{
    sweep("calibration_bins", all_V, N_ALL_V, 15, set_calibration);
}

/* ---- everything at once ---------------------------------------------------------------- */

/* Every option on, over every reduction × convention × kl × ε ∈ {0, 0.1, 1} (the prior only with
 * uniform), ignored rows, and the full list of vocabulary sizes. */
Test(options, all_at_once, .timeout = 600)
{
    const char *name = "all_at_once";
    static const double eps[] = {0.0, 0.1, 1.0};
    test_rng rng = rng_for(name);
    int failures = 0, no = 0;
    /* 3 rounds × 3 reductions × 3 conventions × kl × 3 ε: 162 cases */
    for (int k = 0; k < 162; k++, no++) {
        const int red = (k / 18) % 3, conv = (k / 6) % 3, kl = (k / 3) % 2, e = k % 3;
        const int64_t V = all_V[(no * 7) % N_ALL_V];
        ocase c = base_case(rows_for(&rng, V), V);
        randomize_layout(&rng, &c);
        randomize_options(&rng, &c);
        c.ignore = 0.25;
        c.opts.reduction = (lsce_reduction)red;
        c.opts.convention = (lsce_convention)conv;
        c.opts.kl = kl;
        c.opts.smoothing = eps[e];
        c.cw = 1;
        c.prior = conv == LSCE_CONV_UNIFORM;
        c.rw = 1;
        if (c.opts.z_loss == 0.0)
            c.opts.z_loss = 0.01;
        if (c.opts.logit_scale == 1.0)
            c.opts.logit_scale = 0.5;
        if (c.opts.softcap == 0.0)
            c.opts.softcap = 30.0;
        if (c.opts.confidence_penalty == 0.0)
            c.opts.confidence_penalty = 0.1;
        if (c.opts.calibration_bins == 0)
            c.opts.calibration_bins = 15;
        failures += run_case(name, no, &c, &rng, NULL);
    }
    OFINISH(name, failures);
}

/* Random options (each on with probability 1/2) over every vocabulary size. */
Test(options, vocab_sizes, .timeout = 600)
{
    const char *name = "vocab_sizes";
    test_rng rng = rng_for(name);
    int failures = 0, no = 0;
    for (int v = 0; v < N_ALL_V; v++)
        for (int i = 0; i < 10; i++, no++) {
            ocase c = base_case(rows_for(&rng, all_V[v]), all_V[v]);
            randomize_layout(&rng, &c);
            randomize_options(&rng, &c);
            failures += run_case(name, no, &c, &rng, NULL);
        }
    OFINISH(name, failures);
}

/* Strides > V, logits one element off alignment, in place, every row output offset. */
Test(options, layouts_and_in_place, .timeout = 300)
{
    const char *name = "layouts_and_in_place";
    test_rng rng = rng_for(name);
    int failures = 0, no = 0;
    static const int64_t Vs[] = {3, 16, 33, 4097};
    for (int v = 0; v < 4; v++)
        for (int i = 0; i < 8; i++, no++) {
            ocase c = base_case(rows_for(&rng, Vs[v]), Vs[v]);
            randomize_layout(&rng, &c);
            randomize_options(&rng, &c);
            c.lstride = Vs[v] + 1 + i;
            c.gstride = i % 2 ? c.lstride : Vs[v] + 7;
            c.loff = 1;
            c.goff = i % 4;
            c.ooff = (i + 1) % 4;
            c.inplace = 1;
            failures += run_case(name, no, &c, &rng, NULL);
        }
    OFINISH(name, failures);
}

/* No rows, and every row ignored: loss 0, no bins, gradients 0. */
Test(options, empty_and_all_ignored, .timeout = 300)
{
    const char *name = "empty_and_all_ignored";
    test_rng rng = rng_for(name);
    int failures = 0;
    for (int i = 0; i < 6; i++) {
        ocase c = base_case(i < 3 ? 0 : 4, i % 2 ? 17 : 1000);
        randomize_options(&rng, &c);
        c.opts.reduction = (lsce_reduction)(i % 3);
        c.ignore = 1.0;
        c.opts.calibration_bins = 10;
        c.inplace = 1;
        failures += run_case(name, i, &c, &rng, NULL);
    }
    OFINISH(name, failures);
}

/* bf16 / f16 logits and gradients (the oracle upcasts the 16-bit logits exactly; a 16-bit
 * gradient adds half an ulp of its dtype to the bound). */
Test(options, dtypes_16bit, .timeout = 300)
{
    const char *name = "dtypes_16bit";
    static const lsce_dtype pairs[][2] = {
        {LSCE_DTYPE_BF16, LSCE_DTYPE_BF16}, {LSCE_DTYPE_F16, LSCE_DTYPE_F16},
        {LSCE_DTYPE_F32, LSCE_DTYPE_BF16},  {LSCE_DTYPE_BF16, LSCE_DTYPE_F32},
        {LSCE_DTYPE_F16, LSCE_DTYPE_F32},   {LSCE_DTYPE_F32, LSCE_DTYPE_F16}};
    static const int64_t Vs[] = {1, 7, 16, 17, 65, 4096, 4097, 32000};
    test_rng rng = rng_for(name);
    int failures = 0, no = 0;
    for (int pi = 0; pi < 6; pi++)
        for (int v = 0; v < 8; v++, no++) {
            ocase c = base_case(rows_for(&rng, Vs[v]), Vs[v]);
            randomize_layout(&rng, &c);
            randomize_options(&rng, &c);
            if (c.dist == O_OFFSET)
                c.dist = O_NORMAL; /* 1e4 + N(0,1) is hardly more than one value in 16 bits */
            c.ldt = pairs[pi][0];
            c.gdt = pairs[pi][1];
            c.inplace = c.ldt == c.gdt;
            failures += run_case(name, no, &c, &rng, NULL);
        }
    OFINISH(name, failures);
}

/* Gradients of ≥ 4 MiB: the streaming stores, where the fused path writes each kept row's
 * gradient during the next kept row's stats sweep (src/rows.c, pipelined) — with class factors,
 * a t row (the fp32 logits themselves, or a transform's), softcap's v row, 16-bit dtypes,
 * ignored rows (some last), padded gradient rows off the line alignment. */
typedef struct streaming_shape {
    int64_t rows, V;
    lsce_dtype ldt, gdt;
    int cw, prior, scale, softcap, cp, all;
} streaming_shape;

Test(options, streaming, .timeout = 600)
{
    const char *name = "streaming";
    static const streaming_shape shapes[] = {
        {36, 32000, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 1, 0, 0, 0, 0, 0},
        {300, 4097, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 0, 1, 0, 0, 0, 0},
        {36, 32000, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 0, 0, 0, 0, 1, 0},
        {70, 32000, LSCE_DTYPE_BF16, LSCE_DTYPE_BF16, 0, 0, 1, 0, 1, 0},
        {140, 8193, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 0, 0, 0, 1, 0, 0},
        {36, 32000, LSCE_DTYPE_F16, LSCE_DTYPE_F32, 1, 0, 0, 0, 1, 0},
        {36, 32000, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 0, 0, 0, 0, 0, 1},
        {70, 32000, LSCE_DTYPE_BF16, LSCE_DTYPE_F16, 0, 0, 0, 0, 0, 1},
    };
    test_rng rng = rng_for(name);
    int failures = 0;
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        const streaming_shape *s = &shapes[i];
        ocase c = base_case(s->rows, s->V);
        randomize_layout(&rng, &c);
        if (s->all)
            randomize_options(&rng, &c);
        c.ldt = s->ldt;
        c.gdt = s->gdt;
        c.dist = O_NORMAL;
        c.inplace = 0;
        c.ignore = 0.25;
        c.gstride = s->V + (i % 2 ? 3 : 0);
        c.goff = i % 4;
        c.opts.smoothing = 0.1;
        c.opts.convention = LSCE_CONV_UNIFORM;
        c.cw |= s->cw;
        c.prior |= s->prior;
        if (s->scale)
            c.opts.logit_scale = 0.5;
        if (s->softcap)
            c.opts.softcap = 30.0;
        if (s->cp)
            c.opts.confidence_penalty = 0.1;
        const size_t gsize = c.gdt == LSCE_DTYPE_F32 ? 4 : 2;
        cr_assert((size_t)(c.rows * c.gstride) * gsize >= ((size_t)4 << 20),
                  "shape %d does not reach the streaming threshold (src/lsce.c)", i);
        failures += run_case(name, i, &c, &rng, NULL);
    }
    OFINISH(name, failures);
}
