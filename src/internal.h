/* Internal interfaces shared by the driver, the dispatcher, the tests and the benchmark. */
#ifndef LSCE_INTERNAL_H
#define LSCE_INTERNAL_H

#include "lsce.h"
#include "kernels.h"

/* CPU feature bits found at run time (src/x86/cpu.c, src/arm/cpu.c, or none). */
enum {
    LSCE_CPU_AVX2 = 1u << 0, /* AVX2 + FMA + F16C + OS-saved YMM state */
    LSCE_CPU_AVX512 = 1u << 1, /* AVX-512 F/BW/DQ/VL + OS-saved ZMM/opmask state */
    LSCE_CPU_AVX512BF16 = 1u << 2,
    LSCE_CPU_F16C = 1u << 3,
    LSCE_CPU_NEON = 1u << 4
};
unsigned lsce_cpu_flags(void);
/* Writes a space-separated feature list into buf (always NUL-terminated). */
void lsce_cpu_describe(char *buf, size_t size);

/* The kernel table of a variant, or NULL when this CPU or build cannot run it. LSCE_ISA_AUTO
 * gives the table chosen by lsce_set_isa / LSCE_ISA / the CPU. */
const lsce_kernels *lsce_kernels_get(lsce_isa isa);

/* Every kernel table this CPU runs, the dispatched ones and their alternatives (AVX-512 with and
 * without native bf16 stores), for the tests; returns how many (at most `capacity` written). */
int lsce_kernels_all(const lsce_kernels **out, int capacity);

/* The entry points with an explicit kernel table (the public ones resolve opts->isa first); the
 * benchmark uses them to run a table the library does not dispatch to (the SLEEF-exp variant). */
lsce_status lsce_forward_backward_with(const lsce_kernels *k, const lsce_options *opts,
                                       int64_t rows, int64_t vocab, const void *logits,
                                       int64_t logits_stride, const int64_t *targets,
                                       const float *grad_output, void *grad, int64_t grad_stride,
                                       float *row_loss, float *row_lse, lsce_result *result);

#endif /* LSCE_INTERNAL_H */
