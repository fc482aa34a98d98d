/*
 * The arena of the test_api error paths: every buffer of a call in one guard-filled block,
 * compared byte for byte after the call (an error must leave every output untouched).
 */
#ifndef LSCE_TESTS_API_ARENA_H
#define LSCE_TESTS_API_ARENA_H

#include <stdint.h>

#include "api_support.h"
#include "lsce.h"

enum {
    AR_FLOATS = 8192,
    AR_LOGITS = 0,      /* R rows × stride S */
    AR_GRAD = 1024,
    AR_ROW_LOSS = 2048,
    AR_ROW_LSE = 2304,
    AR_GO = 2560,
    AR_TARGETS = 3072,  /* int64 */
    AR_RESULT = 4096,   /* lsce_result */
    AR_R = 4,
    AR_V = 37,
    AR_S = 40
};

extern _Alignas(64) float arena[AR_FLOATS];
extern _Alignas(64) float arena_snapshot[AR_FLOATS];

/* Every argument of one call of an entry point. */
typedef struct args {
    entry e;
    lsce_options o;
    int64_t rows, V;
    const float *logits;
    int64_t ls;
    const int64_t *y;
    const float *go;
    float *grad; /* backward: written; fused: written */
    int64_t gs;
    float *row_loss;    /* fused, forward */
    float *row_lse;     /* fused, forward: output; backward: input */
    lsce_result *res;   /* fused, forward */
} args;

int64_t *arena_targets(void);

/* A valid call of entry e with every buffer in a freshly filled arena. */
args arena_call(entry e);

/* Calls a->e with a's arguments; _with_options passes opts (NULL included) instead of &a->o. */
lsce_status call_entry(const args *a);
lsce_status call_entry_with_options(const args *a, const lsce_options *opts);

/* The call returns `want` and leaves every byte of the arena as it was. */
void expect_status_nothing_written(const args *a, lsce_status want, const char *what);

/* Applies a change to the valid call of every entry (and every supported variant) and expects
 * `want` with nothing written. mask: the entries it applies to (1 << entry). */
typedef void (*mutator)(args *a);
void expect_rejected(unsigned mask, mutator change, lsce_status want, const char *what);

#define ALL_ENTRIES 7u
#define GRAD_ENTRIES ((1u << E_FUSED) | (1u << E_BACKWARD))
#define FWD_ENTRIES ((1u << E_FUSED) | (1u << E_FORWARD))

#endif /* LSCE_TESTS_API_ARENA_H */
