/* FOR_EACH_ISA(isa) { ... }: the body once per variant this CPU and build can run. */
#ifndef LSCE_TESTS_EACH_ISA_H
#define LSCE_TESTS_EACH_ISA_H

#include "lsce.h"

#define FOR_EACH_ISA(isa)                                                                          \
    for (lsce_isa isa = LSCE_ISA_SCALAR; isa < LSCE_ISA_COUNT_; isa = (lsce_isa)(isa + 1))         \
        if (lsce_isa_supported(isa))

#endif
