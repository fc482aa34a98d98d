/*
 * What both library fuzz targets (fuzz_kernels, fuzz_options) share around a call: the five
 * entry points, output buffers pre-filled with a pattern, the gradient buffer of each entry
 * (its own, or a copy of the logits for in place) and the byte checks.
 */
#ifndef LSCE_FUZZ_ENTRY_POINTS_H
#define LSCE_FUZZ_ENTRY_POINTS_H

#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "lsce.h"
#include "storage.h"

/* Checking code stays out of line so that fuzz/coverage_ignore.txt, which exempts it from
 * libFuzzer's comparison tracing (most of the run time, and no guidance), applies to it. */
#define CHECKER __attribute__((noinline))
#define PATTERN 0xA5 /* every output byte holds this before a call */

typedef enum entry {
    E_FUSED,
    E_FUSED_IN_PLACE,
    E_FORWARD,
    E_BACKWARD,
    E_BACKWARD_IN_PLACE,
    E_COUNT
} entry;
static const char *const entry_names[E_COUNT] = {"fused", "fused in place", "forward", "backward",
                                                 "backward in place"};
static inline int in_place(entry e) { return e == E_FUSED_IN_PLACE || e == E_BACKWARD_IN_PLACE; }
static inline int backward(entry e) { return e == E_BACKWARD || e == E_BACKWARD_IN_PLACE; }

static inline void *pattern_bytes(size_t n)
{
    void *p = fuzz_alloc(n);
    memset(p, PATTERN, n);
    return p;
}

/* The gradient buffer of entry e (NULL for forward), pattern-filled, of stride *gs (the logits'
 * ls in place, else own_gs) and exactly *bytes long; in place it is a copy of the logits x, which
 * the call then reads from it (*x is redirected). */
static inline void *entry_grad_buffer(entry e, int64_t rows, int64_t V, int64_t ls,
                                      int64_t own_gs, lsce_dtype in_dt, lsce_dtype out_dt,
                                      const void **x, int64_t *gs, size_t *bytes)
{
    *gs = in_place(e) ? ls : own_gs;
    *bytes = 0;
    if (e == E_FORWARD)
        return NULL;
    const size_t count = rows > 0 ? (size_t)((rows - 1) * *gs + V) : 0;
    *bytes = count * dtype_size(in_place(e) ? in_dt : out_dt);
    void *grad = pattern_bytes(*bytes);
    if (in_place(e)) {
        memcpy(grad, *x, *bytes);
        *x = grad;
    }
    return grad;
}

/* Entry point e with these arguments (the ones it takes). */
static inline lsce_status call_entry(entry e, const lsce_options *o, int64_t rows, int64_t V,
                                     const void *x, int64_t ls, const int64_t *y, const float *go,
                                     const float *saved_lse, void *grad, int64_t gs,
                                     float *row_loss, float *row_lse, lsce_result *res)
{
    switch (e) {
    case E_FUSED:
    case E_FUSED_IN_PLACE:
        return lsce_forward_backward(o, rows, V, x, ls, y, go, grad, gs, row_loss, row_lse, res);
    case E_FORWARD: return lsce_forward(o, rows, V, x, ls, y, row_loss, row_lse, res);
    case E_BACKWARD:
    case E_BACKWARD_IN_PLACE: return lsce_backward(o, rows, V, x, ls, y, saved_lse, go, grad, gs);
    case E_COUNT: break;
    }
    return LSCE_ERR_NULL;
}

CHECKER static inline int is_pattern(const void *p, size_t bytes)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        if (b[i] != PATTERN)
            return 0;
    return 1;
}

CHECKER static inline int same_bytes(const void *p, const void *q, size_t n)
{
    return (!p && !q) || (p && q && !memcmp(p, q, n));
}

/* lsce.h's in place = out of place, bit for bit: the gradient rows (V elements of `size` bytes,
 * strides gs / in_place_gs) of an entry's two calls; `label` names the entry. */
CHECKER static inline void check_in_place_rows(const char *isa_name, const char *label,
                                               int64_t rows, int64_t V, size_t size,
                                               const void *grad, int64_t gs,
                                               const void *in_place_grad, int64_t in_place_gs)
{
    for (int64_t r = 0; r < rows; r++)
        if (memcmp((const char *)grad + (size_t)(r * gs) * size,
                   (const char *)in_place_grad + (size_t)(r * in_place_gs) * size,
                   (size_t)V * size))
            fuzz_fail("[%s] %s: in-place gradient row %lld differs from out of place", isa_name,
                      label, (long long)r);
}

#endif /* LSCE_FUZZ_ENTRY_POINTS_H */
