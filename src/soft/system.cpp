// Time stamp counter reads (rdtsc, rdtscp, rdpid), SMAP's clac/stac, and the fences and cache
// flushes, which need nothing done: this emulation is already serialized against the guest
// vCPU, and guest RAM is ordinary cacheable host memory.
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

Step tsc_allowed(Ctx const& c) {
    if ((c.s.cr4 & cr4::tsd) && c.s.cpl > 0) return fault(vec::gp, "#GP: rdtsc with CR4.TSD at CPL>0");
    return {};
}

Step rdtsc(Ctx& c) {
    if (auto r = tsc_allowed(c); !r) return r;
    std::uint64_t const t = c.env.rdtsc() + c.s.msr.tsc_offset;   // IA32_TSC writes set the offset
    c.set(rax, 4, t & 0xffffffff);
    c.set(rdx, 4, t >> 32);
    return {};
}

Step rdtscp(Ctx& c) {
    if (auto r = rdtsc(c); !r) return r;
    c.set(rcx, 4, c.s.tsc_aux & 0xffffffff);
    return {};
}

Step rdpid(Ctx& c) {
    c.set(c.d.rm(), c.d.long64 ? 8 : 4, c.s.tsc_aux & 0xffffffff);
    return {};
}

// clac/stac are #UD outside ring 0 (SDM: "CPL > 0").
template <bool Set> Step smap_ac(Ctx& c) {
    if (c.s.cpl > 0) return fault(vec::ud, Set ? "#UD: stac at CPL>0" : "#UD: clac at CPL>0");
    c.s.rflags = Set ? c.s.rflags | fl::ac : c.s.rflags & ~fl::ac;
    return {};
}

Step nothing(Ctx&) { return {}; }

// clflush and friends can fault like a one-byte read; probe that byte so a bad address is not
// silently ignored.
Step flush(Ctx& c) {
    std::uint8_t b;
    return c.read(c.mem_addr(), &b, 1);
}

constexpr Row rows[] = {
    {.name = "rdtsc", .opcode = 0x31, .pfx = Pfx::any, .fn = rdtsc},
    {.name = "rdtscp", .opcode = 0x01, .mod = Mod::reg, .reg = 7, .rm = 1, .fn = rdtscp},
    {.name = "rdpid", .ops = "Z", .opcode = 0xc7, .pfx = Pfx::pf3, .mod = Mod::reg, .reg = 7, .fn = rdpid},
    {.name = "clac", .opcode = 0x01, .mod = Mod::reg, .reg = 1, .rm = 2, .fn = smap_ac<false>},
    {.name = "stac", .opcode = 0x01, .mod = Mod::reg, .reg = 1, .rm = 3, .fn = smap_ac<true>},
    {.name = "lfence", .opcode = 0xae, .mod = Mod::reg, .reg = 5, .fn = nothing},
    {.name = "mfence", .opcode = 0xae, .mod = Mod::reg, .reg = 6, .fn = nothing},
    {.name = "sfence", .opcode = 0xae, .mod = Mod::reg, .reg = 7, .fn = nothing},
    {.name = "clflush", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 7, .fn = flush},
    {.name = "clflushopt", .ops = "M", .opcode = 0xae, .pfx = Pfx::p66, .mod = Mod::mem, .reg = 7, .fn = flush},
    {.name = "clwb", .ops = "M", .opcode = 0xae, .pfx = Pfx::p66, .mod = Mod::mem, .reg = 6, .fn = flush},
};

} // namespace

std::span<Row const> system_rows() { return rows; }

} // namespace kxen::soft
