/* The fuzz target's exact answer: tests/oracle.c re-evaluated relative to the row max (see
 * reference.h). No library code here. */
#include "reference.h"

#include <math.h>

#include "fuzz_common.h"

/* The oracle agrees with the re-evaluation where its lse keeps every digit that matters. */
#define ORACLE_EXACT_BELOW 1048576.0 /* |m| < 2^20: lse's rounding < 2^−33 */

static void expect_agreement(const char *what, int64_t r, double mine, double oracle, double scale)
{
    if (!(fabs(mine - oracle) <= 1e-8 * (scale + fabs(oracle))) && !(mine == oracle))
        fuzz_fail("reference.c and tests/oracle.c disagree on %s of row %lld: %.17g vs %.17g",
                  what, (long long)r, mine, oracle);
}

/* Row r (finite lse, so no NaN or +inf logit and not only −inf ones) relative to m. */
static void reevaluate_row(const lsce_options *o, int64_t V, const float *x, int64_t y,
                           int64_t r, oracle_batch *out)
{
    double a, b;
    oracle_weights(o, V, &a, &b);
    const double A = a + b * (double)(V - 1);
    double m = -INFINITY, d = 0.0;
    for (int64_t c = 0; c < V; c++)
        m = fmax(m, (double)x[c]);
    for (int64_t c = 0; c < V; c++)
        d += exp((double)x[c] - m);
    const double log_d = log(d);
    const int check = fabs(m) < ORACLE_EXACT_BELOW;
    if (check)
        expect_agreement("lse", r, m + log_d, out->row_lse[r], 1.0);
    out->row_lse[r] = m + log_d;
    if (y == o->ignore_index)
        return;

    double loss = 0.0;
    for (int64_t c = 0; c < V; c++) {
        const double q = c == y ? a : b;
        if (q != 0.0)
            loss += q * (log_d - ((double)x[c] - m)) + (o->kl ? q * log(q) : 0.0);
    }
    const double nll = log_d - ((double)x[y] - m);
    double *g = out->grad + r * V;
    const double scale = out->row_scale[r];
    for (int64_t c = 0; c < V; c++) {
        const double exact = scale * (A * (exp((double)x[c] - m) / d) - (c == y ? a : b));
        if (check)
            expect_agreement("the gradient", r, exact, g[c], fabs(scale) * (A + 1.0));
        g[c] = exact;
    }
    if (check) {
        expect_agreement("the loss", r, loss, out->row_loss[r], A);
        expect_agreement("the nll", r, nll, out->row_nll[r], 1.0);
    }
    out->row_loss[r] = loss;
    out->row_nll[r] = nll;
}

int reference_eval(const lsce_options *o, int64_t rows, int64_t V, const float *x,
                   int64_t stride, const int64_t *targets, const float *grad_output,
                   oracle_batch *out)
{
    if (oracle_eval_batch(o, rows, V, x, stride, targets, grad_output, 1, out) != 0)
        return -1;
    double loss = 0.0, nll = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        if (isfinite(out->row_lse[r]))
            reevaluate_row(o, V, x + r * stride, targets[r], r, out);
        if (targets[r] != o->ignore_index) {
            loss += out->row_loss[r];
            nll += out->row_nll[r];
        }
    }
    const int64_t kept = out->result.n_tokens;
    out->result.loss = o->reduction == LSCE_REDUCTION_MEAN ? (kept > 0 ? loss / (double)kept : 0.0)
                                                           : loss;
    out->result.nll_sum = nll;
    return 0;
}
