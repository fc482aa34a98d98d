/* Helpers shared by the lsce subcommands: error reporting and strict argument parsing. */
#ifndef LSCE_TOOLS_CLI_H
#define LSCE_TOOLS_CLI_H

#include <stdint.h>

/* Exit status of every failure (bad usage, bad input, library error). */
#define CLI_EXIT_FAILURE 2

/* Prints "lsce: <message>\n" on stderr. Always returns CLI_EXIT_FAILURE. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* If argv[*i] is the option `name` ("--name VALUE" or "--name=VALUE"): stores VALUE, moves *i to
 * the last argument used and returns 1. Returns 0 for any other argument, and -1 (error printed)
 * when the value is missing. */
int cli_option_value(int argc, char **argv, int *i, const char *name, const char **value);

/* Whole-string decimal conversions; -1 (error printed, naming the option) on anything else. */
int cli_parse_int64(const char *option, const char *text, int64_t min, int64_t max, int64_t *out);
int cli_parse_double(const char *option, const char *text, double *out);

/* Prints "KEY": VALUE on stdout (VALUE alone when key is NULL): 17 significant digits (a double
 * round-trips); JSON has no NaN or infinity, so a non-finite value prints as null. */
void cli_json_number(const char *key, double value);

/* Flushes stdout: CLI_EXIT_FAILURE (error printed) if anything written to it was lost, else 0. */
int cli_finish_stdout(void);

#endif /* LSCE_TOOLS_CLI_H */
