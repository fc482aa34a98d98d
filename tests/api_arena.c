/*
 * The guard-byte arena of the test_api error paths (tests/api_arena.h).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "api_arena.h"
#include "api_support.h"
#include "lsce.h"
#include "oracle.h"

_Alignas(64) float arena[AR_FLOATS];
_Alignas(64) float arena_snapshot[AR_FLOATS];

int64_t *arena_targets(void) { return (int64_t *)(void *)(arena + AR_TARGETS); }

args arena_call(entry e)
{
    test_rng rng;
    rng_init(&rng, test_seed(), test_hash("arena"));
    memset(arena, 0xA5, sizeof arena);
    for (int i = 0; i < AR_R * AR_S; i++)
        arena[AR_LOGITS + i] = (float)(2.0 * rng_normal(&rng));
    for (int r = 0; r < AR_R; r++) {
        arena_targets()[r] = r == 1 ? -100 : rng_range(&rng, 0, AR_V);
        arena[AR_GO + r] = 1.5f;
        arena[AR_ROW_LSE + r] = 4.0f; /* backward input */
    }
    args a;
    memset(&a, 0, sizeof a);
    a.e = e;
    lsce_options_default(&a.o);
    a.o.smoothing = 0.1;
    a.rows = AR_R;
    a.V = AR_V;
    a.logits = arena + AR_LOGITS;
    a.ls = AR_S;
    a.y = arena_targets();
    a.go = arena + AR_GO;
    a.grad = arena + AR_GRAD;
    a.gs = AR_S;
    a.row_loss = arena + AR_ROW_LOSS;
    a.row_lse = arena + AR_ROW_LSE;
    a.res = (lsce_result *)(void *)(arena + AR_RESULT);
    return a;
}

lsce_status call_entry_with_options(const args *a, const lsce_options *opts)
{
    switch (a->e) {
    case E_FUSED:
        return lsce_forward_backward(opts, a->rows, a->V, a->logits, a->ls, a->y, a->go, a->grad,
                                     a->gs, a->row_loss, a->row_lse, a->res);
    case E_FORWARD:
        return lsce_forward(opts, a->rows, a->V, a->logits, a->ls, a->y, a->row_loss, a->row_lse,
                            a->res);
    default:
        return lsce_backward(opts, a->rows, a->V, a->logits, a->ls, a->y, a->row_lse, a->go,
                             a->grad, a->gs);
    }
}

lsce_status call_entry(const args *a) { return call_entry_with_options(a, &a->o); }

void expect_status_nothing_written(const args *a, lsce_status want, const char *what)
{
    memcpy(arena_snapshot, arena, sizeof arena);
    const lsce_status st = call_entry(a);
    cr_expect_eq(st, want, "%s [%s, isa %d]: status %d (%s), want %d (%s)", what,
                 entry_names[a->e], (int)a->o.isa, (int)st, lsce_strerror(st), (int)want,
                 lsce_strerror(want));
    size_t first = sizeof arena;
    for (size_t i = 0; i < sizeof arena; i++)
        if (((unsigned char *)arena)[i] != ((unsigned char *)arena_snapshot)[i]) {
            first = i;
            break;
        }
    cr_expect(first == sizeof arena, "%s [%s]: an error call wrote to the arena at float %zu",
              what, entry_names[a->e], first / sizeof(float));
    memcpy(arena, arena_snapshot, sizeof arena);
}

void expect_rejected(unsigned mask, mutator change, lsce_status want, const char *what)
{
    FOR_EACH_ISA(isa) {
        for (int e = 0; e < E_COUNT; e++) {
            if (!(mask & (1u << e)))
                continue;
            args a = arena_call((entry)e);
            a.o.isa = isa;
            change(&a);
            expect_status_nothing_written(&a, want, what);
        }
    }
}
