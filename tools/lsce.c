/*
 * lsce — command-line front end of the library: `info`, `run` (one batch from .npy files, JSON
 * on stdout) and `demo` (demo.c). Uses only the public API (lsce.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "half.h" /* the library's rounding specification, header-only */
#include "demo.h"
#include "lsce.h"
#include "npy.h"
#include "run_options.h"

static void print_usage(FILE *out)
{
    fputs(
        "usage: lsce <command> [options]\n"
        "\n"
        "commands:\n"
        "  info                   version, CPU features, the variant chosen, those available\n"
        "  run [options]          loss and gradient of one batch read from .npy files (below)\n"
        "  demo [--rows N] [--vocab V]\n"
        "                         time every variant on a built-in workload (default 4096 x 32000\n"
        "                         random logits, smoothing 0.1, 10% ignored rows, mean) against\n"
        "                         memcpy of the same bytes, and compare them to scalar\n"
        "  help, --help           this text\n"
        "  --version              the version\n"
        "\n"
        "run options:\n"
        "  --logits PATH          logits: .npy '<f4' or '<f2' (fp16), 2-D (N, V), C order\n"
        "                         (required)\n"
        "  --targets PATH         class ids: .npy '<i8' or '<i4', 1-D (N,) (required)\n"
        "  --smoothing E          label smoothing in [0, 1] (default 0)\n"
        "  --convention C         uniform (PyTorch), others (fairseq, Megatron) or seed\n"
        "                         (default uniform)\n"
        "  --kl                   report KL(q||p) = cross-entropy + sum q log q per row\n"
        "  --ignore-index N       target id of the rows to ignore (default -100)\n"
        "  --reduction R          mean, sum or none (default mean)\n"
        "  --isa NAME             auto, scalar, avx2, avx512 or neon (default auto: the LSCE_ISA\n"
        "                         environment variable, else the best this CPU runs)\n"
        "  --dtype D              f32, bf16 or f16: the logits' storage; '<f4' logits are\n"
        "                         rounded to it (nearest even); '<f2' files are f16 (default\n"
        "                         f32, or f16 for '<f2')\n"
        "  --grad-dtype D         f32, bf16 or f16: the gradient's storage (default: --dtype)\n"
        "  --grad-out PATH        write the gradient: .npy (N, V), '<f2' for f16, else '<f4'\n"
        "                         (a bf16 gradient upcast exactly)\n"
        "  --loss-out PATH        write the per-row losses: .npy '<f4' (N,), 0 for ignored rows\n"
        "  --in-place             compute the gradient over the logits buffer (same result;\n"
        "                         needs equal dtypes)\n"
        "  Options take their value as the next argument or after '=' (--smoothing=0.1).\n"
        "\n",
        out);
    fputs(
        "run objective options (lsce.h, \"Objective options\"; the library judges the values):\n"
        "  --weights PATH         class weights w >= 0: .npy '<f4', 1-D (V,) (PyTorch weight=;\n"
        "                         mean divides by the sum of the kept rows' target weights)\n"
        "  --prior PATH           smoothing prior u (q = (1-E) onehot + E u): .npy '<f4', 1-D\n"
        "                         (V,), entries >= 0 summing to 1; --convention uniform only\n"
        "  --row-weights PATH     row weights >= 0: .npy '<f4', 1-D (N,)\n"
        "  --z-loss Z             add Z * lse^2 per kept row, Z >= 0 (default 0)\n"
        "  --logit-scale S        use S * logits, S > 0 (default 1)\n"
        "  --softcap C            use C * tanh(S * logits / C), C >= 0 (default 0: off)\n"
        "  --confidence-penalty B add B * sum p log p per kept row, B >= 0 (default 0)\n"
        "  --calibration-bins B   confidence histogram of B bins in [0, 1000] and its expected\n"
        "                         calibration error (default 0: off)\n"
        "\n"
        "run prints one JSON object on one line of stdout:\n"
        "  {\"loss\": L, \"nll\": X, \"n_tokens\": T, \"n_correct\": C, \"accuracy\": A,\n"
        "   \"isa\": \"NAME\"[, \"z_loss\": Z][, \"ece\": E, \"bins\": [[N, P, A], ...]]}\n"
        "  loss       the reduced loss; with --reduction none, the sum of the per-row losses\n"
        "  nll        mean unsmoothed -log p(target) over the kept rows (0 when none is kept)\n"
        "  n_tokens   kept rows (target != ignore index)\n"
        "  n_correct  kept rows whose argmax is the target\n"
        "  accuracy   n_correct / n_tokens (0 when none is kept)\n"
        "  isa        the variant that ran\n"
        "  z_loss     with --z-loss: the z-loss part of the summed row losses\n"
        "             (sum of row weight * Z * lse^2 over the kept rows)\n"
        "  ece        with --calibration-bins: the expected calibration error, the sum over\n"
        "             the bins of count / (all counts) * |accuracy - mean_conf|\n"
        "  bins       with --calibration-bins: [[count, mean_conf, accuracy], ...], B bins of\n"
        "             the kept rows by confidence (max probability); 0s for an empty bin\n"
        "  Numbers print with 17 significant digits. JSON has no NaN or infinity: a non-finite\n"
        "  number prints as null.\n"
        "  Output files appear whole or not at all (written to PATH.tmp.XXXXXX, then renamed).\n"
        "\n"
        "exit status: 0 on success, 2 on any error (one line \"lsce: ...\" on stderr).\n",
        out);
}

static int is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

/* ---- info -------------------------------------------------------------------------------- */

static int cmd_info(void)
{
    printf("version:        %s\n", lsce_version());
    printf("cpu features:   %s\n", lsce_cpu_features());
    printf("variant chosen: %s\n", lsce_isa_name());
    printf("variants:      ");
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        printf(" %s (%s)", lsce_isa_to_string((lsce_isa)isa),
               lsce_isa_supported((lsce_isa)isa) ? "available" : "not available");
    printf("\n");
    return 0;
}

/* ---- run --------------------------------------------------------------------------------- */

typedef struct run_args {
    const char *logits_path, *targets_path, *grad_path, *loss_path;
    int in_place;
    int dtype_given, grad_dtype_given; /* --dtype / --grad-dtype seen */
    lsce_options opts;
    run_options objective; /* --smoothing and the objective options (run_options.h) */
} run_args;

/* Index of `text` among `names` (count of them), or -1 with an error naming the option. */
static int parse_choice(const char *option, const char *text, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (names[i] && !strcmp(text, names[i]))
            return i;
    char known[128] = "";
    for (int i = 0; i < count; i++)
        if (names[i] && strlen(known) + strlen(names[i]) + 2 < sizeof known) {
            strcat(known, " ");
            strcat(known, names[i]);
        }
    cli_error("%s: unknown value '%s' (one of:%s)", option, text, known);
    return -1;
}

static int parse_isa(const char *text, lsce_isa *out)
{
    const char *names[LSCE_ISA_COUNT_];
    for (int isa = 0; isa < LSCE_ISA_COUNT_; isa++)
        names[isa] = lsce_isa_to_string((lsce_isa)isa);
    const int isa = parse_choice("--isa", text, names, LSCE_ISA_COUNT_);
    if (isa < 0)
        return -1;
    if (!lsce_isa_supported((lsce_isa)isa)) {
        cli_error("--isa: variant '%s' cannot run on this CPU or build", text);
        return -1;
    }
    *out = (lsce_isa)isa;
    return 0;
}

/* Like cli_option_value for an option whose value is one of `names` (its index in *choice). */
static int choice_option(int argc, char **argv, int *i, const char *option,
                         const char *const *names, int count, int *choice)
{
    const char *text;
    const int found = cli_option_value(argc, argv, i, option, &text);
    if (found <= 0)
        return found;
    *choice = parse_choice(option, text, names, count);
    return *choice < 0 ? -1 : 1;
}

/* One option at argv[*i] into *a: 0 handled, -1 error (printed). */
static int parse_run_option(int argc, char **argv, int *i, run_args *a)
{
    static const char *const conventions[] = {"uniform", "others", "seed"};
    static const char *const reductions[] = {"mean", "sum", "none"};
    static const char *const dtypes[] = {"f32", "bf16", "f16"}; /* lsce_dtype's order */
    const struct {
        const char *option;
        const char **path;
    } paths[] = {{"--logits", &a->logits_path},
                 {"--targets", &a->targets_path},
                 {"--grad-out", &a->grad_path},
                 {"--loss-out", &a->loss_path}};
    const char *text;
    int found, choice;

    if (!strcmp(argv[*i], "--kl")) {
        a->opts.kl = 1;
        return 0;
    }
    if (!strcmp(argv[*i], "--in-place")) {
        a->in_place = 1;
        return 0;
    }
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
        if ((found = cli_option_value(argc, argv, i, paths[k].option, paths[k].path)) != 0)
            return found < 0 ? -1 : 0;
    if ((found = run_options_parse(argc, argv, i, &a->objective, &a->opts)) != 0)
        return found < 0 ? -1 : 0;
    if ((found = cli_option_value(argc, argv, i, "--ignore-index", &text)) != 0)
        return found < 0 ? -1
                         : cli_parse_int64("--ignore-index", text, INT64_MIN, INT64_MAX,
                                           &a->opts.ignore_index);
    if ((found = cli_option_value(argc, argv, i, "--isa", &text)) != 0)
        return found < 0 ? -1 : parse_isa(text, &a->opts.isa);
    if ((found = choice_option(argc, argv, i, "--convention", conventions, 3, &choice)) != 0) {
        if (found > 0)
            a->opts.convention = (lsce_convention)choice;
        return found < 0 ? -1 : 0;
    }
    if ((found = choice_option(argc, argv, i, "--reduction", reductions, 3, &choice)) != 0) {
        if (found > 0)
            a->opts.reduction = (lsce_reduction)choice;
        return found < 0 ? -1 : 0;
    }
    if ((found = choice_option(argc, argv, i, "--dtype", dtypes, 3, &choice)) != 0) {
        if (found > 0) {
            a->opts.logits_dtype = (lsce_dtype)choice;
            a->dtype_given = 1;
        }
        return found < 0 ? -1 : 0;
    }
    if ((found = choice_option(argc, argv, i, "--grad-dtype", dtypes, 3, &choice)) != 0) {
        if (found > 0) {
            a->opts.grad_dtype = (lsce_dtype)choice;
            a->grad_dtype_given = 1;
        }
        return found < 0 ? -1 : 0;
    }
    cli_error("run: %s '%s' (see lsce --help)",
              argv[*i][0] == '-' ? "unknown option" : "unexpected argument", argv[*i]);
    return -1;
}

static int parse_run_args(int argc, char **argv, run_args *a)
{
    memset(a, 0, sizeof *a);
    lsce_options_default(&a->opts);
    for (int i = 0; i < argc; i++)
        if (parse_run_option(argc, argv, &i, a) != 0)
            return -1;
    if (!a->logits_path || !a->targets_path) {
        cli_error("run: --logits and --targets are required (see lsce --help)");
        return -1;
    }
    if (a->grad_path && a->loss_path && !strcmp(a->grad_path, a->loss_path)) {
        cli_error("run: --grad-out and --loss-out name the same file");
        return -1;
    }
    return 0;
}

/* The inputs of one call, owned. */
typedef struct batch {
    npy_array logits;
    int64_t rows, vocab;
    int64_t *targets;      /* rows ids: the file's data, or a widened copy of '<i4' data */
    void *targets_storage; /* what to free for the targets */
} batch;

static void batch_free(batch *b)
{
    free(b->logits.data);
    free(b->targets_storage);
    if ((void *)b->targets != b->targets_storage)
        free(b->targets);
    memset(b, 0, sizeof *b);
}

static int load_batch(const run_args *a, batch *b)
{
    npy_error err;
    npy_array targets;
    memset(b, 0, sizeof *b);
    if (npy_load(a->logits_path, NPY_F32 | NPY_F16, 2, &b->logits, &err) != 0) {
        cli_error("%s", err.text);
        return -1;
    }
    b->rows = b->logits.header.shape[0];
    b->vocab = b->logits.header.shape[1];
    if (npy_load(a->targets_path, NPY_I64 | NPY_I32, 1, &targets, &err) != 0) {
        batch_free(b);
        cli_error("%s", err.text);
        return -1;
    }
    b->targets_storage = targets.data;
    if (targets.header.shape[0] != b->rows) {
        cli_error("%s: %lld targets for %lld rows of logits", a->targets_path,
                  (long long)targets.header.shape[0], (long long)b->rows);
        batch_free(b);
        return -1;
    }
    if (targets.dtype == NPY_I64) {
        b->targets = targets.data;
        return 0;
    }
    /* '<i4': widen. rows ≤ PTRDIFF_MAX / 4 (the file's size was checked), so this can overflow
     * only on a 32-bit host. */
    if ((uint64_t)b->rows > PTRDIFF_MAX / sizeof(int64_t) ||
        !(b->targets = malloc(b->rows ? (size_t)b->rows * sizeof(int64_t) : 1))) {
        cli_error("out of memory for %lld targets", (long long)b->rows);
        batch_free(b);
        return -1;
    }
    const int32_t *narrow = targets.data;
    for (int64_t r = 0; r < b->rows; r++)
        b->targets[r] = narrow[r];
    return 0;
}

/* Writes the requested files: all are staged first, then renamed into place. */
static int write_outputs(const run_args *a, const batch *b, const void *grad, npy_dtype grad_dtype,
                         const float *row_loss)
{
    npy_output grad_out = {NULL, NULL}, loss_out = {NULL, NULL};
    npy_error err;
    const int64_t grad_shape[2] = {b->rows, b->vocab};
    int st = 0;
    if (a->grad_path)
        st = npy_stage(&grad_out, a->grad_path, grad_dtype, 2, grad_shape, grad, &err);
    if (st == 0 && a->loss_path)
        st = npy_stage(&loss_out, a->loss_path, NPY_F32, 1, &b->rows, row_loss, &err);
    /* Two spellings of one file ("out.npy", "./out.npy", a symlink to it): the second rename
     * would silently replace the first output. */
    if (st == 0 && grad_out.path && loss_out.path && !strcmp(grad_out.path, loss_out.path)) {
        snprintf(err.text, sizeof err.text, "run: --grad-out and --loss-out name the same file %s",
                 grad_out.path);
        st = -1;
    }
    if (st == 0 && a->grad_path)
        st = npy_commit(&grad_out, &err);
    if (st == 0 && a->loss_path)
        st = npy_commit(&loss_out, &err);
    npy_discard(&grad_out);
    npy_discard(&loss_out);
    if (st != 0) {
        cli_error("%s", err.text);
        return -1;
    }
    return 0;
}

static void print_result_json(const run_args *a, const lsce_result *res, const char *isa)
{
    const double per_token = res->n_tokens > 0 ? 1.0 / (double)res->n_tokens : 0.0;
    putchar('{');
    cli_json_number("loss", res->loss);
    fputs(", ", stdout);
    cli_json_number("nll", res->nll_sum * per_token);
    printf(", \"n_tokens\": %lld, \"n_correct\": %lld, ", (long long)res->n_tokens,
           (long long)res->n_correct);
    cli_json_number("accuracy", (double)res->n_correct * per_token);
    printf(", \"isa\": \"%s\"", isa);
    run_options_print_json(&a->objective, &a->opts, res);
    fputs("}\n", stdout);
}

/* Settles the storage dtypes: '<f2' logits are fp16 as they are; '<f4' logits are rounded to
 * --dtype (nearest even) in their own buffer. The gradient's dtype defaults to the logits'. */
static int settle_dtypes(run_args *a, batch *b)
{
    const int64_t n = b->rows * b->vocab; /* the file's size bounded it */
    if (b->logits.dtype == NPY_F16) {
        if (a->dtype_given && a->opts.logits_dtype != LSCE_DTYPE_F16)
            return cli_error("--dtype: %s holds fp16 ('<f2') logits", a->logits_path);
        a->opts.logits_dtype = LSCE_DTYPE_F16;
    } else if (a->opts.logits_dtype != LSCE_DTYPE_F32) {
        const float *wide = b->logits.data;
        uint16_t *narrow = b->logits.data; /* element i moves from byte 4i to 2i: never ahead */
        for (int64_t i = 0; i < n; i++)
            lsce_store_from_f32(narrow, (int)a->opts.logits_dtype, i, wide[i]);
    }
    if (!a->grad_dtype_given)
        a->opts.grad_dtype = a->opts.logits_dtype;
    if (a->in_place && a->opts.grad_dtype != a->opts.logits_dtype)
        return cli_error("--in-place needs --grad-dtype equal to the logits dtype");
    return 0;
}

/* The gradient as written to --grad-out: fp32 and fp16 as computed, bf16 upcast exactly to fp32.
 * *owned is set when a new buffer was made. */
static const void *grad_for_file(const lsce_options *o, const void *grad, int64_t n,
                                 npy_dtype *dtype, void **owned)
{
    *owned = NULL;
    *dtype = o->grad_dtype == LSCE_DTYPE_F16 ? NPY_F16 : NPY_F32;
    if (o->grad_dtype != LSCE_DTYPE_BF16)
        return grad;
    float *wide = malloc(n ? (size_t)n * sizeof(float) : 1);
    if (!wide)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        wide[i] = lsce_load_as_f32(grad, LSCE_DTYPE_BF16, i);
    *owned = wide;
    return wide;
}

static int cmd_run(int argc, char **argv)
{
    run_args a;
    batch b;
    if (parse_run_args(argc, argv, &a) != 0 || load_batch(&a, &b) != 0)
        return CLI_EXIT_FAILURE;
    int failed = run_options_load(&a.objective, b.rows, b.vocab, &a.opts) != 0 ||
                 settle_dtypes(&a, &b) != 0;

    /* Without --grad-out the gradient is not kept: computing it over the logits (which are not
     * needed afterwards) saves a second N x V buffer, when the dtypes allow. */
    const int64_t n = b.rows * b.vocab;
    void *logits = b.logits.data;
    void *grad = logits;
    float *row_loss = NULL;
    const size_t grad_bytes = (size_t)n * lsce_dtype_size((int)a.opts.grad_dtype);
    const int own_grad = !a.in_place && (a.grad_path || a.opts.grad_dtype != a.opts.logits_dtype);
    if (!failed && own_grad && !(grad = malloc(grad_bytes ? grad_bytes : 1)))
        failed = cli_error("out of memory for the gradient (%zu bytes)", grad_bytes);
    if (!failed && a.loss_path &&
        !(row_loss = malloc(b.rows ? (size_t)b.rows * sizeof(float) : 1)))
        failed = cli_error("out of memory for the row losses");

    const char *isa =
        a.opts.isa == LSCE_ISA_AUTO ? lsce_isa_name() : lsce_isa_to_string(a.opts.isa);
    lsce_result res;
    if (!failed) {
        const lsce_status st =
            lsce_forward_backward(&a.opts, b.rows, b.vocab, logits, b.vocab, b.targets, NULL, grad,
                                  b.vocab, row_loss, NULL, &res);
        if (st != LSCE_OK)
            failed = run_options_failed(&a.objective, &a.opts, st);
    }
    void *grad_upcast = NULL;
    npy_dtype grad_file_dtype = NPY_F32;
    const void *grad_file = grad;
    if (!failed && a.grad_path &&
        !(grad_file = grad_for_file(&a.opts, grad, n, &grad_file_dtype, &grad_upcast)))
        failed = cli_error("out of memory for the gradient file");
    if (!failed && write_outputs(&a, &b, grad_file, grad_file_dtype, row_loss) != 0)
        failed = 1;
    if (!failed)
        print_result_json(&a, &res, isa);

    free(grad_upcast);
    if (grad != logits)
        free(grad);
    free(row_loss);
    batch_free(&b);
    run_options_free(&a.objective);
    return failed ? CLI_EXIT_FAILURE : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_FAILURE;
    }
    const char *command = argv[1];
    int status;
    if (is_help(command) || (argc > 2 && is_help(argv[2]))) {
        print_usage(stdout);
        status = 0;
    } else if (!strcmp(command, "--version")) {
        printf("lsce %s\n", lsce_version());
        status = 0;
    } else if (!strcmp(command, "info")) {
        status = argc > 2 ? cli_error("info: unexpected argument '%s'", argv[2]) : cmd_info();
    } else if (!strcmp(command, "run")) {
        status = cmd_run(argc - 2, argv + 2);
    } else if (!strcmp(command, "demo")) {
        status = demo_main(argc - 2, argv + 2);
    } else {
        status = cli_error("unknown command '%s' (see lsce --help)", command);
    }
    if (status == 0)
        status = cli_finish_stdout();
    return status;
}
