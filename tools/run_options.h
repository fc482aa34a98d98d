/*
 * The objective options of `lsce run` (lsce.h's "Objective options"): their flags, the .npy
 * files of class weights, smoothing prior and row weights, the calibration bins, their JSON
 * fields and the message of an option the library refuses.
 *
 * The CLI only parses: every domain (signs, the prior's sum, the number of bins) is the
 * library's to judge (LSCE_ERR_OPTION), and run_options_refused names what was given.
 */
#ifndef LSCE_TOOLS_RUN_OPTIONS_H
#define LSCE_TOOLS_RUN_OPTIONS_H

#include <stdint.h>

#include "lsce.h"

#define RUN_NUMBER_OPTIONS 5 /* --smoothing, --z-loss, --softcap, --logit-scale, --confidence-penalty */
#define RUN_FILE_OPTIONS 3   /* --weights, --prior, --row-weights */

typedef struct run_options {
    const char *number_text[RUN_NUMBER_OPTIONS]; /* as given (NULL: not given) */
    const char *file_path[RUN_FILE_OPTIONS];     /* NULL: not given */
    const char *bins_text;                       /* --calibration-bins as given */
    float *file_data[RUN_FILE_OPTIONS];          /* loaded by run_options_load (owned) */
    lsce_calibration_bin *bins;                  /* calibration_bins of them (owned) */
} run_options;

/* If argv[*i] is one of the flags above: parses its value into *opts (and records it in *o),
 * moves *i to the last argument used and returns 1; -1 (error printed) for a missing or
 * unparsable value. Returns 0 for any other argument. */
int run_options_parse(int argc, char **argv, int *i, run_options *o, lsce_options *opts);

/* Reads the files given ('<f4', 1-D: (vocab,) for --weights and --prior, (rows,) for
 * --row-weights), allocates the calibration bins (zeroed; left NULL if that fails, see
 * run_options_failed) and points *opts at them.
 * 0, or -1 with the error printed (everything loaded so far stays owned by *o). */
int run_options_load(run_options *o, int64_t rows, int64_t vocab, lsce_options *opts);

/* Prints the JSON fields the options asked for, each preceded by ", ": "z_loss" (result->z_sum)
 * with --z-loss; "ece" and "bins" ([[count, mean confidence, accuracy], ...]) with
 * --calibration-bins. */
void run_options_print_json(const run_options *o, const lsce_options *opts,
                            const lsce_result *result);

/* Prints the error of a library call that returned `status` (not LSCE_OK): for LSCE_ERR_OPTION
 * the library's text and each option given, with its domain; LSCE_ERR_NULL for calibration bins
 * that could not be allocated as memory; else the library's text. Returns CLI_EXIT_FAILURE. */
int run_options_failed(const run_options *o, const lsce_options *opts, lsce_status status);

void run_options_free(run_options *o);

#endif /* LSCE_TOOLS_RUN_OPTIONS_H */
