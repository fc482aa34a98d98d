/*
 * Reading the golden files: portable little-endian decoding (no assumption about the host's byte
 * order or alignment), the loader shared by tests/golden.c and tests/golden_options.c, and the
 * parts of a case their formats share (tests/golden/README.md, tests/golden_options/README.md).
 */
#include "golden_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const unsigned char *golden_take(golden_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int64_t golden_rd_i64(golden_reader *r)
{
    const unsigned char *b = golden_take(r, 8);
    return b ? (int64_t)le64(b) : 0;
}

double golden_rd_f64(golden_reader *r)
{
    const unsigned char *b = golden_take(r, 8);
    uint64_t u = b ? le64(b) : 0;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

void *golden_rd_array(golden_reader *r, int64_t n, size_t elem)
{
    if (n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p) / elem) {
        r->bad = 1;
        return NULL;
    }
    void *out = malloc(n ? (size_t)n * elem : 1);
    const unsigned char *b = golden_take(r, (size_t)n * elem);
    if (!out || !b) {
        free(out);
        r->bad = 1;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++, b += elem) {
        if (elem == 2) {
            ((uint16_t *)out)[i] = (uint16_t)(b[0] | b[1] << 8);
        } else if (elem == 4) {
            uint32_t u = le32(b);
            memcpy((float *)out + i, &u, 4);
        } else {
            uint64_t u = le64(b);
            memcpy((char *)out + (size_t)i * 8, &u, 8); /* int64 or double */
        }
    }
    return out;
}

/* ---- the parts of a case every format shares ---------------------------------------------- */

void golden_rd_case_head(golden_reader *r, golden_case *c)
{
    const unsigned char *name = golden_take(r, 48);
    if (name)
        memcpy(c->name, name, 48);
    c->name[48] = 0;
    c->rows = golden_rd_i64(r);
    c->vocab = golden_rd_i64(r);
    lsce_options_default(&c->opts);
    c->opts.convention = (lsce_convention)golden_rd_i64(r);
    c->opts.kl = (int)golden_rd_i64(r);
    c->opts.ignore_index = golden_rd_i64(r);
    c->opts.reduction = (lsce_reduction)golden_rd_i64(r);
    c->n_grad_output = golden_rd_i64(r);
    c->flags = golden_rd_i64(r);
    c->logits_dtype = LSCE_DTYPE_F32;
}

int golden_case_head_ok(const golden_case *c)
{
    return c->rows >= 0 && c->rows <= 1 << 20 && c->vocab >= 1 && c->vocab <= 1 << 24 &&
           (c->n_grad_output == 0 || c->n_grad_output == 1 || c->n_grad_output == c->rows);
}

void golden_rd_case_inputs(golden_reader *r, golden_case *c)
{
    c->logits = golden_rd_array(r, c->rows * c->vocab, 4);
    c->targets = golden_rd_array(r, c->rows, 8);
    c->grad_output = c->n_grad_output ? golden_rd_array(r, c->n_grad_output, 4) : NULL;
}

void golden_rd_case_outputs(golden_reader *r, golden_case *c)
{
    c->row_loss = golden_rd_array(r, c->rows, 8);
    c->row_nll = golden_rd_array(r, c->rows, 8);
    c->row_lse = golden_rd_array(r, c->rows, 8);
    c->row_argmax = golden_rd_array(r, c->rows, 8);
    c->grad = golden_rd_array(r, c->rows * c->vocab, 8);
}

void golden_case_free(golden_case *c)
{
    free(c->logits);
    free(c->targets);
    free(c->grad_output);
    free(c->row_loss);
    free(c->row_nll);
    free(c->row_lse);
    free(c->row_argmax);
    free(c->grad);
    free(c->logits16);
    free(c->grad_bf16);
    free(c->grad_f16);
    memset(c, 0, sizeof *c);
}

/* ---- loading a file ------------------------------------------------------------------------ */

/* The whole file into *buf (malloc'ed). 0, or −1 with a message in err. */
static int read_all(const char *path, unsigned char **buf, size_t *size, char *err,
                    size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open %s", path);
        return -1;
    }
    unsigned char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                fclose(f);
                snprintf(err, err_size, "out of memory reading %s", path);
                return -1;
            }
            b = nb;
        }
        const size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *buf = b;
    *size = n;
    return 0;
}

static void free_cases(const golden_format *fmt, unsigned char *cases, int64_t n)
{
    for (int64_t i = 0; cases && i < n; i++)
        fmt->free_case(cases + (size_t)i * fmt->case_size);
    free(cases);
}

int golden_load_file(const char *dir, const golden_format *fmt, void **cases, int64_t *n_cases,
                     char *err, size_t err_size)
{
    char path[4096];
    unsigned char *buf;
    size_t size;
    *cases = NULL;
    *n_cases = 0;
    snprintf(path, sizeof path, "%s/golden.bin", dir);
    if (read_all(path, &buf, &size, err, err_size))
        return -1;

    golden_reader r = {buf, buf + size, 0};
    const unsigned char *magic = golden_take(&r, 8);
    const int64_t version = golden_rd_i64(&r), n = golden_rd_i64(&r);
    if (!magic || memcmp(magic, fmt->magic, 8) || version < fmt->min_version ||
        version > fmt->max_version || n < 1 || n > 100000) {
        free(buf);
        snprintf(err, err_size, "%s: not %s", path, fmt->description);
        return -1;
    }
    unsigned char *all = calloc((size_t)n, fmt->case_size);
    for (int64_t i = 0; all && i < n; i++) {
        if (fmt->read_case(&r, all + (size_t)i * fmt->case_size, version)) {
            snprintf(err, err_size, "%s: case %lld is truncated or malformed", path,
                     (long long)i);
            free_cases(fmt, all, i + 1);
            free(buf);
            return -1;
        }
    }
    const int trailing = r.p != r.end;
    free(buf);
    if (!all || trailing) {
        snprintf(err, err_size, "%s: %s", path, all ? "trailing bytes" : "out of memory");
        free_cases(fmt, all, n);
        return -1;
    }
    *cases = all;
    *n_cases = n;
    return 0;
}
