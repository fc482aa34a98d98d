/*
 * .npy files (NumPy format 1.0, 2.0 and 3.0) for the lsce command-line tool: a strict header
 * parser, a reader that checks every size before it allocates, and an all-or-nothing writer
 * (a temporary file in the destination's directory, renamed over it once complete).
 *
 * Only little-endian dtypes are handled, and only on a little-endian host.
 */
#ifndef LSCE_TOOLS_NPY_H
#define LSCE_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 64                   /* NumPy 2's limit */
#define NPY_MAX_HEADER_BYTES (64 * 1024)  /* longer header dicts are refused */
#define NPY_DESCR_MAX 32                  /* longest descr string kept (with its NUL) */

/* The dtypes read and written; a bit set of them says what a reader accepts. */
typedef enum npy_dtype {
    NPY_F32 = 1u << 0, /* '<f4' */
    NPY_I32 = 1u << 1, /* '<i4' */
    NPY_I64 = 1u << 2, /* '<i8' */
    NPY_F16 = 1u << 3  /* '<f2' */
} npy_dtype;

/* A one-line message (no trailing newline) describing why a call failed. */
typedef struct npy_error {
    char text[512];
} npy_error;

/* The header dict: {'descr': ..., 'fortran_order': ..., 'shape': (...)}. */
typedef struct npy_header {
    char descr[NPY_DESCR_MAX];
    int fortran_order;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
} npy_header;

/* An array read from a file: its data is one allocation of max(data_bytes, 1) bytes (free it). */
typedef struct npy_array {
    npy_header header;
    npy_dtype dtype;
    void *data;
    size_t data_bytes;
} npy_array;

/* A complete output file waiting (as tmp_path) to be renamed over path. path is canonical (an
 * existing file's realpath, a new file's resolved directory and name): two outputs name the
 * same file exactly when their paths are equal strings. */
typedef struct npy_output {
    char *path;
    char *tmp_path;
} npy_output;

/* descr string and item size of a dtype ('<f4', 4, ...). */
const char *npy_dtype_descr(npy_dtype dtype);
size_t npy_dtype_size(npy_dtype dtype);

/* Parses the header dict (len bytes, trailing whitespace allowed): the three keys exactly once,
 * in any order, Python literal syntax. 0, or -1 with err set. */
int npy_parse_header(const char *text, size_t len, npy_header *header, npy_error *err);

/* "(4, 8)" or "(5,)" into buf (always NUL-terminated, cut short if it does not fit). */
void npy_format_shape(char *buf, size_t size, int ndim, const int64_t *shape);

/* The header dict NumPy writes, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }"
 * (descr in double quotes when it holds a '). Returns its length, or 0 if it does not fit in buf. */
size_t npy_format_dict(char *buf, size_t size, const char *descr, int fortran_order, int ndim,
                       const int64_t *shape);

/* Magic, version major.0, header length and the dict padded with spaces and a final '\n' so that
 * the whole preamble is a multiple of 64 bytes. Returns its length, or 0 if it does not fit in
 * buf or the version cannot hold it. */
size_t npy_format_preamble(char *buf, size_t size, int major, const char *dict);

/* Reads path: its dtype must be one of `dtypes` (a set of npy_dtype bits) and it must have `ndim`
 * dimensions, in C order (Fortran order is accepted for ndim ≤ 1, where it is the same layout).
 * 0, or -1 with err set (prefixed with the path) and *out untouched. */
int npy_load(const char *path, unsigned dtypes, int ndim, npy_array *out, npy_error *err);

/* Writes a v1.0 file of the given dtype and shape to a temporary file beside path (beside the
 * file it points to if path is a symlink); nothing appears at path until npy_commit. A path that
 * is neither a regular file nor absent (a device such as /dev/null, a FIFO) is written directly
 * instead, and its commit does nothing. 0, or -1 with err set and no file left behind. */
int npy_stage(npy_output *out, const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
              const void *data, npy_error *err);

/* Renames the staged file over its destination and releases *out. 0, or -1 with err set (the
 * temporary file is removed). */
int npy_commit(npy_output *out, npy_error *err);

/* Removes a staged file that will not be committed and releases *out; harmless on an output
 * that is empty (zeroed) or already committed. */
void npy_discard(npy_output *out);

#endif /* LSCE_TOOLS_NPY_H */
