/* Decoding the options fuzz target's inputs (see options_case.h, fuzz_options.c). */
#include "options_case.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fuzz_common.h"
#include "storage.h"

const char *const invalid_names[I_COUNT] = {
    "class weight < 0", "class weight NaN/inf", "prior sum", "prior entry < 0",
    "prior + others/seed", "row weight < 0", "row weight NaN/inf", "z < 0/NaN/inf", "s <= 0",
    "s NaN/inf/out of fp32", "c < 0/NaN/inf/out of fp32", "s/c out of fp32", "beta < 0/NaN/inf",
    "B outside [0, 1000]", "B > 0, calibration NULL"};

/* ---- decoding ---------------------------------------------------------------------------- */

static const double eps_values[8] = {0.0, 0.1, 1.0, 0.5, 1e-7, 1.0 - 1e-7, 0.9999, 0.25};
static const double z_values[8] = {1e-4, 1e-2, 0.1, 1.0, 10.0, 0.0, 1e-30, 1e3};
static const double s_values[8] = {2.0, 0.5, 1.0 / 3.0, 1e-3, 30.0, 1e-30, 1e20, 1.0 + 0x1p-30};
static const double c_values[8] = {30.0, 50.0, 5.0, 1.0, 0.5, 1e-3, 1e-30, 1e30};
static const double beta_values[8] = {0.1, 0.5, 1.0, 2.0, 1e-6, 10.0, 100.0, 0.0};
static const int bins_values[8] = {1, 2, 10, 15, 100, 1000, 7, 0};
static const float go_values[8] = {1.0f, -2.5f, 0.0f, 1e-3f, 3e4f, -1.0f, 0.5f, 7.0f};

/* A weight of the family in style bits 0-2 (1, uniform (0, 2], {0, 1}, 2^±10, ~1e-30, 10^0..6,
 * 0..3, a mix), or 0 (a fraction 0, 1/8, 1/2 or 15/16 of them: style bits 3-4). */
static float weight_value(unsigned style, uint64_t *rng)
{
    static const unsigned zero_16ths[4] = {0, 2, 8, 15};
    static const float mix[8] = {0.0f, 1.0f, 1e-30f, 1e4f, 0.5f, 3.0f, 0x1p-20f, 7.0f};
    const uint64_t r = fuzz_rng(rng);
    if (r % 16 < zero_16ths[(style >> 3) & 3])
        return 0.0f;
    const uint64_t v = r >> 8;
    switch (style & 7) {
    case 1: return (float)(v % 2000 + 1) / 1000.0f;
    case 2: return (float)(v & 1);
    case 3: return ldexpf(1.0f, (int)(v % 21) - 10);
    case 4: return 1e-30f * (1.0f + (float)(v % 1000) / 1000.0f);
    case 5: return powf(10.0f, (float)(v % 7));
    case 6: return (float)(v % 4);
    case 7: return mix[v % 8];
    default: return 1.0f;
    }
}

static float *make_weights(int64_t n, unsigned style, unsigned salt)
{
    float *w = fuzz_alloc((size_t)n * sizeof *w);
    uint64_t rng = UINT64_C(0x77e1) * (style + 1) + salt;
    for (int64_t i = 0; i < n; i++)
        w[i] = weight_value(style, &rng);
    return w;
}

/* A prior summing to 1 (within 1e-4: lsce.h's domain). Family (style bits 0-2): uniform 1/V,
 * random (1, 2: zeros by bits 3-4 as above), one-hot, two classes, Zipf, ~1e-30 but one class,
 * random × (1 + 5e-5); bits 6-7 place the hot class (bit 5: −inf logits at its zeros). */
static float *make_prior(int64_t V, unsigned style)
{
    double *raw = fuzz_alloc((size_t)V * sizeof *raw), sum = 0.0;
    uint64_t rng = UINT64_C(0x9a1a) * (style + 1);
    const int64_t hot = (int64_t)((style >> 6) * 37u % (unsigned)V);
    for (int64_t c = 0; c < V; c++) {
        const unsigned fam = style & 7;
        raw[c] = fam == 0 ? 1.0 : fam == 3 ? (c == hot) : fam == 4 ? (c == hot) + 0.4 * (c == 0)
                 : fam == 5 ? 1.0 / (double)(c + 1) : fam == 6 ? (c == hot ? 1.0 : 1e-30)
                 : (double)weight_value((style & 0x18) | 1, &rng);
        sum += raw[c];
    }
    if (!(sum > 0.0)) {
        raw[hot] = 1.0;
        sum = 1.0;
    }
    float *u = fuzz_alloc((size_t)V * sizeof *u);
    for (int64_t c = 0; c < V; c++) /* family 7: a sum off by 5e-5, still valid */
        u[c] = (float)(raw[c] / sum * ((style & 7) == 7 ? 1.0 + 5e-5 : 1.0));
    free(raw);
    return u;
}

static double byte_value(unsigned b, const double *table, double lo, double step)
{
    return b & 0x80 ? lo + (double)(b & 0x7f) * step : table[b & 7];
}

/* s/c as lsce.c checks it: positive and finite in fp32. */
static int ratio_ok(double s, double c)
{
    const double r = s / c;
    return r > 0.0 && (float)r > 0.0f && (float)r <= FLT_MAX;
}

void decode_case(const uint8_t *data, size_t size, fuzz_case *c)
{
    fuzz_bytes in = {data, size};
    memset(c, 0, sizeof *c);
    decode_shape(&in, MAX_ROWS, &c->rows, &c->V, &c->ls, &c->gs);
    lsce_options *o = &c->o;
    lsce_options_default(o);
    const unsigned opt = fuzz_take(&in);
    o->convention = (lsce_convention)(opt % 3);
    o->reduction = (lsce_reduction)((opt / 3) % 3);
    o->kl = (opt / 9) & 1;
    const unsigned eps = fuzz_take(&in);
    o->smoothing = eps < 128 ? eps_values[eps & 7] : (double)(eps - 128) / 127.0;
    const unsigned ig = fuzz_take(&in);
    const int64_t ignore_choices[4] = {-100, 0, c->V - 1, INT64_MIN};
    o->ignore_index = ignore_choices[ig & 3];
    const int pass_go = (ig >> 2) & 1;
    c->pass_row_loss = !(ig & 8);
    c->pass_row_lse = !(ig & 16);
    c->pass_result = !(ig & 32);
    const unsigned dts = fuzz_take(&in);
    c->in_dt = o->logits_dtype = (lsce_dtype)(dts % 3);
    c->out_dt = o->grad_dtype = (lsce_dtype)((dts / 3) % 3);
    const float mag = (float)(1u << (fuzz_take(&in) % 12)) / 8.0f; /* 1/8 .. 256 */
    const unsigned on = fuzz_take(&in), cw_style = fuzz_take(&in), prior_style = fuzz_take(&in),
                   rw_style = fuzz_take(&in);
    const unsigned zb = fuzz_take(&in), sb = fuzz_take(&in), cb = fuzz_take(&in),
                   bb = fuzz_take(&in), nb = fuzz_take(&in), ib = fuzz_take(&in);
    if (on & 1)
        o->class_weight = c->cw = make_weights(c->V, cw_style, 1);
    if (on & 2) {
        o->prior = c->prior = make_prior(c->V, prior_style);
        o->convention = LSCE_CONV_UNIFORM; /* the prior's only convention */
    }
    if ((on & 4) && c->rows > 0)
        o->row_weight = c->rw = make_weights(c->rows, rw_style, 2);
    if (on & 8)
        o->z_loss = byte_value(zb, z_values, 0.0, 1.0 / 64.0);
    if (on & 16)
        o->logit_scale = byte_value(sb, s_values, 0.05, 1.0 / 16.0);
    if (on & 32) {
        o->softcap = byte_value(cb, c_values, 0.5, 1.0);
        if (!ratio_ok(o->logit_scale, o->softcap))
            o->softcap = 30.0;
    }
    if (on & 64)
        o->confidence_penalty = byte_value(bb, beta_values, 0.0, 1.0 / 32.0);
    if (on & 128)
        o->calibration_bins = nb & 0x80 ? 1 + (int)(nb & 0x7f) * 7 : bins_values[nb & 7];
    c->inv = ib < 0xA0 ? -1 : (int)((ib - 0xA0) % I_COUNT);
    c->inv_sub = ib < 0xA0 ? 0 : (int)((ib - 0xA0) / I_COUNT);

    c->y = fuzz_alloc((size_t)c->rows * sizeof *c->y);
    float go[MAX_ROWS];
    for (int64_t r = 0; r < c->rows; r++) {
        const unsigned t = fuzz_take(&in);
        c->y[r] = (t & 0xC0) == 0xC0 ? o->ignore_index : (int64_t)(t % (unsigned)c->V);
        if ((t & 0xC0) == 0x80)
            c->y[r] = c->V - 1 - (int64_t)(t % (unsigned)c->V);
        go[r] = go_values[(t >> 3) & 7];
    }
    if (pass_go) {
        const int64_t n = o->reduction == LSCE_REDUCTION_NONE ? c->rows : 1;
        c->go = fuzz_alloc((size_t)n * sizeof *c->go);
        for (int64_t r = 0; r < n; r++)
            c->go[r] = c->rows > 0 ? go[r] : 1.0f;
    }

    c->x_count = c->rows > 0 ? (size_t)((c->rows - 1) * c->ls + c->V) : 0;
    c->x = fuzz_alloc(c->x_count * dtype_size(c->in_dt));
    c->xf = fuzz_alloc(c->x_count * sizeof(float));
    uint64_t rng = fuzz_hash(data, size);
    for (size_t i = 0; i < c->x_count; i++) {
        const int64_t col = (int64_t)i % c->ls;
        float v = col < c->V ? decode_logit(&in, col ? c->xf[i - 1] : 0.0f, mag, &rng) : NAN;
        /* hostile: −inf at the classes whose weight (ω, off target) is 0 */
        if (col < c->V && (((cw_style & 32) && c->cw && c->cw[col] == 0.0f) ||
                           ((prior_style & 32) && c->prior && c->prior[col] == 0.0f)))
            v = -INFINITY;
        store_element(c->x, c->in_dt, (int64_t)i, v);
        c->xf[i] = element(c->x, c->in_dt, (int64_t)i);
    }
}

void free_case(fuzz_case *c)
{
    free(c->cw);
    free(c->prior);
    free(c->rw);
    free(c->go);
    free(c->y);
    free(c->x);
    free(c->xf);
}

static float *copy_or_fill(const float *src, int64_t n, float fill)
{
    float *p = fuzz_alloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = src ? src[i] : fill;
    return p;
}

void make_invalid(const fuzz_case *c, bad_options *b)
{
    static int strict = -1;
    if (strict < 0)
        strict = getenv("LSCE_FUZZ_STRICT") != NULL;
    memset(b, 0, sizeof *b);
    b->o = c->o;
    b->want = 1u << LSCE_ERR_OPTION;
    const int k = c->inv_sub;
    const int64_t V = c->V, j = k % V;
    lsce_options *o = &b->o;
    switch ((invalid)c->inv) {
    case I_CW_NEG: case I_CW_NAN:
        o->class_weight = b->cw = copy_or_fill(c->cw, V, 1.0f);
        b->cw[j] = c->inv == I_CW_NEG ? (k & 1 ? -1.0f : -FLT_TRUE_MIN) : (k & 1 ? INFINITY : NAN);
        break;
    case I_PRIOR_SUM: case I_PRIOR_NEG: case I_PRIOR_CONV:
        o->prior = b->prior = copy_or_fill(c->prior, V, (float)(1.0 / (double)V));
        o->convention = LSCE_CONV_UNIFORM;
        if (c->inv == I_PRIOR_SUM)
            for (int64_t i = 0; i < V; i++)
                b->prior[i] *= k & 1 ? 1.001f : 0.999f;
        else if (c->inv == I_PRIOR_NEG)
            b->prior[j] = k & 1 ? -1e-3f : -FLT_TRUE_MIN;
        else
            o->convention = k & 1 ? LSCE_CONV_OTHERS : LSCE_CONV_SEED;
        break;
    case I_RW_NEG: case I_RW_NAN:
        if (c->rows == 0) { /* no entry to make invalid */
            b->want = 1u << LSCE_OK;
            break;
        }
        o->row_weight = b->rw = copy_or_fill(c->rw, c->rows, 1.0f);
        b->rw[k % c->rows] = c->inv == I_RW_NEG ? -1.0f : (k & 1 ? INFINITY : NAN);
        break;
    case I_Z: o->z_loss = (const double[4]){-1e-300, NAN, INFINITY, -1.0}[k % 4]; break;
    case I_S_NONPOS: o->logit_scale = (const double[4]){0.0, -0.0, -1.0, -1e-30}[k % 4]; break;
    case I_S_RANGE: o->logit_scale = (const double[4]){NAN, INFINITY, 1e39, 1e-50}[k % 4]; break;
    case I_C: o->softcap = (const double[5]){-1e-3, NAN, INFINITY, 1e39, -INFINITY}[k % 5]; break;
    case I_S_OVER_C: /* each valid alone */
        o->logit_scale = k & 1 ? 1e-30 : 1e30;
        o->softcap = k & 1 ? 1e30 : 1e-20;
        break;
    case I_BETA:
        o->confidence_penalty = (const double[4]){-0.5, NAN, INFINITY, -1e-300}[k % 4];
        break;
    case I_BINS: o->calibration_bins = (const int[4]){-1, 1001, INT32_MAX, INT32_MIN}[k % 4]; break;
    case I_BINS_NULL:
        o->calibration_bins = 1 + k % 20;
        b->no_bins = 1;
        b->want = 1u << LSCE_ERR_NULL;
        break;
    case I_COUNT: break;
    }
    /* array options are read only for rows > 0 (lsce.c returns early): OK is also allowed */
    if (c->rows == 0 && !strict && c->inv <= I_PRIOR_NEG && c->inv != I_PRIOR_CONV)
        b->want |= 1u << LSCE_OK;
}

/* The decoded call on stderr (LSCE_FUZZ_DUMP=1 when replaying a finding). */
void dump_case(const fuzz_case *c)
{
    const lsce_options *o = &c->o;
    fprintf(stderr, "rows %lld V %lld ls %lld gs %lld dtypes %d->%d conv %d red %d kl %d eps %.17g "
            "ignore %lld go %s outputs%s%s%s\n  z %.17g s %.17g c %.17g beta %.17g B %d "
            "class_weight %s prior %s row_weight %s invalid %d (%s, variation %d)\n",
            (long long)c->rows, (long long)c->V, (long long)c->ls, (long long)c->gs, (int)c->in_dt,
            (int)c->out_dt, (int)o->convention, (int)o->reduction, o->kl, o->smoothing,
            (long long)o->ignore_index, c->go ? "passed" : "NULL",
            c->pass_row_loss ? " row_loss" : "", c->pass_row_lse ? " row_lse" : "",
            c->pass_result ? " result" : "", o->z_loss, o->logit_scale, o->softcap,
            o->confidence_penalty, o->calibration_bins, c->cw ? "on" : "NULL",
            c->prior ? "on" : "NULL", c->rw ? "on" : "NULL", c->inv,
            c->inv >= 0 ? invalid_names[c->inv] : "none", c->inv_sub);
    const struct { const char *name; const float *v; int64_t n; } arrays[3] = {
        {"class_weight", c->cw, c->V}, {"prior", c->prior, c->V}, {"row_weight", c->rw, c->rows}};
    for (int a = 0; a < 3; a++) {
        for (int64_t i = 0; arrays[a].v && i < arrays[a].n && i < 64; i++)
            fprintf(stderr, "%s%a", i ? " " : arrays[a].name, arrays[a].v[i]);
        if (arrays[a].v)
            fprintf(stderr, arrays[a].n > 64 ? " ...\n" : "\n");
    }
    for (int64_t r = 0; r < c->rows; r++) {
        fprintf(stderr, "row %lld: y %lld go %g:", (long long)r, (long long)c->y[r],
                c->go ? c->go[o->reduction == LSCE_REDUCTION_NONE ? r : 0] : 1.0f);
        for (int64_t col = 0; col < c->V && col < 64; col++)
            fprintf(stderr, " %a", c->xf[r * c->ls + col]);
        fprintf(stderr, c->V > 64 ? " ...\n" : "\n");
    }
}

