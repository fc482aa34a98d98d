/*
 * The cases of the test_kernels suites: what one case is (shape, strides, alignment, logit
 * distribution, options, in place or not), its random draw, and the guarded buffers every input
 * and output of a case lives in (guard bytes before and after, checked after each call).
 */
#ifndef LSCE_TESTS_KERNEL_CASES_H
#define LSCE_TESTS_KERNEL_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "lsce.h"
#include "oracle.h"

/* ---- guarded buffers ------------------------------------------------------------------------ */

typedef struct gbuf {
    unsigned char *raw;
    size_t raw_bytes, pre_bytes, n; /* n floats of payload at raw + pre_bytes */
    float *p;
} gbuf;

/* n floats, `offset` floats past 64-byte alignment, between guard bytes. */
float *gbuf_alloc(gbuf *b, size_t n, int offset);
void gbuf_free(gbuf *b);
/* Guards intact? For a strided matrix (rows, V, stride) also the padding between rows. */
int gbuf_untouched(const gbuf *b, int64_t rows, int64_t V, int64_t stride);

/* The floats a rows × V matrix with row stride `stride` spans. */
size_t matrix_floats(int64_t rows, int64_t V, int64_t stride);

/* ---- cases ---------------------------------------------------------------------------------- */

typedef enum dist_kind {
    D_NORMAL = 0, /* k·N(0, 1) */
    D_SPREAD,     /* uniform in [−200, 200] */
    D_OFFSET,     /* 1e4 + k·N(0, 1) */
    D_INT,        /* round(2·N(0, 1)): many ties (argmax: lowest index) */
    D_CONFIDENT,  /* N(0, 1), the target raised by 8..40: p_y → 1 */
    D_COUNT
} dist_kind;

extern const char *const dist_names[D_COUNT];

typedef struct kcase {
    int64_t rows, V, lstride, gstride;
    int loff, goff, ooff;  /* floats past 64-byte alignment: logits, grad, row_loss/row_lse */
    dist_kind dist;
    double k;
    double ninf;           /* probability of a −inf logit (never a whole row, unless special) */
    int target_ninf;       /* the target itself may be −inf */
    double ignore;         /* probability of an ignored row */
    lsce_options opts;
    int go;                /* 0: grad_output NULL; 1: random values */
    int inplace;
    int fused_outputs;     /* bit 0: row_loss, 1: row_lse, 2: result (the fused call) */
    int special;           /* rows with NaN, +inf, only −inf */
    int pattern;           /* structured rows: see apply_pattern */
} kcase;

/* A case of rows × V with everything else drawn from rng. */
kcase random_case(test_rng *rng, int64_t rows, int64_t V);
/* One logit of c's distribution. */
float draw_logit(test_rng *rng, const kcase *c);
/* Structured rows (kcase.pattern) over the drawn values of one row. */
void apply_pattern(test_rng *rng, const kcase *c, float *row);

#endif /* LSCE_TESTS_KERNEL_CASES_H */
