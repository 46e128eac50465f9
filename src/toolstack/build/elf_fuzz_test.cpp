// A small, deterministic mutation fuzzer: good images with random damage must be parsed
// or refused, never crash or read out of bounds (run under ASan to check the latter).
// A libFuzzer target can reuse the same body; this one runs in every unit-test pass.
#include "toolstack/build/elf.hpp"
#include "toolstack/build/pvh.hpp"
#include "toolstack/build/test_elf.hpp"
#include "toolstack/build/test_ram.hpp"

#include <gtest/gtest.h>

#include <random>

namespace kxen::toolstack::build {
namespace {

using namespace test;

// Values that tend to break size arithmetic.
constexpr std::uint64_t nasty[] = {0, 1, 3, 4, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
                                   0xffffffff, 0x100000000, 0x7fffffffffffffff, 0xffffffffffffffff};

std::vector<std::byte> mutate(std::vector<std::byte> f, std::mt19937_64& rng) {
    auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
    unsigned const edits = 1 + static_cast<unsigned>(pick(6));
    for (unsigned e = 0; e < edits && !f.empty(); ++e) {
        switch (pick(5)) {
        case 0:   // flip a byte anywhere
            f[pick(f.size())] ^= std::byte(static_cast<std::uint8_t>(1 + pick(255)));
            break;
        case 1: {   // a nasty value over a header or table field (the first 256 bytes)
            std::uint64_t const v = nasty[pick(std::size(nasty))];
            std::size_t const width = std::size_t{1} << pick(4);   // 1, 2, 4 or 8 bytes
            std::size_t const at = pick(std::min<std::size_t>(f.size(), 256));
            for (std::size_t i = 0; i < width && at + i < f.size(); ++i)
                f[at + i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
            break;
        }
        case 2:   // cut the file short
            f.resize(pick(f.size() + 1));
            break;
        case 3:   // random bytes over a random stretch
            for (std::size_t n = pick(64), at = pick(f.size()); n-- && at < f.size(); ++at)
                f[at] = std::byte(static_cast<std::uint8_t>(pick(256)));
            break;
        default:   // append junk
            for (std::size_t n = pick(64); n--;) f.push_back(std::byte(static_cast<std::uint8_t>(pick(256))));
            break;
        }
    }
    return f;
}

TEST(ElfFuzz, MutatedImagesNeverCrash) {
    std::vector<std::vector<std::byte>> seeds;
    for (bool elf64 : {true, false})
        for (auto where : {NotesIn::pt_note, NotesIn::sections_only}) {
            auto spec = pvh_kernel(elf64);
            spec.notes_in = where;
            seeds.push_back(make_elf(spec));
        }
    std::mt19937_64 rng{0x6b78656eULL};   // fixed: a failure must reproduce
    TestRam ram(8 << 20);
    unsigned parsed = 0, refused = 0, written = 0;
    for (int i = 0; i < 10000; ++i) {
        auto const& seed = seeds[static_cast<std::size_t>(i) % seeds.size()];
        auto img = parse_elf(mutate(seed, rng));
        if (!img) {
            ++refused;
            EXPECT_FALSE(img.error().message.empty());
            continue;
        }
        ++parsed;
        // Whatever parses must also plan and write safely.
        PvhParams p;
        p.mem_bytes = 8 << 20;
        p.cmdline = "fuzz";
        p.memory_may_be_dirty = (i & 1) != 0;
        auto l = plan_pvh(*img, std::move(p));
        if (l && write_pvh(*l, *img, ram)) ++written;
    }
    // The mutations must exercise both paths, or the loop proves little.
    EXPECT_GT(parsed, 100u);
    EXPECT_GT(refused, 1000u);
    EXPECT_GT(written, 50u);
    RecordProperty("parsed", static_cast<int>(parsed));
    RecordProperty("refused", static_cast<int>(refused));
}

} // namespace
} // namespace kxen::toolstack::build
