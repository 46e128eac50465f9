// String instructions movs/cmps/stos/lods/scas (a4-a7, aa-af) with rep/repe/repne. The address
// size picks rsi/rdi/rcx or their 32/16-bit parts; a segment override applies to the source
// only, the destination is always es:rdi. A rep runs at most chunk_iterations iterations per
// execution and then re-runs itself (jump to its own RIP), so the vCPU can take interrupts in
// between; a fault keeps the completed iterations' register updates, as on hardware.
#include <algorithm>
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;

constexpr unsigned chunk_iterations = 4096;
constexpr std::uint64_t page = 4096;

enum Kind { movs, cmps, stos, lods, scas };

template <Kind K> Step string_op(Ctx& c) {
    Decoded const& d = c.d;
    unsigned const size = (d.opcode & 1) ? d.op_size : 1;
    unsigned const asz = d.addr_size;
    std::uint64_t const amask = size_mask(asz);
    int const src_seg = d.seg >= 0 ? d.seg : ds;
    bool const rep = d.rep || d.repne;
    bool const down = c.s.rflags & df;
    std::uint64_t const step = down ? -std::uint64_t{size} : size;
    constexpr bool uses_si = K == movs || K == cmps || K == lods;
    constexpr bool uses_di = K != lods;

    std::uint64_t si = c.get(rsi, asz), di = c.get(rdi, asz), cx = rep ? c.get(rcx, asz) : 1;
    if (cx == 0) return {};
    std::uint64_t const acc = c.get(rax, size);
    std::uint64_t flags = 0, loaded = 0;
    bool any = false;   // an iteration completed
    unsigned iters = 0;

    auto commit = [&] {
        if (!any) return;
        if (uses_si) c.set(rsi, asz, si);
        if (uses_di) c.set(rdi, asz, di);
        if (rep) c.set(rcx, asz, cx);
        if (K == lods) c.set(rax, size, loaded);
        if (K == cmps || K == scas) set_flags(c, fl::arith, flags);
    };
    auto one = [&]() -> Step {
        std::uint64_t const src = seg_addr(c, src_seg, si), dst = seg_addr(c, es, di);
        std::uint64_t a = 0, b = 0;
        if (uses_si)
            if (auto r = c.read(src, &a, size); !r) return r;
        if (K == movs) {
            if (auto r = c.write(dst, &a, size); !r) return r;
        } else if (K == stos) {
            if (auto r = c.write(dst, &acc, size); !r) return r;
        } else if (K == cmps || K == scas) {
            if (auto r = c.read(dst, &b, size); !r) return r;
            std::uint64_t const x = K == cmps ? a : acc;
            flags = sub_flags(x, b, (x - b) & size_mask(size), size);
        } else {
            loaded = a;
        }
        si = (si + step) & amask;
        di = (di + step) & amask;
        return {};
    };
    // rep movs/stos forward: whole runs inside one source and one destination page at once.
    // A run that would fail is redone one element at a time, which finds the precise fault.
    auto run = [&]() -> std::uint64_t {
        if (!rep || down || (K != movs && K != stos) || asz == 2) return 0;
        std::uint64_t const src = seg_addr(c, src_seg, si), dst = seg_addr(c, es, di);
        std::uint64_t n = std::min<std::uint64_t>(cx, chunk_iterations - iters);
        n = std::min(n, (page - (dst & (page - 1))) / size);
        if (K == movs) n = std::min(n, (page - (src & (page - 1))) / size);
        std::uint64_t const bytes = n * size;
        if (n < 2 || di + bytes - 1 > amask || (K == movs && si + bytes - 1 > amask)) return 0;
        if (K == movs && dst > src && dst < src + bytes) return 0;   // overlapping: copies repeat
        std::uint8_t buf[page];
        if (K == movs) {
            if (!c.env.read(src, buf, bytes)) return 0;
        } else {
            for (std::uint64_t i = 0; i < bytes; i += size) std::memcpy(buf + i, &acc, size);
        }
        if (!c.write(dst, buf, bytes)) return 0;
        if (K == movs) si = (si + bytes) & amask;
        di = (di + bytes) & amask;
        return n;
    };

    for (;;) {
        if (std::uint64_t const n = run(); n) {
            cx -= n;
            iters += static_cast<unsigned>(n);
            any = true;
        } else {
            if (auto r = one(); !r) {
                commit();
                return r;
            }
            --cx;
            ++iters;
            any = true;
        }
        if (!rep || cx == 0) break;
        if constexpr (K == cmps || K == scas) {
            if (d.rep && !(flags & fl::zf)) break;    // repe: stop on a difference
            if (d.repne && (flags & fl::zf)) break;   // repne: stop on a match
        }
        if (iters >= chunk_iterations) {
            commit();
            c.jump(c.s.rip);   // more to do: run again
            return {};
        }
    }
    commit();
    return {};
}

constexpr Row rows[] = {
    {.name = "movs", .map = Map::one, .opcode = 0xa4, .count = 2, .pfx = Pfx::any, .in_place = true, .fn = string_op<movs>},
    {.name = "cmps", .map = Map::one, .opcode = 0xa6, .count = 2, .pfx = Pfx::any, .in_place = true, .fn = string_op<cmps>},
    {.name = "stos", .map = Map::one, .opcode = 0xaa, .count = 2, .pfx = Pfx::any, .in_place = true, .fn = string_op<stos>},
    {.name = "lods", .map = Map::one, .opcode = 0xac, .count = 2, .pfx = Pfx::any, .in_place = true, .fn = string_op<lods>},
    {.name = "scas", .map = Map::one, .opcode = 0xae, .count = 2, .pfx = Pfx::any, .in_place = true, .fn = string_op<scas>},
};

} // namespace

std::span<Row const> int_string_rows() { return rows; }

} // namespace kxen::soft
