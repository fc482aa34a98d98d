// lsce_bench's registry (registry.h): the registered benchmarks and their results.
#include "registry.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace lsce_bench {

std::vector<std::string> registered;
std::map<std::string, Meta> metas;
std::map<std::string, Measured> measured;
std::vector<Shape> shapes;
std::vector<std::string> variants;
std::map<std::string, Check> checks;

std::string family_name(Kind kind, const std::string &variant, Shape s, const Dtypes &d,
                        const std::string &opt)
{
    const std::string shape = "rows:" + std::to_string(s.rows) + "/vocab:" +
                              std::to_string(s.vocab) + "/threads:1";
    const std::string dtype = std::string("dtype:") + d.name + "/";
    switch (kind) {
    case Kind::memcpy_: // the f32 baseline keeps issue 2's name; others say which bytes
        return "memcpy/" + (std::strcmp(d.name, "f32") ? dtype : std::string()) + shape;
    case Kind::fwd_bwd:
        return "fwd_bwd/isa:" + variant + "/" + dtype + (opt.empty() ? "" : "opt:" + opt + "/") +
               shape;
    case Kind::fwd: return "fwd/isa:" + variant + "/" + dtype + shape;
    }
    return {};
}

} // namespace lsce_bench
