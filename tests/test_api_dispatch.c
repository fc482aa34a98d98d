/*
 * test_api, dispatch and meta: lsce_set_isa and the variant names, lsce_strerror,
 * lsce_options_default and lsce_version.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "api_support.h"
#include "lsce.h"

/* ==== dispatch and metadata ================================================================== */

Test(dispatch, set_isa_scalar_then_isa_name_is_scalar)
{
    cr_assert_eq(lsce_set_isa("scalar"), LSCE_OK);
    cr_expect_str_eq(lsce_isa_name(), "scalar");
    /* AUTO now runs the scalar reference: bit-identical to an explicit scalar call. */
    batch b = make_batch("setisa", 3, 70, 0, 2.0, 0.0, 0.0, -100);
    lsce_options o = opts_of(LSCE_ISA_AUTO, LSCE_CONV_UNIFORM, LSCE_REDUCTION_SUM, 0, 0.1, -100);
    outs a = run(E_FUSED, &o, &b, NULL, 0);
    o.isa = LSCE_ISA_SCALAR;
    outs s = run(E_FUSED, &o, &b, NULL, 0);
    cr_expect(!memcmp(a.grad, s.grad, (size_t)(b.rows * b.stride) * sizeof(float)) &&
              a.res.loss == s.res.loss);
    free_outs(&a);
    free_outs(&s);
    free_batch(&b);
    /* Every supported name round-trips; "auto" and NULL restore the best. */
    FOR_EACH_ISA(isa) {
        cr_expect_eq(lsce_set_isa(lsce_isa_to_string(isa)), LSCE_OK);
        cr_expect_str_eq(lsce_isa_name(), lsce_isa_to_string(isa));
    }
    cr_assert_eq(lsce_set_isa("auto"), LSCE_OK);
    const char *best = lsce_isa_name();
    cr_expect_eq(lsce_set_isa("scalar"), LSCE_OK);
    cr_expect_eq(lsce_set_isa(NULL), LSCE_OK);
    cr_expect_str_eq(lsce_isa_name(), best);
}

Test(dispatch, set_isa_bogus_rejected_and_nothing_changes)
{
    cr_assert_eq(lsce_set_isa("scalar"), LSCE_OK);
    const char *bogus[] = {"bogus", "AVX2", "scalar ", "avx", "sse2", "neon2"};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        cr_expect_eq(lsce_set_isa(bogus[i]), LSCE_ERR_ISA, "\"%s\" accepted", bogus[i]);
        cr_expect_str_eq(lsce_isa_name(), "scalar");
    }
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        if (!lsce_isa_supported((lsce_isa)isa)) {
            cr_expect_eq(lsce_set_isa(lsce_isa_to_string((lsce_isa)isa)), LSCE_ERR_ISA,
                         "unsupported %s accepted", lsce_isa_to_string((lsce_isa)isa));
            cr_expect_str_eq(lsce_isa_name(), "scalar");
        }
}

Test(dispatch, isa_names_and_support_queries)
{
    const char *names[LSCE_ISA_COUNT_] = {"auto", "scalar", "avx2", "avx512", "neon"};
    for (int isa = 0; isa < LSCE_ISA_COUNT_; isa++)
        cr_expect_str_eq(lsce_isa_to_string((lsce_isa)isa), names[isa]);
    cr_expect_null(lsce_isa_to_string(LSCE_ISA_COUNT_));
    cr_expect_null(lsce_isa_to_string((lsce_isa)-1));
    cr_expect(!lsce_isa_supported(LSCE_ISA_COUNT_));
    cr_expect(!lsce_isa_supported((lsce_isa)-1));
    cr_expect(lsce_isa_supported(LSCE_ISA_SCALAR));
    cr_expect_not_null(lsce_cpu_features());
    const char *name = lsce_isa_name();
    cr_assert_not_null(name);
    int found = 0;
    FOR_EACH_ISA(isa) found |= !strcmp(name, lsce_isa_to_string(isa));
    cr_expect(found, "lsce_isa_name() \"%s\" is not a supported variant", name);
}

/* ==== metadata ============================================================================== */

Test(meta, strerror_non_null_for_every_code)
{
    for (int s = LSCE_OK; s <= LSCE_ERR_NOMEM; s++) {
        const char *t = lsce_strerror((lsce_status)s);
        cr_assert_not_null(t);
        cr_expect(strlen(t) > 0);
        for (int u = LSCE_OK; u < s; u++)
            cr_expect_str_neq(t, lsce_strerror((lsce_status)u), "codes %d and %d share text", s,
                              u);
    }
    cr_expect_not_null(lsce_strerror((lsce_status)99));
    cr_expect_not_null(lsce_strerror((lsce_status)-1));
}

Test(meta, options_default_values)
{
    lsce_options o;
    memset(&o, 0x5A, sizeof o);
    lsce_options_default(&o);
    cr_expect(o.smoothing == 0.0);
    cr_expect_eq(o.convention, LSCE_CONV_UNIFORM);
    cr_expect_eq(o.kl, 0);
    cr_expect_eq(o.ignore_index, -100);
    cr_expect_eq(o.reduction, LSCE_REDUCTION_MEAN);
    cr_expect_eq(o.isa, LSCE_ISA_AUTO);
    cr_expect_null(o.class_weight);
    cr_expect_null(o.prior);
    cr_expect_null(o.row_weight);
    cr_expect(o.z_loss == 0.0 && o.logit_scale == 1.0 && o.softcap == 0.0 &&
              o.confidence_penalty == 0.0);
    cr_expect_eq(o.calibration_bins, 0);
    cr_expect_null(o.calibration);
    cr_expect_eq(o.logits_dtype, LSCE_DTYPE_F32);
    cr_expect_eq(o.grad_dtype, LSCE_DTYPE_F32);
    lsce_options_default(NULL); /* must not crash */
}

Test(meta, version_non_empty_and_matches_macros)
{
    const char *v = lsce_version();
    cr_assert_not_null(v);
    cr_expect(strlen(v) > 0);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", LSCE_VERSION_MAJOR, LSCE_VERSION_MINOR,
             LSCE_VERSION_PATCH);
    cr_expect_str_eq(v, want);
}
