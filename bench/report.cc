// lsce_bench's reporting (report.h): the recording reporter, the ratio tables and the check
// against scalar, all from the registry (registry.h).
#include "report.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "registry.h"

namespace lsce_bench {

// ---------------------------------------------------------------------------------------------
// Reporting: a reporter that prints the exact names and records each run for the ratio table.

namespace {

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
        s.cpu_ms = r.GetAdjustedCPUTime();
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

} // namespace

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

// ---------------------------------------------------------------------------------------------
// After the runs: the ratio tables, and the check against scalar.

namespace {

double median_of(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A family's result: its "median" aggregate, else the median of its repetitions.
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
    std::vector<double> t, b, i, c;
    for (const Sample &s : m.iterations) {
        t.push_back(s.real_ms);
        b.push_back(s.bytes_per_second);
        i.push_back(s.items_per_second);
        c.push_back(s.cpu_ms);
    }
    out = {median_of(t), median_of(b), median_of(i), median_of(c)};
    return true;
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

} // namespace

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

// Issue 3's table: each option row's time ÷ the plain fwd_bwd time (ε = 0.1 alone) of the same
// variant and shape in this run, and the goal that ratio has. A row whose real time (or its plain
// row's) exceeds its CPU time by more than 10 % ran while other work took the core: flagged.
void print_option_ratios(FILE *out)
{
    bool any = false;
    for (const auto &kv : metas)
        any |= !kv.second.opt.empty() && measured.count(kv.first);
    if (!any)
        return;
    std::fprintf(out, "Objective options (fp32, ε = 0.1 plus the option; \"× plain\" = option "
                      "ms ÷ plain fwd_bwd ms, same variant and shape, this run):\n\n");
    std::fprintf(out, "| shape (rows×vocab) | variant | option | fwd_bwd ms | plain ms | × plain | "
                      "goal | met | note |\n");
    std::fprintf(out, "|---|---|---|--:|--:|--:|--:|---|---|\n");
    auto busy = [](const Sample &x) { return x.cpu_ms > 0 && x.real_ms > 1.1 * x.cpu_ms; };
    for (const Shape s : shapes)
        for (const std::string &v : variants) {
            Sample plain{};
            const bool have_plain = result_of(family_name(Kind::fwd_bwd, v, s), plain);
            for (const OptionRow &o : option_rows) {
                Sample fb{};
                if (!result_of(family_name(Kind::fwd_bwd, v, s, f32_pair, o.name), fb))
                    continue;
                // Judged as printed (two decimals, as the goals are written).
                const double ratio = have_plain ? fb.real_ms / plain.real_ms : NAN;
                const char *verdict = !(o.goal > 0) || !std::isfinite(ratio)       ? "–"
                                      : std::round(ratio * 100) <= o.goal * 100 + 1e-9 ? "yes"
                                                                                     : "**no**";
                std::string note;
                if (busy(fb) || (have_plain && busy(plain)))
                    note = "busy: real ÷ CPU time " + fmt("%.2f", fb.real_ms / fb.cpu_ms) +
                           (have_plain ? ", plain " + fmt("%.2f", plain.real_ms / plain.cpu_ms)
                                       : std::string());
                std::fprintf(out, "| %lld×%lld | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                             (long long)s.rows, (long long)s.vocab, v.c_str(), o.name,
                             fmt_ms(fb.real_ms).c_str(),
                             have_plain ? fmt_ms(plain.real_ms).c_str() : "–",
                             fmt("%.2f", ratio).c_str(),
                             o.goal > 0 ? ("≤ " + fmt("%.2f", o.goal)).c_str() : "–", verdict,
                             note.c_str());
            }
        }
    std::fprintf(out, "\nOptions: ");
    for (const OptionRow &o : option_rows)
        std::fprintf(out, "%s%s = %s", &o == option_rows ? "" : "; ", o.name, o.what);
    std::fprintf(out, ".\n\n");
}

// Every variant's loss (and n_correct) against scalar's for the same shape and pass; in smoke
// mode also every gradient element against scalar's (README "Accuracy": ≤ 4e-6 · row max |grad|).
// A call that failed (the benchmark stopped with its error) fails the check as well.
int check_results(FILE *out)
{
    int bad = 0, compared = 0, failed_calls = 0;
    for (const std::string &name : registered) {
        const auto failed = checks.find(name);
        if (failed != checks.end() && failed->second.error) {
            std::fprintf(out, "CHECK FAILED %s: the call failed: %s\n", name.c_str(),
                         failed->second.error);
            failed_calls++;
        }
    }
    for (const std::string &name : registered) {
        const Meta &m = metas[name];
        if (m.kind == Kind::memcpy_ || m.variant == "scalar" || !checks.count(name) ||
            checks[name].error)
            continue;
        const std::string ref_name = family_name(m.kind, "scalar", m.shape, m.dtypes, m.opt);
        if (!checks.count(ref_name) || checks[ref_name].error)
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
    if (compared || failed_calls)
        std::fprintf(out, "check: %d variant result(s) compared with scalar, %d mismatch(es)%s\n",
                     compared, bad,
                     failed_calls ? (", " + std::to_string(failed_calls) + " failed call(s)").c_str()
                                  : "");
    return bad || failed_calls ? 1 : 0;
}

} // namespace lsce_bench
