// lsce_bench: Google Benchmark of the fused loss + gradient against memcpy of the same bytes.
//
// Benchmarks (registered at run time, in shape order, one shape's buffers alive at a time):
//   memcpy/rows:N/vocab:V/threads:1                   copy N×V floats logits → grad
//   fwd_bwd/isa:<isa>/dtype:f32/rows:N/vocab:V/threads:1   lsce_forward_backward (out of place)
//   fwd/isa:<isa>/dtype:f32/rows:N/vocab:V/threads:1       lsce_forward (row_lse saved)
//   fwd_bwd/isa:avx512_sleef/...                      the AVX-512 sweeps with SLEEF's expf
// bytes_per_second counts logits read + gradient written (8 B/element; 4 B for fwd),
// items_per_second counts elements. Wall-clock time (UseRealTime), unit ms. The reporter drops
// the "/real_time" and "/iterations:1" suffixes Google Benchmark appends, so the names printed are
// exactly the ones above (--benchmark_filter still sees the suffixes).
//
// After the runs a ratio table (Markdown, for the README) is printed: fwd_bwd bytes/s ÷ memcpy
// bytes/s and SIMD items/s ÷ scalar items/s, for whatever ran (--benchmark_filter applies).
//
// Own flags (taken out of argv before benchmark::Initialize):
//   --quick  (or LSCE_BENCH_QUICK=1)  only the 4096×32000 shape
//   --smoke  (or LSCE_BENCH_SMOKE=1)  one tiny shape (8×1000), every benchmark once, and every
//                                      variant's loss and gradient checked against scalar
// Every mode checks that all variants agree with the scalar loss (when scalar ran); a mismatch
// makes the exit status 1.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
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

namespace {

#if defined(LSCE_BENCH_SLEEF)
const lsce_kernels sleef_table = LSCE_VARIANT_TABLE(avx512_sleef);
#endif

// ---------------------------------------------------------------------------------------------
// Inputs: one shape at a time, generated once (fixed seed) and reused by every benchmark of it.

struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
};
using FloatBuf = std::unique_ptr<float[], FreeDeleter>;

FloatBuf alloc_floats(size_t n)
{
    const size_t bytes = (n * sizeof(float) + 63) & ~size_t{63};
    void *p = std::aligned_alloc(64, bytes);
    if (!p) {
        std::fprintf(stderr, "lsce_bench: cannot allocate %zu bytes\n", bytes);
        std::exit(2);
    }
    return FloatBuf(static_cast<float *>(p));
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
    FloatBuf logits, grad; // grad: 4 B/element, room for every gradient dtype
    std::vector<uint16_t> logits_bf16, logits_f16; // the logits rounded (nearest even), made on use
    std::vector<int64_t> targets;
    std::vector<float> row_lse;

    void ensure(int64_t n, int64_t v)
    {
        if (n == rows && v == vocab)
            return;
        logits.reset();
        grad.reset();
        logits_bf16.clear();
        logits_f16.clear();
        const size_t count = static_cast<size_t>(n) * static_cast<size_t>(v);
        logits = alloc_floats(count);
        grad = alloc_floats(count);
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
        std::vector<uint16_t> &half = dtype == LSCE_DTYPE_BF16 ? logits_bf16 : logits_f16;
        if (half.empty()) {
            half.resize(static_cast<size_t>(rows * vocab));
            for (size_t i = 0; i < half.size(); i++)
                lsce_store_from_f32(half.data(), dtype, static_cast<int64_t>(i), logits[i]);
        }
        return half.data();
    }
};

Workspace &workspace()
{
    static Workspace w;
    return w;
}

// ---------------------------------------------------------------------------------------------
// What was registered, and what the runs measured.

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
const Dtypes f32_pair = {"f32", LSCE_DTYPE_F32, LSCE_DTYPE_F32};
const Dtypes half_pairs[] = {{"bf16", LSCE_DTYPE_BF16, LSCE_DTYPE_BF16},
                             {"f16", LSCE_DTYPE_F16, LSCE_DTYPE_F16},
                             {"bf16-f32", LSCE_DTYPE_BF16, LSCE_DTYPE_F32}};

struct Meta {
    Kind kind;
    std::string variant; // "scalar", "avx2", "avx512", "avx512_sleef"; "memcpy" for memcpy
    Shape shape;
    Dtypes dtypes;
};

struct Sample {
    double real_ms = 0, bytes_per_second = 0, items_per_second = 0;
};

struct Measured {
    std::vector<Sample> iterations; // one per repetition
    bool have_median = false;       // a "median" aggregate (--benchmark_repetitions > 1)
    Sample median;
};

std::vector<std::string> registered;         // family names, registration order
std::map<std::string, Meta> metas;           // family name → what it measures
std::map<std::string, Measured> measured;    // family name → results
std::vector<Shape> shapes;                   // registration order
std::vector<std::string> variants;           // "scalar", ..., in registration order

// Per-call checks: the reduced loss of each benchmark (and, in smoke mode, its gradient).
struct Check {
    double loss = NAN;
    int64_t n_correct = -1;
    std::vector<float> grad;
};
std::map<std::string, Check> checks; // family name → last call's outputs

std::string family_name(Kind kind, const std::string &variant, Shape s,
                        const Dtypes &d = f32_pair)
{
    const std::string shape = "rows:" + std::to_string(s.rows) + "/vocab:" +
                              std::to_string(s.vocab) + "/threads:1";
    const std::string dtype = std::string("dtype:") + d.name + "/";
    switch (kind) {
    case Kind::memcpy_: // the f32 baseline keeps issue 2's name; others say which bytes
        return "memcpy/" + (std::strcmp(d.name, "f32") ? dtype : std::string()) + shape;
    case Kind::fwd_bwd: return "fwd_bwd/isa:" + variant + "/" + dtype + shape;
    case Kind::fwd: return "fwd/isa:" + variant + "/" + dtype + shape;
    }
    return {};
}

double median_of(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool result_of(const std::string &family, Sample &out)
{
    const auto it = measured.find(family);
    if (it == measured.end())
        return false;
    const Measured &m = it->second;
    if (m.have_median) {
        out = m.median;
        return true;
    }
    if (m.iterations.empty())
        return false;
    std::vector<double> t, b, i;
    for (const Sample &s : m.iterations) {
        t.push_back(s.real_ms);
        b.push_back(s.bytes_per_second);
        i.push_back(s.items_per_second);
    }
    out = {median_of(t), median_of(b), median_of(i)};
    return true;
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
void bench_fwd_bwd(benchmark::State &st, std::string family, lsce_isa isa,
                   const lsce_kernels *table, Shape s, Dtypes d, bool keep_grad)
{
    Workspace &w = workspace();
    w.ensure(s.rows, s.vocab);
    lsce_options o = bench_options(isa);
    o.logits_dtype = d.logits;
    o.grad_dtype = d.grad;
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
            break;
        }
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    set_throughput(st, s, d.bytes_per_element());
    Check &c = checks[family];
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
    for (auto _ : st) {
        const lsce_status status = lsce_forward(&o, s.rows, s.vocab, w.logits.get(), s.vocab,
                                                w.targets.data(), nullptr, w.row_lse.data(), &res);
        if (status != LSCE_OK) {
            st.SkipWithError(lsce_strerror(status));
            break;
        }
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    set_throughput(st, s, 4);
    Check &c = checks[family];
    c.loss = res.loss;
    c.n_correct = res.n_correct;
}

template <class Fn>
void add(Kind kind, const std::string &variant, Shape s, bool once, Fn fn,
         const Dtypes &d = f32_pair)
{
    const std::string name = family_name(kind, variant, s, d);
    auto *b = benchmark::RegisterBenchmark(name.c_str(), fn);
    b->Unit(benchmark::kMillisecond)->UseRealTime();
    if (once)
        b->Iterations(1);
    registered.push_back(name);
    metas[name] = Meta{kind, variant, s, d};
}

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
            const bool once = smoke || (v.isa == LSCE_ISA_SCALAR && !v.table);
            const std::string fam = family_name(Kind::fwd_bwd, v.name, s);
            add(Kind::fwd_bwd, v.name, s, once, [=](benchmark::State &st) {
                bench_fwd_bwd(st, fam, v.isa, v.table, s, f32_pair, smoke);
            });
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
            const bool once = smoke || v.isa == LSCE_ISA_SCALAR;
            const std::string fam = family_name(Kind::fwd, v.name, s);
            add(Kind::fwd, v.name, s, once,
                [=](benchmark::State &st) { bench_fwd(st, fam, v.isa, s); });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting: a reporter that prints the exact names and records each run for the ratio table.

template <class Base>
class Recording : public Base {
public:
    template <class... Args>
    explicit Recording(bool record, Args... args) : Base(args...), record_(record)
    {
    }

    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run> &runs) override
    {
        std::vector<benchmark::BenchmarkReporter::Run> out(runs);
        for (auto &r : out) {
            r.run_name.time_type.clear();  // "/real_time"
            r.run_name.iterations.clear(); // "/iterations:1"
            if (record_)
                record(r);
        }
        Base::ReportRuns(out);
    }

private:
    static void record(const benchmark::BenchmarkReporter::Run &r)
    {
        if (r.error_occurred || !metas.count(r.run_name.function_name))
            return;
        Sample s;
        s.real_ms = r.GetAdjustedRealTime(); // in the run's unit: ms
        const auto b = r.counters.find("bytes_per_second");
        const auto i = r.counters.find("items_per_second");
        s.bytes_per_second = b != r.counters.end() ? b->second.value : 0.0;
        s.items_per_second = i != r.counters.end() ? i->second.value : 0.0;
        Measured &m = measured[r.run_name.function_name];
        if (r.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration) {
            m.iterations.push_back(s);
        } else if (r.aggregate_name == "median") {
            m.have_median = true;
            m.median = s;
        }
    }

    bool record_;
};

std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const std::string &format, bool record,
                                                            bool console_color)
{
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" // CSVReporter
#endif
    if (format == "json")
        return std::make_unique<Recording<benchmark::JSONReporter>>(record);
    if (format == "csv")
        return std::make_unique<Recording<benchmark::CSVReporter>>(record);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    return std::make_unique<Recording<benchmark::ConsoleReporter>>(
        record, console_color ? benchmark::ConsoleReporter::OO_ColorTabular
                              : benchmark::ConsoleReporter::OO_Tabular);
}

std::string fmt(const char *f, double v)
{
    if (!(v > 0) || !std::isfinite(v))
        return "–";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// Milliseconds with three significant digits (no exponent).
std::string fmt_ms(double v)
{
    return fmt(v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.3f", v);
}

// The README table: one row per shape and variant that ran.
void print_ratios(FILE *out)
{
    if (measured.empty()) // --benchmark_list_tests, or a filter that matched nothing
        return;
    std::fprintf(out,
                 "\nRatios (GB/s = 1e9 bytes/s; fwd_bwd and memcpy move 8 B/element: logits read "
                 "+ gradient written; fwd reads 4 B/element;\n"
                 "\"/ memcpy\" = fwd_bwd bytes/s ÷ memcpy bytes/s; \"/ scalar\" = items/s ÷ "
                 "scalar items/s, same shape and pass)\n\n");
    std::fprintf(out, "| shape (rows×vocab) | variant | fwd_bwd ms | fwd_bwd GB/s | fwd_bwd / memcpy "
                      "| fwd_bwd / scalar | fwd ms | fwd GB/s | fwd / scalar | note |\n");
    std::fprintf(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for (const Shape s : shapes) {
        const std::string key = std::to_string(s.rows) + "×" + std::to_string(s.vocab);
        Sample mc{}, sfb{}, sf{}, own{};
        const bool have_mc = result_of(family_name(Kind::memcpy_, "memcpy", s), mc);
        const bool have_sfb = result_of(family_name(Kind::fwd_bwd, "scalar", s), sfb);
        const bool have_sf = result_of(family_name(Kind::fwd, "scalar", s), sf);
        const bool have_own = result_of(family_name(Kind::fwd_bwd, "avx512", s), own);
        if (have_mc)
            std::fprintf(out, "| %s | memcpy | %s | %s | 1.00 | – | – | – | – |  |\n", key.c_str(),
                         fmt_ms(mc.real_ms).c_str(),
                         fmt("%.2f", mc.bytes_per_second / 1e9).c_str());
        for (const std::string &v : variants) {
            Sample fb{}, f{};
            const bool have_fb = result_of(family_name(Kind::fwd_bwd, v, s), fb);
            const bool have_f = result_of(family_name(Kind::fwd, v, s), f);
            if (!have_fb && !have_f)
                continue;
            std::string note;
            if (v == "avx512_sleef" && have_fb && have_own)
                note = fmt("%.2f", fb.items_per_second / own.items_per_second) +
                       "× avx512 (own exp)";
            std::fprintf(
                out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", key.c_str(),
                v.c_str(), have_fb ? fmt_ms(fb.real_ms).c_str() : "–",
                have_fb ? fmt("%.2f", fb.bytes_per_second / 1e9).c_str() : "–",
                have_fb && have_mc ? fmt("%.2f", fb.bytes_per_second / mc.bytes_per_second).c_str()
                                   : "–",
                have_fb && have_sfb
                    ? fmt("%.1f", fb.items_per_second / sfb.items_per_second).c_str()
                    : "–",
                have_f ? fmt_ms(f.real_ms).c_str() : "–",
                have_f ? fmt("%.2f", f.bytes_per_second / 1e9).c_str() : "–",
                have_f && have_sf ? fmt("%.1f", f.items_per_second / sf.items_per_second).c_str()
                                  : "–",
                note.c_str());
        }
    }
    std::fprintf(out, "\n");
}

// Issue 4's table: each 16-bit pair against a copy of the same bytes and against the same
// variant's fp32 element rate.
void print_dtype_ratios(FILE *out)
{
    bool any = false;
    for (const auto &kv : metas)
        any |= kv.second.kind == Kind::fwd_bwd && std::strcmp(kv.second.dtypes.name, "f32") &&
               measured.count(kv.first);
    if (!any)
        return;
    std::fprintf(out, "| shape (rows×vocab) | variant | dtype | B/element | fwd_bwd ms | GB/s | "
                      "/ memcpy (same bytes) | Gelem/s | elements/s ÷ f32 |\n");
    std::fprintf(out, "|---|---|---|--:|--:|--:|--:|--:|--:|\n");
    for (const Shape s : shapes)
        for (const std::string &v : variants)
            for (const Dtypes &d : half_pairs) {
                Sample fb{}, mc{}, f32{};
                if (!result_of(family_name(Kind::fwd_bwd, v, s, d), fb))
                    continue;
                const bool have_mc = result_of(family_name(Kind::memcpy_, "memcpy", s, d), mc);
                const bool have_f32 = result_of(family_name(Kind::fwd_bwd, v, s), f32);
                std::fprintf(out, "| %lld×%lld | %s | %s | %lld | %s | %s | %s | %s | %s |\n",
                             (long long)s.rows, (long long)s.vocab, v.c_str(), d.name,
                             (long long)d.bytes_per_element(), fmt_ms(fb.real_ms).c_str(),
                             fmt("%.2f", fb.bytes_per_second / 1e9).c_str(),
                             have_mc ? fmt("%.2f", fb.bytes_per_second / mc.bytes_per_second).c_str()
                                     : "–",
                             fmt("%.2f", fb.items_per_second / 1e9).c_str(),
                             have_f32 ? fmt("%.2f", fb.items_per_second / f32.items_per_second).c_str()
                                      : "–");
            }
    std::fprintf(out, "\n");
}

// Every variant's loss (and n_correct) against scalar's for the same shape and pass; in smoke
// mode also every gradient element against scalar's (README "Accuracy": ≤ 4e-6 · row max |grad|).
int check_results(FILE *out)
{
    int bad = 0, compared = 0;
    for (const std::string &name : registered) {
        const Meta &m = metas[name];
        if (m.kind == Kind::memcpy_ || m.variant == "scalar" || !checks.count(name))
            continue;
        const std::string ref_name = family_name(m.kind, "scalar", m.shape, m.dtypes);
        if (!checks.count(ref_name))
            continue;
        const Check &c = checks[name], &ref = checks[ref_name];
        compared++;
        const double rel = std::fabs(c.loss - ref.loss) / std::max(1e-30, std::fabs(ref.loss));
        if (!(rel <= 1e-5) || c.n_correct != ref.n_correct) {
            std::fprintf(out, "CHECK FAILED %s: loss %.9g (scalar %.9g, rel %.2g), n_correct %" PRId64
                              " (scalar %" PRId64 ")\n",
                         name.c_str(), c.loss, ref.loss, rel, c.n_correct, ref.n_correct);
            bad++;
            continue;
        }
        if (!c.grad.empty() && c.grad.size() == ref.grad.size()) {
            const int64_t V = m.shape.vocab;
            for (int64_t r = 0; r < m.shape.rows; r++) {
                // fp32 results that differ in their last bits may round to neighbouring 16-bit
                // values: one ulp of the output dtype (≤ 2^−7 |g| bf16, 2^−10 |g| fp16) more.
                const double ulp = m.dtypes.grad == LSCE_DTYPE_BF16  ? 0x1p-7
                                   : m.dtypes.grad == LSCE_DTYPE_F16 ? 0x1p-10
                                                                     : 0.0;
                double row_max = 0, excess = 0;
                for (int64_t j = 0; j < V; j++)
                    row_max = std::max(row_max, std::fabs((double)ref.grad[r * V + j]));
                for (int64_t j = 0; j < V; j++) {
                    const double want = ref.grad[r * V + j];
                    const double diff = std::fabs((double)c.grad[r * V + j] - want);
                    excess = std::max(excess, diff - ulp * std::fabs(want) - 0x1p-24);
                }
                const double diff = excess;
                if (!(diff <= 4e-6 * row_max)) {
                    std::fprintf(out, "CHECK FAILED %s: row %" PRId64 " gradient differs from scalar "
                                      "by %.3g (row max |grad| %.3g)\n",
                                 name.c_str(), r, diff, row_max);
                    bad++;
                    break;
                }
            }
        }
    }
    if (compared)
        std::fprintf(out, "check: %d variant result(s) compared with scalar, %d mismatch(es)\n",
                     compared, bad);
    return bad ? 1 : 0;
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

int main(int argc, char **argv)
{
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

    static const Shape full[] = {{4096, 32000}, {2048, 50257}, {1024, 128256}, {512, 262144}};
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
    return check_results(info);
}
