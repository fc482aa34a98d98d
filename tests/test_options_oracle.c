/*
 * The oracle's own checks (tests/options_oracle.c), independent of the library:
 *   - its analytic gradient against central finite differences of its own double loss, with
 *     every subset of the options on (class weights, prior, row weights, z, s, softcap, β, kl, ε),
 *     through the batch loss of every reduction (so D and the mean's scale are covered);
 *   - without options it equals tests/oracle.c (the plain loss's oracle, written separately);
 *   - identities of the objective: the z term is ρ·z·lse², a huge softcap is the plain scale,
 *     a zero-weight class with a −inf logit adds nothing.
 * Finite-difference tolerance (central, step h = 1e−6·max(1, |x|)): truncation h²/6·|∂³L/∂x³|
 * with |x| ≲ 8, s ≤ 2, c ≥ 5 here stays ≲ 1e−12·100 = 1e−10; rounding: the oracle's loss is good
 * to ≲ 1e−15 of Σ|terms| (compensated sums, libm), divided by 2h: ≤ 1e−13·Σ|terms|/h. The bound
 * 1e−7·(1 + max|∂L/∂x|) + 1e−13·Σ|terms|/h leaves ≥ 100× margin on both, and a wrong term in the
 * formula (a factor, a sign, a missing p_c) is an error of O(|∂L/∂x|), 1e5× larger.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options_oracle.h"
#include "oracle.h"
#include "test_options.h"

typedef struct fd_setup {
    lsce_options o;
    float cw[40], prior[40], rw[4];
    int64_t rows, V, targets[4];
    double x[4 * 40];
} fd_setup;

static void make_fd(test_rng *rng, unsigned mask, fd_setup *f)
{
    memset(f, 0, sizeof *f);
    lsce_options *o = &f->o;
    lsce_options_default(o);
    f->rows = 3;
    f->V = rng_range(rng, 1, 41);
    const int64_t V = f->V;
    o->reduction = (lsce_reduction)rng_range(rng, 0, 3);
    o->convention = (mask & 2) ? LSCE_CONV_UNIFORM : (lsce_convention)rng_range(rng, 0, 3);
    if (mask & 1)
        o->smoothing = rng_uniform(rng) < 0.5 ? 0.1 : 1.0;
    if (mask & 2) {
        double s = 0.0, raw[40];
        for (int64_t c = 0; c < V; c++)
            s += raw[c] = rng_uniform(rng) < 0.2 ? 0.0 : rng_uniform(rng) + 0.01;
        if (s == 0.0)
            s = raw[0] = 1.0;
        for (int64_t c = 0; c < V; c++)
            f->prior[c] = (float)(raw[c] / s);
        o->prior = f->prior;
    }
    if (mask & 4) {
        for (int64_t c = 0; c < V; c++)
            f->cw[c] = rng_uniform(rng) < 0.2 ? 0.0f : (float)(0.1 + 2.0 * rng_uniform(rng));
        o->class_weight = f->cw;
    }
    if (mask & 8) {
        for (int64_t r = 0; r < f->rows; r++)
            f->rw[r] = rng_uniform(rng) < 0.2 ? 0.0f : (float)(2.0 * rng_uniform(rng));
        o->row_weight = f->rw;
    }
    if (mask & 16)
        o->z_loss = 0.3;
    if (mask & 32)
        o->logit_scale = rng_uniform(rng) < 0.5 ? 0.7 : 2.0;
    if (mask & 64)
        o->softcap = rng_uniform(rng) < 0.5 ? 5.0 : 30.0;
    if (mask & 128)
        o->confidence_penalty = 0.5;
    if (mask & 256)
        o->kl = 1;
    for (int64_t r = 0; r < f->rows; r++) {
        f->targets[r] = rng_uniform(rng) < 0.2 ? o->ignore_index : rng_range(rng, 0, V);
        for (int64_t c = 0; c < V; c++)
            f->x[r * V + c] = (double)(float)(2.0 * rng_normal(rng));
    }
}

Test(oracle, finite_differences, .timeout = 300)
{
    test_rng rng = rng_for("oracle_finite_differences");
    double worst = 0.0;
    int bad = 0;
    for (unsigned mask = 0; mask < 512; mask++) {
        fd_setup f;
        make_fd(&rng, mask, &f);
        const int64_t rows = f.rows, V = f.V;
        oopt_batch ob;
        cr_assert_eq(oopt_eval_batch(&f.o, rows, V, f.x, f.targets, NULL, 1, &ob), 0);
        /* Σ|terms| of the batch loss, and max |∂L/∂x| */
        double terms = 0.0, gmax = 0.0;
        const double den = f.o.reduction == LSCE_REDUCTION_MEAN && ob.result.denominator > 0.0
                               ? ob.result.denominator : 1.0;
        for (int64_t r = 0; r < rows; r++) {
            const oopt_row *w = &ob.row[r];
            if (!ob.kept[r])
                continue;
            terms += ob.rho[r] * (fabs(w->loss) + w->omega_sum * (fabs(w->lse) + 1.0) +
                                  f.o.z_loss * w->lse * w->lse + f.o.confidence_penalty * w->H +
                                  fabs(w->kl_sum)) / den;
        }
        for (int64_t i = 0; i < rows * V; i++)
            gmax = fmax(gmax, fabs(ob.grad[i]));
        for (int64_t i = 0; i < rows * V; i++) {
            const double x0 = f.x[i], h = 1e-6 * fmax(1.0, fabs(x0));
            f.x[i] = x0 + h;
            const double lp = oopt_batch_loss(&f.o, rows, V, f.x, f.targets);
            f.x[i] = x0 - h;
            const double lm = oopt_batch_loss(&f.o, rows, V, f.x, f.targets);
            f.x[i] = x0;
            const double fd = (lp - lm) / (2.0 * h), an = ob.grad[i];
            const double tol = 1e-7 * (1.0 + gmax) + 1e-13 * (1.0 + terms) / h;
            const double ratio = fabs(fd - an) / tol;
            worst = fmax(worst, ratio);
            if (!(ratio <= 1.0)) {
                if (bad++ < 10)
                    fprintf(stderr, "  FAIL options mask 0x%03x V=%" PRId64 " red=%d elem %" PRId64
                            ": analytic %.12g, finite difference %.12g (tol %.3g)\n",
                            mask, V, (int)f.o.reduction, i, an, fd, tol);
            }
        }
        oopt_batch_free(&ob);
    }
    fprintf(stderr, "oracle/finite_differences: worst |analytic − FD|/tol = %.3g over 512 option "
            "subsets\n", worst);
    cr_assert_eq(bad, 0, "%d gradient entries disagree with finite differences", bad);
}

/* Without options, the new oracle equals tests/oracle.c (within a few double roundings). */
Test(oracle, equals_plain_oracle, .timeout = 120)
{
    test_rng rng = rng_for("oracle_equals_plain");
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        const int64_t V = rng_range(&rng, 1, 300), rows = 4;
        lsce_options o;
        lsce_options_default(&o);
        static const double eps[] = {0.0, 0.1, 1.0};
        o.smoothing = eps[i % 3];
        o.convention = (lsce_convention)((i / 3) % 3);
        o.kl = (i / 9) % 2;
        o.reduction = (lsce_reduction)((i / 18) % 3);
        float *xf = malloc(sizeof(float) * (size_t)(rows * V));
        double *xd = malloc(sizeof(double) * (size_t)(rows * V));
        cr_assert(xf && xd);
        int64_t t[4];
        float go[4];
        for (int64_t r = 0; r < rows; r++) {
            t[r] = rng_uniform(&rng) < 0.2 ? o.ignore_index : rng_range(&rng, 0, V);
            go[r] = (float)rng_normal(&rng);
            for (int64_t c = 0; c < V; c++)
                xd[r * V + c] = xf[r * V + c] = (float)(5.0 * rng_normal(&rng));
        }
        oracle_batch a;
        oopt_batch b;
        cr_assert_eq(oracle_eval_batch(&o, rows, V, xf, V, t, go, 1, &a), 0);
        cr_assert_eq(oopt_eval_batch(&o, rows, V, xd, t, go, 0, &b), 0);
#define NEAR(p, q) (fabs((p) - (q)) <= 1e-12 * (1.0 + fabs(q)))
        int ok = NEAR(b.result.loss, a.result.loss) && NEAR(b.result.nll_sum, a.result.nll_sum) &&
                 b.result.n_correct == a.result.n_correct && b.result.n_tokens == a.result.n_tokens &&
                 b.result.denominator == a.result.denominator && b.result.z_sum == 0.0;
        for (int64_t r = 0; r < rows; r++)
            ok &= NEAR(b.row[r].loss, a.row_loss[r]) && NEAR(b.row[r].lse, a.row_lse[r]) &&
                  b.row[r].argmax == a.argmax[r];
        for (int64_t k = 0; k < rows * V; k++)
            ok &= fabs(b.grad[k] - a.grad[k]) <= 1e-13 * (1.0 + fabs(go[k / V]));
#undef NEAR
        if (!ok && bad++ < 5)
            fprintf(stderr, "  FAIL case %d V=%" PRId64 ": loss %.17g vs %.17g\n", i, V,
                    b.result.loss, a.result.loss);
        oracle_batch_free(&a);
        oopt_batch_free(&b);
        free(xf);
        free(xd);
    }
    cr_assert_eq(bad, 0, "%d cases differ from tests/oracle.c", bad);
}

/* The objective's identities, term by term. */
Test(oracle, identities, .timeout = 120)
{
    test_rng rng = rng_for("oracle_identities");
    const int64_t V = 37;
    double x[37], xc[37];
    for (int i = 0; i < 100; i++) {
        for (int64_t c = 0; c < V; c++)
            x[c] = (double)(float)(3.0 * rng_normal(&rng));
        const int64_t y = rng_range(&rng, 0, V);
        lsce_options o;
        lsce_options_default(&o);
        o.smoothing = 0.1;
        const double rho = 0.5 + rng_uniform(&rng);
        oopt_row plain, withz;
        oopt_eval_row(&o, V, x, y, rho, &plain, NULL, NULL, NULL, NULL, NULL);
        o.z_loss = 0.25;
        oopt_eval_row(&o, V, x, y, rho, &withz, NULL, NULL, NULL, NULL, NULL);
        cr_assert(fabs(withz.loss - plain.loss - rho * 0.25 * plain.lse * plain.lse) <=
                  1e-13 * (1.0 + fabs(withz.loss)));
        cr_assert(fabs(withz.zterm - rho * 0.25 * plain.lse * plain.lse) <= 1e-15 * (1.0 + withz.zterm));
        /* softcap 1e7 ≈ no softcap (t differs by (s x)³/(3c²) ≲ 1e−10) */
        o.z_loss = 0.0;
        o.logit_scale = 0.5;
        oopt_row scaled, capped;
        oopt_eval_row(&o, V, x, y, rho, &scaled, NULL, NULL, NULL, NULL, NULL);
        o.softcap = 1e7;
        oopt_eval_row(&o, V, x, y, rho, &capped, NULL, NULL, NULL, NULL, NULL);
        cr_assert(fabs(capped.loss - scaled.loss) <= 1e-9 * (1.0 + fabs(scaled.loss)));
        /* a zero-weight class at −inf adds nothing: the row without that class (ε' chosen so
         * that the other classes keep q = ε/V; only q_y differs, by qy − qy') */
        o.softcap = 0.0;
        o.logit_scale = 1.0;
        float w[37];
        for (int64_t c = 0; c < V; c++)
            w[c] = 1.0f;
        const int64_t k = (y + 1) % V;
        w[k] = 0.0f;
        o.class_weight = w;
        memcpy(xc, x, sizeof x);
        xc[k] = -INFINITY;
        oopt_row masked;
        oopt_eval_row(&o, V, xc, y, rho, &masked, NULL, NULL, NULL, NULL, NULL);
        /* the same row without class k (targets above k shift down) */
        double xr[36];
        float wr[36];
        for (int64_t c = 0, j = 0; c < V; c++)
            if (c != k) {
                xr[j] = x[c];
                wr[j++] = 1.0f;
            }
        lsce_options o2 = o;
        o2.class_weight = wr;
        o2.smoothing = 0.1 * 36.0 / 37.0;
        oopt_row removed;
        const int64_t y2 = y > k ? y - 1 : y;
        oopt_eval_row(&o2, V - 1, xr, y2, rho, &removed, NULL, NULL, NULL, NULL, NULL);
        cr_assert(isfinite(masked.loss), "a zero-weight −inf class made the loss %g", masked.loss);
        cr_assert(fabs(masked.lse - removed.lse) <= 1e-13 * (1.0 + fabs(removed.lse)));
        const double qy = 1.0 - 0.1 + 0.1 / 37.0, qy2 = 1.0 - o2.smoothing + o2.smoothing / 36.0;
        const double want = removed.loss + rho * (qy - qy2) * removed.nll;
        cr_assert(fabs(masked.loss - want) <= 1e-12 * (1.0 + fabs(want)), "masked %.17g, want %.17g",
                  masked.loss, want);
    }
}
