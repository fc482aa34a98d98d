// What lsce_bench prints besides Google Benchmark's own lines: a reporter that drops the
// "/real_time" and "/iterations:1" suffixes from the names (so they are exactly the registered
// ones) and records every run in the registry; after the runs, the ratio tables (Markdown, for
// the README) and the check of every variant's results against scalar's.
#ifndef LSCE_BENCH_REPORT_H
#define LSCE_BENCH_REPORT_H

#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>

namespace lsce_bench {

// format: "json", "csv", else the console (colored with console_color). record: keep each run's
// time and rates in `measured` (registry.h) for the tables.
std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const std::string &format, bool record,
                                                            bool console_color);

// fwd_bwd bytes/s ÷ memcpy bytes/s and SIMD items/s ÷ scalar items/s, one row per shape and
// variant that ran (nothing when nothing was measured).
void print_ratios(FILE *out);

// Each 16-bit pair against a copy of the same bytes and against the same variant's fp32 rate.
void print_dtype_ratios(FILE *out);

// Each objective-option row's time ÷ the plain fwd_bwd time of the same variant and shape, next
// to its goal (options.h).
void print_option_ratios(FILE *out);

// Every variant's loss and n_correct against scalar's (and in smoke mode every gradient element);
// returns the exit status: 1 on a mismatch or a failed call, else 0.
int check_results(FILE *out);

} // namespace lsce_bench

#endif // LSCE_BENCH_REPORT_H
