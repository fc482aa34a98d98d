/*
 * The environment variable LSCE_ISA sets the initial variant (lsce.h). Run by meson with
 * LSCE_ISA set; argv[1] is the variant expected to run: a name, used when this CPU supports it,
 * or "best" (an unusable LSCE_ISA value is ignored: the best variant runs). Also checks that
 * LSCE_ISA_AUTO calls then run that variant (bit-identical to naming it explicitly).
 * Plain C (no Criterion): exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsce.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: LSCE_ISA=<name> %s <expected name | best>\n", argv[0]);
        return 2;
    }
    const char *env = getenv("LSCE_ISA");
    const char *initial = lsce_isa_name(); /* the first call: reads LSCE_ISA */
    lsce_isa initial_isa = LSCE_ISA_COUNT_;
    for (int i = LSCE_ISA_SCALAR; i < LSCE_ISA_COUNT_; i++)
        if (!strcmp(initial, lsce_isa_to_string((lsce_isa)i)))
            initial_isa = (lsce_isa)i;

    /* AUTO runs the initial variant: same bits as naming it. */
    enum { R = 3, V = 61 };
    static float x[R * V], g_auto[R * V], g_named[R * V];
    const int64_t y[R] = {3, 60, 17};
    for (int i = 0; i < R * V; i++)
        x[i] = (float)((i * 7919 % 1013) / 97.0 - 5.0);
    lsce_options o;
    lsce_options_default(&o);
    o.smoothing = 0.1;
    lsce_result ra, rn;
    int ok = initial_isa != LSCE_ISA_COUNT_ && lsce_isa_supported(initial_isa);
    ok = ok && !lsce_forward_backward(&o, R, V, x, V, y, NULL, g_auto, V, NULL, NULL, &ra);
    o.isa = initial_isa;
    ok = ok && !lsce_forward_backward(&o, R, V, x, V, y, NULL, g_named, V, NULL, NULL, &rn);
    ok = ok && !memcmp(g_auto, g_named, sizeof g_auto) && ra.loss == rn.loss;

    /* The expected variant: argv[1] when supported, else the best (lsce_set_isa("auto")). */
    const char *expected = argv[1];
    int named_supported = 0;
    for (int i = LSCE_ISA_SCALAR; i < LSCE_ISA_COUNT_; i++)
        if (!strcmp(expected, lsce_isa_to_string((lsce_isa)i)))
            named_supported = lsce_isa_supported((lsce_isa)i);
    if (lsce_set_isa("auto") != LSCE_OK)
        ok = 0;
    const char *best = lsce_isa_name();
    if (!named_supported)
        expected = best;

    ok = ok && !strcmp(initial, expected);
    printf("LSCE_ISA=%s: initial variant %s, expected %s (best %s): %s\n", env ? env : "(unset)",
           initial, expected, best, ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
