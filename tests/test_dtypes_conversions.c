/*
 * bf16 / fp16 conversions (part of test_dtypes; see tests/test_dtypes.c): tests/half_ref.h against
 * src/half.h and gcc's _Float16, and the SIMD conversions inside the kernels reached through the
 * public API — every 16-bit logit loaded exactly, chosen fp32 gradients rounded bit for bit.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <stdlib.h>

#include "dtype_harness.h"
#include "half.h" /* src/half.h: the library's conversion specification */

#ifdef __FLT16_MAX__
__extension__ typedef _Float16 native_f16; /* gcc ≥ 12 on x86-64: libgcc's soft-fp conversions */
#endif

/* ================================================================================================
 * 1. Conversions
 * ============================================================================================== */

typedef struct conv_tally {
    long checked, bad, f16_native_checked, f16_native_bad, f16_native_nan_diff;
} conv_tally;

/* One fp32 input: half_ref.h against src/half.h (bits) and, for fp16, gcc's _Float16. */
static void conv_probe(float v, conv_tally *t)
{
    const uint16_t rb = ref_f32_to_16(v, BF16), sb = lsce_f32_to_bf16(v);
    const uint16_t rh = ref_f32_to_16(v, F16), sh = lsce_f32_to_f16(v);
    t->checked += 2;
    if (rb != sb || rh != sh) {
        if (t->bad < 10)
            fprintf(stderr, "  FAIL fp32 0x%08x: bf16 ref 0x%04x half.h 0x%04x; f16 ref 0x%04x "
                            "half.h 0x%04x\n",
                    ref_f32_bits(v), rb, sb, rh, sh);
        t->bad++;
    }
#ifdef __FLT16_MAX__
    const native_f16 n = (native_f16)v;
    uint16_t nh;
    memcpy(&nh, &n, 2);
    t->f16_native_checked++;
    if (isnan(v)) {
        if (nh != rh)
            t->f16_native_nan_diff++; /* the NaN payload rule is lsce's; only the class counts */
        if (!ref_is_nan16(nh, F16))
            t->f16_native_bad++;
    } else if (nh != rh) {
        if (t->f16_native_bad < 10)
            fprintf(stderr, "  FAIL fp32 %a → _Float16 0x%04x, ref 0x%04x\n", (double)v, nh, rh);
        t->f16_native_bad++;
    }
#endif
}

/* fp32 probes around one 16-bit value h of format d: its image, ±1..2 fp32 ulps, the tie with the
 * next value up, ±1 fp32 ulp around the tie. */
static void probe_around(uint16_t h, lsce_dtype d, conv_tally *t)
{
    const double v = ref_decode(h, d);
    if (isnan(v) || isinf(v))
        return;
    const float f = (float)v; /* exact */
    conv_probe(f, t);
    conv_probe(nextafterf(f, INFINITY), t);
    conv_probe(nextafterf(f, -INFINITY), t);
    conv_probe(nextafterf(nextafterf(f, INFINITY), INFINITY), t);
    conv_probe(nextafterf(nextafterf(f, -INFINITY), -INFINITY), t);
    /* the tie with the next representable value away from zero (exact in fp32) */
    const double up = v + copysign(ref_ulp(v, d), v == 0.0 ? 1.0 : v);
    const double tie = 0.5 * (v + up);
    if (fabs(tie) <= FLT_MAX) {
        const float ft = (float)tie;
        cr_assert_eq((double)ft, tie, "a tie not exact in fp32: %a", tie);
        conv_probe(ft, t);
        conv_probe(nextafterf(ft, INFINITY), t);
        conv_probe(nextafterf(ft, -INFINITY), t);
    }
}

Test(dtypes, conversion_reference_matches_half_h_and_float16, .timeout = 60)
{
    /* 16 → 32: every bit pattern, exact (NaN payloads kept, src/half.h) */
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        for (int d = BF16; d <= F16; d++) {
            const float got = d == BF16 ? lsce_bf16_to_f32((uint16_t)h)
                                        : lsce_f16_to_f32((uint16_t)h);
            const double want = ref_decode((uint16_t)h, (lsce_dtype)d);
            const ref_fmt f = ref_format((lsce_dtype)d);
            int ok;
            if (isnan(want)) /* sign, exponent, payload shifted up */
                ok = ref_f32_bits(got) ==
                     (((h & 0x8000u) << 16) | 0x7f800000u |
                      ((h & ((1u << (f.p - 1)) - 1u)) << (24 - f.p)));
            else
                ok = (double)got == want && !signbit(got) == !signbit(want);
            if (!ok && bad++ < 10)
                fprintf(stderr, "  FAIL %s 0x%04x → %a, want %a\n", dt_name[d], h, (double)got,
                        want);
#ifdef __FLT16_MAX__
            if (d == F16 && !isnan(want)) {
                native_f16 n;
                const uint16_t hh = (uint16_t)h;
                memcpy(&n, &hh, 2);
                if ((double)n != want && bad++ < 10)
                    fprintf(stderr, "  FAIL _Float16 0x%04x = %a, ref %a\n", h, (double)n, want);
            }
#endif
        }
    }
    cr_expect_eq(bad, 0, "%ld 16 → 32 conversions differ", bad);

    /* 32 → 16: around every value of both formats, special values, random bits */
    conv_tally t = {0};
    for (uint32_t h = 0; h < 65536; h++) {
        probe_around((uint16_t)h, BF16, &t);
        probe_around((uint16_t)h, F16, &t);
    }
    static const uint32_t specials[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x00008000u, 0x00018000u,
        0x00007fffu, 0x00008001u, 0x007fffffu, 0x00800000u, 0x7f7fffffu, 0xff7fffffu,
        0x7f7f7fffu, 0x7f7f8000u, 0x7f7f8001u, 0x7f800000u, 0xff800000u, 0x7f800001u,
        0xff800001u, 0x7fbfffffu, 0x7fc00000u, 0xffc00000u, 0x7fffffffu, 0xffffffffu,
        0x7fa12345u, 0xffd0beefu, 0x477fefffu, 0x477ff000u, 0x477ff001u, 0x47800000u,
        0x33000000u, 0x33000001u, 0x32ffffffu, 0x33c00000u, 0x38800000u, 0x387fc000u,
        0x387fe000u, 0x387fffffu, 0x337fffffu};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        conv_probe(ref_bits_f32(specials[i]), &t);
    test_rng rng = test_rng_for("conversion_reference");
    for (int i = 0; i < (1 << 21); i++)
        conv_probe(ref_bits_f32((uint32_t)rng_u64(&rng)), &t);
    fprintf(stderr, "dtypes/conversion_reference: %ld fp32 → bf16/f16 conversions vs src/half.h, "
                    "%ld differ; %ld fp16 vs _Float16, %ld differ (NaN payload differences: %ld)\n",
            t.checked, t.bad, t.f16_native_checked, t.f16_native_bad, t.f16_native_nan_diff);
    cr_expect_eq(t.bad, 0, "%ld fp32 → 16-bit conversions of src/half.h differ from the reference",
                 t.bad);
    cr_expect_eq(t.f16_native_bad, 0, "%ld fp32 → fp16 conversions differ from _Float16",
                 t.f16_native_bad);

#ifdef __FLT16_MAX__
    /* binary64 → fp16 directly (the oracle's rounding): against _Float16, including values one
     * double ulp around the fp16 ties, where rounding through fp32 would differ */
    long dbad = 0, dchecked = 0, via_f32_differs = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        const double v = ref_decode((uint16_t)h, F16);
        const double tie = v + 0.5 * ref_ulp(v, F16);
        const double probes[] = {v, tie, nextafter(tie, 0.0), nextafter(tie, INFINITY),
                                 tie + ldexp(tie, -40), -(tie + ldexp(tie, -40))};
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
            const native_f16 n = (native_f16)probes[i];
            uint16_t nh;
            memcpy(&nh, &n, 2);
            const uint16_t rh = ref_f64_to_16(probes[i], F16);
            dchecked++;
            via_f32_differs += rh != ref_f32_to_16((float)probes[i], F16);
            if (nh != rh && dbad++ < 10)
                fprintf(stderr, "  FAIL double %a → _Float16 0x%04x, ref 0x%04x\n", probes[i], nh,
                        rh);
        }
    }
    fprintf(stderr, "dtypes/conversion_reference: %ld fp64 → fp16 vs _Float16, %ld differ (%ld of "
                    "them round differently through fp32)\n",
            dchecked, dbad, via_f32_differs);
    cr_expect_eq(dbad, 0);
    cr_expect_gt(via_f32_differs, 0);
#endif
}

/*
 * The SIMD 16 → 32 loads, exhaustively: row r holds one 16-bit value h at column j = r mod V and
 * −inf elsewhere, so lse = x_j + log 1 = x_j exactly (NaN for NaN and +inf, −inf for −inf), and
 * the argmax is j unless the row is all −inf.
 */
Test(dtypes, simd_loads_every_16_bit_value, .timeout = 60)
{
    const int64_t V = 37, rows = 65536;
    int failures = 0;
    uint16_t *x = malloc(sizeof(uint16_t) * (size_t)(rows * V));
    int64_t *y = malloc(sizeof(int64_t) * (size_t)rows);
    float *lse = malloc(sizeof(float) * (size_t)rows), *loss = malloc(sizeof(float) * (size_t)rows);
    cr_assert(x && y && lse && loss);
    for (int d = BF16; d <= F16; d++) {
        const uint16_t ninf = (uint16_t)(0x8000u | ref_format((lsce_dtype)d).inf);
        int64_t want_correct = 0;
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < V; j++)
                x[r * V + j] = ninf;
            y[r] = r % V;
            x[r * V + y[r]] = (uint16_t)r;
            want_correct += (uint16_t)r != ninf || y[r] == 0;
        }
        for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
            if (!lsce_isa_supported((lsce_isa)isa))
                continue;
            lsce_options o;
            lsce_options_default(&o);
            o.isa = (lsce_isa)isa;
            o.logits_dtype = (lsce_dtype)d;
            o.reduction = LSCE_REDUCTION_NONE;
            lsce_result res;
            cr_assert_eq(lsce_forward(&o, rows, V, x, V, y, loss, lse, &res), LSCE_OK);
            int bad = 0;
            for (int64_t r = 0; r < rows; r++) {
                const double v = ref_decode((uint16_t)r, (lsce_dtype)d);
                const int ok = isnan(v) || v == INFINITY ? isnan(lse[r]) && isnan(loss[r])
                               : v == -INFINITY          ? lse[r] == -INFINITY && isnan(loss[r])
                                                         : (double)lse[r] == v && loss[r] == 0.0f;
                if (!ok && bad++ < 5)
                    fprintf(stderr, "  FAIL %s %s: value 0x%04x (%a) at column %" PRId64
                                    ": row_lse %a, row_loss %a\n",
                            lsce_isa_to_string((lsce_isa)isa), dt_name[d], (unsigned)r, v,
                            y[r], (double)lse[r], (double)loss[r]);
            }
            if (res.n_correct != want_correct && bad++ < 5)
                fprintf(stderr, "  FAIL %s %s: n_correct %" PRId64 ", want %" PRId64 "\n",
                        lsce_isa_to_string((lsce_isa)isa), dt_name[d], res.n_correct,
                        want_correct);
            failures += bad;
        }
    }
    free(x);
    free(y);
    free(lse);
    free(loss);
    cr_assert_eq(failures, 0, "%d 16-bit loads differ from the exact upcast", failures);
}

/* fp32 values whose 16-bit roundings are worth a look: ties and near-ties in every binade of
 * both formats (normal and subnormal), the overflow thresholds, NaN payloads, random bits. */
static size_t interesting_floats(float *out, size_t cap, test_rng *rng)
{
    size_t n = 0;
#define PUT(v)                                                                                     \
    do {                                                                                           \
        if (n < cap)                                                                               \
            out[n++] = (v);                                                                        \
    } while (0)
    for (int d = BF16; d <= F16; d++) {
        const ref_fmt f = ref_format((lsce_dtype)d);
        /* exponents from below the smallest subnormal to the largest binade */
        for (int e = f.emin - 3; e <= f.emax; e += (e < f.emin + 2 || e > f.emax - 3) ? 1 : 7) {
            for (int rep = 0; rep < 3; rep++) {
                /* a 16-bit value of that binade (e < emin: a subnormal, or 0 and the smallest
                 * ones) with an even and an odd last bit */
                const double m = e < f.emin ? (double)(rep == 0 ? 0 : rng_range(rng, 0, 1 << (f.p - 1)))
                                            : ldexp(1.0, f.p - 1) +
                                                  (double)rng_range(rng, 0, 1 << (f.p - 1));
                for (int odd = 0; odd < 2; odd++) {
                    const double kept = (fmod(m, 2.0) == (double)odd ? m : m + 1.0);
                    const int es = e < f.emin ? f.emin : e;
                    const double v = ldexp(kept, es - (f.p - 1)), half_ulp = ldexp(1.0, es - f.p);
                    if (v + 2.0 * half_ulp > FLT_MAX)
                        continue;
                    const float tie = (float)(v + half_ulp);
                    const float probes[] = {(float)v, tie, nextafterf(tie, 0.0f),
                                            nextafterf(tie, INFINITY),
                                            (float)(v + half_ulp * 0.5)};
                    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
                        PUT(probes[i]);
                        PUT(-probes[i]);
                    }
                }
            }
        }
    }
    static const uint32_t specials[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x00008000u, 0x00018000u, 0x007fffffu,
        0x00800000u, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7fffffu, 0xff7f8000u, 0x477fefffu,
        0x477ff000u, 0xc77ff000u, 0x47800000u, 0x33000000u, 0x33000001u, 0xb3000001u,
        0x33400000u, 0x33c00000u, 0x387fe000u, 0x387ff000u, 0x38800000u, 0x7fc00000u,
        0xffc00000u, 0x7fa12345u, 0xffd5a5a5u, 0x7f800001u, 0x7fffffffu, 0xff912345u};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        PUT(ref_bits_f32(specials[i]));
    for (int i = 0; i < 600; i++) {
        const uint32_t u = (uint32_t)rng_u64(rng);
        PUT(ref_bits_f32(u));
    }
#undef PUT
    return n;
}

/*
 * The SIMD fp32 → 16-bit conversions on chosen values, through the public API. `others` at ε = 1:
 * q_y = 0, q_c = 1/(V − 1) = 2^−k, A = 1. Row r: its target logit 0, every other logit −inf, so
 * p_y = 1 and every other gradient entry is fma(0, coef, fl(−g·q_c)) = −g_r·2^−k exactly: with
 * reduction none and grad_output_r = −F_r·(V − 1) it is F_r. Both entry points, every variant,
 * rows at every alignment (odd V: row starts cycle through the vector alignments).
 */
Test(dtypes, simd_conversions_of_chosen_values, .timeout = 60)
{
    test_rng rng = test_rng_for("simd_conversions");
    enum { CAP = 4096 };
    float *vals = malloc(sizeof(float) * CAP);
    cr_assert(vals);
    const size_t nv = interesting_floats(vals, CAP, &rng);
    long checked = 0;
    int failures = 0;
    static const int64_t Vs[] = {2, 17, 33, 65, 129};
    for (size_t vi = 0; vi < sizeof Vs / sizeof Vs[0]; vi++) {
        const int64_t V = Vs[vi], scale = V - 1; /* q_c = 1/scale, a power of two */
        /* the values F with −F·scale a finite float (NaNs kept: they ride along in g) */
        int64_t rows = 0;
        float *F = malloc(sizeof(float) * nv);
        cr_assert(F);
        for (size_t i = 0; i < nv; i++)
            if (isnan(vals[i]) || fabs((double)vals[i] * (double)scale) <= FLT_MAX)
                F[rows++] = vals[i];
        float *x = malloc(sizeof(float) * (size_t)(rows * V));
        int64_t *y = malloc(sizeof(int64_t) * (size_t)rows);
        float *go = malloc(sizeof(float) * (size_t)rows), *lse = malloc(sizeof(float) * (size_t)rows);
        cr_assert(x && y && go && lse);
        for (int64_t r = 0; r < rows; r++) {
            y[r] = rng_range(&rng, 0, V);
            for (int64_t j = 0; j < V; j++)
                x[r * V + j] = j == y[r] ? 0.0f : -INFINITY;
            go[r] = isnan(F[r]) ? F[r] : (float)(-(double)F[r] * (double)scale);
        }
        init_variants();
        for (int vi = 0; vi < g_nvar; vi++) {
            const variant *v = &g_var[vi];
            const char *name = v->name;
            lsce_options o;
            lsce_options_default(&o);
            o.isa = v->isa;
            o.smoothing = 1.0;
            o.convention = LSCE_CONV_OTHERS;
            o.reduction = LSCE_REDUCTION_NONE;
            if (!v->table)
                cr_assert_eq(lsce_forward(&o, rows, V, x, V, y, NULL, lse, NULL), LSCE_OK);
            for (int entry = 0; entry < (v->table ? 1 : 2); entry++) {
                float *g32 = malloc(sizeof(float) * (size_t)(rows * V));
                gbuf gb = {0};
                cr_assert(g32);
                o.grad_dtype = F32;
                cr_assert_eq(entry ? lsce_backward(&o, rows, V, x, V, y, lse, go, g32, V)
                                   : call_fused(v, &o, rows, V, x, V, y, go, g32, V, NULL, NULL,
                                                NULL),
                             LSCE_OK);
                for (int d = BF16; d <= F16; d++) {
                    for (int off = 0; off < 8; off += 3) {
                        uint16_t *g16 = gbuf_alloc(&gb, (size_t)(rows * V) * 2, (size_t)off * 2);
                        o.grad_dtype = (lsce_dtype)d;
                        cr_assert_eq(entry ? lsce_backward(&o, rows, V, x, V, y, lse, go, g16, V)
                                           : call_fused(v, &o, rows, V, x, V, y, go, g16, V, NULL,
                                                        NULL, NULL),
                                     LSCE_OK);
                        int bad = 0;
                        for (int64_t r = 0; r < rows; r++)
                            for (int64_t j = 0; j < V; j++) {
                                const float f32 = g32[r * V + j];
                                const uint16_t got = g16[r * V + j];
                                const uint16_t want = ref_f32_to_16(f32, (lsce_dtype)d);
                                /* the construction: the fp32 run gives F itself */
                                const int construction_ok =
                                    j == y[r] || (isnan(F[r]) ? isnan(f32) : f32 == F[r]);
                                checked++;
                                if ((got != want || !construction_ok) && bad++ < 6)
                                    fprintf(stderr,
                                            "  FAIL %s %s V=%" PRId64 " %s offset %d: F = %a "
                                            "(0x%08x), fp32 output %a (0x%08x), %s output 0x%04x, "
                                            "want 0x%04x%s\n",
                                            name, entry ? "backward" : "fused", V, dt_name[d],
                                            off, (double)F[r], ref_f32_bits(F[r]), (double)f32,
                                            ref_f32_bits(f32), dt_name[d], got, want,
                                            construction_ok ? "" : " (fp32 output is not F)");
                            }
                        if (!gbuf_untouched(&gb, 1, rows * V, rows * V, 2) && bad++ < 6)
                            fprintf(stderr, "  FAIL %s: a guard byte changed\n", name);
                        failures += bad;
                        gbuf_free(&gb);
                    }
                }
                free(g32);
            }
        }
        free(F);
        free(x);
        free(y);
        free(go);
        free(lse);
    }
    free(vals);
    fprintf(stderr, "dtypes/simd_conversions: %ld gradient elements compared bit for bit, %d "
                    "differ\n",
            checked, failures);
    cr_assert_eq(failures, 0, "SIMD conversions differ from the reference (LSCE_TEST_SEED=0x%" PRIx64
                              ")", test_seed());
}
