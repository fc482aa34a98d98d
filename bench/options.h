// lsce_bench's objective-option rows (issue 3): fwd_bwd with one option (or all of them) on top of
// the plain row's ε = 0.1, timed against the plain fwd_bwd row of the same variant and shape.
#ifndef LSCE_BENCH_OPTIONS_H
#define LSCE_BENCH_OPTIONS_H

#include <cstdint>
#include <string>

extern "C" {
#include "lsce.h"
}

#include "registry.h"

namespace lsce_bench {

struct OptionRow {
    const char *name; // the "opt:<name>" part of the benchmark's name
    double goal;      // the most its time ÷ the plain fwd_bwd time may be; 0: no goal
    const char *what; // the option values, for the report
};

inline constexpr OptionRow option_rows[] = {
    {"weights", 1.15, "class_weight w_c random in [0.5, 2]"},
    {"prior", 1.15, "prior u random, Σ u = 1"},
    {"row_weights", 1.15, "row_weight ρ_r random in [0.5, 2]"},
    {"z_loss", 1.15, "z_loss 1e-4"},
    {"scale", 1.15, "logit_scale 0.5"},
    {"softcap", 1.6, "softcap 30"},
    {"confidence", 1.15, "confidence_penalty 0.1"},
    {"calibration", 1.15, "calibration_bins 15"},
    {"all", 0, "all of the above at once (softcap 30 of 0.5·x)"},
};

// The shapes that get option rows (those of them the run registers; smoke mode: its tiny shape).
inline constexpr Shape option_shapes[] = {{4096, 32000}, {1024, 128256}};

bool is_option_shape(Shape s);

// Sets option `name` (option_rows) in o, which holds the plain row's options, with inputs made
// once per shape (fixed seed; the calibration bins are zeroed). False for an unknown name.
bool apply_option(lsce_options &o, const std::string &name, Shape s);

} // namespace lsce_bench

#endif // LSCE_BENCH_OPTIONS_H
