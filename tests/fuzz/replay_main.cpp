// A main() for the fuzz targets outside libFuzzer: runs LLVMFuzzerTestOneInput once on every
// file named on the command line, or in a directory named there. The GCC build runs each
// target over its seed corpus and its crash regressions this way (ctest fuzz_replay.*), so
// both stay exercised, under ASan too, without clang.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool run_file(std::filesystem::path const& p) {
    std::ifstream f{p, std::ios::binary};
    if (!f) {
        std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
        return false;
    }
    std::vector<char> bytes{std::istreambuf_iterator<char>{f}, std::istreambuf_iterator<char>{}};
    LLVMFuzzerTestOneInput(reinterpret_cast<std::uint8_t const*>(bytes.data()), bytes.size());
    return true;
}

} // namespace

int main(int argc, char** argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    std::size_t runs = 0;
    bool ok = true;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path arg{argv[i]};
        std::error_code ec;
        if (std::filesystem::is_directory(arg, ec)) {
            std::vector<std::filesystem::path> files;
            for (auto const& e : std::filesystem::directory_iterator{arg})
                if (e.is_regular_file()) files.push_back(e.path());
            std::sort(files.begin(), files.end());   // a failure reproduces in the same order
            for (auto const& f : files) ok &= run_file(f), ++runs;
        } else if (std::filesystem::exists(arg, ec)) {
            ok &= run_file(arg), ++runs;
        }
    }
    std::printf("replay: %zu inputs\n", runs);
    return ok ? 0 : 1;
}
