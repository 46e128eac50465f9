// kxen-bench-xlcfg: reading an xl.cfg with many settings, kxl's parser against Xen's own
// (libxlutil, the library xl reads configs with; Debian's libxen-dev), on the same text.
//
// Each config holds the settings a PVH guest needs plus N distinct keys neither side knows
// (the case a config generator gone wrong produces). One sample on a side is: parse the text
// and look up every key kxl reads (kxl: domain_config_from, which also lists the unknown
// keys; libxlutil: xlu_cfg_readdata and xlu_cfg_get_string per key, as xl's parser does).
// Sides alternate sample by sample, starting side rotating each run.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
extern "C" {   // libxlutil.h has no C++ guard
#include <libxlutil.h>
}
#include <map>
#include "common/stats.hpp"
#include "toolstack/xl_cfg.hpp"
#include "toolstack/xl_cfg_domain.hpp"

using namespace kxen;
using namespace kxen::bench;

namespace {

// The keys kxl reads (toolstack/xl_cfg_domain.cpp); the libxlutil side looks up the same ones.
constexpr char const* looked_up[] = {
    "name", "type", "builder", "pvh", "uuid", "memory", "maxmem", "vcpus", "maxvcpus",
    "kernel", "ramdisk", "cmdline", "root", "extra", "on_poweroff", "on_reboot", "on_crash",
    "on_watchdog", "on_soft_reset",
};

std::string config_with(int unknown) {
    std::string t = "name = \"g\"\ntype = \"pvh\"\nkernel = \"/k\"\nmemory = 64\nextra = \"test=hello\"\n";
    for (int i = 0; i < unknown; ++i) t += fmt::format("unknown_setting_{} = \"value {}\"\n", i, i);
    return t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double run_kxl(std::string const& text, int unknown) {
    auto t0 = std::chrono::steady_clock::now();
    auto cfg = toolstack::parse_xl_cfg(text, "bench.cfg");
    if (!cfg) throw std::runtime_error(cfg.error().to_string());
    auto d = toolstack::domain_config_from(*cfg);
    if (!d || d->ignored.size() != std::size_t(unknown)) throw std::runtime_error("kxl: wrong result");
    return seconds_since(t0);
}

double run_libxlutil(std::string const& text) {
    FILE* null = std::fopen("/dev/null", "w");
    auto t0 = std::chrono::steady_clock::now();
    XLU_Config* c = xlu_cfg_init(null, "bench.cfg");
    if (!c || xlu_cfg_readdata(c, text.data(), int(text.size())) != 0)
        throw std::runtime_error("libxlutil: parse failed");
    char const* v = nullptr;
    if (xlu_cfg_get_string(c, "name", &v, 0) != 0) throw std::runtime_error("libxlutil: no name");
    for (auto k : looked_up) (void)xlu_cfg_get_string(c, k, &v, 1);
    xlu_cfg_destroy(c);
    double s = seconds_since(t0);
    std::fclose(null);
    return s;
}

} // namespace

int main(int argc, char** argv) {
    int runs = 5;
    std::vector<int> sizes{1000, 10000, 100000};
    CLI::App app{"kxen-bench-xlcfg: xl.cfg parsing, kxl against libxlutil"};
    app.add_option("--runs", runs, "samples per side and size")->capture_default_str();
    app.add_option("--sizes", sizes, "numbers of unknown keys")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    fmt::print("{:>9} {:>9} {:>12} {:>12} {:>8}\n", "keys", "MiB", "kxl ms", "libxlutil ms", "ratio");
    for (int n : sizes) {
        auto text = config_with(n);
        std::map<std::string, std::vector<double>> t;
        for (int r = 0; r < runs; ++r) {
            for (int k = 0; k < 2; ++k) {
                if ((r + k) % 2 == 0) t["kxl"].push_back(run_kxl(text, n));
                else t["xlu"].push_back(run_libxlutil(text));
            }
        }
        double a = summarize(t["kxl"]).median, b = summarize(t["xlu"]).median;
        fmt::print("{:>9} {:>9.2f} {:>12.2f} {:>12.2f} {:>8.2f}\n", n, double(text.size()) / (1 << 20),
                   a * 1e3, b * 1e3, a / b);
    }
    fmt::print("ratio = kxl / libxlutil (median of {} samples; below 1: kxl is faster)\n", runs);
}
