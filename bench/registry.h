// lsce_bench's registry: what was registered (bench.cc) and what the runs measured (report.cc
// records it), keyed by the benchmark's family name.
#ifndef LSCE_BENCH_REGISTRY_H
#define LSCE_BENCH_REGISTRY_H

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "half.h"
#include "lsce.h"
}

namespace lsce_bench {

enum class Kind { memcpy_, fwd_bwd, fwd };

struct Shape {
    int64_t rows, vocab;
};

// Storage of logits → gradient. "f32" is the default pair; the others are issue 4's.
struct Dtypes {
    const char *name; // "f32", "bf16", "f16", "bf16-f32"
    lsce_dtype logits, grad;
    int64_t bytes_per_element() const // logits read + gradient written
    {
        return static_cast<int64_t>(lsce_dtype_size(logits) + lsce_dtype_size(grad));
    }
};
inline const Dtypes f32_pair = {"f32", LSCE_DTYPE_F32, LSCE_DTYPE_F32};
inline const Dtypes half_pairs[] = {{"bf16", LSCE_DTYPE_BF16, LSCE_DTYPE_BF16},
                                    {"f16", LSCE_DTYPE_F16, LSCE_DTYPE_F16},
                                    {"bf16-f32", LSCE_DTYPE_BF16, LSCE_DTYPE_F32}};

struct Meta {
    Kind kind;
    std::string variant; // "scalar", "avx2", "avx512", "avx512_sleef"; "memcpy" for memcpy
    Shape shape;
    Dtypes dtypes;
    std::string opt; // fwd_bwd with an objective option (options.h): its name; else empty
};

struct Sample {
    double real_ms = 0, bytes_per_second = 0, items_per_second = 0;
    double cpu_ms = 0; // this thread's CPU time: well below real_ms when the machine was busy
};

struct Measured {
    std::vector<Sample> iterations; // one per repetition
    bool have_median = false;       // a "median" aggregate (--benchmark_repetitions > 1)
    Sample median;
};

extern std::vector<std::string> registered;      // family names, registration order
extern std::map<std::string, Meta> metas;        // family name → what it measures
extern std::map<std::string, Measured> measured; // family name → results
extern std::vector<Shape> shapes;                // registration order
extern std::vector<std::string> variants;        // "scalar", ..., in registration order

// Per-call checks: the reduced loss of each benchmark (and, in smoke mode, its gradient).
struct Check {
    double loss = NAN;
    int64_t n_correct = -1;
    std::vector<float> grad;
    const char *error = nullptr; // lsce_strerror of a failed call (the benchmark stopped)
};
extern std::map<std::string, Check> checks; // family name → last call's outputs

// A benchmark's name: memcpy/rows:N/vocab:V/threads:1 (memcpy/dtype:<d>/... for a 16-bit pair),
// fwd_bwd/isa:<variant>/dtype:<d>/rows:N/vocab:V/threads:1, fwd/isa:<variant>/dtype:<d>/...;
// with an objective option (fwd_bwd only) fwd_bwd/isa:<variant>/dtype:<d>/opt:<opt>/rows:N/....
std::string family_name(Kind kind, const std::string &variant, Shape s,
                        const Dtypes &d = f32_pair, const std::string &opt = {});

} // namespace lsce_bench

#endif // LSCE_BENCH_REGISTRY_H
