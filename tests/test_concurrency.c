/*
 * Concurrency (lsce.h: "every entry point is reentrant; the only global state is the dispatch
 * table, set up once, and the variant lsce_set_isa chose, an atomic"). Plain C and pthreads, so
 * that it builds everywhere and runs under ThreadSanitizer (scripts/reliability.sh).
 *
 *   race    THREADS threads wait at a barrier, then all call the library at once. No library
 *           function has run in this process before: their first calls race the dispatch
 *           initialisation, each thread starting with a different entry point (the metadata
 *           queries, lsce_set_isa, every computing entry point, forced and automatic variants,
 *           f32 and 16-bit dtypes, in place, the objective options with shared class/row
 *           weight arrays and per-call calibration bins). The race runs in CHILDREN forked fresh
 *           processes and then in this one. Every job on a variant this CPU runs must succeed
 *           (an error would be deterministic too, and prove nothing).
 *   flip    one thread switches lsce_set_isa between the variants while the others compute:
 *           forced variants (opts.isa) must not notice, LSCE_ISA_AUTO calls must give the result
 *           of one of the variants.
 * Every result — status, gradient (padding included), row_loss, row_lse, lsce_result, bins — is
 * hashed and must equal bit for bit the result of the same call made serially afterwards.
 * Exit status 0 when all agree; each disagreement is printed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsce.h"

#define THREADS 6
#define ROUNDS 2
#define CHILDREN 3
#define ROWS 5
#define VOCAB 4133  /* one full 4096-element chunk and a tail: both merge paths */
#define STRIDE 4139 /* padded rows */
#define EXTENT ((ROWS - 1) * STRIDE + VOCAB)

/* ---- the calls ------------------------------------------------------------------------------ */

typedef enum entry { E_FUSED, E_FUSED_IN_PLACE, E_FORWARD, E_BACKWARD, E_BACKWARD_IN_PLACE,
                     E_METADATA, E_COUNT } entry;

typedef struct config {
    lsce_convention convention;
    lsce_reduction reduction;
    double smoothing;
    int kl;
    int64_t ignore_index;
    lsce_dtype in_dt, out_dt;
    int pass_grad_output;
    int objective; /* 0: none; 1: every objective option (general sweeps, softcap, bins);
                      2: class weights + prior + z-loss + row weights */
} config;

static const config configs[] = {
    {LSCE_CONV_UNIFORM, LSCE_REDUCTION_MEAN, 0.1, 0, -100, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 0, 0},
    {LSCE_CONV_OTHERS, LSCE_REDUCTION_NONE, 0.3, 1, -100, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 1, 0},
    {LSCE_CONV_SEED, LSCE_REDUCTION_SUM, 1.0, 0, 0, LSCE_DTYPE_BF16, LSCE_DTYPE_BF16, 1, 0},
    {LSCE_CONV_UNIFORM, LSCE_REDUCTION_MEAN, 0.0, 0, -100, LSCE_DTYPE_F16, LSCE_DTYPE_F32, 1, 0},
    {LSCE_CONV_UNIFORM, LSCE_REDUCTION_MEAN, 0.1, 1, -100, LSCE_DTYPE_F32, LSCE_DTYPE_F32, 1, 1},
    {LSCE_CONV_UNIFORM, LSCE_REDUCTION_NONE, 0.2, 0, -100, LSCE_DTYPE_BF16, LSCE_DTYPE_BF16, 1, 2},
};
#define CONFIGS (int)(sizeof configs / sizeof configs[0])

/* Every variant value, supported or not: the job list is made before any library call (an
 * unsupported one gives LSCE_ERR_ISA, as deterministic as a result). */
#define ISAS LSCE_ISA_COUNT_
#define JOBS (E_METADATA * CONFIGS * ISAS + 1) /* the last job: the metadata queries */

typedef struct job {
    entry e;
    int config;
    lsce_isa isa;
} job;

static job job_of(int index)
{
    if (index == JOBS - 1)
        return (job){E_METADATA, 0, LSCE_ISA_AUTO};
    return (job){(entry)(index % E_METADATA), (index / E_METADATA) % CONFIGS,
                 (lsce_isa)(index / (E_METADATA * CONFIGS))};
}

/* ---- inputs (read-only once the threads start) ----------------------------------------------- */

static float logits_f32[EXTENT];
static uint16_t logits_16[EXTENT]; /* the same values' top half: a bf16 and an f16 input */
static int64_t targets[ROWS];          /* row 2 ignored with ignore_index −100 */
static int64_t targets_ignore_0[ROWS]; /* the same with rows 0 and 2 ignored by ignore_index 0 */
static float grad_output[ROWS];
static float class_weight[VOCAB], prior[VOCAB], row_weight[ROWS]; /* shared by every thread */

static void make_inputs(void)
{
    uint64_t state = 0x5eedc0ffee;
    for (int i = 0; i < EXTENT; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const int col = i % STRIDE;
        logits_f32[i] = col < VOCAB ? (float)((int)(state >> 40) % 2001 - 1000) / 128.0f : -7.5f;
        uint32_t bits;
        memcpy(&bits, &logits_f32[i], sizeof bits);
        logits_16[i] = (uint16_t)(bits >> 16) & 0xbfff; /* |value| < 2: a finite f16 as well */
    }
    for (int r = 0; r < ROWS; r++) {
        targets[r] = r == 2 ? -100 : (r * 997) % VOCAB;
        targets_ignore_0[r] = r == 2 ? 0 : targets[r];
        grad_output[r] = 0.5f + (float)r;
        row_weight[r] = 0.25f * (float)(r + 1);
    }
    for (int c = 0; c < VOCAB; c++) {
        class_weight[c] = (float)(c % 7) * 0.25f;
        prior[c] = 1.0f / VOCAB;
    }
}

/* ---- running a job and hashing what it wrote ------------------------------------------------ */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_string(uint64_t h, const char *s) { return hash_bytes(h, s, strlen(s) + 1); }

/* Every query whose answer must not depend on who initialised the library or when. */
static uint64_t run_metadata(void)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_string(h, lsce_isa_name());
    h = hash_string(h, lsce_cpu_features());
    h = hash_string(h, lsce_version());
    for (int s = 0; s <= LSCE_ERR_NOMEM + 1; s++)
        h = hash_string(h, lsce_strerror((lsce_status)s));
    for (int isa = 0; isa <= LSCE_ISA_COUNT_; isa++) {
        const char *name = lsce_isa_to_string((lsce_isa)isa);
        h = hash_string(h, name ? name : "(null)");
        h = hash_bytes(h, &(int){lsce_isa_supported((lsce_isa)isa)}, sizeof(int));
    }
    /* lsce_set_isa with the choice already in force (LSCE_ISA is unset: the best) or an unknown
     * name changes nothing: the other threads' LSCE_ISA_AUTO calls stay deterministic. */
    h = hash_bytes(h, &(lsce_status){lsce_set_isa("auto")}, sizeof(lsce_status));
    h = hash_bytes(h, &(lsce_status){lsce_set_isa("no-such-variant")}, sizeof(lsce_status));
    lsce_options o;
    lsce_options_default(&o);
    h = hash_bytes(h, &o, sizeof o);
    const lsce_calibration_bin bins[2] = {{10, 7.5, 6}, {5, 4.5, 5}};
    return hash_bytes(h, &(double){lsce_ece(bins, 2)}, sizeof(double));
}

static size_t dtype_size(lsce_dtype dt) { return dt == LSCE_DTYPE_F32 ? 4 : 2; }

static uint64_t run_job(job j)
{
    if (j.e == E_METADATA)
        return run_metadata();
    const config *k = &configs[j.config];
    lsce_options o;
    lsce_options_default(&o);
    o.convention = k->convention;
    o.reduction = k->reduction;
    o.smoothing = k->smoothing;
    o.kl = k->kl;
    o.ignore_index = k->ignore_index;
    o.logits_dtype = k->in_dt;
    o.grad_dtype = k->out_dt;
    o.isa = j.isa;
    lsce_calibration_bin bins[10]; /* each call its own: bins are an output */
    memset(bins, 0, sizeof bins);
    if (k->objective) {
        o.class_weight = class_weight;
        o.prior = prior;
        o.row_weight = row_weight;
        o.z_loss = 1e-3;
    }
    if (k->objective == 1) {
        o.logit_scale = 0.75;
        o.softcap = 5.0;
        o.confidence_penalty = 0.1;
        o.calibration_bins = 10;
        o.calibration = bins;
    }

    const int64_t *y = k->ignore_index == 0 ? targets_ignore_0 : targets;
    const void *x = k->in_dt == LSCE_DTYPE_F32 ? (const void *)logits_f32 : logits_16;
    const int in_place = j.e == E_FUSED_IN_PLACE || j.e == E_BACKWARD_IN_PLACE;
    const size_t grad_bytes = (size_t)EXTENT * dtype_size(in_place ? k->in_dt : k->out_dt);
    unsigned char *grad = malloc(grad_bytes);
    float *row_loss = malloc(ROWS * sizeof(float)), *row_lse = malloc(ROWS * sizeof(float));
    if (!grad || !row_loss || !row_lse) {
        fprintf(stderr, "test_concurrency: out of memory\n");
        exit(2);
    }
    memset(grad, 0x5A, grad_bytes);
    if (in_place) {
        memcpy(grad, x, grad_bytes);
        x = grad;
    }
    memset(row_loss, 0x5A, ROWS * sizeof(float));
    memset(row_lse, 0x5A, ROWS * sizeof(float));
    lsce_result res;
    memset(&res, 0x5A, sizeof res);
    const float *go = k->pass_grad_output ? grad_output : NULL;

    lsce_status st;
    switch (j.e) {
    case E_FUSED:
    case E_FUSED_IN_PLACE:
        st = lsce_forward_backward(&o, ROWS, VOCAB, x, STRIDE, y, go, grad, STRIDE,
                                   row_loss, row_lse, &res);
        break;
    case E_FORWARD:
        st = lsce_forward(&o, ROWS, VOCAB, x, STRIDE, y, row_loss, row_lse, &res);
        break;
    default: {
        /* Backward from a row_lse saved by the scalar variant: with LSCE_ISA_AUTO, two calls
         * could run two variants while lsce_set_isa flips, a mix no single variant gives. */
        lsce_options scalar = o;
        scalar.isa = LSCE_ISA_SCALAR;
        st = lsce_forward(&scalar, ROWS, VOCAB, x, STRIDE, y, NULL, row_lse, NULL);
        if (st == LSCE_OK)
            st = lsce_backward(&o, ROWS, VOCAB, x, STRIDE, y, row_lse, go, grad, STRIDE);
        break;
    }
    }
    /* in place needs equal dtypes: the mixed config's in-place jobs are LSCE_ERR_ALIAS */
    const lsce_status want = in_place && k->in_dt != k->out_dt ? LSCE_ERR_ALIAS : LSCE_OK;
    if (st != want && (j.isa == LSCE_ISA_AUTO || lsce_isa_supported(j.isa))) {
        fprintf(stderr, "test_concurrency: config %d, entry %d, variant %d: %s\n", j.config,
                (int)j.e, (int)j.isa, lsce_strerror(st));
        exit(1); /* every other job on a variant this CPU runs is a valid call */
    }
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, &st, sizeof st);
    h = hash_bytes(h, grad, grad_bytes);
    h = hash_bytes(h, row_loss, ROWS * sizeof(float));
    h = hash_bytes(h, row_lse, ROWS * sizeof(float));
    h = hash_bytes(h, &res, sizeof res);
    h = hash_bytes(h, bins, sizeof bins);
    free(grad);
    free(row_loss);
    free(row_lse);
    return h;
}

/* ---- threads ------------------------------------------------------------------------------- */

typedef struct worker {
    int id;
    int rounds;
    uint64_t hashes[ROUNDS][JOBS];
} worker;

static pthread_barrier_t start;
static atomic_int flipping; /* the flip thread runs while this is 1 */

/* Every job, rounds times, each thread starting at a different job (so the first calls differ:
 * thread 0 begins with the metadata queries, the others with computing entry points). */
static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&start);
    for (int round = 0; round < w->rounds; round++)
        for (int n = 0; n < JOBS; n++) {
            const int index = (JOBS - 1 + n + w->id * (JOBS / THREADS + 1)) % JOBS;
            w->hashes[round][index] = run_job(job_of(index));
        }
    return NULL;
}

static const char *const flip_names[] = {"scalar", "avx2", "avx512", "neon", "auto"};

static void *flip(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (unsigned n = 0; atomic_load(&flipping); n++)
        (void)lsce_set_isa(flip_names[n % 5]); /* unsupported names: LSCE_ERR_ISA, no change */
    return NULL;
}

static void run_threads(worker *workers, int rounds, int with_flip)
{
    pthread_t tid[THREADS + 1];
    if (pthread_barrier_init(&start, NULL, THREADS + (with_flip ? 1 : 0)) != 0)
        exit(2);
    atomic_store(&flipping, with_flip);
    for (int t = 0; t < THREADS; t++) {
        workers[t].id = t;
        workers[t].rounds = rounds;
        if (pthread_create(&tid[t], NULL, work, &workers[t]) != 0)
            exit(2);
    }
    if (with_flip && pthread_create(&tid[THREADS], NULL, flip, NULL) != 0)
        exit(2);
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    atomic_store(&flipping, 0);
    if (with_flip)
        pthread_join(tid[THREADS], NULL);
    pthread_barrier_destroy(&start);
}

/* ---- checking ------------------------------------------------------------------------------- */

static uint64_t serial[JOBS];

static void run_serially(void)
{
    for (int i = 0; i < JOBS; i++)
        serial[i] = run_job(job_of(i));
}

/* The concurrent hashes against the serial ones; in the flip phase an AUTO job may match the
 * same job forced to any variant. Returns the number of disagreements (each printed). */
static int compare(const char *phase, const worker *workers, int rounds, int auto_any_variant)
{
    int bad = 0;
    for (int t = 0; t < THREADS; t++)
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < JOBS; i++) {
                const uint64_t got = workers[t].hashes[round][i];
                const job j = job_of(i);
                int ok = got == serial[i];
                if (!ok && auto_any_variant && j.e != E_METADATA && j.isa == LSCE_ISA_AUTO)
                    for (int isa = LSCE_ISA_SCALAR; isa < ISAS; isa++)
                        ok |= lsce_isa_supported((lsce_isa)isa) &&
                              got == serial[i + isa * E_METADATA * CONFIGS];
                if (!ok && !(auto_any_variant && j.e == E_METADATA)) {
                    fprintf(stderr, "%s: thread %d round %d: entry %d config %d isa %s differs "
                            "from the serial call\n", phase, t, round, (int)j.e, j.config,
                            lsce_isa_to_string(j.isa));
                    bad++;
                }
            }
    return bad;
}

/* One fresh process: the race, then the serial calls, then the comparison. */
static int race_in_this_process(const char *phase, int rounds)
{
    static worker workers[THREADS];
    run_threads(workers, rounds, 0);
    run_serially();
    return compare(phase, workers, rounds, 0);
}

int main(void)
{
    /* LSCE_ISA would make the initial variant differ from what lsce_set_isa("auto") restores. */
    unsetenv("LSCE_ISA");
    make_inputs();

    int bad = 0;
    for (int child = 0; child < CHILDREN; child++) {
        const pid_t pid = fork(); /* before any library call: the child starts uninitialised */
        if (pid < 0)
            return 2;
        if (pid == 0)
            _exit(race_in_this_process("race (forked process)", 1) ? 1 : 0);
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "race in forked process %d failed (status 0x%x)\n", child, status);
            bad++;
        }
    }
    bad += race_in_this_process("race", ROUNDS);

    static worker flip_workers[THREADS];
    run_threads(flip_workers, ROUNDS, 1);
    lsce_set_isa("auto");
    bad += compare("flip", flip_workers, ROUNDS, 1);

    int supported = 0;
    for (int isa = LSCE_ISA_SCALAR; isa < ISAS; isa++)
        supported += lsce_isa_supported((lsce_isa)isa);
    printf("test_concurrency: %d threads x %d jobs (%d variants run here, %d configs, 5 entry "
           "points + metadata) x %d rounds, race in %d fresh processes, then with lsce_set_isa "
           "flipping: %d disagreements\n", THREADS, JOBS, supported, CONFIGS, ROUNDS,
           CHILDREN + 1, bad);
    return bad ? 1 : 0;
}
