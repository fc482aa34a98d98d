/* Error reporting and argument parsing for the lsce tool; see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("lsce: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return CLI_EXIT_FAILURE;
}

int cli_option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    const size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* Leading whitespace is refused: strtod and strtoll would skip it silently. */
static int starts_like_number(const char *text)
{
    return *text != '\0' && !isspace((unsigned char)*text);
}

int cli_parse_int64(const char *option, const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    const long long value = starts_like_number(text) ? strtoll(text, &end, 10) : 0;
    if (!starts_like_number(text) || *end != '\0') {
        cli_error("%s: '%s' is not an integer", option, text);
        return -1;
    }
    if (errno == ERANGE || value < min || value > max) {
        cli_error("%s: %s is outside [%lld, %lld]", option, text, (long long)min, (long long)max);
        return -1;
    }
    *out = (int64_t)value;
    return 0;
}

int cli_parse_double(const char *option, const char *text, double *out)
{
    char *end;
    errno = 0;
    const double value = starts_like_number(text) ? strtod(text, &end) : 0.0;
    if (!starts_like_number(text) || *end != '\0') {
        cli_error("%s: '%s' is not a number", option, text);
        return -1;
    }
    if (errno == ERANGE && isinf(value)) {
        cli_error("%s: %s is out of range", option, text);
        return -1;
    }
    *out = value; /* NaN and inf pass: the library judges the value */
    return 0;
}

void cli_json_number(const char *key, double value)
{
    if (key)
        printf("\"%s\": ", key);
    if (isfinite(value))
        printf("%.17g", value);
    else
        fputs("null", stdout);
}

int cli_finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_error("writing to standard output failed");
    return 0;
}
