/*
 * Reader and checker of the objective-option golden vectors (format: tests/golden_options/
 * README.md; generator: tests/gen_golden_options.py). The entry points run through golden.c's
 * golden_run_f32 (golden_call on rows of stride V + 5, padding checked), like tests/golden.c.
 *
 * TOLERANCES: lsce.h's accuracy section generalised to the options and to the fp32 error of the
 * transformed logits t, per row and per element: derived at the top of
 * tests/golden_options_bounds.c (which computes them).
 * Reduced: loss Σ row bounds (/ D for mean), nll_sum Σ nll bounds, z_sum Σ of its row bounds
 * (+ REL·z·lse²); row_loss adds u·|loss_r| (fp32 output); denominator: Σ ρ_r·w_{y_r} (exact
 * products) summed in any order: N·2^−53·Σ; n_tokens exact; n_correct: torch.argmax of the exact
 * t, where the top two t are within δt of each other (golden argmax −1) either answer counts.
 * Exact: ignored rows (loss 0, gradient 0; lse still checked), rows of weight ρ = 0 (gradient
 * 0: its tolerance is 0), padding untouched, NaN / ±inf as in the golden file.
 * Flags 1 and 4 (mean with no kept row, or D = 0): PyTorch's loss is NaN (0/0) or inf; lsce.h
 * documents loss 0 and a zero gradient, and that is what is checked (row outputs as usual).
 */
#include "golden_options.h"

#include "bounds.h"
#include "golden_io.h"
#include "golden_options_bounds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef GOLDEN_OPTIONS_DIR
#define GOLDEN_OPTIONS_DIR "tests/golden_options"
#endif

const char *gopt_dir(void)
{
    const char *env = getenv("LSCE_GOLDEN_OPTIONS_DIR");
    return env && *env ? env : GOLDEN_OPTIONS_DIR;
}

/* ---- reading (tests/golden_io.c decodes) --------------------------------------------------- */

static void case_free(void *cv)
{
    gopt_case *c = cv;
    golden_case_free(&c->base);
    free(c->class_weight);
    free(c->prior);
    free(c->row_weight);
    memset(c, 0, sizeof *c);
}

void gopt_free(gopt_set *set)
{
    for (int64_t i = 0; i < set->n; i++)
        case_free(&set->cases[i]);
    free(set->cases);
    set->cases = NULL;
    set->n = 0;
}

static int read_case(golden_reader *r, void *cv, int64_t version)
{
    gopt_case *c = cv;
    golden_case *b = &c->base;
    (void)version;
    golden_rd_case_head(r, b);
    const int64_t has_w = golden_rd_i64(r), has_u = golden_rd_i64(r), has_rho = golden_rd_i64(r);
    b->opts.smoothing = golden_rd_f64(r);
    b->opts.z_loss = golden_rd_f64(r);
    b->opts.logit_scale = golden_rd_f64(r);
    b->opts.softcap = golden_rd_f64(r);
    b->opts.confidence_penalty = golden_rd_f64(r);
    if (r->bad || !golden_case_head_ok(b) || (has_w | has_u | has_rho) & ~(int64_t)1)
        return -1;
    const int64_t N = b->rows, V = b->vocab;
    golden_rd_case_inputs(r, b);
    c->class_weight = has_w ? golden_rd_array(r, V, 4) : NULL;
    c->prior = has_u ? golden_rd_array(r, V, 4) : NULL;
    c->row_weight = has_rho ? golden_rd_array(r, N, 4) : NULL;
    b->opts.class_weight = c->class_weight;
    b->opts.prior = c->prior;
    b->opts.row_weight = c->row_weight;
    b->loss = golden_rd_f64(r);
    c->z_sum = golden_rd_f64(r);
    c->denominator = golden_rd_f64(r);
    golden_rd_case_outputs(r, b);
    return r->bad ? -1 : 0;
}

int gopt_load(const char *dir, gopt_set *set, char *err, size_t err_size)
{
    static const golden_format fmt = {"LSCEGOPT", 1, 1,
                                      "a version-1 lsce objective-option golden file",
                                      sizeof(gopt_case), read_case, case_free};
    void *cases;
    const int rc = golden_load_file(dir, &fmt, &cases, &set->n, err, err_size);
    set->cases = cases;
    return rc;
}

/* ---- checking ------------------------------------------------------------------------------ */

const char *const gopt_qty_names[GOPT_QTY_COUNT_] = {"loss", "nll_sum", "z_sum", "row_loss",
                                                     "row_lse", "gradient"};
gopt_worst gopt_worst_ratio[GOPT_QTY_COUNT_];

/* A run's failures, and the values it compared. */
typedef struct checker {
    golden_reporter rep; /* prefix "name [isa, entry]" */
    long compared;
} checker;

static void expect_close(checker *k, int qty, const char *what, int64_t r, int64_t col,
                         double got, double want, double tol)
{
    k->compared++;
    if (isnan(tol)) {
        golden_failf(&k->rep, "%s row %lld col %lld: the checker's tolerance is NaN", what,
                     (long long)r, (long long)col);
        return;
    }
    const int ok = bound_close(got, want, tol);
    if (ok && qty >= 0 && isfinite(want) && tol > 0.0 &&
        fabs(got - want) / tol > gopt_worst_ratio[qty].ratio) {
        gopt_worst_ratio[qty].ratio = fabs(got - want) / tol;
        /* the prefix is under 100 characters (a name of at most 47, the isa and the entry) */
        snprintf(gopt_worst_ratio[qty].where, sizeof gopt_worst_ratio[qty].where,
                 "%.100s row %lld col %lld", k->rep.prefix, (long long)r, (long long)col);
    }
    if (!ok)
        golden_failf(&k->rep, "%s row %lld col %lld: got %.9g, want %.9g (|diff| %.3g > tol %.3g)",
                     what, (long long)r, (long long)col, got, want, fabs(got - want), tol);
}

int gopt_check(const gopt_case *c, lsce_isa isa, golden_entry entry, golden_fail_fn fail,
               void *ctx, int max_reports, long *compared)
{
    checker k = {{fail, ctx, 0, max_reports, ""}, 0};
    const golden_case *b = &c->base;
    snprintf(k.rep.prefix, sizeof k.rep.prefix, "%s [%s, %s]", b->name, lsce_isa_to_string(isa),
             golden_entry_name(entry));
    const int64_t N = b->rows, V = b->vocab;
    lsce_options o = b->opts;
    o.isa = isa;
    const int nothing_counts =
        (b->flags & (GOPT_FLAG_ALL_IGNORED_MEAN | GOPT_FLAG_ZERO_DENOMINATOR)) != 0;

    golden_run run;
    gopt_elem_model e;
    double *scratch = NULL;
    if (golden_run_f32(&run, entry, &o, b, &k.rep))
        goto done;
    scratch = malloc(5 * (size_t)V * sizeof(double));
    if (!scratch) {
        golden_failf(&k.rep, "out of memory");
        goto done;
    }
    e = (gopt_elem_model){scratch, scratch + V, scratch + 2 * V, scratch + 3 * V, scratch + 4 * V};
    const float *g_out = run.written.grad ? run.grad : NULL;
    const float *row_loss = run.row_loss, *row_lse = run.row_lse;
    const lsce_result res = run.res;

    int64_t n_kept = 0, correct_lo = 0, correct_hi = 0;
    double loss_tol = 0.0, nll_tol = 0.0, nll_sum = 0.0, z_tol = 0.0, d_abs = 0.0;
    for (int64_t r = 0; r < N; r++) {
        gopt_row_model m;
        gopt_model_row(c, r, &e, &m);
        const float *g = g_out ? g_out + r * run.ld : NULL;
        if (g)
            golden_check_padding(&k.rep, &run, entry, V, r);
        if (run.written.rows)
            expect_close(&k, m.kept ? GOPT_QTY_ROW_LSE : -1,
                         m.kept ? "row_lse" : "row_lse (ignored row)", r, -1, row_lse[r],
                         b->row_lse[r], bound_row_lse(b->row_lse[r]) + m.Pbar);
        if (!m.kept) {
            if (run.written.rows && row_loss[r] != 0.0f)
                golden_failf(&k.rep, "row_loss of ignored row %lld is %.9g, not 0", (long long)r,
                             row_loss[r]);
            if (g)
                golden_check_zero_row(&k.rep, g, V, r, "gradient of ignored", ", not 0");
            continue;
        }
        n_kept++;
        const int64_t am = b->row_argmax[r], y = b->targets[r];
        correct_lo += am == y;
        correct_hi += am == y || am < 0;
        const double rl_tol = gopt_tol_row_loss(c, &m);
        loss_tol += rl_tol;
        nll_tol += bound_row_loss(b->row_nll[r], 1.0) + e.dt[y] + m.Pbar;
        nll_sum += b->row_nll[r];
        const double zl = o.z_loss * m.lse * m.lse;
        z_tol += fabs(m.rho) * (2.0 * o.z_loss * fabs(m.lse) *
                                    (BOUND_ABS + BOUND_U * fabs(m.lse) + m.Pbar) +
                                BOUND_REL * zl);
        d_abs += fabs(m.rho * (c->class_weight ? (double)c->class_weight[y] : 1.0));
        if (run.written.rows)
            expect_close(&k, GOPT_QTY_ROW_LOSS, "row_loss", r, -1, row_loss[r], b->row_loss[r],
                         rl_tol + BOUND_U * fabs(b->row_loss[r]));
        if (!g)
            continue;
        if (nothing_counts) {
            golden_check_zero_row(&k.rep, g, V, r, "mean with D = 0: gradient",
                                  "; lsce.h documents a zero gradient");
            continue;
        }
        for (int64_t j = 0; j < V; j++)
            expect_close(&k, GOPT_QTY_GRAD, "gradient", r, j, g[j], b->grad[r * V + j],
                         gopt_tol_grad(c, &m, &e, j, entry == GOLDEN_BACKWARD));
    }

    if (run.written.result) {
        if (res.n_tokens != n_kept)
            golden_failf(&k.rep, "n_tokens %lld, want %lld", (long long)res.n_tokens,
                         (long long)n_kept);
        if (res.n_correct < correct_lo || res.n_correct > correct_hi)
            golden_failf(&k.rep, "n_correct %lld, want %lld..%lld (torch.argmax of t)",
                         (long long)res.n_correct, (long long)correct_lo, (long long)correct_hi);
        k.compared += 2;
        expect_close(&k, -1, "denominator", -1, -1, res.denominator, c->denominator,
                     (double)N * 0x1p-53 * d_abs);
        if (nothing_counts) {
            /* PyTorch: NaN (0/0) or inf; lsce.h documents loss 0 for mean with D = 0. */
            if (!(isnan(b->loss) || isinf(b->loss)))
                golden_failf(&k.rep,
                             "golden file: PyTorch's loss with D = 0 is %.9g, not NaN / inf",
                             b->loss);
            k.compared++;
            if (res.loss != 0.0)
                golden_failf(&k.rep, "mean with D = 0 (%s): loss %.9g, lsce.h documents 0",
                             n_kept ? "kept rows of zero weight" : "every row ignored", res.loss);
        } else {
            const double mean = o.reduction == LSCE_REDUCTION_MEAN;
            expect_close(&k, GOPT_QTY_LOSS, "loss", -1, -1, res.loss, b->loss,
                         mean ? loss_tol / c->denominator : loss_tol);
        }
        expect_close(&k, GOPT_QTY_NLL, "nll_sum", -1, -1, res.nll_sum, nll_sum, nll_tol);
        expect_close(&k, GOPT_QTY_Z_SUM, "z_sum", -1, -1, res.z_sum, c->z_sum, z_tol);
    }

done:
    golden_run_free(&run);
    free(scratch);
    if (compared)
        *compared += k.compared;
    return k.rep.failures;
}

int gopt_coverage(const gopt_set *set, golden_fail_fn fail, void *ctx)
{
    static const int64_t Vs[] = {1, 5, 17, 100, 1000, 4097};
    int seen_V[6] = {0}, seen_red[3] = {0}, seen_flag[5] = {0}, failures = 0;
    int w_ii0 = 0, w_ii100 = 0, w_zero = 0, prior = 0, rho = 0, z = 0, scale = 0, cap = 0,
        beta = 0, kl = 0, all = 0, go_vec = 0, go_scalar = 0;
    for (int64_t i = 0; i < set->n; i++) {
        const gopt_case *c = &set->cases[i];
        const lsce_options *o = &c->base.opts;
        if (c->class_weight) {
            for (int v = 0; v < 6; v++)
                seen_V[v] |= c->base.vocab == Vs[v] &&
                             (c->base.flags & GOPT_FLAG_TORCH_CROSS_ENTROPY) != 0;
            for (int64_t j = 0; j < c->base.vocab; j++)
                w_zero |= c->class_weight[j] == 0.0f;
            w_ii0 |= o->ignore_index == 0;
            w_ii100 |= o->ignore_index == -100;
            seen_red[o->reduction] |= (c->base.flags & GOPT_FLAG_TORCH_CROSS_ENTROPY) != 0;
        }
        for (int f = 0; f < 5; f++)
            seen_flag[f] |= (c->base.flags >> f) & 1;
        prior |= c->prior != NULL;
        rho |= c->row_weight != NULL;
        z |= o->z_loss > 0;
        scale |= o->logit_scale != 1.0;
        cap |= o->softcap > 0;
        beta |= o->confidence_penalty > 0;
        kl |= o->kl && (c->prior || c->class_weight);
        all |= c->class_weight && c->prior && c->row_weight && o->z_loss > 0 &&
               o->logit_scale != 1.0 && o->softcap > 0 && o->confidence_penalty > 0;
        go_vec |= c->base.n_grad_output > 1;
        go_scalar |= c->base.n_grad_output == 1;
    }
    const struct {
        int ok;
        const char *what;
    } want[] = {{seen_V[0] && seen_V[1] && seen_V[2] && seen_V[3] && seen_V[4] && seen_V[5],
                 "F.cross_entropy(weight=) at every V of 1, 5, 17, 100, 1000, 4097"},
                {seen_red[0] && seen_red[1] && seen_red[2], "weights with every reduction"},
                {w_ii0 && w_ii100 && w_zero, "weights with ignore_index 0 and -100, a zero weight"},
                {seen_flag[0] && seen_flag[1] && seen_flag[2] && seen_flag[3] && seen_flag[4],
                 "every flag (all ignored, torch itself, D = 0, 0 log 0, weighted z mean)"},
                {prior && rho && z && scale && cap && beta && kl, "every option"},
                {all, "a case with every option at once"},
                {go_vec && go_scalar, "grad_output vector and scalar"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!want[i].ok) {
            failures++;
            if (fail) {
                char msg[200];
                snprintf(msg, sizeof msg, "golden file does not cover %s", want[i].what);
                fail(ctx, msg);
            }
        }
    return failures;
}

void gopt_report(FILE *out)
{
    fprintf(out, "largest |error| / tolerance:\n");
    for (int i = 0; i < GOPT_QTY_COUNT_; i++)
        fprintf(out, "  %-9s %.3g  %s\n", gopt_qty_names[i], gopt_worst_ratio[i].ratio,
                gopt_worst_ratio[i].where[0] ? gopt_worst_ratio[i].where : "-");
}
