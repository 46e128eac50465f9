// Disk images for the block tests, and the patterns minios's blk tests write
// (guest/minios/tests/blk.cpp), checked from the host.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "host.hpp"

namespace kxen::test {

inline constexpr std::uint64_t MiB = 1 << 20;

// blk.cpp's pattern_word: 8-byte word w of sector s.
inline std::uint64_t pattern_word(std::uint64_t s, std::uint64_t w, std::uint64_t seed) {
    return (s * 0x9E3779B97F4A7C15ull) ^ w ^ seed;
}

// A new image in the host's directory: sparse zeros, or every byte `fill`.
inline std::filesystem::path image(Host const& h, std::string const& name, std::uintmax_t bytes, int fill = -1) {
    auto p = h.dir() / (name + ".img");
    if (fill < 0) {
        std::ofstream{p};
        std::filesystem::resize_file(p, bytes);
    } else {
        std::ofstream f(p, std::ios::binary);
        std::vector<char> chunk(1 << 20, static_cast<char>(fill));
        for (std::uintmax_t done = 0; done < bytes; done += chunk.size())
            f.write(chunk.data(), static_cast<std::streamsize>(std::min<std::uintmax_t>(chunk.size(), bytes - done)));
    }
    return p;
}

inline std::vector<unsigned char> read_all(std::filesystem::path const& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

// The xl.cfg line for one disk.
inline std::string disk(std::filesystem::path const& img, std::string const& vdev = "xvda",
                        std::string const& mode = "rw") {
    return "disk=['" + img.string() + ",raw," + vdev + "," + mode + "']";
}

// The first sector in [from, from + count) whose content is not the pattern, or from + count.
inline std::uint64_t first_bad_sector(std::vector<unsigned char> const& d, std::uint64_t count, std::uint64_t seed,
                                      std::uint64_t from = 0) {
    for (std::uint64_t s = from; s < from + count; ++s)
        for (std::uint64_t w = 0; w < 64; ++w) {
            std::uint64_t v;
            std::memcpy(&v, d.data() + s * 512 + w * 8, 8);
            if (v != pattern_word(s, w, seed)) return s;
        }
    return from + count;
}

// The offset of the first byte in [from, to) that is not `b`, or `to`.
inline std::size_t first_not(std::vector<unsigned char> const& d, std::size_t from, std::size_t to, unsigned char b) {
    for (std::size_t i = from; i < to; ++i)
        if (d[i] != b) return i;
    return to;
}

// test=blk-loop after `rounds` rounds over `regions` regions of `kib` KiB: each region holds
// the pattern of the last round that wrote it, and nothing past the regions was written.
// Empty if so; otherwise what is wrong.
inline std::string check_blk_loop(std::vector<unsigned char> const& d, std::uint64_t rounds, std::uint64_t regions,
                                  std::uint64_t kib) {
    std::uint64_t const per = kib * 2;
    if (d.size() < regions * per * 512) return "the image is smaller than the regions";
    for (std::uint64_t g = 0; g < regions && g <= rounds; ++g) {
        std::uint64_t const last = rounds - ((rounds - g) % regions);
        if (last == 0) continue;
        if (auto bad = first_bad_sector(d, per, last, g * per); bad != g * per + per)
            return "region " + std::to_string(g) + ": sector " + std::to_string(bad) + " is not round " +
                   std::to_string(last) + "'s";
    }
    if (auto i = first_not(d, regions * per * 512, d.size(), 0); i != d.size())
        return "byte " + std::to_string(i) + " past the regions was written";
    return {};
}

} // namespace kxen::test
