/*
 * The harness of the bf16 / fp16 suite (see tests/dtype_harness.h): variants, guarded buffers,
 * statistics, random cases and their data.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "dtype_harness.h"

const char *const dt_name[N_DT] = {"f32", "bf16", "f16"};

variant g_var[MAX_VARIANTS];
int g_nvar;

void init_variants(void)
{
    if (g_nvar)
        return;
    const lsce_kernels *pub[LSCE_ISA_COUNT_] = {0};
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_ && g_nvar < MAX_VARIANTS; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        variant *v = &g_var[g_nvar++];
        pub[isa] = lsce_kernels_get((lsce_isa)isa);
        v->isa = (lsce_isa)isa;
        v->table = NULL;
        if (pub[isa] && strcmp(pub[isa]->name, lsce_isa_to_string((lsce_isa)isa)))
            snprintf(v->name, sizeof v->name, "%s(%s)", lsce_isa_to_string((lsce_isa)isa),
                     pub[isa]->name);
        else
            snprintf(v->name, sizeof v->name, "%s", lsce_isa_to_string((lsce_isa)isa));
    }
    const lsce_kernels *all[MAX_VARIANTS];
    const int n = lsce_kernels_all(all, MAX_VARIANTS);
    for (int t = 0; t < n && t < MAX_VARIANTS && g_nvar < MAX_VARIANTS; t++) {
        int dispatched = 0;
        for (int isa = 0; isa < LSCE_ISA_COUNT_; isa++)
            dispatched |= pub[isa] == all[t];
        if (dispatched)
            continue;
        variant *v = &g_var[g_nvar++];
        v->isa = LSCE_ISA_AUTO;
        v->table = all[t];
        snprintf(v->name, sizeof v->name, "table:%s", all[t]->name);
    }
}

lsce_status call_fused(const variant *v, const lsce_options *o, int64_t rows, int64_t V,
                       const void *logits, int64_t lstride, const int64_t *targets,
                       const float *go, void *grad, int64_t gstride, float *row_loss,
                       float *row_lse, lsce_result *res)
{
    if (v->table)
        return lsce_forward_backward_with(v->table, o, rows, V, logits, lstride, targets, go, grad,
                                          gstride, row_loss, row_lse, res);
    return lsce_forward_backward(o, rows, V, logits, lstride, targets, go, grad, gstride,
                                 row_loss, row_lse, res);
}

/* ---- guarded buffers ------------------------------------------------------------------------ */

/* bytes of payload at off_bytes past a 64-byte boundary, GUARD bytes of GUARD_BYTE around. */
void *gbuf_alloc(gbuf *b, size_t bytes, size_t off_bytes)
{
    b->pre = GUARD + off_bytes;
    b->bytes = bytes;
    b->raw_bytes = (b->pre + bytes + GUARD + 63) & ~(size_t)63;
    b->raw = aligned_alloc(64, b->raw_bytes);
    cr_assert(b->raw, "out of memory (%zu bytes)", b->raw_bytes);
    memset(b->raw, GUARD_BYTE, b->raw_bytes);
    b->p = b->raw + b->pre;
    return b->p;
}

void gbuf_free(gbuf *b)
{
    free(b->raw);
    memset(b, 0, sizeof *b);
}

size_t matrix_elems(int64_t rows, int64_t V, int64_t stride)
{
    return rows > 0 ? (size_t)((rows - 1) * stride + V) : 0;
}

/* Guards and the padding between rows (stride > V) still GUARD_BYTE? */
int gbuf_untouched(const gbuf *b, int64_t rows, int64_t V, int64_t stride, size_t esize)
{
    for (size_t i = 0; i < b->pre; i++)
        if (b->raw[i] != GUARD_BYTE)
            return 0;
    for (size_t i = b->pre + b->bytes; i < b->raw_bytes; i++)
        if (b->raw[i] != GUARD_BYTE)
            return 0;
    for (int64_t r = 0; r + 1 < rows; r++) {
        const unsigned char *pad = b->p + (size_t)(r * stride + V) * esize;
        for (size_t i = 0; i < (size_t)(stride - V) * esize; i++)
            if (pad[i] != GUARD_BYTE)
                return 0;
    }
    return 1;
}

/* ---- statistics printed per test ------------------------------------------------------------ */

gstat g_stat[MAX_VARIANTS][N_DT][N_DT];
double g_loss_rel[MAX_VARIANTS][N_DT]; /* worst relative error, reduced loss / nll_sum */
double g_loss_rel_small[MAX_VARIANTS][N_DT]; /* the same where the mean row value < 0.5 */

void report(const char *test)
{
    for (int isa = 0; isa < g_nvar; isa++)
        for (int ld = 0; ld < N_DT; ld++) {
            int header = 0;
            for (int gd = 0; gd < N_DT; gd++) {
                const gstat *s = &g_stat[isa][ld][gd];
                if (!s->n && !s->bit_checked)
                    continue;
                if (!header) {
                    fprintf(stderr,
                            "dtypes/%s %-18s logits %-4s: reduced loss/nll rel. err. ≤ %.2g "
                            "(mean row value < 0.5: %.2g)\n",
                            test, g_var[isa].name, dt_name[ld],
                            g_loss_rel[isa][ld], g_loss_rel_small[isa][ld]);
                    header = 1;
                }
                fprintf(stderr,
                        "  grad %-4s: %8ld elems: = round(G) %.3f%%, within 1 ulp %.3f%%; "
                        "|Δ| ≤ %.3g ulp(row max), ≤ %.3f of the fp32 bound; precise %ld: ≤ %" PRId64
                        " ulp (|Δ| ≤ %.3f ulp); = round(own fp32) %ld/%ld; p_y→1 target ulps: "
                        "fused %" PRId64 " (%ld), bwd %" PRId64 " (%ld); masked %ld (fl16∘fl32 ≠ "
                        "fl16: %ld); subnormal %ld, ±inf %ld\n",
                        dt_name[gd], s->n,
                        s->n ? 100.0 * (double)s->exact / (double)s->n : 100.0,
                        s->n ? 100.0 * (double)s->within1 / (double)s->n : 100.0, s->max_rowulp,
                        s->max_headroom, s->n_precise, s->max_dist_precise, s->max_ulp_precise,
                        s->bit_checked - s->bit_bad, s->bit_checked, s->target_max_dist[0],
                        s->target_n[0], s->target_max_dist[1], s->target_n[1], s->masked_n,
                        s->masked_double_rounding, s->n_subnormal, s->n_inf);
            }
        }
}

/* ---- cases ---------------------------------------------------------------------------------- */

const char *const dist_names[D_COUNT] = {"normal", "spread200", "offset1e4", "integer",
                                                 "confident"};

static const double k_choices[] = {0.1, 1.0, 4.0, 16.0};

dcase random_case(test_rng *rng, int64_t rows, int64_t V, lsce_dtype ld)
{
    dcase c;
    memset(&c, 0, sizeof c);
    c.rows = rows;
    c.V = V;
    c.ld = ld;
    c.lstride = c.gstride = V;
    c.dist = (dist_kind)rng_range(rng, 0, D_COUNT);
    c.k = k_choices[rng_range(rng, 0, 4)];
    c.ninf = rng_uniform(rng) < 0.25 ? 0.1 : 0.0;
    c.ignore = rng_uniform(rng) < 0.5 ? 0.0 : 0.25;
    lsce_options_default(&c.opts);
    /* ε = 1 with others / seed has q_y < q_c, outside lsce.h's loss form (a ≥ b); those
     * conventions get it in the options matrix for the gradient only. */
    static const double eps[] = {0.0, 0.0, 0.1, 0.1, 0.3, 0.6};
    c.opts.smoothing = eps[rng_range(rng, 0, 6)];
    c.opts.convention = (lsce_convention)rng_range(rng, 0, 3);
    c.opts.kl = rng_uniform(rng) < 0.25;
    c.opts.reduction = (lsce_reduction)rng_range(rng, 0, 3);
    c.go = rng_uniform(rng) < 0.5;
    c.inplace = 1;
    c.rel_loss = 1;
    return c;
}

static float draw_logit(test_rng *rng, const dcase *c)
{
    switch (c->dist) {
    case D_NORMAL: return (float)(c->k * rng_normal(rng));
    case D_SPREAD: return (float)(400.0 * rng_uniform(rng) - 200.0);
    case D_OFFSET: return (float)(1e4 + (c->k > 4.0 ? 4.0 : c->k) * rng_normal(rng));
    case D_INT: return (float)nearbyint(2.0 * rng_normal(rng));
    case D_CONFIDENT: return (float)rng_normal(rng);
    case D_COUNT: break;
    }
    return 0.0f;
}

#define CH 4096 /* src/kernels.h LSCE_CHUNK */
static void apply_pattern(test_rng *rng, const dcase *c, float *row)
{
    const int64_t V = c->V, n_ch = (V + CH - 1) / CH;
    switch (c->pattern) {
    case 1: /* one whole chunk of −inf, never the whole row */
        if (n_ch >= 2) {
            const int64_t k = rng_range(rng, 0, n_ch);
            for (int64_t j = k * CH; j < V && j < (k + 1) * CH; j++)
                row[j] = -INFINITY;
        }
        break;
    case 2: /* chunk k lowered by 150·k: chunk weights underflow fp32 */
        for (int64_t j = 0; j < V; j++)
            row[j] -= 150.0f * (float)(j / CH);
        break;
    case 3: /* chunk k raised by 40·k: the max in the last chunk */
        for (int64_t j = 0; j < V; j++)
            row[j] += 40.0f * (float)(j / CH);
        break;
    case 4: { /* no positive logit: −|x|, 1/8 −0, 1/8 negative subnormals of the dtype; in half
               * of the rows one +0 (the maximum then sits among −0, +0 and the subnormals) */
        const float tiny = c->ld == F16 ? 0x1.0p-20f : 0x1.0p-130f;
        for (int64_t j = 0; j < V; j++) {
            const double u = rng_uniform(rng);
            row[j] = u < 0.125 ? -0.0f : u < 0.25 ? -tiny * (float)(1.0 + u) : -fabsf(row[j]);
        }
        if (rng_uniform(rng) < 0.5)
            row[rng_range(rng, 0, V)] = 0.0f;
        break;
    }
    default: break;
    }
}

/* ---- per-case data ------------------------------------------------------------------------- */

void describe_case(const ctx *x)
{
    const dcase *c = x->kc;
    fprintf(stderr,
            "  case %s#%d: rows=%" PRId64 " V=%" PRId64 " logits=%s lstride=%" PRId64
            " gstride=%" PRId64 " offsets(l,g,o)=%d,%d,%d dist=%s k=%g ninf=%g target_ninf=%d "
            "ignore=%g special=%d p_target=%g layout=%d pattern=%d eps=%g conv=%d kl=%d red=%d "
            "go=%d(%g) inplace=%d (LSCE_TEST_SEED=0x%" PRIx64 ")\n",
            x->test, x->case_no, c->rows, c->V, dt_name[c->ld], c->lstride, c->gstride, c->loff,
            c->goff, c->ooff, dist_names[c->dist], c->k, c->ninf, c->target_ninf, c->ignore,
            c->special, c->p_target, c->layout, c->pattern, c->opts.smoothing,
            (int)c->opts.convention, c->opts.kl, (int)c->opts.reduction, c->go, c->go_value,
            c->inplace, test_seed());
}

/* NaN patterns written into the logits' guards and row padding: reading them poisons a row. */
static void fill_nan(gbuf *b, lsce_dtype d)
{
    if (d == F32) {
        const uint32_t pat = 0x7fc0deadu;
        for (size_t i = 0; i + 4 <= b->raw_bytes; i += 4)
            memcpy(b->raw + i, &pat, 4);
    } else {
        const uint16_t pat = d == BF16 ? 0x7fd5u : 0x7e55u;
        for (size_t i = 0; i + 2 <= b->raw_bytes; i += 2)
            memcpy(b->raw + i, &pat, 2);
    }
}

/* Stores fp32 v into element i of a row of dtype d, rounded by the reference; returns the value
 * the library will see (the exact upcast). */
static float store_logit(void *row, lsce_dtype d, int64_t i, float v)
{
    if (d == F32) {
        ((float *)row)[i] = v;
        return v;
    }
    const uint16_t h = ref_f32_to_16(v, d);
    ((uint16_t *)row)[i] = h;
    return (float)ref_decode(h, d);
}

/* A signalling NaN of the dtype (a NaN logit the kernels must not pass on unquieted). */
static void store_snan(void *row, lsce_dtype d, int64_t i, int neg)
{
    if (d == F32) {
        const uint32_t u = (neg ? 0xff800000u : 0x7f800000u) | 0x1234u;
        memcpy((float *)row + i, &u, 4);
    } else {
        ((uint16_t *)row)[i] =
            (uint16_t)((neg ? 0x8000u : 0u) | ref_format(d).inf | (d == BF16 ? 0x11u : 0x111u));
    }
}

void make_data(ctx *x, test_rng *rng)
{
    const dcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    const lsce_dtype ld = c->ld;
    const size_t es = dt_size(ld);
    gbuf_alloc(&x->logits, matrix_elems(rows, V, c->lstride) * es, (size_t)c->loff * es);
    fill_nan(&x->logits, ld);
    x->xu = malloc(sizeof(float) * (size_t)(rows ? rows : 1) * (size_t)V);
    x->targets = malloc(sizeof(int64_t) * (size_t)(rows ? rows : 1));
    float *row = malloc(sizeof(float) * (size_t)V);
    cr_assert(x->xu && x->targets && row);

    for (int64_t r = 0; r < rows; r++) {
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
        if (c->dist == D_CONFIDENT && row[y] != -INFINITY && c->p_target <= 0.0)
            row[y] += (float)(8.0 + 32.0 * rng_uniform(rng));
        if (c->p_target > 0.0 && V > 1) {
            /* others ~ N(0, 0.05²); p_y = e^{x_y}/(e^{x_y} + Σ_{c≠y} e^{x_c}) ≈ p_target */
            double others = 0.0;
            for (int64_t j = 0; j < V; j++) {
                row[j] = (float)(0.05 * rng_normal(rng));
                if (j != y)
                    others += exp((double)row[j]);
            }
            const double t = log(c->p_target / (1.0 - c->p_target) * others);
            if (c->layout == 0) {
                row[y] = (float)t;
            } else { /* the same probabilities, shifted so that x_y = 0 and lse ≈ 0 */
                for (int64_t j = 0; j < V; j++)
                    row[j] = j == y ? 0.0f : (float)((double)row[j] - t);
            }
        }
        if (rng_uniform(rng) < c->ignore)
            y = c->opts.ignore_index;
        x->targets[r] = y;

        unsigned char *dst = x->logits.p + (size_t)(r * c->lstride) * es;
        float *xu = x->xu + r * V;
        for (int64_t j = 0; j < V; j++)
            xu[j] = store_logit(dst, ld, j, row[j]);

        if (c->special) {
            /* rows cycle: NaN (signalling bits), NaN at the target, +inf, only −inf, −inf target */
            const int64_t j = rng_range(rng, 0, V);
            switch (r % 6) {
            case 0: store_snan(dst, ld, j, (int)(r / 6) & 1); xu[j] = NAN; break;
            case 1:
                store_snan(dst, ld, j, 0);
                xu[j] = NAN;
                if (x->targets[r] != c->opts.ignore_index)
                    x->targets[r] = j;
                break;
            case 2: xu[j] = store_logit(dst, ld, j, INFINITY); break;
            case 3:
                for (int64_t i = 0; i < V; i++)
                    xu[i] = store_logit(dst, ld, i, -INFINITY);
                break;
            case 4:
                if (x->targets[r] != c->opts.ignore_index)
                    xu[x->targets[r]] = store_logit(dst, ld, x->targets[r], -INFINITY);
                break;
            default: break;
            }
        }
    }
    free(row);

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
        x->go[0] = 1.0f;
        for (int64_t i = 0; i < x->n_go; i++) {
            if (c->go == 2) {
                x->go[i] = (float)c->go_value;
            } else {
                const double u = rng_uniform(rng);
                x->go[i] = u < 0.1 ? 0.0f : (float)(rng_normal(rng) * 3.0);
            }
        }
    }
}

void compute_oracle(ctx *x)
{
    const dcase *c = x->kc;
    const int64_t rows = c->rows, V = c->V;
    cr_assert_eq(oracle_eval_batch(&c->opts, rows, V, x->xu, V, x->targets, x->go, 1, &x->ob), 0,
                 "oracle: out of memory");
    oracle_weights(&c->opts, V, &x->a, &x->b);
    x->A = x->a + x->b * (double)(V - 1);
    x->gmax = calloc((size_t)(rows ? rows : 1), sizeof(double));
    x->nan_row = calloc((size_t)(rows ? rows : 1), sizeof(int));
    cr_assert(x->gmax && x->nan_row);
    for (int64_t r = 0; r < rows; r++) {
        const double *G = x->ob.grad + r * V;
        for (int64_t j = 0; j < V; j++) {
            if (isnan(G[j]))
                x->nan_row[r] = 1;
            else if (fabs(G[j]) > x->gmax[r])
                x->gmax[r] = fabs(G[j]);
        }
    }
}

test_rng test_rng_for(const char *name)
{
    test_rng r;
    rng_init(&r, test_seed(), test_hash(name));
    return r;
}
