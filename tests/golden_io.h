/*
 * Reading the golden files (tests/golden/, tests/golden_half/, tests/golden_options/): portable
 * little-endian decoding, the file loader, and the parts of a case every format shares. Used by
 * tests/golden.c (versions 1 and 2) and tests/golden_options.c.
 */
#ifndef LSCE_TESTS_GOLDEN_IO_H
#define LSCE_TESTS_GOLDEN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "golden.h"

/* A cursor over the bytes of a file. Once a read runs past the end, bad is set and every later
 * read fails (returns NULL / 0). */
typedef struct golden_reader {
    const unsigned char *p, *end;
    int bad;
} golden_reader;

/* The next n bytes, or NULL (bad set) when fewer remain. */
const unsigned char *golden_take(golden_reader *r, size_t n);
int64_t golden_rd_i64(golden_reader *r);
double golden_rd_f64(golden_reader *r);

/* A malloc'ed array of n elements of elem bytes: 2 (uint16), 4 (float) or 8 (int64 or double).
 * NULL (bad set) when the file has fewer bytes left or memory runs out. */
void *golden_rd_array(golden_reader *r, int64_t n, size_t elem);

/* The head every format starts a case with: char name[48]; int64 rows, vocab, convention, kl,
 * ignore_index, reduction, n_grad_output, flags (opts reset to lsce_options_default first). */
void golden_rd_case_head(golden_reader *r, golden_case *c);

/* Whether the head's sizes are sane (rows, vocab, n_grad_output ∈ {0, 1, rows}). */
int golden_case_head_ok(const golden_case *c);

/* The inputs after the head's scalars: float32 logits[rows × vocab], int64 targets[rows],
 * float32 grad_output[n_grad_output]. */
void golden_rd_case_inputs(golden_reader *r, golden_case *c);

/* The row outputs that close every case: double row_loss, row_nll, row_lse [rows]; int64
 * row_argmax[rows]; double grad[rows × vocab]. */
void golden_rd_case_outputs(golden_reader *r, golden_case *c);

/* Frees every array of a case and zeroes it. */
void golden_case_free(golden_case *c);

/* A golden file's format: its magic, the versions read, the cases (of case_size bytes) and how
 * to read and free one. */
typedef struct golden_format {
    const char *magic; /* 8 characters */
    int64_t min_version, max_version;
    const char *description; /* "a version-1 lsce golden file": the error when it is not one */
    size_t case_size;
    int (*read_case)(golden_reader *r, void *c, int64_t version); /* 0, or −1: malformed */
    void (*free_case)(void *c);
} golden_format;

/* Reads <dir>/golden.bin: magic, int64 version, int64 n_cases (1..100000), the cases, nothing
 * after them. On success *cases holds n calloc'ed cases (free each with free_case, then the
 * array) and 0 is returned; on failure −1, nothing allocated, a message in err. */
int golden_load_file(const char *dir, const golden_format *fmt, void **cases, int64_t *n,
                     char *err, size_t err_size);

#endif
