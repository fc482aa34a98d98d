/* CPU detection for architectures with only the scalar variant. */
#include <stdio.h>

#include "internal.h"

unsigned lsce_cpu_flags(void) { return 0; }

void lsce_cpu_describe(char *buf, size_t size) { snprintf(buf, size, "generic"); }
