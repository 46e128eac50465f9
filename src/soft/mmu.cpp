// The page walk (SDM vol. 3, ch. 4), the TLB and guest memory access for the software vCPU.
#include "soft/mmu.hpp"
#include <linux/kvm.h>
#include <x86intrin.h>
#include <algorithm>
#include <cstring>

namespace kxen::soft {
namespace {

constexpr std::uint64_t pte_p = 1, pte_rw = 2, pte_us = 4, pte_a = 0x20, pte_d = 0x40, pte_ps = 0x80,
                        pte_g = 0x100, pte_nx = 1ull << 63;
constexpr std::uint64_t addr_mask = 0x000ffffffffff000ull;
constexpr std::uint64_t cr0_wp = 1u << 16, cr0_pg = 1u << 31;
constexpr std::uint64_t cr4_pse = 1u << 4, cr4_pae = 1u << 5, cr4_pge = 1u << 7;
constexpr std::uint64_t efer_nxe = 1u << 11, efer_lma = 1u << 10;
constexpr std::uint32_t pf_p = 1, pf_w = 2, pf_u = 4, pf_rsvd = 8, pf_i = 16;
constexpr std::uint64_t no_tag = 1;   // never equal to a page-aligned address
// Physical address bits the CPUID model reports (0x80000008): anything above is reserved.
constexpr std::uint64_t phys_bits_mask = (1ull << 40) - 1;

// Scratch for reads of non-RAM pages: an empty bus reads as all-ones.
alignas(4096) std::uint8_t ones_page[4096];
[[maybe_unused]] bool const ones_init = [] { std::memset(ones_page, 0xff, sizeof ones_page); return true; }();

} // namespace

void Mmu::flush_all() {
    for (auto& t : tlb_)
        for (auto& e : t) e = {no_tag, no_tag, no_tag, nullptr, false};
}

void Mmu::add_code_page(std::uint8_t const* host_page) {
    if (!code_pages_.insert(reinterpret_cast<std::uintptr_t>(host_page)).second) return;
    for (auto& t : tlb_)
        for (auto& e : t)
            if (e.host == host_page) e.w = no_tag;
}

void Mmu::tlb_flush(bool global) {
    for (auto& t : tlb_)
        for (auto& e : t)
            if (global || !e.global) e = {no_tag, no_tag, no_tag, nullptr, false};
}

void Mmu::tlb_flush_page(std::uint64_t gva) {
    for (auto& t : tlb_) t[(gva >> 12) & (tlb_size - 1)] = {no_tag, no_tag, no_tag, nullptr, false};
}

Mmu::Walk Mmu::translate(std::uint64_t gva, Access a) {
    CpuState const& s = *s_;
    bool const usr = user();
    bool const wr = a == Access::write;
    std::uint32_t const ec_base = (wr ? pf_w : 0) | (usr ? pf_u : 0) | (a == Access::fetch && (s.efer & efer_nxe) ? pf_i : 0);
    SlotTable const& t = *table_;
    Walk w;
    std::uint64_t gpa;
    bool writable = true, user_ok = true, nx = false, global = false, dirty = true;

    if (!(s.cr0 & cr0_pg)) {
        gpa = gva & 0xffffffffull;
    } else {
        // The entries of this walk, to set A (and D) once the access is known to be allowed.
        struct Level { std::uint8_t* p; std::uint64_t pa; bool wide; };
        Level lv[5];
        unsigned n = 0;
        auto fail = [&](std::uint32_t extra) {
            w.error = ec_base | extra;
            pf_error_ = w.error;
            pf_addr_ = gva;
            return w;
        };
        auto entry = [&](std::uint64_t pa, bool wide, std::uint64_t& out) -> bool {
            std::uint8_t* p = PhysMem::host(t, pa, false);
            if (!p) return false;
            out = 0;
            if (wide) out = __atomic_load_n(reinterpret_cast<std::uint64_t*>(p), __ATOMIC_RELAXED);
            else out = __atomic_load_n(reinterpret_cast<std::uint32_t*>(p), __ATOMIC_RELAXED);
            lv[n++] = {p, pa, wide};
            return true;
        };
        // Reserved bits (SDM 4.4.2, 4.5.4): physical-address bits beyond MAXPHYADDR, the
        // large-page bits below the frame, PS in a PML4E, and XD without EFER.NXE.
        auto rsvd = [&](std::uint64_t e, std::uint64_t extra) {
            std::uint64_t mask = (0x000fffffffffffffull & ~phys_bits_mask) | extra;
            if (!(s.efer & efer_nxe)) mask |= pte_nx;
            return (e & mask) != 0;
        };
        auto note = [&](std::uint64_t e) {
            writable &= (e & pte_rw) != 0;
            user_ok &= (e & pte_us) != 0;
            nx |= (s.efer & efer_nxe) && (e & pte_nx);
        };
        std::uint64_t e = 0;
        std::uint64_t page_size = 4096;
        std::uint64_t frame = 0;
        if (s.efer & efer_lma) {
            std::uint64_t table = s.cr3 & addr_mask;
            for (int level = 3; level >= 0; --level) {
                unsigned idx = (gva >> (12 + 9 * level)) & 0x1ff;
                if (!entry(table + idx * 8, true, e) || !(e & pte_p)) return fail(0);
                bool const large = (level == 1 || level == 2) && (e & pte_ps);
                std::uint64_t extra = level == 3 ? pte_ps : large ? ((1ull << (12 + 9 * level)) - 1) & ~0x1fffull : 0;
                if (rsvd(e, extra)) return fail(pf_p | pf_rsvd);
                note(e);
                if (large || level == 0) {
                    page_size = 1ull << (12 + 9 * level);
                    frame = e & addr_mask & ~(page_size - 1);
                    break;
                }
                table = e & addr_mask;
            }
        } else if (s.cr4 & cr4_pae) {
            std::uint64_t pdpte = 0;
            if (!entry((s.cr3 & 0xffffffe0) + ((gva >> 30) & 3) * 8, true, pdpte) || !(pdpte & pte_p)) return fail(0);
            n = 0;   // PDPTEs have no A bit and no permissions
            if (!entry((pdpte & addr_mask) + ((gva >> 21) & 0x1ff) * 8, true, e) || !(e & pte_p)) return fail(0);
            if (rsvd(e, (e & pte_ps) ? 0x1fe000 : 0)) return fail(pf_p | pf_rsvd);
            note(e);
            if (e & pte_ps) {
                page_size = 2u << 20;
                frame = e & addr_mask & ~(page_size - 1);
            } else {
                if (!entry((e & addr_mask) + ((gva >> 12) & 0x1ff) * 8, true, e) || !(e & pte_p)) return fail(0);
                if (rsvd(e, 0)) return fail(pf_p | pf_rsvd);
                note(e);
                frame = e & addr_mask;
            }
        } else {
            std::uint32_t const va = static_cast<std::uint32_t>(gva);
            if (!entry((s.cr3 & 0xfffff000) + (va >> 22) * 4, false, e) || !(e & pte_p)) return fail(0);
            note(e);
            if ((e & pte_ps) && (s.cr4 & cr4_pse)) {
                page_size = 4u << 20;
                frame = (e & 0xffc00000) | ((e >> 13) & 0xff) << 32;
            } else {
                if (!entry((e & 0xfffff000) + ((va >> 12) & 0x3ff) * 4, false, e) || !(e & pte_p)) return fail(0);
                note(e);
                frame = e & 0xfffff000;
            }
        }
        // Permissions (SDM 4.6): supervisor writes to read-only pages only with CR0.WP clear.
        if (usr && !user_ok) return fail(pf_p);
        if (wr && !writable && (usr || (s.cr0 & cr0_wp))) return fail(pf_p);
        if (a == Access::fetch && nx) return fail(pf_p);
        global = (e & pte_g) && (s.cr4 & cr4_pge);
        dirty = (e & pte_d) != 0;
        // Accessed bits on every level, dirty on the leaf for a write, as the hardware sets them.
        for (unsigned i = 0; i < n; ++i) {
            bool const leaf = i + 1 == n;
            std::uint64_t const bits = pte_a | (leaf && wr ? pte_d : 0);
            // A page-table page the walk writes is dirty like any other written page.
            if (lv[i].wide) {
                auto* q = reinterpret_cast<std::uint64_t*>(lv[i].p);
                if ((__atomic_load_n(q, __ATOMIC_RELAXED) & bits) != bits) {
                    __atomic_fetch_or(q, bits, __ATOMIC_SEQ_CST);
                    (void)PhysMem::host(t, lv[i].pa, true);
                }
            } else {
                auto* q = reinterpret_cast<std::uint32_t*>(lv[i].p);
                if ((__atomic_load_n(q, __ATOMIC_RELAXED) & bits) != bits) {
                    __atomic_fetch_or(q, static_cast<std::uint32_t>(bits), __ATOMIC_SEQ_CST);
                    (void)PhysMem::host(t, lv[i].pa, true);
                }
            }
        }
        if (wr) dirty = true;
        gpa = frame | (gva & (page_size - 1) & ~0xfffull) | (gva & 0xfff);
    }

    w.gpa = gpa;
    std::uint8_t* host = PhysMem::host(t, gpa & ~0xfffull, wr);
    if (!host) {
        w.ram = false;
        return w;
    }
    w.host = host + (gpa & 0xfff);
    // The TLB keeps what this walk allows: reads always, fetches unless NX, writes only once
    // the D bit is set (so that the first write still walks and sets it).
    auto& en = tlb_[usr][(gva >> 12) & (tlb_size - 1)];
    std::uint64_t const tag = gva & ~0xfffull;
    bool const code = wr && code_pages_.contains(reinterpret_cast<std::uintptr_t>(host));
    code_hit_ |= code;
    bool const may_write = !(s.cr0 & cr0_pg) || ((writable || (!usr && !(s.cr0 & cr0_wp))) && dirty);
    if (en.host != host || en.r != tag) en = {no_tag, no_tag, no_tag, host, global};
    en.r = tag;
    if (!nx) en.x = tag;
    if (may_write && wr && !code) en.w = tag;   // marked dirty by the PhysMem::host() above
    return w;
}

bool Mmu::access(std::uint64_t gva, void* buf, std::size_t len, Access a) {
    auto* b = static_cast<std::uint8_t*>(buf);
    while (len) {
        std::size_t const chunk = std::min<std::size_t>(len, 4096 - (gva & 0xfff));
        std::uint8_t* p = lookup(gva, a);
        if (!p) {
            Walk w = translate(gva, a);
            if (!w.host && w.ram) return false;
            p = w.host;
        }
        if (a == Access::write) {
            if (p) {
                std::memcpy(p, b, chunk);
            }   // else: not RAM, the write goes nowhere
        } else {
            std::memcpy(b, p ? p : ones_page + (gva & 0xfff), chunk);
        }
        b += chunk;
        gva += chunk;
        len -= chunk;
    }
    return true;
}

bool Mmu::read(std::uint64_t gva, void* dst, std::size_t len) {
    if (std::uint8_t* p = lookup(gva, Access::read); p && (gva & 0xfff) + len <= 4096) {
        std::memcpy(dst, p, len);
        return true;
    }
    return access(gva, dst, len, Access::read);
}

bool Mmu::write(std::uint64_t gva, void const* src, std::size_t len) {
    if (std::uint8_t* p = lookup(gva, Access::write); p && (gva & 0xfff) + len <= 4096) {
        std::memcpy(p, src, len);
        return true;
    }
    return access(gva, const_cast<void*>(src), len, Access::write);
}

bool Mmu::fetch(std::uint64_t gva, void* dst, std::size_t len) {
    return access(gva, dst, len, Access::fetch);
}

std::uint64_t Mmu::rdtsc() { return __rdtsc(); }

namespace {
// clang's __atomic_compare_exchange wants a mutable `desired`; the _n form takes it by value.
template <class T> bool cas(std::uint8_t* p, void* expected, void const* desired) {
    T d;
    std::memcpy(&d, desired, sizeof d);
    return __atomic_compare_exchange_n(reinterpret_cast<T*>(p), static_cast<T*>(expected), d, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}
} // namespace

std::optional<bool> Mmu::cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len) {
    bool const natural = (len == 1 || len == 2 || len == 4 || len == 8 || len == 16) && (gva & 0xfff) + len <= 4096;
    if (!natural) return Env::cmpxchg(gva, expected, desired, len);   // split lock: not atomic
    std::uint8_t* p = lookup(gva, Access::write);
    if (!p) {
        Walk w = translate(gva, Access::write);
        if (!w.host && w.ram) return std::nullopt;
        if (!w.host) return Env::cmpxchg(gva, expected, desired, len);
        p = w.host;
    }
    bool ok;
    // Misaligned locked accesses inside a page are atomic on x86 hosts too (a bus lock), so
    // the host's locked instructions do for any alignment within the page.
    switch (len) {
    case 1: ok = cas<std::uint8_t>(p, expected, desired); break;
    case 2: ok = cas<std::uint16_t>(p, expected, desired); break;
    case 4: ok = cas<std::uint32_t>(p, expected, desired); break;
    case 8: ok = cas<std::uint64_t>(p, expected, desired); break;
    default: {
        unsigned __int128 e, d;
        std::memcpy(&e, expected, 16);
        std::memcpy(&d, desired, 16);
        ok = __sync_bool_compare_and_swap(reinterpret_cast<unsigned __int128*>(p), e, d);
        if (!ok) std::memcpy(expected, p, 16);
        break;
    }
    }
    return ok;
}

Env::CpuidLeaf Mmu::cpuid(std::uint32_t leaf, std::uint32_t subleaf) {
    if (!cpuid_table) return {};
    kvm_cpuid_entry2 const* best = nullptr;
    for (auto const& e : *cpuid_table) {
        if (e.function != leaf) continue;
        if ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e.index != subleaf) continue;
        best = &e;
        break;
    }
    if (!best) return {};
    return {best->eax, best->ebx, best->ecx, best->edx};
}

bool Mmu::msr_exits(std::uint32_t index, bool write) {
    if (!write) return false;
    for (auto [base, count] : msr_filter)
        if (index - base < count) return true;
    return false;
}

} // namespace kxen::soft
