// Random instruction/state generators, one per subset; see diff_harness.hpp.
#pragma once
#include <vector>
#include "diff_harness.hpp"

namespace kxen::soft::diff {

class Rng {
public:
    explicit Rng(u64 seed) : s_{seed ? seed : 0x9e3779b97f4a7c15ull} {}
    u64 next() {   // splitmix64
        u64 z = (s_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    u64 below(u64 n) { return n ? next() % n : 0; }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <typename T> T const& pick(std::vector<T> const& v) { return v[below(v.size())]; }

private:
    u64 s_;
};

enum class Subset { alu, shift, muldiv, bitops, string, x87, sse_move, sse_int, sse_fp };
inline constexpr Subset all_subsets[] = {Subset::alu,    Subset::shift, Subset::muldiv,
                                         Subset::bitops, Subset::string, Subset::x87,
                                         Subset::sse_move, Subset::sse_int, Subset::sse_fp};
char const* subset_name(Subset s);

// Draws one case of the subset for 64-bit (long64) or 32-bit flat code.
Case generate(Subset s, bool long64, u64 rip, Rng& r);

} // namespace kxen::soft::diff
