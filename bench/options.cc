// lsce_bench's objective-option rows (options.h): the option values and their inputs.
#include "options.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lsce_bench {

namespace {

uint64_t splitmix64(uint64_t &s)
{
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [lo, hi) (24 random bits).
float uniform(uint64_t &seed, float lo, float hi)
{
    return lo + (hi - lo) * static_cast<float>(splitmix64(seed) >> 40) * 0x1p-24f;
}

constexpr int calibration_bins = 15;

// The vectors the options point to, for one shape at a time (made outside the timing).
struct OptionInputs {
    Shape shape{0, 0};
    std::vector<float> class_weight, prior, row_weight;
    std::vector<lsce_calibration_bin> bins;

    void ensure(Shape s)
    {
        if (s.rows == shape.rows && s.vocab == shape.vocab)
            return;
        uint64_t seed = 0x0b7e5eedull ^ (static_cast<uint64_t>(s.rows) << 32) ^
                        static_cast<uint64_t>(s.vocab);
        const size_t V = static_cast<size_t>(s.vocab), N = static_cast<size_t>(s.rows);
        class_weight.resize(V);
        for (float &w : class_weight)
            w = uniform(seed, 0.5f, 2.0f);
        // Positive draws normalised in double: the fp32 entries sum to 1 within ~V·2^−25.
        std::vector<double> draw(V);
        double total = 0;
        for (double &d : draw)
            total += d = uniform(seed, 0.5f, 2.0f);
        prior.resize(V);
        for (size_t c = 0; c < V; c++)
            prior[c] = static_cast<float>(draw[c] / total);
        row_weight.resize(N);
        for (float &w : row_weight)
            w = uniform(seed, 0.5f, 2.0f);
        bins.assign(calibration_bins, lsce_calibration_bin{});
        shape = s;
    }
};

OptionInputs &inputs()
{
    static OptionInputs in;
    return in;
}

} // namespace

bool is_option_shape(Shape s)
{
    for (const Shape o : option_shapes)
        if (o.rows == s.rows && o.vocab == s.vocab)
            return true;
    return false;
}

bool apply_option(lsce_options &o, const std::string &name, Shape s)
{
    OptionInputs &in = inputs();
    in.ensure(s);
    in.bins.assign(calibration_bins, lsce_calibration_bin{}); // accumulated over the iterations
    bool known = false;
    for (const OptionRow &r : option_rows)
        known |= name == r.name;
    const bool all = name == "all";
    auto on = [&](const char *opt) { return all || name == opt; };
    if (on("weights"))
        o.class_weight = in.class_weight.data();
    if (on("prior"))
        o.prior = in.prior.data();
    if (on("row_weights"))
        o.row_weight = in.row_weight.data();
    if (on("z_loss"))
        o.z_loss = 1e-4;
    if (on("scale"))
        o.logit_scale = 0.5;
    if (on("softcap"))
        o.softcap = 30;
    if (on("confidence"))
        o.confidence_penalty = 0.1;
    if (on("calibration")) {
        o.calibration_bins = calibration_bins;
        o.calibration = in.bins.data();
    }
    return known;
}

} // namespace lsce_bench
