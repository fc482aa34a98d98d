/*
 * The call an input of the options fuzz target describes (fuzz_options.c has the input layout):
 * decoding, the option arrays, the invalid variants, and printing a case.
 */
#ifndef LSCE_FUZZ_OPTIONS_CASE_H
#define LSCE_FUZZ_OPTIONS_CASE_H

#include <stddef.h>
#include <stdint.h>

#include "lsce.h"
#include "options_bounds.h"

#define MAX_ROWS OB_MAX_ROWS

/* The invalid option values (one per input at most; LSCE_ERR_OPTION unless said). */
typedef enum invalid {
    I_CW_NEG, I_CW_NAN, I_PRIOR_SUM, I_PRIOR_NEG, I_PRIOR_CONV, I_RW_NEG, I_RW_NAN, I_Z, I_S_NONPOS,
    I_S_RANGE, I_C, I_S_OVER_C, I_BETA, I_BINS, I_BINS_NULL, I_COUNT
} invalid;
extern const char *const invalid_names[I_COUNT];

typedef struct fuzz_case {
    int64_t rows, V, ls, gs;
    lsce_dtype in_dt, out_dt;
    lsce_options o;                /* valid; the arrays below, calibration set per call */
    float *cw, *prior, *rw, *go;   /* exact extents (V, V, rows, 1 or rows) or NULL */
    int64_t *y;                    /* rows */
    int pass_row_loss, pass_row_lse, pass_result;
    int inv, inv_sub;              /* invalid option (−1: none) and its variation */
    void *x;                       /* (rows − 1)·ls + V elements of in_dt */
    float *xf;                     /* the same as fp32 (padding NaN) */
    size_t x_count;
} fuzz_case;

/* The same options with case c's invalid value (and the arrays it needs, owned here). */
typedef struct bad_options {
    lsce_options o;
    float *cw, *prior, *rw;
    int no_bins;   /* calibration NULL */
    unsigned want; /* the statuses allowed, as a bit set */
} bad_options;

/* Decodes an input (every input decodes to some case); free_case releases its buffers. */
void decode_case(const uint8_t *data, size_t size, fuzz_case *c);
void free_case(fuzz_case *c);
/* The options with case c's invalid value; free its arrays with free(b->cw) etc. */
void make_invalid(const fuzz_case *c, bad_options *b);
/* The decoded case on stderr. */
void dump_case(const fuzz_case *c);

#endif /* LSCE_FUZZ_OPTIONS_CASE_H */
