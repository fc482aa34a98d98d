/*
 * Dispatch: CPU flags → kernel tables. Each variant's table is filled once (pthread_once); the
 * default is the best the CPU runs (an early-return ladder from the widest ISA down to scalar),
 * unless LSCE_ISA or lsce_set_isa forces another.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const isa_names[LSCE_ISA_COUNT_] = {"auto", "scalar", "avx2", "avx512", "neon"};

static const lsce_kernels table_scalar = LSCE_VARIANT_TABLE(scalar);
#if defined(LSCE_HAVE_AVX2)
static const lsce_kernels table_avx2 = LSCE_VARIANT_TABLE(avx2);
#endif
#if defined(LSCE_HAVE_AVX512)
static const lsce_kernels table_avx512 = LSCE_VARIANT_TABLE(avx512);
static const lsce_kernels table_avx512bf16 = LSCE_VARIANT_TABLE(avx512bf16);
#endif
#if defined(LSCE_HAVE_NEON)
static const lsce_kernels table_neon = LSCE_VARIANT_TABLE(neon);
#endif

static const lsce_kernels *tables[LSCE_ISA_COUNT_]; /* NULL: not runnable here */
static lsce_isa best_isa;
static _Atomic int chosen_isa; /* the variant LSCE_ISA_AUTO runs */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char cpu_text[160];

static lsce_isa best_runnable(void)
{
    for (int isa = LSCE_ISA_COUNT_ - 1; isa > LSCE_ISA_SCALAR; isa--)
        if (tables[isa])
            return (lsce_isa)isa;
    return LSCE_ISA_SCALAR;
}

static lsce_isa parse_isa(const char *name)
{
    if (!name || !strcmp(name, "auto") || !*name)
        return LSCE_ISA_AUTO;
    for (int isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa++)
        if (!strcmp(name, isa_names[isa]))
            return (lsce_isa)isa;
    return LSCE_ISA_COUNT_;
}

static void init(void)
{
    const unsigned flags = lsce_cpu_flags();
    (void)flags;
    lsce_cpu_describe(cpu_text, sizeof cpu_text);
    tables[LSCE_ISA_SCALAR] = &table_scalar;
#if defined(LSCE_HAVE_AVX2)
    if (flags & LSCE_CPU_AVX2)
        tables[LSCE_ISA_AVX2] = &table_avx2;
#endif
#if defined(LSCE_HAVE_AVX512)
    if (flags & LSCE_CPU_AVX512) /* with AVX512-BF16, the same variant stores bf16 natively */
        tables[LSCE_ISA_AVX512] =
            flags & LSCE_CPU_AVX512BF16 ? &table_avx512bf16 : &table_avx512;
#endif
#if defined(LSCE_HAVE_NEON)
    if (flags & LSCE_CPU_NEON)
        tables[LSCE_ISA_NEON] = &table_neon;
#endif
    best_isa = best_runnable();
    lsce_isa start = parse_isa(getenv("LSCE_ISA"));
    if (start == LSCE_ISA_AUTO || start == LSCE_ISA_COUNT_ || !tables[start])
        start = best_isa;
    atomic_store(&chosen_isa, (int)start);
}

const lsce_kernels *lsce_kernels_get(lsce_isa isa)
{
    pthread_once(&init_once, init);
    if ((unsigned)isa >= LSCE_ISA_COUNT_)
        return NULL;
    if (isa == LSCE_ISA_AUTO)
        isa = (lsce_isa)atomic_load(&chosen_isa);
    return tables[isa];
}

int lsce_kernels_all(const lsce_kernels **out, int capacity)
{
    pthread_once(&init_once, init);
    const unsigned flags = lsce_cpu_flags();
    const lsce_kernels *all[8];
    int n = 0;
    all[n++] = &table_scalar;
    (void)flags;
#if defined(LSCE_HAVE_AVX2)
    if (flags & LSCE_CPU_AVX2)
        all[n++] = &table_avx2;
#endif
#if defined(LSCE_HAVE_AVX512)
    if (flags & LSCE_CPU_AVX512)
        all[n++] = &table_avx512;
    if ((flags & LSCE_CPU_AVX512) && (flags & LSCE_CPU_AVX512BF16))
        all[n++] = &table_avx512bf16;
#endif
#if defined(LSCE_HAVE_NEON)
    if (flags & LSCE_CPU_NEON)
        all[n++] = &table_neon;
#endif
    for (int i = 0; i < n && i < capacity; i++)
        out[i] = all[i];
    return n;
}

const char *lsce_isa_name(void)
{
    pthread_once(&init_once, init);
    return isa_names[atomic_load(&chosen_isa)];
}

lsce_status lsce_set_isa(const char *name)
{
    pthread_once(&init_once, init);
    lsce_isa isa = parse_isa(name);
    if (isa == LSCE_ISA_AUTO)
        isa = best_isa;
    if (isa == LSCE_ISA_COUNT_ || !tables[isa])
        return LSCE_ERR_ISA;
    atomic_store(&chosen_isa, (int)isa);
    return LSCE_OK;
}

int lsce_isa_supported(lsce_isa isa)
{
    return (unsigned)isa < LSCE_ISA_COUNT_ && lsce_kernels_get(isa) != NULL;
}

const char *lsce_isa_to_string(lsce_isa isa)
{
    return (unsigned)isa < LSCE_ISA_COUNT_ ? isa_names[isa] : NULL;
}

const char *lsce_cpu_features(void)
{
    pthread_once(&init_once, init);
    return cpu_text;
}
