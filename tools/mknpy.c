/*
 * mknpy — writes valid and deliberately broken .npy files for the CLI tests (test_cli.sh).
 *
 *   mknpy OUT --descr D --shape N[,M...] [options]
 *     --version 1|2|3     format version (default 1)
 *     --fortran           fortran_order True
 *     --dict TEXT         use TEXT as the header dict instead of the one NumPy would write
 *     --header-len N      claim a header of N bytes in the preamble (the bytes stay the same)
 *     --data-bytes N      write N bytes of data (default: what descr and shape need)
 *     --truncate N        drop the last N bytes of the file
 *     --append N          add N zero bytes at the end
 *     --classes V         integer data: class ids in [0, V) (default 1000)
 *     --ignore-every K    integer data: every K-th id is -100
 *     --seed S            random seed (default 1)
 *     --nan-at I          float data: element I is NaN
 *     --fill X            float data: every element is X (instead of random)
 *     --scale K           float data: the random values times K (default 1)
 * Float data is random in [-4, 4) ('<f4', '<f8'); integer data ('<i4', '<i8') is class ids. Data
 * of any other descr is zero bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

typedef struct spec {
    const char *path;
    char descr[NPY_DESCR_MAX];
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int version, fortran;
    const char *dict;
    long long header_len, data_bytes, truncate, append, classes, ignore_every, nan_at;
    unsigned long long seed;
    int have_fill;
    double fill, scale;
} spec;

static int usage(const char *why)
{
    fprintf(stderr, "mknpy: %s\nusage: mknpy OUT --descr D --shape N[,M...] [--version V] "
                    "[--fortran] [--dict TEXT] [--header-len N] [--data-bytes N] [--truncate N] "
                    "[--append N] [--classes V] [--ignore-every K] [--seed S] [--nan-at I] [--fill X] "
                    "[--scale K]\n",
            why);
    return 2;
}

static int parse_number(const char *text, long long *out)
{
    char *end;
    *out = strtoll(text, &end, 10);
    return end != text && *end == '\0' ? 0 : -1;
}

static int parse_real(const char *text, double *out)
{
    char *end;
    *out = strtod(text, &end);
    return end != text && *end == '\0' ? 0 : -1;
}

static int parse_shape_list(const char *text, spec *s)
{
    s->ndim = 0;
    if (!*text)
        return 0;
    for (const char *p = text;; p++) {
        char *end;
        if (s->ndim == NPY_MAX_DIMS)
            return -1;
        s->shape[s->ndim++] = strtoll(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0'))
            return -1;
        if (*end == '\0')
            return 0;
        p = end;
    }
}

static int parse_args(int argc, char **argv, spec *s)
{
    memset(s, 0, sizeof *s);
    s->version = 1;
    s->header_len = s->data_bytes = -1;
    s->classes = 1000;
    s->nan_at = -1;
    s->seed = 1;
    s->scale = 1.0;
    if (argc < 2)
        return usage("missing OUT");
    s->path = argv[1];
    int have_descr = 0, have_shape = 0;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--fortran")) {
            s->fortran = 1;
            continue;
        }
        if (i + 1 >= argc)
            return usage("an option without its value");
        const char *value = argv[++i];
        long long number = 0;
        if (!strcmp(opt, "--descr")) {
            snprintf(s->descr, sizeof s->descr, "%s", value);
            have_descr = 1;
        } else if (!strcmp(opt, "--shape")) {
            if (parse_shape_list(value, s) != 0)
                return usage("bad --shape");
            have_shape = 1;
        } else if (!strcmp(opt, "--dict")) {
            s->dict = value;
        } else if (!strcmp(opt, "--fill") || !strcmp(opt, "--scale")) {
            double real;
            if (parse_real(value, &real) != 0)
                return usage("bad number");
            if (opt[2] == 'f') {
                s->fill = real;
                s->have_fill = 1;
            } else {
                s->scale = real;
            }
        } else if (parse_number(value, &number) != 0) {
            return usage("bad number");
        } else if (!strcmp(opt, "--version")) {
            s->version = (int)number;
        } else if (!strcmp(opt, "--header-len")) {
            s->header_len = number;
        } else if (!strcmp(opt, "--data-bytes")) {
            s->data_bytes = number;
        } else if (!strcmp(opt, "--truncate")) {
            s->truncate = number;
        } else if (!strcmp(opt, "--append")) {
            s->append = number;
        } else if (!strcmp(opt, "--classes")) {
            s->classes = number;
        } else if (!strcmp(opt, "--ignore-every")) {
            s->ignore_every = number;
        } else if (!strcmp(opt, "--nan-at")) {
            s->nan_at = number;
        } else if (!strcmp(opt, "--seed")) {
            s->seed = (unsigned long long)number;
        } else {
            return usage("unknown option");
        }
    }
    if (!have_descr || !have_shape)
        return usage("--descr and --shape are required");
    return 0;
}

/* Item size from a descr like '<f4' (the digits after the kind letter); 1 if there are none. */
static size_t item_size(const char *descr)
{
    const size_t len = strlen(descr);
    return len >= 3 ? (size_t)strtoul(descr + 2, NULL, 10) : 1;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Element i of the data, in its little-endian bytes. */
static void fill_element(const spec *s, size_t item, size_t i, uint64_t *state, unsigned char *out)
{
    const uint64_t u = next_random(state);
    const double uniform = (double)(u >> 11) * 0x1.0p-53;
    const char kind = s->descr[1];
    const double random = s->scale * (8.0 * uniform - 4.0);
    const double value = (long long)i == s->nan_at ? NAN : s->have_fill ? s->fill : random;
    if (kind == 'f' && item == 4) {
        const float v = (float)value;
        memcpy(out, &v, 4);
    } else if (kind == 'f' && item == 8) {
        memcpy(out, &value, 8);
    } else if (kind == 'i' && (item == 4 || item == 8)) {
        const int ignored = s->ignore_every > 0 && (long long)(i % (size_t)s->ignore_every) ==
                                                       s->ignore_every - 1;
        const int64_t id = ignored ? -100 : (int64_t)(u % (uint64_t)s->classes);
        if (item == 4) {
            const int32_t narrow = (int32_t)id;
            memcpy(out, &narrow, 4);
        } else {
            memcpy(out, &id, 8);
        }
    } else {
        memset(out, 0, item);
    }
}

int main(int argc, char **argv)
{
    spec s;
    if (parse_args(argc, argv, &s) != 0)
        return 2;

    static char dict[NPY_MAX_HEADER_BYTES], preamble[NPY_MAX_HEADER_BYTES + 128];
    if (!s.dict && !npy_format_dict(dict, sizeof dict, s.descr, s.fortran, s.ndim, s.shape))
        return usage("dict too long");
    const size_t preamble_len =
        npy_format_preamble(preamble, sizeof preamble, s.version, s.dict ? s.dict : dict);
    if (!preamble_len)
        return usage("cannot format the preamble (version, or dict too long)");
    if (s.header_len >= 0) {
        const size_t fixed = s.version == 1 ? 10 : 12;
        for (size_t i = 0; i < fixed - 8; i++)
            preamble[8 + i] = (char)((unsigned long long)s.header_len >> (8 * i));
    }

    const size_t item = item_size(s.descr);
    size_t count = 1;
    for (int d = 0; d < s.ndim; d++)
        count *= (size_t)s.shape[d];
    const size_t data_bytes = s.data_bytes >= 0 ? (size_t)s.data_bytes : count * item;
    const size_t total = preamble_len + data_bytes + (size_t)s.append;
    unsigned char *file = calloc(total + item, 1);
    if (!file)
        return usage("out of memory");
    memcpy(file, preamble, preamble_len);
    uint64_t state = s.seed;
    for (size_t i = 0; i * item < data_bytes; i++)
        fill_element(&s, item, i, &state, file + preamble_len + i * item);
    memset(file + preamble_len + data_bytes, 0, (size_t)s.append + item);

    const size_t keep = (size_t)s.truncate < total ? total - (size_t)s.truncate : 0;
    FILE *f = fopen(s.path, "wb");
    const int ok = f && fwrite(file, 1, keep, f) == keep && fclose(f) == 0;
    free(file);
    if (!ok)
        return usage("cannot write OUT");
    return 0;
}
