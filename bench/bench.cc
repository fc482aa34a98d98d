// lsce_bench: Google Benchmark of the fused loss + gradient against memcpy of the same bytes.
//
// Benchmarks (registered at run time, in shape order, one shape's buffers alive at a time):
//   memcpy/rows:N/vocab:V/threads:1                   copy N×V floats logits → grad
//   fwd_bwd/isa:<isa>/dtype:f32/rows:N/vocab:V/threads:1   lsce_forward_backward (out of place)
//   fwd/isa:<isa>/dtype:f32/rows:N/vocab:V/threads:1       lsce_forward (row_lse saved)
//   fwd_bwd/isa:avx512_sleef/...                      the AVX-512 sweeps with SLEEF's expf
//   fwd_bwd/isa:<isa>/dtype:f32/opt:<opt>/rows:N/vocab:V/threads:1   with an objective option
//       (options.h: weights, prior, row_weights, z_loss, scale, softcap, confidence, calibration,
//       all), for the SIMD variants the library dispatches to, at 4096×32000 and 1024×128256
// The last shape, 4×32000 (512 KB of logits, as much gradient and the scratch row: all in L2 on
// the machines we measure), is the compute ceiling: no DRAM traffic, so its items/s is what the
// arithmetic alone allows, to hold against a DRAM shape's memcpy items/s (its own memcpy is an
// L2 copy, and its "/ memcpy" no DRAM ratio). Not in --quick.
// bytes_per_second counts logits read + gradient written (8 B/element; 4 B for fwd),
// items_per_second counts elements. Wall-clock time (UseRealTime), unit ms. The reporter drops
// the "/real_time" and "/iterations:1" suffixes Google Benchmark appends, so the names printed are
// exactly the ones above (--benchmark_filter still sees the suffixes).
//
// After the runs ratio tables (Markdown, for the README) are printed: fwd_bwd bytes/s ÷ memcpy
// bytes/s and SIMD items/s ÷ scalar items/s; each option row's time ÷ the plain fwd_bwd time of
// its variant and shape, next to its goal; for whatever ran (--benchmark_filter applies).
//
// Own flags (taken out of argv before benchmark::Initialize):
//   --quick  (or LSCE_BENCH_QUICK=1)  only the 4096×32000 shape (option rows included)
//   --smoke  (or LSCE_BENCH_SMOKE=1)  one tiny shape (8×1000), every benchmark once (option rows
//                                      with scalar ones as their reference), and every variant's
//                                      loss and gradient checked against scalar
// Every mode checks that all variants agree with the scalar loss (when scalar ran); a mismatch, or
// a call that fails (the benchmark stops with the error), makes the exit status 1.
//
// This file: the inputs, the benchmarks, their registration and main; registry.h: what was
// registered and measured; report.h: the reporter, the ratio tables and the check.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "half.h"
#include "internal.h"
#include "kernels.h"
#if defined(LSCE_BENCH_SLEEF)
LSCE_DECLARE_VARIANT(avx512_sleef);
#endif
}

#include "options.h"
#include "registry.h"
#include "report.h"

namespace lsce_bench {
namespace {

#if defined(LSCE_BENCH_SLEEF)
const lsce_kernels sleef_table = LSCE_VARIANT_TABLE(avx512_sleef);
#endif

// ---------------------------------------------------------------------------------------------
// Inputs: one shape at a time, generated once (fixed seed) and reused by every benchmark of it.

struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
};
template <typename T> using AlignedBuf = std::unique_ptr<T[], FreeDeleter>;

// 64-byte aligned, as a framework's tensors are (a std::vector's data sits 16 bytes into a page,
// which splits every other 32-byte load of 16-bit logits across two cache lines).
template <typename T> AlignedBuf<T> alloc_aligned(size_t n)
{
    const size_t bytes = (n * sizeof(T) + 63) & ~size_t{63};
    void *p = std::aligned_alloc(64, bytes);
    if (!p) {
        std::fprintf(stderr, "lsce_bench: cannot allocate %zu bytes\n", bytes);
        std::exit(2);
    }
    return AlignedBuf<T>(static_cast<T *>(p));
}

uint64_t splitmix64(uint64_t &s)
{
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct Workspace {
    int64_t rows = 0, vocab = 0;
    AlignedBuf<float> logits, grad; // grad: 4 B/element, room for every gradient dtype
    AlignedBuf<uint16_t> logits_bf16, logits_f16; // the logits rounded (nearest even), made on use
    std::vector<int64_t> targets;
    std::vector<float> row_lse;

    void ensure(int64_t n, int64_t v)
    {
        if (n == rows && v == vocab)
            return;
        logits.reset();
        grad.reset();
        logits_bf16.reset();
        logits_f16.reset();
        const size_t count = static_cast<size_t>(n) * static_cast<size_t>(v);
        logits = alloc_aligned<float>(count);
        grad = alloc_aligned<float>(count);
        // Normal-ish ×2: Irwin–Hall sum of four 16-bit uniforms (variance 1/3), scaled to σ = 2.
        uint64_t seed = 0x1234abcdull ^ (static_cast<uint64_t>(n) << 32) ^ static_cast<uint64_t>(v);
        const float scale = 2.0f * std::sqrt(3.0f) / 65536.0f;
        for (size_t i = 0; i < count; i++) {
            const uint64_t r = splitmix64(seed);
            const float s = static_cast<float>((r & 0xffff) + ((r >> 16) & 0xffff) +
                                               ((r >> 32) & 0xffff) + (r >> 48)) +
                            2.0f - 131072.0f;
            logits[i] = s * scale;
        }
        std::memset(grad.get(), 0, count * sizeof(float)); // first touch outside the timing
        targets.resize(static_cast<size_t>(n));
        for (auto &t : targets) {
            const uint64_t r = splitmix64(seed);
            t = (r >> 32) % 10 == 0 ? -100 : static_cast<int64_t>((r & 0xffffffffull) %
                                                                  static_cast<uint64_t>(v));
        }
        row_lse.assign(static_cast<size_t>(n), 0.0f);
        rows = n;
        vocab = v;
    }

    // The logits stored as dtype (converted once per shape, outside the timing).
    const void *logits_as(lsce_dtype dtype)
    {
        if (dtype == LSCE_DTYPE_F32)
            return logits.get();
        AlignedBuf<uint16_t> &half = dtype == LSCE_DTYPE_BF16 ? logits_bf16 : logits_f16;
        if (!half) {
            const size_t count = static_cast<size_t>(rows * vocab);
            half = alloc_aligned<uint16_t>(count);
            for (size_t i = 0; i < count; i++)
                lsce_store_from_f32(half.get(), dtype, static_cast<int64_t>(i), logits[i]);
        }
        return half.get();
    }
};

Workspace &workspace()
{
    static Workspace w;
    return w;
}

// ---------------------------------------------------------------------------------------------
// The benchmarks.

lsce_options bench_options(lsce_isa isa)
{
    lsce_options o;
    lsce_options_default(&o);
    o.smoothing = 0.1;
    o.convention = LSCE_CONV_UNIFORM;
    o.reduction = LSCE_REDUCTION_MEAN;
    o.isa = isa;
    return o;
}

void set_throughput(benchmark::State &st, Shape s, int64_t bytes_per_element)
{
    const int64_t elements = s.rows * s.vocab;
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * elements * bytes_per_element);
    st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * elements);
}

// A copy moving the bytes the kernel moves: half of them read, half written.
void bench_memcpy(benchmark::State &st, Shape s, Dtypes d)
{
    Workspace &w = workspace();
    w.ensure(s.rows, s.vocab);
    const size_t bytes = static_cast<size_t>(s.rows * s.vocab * d.bytes_per_element() / 2);
    for (auto _ : st) {
        std::memcpy(w.grad.get(), w.logits.get(), bytes);
        benchmark::DoNotOptimize(w.grad.get());
        benchmark::ClobberMemory();
    }
    set_throughput(st, s, d.bytes_per_element());
}

// table: NULL for a variant the library dispatches to (public entry points with opts.isa).
// opt: an objective option (options.h) added to the plain options, or empty.
void bench_fwd_bwd(benchmark::State &st, std::string family, lsce_isa isa,
                   const lsce_kernels *table, Shape s, Dtypes d, bool keep_grad,
                   const std::string &opt = {})
{
    Workspace &w = workspace();
    w.ensure(s.rows, s.vocab);
    lsce_options o = bench_options(isa);
    o.logits_dtype = d.logits;
    o.grad_dtype = d.grad;
    Check &c = checks[family];
    c.error = nullptr;
    if (!opt.empty() && !apply_option(o, opt, s)) {
        st.SkipWithError(c.error = "unknown option row");
        return;
    }
    const void *logits = w.logits_as(d.logits);
    lsce_result res{};
    for (auto _ : st) {
        const lsce_status status =
            table ? lsce_forward_backward_with(table, &o, s.rows, s.vocab, logits, s.vocab,
                                               w.targets.data(), nullptr, w.grad.get(), s.vocab,
                                               nullptr, nullptr, &res)
                  : lsce_forward_backward(&o, s.rows, s.vocab, logits, s.vocab,
                                          w.targets.data(), nullptr, w.grad.get(), s.vocab,
                                          nullptr, nullptr, &res);
        if (status != LSCE_OK) {
            st.SkipWithError(lsce_strerror(status));
            c.error = lsce_strerror(status);
            break;
        }
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    set_throughput(st, s, d.bytes_per_element());
    c.loss = res.loss;
    c.n_correct = res.n_correct;
    if (keep_grad) { // upcast exactly, whatever the gradient dtype
        c.grad.resize(static_cast<size_t>(s.rows * s.vocab));
        for (int64_t i = 0; i < s.rows * s.vocab; i++)
            c.grad[static_cast<size_t>(i)] = lsce_load_as_f32(w.grad.get(), d.grad, i);
    }
}

void bench_fwd(benchmark::State &st, std::string family, lsce_isa isa, Shape s)
{
    Workspace &w = workspace();
    w.ensure(s.rows, s.vocab);
    const lsce_options o = bench_options(isa);
    lsce_result res{};
    Check &c = checks[family];
    c.error = nullptr;
    for (auto _ : st) {
        const lsce_status status = lsce_forward(&o, s.rows, s.vocab, w.logits.get(), s.vocab,
                                                w.targets.data(), nullptr, w.row_lse.data(), &res);
        if (status != LSCE_OK) {
            st.SkipWithError(lsce_strerror(status));
            c.error = lsce_strerror(status);
            break;
        }
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    set_throughput(st, s, 4);
    c.loss = res.loss;
    c.n_correct = res.n_correct;
}

template <class Fn>
void add(Kind kind, const std::string &variant, Shape s, bool once, Fn fn,
         const Dtypes &d = f32_pair, const std::string &opt = {})
{
    const std::string name = family_name(kind, variant, s, d, opt);
    auto *b = benchmark::RegisterBenchmark(name.c_str(), fn);
    b->Unit(benchmark::kMillisecond)->UseRealTime();
    if (once)
        b->Iterations(1);
    registered.push_back(name);
    metas[name] = Meta{kind, variant, s, d, opt};
}

// The L2-resident shape (see the header): what the arithmetic alone costs.
constexpr Shape hot_shape{4, 32000};
bool is_hot(Shape s) { return s.rows == hot_shape.rows && s.vocab == hot_shape.vocab; }

void register_all(const std::vector<Shape> &shape_list, bool smoke)
{
    struct V {
        std::string name;
        lsce_isa isa;
        const lsce_kernels *table;
    };
    std::vector<V> vs;
    for (int i = LSCE_ISA_SCALAR; i < LSCE_ISA_COUNT_; i++) {
        const lsce_isa isa = static_cast<lsce_isa>(i);
        if (lsce_isa_supported(isa))
            vs.push_back({lsce_isa_to_string(isa), isa, nullptr});
    }
#if defined(LSCE_BENCH_SLEEF)
    if (lsce_isa_supported(LSCE_ISA_AVX512))
        vs.push_back({"avx512_sleef", LSCE_ISA_AVX512, &sleef_table});
#endif
    for (const V &v : vs)
        variants.push_back(v.name);

    for (const Shape s : shape_list) {
        shapes.push_back(s);
        add(Kind::memcpy_, "memcpy", s, smoke,
            [s](benchmark::State &st) { bench_memcpy(st, s, f32_pair); });
        for (const V &v : vs) {
            // The scalar reference takes ~1 s per 4096×32000 call: one timed call is enough.
            const bool once = smoke || (v.isa == LSCE_ISA_SCALAR && !v.table && !is_hot(s));
            const std::string fam = family_name(Kind::fwd_bwd, v.name, s);
            add(Kind::fwd_bwd, v.name, s, once, [=](benchmark::State &st) {
                bench_fwd_bwd(st, fam, v.isa, v.table, s, f32_pair, smoke);
            });
        }
        // Objective options (issue 3), fp32, right after their plain rows: the library's own SIMD
        // variants at the option shapes (smoke mode: its shape, and scalar too, as the reference
        // of the checks).
        for (const V &v : vs) {
            if (v.table || (v.isa == LSCE_ISA_SCALAR && !smoke) || (!smoke && !is_option_shape(s)))
                continue;
            for (const OptionRow &opt : option_rows) {
                const std::string name = opt.name;
                const std::string fam = family_name(Kind::fwd_bwd, v.name, s, f32_pair, name);
                add(Kind::fwd_bwd, v.name, s, smoke, [=](benchmark::State &st) {
                    bench_fwd_bwd(st, fam, v.isa, nullptr, s, f32_pair, smoke, name);
                }, f32_pair, name);
            }
        }
        // 16-bit storage (issue 4): the library's own SIMD variants (scalar only in smoke mode,
        // as the reference of the checks), each against a copy of the same bytes.
        for (const Dtypes &d : half_pairs) {
            add(Kind::memcpy_, "memcpy", s, smoke,
                [s, d](benchmark::State &st) { bench_memcpy(st, s, d); }, d);
            for (const V &v : vs) {
                if (v.table || (v.isa == LSCE_ISA_SCALAR && !smoke))
                    continue;
                const std::string fam = family_name(Kind::fwd_bwd, v.name, s, d);
                add(Kind::fwd_bwd, v.name, s, smoke, [=](benchmark::State &st) {
                    bench_fwd_bwd(st, fam, v.isa, nullptr, s, d, smoke);
                }, d);
            }
        }
        for (const V &v : vs) {
            if (v.table) // forward has no explicit-table entry point: the SLEEF variant is fused only
                continue;
            const bool once = smoke || (v.isa == LSCE_ISA_SCALAR && !is_hot(s));
            const std::string fam = family_name(Kind::fwd, v.name, s);
            add(Kind::fwd, v.name, s, once,
                [=](benchmark::State &st) { bench_fwd(st, fam, v.isa, s); });
        }
    }
}

bool env_on(const char *name)
{
    const char *v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
}

// The value of a Google Benchmark flag --name=value in argv (left in place for Initialize).
std::string flag_value(int argc, char **argv, const char *name)
{
    const std::string prefix = std::string("--") + name + "=";
    std::string value;
    for (int i = 1; i < argc; i++)
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0)
            value = argv[i] + prefix.size();
    return value;
}

} // namespace
} // namespace lsce_bench


int main(int argc, char **argv)
{
    using namespace lsce_bench;
    bool quick = env_on("LSCE_BENCH_QUICK"), smoke = env_on("LSCE_BENCH_SMOKE");
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (std::strcmp(argv[i], "--smoke") == 0)
            smoke = true;
        else
            argv[kept++] = argv[i];
    }
    argc = kept;
    argv[argc] = nullptr;

    const std::string format = flag_value(argc, argv, "benchmark_format");
    const std::string out_file = flag_value(argc, argv, "benchmark_out");
    std::string out_format = flag_value(argc, argv, "benchmark_out_format");
    const std::string color = flag_value(argc, argv, "benchmark_color");

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;

    static const Shape full[] = {{4096, 32000}, {2048, 50257}, {1024, 128256}, {512, 262144},
                                 hot_shape};
    static const Shape tiny[] = {{8, 1000}};
    const Shape *first = smoke ? tiny : full;
    const size_t count = smoke || quick ? 1 : sizeof full / sizeof full[0];
    register_all(std::vector<Shape>(first, first + count), smoke);

    const bool console = format.empty() || format == "console";
    FILE *info = console ? stdout : stderr;
    std::fprintf(info, "lsce %s, cpu features: %s, auto variant: %s%s\n", lsce_version(),
                 lsce_cpu_features(), lsce_isa_name(),
                 smoke ? " (smoke mode)" : quick ? " (quick mode)" : "");
    std::fflush(info);

    const bool use_color = color == "true" || color == "yes" || color == "1" ||
                           ((color.empty() || color == "auto") && isatty(STDOUT_FILENO));
    auto display = make_reporter(format, true, use_color);
    std::unique_ptr<benchmark::BenchmarkReporter> file;
    if (!out_file.empty())
        file = make_reporter(out_format.empty() ? "json" : out_format, false, false);
    benchmark::RunSpecifiedBenchmarks(display.get(), file.get());
    benchmark::Shutdown();

    print_ratios(info);
    print_dtype_ratios(info);
    print_option_ratios(info);
    return check_results(info);
}
