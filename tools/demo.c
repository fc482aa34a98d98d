/*
 * `lsce demo`: a built-in workload (random logits, ε = 0.1, 10 % ignored rows, reduction mean) run
 * by every variant this CPU has. Each is checked against the scalar variant and timed (best of a
 * few runs after a warm-up) next to memcpy of the same bytes.
 */
#include "demo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lsce.h"

#define DEMO_ROWS 4096
#define DEMO_VOCAB 32000
#define DEMO_SMOOTHING 0.1
#define DEMO_IGNORE_INDEX (-100)
#define DEMO_IGNORE_EVERY 10   /* every 10th row is ignored */
#define DEMO_SEED 0x5eedc0ffee123457ull
#define MAX_TIMED_RUNS 5       /* after the warm-up */
#define TIME_BUDGET_S 2.0      /* per variant: fewer timed runs when one is slow */
#define BYTES_PER_ELEMENT 8.0  /* a logit read + a gradient element written */

/* ---- workload ---------------------------------------------------------------------------- */

typedef struct workload {
    int64_t rows, vocab;
    size_t elements;
    int64_t ignored_rows;
    float *logits;
    int64_t *targets;
    float *grad;     /* written by the variant being measured, and by memcpy */
    float *grad_ref; /* the scalar variant's gradient */
} workload;

/* splitmix64: a fixed seed gives the same workload on every machine. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* About N(0, 4): the sum of four 16-bit uniforms (Irwin–Hall), centred, scaled to σ = 2. */
static float normalish(uint64_t *state)
{
    const uint64_t u = next_random(state);
    const float sum = (float)(u & 0xffff) + (float)((u >> 16) & 0xffff) +
                      (float)((u >> 32) & 0xffff) + (float)(u >> 48);
    const float to_unit_variance = 1.7320508f / 65536.0f; /* √3 / 2^16: var(Σ 4 U) = 4/12 */
    return (sum - 2.0f * 65535.0f) * (2.0f * to_unit_variance);
}

static int64_t row_argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t c = 1; c < n; c++)
        if (x[c] > x[best])
            best = c;
    return best;
}

/* Random logits; every 10th row ignored; a kept row's target is its argmax (what a trained model
 * gets right) with probability 1/2, else a uniformly random class, so accuracy is about 0.5. */
static void fill_workload(workload *w)
{
    uint64_t state = DEMO_SEED;
    /* Fault the output pages in now: the warm-up run, which sets the number of timed runs,
     * should cost what the timed runs cost. */
    memset(w->grad, 0, w->elements * sizeof(float));
    memset(w->grad_ref, 0, w->elements * sizeof(float));
    for (size_t i = 0; i < w->elements; i++)
        w->logits[i] = normalish(&state);
    w->ignored_rows = 0;
    for (int64_t r = 0; r < w->rows; r++) {
        const uint64_t u = next_random(&state);
        if (r % DEMO_IGNORE_EVERY == DEMO_IGNORE_EVERY - 1) {
            w->targets[r] = DEMO_IGNORE_INDEX;
            w->ignored_rows++;
        } else if (u & 1) {
            w->targets[r] = row_argmax(w->logits + r * w->vocab, w->vocab);
        } else {
            w->targets[r] = (int64_t)((u >> 1) % (uint64_t)w->vocab);
        }
    }
}

static void *alloc_aligned(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static void workload_free(workload *w)
{
    free(w->logits);
    free(w->targets);
    free(w->grad);
    free(w->grad_ref);
}

static int workload_alloc(workload *w, int64_t rows, int64_t vocab)
{
    memset(w, 0, sizeof *w);
    if ((uint64_t)vocab > (uint64_t)(PTRDIFF_MAX / sizeof(float)) / (uint64_t)rows)
        return cli_error("demo: %lld x %lld logits do not fit in memory", (long long)rows,
                         (long long)vocab);
    w->rows = rows;
    w->vocab = vocab;
    w->elements = (size_t)rows * (size_t)vocab;
    const size_t bytes = w->elements * sizeof(float);
    w->logits = alloc_aligned(bytes);
    w->grad = alloc_aligned(bytes);
    w->grad_ref = alloc_aligned(bytes);
    w->targets = alloc_aligned((size_t)rows * sizeof(int64_t));
    if (!w->logits || !w->grad || !w->grad_ref || !w->targets) {
        workload_free(w);
        return cli_error("demo: out of memory for %lld x %lld logits (3 x %.1f MB; try smaller "
                         "--rows or --vocab)",
                         (long long)rows, (long long)vocab, (double)bytes / 1e6);
    }
    return 0;
}

/* ---- timing ------------------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A timed piece of work: 0 on success. */
typedef int (*job_fn)(void *job);

typedef struct timing {
    double best_s; /* fastest timed run */
    int runs;      /* timed runs (after the warm-up) */
} timing;

/* One warm-up run, then up to MAX_TIMED_RUNS timed runs within about TIME_BUDGET_S. */
static int time_best(job_fn run, void *job, timing *t)
{
    double start = now_seconds();
    if (run(job) != 0)
        return -1;
    const double warm_s = now_seconds() - start;
    t->runs = warm_s > 0.0 ? (int)(TIME_BUDGET_S / warm_s) : MAX_TIMED_RUNS;
    t->runs = t->runs < 1 ? 1 : t->runs > MAX_TIMED_RUNS ? MAX_TIMED_RUNS : t->runs;
    t->best_s = INFINITY;
    for (int i = 0; i < t->runs; i++) {
        start = now_seconds();
        if (run(job) != 0)
            return -1;
        const double elapsed = now_seconds() - start;
        t->best_s = elapsed < t->best_s ? elapsed : t->best_s;
    }
    return 0;
}

typedef struct variant_job {
    const workload *w;
    lsce_options opts;
    float *grad;
    lsce_result result;
} variant_job;

static int run_variant(void *p)
{
    variant_job *job = p;
    const workload *w = job->w;
    const lsce_status st =
        lsce_forward_backward(&job->opts, w->rows, w->vocab, w->logits, w->vocab, w->targets, NULL,
                              job->grad, w->vocab, NULL, NULL, &job->result);
    if (st != LSCE_OK)
        return cli_error("demo: %s: %s", lsce_isa_to_string(job->opts.isa), lsce_strerror(st));
    return 0;
}

static int run_memcpy(void *p)
{
    const workload *w = p;
    memcpy(w->grad, w->logits, w->elements * sizeof(float));
    /* Read the copy back so that the compiler cannot drop it as a dead store. */
    const volatile float *last = w->grad + w->elements - 1;
    (void)*last;
    return 0;
}

/* ---- comparison and report --------------------------------------------------------------- */

/* Largest |a_i − b_i|; a NaN on one side only counts as infinite. */
static double max_abs_difference(const float *a, const float *b, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))
            continue;
        const double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

typedef struct report_row {
    const char *name;
    lsce_result result;
    double loss_difference, grad_difference; /* against the scalar variant */
    timing time;
} report_row;

/* A progress line on stderr: rewritten in place on a terminal, one line each otherwise. */
static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void progress(const char *fmt, ...)
{
    const int tty = isatty(STDERR_FILENO);
    va_list args;
    va_start(args, fmt);
    fputs(tty ? "\r\033[Klsce demo: " : "lsce demo: ", stderr);
    vfprintf(stderr, fmt, args);
    fputs(tty ? "" : "\n", stderr);
    va_end(args);
    fflush(stderr);
}

static void progress_done(void)
{
    if (isatty(STDERR_FILENO))
        fputs("\r\033[K", stderr);
}

static void print_throughput(const workload *w, const timing *t, const timing *copy)
{
    const double elements = (double)w->elements;
    printf(" %9.3f %4d %8.3f %7.2f %7.2fx\n", t->best_s * 1e3, t->runs,
           elements / t->best_s * 1e-9, elements * BYTES_PER_ELEMENT / t->best_s * 1e-9,
           copy->best_s / t->best_s);
}

static void print_report(const workload *w, const report_row *rows, int count, const timing *copy)
{
    const double mb = (double)w->elements * sizeof(float) / 1e6;
    printf("lsce %s demo: %lld x %lld logits (%.1f MB fp32), smoothing %.2g (uniform), "
           "reduction mean,\n",
           lsce_version(), (long long)w->rows, (long long)w->vocab, mb, DEMO_SMOOTHING);
    printf("  %lld rows ignored (ignore_index %d); a kept row's target is its argmax or a random "
           "class, 1/2 each\n",
           (long long)w->ignored_rows, DEMO_IGNORE_INDEX);
    printf("cpu: %s; default variant: %s\n\n", lsce_cpu_features(), lsce_isa_name());
    printf("%-8s %15s %15s %8s %7s %10s %10s %9s %4s %8s %7s %8s\n", "variant", "loss", "nll",
           "accuracy", "tokens", "|dloss|", "max|dgrad|", "best ms", "runs", "Gelem/s", "GB/s",
           "/memcpy");
    for (int i = 0; i < count; i++) {
        const lsce_result *res = &rows[i].result;
        const double per_token = res->n_tokens > 0 ? 1.0 / (double)res->n_tokens : 0.0;
        printf("%-8s %15.10f %15.10f %8.4f %7lld", rows[i].name, res->loss,
               res->nll_sum * per_token, (double)res->n_correct * per_token,
               (long long)res->n_tokens);
        if (i == 0) /* the scalar variant: the reference */
            printf(" %10s %10s", "(ref)", "(ref)");
        else
            printf(" %10.2e %10.2e", rows[i].loss_difference, rows[i].grad_difference);
        print_throughput(w, &rows[i].time, copy);
    }
    printf("%-8s %15s %15s %8s %7s %10s %10s", "memcpy", "", "", "", "", "", "");
    print_throughput(w, copy, copy);
    printf("\n|dloss|, max|dgrad|: absolute difference to the scalar variant (libm expf).\n"
           "best ms: fastest of `runs` timed runs after a warm-up. GB/s counts %.0f bytes per "
           "logit\n(logits read + gradient written); memcpy copies the same bytes from the "
           "logits buffer\ninto the gradient buffer; /memcpy: throughput relative to it.\n",
           BYTES_PER_ELEMENT);
}

/* ---- the command ------------------------------------------------------------------------- */

static int parse_demo_args(int argc, char **argv, int64_t *rows, int64_t *vocab)
{
    for (int i = 0; i < argc; i++) {
        const char *text;
        int found;
        if ((found = cli_option_value(argc, argv, &i, "--rows", &text)) != 0) {
            if (found < 0 || cli_parse_int64("--rows", text, 1, INT64_MAX, rows) != 0)
                return -1;
        } else if ((found = cli_option_value(argc, argv, &i, "--vocab", &text)) != 0) {
            if (found < 0 || cli_parse_int64("--vocab", text, 1, INT64_MAX, vocab) != 0)
                return -1;
        } else {
            cli_error("demo: unknown option '%s' (see lsce --help)", argv[i]);
            return -1;
        }
    }
    return 0;
}

/* Runs and times every available variant (scalar first: the reference), then memcpy. */
static int measure(workload *w, report_row *rows, int *count, timing *copy)
{
    int available = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        available += lsce_isa_supported((lsce_isa)isa) != 0;
    *count = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++) {
        if (!lsce_isa_supported((lsce_isa)isa))
            continue;
        report_row *row = &rows[*count];
        variant_job job = {.w = w, .grad = isa == LSCE_ISA_SCALAR ? w->grad_ref : w->grad};
        lsce_options_default(&job.opts);
        job.opts.smoothing = DEMO_SMOOTHING;
        job.opts.ignore_index = DEMO_IGNORE_INDEX;
        job.opts.isa = (lsce_isa)isa;
        row->name = lsce_isa_to_string((lsce_isa)isa);
        progress("running %s (%d/%d)...", row->name, *count + 1, available + 1);
        if (time_best(run_variant, &job, &row->time) != 0) {
            progress_done();
            return -1;
        }
        row->result = job.result;
        row->loss_difference = fabs(job.result.loss - rows[0].result.loss);
        row->grad_difference =
            job.grad == w->grad_ref ? 0.0 : max_abs_difference(job.grad, w->grad_ref, w->elements);
        ++*count;
    }
    progress("running memcpy (%d/%d)...", available + 1, available + 1);
    const int st = time_best(run_memcpy, w, copy);
    progress_done();
    return st;
}

int demo_main(int argc, char **argv)
{
    int64_t rows = DEMO_ROWS, vocab = DEMO_VOCAB;
    workload w;
    report_row report[LSCE_ISA_COUNT_];
    int count;
    timing copy;
    if (parse_demo_args(argc, argv, &rows, &vocab) != 0 || workload_alloc(&w, rows, vocab) != 0)
        return CLI_EXIT_FAILURE;
    progress("generating %lld x %lld logits...", (long long)rows, (long long)vocab);
    fill_workload(&w);
    const int st = measure(&w, report, &count, &copy);
    if (st == 0)
        print_report(&w, report, count, &copy);
    workload_free(&w);
    return st == 0 ? 0 : CLI_EXIT_FAILURE;
}
