/*
 * libFuzzer target: differential fuzzing of every variant this CPU runs, on every entry point,
 * against the double-precision oracle of the tests (tests/oracle.c, written independently of
 * src/) within the accuracy lsce.h documents (tests/bounds.h), and of the variants against each
 * other where lsce.h promises identical bits. Any disagreement aborts (libFuzzer keeps the input).
 *
 * The fuzzer's bytes choose the shape (rows, V across the 4096-element chunk boundary, padded
 * strides), the options (smoothing, convention, kl, ignore_index, reduction), grad_output, which
 * optional outputs are passed, at most one defect (an invalid option, dtype, variant, target,
 * stride or an aliased gradient) and every logit: NaN, ±inf, ±0, subnormals, ±1e30, 1e-30, FLT_MAX,
 * repeats of the previous value (ties) and raw bit patterns. Bytes that run out read as 0; logits
 * beyond the input come from a generator seeded by the input, so that short inputs still fill
 * large rows.
 *
 * Checked on every call:
 *   - a defect gives its status and leaves every output byte and the result untouched;
 *   - otherwise: row_loss, row_lse, the gradient and the result against the oracle (a NaN where it
 *     must be NaN, the same infinity where it must be infinite); n_tokens and n_correct exactly;
 *   - the inputs are not modified; the padding between gradient rows is not written; ASan
 *     catches any access past the extent of a buffer (each is allocated to its exact extent);
 *   - in place equals out of place bit for bit; forward equals the fused call bit for bit.
 *
 * Input layout (byte offsets; see decode_case):
 *   0 rows (% 9)  1-2 V  3 paddings  4 options  5 smoothing  6 ignore_index / grad_output
 *   7 optional outputs  8 defect  9 logit scale  then one byte per target, then the logits.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "fuzz_common.h"
#include "lsce.h"
#include "oracle.h"

#define MAX_ROWS 8
#define PATTERN 0xA5 /* what every output byte holds before a call */

typedef enum entry {
    E_FUSED,
    E_FUSED_IN_PLACE,
    E_FORWARD,
    E_BACKWARD,
    E_BACKWARD_IN_PLACE,
    E_COUNT
} entry;
static const char *const entry_names[E_COUNT] = {"fused", "fused in place", "forward", "backward",
                                                 "backward in place"};

typedef enum defect {
    D_NONE,
    D_CONVENTION,   /* convention 3 */
    D_REDUCTION,    /* reduction −1 */
    D_KL,           /* kl 2 */
    D_SMOOTHING,    /* NaN, −tiny or 1 + tiny */
    D_DTYPE,        /* logits bf16 */
    D_ISA,          /* a variant value that does not exist */
    D_TARGET,       /* one target outside [0, V) that is not ignore_index */
    D_OBJECTIVE,    /* z_loss = NaN: outside the domain even once the option is implemented */
    D_STRIDE,       /* logits stride < V */
    D_ALIAS,        /* gradient one element into the logits */
    D_COUNT
} defect;

typedef struct fuzz_case {
    int64_t rows, V, ls, gs; /* logits and (out-of-place) gradient strides */
    lsce_options o;
    int64_t y[MAX_ROWS + 1];
    float go[MAX_ROWS + 1];
    int pass_go, pass_row_loss, pass_row_lse, pass_result;
    defect defect;
    float *x;        /* exactly the logits extent; the padding between rows is NaN */
    size_t x_floats; /* (rows − 1)·ls + V, or 0 */
} fuzz_case;

/* ---- decoding ----------------------------------------------------------------------------- */

static const double smoothing_values[8] = {0.0, 0.1, 1.0, 0.5, 1e-7, 1.0 - 1e-7, 0.9999, 0.25};

/* A logit from its tag byte (and maybe more bytes); prev is the previous logit of the row. */
static float decode_logit(fuzz_bytes *in, float prev, float scale, uint64_t *rng)
{
    const unsigned tag = fuzz_take(in);
    switch (tag) {
    case 0xF0: return NAN;
    case 0xF1: return INFINITY;
    case 0xF2: return -INFINITY;
    case 0xF3: return 0.0f;
    case 0xF4: return -0.0f;
    case 0xF5: return FLT_TRUE_MIN;
    case 0xF6: return -FLT_MIN / 3.0f; /* subnormal */
    case 0xF7: return 1e30f;
    case 0xF8: return -1e30f;
    case 0xF9: return 1e-30f;
    case 0xFA: return FLT_MAX;
    case 0xFB: return -FLT_MAX;
    case 0xFC: case 0xFD: return prev; /* ties */
    case 0xFE: {
        uint32_t bits = 0;
        for (int i = 0; i < 4; i++)
            bits |= (uint32_t)fuzz_take(in) << (8 * i);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    case 0xFF: return prev + 1.0f;
    default:
        if (in->left == 0 && tag == 0) /* input exhausted: generated values */
            return scale * (float)((int64_t)(fuzz_rng(rng) % 2001) - 1000) / 100.0f;
        return scale * (float)((int)tag - 120) / 16.0f;
    }
}

/* V: mostly small; with the top bit, near a multiple of the chunk (4096) or of a vector. */
static int64_t decode_vocab(unsigned v)
{
    if (!(v & 0x8000))
        return 1 + (int64_t)(v % 300);
    const int64_t base = (v & 0x4000) ? 8192 : 4096;
    return base - 40 + (int64_t)(v % 80);
}

static void decode_case(const uint8_t *data, size_t size, fuzz_case *c)
{
    fuzz_bytes in = {data, size};
    memset(c, 0, sizeof *c);
    c->rows = fuzz_take(&in) % (MAX_ROWS + 1);
    c->V = decode_vocab(fuzz_take16(&in));
    const unsigned pads = fuzz_take(&in);
    c->ls = c->V + (pads & 7);
    c->gs = c->V + ((pads >> 3) & 7);

    lsce_options_default(&c->o);
    const unsigned opt = fuzz_take(&in);
    c->o.convention = (lsce_convention)(opt % 3);
    c->o.reduction = (lsce_reduction)((opt / 3) % 3);
    c->o.kl = (opt / 9) & 1;
    const unsigned eps = fuzz_take(&in);
    c->o.smoothing = eps < 128 ? smoothing_values[eps & 7] : (double)(eps - 128) / 127.0;
    const unsigned ig = fuzz_take(&in);
    const int64_t ignore_choices[4] = {-100, 0, c->V - 1, INT64_MIN};
    c->o.ignore_index = ignore_choices[ig & 3];
    c->pass_go = (ig >> 2) & 1;
    const unsigned outs = fuzz_take(&in);
    c->pass_row_loss = !(outs & 1);
    c->pass_row_lse = !(outs & 2);
    c->pass_result = !(outs & 4);
    const unsigned d = fuzz_take(&in);
    c->defect = d < 0xA0 ? D_NONE : (defect)(1 + (d - 0xA0) % (D_COUNT - 1));
    const float scale = (float)(1u << (fuzz_take(&in) % 12)) / 8.0f; /* 1/8 .. 256 */

    const float go_values[8] = {1.0f, -2.5f, 0.0f, 1e-3f, 3e4f, -1.0f, 0.5f, 7.0f};
    uint64_t rng = fuzz_hash(data, size);
    for (int64_t r = 0; r < c->rows; r++) {
        const unsigned t = fuzz_take(&in);
        c->y[r] = (t & 0xC0) == 0xC0 ? c->o.ignore_index : (int64_t)(t % (unsigned)c->V);
        if ((t & 0xC0) == 0x80 && c->V > 1) /* a class far from 0 */
            c->y[r] = c->V - 1 - (int64_t)(t % (unsigned)c->V);
        c->go[r] = go_values[(t >> 3) & 7];
    }

    c->x_floats = c->rows > 0 ? (size_t)((c->rows - 1) * c->ls + c->V) : 0;
    c->x = fuzz_alloc_floats(c->x_floats);
    for (int64_t r = 0; r < c->rows; r++) {
        float prev = 0.0f;
        for (int64_t col = 0; col < c->ls && (size_t)(r * c->ls + col) < c->x_floats; col++) {
            const float v = col < c->V ? decode_logit(&in, prev, scale, &rng) : NAN;
            c->x[r * c->ls + col] = v;
            prev = v;
        }
    }
}

/* ---- running an entry point --------------------------------------------------------------- */

typedef struct outs {
    lsce_status st;
    float *grad;        /* NULL for forward */
    size_t grad_floats; /* its exact extent */
    int64_t gs;
    float *row_loss, *row_lse; /* exactly rows floats each (NULL when not passed) */
    lsce_result res;
} outs;

static float *pattern_floats(size_t n)
{
    float *p = fuzz_alloc_floats(n);
    memset(p, PATTERN, n * sizeof(float));
    return p;
}

static int is_pattern(const void *p, size_t bytes)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        if (b[i] != PATTERN)
            return 0;
    return 1;
}

static int in_place(entry e) { return e == E_FUSED_IN_PLACE || e == E_BACKWARD_IN_PLACE; }

/* The call of entry e as case c describes it (with its defect), variant isa. Backward gets its
 * row_lse from lsce_forward of the same variant (saved_lse, rows floats). */
static outs run_entry(const fuzz_case *c, entry e, lsce_isa isa, const float *saved_lse)
{
    outs out;
    memset(&out, 0, sizeof out);
    memset(&out.res, PATTERN, sizeof out.res);
    lsce_options o = c->o;
    o.isa = isa;
    int64_t ls = c->ls, gs = in_place(e) ? c->ls : c->gs;
    switch (c->defect) {
    case D_NONE: break;
    case D_CONVENTION: o.convention = (lsce_convention)3; break;
    case D_REDUCTION: o.reduction = (lsce_reduction)-1; break;
    case D_KL: o.kl = 2; break;
    case D_SMOOTHING: o.smoothing = c->V % 3 == 0 ? NAN : c->V % 3 == 1 ? -1e-300 : 1.0 + 1e-12; break;
    case D_DTYPE: o.logits_dtype = LSCE_DTYPE_BF16; break;
    case D_ISA: o.isa = (lsce_isa)(LSCE_ISA_COUNT_ + (int)(c->V % 3)); break;
    case D_TARGET: break; /* applied to the targets below */
    case D_OBJECTIVE: o.z_loss = NAN; break;
    case D_STRIDE: ls = c->V - 1; break;
    case D_ALIAS: break; /* applied to the gradient below */
    case D_COUNT: break;
    }
    int64_t y[MAX_ROWS + 1];
    memcpy(y, c->y, sizeof y);
    if (c->defect == D_TARGET && c->rows > 0) {
        const int64_t r = c->rows - 1;
        y[r] = c->V + (int64_t)(c->go[r] > 0.0f) * INT64_C(1000000007);
        if (y[r] == o.ignore_index)
            y[r] = -1 - (c->V & 1);
    }

    out.gs = gs;
    float *x = c->x;
    if (e != E_FORWARD) {
        out.grad_floats = c->rows > 0 ? (size_t)((c->rows - 1) * gs + c->V) : 0;
        out.grad = pattern_floats(out.grad_floats);
        if (in_place(e)) {
            memcpy(out.grad, c->x, c->x_floats * sizeof(float));
            x = out.grad;
        }
    }
    out.row_loss = c->pass_row_loss ? pattern_floats((size_t)c->rows) : NULL;
    out.row_lse = c->pass_row_lse || e == E_FORWARD ? pattern_floats((size_t)c->rows) : NULL;
    float *grad = out.grad;
    if (c->defect == D_ALIAS && !in_place(e) && c->rows > 0 && c->V > 1)
        grad = c->x + 1; /* rejected before anything is written: ASan sees any write */
    const float *go = c->pass_go ? c->go : NULL;
    lsce_result *res = c->pass_result ? &out.res : NULL;

    switch (e) {
    case E_FUSED:
    case E_FUSED_IN_PLACE:
        out.st = lsce_forward_backward(&o, c->rows, c->V, x, ls, y, go, grad, gs, out.row_loss,
                                       out.row_lse, res);
        break;
    case E_FORWARD:
        out.st = lsce_forward(&o, c->rows, c->V, x, ls, y, out.row_loss, out.row_lse, res);
        break;
    case E_BACKWARD:
    case E_BACKWARD_IN_PLACE:
        out.st = lsce_backward(&o, c->rows, c->V, x, ls, y, saved_lse, go, grad, gs);
        break;
    case E_COUNT: break;
    }
    return out;
}

static void free_outs(outs *o)
{
    free(o->grad);
    free(o->row_loss);
    free(o->row_lse);
}

/* The status case c's defect must give for entry e (LSCE_OK without one). */
static lsce_status expected_status(const fuzz_case *c, entry e)
{
    switch (c->defect) {
    case D_CONVENTION: case D_REDUCTION: case D_KL: case D_SMOOTHING: case D_OBJECTIVE:
        return LSCE_ERR_OPTION;
    case D_DTYPE: return LSCE_ERR_DTYPE;
    case D_ISA: return LSCE_ERR_ISA;
    case D_STRIDE: return LSCE_ERR_SHAPE;
    case D_TARGET: return c->rows > 0 ? LSCE_ERR_TARGET : LSCE_OK;
    case D_ALIAS:
        return !in_place(e) && e != E_FORWARD && c->rows > 0 && c->V > 1 ? LSCE_ERR_ALIAS : LSCE_OK;
    case D_NONE: case D_COUNT: break;
    }
    return LSCE_OK;
}

/* ---- checks ------------------------------------------------------------------------------ */

/* got vs want within tol; a NaN wanted must be NaN, an infinity the same infinity. */
static int close_to(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return isfinite(got) && fabs(got - want) <= tol;
}

/* A rejected call: its status, and not one byte of any output (nor the result) written. */
static void check_rejected(const fuzz_case *c, entry e, lsce_isa isa, const outs *out,
                           lsce_status want)
{
    const char *name = lsce_isa_to_string(isa);
    if (out->st != want)
        fuzz_fail("[%s %s] defect %d: status %d (%s), want %d (%s)", name, entry_names[e],
                  (int)c->defect, (int)out->st, lsce_strerror(out->st), (int)want,
                  lsce_strerror(want));
    const size_t rows = (size_t)c->rows;
    if (out->grad && !(in_place(e) ? !memcmp(out->grad, c->x, c->x_floats * sizeof(float))
                                   : is_pattern(out->grad, out->grad_floats * sizeof(float))))
        fuzz_fail("[%s %s] a rejected call wrote the gradient", name, entry_names[e]);
    if ((out->row_loss && !is_pattern(out->row_loss, rows * sizeof(float))) ||
        (out->row_lse && !is_pattern(out->row_lse, rows * sizeof(float))) ||
        !is_pattern(&out->res, sizeof out->res))
        fuzz_fail("[%s %s] a rejected call wrote row_loss, row_lse or the result", name,
                  entry_names[e]);
}

/* Everything a successful call wrote, against the oracle within tests/bounds.h. */
static void check_against_oracle(const fuzz_case *c, entry e, lsce_isa isa, const outs *out,
                                 const oracle_batch *ob)
{
    const char *name = lsce_isa_to_string(isa);
    if (out->st != LSCE_OK)
        fuzz_fail("[%s %s] status %d (%s) for a valid call", name, entry_names[e], (int)out->st,
                  lsce_strerror(out->st));
    double a, b;
    oracle_weights(&c->o, c->V, &a, &b);
    const double A = a + b * (double)(c->V - 1);
    const int has_forward_outputs = e == E_FUSED || e == E_FUSED_IN_PLACE || e == E_FORWARD;
    double loss_tol = 0.0, nll_tol = 0.0;
    for (int64_t r = 0; r < c->rows; r++) {
        const int kept = c->y[r] != c->o.ignore_index;
        if (kept) {
            loss_tol += bound_row_loss(ob->row_loss[r], A);
            nll_tol += bound_row_loss(ob->row_nll[r], 1.0);
        }
        if (has_forward_outputs && out->row_loss) {
            const double want = kept ? ob->row_loss[r] : 0.0;
            const double tol = kept ? bound_row_loss(want, A) + BOUND_U * fabs(want) : 0.0;
            if (!close_to(out->row_loss[r], want, tol))
                fuzz_fail("[%s %s] row_loss[%lld] = %.9g, oracle %.9g (tol %.3g)%s", name,
                          entry_names[e], (long long)r, out->row_loss[r], want, tol,
                          kept ? "" : " (ignored row)");
        }
        if (has_forward_outputs && out->row_lse &&
            !close_to(out->row_lse[r], ob->row_lse[r], bound_row_lse(ob->row_lse[r])))
            fuzz_fail("[%s %s] row_lse[%lld] = %.9g, oracle %.9g", name, entry_names[e],
                      (long long)r, out->row_lse[r], ob->row_lse[r]);
        if (!out->grad)
            continue;
        const float *g = out->grad + r * out->gs;
        const double *want = ob->grad + r * c->V;
        double gmax = 0.0;
        for (int64_t col = 0; col < c->V; col++)
            if (isfinite(want[col]))
                gmax = fmax(gmax, fabs(want[col]));
        const int backward = e == E_BACKWARD || e == E_BACKWARD_IN_PLACE;
        for (int64_t col = 0; col < c->V; col++) {
            double tol = 0.0;
            if (kept) {
                tol = bound_grad(gmax, ob->row_scale[r], a, b);
                if (backward && isfinite(ob->row_lse[r]))
                    tol += bound_backward_extra(
                        ob->row_lse[r], A, ob->row_scale[r],
                        exp((double)c->x[r * c->ls + col] - ob->row_lse[r]));
            }
            if (kept ? !close_to(g[col], want[col], tol) : g[col] != 0.0f)
                fuzz_fail("[%s %s] grad[%lld][%lld] = %.9g, oracle %.9g (tol %.3g)%s", name,
                          entry_names[e], (long long)r, (long long)col, g[col],
                          kept ? want[col] : 0.0, tol, kept ? "" : " (ignored row)");
        }
        /* The padding between rows: the logits' own NaN in place, untouched otherwise. */
        for (int64_t col = c->V; col < out->gs && r + 1 < c->rows; col++) {
            const int intact = in_place(e) ? !memcmp(&g[col], &c->x[r * c->ls + col], sizeof *g)
                                           : is_pattern(&g[col], sizeof *g);
            if (!intact)
                fuzz_fail("[%s %s] grad padding [%lld][%lld] written", name, entry_names[e],
                          (long long)r, (long long)col);
        }
    }
    if (!has_forward_outputs) {
        if (!is_pattern(&out->res, sizeof out->res))
            fuzz_fail("[%s %s] the result was written", name, entry_names[e]);
        return;
    }
    if (!c->pass_result)
        return;
    const lsce_result *res = &out->res, *w = &ob->result;
    const int64_t n = w->n_tokens;
    if (res->n_tokens != n || res->denominator != (double)n || res->n_correct != w->n_correct ||
        res->z_sum != 0.0)
        fuzz_fail("[%s %s] n_tokens %lld denominator %g n_correct %lld z_sum %g; oracle %lld "
                  "%lld", name, entry_names[e], (long long)res->n_tokens, res->denominator,
                  (long long)res->n_correct, res->z_sum, (long long)n, (long long)w->n_correct);
    const double lt = c->o.reduction == LSCE_REDUCTION_MEAN && n > 0 ? loss_tol / (double)n
                                                                      : loss_tol;
    if (!close_to(res->loss, w->loss, lt) || !close_to(res->nll_sum, w->nll_sum, nll_tol))
        fuzz_fail("[%s %s] loss %.17g nll_sum %.17g; oracle %.17g %.17g (tol %.3g %.3g)", name,
                  entry_names[e], res->loss, res->nll_sum, w->loss, w->nll_sum, lt, nll_tol);
}

static int same_floats(const float *p, const float *q, size_t n)
{
    return (!p && !q) || (p && q && !memcmp(p, q, n * sizeof(float)));
}

/* What lsce.h promises bit for bit: in place = out of place; forward = the fused call's
 * forward outputs. */
static void check_identities(const fuzz_case *c, lsce_isa isa, const outs *all)
{
    const char *name = lsce_isa_to_string(isa);
    const size_t rows = (size_t)c->rows;
    for (int pair = 0; pair < 2; pair++) {
        const outs *p = &all[pair ? E_BACKWARD : E_FUSED];
        const outs *q = &all[pair ? E_BACKWARD_IN_PLACE : E_FUSED_IN_PLACE];
        for (int64_t r = 0; r < c->rows; r++)
            if (memcmp(p->grad + r * p->gs, q->grad + r * q->gs, (size_t)c->V * sizeof(float)))
                fuzz_fail("[%s] %s: in-place gradient row %lld differs from out of place", name,
                          pair ? "backward" : "fused", (long long)r);
    }
    const outs *f = &all[E_FUSED], *i = &all[E_FUSED_IN_PLACE], *w = &all[E_FORWARD];
    if (!same_floats(f->row_loss, i->row_loss, rows) || !same_floats(f->row_lse, i->row_lse, rows) ||
        memcmp(&f->res, &i->res, sizeof f->res))
        fuzz_fail("[%s] fused in place: row_loss, row_lse or result differ", name);
    if (!same_floats(f->row_loss, w->row_loss, rows) ||
        (f->row_lse && !same_floats(f->row_lse, w->row_lse, rows)) ||
        memcmp(&f->res, &w->res, sizeof f->res))
        fuzz_fail("[%s] forward: row_loss, row_lse or result differ from the fused call", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_case c;
    decode_case(data, size, &c);
    float *x_pristine = fuzz_alloc_floats(c.x_floats);
    memcpy(x_pristine, c.x, c.x_floats * sizeof(float));
    oracle_batch ob;
    if (oracle_eval_batch(&c.o, c.rows, c.V, c.x, c.ls, c.y, c.pass_go ? c.go : NULL, 1, &ob))
        fuzz_fail("the oracle is out of memory");

    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1)) {
        if (!lsce_isa_supported(isa))
            continue;
        outs fwd = run_entry(&c, E_FORWARD, isa, NULL);
        outs all[E_COUNT];
        for (int e = 0; e < E_COUNT; e++) {
            all[e] = e == E_FORWARD ? fwd : run_entry(&c, (entry)e, isa, fwd.row_lse);
            const lsce_status want = expected_status(&c, (entry)e);
            if (want != LSCE_OK)
                check_rejected(&c, (entry)e, isa, &all[e], want);
            else
                check_against_oracle(&c, (entry)e, isa, &all[e], &ob);
            if (memcmp(c.x, x_pristine, c.x_floats * sizeof(float)) != 0)
                fuzz_fail("[%s %s] the logits were modified", lsce_isa_to_string(isa),
                          entry_names[e]);
        }
        if (c.defect == D_NONE)
            check_identities(&c, isa, all);
        for (int e = 0; e < E_COUNT; e++)
            free_outs(&all[e]);
    }
    oracle_batch_free(&ob);
    free(x_pristine);
    free(c.x);
    return 0;
}
