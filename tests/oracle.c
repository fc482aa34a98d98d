/* The tests' double-precision oracle and random numbers (see oracle.h). No library code here. */
#include "oracle.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compensated_sum.h"

void oracle_weights(const lsce_options *o, int64_t V, double *a, double *b)
{
    const double eps = o->smoothing, n = (double)V;
    switch (o->convention) {
    case LSCE_CONV_OTHERS:
        *a = 1.0 - eps;
        *b = V > 1 ? eps / (n - 1.0) : 0.0;
        break;
    case LSCE_CONV_SEED:
        *a = 1.0 - eps;
        *b = eps / n;
        break;
    case LSCE_CONV_UNIFORM:
    default:
        *a = 1.0 - eps + eps / n;
        *b = eps / n;
        break;
    }
}

void oracle_eval_row(const lsce_options *o, int64_t V, const float *x, int64_t y, oracle_row *out,
                     double *grad)
{
    double a, b;
    oracle_weights(o, V, &a, &b);

    /* argmax: the first NaN, else the lowest index of the largest value. */
    int64_t arg = 0;
    int has_nan = 0, has_pinf = 0, all_ninf = 1;
    for (int64_t c = 0; c < V; c++) {
        const double v = x[c];
        if (isnan(v)) {
            if (!has_nan)
                arg = c;
            has_nan = 1;
            continue;
        }
        if (v == INFINITY)
            has_pinf = 1;
        if (v != -INFINITY)
            all_ninf = 0;
        if (!has_nan && v > (double)x[arg])
            arg = c;
    }
    out->argmax = arg;

    if (has_nan || has_pinf || all_ninf) {
        out->loss = out->nll = out->lse = NAN;
        if (all_ninf && !has_nan && !has_pinf)
            out->lse = -INFINITY; /* log Σ e^−inf = log 0, as torch.logsumexp; loss: inf − inf */
        if (grad)
            for (int64_t c = 0; c < V; c++)
                grad[c] = NAN;
        return;
    }

    const double m = x[arg];
    csum d = {0, 0};
    for (int64_t c = 0; c < V; c++)
        csum_add(&d, exp((double)x[c] - m)); /* exp(−inf) = 0 */
    const double log_d = log(csum_get(&d));
    const double lse = m + log_d;

    /* q explicitly, loss = −Σ q_c log p_c (+ Σ q log q), skipping q_c == 0. */
    csum loss = {0, 0};
    double sum_q = 0.0;
    for (int64_t c = 0; c < V; c++) {
        const double q = c == y ? a : b;
        sum_q += q;
        if (q == 0.0)
            continue;
        /* (x − m) − log d, not x − lse: m + log d rounds away log d once |m| is large */
        const double logp = ((double)x[c] - m) - log_d;
        csum_add(&loss, -q * logp);
        if (o->kl)
            csum_add(&loss, q * log(q));
    }
    out->loss = csum_get(&loss);
    out->nll = log_d - ((double)x[y] - m);
    out->lse = lse;

    if (grad) {
        /* Σq in closed form (the loop above accumulates V roundings). */
        const double A = a + b * (double)(V - 1);
        (void)sum_q;
        for (int64_t c = 0; c < V; c++) {
            const double q = c == y ? a : b;
            const double p = exp(((double)x[c] - m) - log_d);
            grad[c] = A * p - q;
        }
    }
}

int oracle_eval_batch(const lsce_options *o, int64_t rows, int64_t V, const float *logits,
                      int64_t stride, const int64_t *targets, const float *grad_output,
                      int want_grad, oracle_batch *out)
{
    memset(out, 0, sizeof *out);
    out->rows = rows;
    out->vocab = V;
    const size_t n = rows > 0 ? (size_t)rows : 1;
    out->row_loss = calloc(n, sizeof(double));
    out->row_nll = calloc(n, sizeof(double));
    out->row_lse = calloc(n, sizeof(double));
    out->row_scale = calloc(n, sizeof(double));
    out->argmax = calloc(n, sizeof(int64_t));
    if (want_grad)
        out->grad = calloc(n * (size_t)V, sizeof(double));
    if (!out->row_loss || !out->row_nll || !out->row_lse || !out->row_scale || !out->argmax ||
        (want_grad && !out->grad)) {
        oracle_batch_free(out);
        return -1;
    }

    int64_t kept = 0;
    for (int64_t r = 0; r < rows; r++)
        kept += targets[r] != o->ignore_index;

    csum loss = {0, 0}, nll = {0, 0};
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = logits + r * stride;
        const int64_t y = targets[r];
        double *g = want_grad ? out->grad + r * V : NULL;
        oracle_row row;
        if (y == o->ignore_index) {
            /* Any class as the target: only the lse is reported for an ignored row. */
            oracle_eval_row(o, V, x, 0, &row, NULL);
            out->row_lse[r] = row.lse;
            out->argmax[r] = row.argmax;
            continue; /* loss, nll, scale and gradient stay 0 */
        }
        oracle_eval_row(o, V, x, y, &row, g);
        double scale = 1.0;
        switch (o->reduction) {
        case LSCE_REDUCTION_MEAN:
            scale = (grad_output ? (double)grad_output[0] : 1.0) / (double)kept;
            break;
        case LSCE_REDUCTION_SUM: scale = grad_output ? (double)grad_output[0] : 1.0; break;
        case LSCE_REDUCTION_NONE: scale = grad_output ? (double)grad_output[r] : 1.0; break;
        }
        if (g)
            for (int64_t c = 0; c < V; c++)
                g[c] *= scale;
        out->row_loss[r] = row.loss;
        out->row_nll[r] = row.nll;
        out->row_lse[r] = row.lse;
        out->row_scale[r] = scale;
        out->argmax[r] = row.argmax;
        csum_add(&loss, row.loss);
        csum_add(&nll, row.nll);
        correct += row.argmax == y;
    }

    out->result.n_tokens = kept;
    out->result.n_correct = correct;
    out->result.denominator = (double)kept;
    out->result.nll_sum = csum_get(&nll);
    out->result.z_sum = 0.0;
    if (o->reduction == LSCE_REDUCTION_MEAN)
        out->result.loss = kept > 0 ? csum_get(&loss) / (double)kept : 0.0;
    else
        out->result.loss = csum_get(&loss);
    return 0;
}

void oracle_batch_free(oracle_batch *b)
{
    free(b->row_loss);
    free(b->row_nll);
    free(b->row_lse);
    free(b->row_scale);
    free(b->argmax);
    free(b->grad);
    memset(b, 0, sizeof *b);
}

/* ---- random numbers ----------------------------------------------------------------------- */

#define TEST_DEFAULT_SEED UINT64_C(0x5eed15ce2026)

uint64_t test_seed(void)
{
    const char *s = getenv("LSCE_TEST_SEED");
    if (s && *s) {
        char *end = NULL;
        const unsigned long long v = strtoull(s, &end, 0);
        if (end && *end == '\0')
            return (uint64_t)v;
    }
    return TEST_DEFAULT_SEED;
}

void test_print_seed(const char *binary)
{
    fprintf(stderr, "%s: LSCE_TEST_SEED=0x%" PRIx64 " (set it to reproduce a run)\n", binary,
            test_seed());
}

uint64_t test_hash(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void rng_init(test_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * UINT64_C(0xd1342543de82ef95));
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(test_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(test_rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

int64_t rng_range(test_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_u64(r) % (uint64_t)(hi - lo));
}

double rng_normal(test_rng *r)
{
    double u1 = rng_uniform(r);
    const double u2 = rng_uniform(r);
    if (u1 <= 0.0)
        u1 = 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
