// Operand access for handlers: effective addresses (SDM vol. 2, 2.1.5 and 2.2.1.6), guest
// memory through Env, general registers, and the faults that stop an instruction.
#include "soft/ctx.hpp"
#include <cstdio>

namespace kxen::soft {

std::unexpected<Result> fault(std::uint8_t vector, std::string what) {
    // The vector decides whether the CPU pushes an error code, not the caller.
    bool const code = vector == vec::df || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
                      vector == 29 || vector == 30;
    return std::unexpected(Result{Outcome::fault, std::move(what), Fault{vector, 0, 0, code}});
}

std::unexpected<Result> page_fault(std::uint64_t gva, bool write, bool user, bool fetch) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "page fault at gva %#llx%s", static_cast<unsigned long long>(gva),
                  fetch ? " (instruction fetch)" : write ? " (write)" : "");
    // Env does not say whether the page was absent or protected, so P stays 0.
    std::uint32_t const ec = (write ? 2u : 0u) | (user ? 4u : 0u) | (fetch ? 16u : 0u);
    return std::unexpected(Result{Outcome::fault, buf, Fault{vec::pf, ec, gva, true}});
}

std::unexpected<Result> unsupported(std::string what) {
    return std::unexpected(Result{Outcome::unsupported, std::move(what), {}});
}

std::unexpected<Result> fault(std::uint8_t vector, std::uint32_t error_code, std::string what) {
    return std::unexpected(Result{Outcome::fault, std::move(what), Fault{vector, error_code, 0, true}});
}

std::unexpected<Result> exit_to_owner(Exit e) {
    return std::unexpected(Result{Outcome::exit, {}, {}, e});
}

std::uint64_t Ctx::ea() const {
    std::uint64_t a = 0;
    unsigned const mod = d.mod();
    if (d.addr_size == 2) {
        // 16-bit forms: bx+si bx+di bp+si bp+di si di bp(/disp16) bx.
        static constexpr int base16[8] = {rbx, rbx, rbp, rbp, rsi, rdi, rbp, rbx};
        static constexpr int index16[8] = {rsi, rdi, rsi, rdi, -1, -1, -1, -1};
        unsigned const rm = d.rm_field();
        if (!(mod == 0 && rm == 6)) a += s.gpr[base16[rm]];
        if (index16[rm] >= 0) a += s.gpr[index16[rm]];
        return (a + static_cast<std::uint64_t>(d.disp)) & 0xffff;
    }
    if (d.rip_relative()) {
        a = s.rip + d.length;   // relative to the next instruction
    } else if (d.has_sib) {
        unsigned const base = (d.sib & 7) | ((d.rex & 1) << 3);
        unsigned const index = ((d.sib >> 3) & 7) | ((d.rex & 2) << 2);
        if (!(mod == 0 && (d.sib & 7) == 5)) a += s.gpr[base];
        if (index != rsp) a += s.gpr[index] << (d.sib >> 6);   // index 4 means none; r12 is fine
    } else if (!(mod == 0 && d.rm_field() == 5)) {
        a += s.gpr[d.rm()];
    }
    a += static_cast<std::uint64_t>(d.disp);
    return d.addr_size == 4 ? a & 0xffffffff : a;
}

std::uint64_t Ctx::mem_addr() const {
    int seg = d.seg;
    if (seg < 0) {   // bp/sp-based addressing defaults to ss
        bool stack;
        if (d.addr_size == 2)
            stack = d.rm_field() == 2 || d.rm_field() == 3 || (d.rm_field() == 6 && d.mod() != 0);
        else if (d.has_sib)
            stack = (d.sib & 7) == rsp || ((d.sib & 7) == rbp && d.mod() != 0);
        else
            stack = d.rm_field() == rbp && d.mod() != 0;
        seg = stack && !(d.rex & 1) ? ss : ds;
    }
    if (d.long64) return (seg == fs || seg == gs ? s.seg[seg].base : 0) + ea();
    return (s.seg[seg].base + ea()) & 0xffffffff;   // no limit checks: flat guests only
}

namespace {
bool canonical(std::uint64_t gva, bool la57) {
    unsigned const bits = la57 ? 57 : 48;
    auto const v = static_cast<std::int64_t>(gva << (64 - bits)) >> (64 - bits);
    return static_cast<std::uint64_t>(v) == gva;
}
} // namespace

Step Ctx::read(std::uint64_t gva, void* dst, std::size_t len) {
    if (d.long64 && !canonical(gva, s.cr4 & cr4::la57)) return fault(vec::gp, "non-canonical address");
    if (!env.read(gva, dst, len)) return page_fault(gva, false, user());
    return {};
}

Step Ctx::write(std::uint64_t gva, void const* src, std::size_t len) {
    if (d.long64 && !canonical(gva, s.cr4 & cr4::la57)) return fault(vec::gp, "non-canonical address");
    if (!env.write(gva, src, len)) return page_fault(gva, true, user());
    return {};
}

Got<bool> Ctx::cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len) {
    if (d.long64 && !canonical(gva, s.cr4 & cr4::la57)) return fault(vec::gp, "non-canonical address");
    auto swapped = env.cmpxchg(gva, expected, desired, len);
    if (!swapped) return page_fault(gva, true, user());
    return *swapped;
}

Step Ctx::aligned(std::uint64_t gva, std::size_t align, char const* what) const {
    if (gva % align == 0) return {};
    char buf[96];
    std::snprintf(buf, sizeof buf, "#GP: %s operand at %#llx not %zu-byte aligned", what,
                  static_cast<unsigned long long>(gva), align);
    return fault(vec::gp, buf);
}

std::uint64_t Ctx::get(unsigned reg, unsigned size) const {
    if (size == 1 && !d.rex && reg >= 4 && reg < 8) return (s.gpr[reg - 4] >> 8) & 0xff;   // ah..bh
    return s.gpr[reg] & size_mask(size);
}

void Ctx::set(unsigned reg, unsigned size, std::uint64_t v) {
    if (size == 1 && !d.rex && reg >= 4 && reg < 8) {
        auto& r = s.gpr[reg - 4];
        r = (r & ~0xff00ull) | ((v & 0xff) << 8);
    } else if (size >= 4) {
        s.gpr[reg] = v & size_mask(size);   // 32-bit results zero the upper half
    } else {
        s.gpr[reg] = (s.gpr[reg] & ~size_mask(size)) | (v & size_mask(size));
    }
}

Got<std::uint64_t> Ctx::rm_get(unsigned size) {
    if (!d.is_mem()) return get(d.rm(), size);
    std::uint64_t v = 0;
    if (auto r = read(mem_addr(), &v, size); !r) return std::unexpected(r.error());
    return v;
}

Step Ctx::rm_set(unsigned size, std::uint64_t v) {
    if (!d.is_mem()) {
        set(d.rm(), size, v);
        return {};
    }
    return write(mem_addr(), &v, size);
}

Got<Xmm> Ctx::rm_xmm(unsigned size, std::size_t align) {
    if (!d.is_mem()) return s.xmm[d.rm()];
    std::uint64_t const a = mem_addr();
    if (auto r = aligned(a, align, "memory"); !r) return std::unexpected(r.error());
    Xmm x{0, 0};
    if (auto r = read(a, &x, size); !r) return std::unexpected(r.error());
    return x;
}

std::optional<bool> Env::cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len) {
    std::uint8_t cur[16];
    if (len > sizeof cur || !read(gva, cur, len)) return std::nullopt;
    if (std::memcmp(cur, expected, len) != 0) {
        std::memcpy(expected, cur, len);
        return false;
    }
    if (!write(gva, desired, len)) return std::nullopt;
    return true;
}

} // namespace kxen::soft
