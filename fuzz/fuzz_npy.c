/*
 * libFuzzer target: the lsce CLI's .npy reader (tools/npy.c) on hostile headers and files.
 *
 * Input: byte 0 chooses what the caller accepts (bits 0-3: the dtype set, '<f4' '<i4' '<i8' '<f2';
 * bits 4-5: the number of dimensions, 0-3), the rest is the file, loaded through npy_load from a
 * memfd (a regular file, as the CLI's inputs are; /proc/self/fd/N is its path).
 *
 * Checked:
 *   - a refused file: the output array untouched, one line of error text (NUL-terminated, no
 *     newline) that starts with the path;
 *   - a loaded file: what the caller asked for (dtype in the set, ndim), the data size is the
 *     product of the shape times the item size, the file is exactly preamble + data, the data is
 *     the file's last bytes;
 *   - the header dict alone (npy_parse_header on the same bytes): when it parses, the dict
 *     npy_format_dict writes for it, and each preamble version npy_format_preamble writes, parse
 *     back to the same header (the writer and the reader agree).
 * ASan and UBSan watch every read, and libFuzzer's malloc limit catches an allocation sized by
 * the header rather than by the file.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "npy.h"

static int memfd = -1;
static char memfd_path[64];

static int same_header(const npy_header *a, const npy_header *b)
{
    if (strcmp(a->descr, b->descr) || a->fortran_order != b->fortran_order || a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* What npy_format_dict and npy_format_preamble write for h reads back as h. */
static void check_round_trip(const npy_header *h)
{
    char dict[NPY_MAX_DIMS * 22 + 80], preamble[sizeof dict + 80];
    const size_t dict_len = npy_format_dict(dict, sizeof dict, h->descr, h->fortran_order,
                                            h->ndim, h->shape);
    if (!dict_len)
        fuzz_fail("npy_format_dict: a parsed header does not fit its buffer");
    npy_header back;
    npy_error err;
    if (npy_parse_header(dict, dict_len, &back, &err) != 0 || !same_header(h, &back))
        fuzz_fail("the dict written for a parsed header does not read back: %s", dict);
    for (int major = 1; major <= 3; major++) {
        const size_t len = npy_format_preamble(preamble, sizeof preamble, major, dict);
        if (!len)
            fuzz_fail("npy_format_preamble %d.0 refused a %zu-byte dict", major, dict_len);
        const size_t fixed = major == 1 ? 10 : 12;
        if (len % 64 || preamble[len - 1] != '\n' ||
            npy_parse_header(preamble + fixed, len - fixed, &back, &err) != 0 ||
            !same_header(h, &back))
            fuzz_fail("the %d.0 preamble of a parsed header does not read back", major);
    }
}

static void check_loaded(const npy_array *a, unsigned dtypes, int ndim, const uint8_t *file,
                         size_t size)
{
    if (!(a->dtype & dtypes) || a->header.ndim != ndim ||
        strcmp(npy_dtype_descr(a->dtype), a->header.descr) != 0)
        fuzz_fail("npy_load accepted descr %s, ndim %d (asked: dtypes %u, ndim %d)",
                  a->header.descr, a->header.ndim, dtypes, ndim);
    size_t count = 1;
    for (int d = 0; d < a->header.ndim; d++)
        count *= (size_t)a->header.shape[d]; /* the data exists: no overflow */
    if (a->data_bytes != count * npy_dtype_size(a->dtype) || a->data_bytes > size)
        fuzz_fail("npy_load: %zu data bytes for %zu elements of %s", a->data_bytes, count,
                  a->header.descr);
    /* The preamble: 10 or 12 fixed bytes and the header length they state. */
    const int major = file[6];
    const size_t fixed = major == 1 ? 10 : 12;
    size_t header_len = (size_t)file[8] | (size_t)file[9] << 8;
    if (major >= 2)
        header_len |= (size_t)file[10] << 16 | (size_t)file[11] << 24;
    if (fixed + header_len + a->data_bytes != size)
        fuzz_fail("npy_load accepted a file of %zu bytes: %zu + %zu header + %zu data", size,
                  fixed, header_len, a->data_bytes);
    if (a->data_bytes && memcmp(a->data, file + size - a->data_bytes, a->data_bytes) != 0)
        fuzz_fail("npy_load: the data differs from the file's last %zu bytes", a->data_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned dtypes = (data[0] & 15) ? data[0] & 15u : NPY_F32;
    const int ndim = (data[0] >> 4) & 3;
    const uint8_t *file = data + 1;
    const size_t file_size = size - 1;

    /* The dict parser on the raw bytes (the whole file taken as a dict). */
    npy_header header;
    npy_error err;
    if (npy_parse_header((const char *)file, file_size, &header, &err) == 0)
        check_round_trip(&header);

    if (memfd < 0) {
        memfd = memfd_create("fuzz_npy", 0);
        if (memfd < 0)
            fuzz_fail("memfd_create failed");
        snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    }
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, file, file_size, 0) != (ssize_t)file_size)
        fuzz_fail("cannot write the memfd");

    npy_array array, untouched;
    memset(&array, 0xA5, sizeof array);
    memcpy(&untouched, &array, sizeof array);
    memset(&err, 0xA5, sizeof err);
    if (npy_load(memfd_path, dtypes, ndim, &array, &err) == 0) {
        check_loaded(&array, dtypes, ndim, file, file_size);
        check_round_trip(&array.header);
        free(array.data);
        return 0;
    }
    if (memcmp(&array, &untouched, sizeof array) != 0)
        fuzz_fail("npy_load failed but wrote its output");
    const char *nul = memchr(err.text, '\0', sizeof err.text);
    if (!nul || nul == err.text || memchr(err.text, '\n', (size_t)(nul - err.text)) ||
        strncmp(err.text, memfd_path, strlen(memfd_path)) != 0)
        fuzz_fail("npy_load's error text is not one line starting with the path");
    return 0;
}
