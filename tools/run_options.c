/* The objective options of `lsce run`; see run_options.h. */
#include "run_options.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npy.h"

/* The numeric flags, in run_options.number_text's order, with the lsce_options field each sets
 * and its domain as lsce.h states it (for the message of a refused value only). */
enum { NUMBER_SMOOTHING, NUMBER_Z_LOSS };
static const struct {
    const char *flag;
    size_t field;
    const char *domain;
} numbers[RUN_NUMBER_OPTIONS] = {
    {"--smoothing", offsetof(lsce_options, smoothing), "in [0, 1]"},
    {"--z-loss", offsetof(lsce_options, z_loss), "finite, >= 0"},
    {"--softcap", offsetof(lsce_options, softcap), "finite, >= 0; 0: off"},
    {"--logit-scale", offsetof(lsce_options, logit_scale), "finite, > 0"},
    {"--confidence-penalty", offsetof(lsce_options, confidence_penalty), "finite, >= 0"},
};

/* The file flags, in run_options.file_path's order. */
enum { FILE_WEIGHTS, FILE_PRIOR, FILE_ROW_WEIGHTS };
static const struct {
    const char *flag;
    const char *per;    /* what one entry belongs to */
    const char *domain; /* of the entries */
} files[RUN_FILE_OPTIONS] = {
    {"--weights", "class", "finite, >= 0"},
    {"--prior", "class", "finite, >= 0, summing to 1 within 1e-4; --convention uniform only"},
    {"--row-weights", "row", "finite, >= 0"},
};

static const char bins_flag[] = "--calibration-bins";
static const char bins_domain[] = "an integer in [0, 1000]; 0: off";

int run_options_parse(int argc, char **argv, int *i, run_options *o, lsce_options *opts)
{
    const char *text;
    int found;
    for (int k = 0; k < RUN_NUMBER_OPTIONS; k++)
        if ((found = cli_option_value(argc, argv, i, numbers[k].flag, &text)) != 0) {
            if (found < 0 ||
                cli_parse_double(numbers[k].flag, text,
                                 (double *)((char *)opts + numbers[k].field)) != 0)
                return -1;
            o->number_text[k] = text;
            return 1;
        }
    for (int k = 0; k < RUN_FILE_OPTIONS; k++)
        if ((found = cli_option_value(argc, argv, i, files[k].flag, &o->file_path[k])) != 0)
            return found;
    if ((found = cli_option_value(argc, argv, i, bins_flag, &text)) != 0) {
        int64_t bins;
        if (found < 0 || cli_parse_int64(bins_flag, text, INT_MIN, INT_MAX, &bins) != 0)
            return -1;
        opts->calibration_bins = (int)bins;
        o->bins_text = text;
        return 1;
    }
    return 0;
}

/* One '<f4' 1-D file of `want` entries into o->file_data[k]. */
static int load_vector(run_options *o, int k, int64_t want)
{
    npy_array array;
    npy_error err;
    if (npy_load(o->file_path[k], NPY_F32, 1, &array, &err) != 0)
        return cli_error("%s: %s", files[k].flag, err.text);
    if (array.header.shape[0] != want) {
        free(array.data);
        return cli_error("%s: %s has %lld entries, want one per %s: shape (%lld,)", files[k].flag,
                         o->file_path[k], (long long)array.header.shape[0], files[k].per,
                         (long long)want);
    }
    o->file_data[k] = array.data;
    return 0;
}

int run_options_load(run_options *o, int64_t rows, int64_t vocab, lsce_options *opts)
{
    for (int k = 0; k < RUN_FILE_OPTIONS; k++)
        if (o->file_path[k] && load_vector(o, k, k == FILE_ROW_WEIGHTS ? rows : vocab) != 0)
            return -1;
    opts->class_weight = o->file_data[FILE_WEIGHTS];
    opts->prior = o->file_data[FILE_PRIOR];
    opts->row_weight = o->file_data[FILE_ROW_WEIGHTS];
    /* A count the library refuses (negative, too many) is its to report. When the bins cannot
     * be allocated (an absurd count), the library still judges the count: LSCE_ERR_OPTION if it
     * is outside the domain, else LSCE_ERR_NULL (calibration NULL), reported as memory. */
    if (opts->calibration_bins > 0) {
        o->bins = calloc((size_t)opts->calibration_bins, sizeof *o->bins);
        opts->calibration = o->bins;
    }
    return 0;
}

void run_options_print_json(const run_options *o, const lsce_options *opts,
                            const lsce_result *result)
{
    if (o->number_text[NUMBER_Z_LOSS]) {
        fputs(", ", stdout);
        cli_json_number("z_loss", result->z_sum);
    }
    if (!o->bins_text)
        return;
    const int n = o->bins ? opts->calibration_bins : 0;
    fputs(", ", stdout);
    cli_json_number("ece", n > 0 ? lsce_ece(o->bins, n) : 0.0);
    fputs(", \"bins\": [", stdout);
    for (int b = 0; b < n; b++) {
        const lsce_calibration_bin *bin = &o->bins[b];
        const double per = bin->count > 0 ? 1.0 / bin->count : 0.0;
        fputs(b ? ", [" : "[", stdout);
        cli_json_number(NULL, bin->count);
        fputs(", ", stdout);
        cli_json_number(NULL, bin->sum_confidence * per);
        fputs(", ", stdout);
        cli_json_number(NULL, bin->sum_correct * per);
        putchar(']');
    }
    putchar(']');
}

/* Appends printf-style text to buf (of size `size`, holding `*used` characters), cut short. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t size, size_t *used,
                                                         const char *fmt, ...)
{
    if (*used + 1 >= size)
        return;
    va_list args;
    va_start(args, fmt);
    const int n = vsnprintf(buf + *used, size - *used, fmt, args);
    va_end(args);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

int run_options_failed(const run_options *o, const lsce_options *opts, lsce_status status)
{
    if (status == LSCE_ERR_NULL && opts->calibration_bins > 0 && !o->bins)
        return cli_error("%s: out of memory for %d bins", bins_flag, opts->calibration_bins);
    if (status != LSCE_ERR_OPTION)
        return cli_error("%s", lsce_strerror(status));
    char given[1024] = "";
    size_t used = 0;
    for (int k = 0; k < RUN_NUMBER_OPTIONS; k++)
        if (o->number_text[k])
            append(given, sizeof given, &used, "%s%s %s (%s)", used ? ", " : "", numbers[k].flag,
                   o->number_text[k], numbers[k].domain);
    for (int k = 0; k < RUN_FILE_OPTIONS; k++)
        if (o->file_path[k])
            append(given, sizeof given, &used, "%s%s %s (entries %s)", used ? ", " : "",
                   files[k].flag, o->file_path[k], files[k].domain);
    if (o->bins_text)
        append(given, sizeof given, &used, "%s%s %s (%s)", used ? ", " : "", bins_flag,
               o->bins_text, bins_domain);
    if (!used)
        return cli_error("%s", lsce_strerror(status));
    return cli_error("run: the library refused the options (%s); given: %s",
                     lsce_strerror(status), given);
}

void run_options_free(run_options *o)
{
    for (int k = 0; k < RUN_FILE_OPTIONS; k++)
        free(o->file_data[k]);
    free(o->bins);
    memset(o, 0, sizeof *o);
}
