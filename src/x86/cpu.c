/* x86 CPU detection: CPUID for the instructions, XGETBV for the OS saving their register state. */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"

static unsigned long long read_xcr0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

unsigned lsce_cpu_flags(void)
{
    unsigned eax, ebx, ecx, edx, flags = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    const int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    const int f16c = (ecx >> 29) & 1;
    if (!osxsave || !avx)
        return 0;
    const unsigned long long xcr0 = read_xcr0();
    const int ymm_saved = (xcr0 & 0x6) == 0x6;          /* XMM and YMM state */
    const int zmm_saved = (xcr0 & 0xe6) == 0xe6;        /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_saved)
        return 0;
    if (f16c)
        flags |= LSCE_CPU_F16C;
    if (__get_cpuid_max(0, NULL) < 7)
        return flags;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const unsigned max_subleaf = eax;
    const int avx2 = (ebx >> 5) & 1;
    const int avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1;
    const int avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
    if (avx2 && fma && f16c) /* every AVX2 CPU has F16C; the variant converts fp16 with it */
        flags |= LSCE_CPU_AVX2;
    if ((flags & LSCE_CPU_AVX2) && zmm_saved && avx512f && avx512dq && avx512bw && avx512vl) {
        flags |= LSCE_CPU_AVX512;
        if (max_subleaf >= 1) {
            __cpuid_count(7, 1, eax, ebx, ecx, edx);
            if ((eax >> 5) & 1)
                flags |= LSCE_CPU_AVX512BF16;
        }
    }
    return flags;
}

void lsce_cpu_describe(char *buf, size_t size)
{
    const unsigned f = lsce_cpu_flags();
    snprintf(buf, size, "x86_64%s%s%s%s", f & LSCE_CPU_F16C ? " f16c" : "",
             f & LSCE_CPU_AVX2 ? " avx2 fma" : "",
             f & LSCE_CPU_AVX512 ? " avx512f avx512dq avx512bw avx512vl" : "",
             f & LSCE_CPU_AVX512BF16 ? " avx512bf16" : "");
}
