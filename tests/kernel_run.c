/*
 * Running the test_kernels cases (tests/kernel_run.h): a case's data, every variant through the
 * fused, forward and backward entry points, the guard and input checks, the claim statistics.
 * The accuracy checks themselves are tests/kernel_bounds.h.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_bounds.h"
#include "kernel_cases.h"
#include "kernel_run.h"
#include "lsce.h"
#include "oracle.h"

static const uint32_t PAD_NAN = 0x7fc0dead; /* logits padding/guards: any read of them shows */

claim_stats g_claims[LSCE_ISA_COUNT_];

void describe_case(const ctx *x)
{
    const kcase *c = x->kc;
    fprintf(stderr,
            "  case %s#%d: rows=%" PRId64 " V=%" PRId64 " lstride=%" PRId64 " gstride=%" PRId64
            " offsets(l,g,o)=%d,%d,%d dist=%s k=%g ninf=%g target_ninf=%d ignore=%g eps=%g "
            "conv=%d kl=%d red=%d ignore_index=%" PRId64 " grad_output=%d inplace=%d outputs=%d "
            "special=%d (LSCE_TEST_SEED=0x%" PRIx64 ")\n",
            x->test, x->case_no, c->rows, c->V, c->lstride, c->gstride, c->loff, c->goff, c->ooff,
            dist_names[c->dist], c->k, c->ninf, c->target_ninf, c->ignore, c->opts.smoothing,
            (int)c->opts.convention, c->opts.kl, (int)c->opts.reduction, c->opts.ignore_index,
            c->go, c->inplace, c->fused_outputs, c->special, test_seed());
}

static void make_data(ctx *x, test_rng *rng)
{
    const kcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const size_t nl = matrix_floats(rows, V, c->lstride);
    gbuf_alloc(&x->logits, nl, c->loff);
    /* Guards and padding of the logits are NaN: a kernel reading them would poison its row. */
    for (size_t i = 0; i < x->logits.raw_bytes / 4; i++)
        memcpy(x->logits.raw + 4 * i, &PAD_NAN, 4);
    x->targets = malloc(sizeof(int64_t) * (size_t)(rows ? rows : 1));
    cr_assert(x->targets);

    for (int64_t r = 0; r < rows; r++) {
        float *row = x->logits.p + r * c->lstride;
        for (int64_t j = 0; j < V; j++)
            row[j] = draw_logit(rng, c);
        if (c->ninf > 0.0) {
            int64_t finite = 0;
            for (int64_t j = 0; j < V; j++) {
                if (rng_uniform(rng) < c->ninf)
                    row[j] = -INFINITY;
                finite += row[j] != -INFINITY;
            }
            if (!finite)
                row[rng_range(rng, 0, V)] = draw_logit(rng, c);
        }
        apply_pattern(rng, c, row);
        int64_t y = rng_range(rng, 0, V);
        if (!c->target_ninf && row[y] == -INFINITY)
            row[y] = draw_logit(rng, c);
        if (c->dist == D_CONFIDENT && row[y] != -INFINITY)
            row[y] += (float)(8.0 + 32.0 * rng_uniform(rng));
        if (rng_uniform(rng) < c->ignore)
            y = c->opts.ignore_index;
        x->targets[r] = y;
    }

    if (c->special && rows > 0) {
        /* Row kinds cycle: NaN (target elsewhere / at the NaN), +inf, only −inf, −inf target. */
        for (int64_t r = 0; r < rows; r++) {
            float *row = x->logits.p + r * c->lstride;
            const int64_t j = rng_range(rng, 0, V);
            switch (r % 6) {
            case 0: row[j] = NAN; break;
            case 1: row[j] = NAN; if (x->targets[r] != c->opts.ignore_index) x->targets[r] = j; break;
            case 2: row[j] = INFINITY; break;
            case 3: for (int64_t i = 0; i < V; i++) row[i] = -INFINITY; break;
            case 4: if (x->targets[r] != c->opts.ignore_index) row[x->targets[r]] = -INFINITY; break;
            default: break; /* an ordinary row */
            }
        }
    }

    x->logits_copy = malloc(x->logits.raw_bytes);
    x->targets_copy = malloc(sizeof(int64_t) * (size_t)(rows ? rows : 1));
    cr_assert(x->logits_copy && x->targets_copy);
    memcpy(x->logits_copy, x->logits.raw, x->logits.raw_bytes);
    memcpy(x->targets_copy, x->targets, sizeof(int64_t) * (size_t)rows);

    x->n_go = 0;
    x->go = NULL;
    if (c->go) {
        x->n_go = c->opts.reduction == LSCE_REDUCTION_NONE ? rows : 1;
        x->go = malloc(sizeof(float) * (size_t)(x->n_go ? x->n_go : 1));
        cr_assert(x->go);
        for (int64_t i = 0; i < x->n_go; i++) {
            const double u = rng_uniform(rng);
            x->go[i] = u < 0.1 ? 0.0f : (float)(rng_normal(rng) * 3.0);
        }
        if (x->n_go == 0) { /* none with 0 rows: pass a valid pointer anyway */
            x->go[0] = 1.0f;
        }
    }
}

static void check_inputs(ctx *x, lsce_isa isa, const char *entry)
{
    const kcase *c = x->kc;
    if (memcmp(x->logits.raw, x->logits_copy, x->logits.raw_bytes) != 0)
        FAIL(x, "%s %s modified the logits (or their guards/padding)", lsce_isa_to_string(isa),
             entry);
    if (c->rows && memcmp(x->targets, x->targets_copy, sizeof(int64_t) * (size_t)c->rows) != 0)
        FAIL(x, "%s %s modified the targets", lsce_isa_to_string(isa), entry);
}

/* A working copy of the logits for an in-place call (guards and padding included). */
static float *inplace_copy(ctx *x, gbuf *w)
{
    w->raw_bytes = x->logits.raw_bytes;
    w->pre_bytes = x->logits.pre_bytes;
    w->n = x->logits.n;
    w->raw = aligned_alloc(64, w->raw_bytes);
    cr_assert(w->raw);
    memcpy(w->raw, x->logits_copy, w->raw_bytes);
    w->p = (float *)(void *)(w->raw + w->pre_bytes);
    return w->p;
}

/* In place: everything but the rows' first V entries must equal the pristine logits. */
static int inplace_untouched(const ctx *x, const gbuf *w)
{
    const kcase *c = x->kc;
    if (memcmp(w->raw, x->logits_copy, w->pre_bytes) != 0)
        return 0;
    const size_t end = w->pre_bytes + w->n * sizeof(float);
    if (memcmp(w->raw + end, x->logits_copy + end, w->raw_bytes - end) != 0)
        return 0;
    for (int64_t r = 0; r + 1 < c->rows; r++) {
        const size_t off = w->pre_bytes + (size_t)(r * c->lstride + c->V) * sizeof(float);
        if (memcmp(w->raw + off, x->logits_copy + off, (size_t)(c->lstride - c->V) * 4) != 0)
            return 0;
    }
    return 1;
}

static void run_variant(ctx *x, lsce_isa isa)
{
    const kcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const char *name = lsce_isa_to_string(isa);
    lsce_options o = c->opts;
    o.isa = isa;
    lsce_status st;
    x->claim_grad_worst[isa] = 0.0;
    x->claim_loss_worst[isa] = 0.0;

    /* ---- fused ---- */
    {
        gbuf gb = {0}, lb = {0}, sb = {0}, work = {0};
        float *grad;
        int64_t gstride;
        if (c->inplace) {
            grad = inplace_copy(x, &work);
            gstride = c->lstride;
        } else {
            grad = gbuf_alloc(&gb, matrix_floats(rows, V, c->gstride), c->goff);
            gstride = c->gstride;
        }
        float *rl = (c->fused_outputs & 1) ? gbuf_alloc(&lb, (size_t)rows, c->ooff) : NULL;
        float *rs = (c->fused_outputs & 2) ? gbuf_alloc(&sb, (size_t)rows, (c->ooff + 1) & 3) : NULL;
        lsce_result res;
        memset(&res, 0xff, sizeof res);
        const float *logits = c->inplace ? grad : x->logits.p;
        st = lsce_forward_backward(&o, rows, V, logits, c->lstride, x->targets, x->go, grad,
                                   gstride, rl, rs, (c->fused_outputs & 4) ? &res : NULL);
        g_claims[isa].calls++;
        if (st != LSCE_OK) {
            FAIL(x, "%s fused: status %d (%s)", name, (int)st, lsce_strerror(st));
        } else {
            check_forward(x, isa, "fused", rl, rs, (c->fused_outputs & 4) ? &res : NULL);
            check_grad(x, isa, c->inplace ? "fused-inplace" : "fused", grad, gstride, NULL);
            if (c->inplace ? !inplace_untouched(x, &work) : !gbuf_untouched(&gb, rows, V, gstride))
                FAIL(x, "%s fused: a grad guard byte or padding between rows changed", name);
            if (rl && !gbuf_untouched(&lb, rows, 1, 1))
                FAIL(x, "%s fused: a row_loss guard byte changed", name);
            if (rs && !gbuf_untouched(&sb, rows, 1, 1))
                FAIL(x, "%s fused: a row_lse guard byte changed", name);
        }
        check_inputs(x, isa, "fused");
        gbuf_free(&gb);
        gbuf_free(&lb);
        gbuf_free(&sb);
        gbuf_free(&work);
    }

    /* ---- forward, then backward from its row_lse ---- */
    gbuf lb = {0}, sb = {0};
    float *rl = gbuf_alloc(&lb, (size_t)rows, (c->ooff + 2) & 3);
    float *rs = gbuf_alloc(&sb, (size_t)rows, (c->ooff + 3) & 3);
    lsce_result res;
    memset(&res, 0xff, sizeof res);
    st = lsce_forward(&o, rows, V, x->logits.p, c->lstride, x->targets, rl, rs, &res);
    g_claims[isa].calls++;
    if (st != LSCE_OK) {
        FAIL(x, "%s forward: status %d (%s)", name, (int)st, lsce_strerror(st));
    } else {
        check_forward(x, isa, "forward", rl, rs, &res);
        if (!gbuf_untouched(&lb, rows, 1, 1) || !gbuf_untouched(&sb, rows, 1, 1))
            FAIL(x, "%s forward: a row_loss/row_lse guard byte changed", name);
    }
    check_inputs(x, isa, "forward");

    if (st == LSCE_OK) {
        gbuf gb = {0}, work = {0};
        float *grad;
        int64_t gstride;
        if (c->inplace) {
            grad = inplace_copy(x, &work);
            gstride = c->lstride;
        } else {
            grad = gbuf_alloc(&gb, matrix_floats(rows, V, c->gstride), (c->goff + 1) & 3);
            gstride = c->gstride;
        }
        const float *logits = c->inplace ? grad : x->logits.p;
        st = lsce_backward(&o, rows, V, logits, c->lstride, x->targets, rs, x->go, grad, gstride);
        g_claims[isa].calls++;
        if (st != LSCE_OK) {
            FAIL(x, "%s backward: status %d (%s)", name, (int)st, lsce_strerror(st));
        } else {
            check_grad(x, isa, c->inplace ? "backward-inplace" : "backward", grad, gstride, rs);
            if (c->inplace ? !inplace_untouched(x, &work) : !gbuf_untouched(&gb, rows, V, gstride))
                FAIL(x, "%s backward: a grad guard byte or padding between rows changed", name);
        }
        check_inputs(x, isa, "backward");
        gbuf_free(&gb);
        gbuf_free(&work);
    }
    gbuf_free(&lb);
    gbuf_free(&sb);

    if (x->claim_grad_worst[isa] > g_claims[isa].grad_worst)
        g_claims[isa].grad_worst = x->claim_grad_worst[isa];
    if (x->claim_loss_worst[isa] > g_claims[isa].loss_worst)
        g_claims[isa].loss_worst = x->claim_loss_worst[isa];
}

int run_case(const char *test, int case_no, const kcase *kc, test_rng *rng)
{
    ctx x;
    memset(&x, 0, sizeof x);
    x.test = test;
    x.case_no = case_no;
    x.kc = kc;
    make_data(&x, rng);
    compute_oracle(&x);
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        if (lsce_isa_supported((lsce_isa)isa))
            run_variant(&x, (lsce_isa)isa);
    oracle_batch_free(&x.ob);
    gbuf_free(&x.logits);
    free(x.logits_copy);
    free(x.targets);
    free(x.targets_copy);
    free(x.go);
    free(x.ri);
    free(x.p);
    return x.failures;
}

void report_claims(const char *test)
{
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        const claim_stats *s = &g_claims[isa];
        if (!s->calls)
            continue;
        fprintf(stderr,
                "kernels/%s %-7s %4ld calls; fused grad (error − rounding)/(bound − rounding) ≤ %.3f; lsce.h form: grad max|Δ|/max|G| "
                "≤ %.3g (rows > 4e-6: %ld of %ld), loss |Δ|/(|loss|+A·log d) ≤ %.3g (rows > 4e-6: "
                "%ld)\n",
                test, lsce_isa_to_string((lsce_isa)isa), s->calls, s->err_grad_rel_worst,
                s->grad_worst, s->rows_grad_over, s->rows_checked, s->loss_worst,
                s->rows_loss_over);
    }
}

test_rng test_rng_for(const char *name)
{
    test_rng r;
    rng_init(&r, test_seed(), test_hash(name));
    return r;
}
