/* .npy reading and writing for the lsce tool; see npy.h. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy code reads and writes little-endian data as it is in memory"
#endif

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    npy_dtype dtype;
    const char *descr;
    size_t size;
} npy_dtypes[] = {
    {NPY_F32, "<f4", 4},
    {NPY_I32, "<i4", 4},
    {NPY_I64, "<i8", 8},
    {NPY_F16, "<f2", 2},
};
#define NPY_DTYPE_COUNT (sizeof npy_dtypes / sizeof npy_dtypes[0])

static int fail(npy_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(npy_error *err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, args);
    va_end(args);
    return -1;
}

const char *npy_dtype_descr(npy_dtype dtype)
{
    for (size_t i = 0; i < NPY_DTYPE_COUNT; i++)
        if (npy_dtypes[i].dtype == dtype)
            return npy_dtypes[i].descr;
    return NULL;
}

size_t npy_dtype_size(npy_dtype dtype)
{
    for (size_t i = 0; i < NPY_DTYPE_COUNT; i++)
        if (npy_dtypes[i].dtype == dtype)
            return npy_dtypes[i].size;
    return 0;
}

/* "'<f4' or '<i8'" for the dtypes in a set. */
static void format_dtype_set(char *buf, size_t size, unsigned dtypes)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NPY_DTYPE_COUNT; i++) {
        if (!(dtypes & npy_dtypes[i].dtype))
            continue;
        const int n = snprintf(buf + used, size - used, "%s'%s'", used ? " or " : "",
                               npy_dtypes[i].descr);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

/* ---- header dict parser ------------------------------------------------------------------ */

typedef struct cursor {
    const char *begin, *pos, *end;
} cursor;

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static void skip_space(cursor *c)
{
    while (c->pos < c->end && is_space(*c->pos))
        c->pos++;
}

/* Skips whitespace, then consumes ch if it is next. */
static int accept_char(cursor *c, char ch)
{
    skip_space(c);
    if (c->pos < c->end && *c->pos == ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

static int syntax_error(npy_error *err, const cursor *c, const char *expected)
{
    return fail(err, "malformed header: expected %s at byte %zu of the dict", expected,
                (size_t)(c->pos - c->begin));
}

/* A quoted string without escapes of printable ASCII characters. */
static int parse_string(cursor *c, char *out, size_t size, npy_error *err)
{
    skip_space(c);
    if (c->pos >= c->end || (*c->pos != '\'' && *c->pos != '"'))
        return syntax_error(err, c, "a quoted string");
    const char quote = *c->pos++;
    size_t len = 0;
    for (;; c->pos++) {
        if (c->pos >= c->end)
            return syntax_error(err, c, "the end of the string");
        const char ch = *c->pos;
        if (ch == quote)
            break;
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return syntax_error(err, c, "a printable character without escapes in the string");
        if (len + 1 >= size)
            return fail(err, "malformed header: a string longer than %zu characters", size - 1);
        out[len++] = ch;
    }
    c->pos++;
    out[len] = '\0';
    return 0;
}

/* The Python word `word` not followed by an identifier character. */
static int accept_word(cursor *c, const char *word)
{
    const size_t len = strlen(word);
    skip_space(c);
    if ((size_t)(c->end - c->pos) < len || memcmp(c->pos, word, len) != 0)
        return 0;
    const char *after = c->pos + len;
    if (after < c->end && (*after == '_' || (*after >= '0' && *after <= '9') ||
                           (*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z')))
        return 0;
    c->pos = after;
    return 1;
}

static int parse_bool(cursor *c, int *out, npy_error *err)
{
    if (accept_word(c, "True"))
        *out = 1;
    else if (accept_word(c, "False"))
        *out = 0;
    else
        return syntax_error(err, c, "True or False");
    return 0;
}

/* A non-negative decimal integer literal (Python 3 syntax, plus Python 2's 'L' suffix). */
static int parse_dim(cursor *c, int64_t *out, npy_error *err)
{
    skip_space(c);
    const char *start = c->pos;
    int64_t value = 0;
    while (c->pos < c->end && *c->pos >= '0' && *c->pos <= '9') {
        const int digit = *c->pos - '0';
        if (value > (INT64_MAX - digit) / 10)
            return fail(err, "malformed header: a dimension does not fit in 64 bits");
        value = value * 10 + digit;
        c->pos++;
    }
    if (c->pos == start)
        return syntax_error(err, c, "a non-negative integer");
    if (c->pos - start > 1 && *start == '0')
        return syntax_error(err, c, "an integer without leading zeros");
    if (c->pos < c->end && *c->pos == 'L')
        c->pos++;
    *out = value;
    return 0;
}

/* A tuple of dimensions: "()", "(5,)", "(4, 8)", "(4, 8,)". "(5)" is an int in Python: refused. */
static int parse_shape(cursor *c, npy_header *h, npy_error *err)
{
    if (!accept_char(c, '('))
        return syntax_error(err, c, "'(' starting the shape tuple");
    h->ndim = 0;
    int trailing_comma = 0;
    while (!accept_char(c, ')')) {
        if (h->ndim > 0 && !trailing_comma)
            return syntax_error(err, c, "',' or ')' in the shape tuple");
        if (h->ndim == NPY_MAX_DIMS)
            return fail(err, "malformed header: more than %d dimensions", NPY_MAX_DIMS);
        if (parse_dim(c, &h->shape[h->ndim], err) != 0)
            return -1;
        h->ndim++;
        trailing_comma = accept_char(c, ',');
    }
    if (h->ndim == 1 && !trailing_comma)
        return fail(err, "malformed header: shape (%lld) is not a tuple (write (%lld,))",
                    (long long)h->shape[0], (long long)h->shape[0]);
    return 0;
}

int npy_parse_header(const char *text, size_t len, npy_header *header, npy_error *err)
{
    enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4, KEY_ALL = 7 };
    cursor c = {text, text, text + len};
    npy_header h;
    unsigned seen = 0;
    memset(&h, 0, sizeof h);
    if (!accept_char(&c, '{'))
        return syntax_error(err, &c, "'{'");
    int need_separator = 0;
    while (!accept_char(&c, '}')) {
        if (need_separator && !accept_char(&c, ','))
            return syntax_error(err, &c, "',' or '}'");
        if (accept_char(&c, '}'))
            break; /* trailing comma */
        char key[32];
        if (parse_string(&c, key, sizeof key, err) != 0)
            return -1;
        if (!accept_char(&c, ':'))
            return syntax_error(err, &c, "':' after a key");
        unsigned bit;
        int st;
        if (!strcmp(key, "descr")) {
            bit = KEY_DESCR;
            st = parse_string(&c, h.descr, sizeof h.descr, err);
        } else if (!strcmp(key, "fortran_order")) {
            bit = KEY_FORTRAN;
            st = parse_bool(&c, &h.fortran_order, err);
        } else if (!strcmp(key, "shape")) {
            bit = KEY_SHAPE;
            st = parse_shape(&c, &h, err);
        } else {
            return fail(err, "malformed header: unexpected key '%s'", key);
        }
        if (seen & bit)
            return fail(err, "malformed header: key '%s' appears twice", key);
        if (st != 0)
            return -1;
        seen |= bit;
        need_separator = 1;
    }
    skip_space(&c);
    if (c.pos != c.end)
        return syntax_error(err, &c, "only whitespace after '}'");
    if (seen != KEY_ALL)
        return fail(err, "malformed header: missing key '%s'",
                    !(seen & KEY_DESCR)     ? "descr"
                    : !(seen & KEY_FORTRAN) ? "fortran_order"
                                            : "shape");
    *header = h;
    return 0;
}

void npy_format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int n = snprintf(buf, size, "(");
    for (int d = 0; n >= 0 && (size_t)n < size - used && d < ndim; d++) {
        used += (size_t)n;
        n = snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    }
    if (n >= 0 && (size_t)n < size - used) {
        used += (size_t)n;
        snprintf(buf + used, size - used, "%s)", ndim == 1 ? "," : "");
    }
}

size_t npy_format_dict(char *buf, size_t size, const char *descr, int fortran_order, int ndim,
                       const int64_t *shape)
{
    char shape_text[NPY_MAX_DIMS * 22 + 4];
    npy_format_shape(shape_text, sizeof shape_text, ndim, shape);
    /* Quoted as Python's repr quotes: '…' unless the text holds a ' (then "…"). A string the
     * parser accepts never holds both (it has no escapes), so what it reads, this writes back. */
    const char quote = strchr(descr, '\'') ? '"' : '\'';
    const int n = snprintf(buf, size, "{'descr': %c%s%c, 'fortran_order': %s, 'shape': %s, }",
                           quote, descr, quote, fortran_order ? "True" : "False", shape_text);
    return n >= 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t npy_format_preamble(char *buf, size_t size, int major, const char *dict)
{
    const size_t fixed = major == 1 ? 10 : 12; /* magic, version, 2- or 4-byte length */
    const size_t dict_len = strlen(dict);
    const size_t total = (fixed + dict_len + 1 + 63) / 64 * 64; /* + 1: the final '\n' */
    const size_t header_len = total - fixed;
    if (major < 1 || major > 3 || total > size || (major == 1 && header_len > 0xffff))
        return 0;
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = (char)major;
    buf[7] = 0;
    for (size_t i = 0; i < fixed - 8; i++)
        buf[8 + i] = (char)((header_len >> (8 * i)) & 0xff);
    memcpy(buf + fixed, dict, dict_len);
    memset(buf + fixed + dict_len, ' ', header_len - dict_len - 1);
    buf[total - 1] = '\n';
    return total;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* Reads exactly `bytes` bytes; a short read is "truncated <what>" (or the I/O error). */
static int read_exact(FILE *f, void *buf, size_t bytes, const char *what, npy_error *err)
{
    if (fread(buf, 1, bytes, f) == bytes)
        return 0;
    if (ferror(f))
        return fail(err, "read error in the %s: %s", what, strerror(errno));
    return fail(err, "truncated file: it ends inside the %s", what);
}

/* The header: magic, version, dict. Leaves f at the first data byte. */
static int read_header(FILE *f, npy_header *h, npy_error *err)
{
    unsigned char fixed[12];
    if (read_exact(f, fixed, 10, "preamble", err) != 0)
        return -1;
    if (memcmp(fixed, npy_magic, sizeof npy_magic) != 0)
        return fail(err, "not a .npy file (no \\x93NUMPY magic)");
    const int major = fixed[6], minor = fixed[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, "unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are)", major,
                    minor);
    unsigned long header_len = fixed[8] | (unsigned long)fixed[9] << 8;
    if (major >= 2) {
        if (read_exact(f, fixed + 10, 2, "preamble", err) != 0)
            return -1;
        header_len |= (unsigned long)fixed[10] << 16 | (unsigned long)fixed[11] << 24;
    }
    if (header_len > NPY_MAX_HEADER_BYTES)
        return fail(err, "header of %lu bytes is larger than the %d-byte limit", header_len,
                    NPY_MAX_HEADER_BYTES);
    char *text = malloc(header_len ? header_len : 1);
    if (!text)
        return fail(err, "out of memory for the header");
    int st = read_exact(f, text, header_len, "header", err);
    if (st == 0)
        st = npy_parse_header(text, header_len, h, err);
    free(text);
    return st;
}

/* Checks dtype and dimensions against what the caller accepts; sets the dtype and data size. */
static int check_header(const npy_header *h, unsigned dtypes, int ndim, npy_dtype *dtype,
                        size_t *data_bytes, npy_error *err)
{
    char shape_text[128], wanted[64];
    npy_format_shape(shape_text, sizeof shape_text, h->ndim, h->shape);
    size_t i = 0;
    while (i < NPY_DTYPE_COUNT && strcmp(h->descr, npy_dtypes[i].descr) != 0)
        i++;
    if (i == NPY_DTYPE_COUNT || !(dtypes & npy_dtypes[i].dtype)) {
        format_dtype_set(wanted, sizeof wanted, dtypes);
        return fail(err, "dtype '%s' is not supported (expected %s)", h->descr, wanted);
    }
    if (h->ndim != ndim)
        return fail(err, "expected a %d-D array, got shape %s", ndim, shape_text);
    if (h->fortran_order && ndim > 1)
        return fail(err, "Fortran-order arrays are not supported (save a C-order array)");
    const size_t item = npy_dtypes[i].size;
    size_t count = 1;
    for (int d = 0; d < h->ndim; d++)
        if (h->shape[d] == 0)
            count = 0;
    for (int d = 0; d < h->ndim && count; d++) {
        if ((uint64_t)h->shape[d] > (uint64_t)(PTRDIFF_MAX / item) / count)
            return fail(err, "shape %s of '%s' is too large: its size overflows", shape_text,
                        h->descr);
        count *= (size_t)h->shape[d];
    }
    *dtype = npy_dtypes[i].dtype;
    *data_bytes = count * item;
    return 0;
}

/* Checks the file holds exactly `bytes` more bytes, before anything is allocated for them. */
static int check_remaining(FILE *f, size_t bytes, npy_error *err)
{
    struct stat st;
    const long offset = ftell(f);
    if (offset < 0 || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        return 0; /* not a regular file: the read itself finds out */
    const uint64_t remaining = st.st_size > offset ? (uint64_t)(st.st_size - offset) : 0;
    if (remaining < bytes)
        return fail(err, "truncated data: the header promises %zu bytes, the file holds %llu",
                    bytes, (unsigned long long)remaining);
    if (remaining > bytes)
        return fail(err, "%llu unexpected bytes after the %zu bytes of data",
                    (unsigned long long)(remaining - bytes), bytes);
    return 0;
}

static int load_open(FILE *f, unsigned dtypes, int ndim, npy_array *out, npy_error *err)
{
    npy_array a;
    memset(&a, 0, sizeof a);
    if (read_header(f, &a.header, err) != 0 ||
        check_header(&a.header, dtypes, ndim, &a.dtype, &a.data_bytes, err) != 0 ||
        check_remaining(f, a.data_bytes, err) != 0)
        return -1;
    a.data = malloc(a.data_bytes ? a.data_bytes : 1);
    if (!a.data)
        return fail(err, "out of memory for %zu bytes of data", a.data_bytes);
    if (read_exact(f, a.data, a.data_bytes, "data", err) != 0) {
        free(a.data);
        return -1;
    }
    if (fgetc(f) != EOF) {
        free(a.data);
        return fail(err, "unexpected bytes after the %zu bytes of data", a.data_bytes);
    }
    *out = a;
    return 0;
}

int npy_load(const char *path, unsigned dtypes, int ndim, npy_array *out, npy_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, "%s: %s", path, strerror(errno));
    npy_error inner;
    const int st = load_open(f, dtypes, ndim, out, &inner);
    fclose(f);
    if (st != 0)
        return fail(err, "%s: %s", path, inner.text);
    return 0;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* The permissions a newly created file gets (mkstemp makes 0600). */
static mode_t new_file_mode(void)
{
    const mode_t mask = umask(0);
    umask(mask);
    return (S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH) & ~mask;
}

/* Writes the file's bytes and closes f. 0, or -1 with errno set. */
static int write_and_close(FILE *f, const char *preamble, size_t preamble_len, const void *data,
                           size_t data_bytes)
{
    int st = fwrite(preamble, 1, preamble_len, f) == preamble_len ? 0 : -1;
    if (st == 0 && data_bytes && fwrite(data, 1, data_bytes, f) != data_bytes)
        st = -1;
    if (st == 0)
        st = fflush(f);
    const int saved_errno = errno;
    if (fclose(f) != 0 && st == 0)
        return -1;
    errno = saved_errno;
    return st;
}

/* A path that does not exist yet, with its directory resolved (realpath): two spellings of one
 * new file ("out.npy", "./out.npy", "dir/../out.npy") give the same string. When the directory
 * cannot be resolved the path is kept as it is (creating the file then reports why). */
static char *canonical_new_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path))
                                                    : strdup(".");
    char *resolved = dir && *base ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!resolved)
        return strdup(path);
    const size_t len = strlen(resolved);
    char *joined = malloc(len + 1 + strlen(base) + 1);
    if (joined)
        sprintf(joined, "%s%s%s", resolved, len && resolved[len - 1] == '/' ? "" : "/", base);
    free(resolved);
    return joined;
}

/* The file an output replaces: a symlink's target (the link stays), else the path itself.
 * *direct is set for a destination that is not a regular file (a device such as /dev/null, a
 * FIFO): there is no file to replace, it is written as it is. NULL with err set on failure. */
static char *resolve_destination(const char *path, int *direct, npy_error *err)
{
    struct stat st;
    const int exists = stat(path, &st) == 0;
    *direct = 0;
    if (!exists && errno != ENOENT) {
        fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (exists && S_ISDIR(st.st_mode)) {
        fail(err, "%s: is a directory", path);
        return NULL;
    }
    *direct = exists && !S_ISREG(st.st_mode);
    /* A new file (or a dangling link, which is replaced) keeps its name, in its resolved
     * directory: npy_output.path names one file one way (callers compare them). */
    char *dest = *direct ? strdup(path) : exists ? realpath(path, NULL) : canonical_new_path(path);
    if (!dest)
        fail(err, "%s: %s", path, strerror(errno));
    return dest;
}

int npy_stage(npy_output *out, const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
              const void *data, npy_error *err)
{
    char dict[NPY_MAX_DIMS * 22 + 80], preamble[sizeof dict + 80];
    size_t count = 1;
    for (int d = 0; d < ndim; d++)
        count *= (size_t)shape[d]; /* the caller's array exists: no overflow */
    const size_t data_bytes = count * npy_dtype_size(dtype);
    const size_t dict_len = npy_format_dict(dict, sizeof dict, npy_dtype_descr(dtype), 0, ndim,
                                            shape);
    const size_t preamble_len = dict_len ? npy_format_preamble(preamble, sizeof preamble, 1, dict)
                                         : 0;
    if (!preamble_len)
        return fail(err, "%s: the header does not fit", path);

    int direct;
    char *dest = resolve_destination(path, &direct, err);
    out->path = out->tmp_path = NULL;
    if (!dest)
        return -1;
    if (direct) {
        FILE *f = fopen(dest, "wb");
        const int st = f ? write_and_close(f, preamble, preamble_len, data, data_bytes) : -1;
        free(dest);
        return st == 0 ? 0 : fail(err, "%s: write failed: %s", path, strerror(errno));
    }

    static const char suffix[] = ".tmp.XXXXXX";
    const size_t dest_len = strlen(dest);
    char *tmp_path = malloc(dest_len + sizeof suffix);
    if (!tmp_path) {
        free(dest);
        return fail(err, "%s: out of memory", path);
    }
    memcpy(tmp_path, dest, dest_len);
    memcpy(tmp_path + dest_len, suffix, sizeof suffix);
    const int fd = mkstemp(tmp_path);
    if (fd < 0) {
        fail(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp_path);
        free(dest);
        return -1;
    }
    FILE *f = NULL;
    int st = fchmod(fd, new_file_mode());
    if (st == 0 && !(f = fdopen(fd, "wb")))
        st = -1;
    if (!f) {
        const int saved_errno = errno;
        close(fd);
        errno = saved_errno;
    }
    if (st == 0)
        st = write_and_close(f, preamble, preamble_len, data, data_bytes);
    if (st != 0) {
        fail(err, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp_path);
        free(tmp_path);
        free(dest);
        return -1;
    }
    out->path = dest;
    out->tmp_path = tmp_path;
    return 0;
}

void npy_discard(npy_output *out)
{
    if (out->tmp_path)
        unlink(out->tmp_path);
    free(out->tmp_path);
    free(out->path);
    out->tmp_path = NULL;
    out->path = NULL;
}

int npy_commit(npy_output *out, npy_error *err)
{
    if (!out->tmp_path)
        return 0; /* written directly (a device or FIFO), or nothing staged */
    if (rename(out->tmp_path, out->path) != 0) {
        fail(err, "%s: cannot rename the finished file into place: %s", out->path,
             strerror(errno));
        npy_discard(out);
        return -1;
    }
    free(out->tmp_path);
    out->tmp_path = NULL;
    npy_discard(out);
    return 0;
}
