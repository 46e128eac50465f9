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
