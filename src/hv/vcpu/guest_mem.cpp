#include "hv/vcpu/guest_mem.hpp"
#include <cstring>
#include "hv/domain/domain.hpp"

namespace kxen::hv {

namespace {
constexpr std::uint64_t pte_p = 1, pte_rw = 2, pte_us = 4, pte_ps = 0x80;
constexpr std::uint64_t addr_mask = 0x000ffffffffff000ull;
} // namespace

bool GuestVirt::load_sregs() {
    if (sregs_) return true;
    auto s = v_->cpu().get_sregs();
    if (!s) return false;
    sregs_ = *s;
    cpl_ = s->ss.dpl;   // SS.DPL is the CPL (CS.DPL is not, for conforming segments)
    return true;
}

bool GuestVirt::long_mode_code() {
    return load_sregs() && (sregs_->efer & 0x400) && sregs_->cs.l;
}

std::optional<std::uint64_t> GuestVirt::translate(std::uint64_t gva, bool write) {
    if (!load_sregs()) return std::nullopt;
    auto& s = *sregs_;
    if (!(s.cr0 & 0x80000000)) return gva & 0xffffffffull;   // paging off: flat 32-bit
    Domain& d = v_->domain();
    bool const user = cpl_ == 3;
    bool const wp = s.cr0 & 0x10000;
    auto read_pte = [&](std::uint64_t gpa, bool wide) -> std::optional<std::uint64_t> {
        auto* p = d.gpa_ptr(gpa, wide ? 8 : 4);
        if (!p) return std::nullopt;
        std::uint64_t e = 0;
        // SAFETY: p points at 4 or 8 bytes of guest RAM; the guest may change them any time,
        // so read once into a local.
        std::memcpy(&e, p, wide ? 8 : 4);
        return e;
    };
    auto allowed = [&](std::uint64_t e) {
        if (!(e & pte_p)) return false;
        if (user && !(e & pte_us)) return false;
        if (write && !(e & pte_rw) && (user || wp)) return false;
        return true;
    };
    if (s.efer & 0x400) {   // long mode, 4-level
        if (((static_cast<std::int64_t>(gva) << 16) >> 16) != static_cast<std::int64_t>(gva))
            return std::nullopt;   // non-canonical
        std::uint64_t table = s.cr3 & addr_mask;
        for (int level = 3; level >= 0; --level) {
            unsigned idx = (gva >> (12 + 9 * level)) & 0x1ff;
            auto e = read_pte(table + idx * 8, true);
            if (!e || !allowed(*e)) return std::nullopt;
            if (level > 0 && level < 3 && (*e & pte_ps)) {
                std::uint64_t size = 1ull << (12 + 9 * level);
                return (*e & addr_mask & ~(size - 1)) | (gva & (size - 1));
            }
            table = *e & addr_mask;
        }
        return table | (gva & 0xfff);
    }
    if (s.cr4 & 0x20) {     // PAE, 3-level
        gva &= 0xffffffffull;
        auto pdpte = read_pte((s.cr3 & 0xffffffe0) + ((gva >> 30) & 3) * 8, true);
        if (!pdpte || !(*pdpte & pte_p)) return std::nullopt;
        auto pde = read_pte((*pdpte & addr_mask) + ((gva >> 21) & 0x1ff) * 8, true);
        if (!pde || !allowed(*pde)) return std::nullopt;
        if (*pde & pte_ps) return (*pde & addr_mask & ~0x1fffffull) | (gva & 0x1fffff);
        auto pte = read_pte((*pde & addr_mask) + ((gva >> 12) & 0x1ff) * 8, true);
        if (!pte || !allowed(*pte)) return std::nullopt;
        return (*pte & addr_mask) | (gva & 0xfff);
    }
    gva &= 0xffffffffull;   // 2-level 32-bit
    auto pde = read_pte((s.cr3 & 0xfffff000) + (gva >> 22) * 4, false);
    if (!pde || !allowed(*pde)) return std::nullopt;
    if ((*pde & pte_ps) && (s.cr4 & 0x10)) return (*pde & 0xffc00000) | (gva & 0x3fffff);
    auto pte = read_pte((*pde & 0xfffff000) + ((gva >> 12) & 0x3ff) * 4, false);
    if (!pte || !allowed(*pte)) return std::nullopt;
    return (*pte & 0xfffff000) | (gva & 0xfff);
}

bool GuestVirt::read(std::uint64_t gva, void* dst, std::size_t len) {
    auto* out = static_cast<std::byte*>(dst);
    while (len) {
        std::size_t chunk = std::min<std::size_t>(len, 4096 - (gva & 0xfff));
        auto gpa = translate(gva, false);
        if (!gpa) return false;
        auto* p = v_->domain().gpa_ptr(*gpa, chunk);
        if (!p) return false;
        std::memcpy(out, p, chunk);
        out += chunk; gva += chunk; len -= chunk;
    }
    return true;
}

bool GuestVirt::write(std::uint64_t gva, void const* src, std::size_t len) {
    auto* in = static_cast<std::byte const*>(src);
    while (len) {
        std::size_t chunk = std::min<std::size_t>(len, 4096 - (gva & 0xfff));
        auto gpa = translate(gva, true);
        if (!gpa) return false;
        auto* p = v_->domain().gpa_ptr(*gpa, chunk);
        if (!p) return false;
        std::memcpy(p, in, chunk);
        v_->domain().mark_dirty(*gpa, chunk);
        in += chunk; gva += chunk; len -= chunk;
    }
    return true;
}

} // namespace kxen::hv
