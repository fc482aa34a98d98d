/* AArch64 CPU detection. AdvSIMD (NEON) is part of the base ISA, so the NEON variant runs on
 * every aarch64 CPU. The optional features (fp16 / bf16 arithmetic, dot products, SVE) come from
 * the kernel's HWCAP words, the interface Linux guarantees to user space; `lsce info` lists them,
 * and future fp16 / bf16 / SVE kernels must be gated on them. */
#include <stdio.h>
#include <sys/auxv.h> /* getauxval; with glibc also the HWCAP_* / HWCAP2_* bits (bits/hwcap.h) */

#include "../internal.h"

unsigned lsce_cpu_flags(void)
{
    /* Baseline: nothing to check (HWCAP_ASIMD is set on every Linux aarch64 system). */
    return LSCE_CPU_NEON;
}

void lsce_cpu_describe(char *buf, size_t size)
{
    const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
    snprintf(buf, size, "aarch64%s%s%s%s%s%s%s", hwcap & HWCAP_ASIMD ? " asimd" : "",
             hwcap & HWCAP_ASIMDHP ? " asimdhp" : "", hwcap & HWCAP_ASIMDDP ? " asimddp" : "",
             hwcap2 & HWCAP2_I8MM ? " i8mm" : "", hwcap2 & HWCAP2_BF16 ? " bf16" : "",
             hwcap & HWCAP_SVE ? " sve" : "", hwcap2 & HWCAP2_SVE2 ? " sve2" : "");
}
