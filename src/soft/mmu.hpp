// kxen::soft::Mmu: the software vCPU's view of memory: linear addresses through the guest's
// page tables (32-bit, PAE, 4-level; 4 KiB, 2/4 MiB and 1 GiB pages; A/D bits, NX, WP, U/S,
// global pages) to guest-physical addresses and on to host memory, with a TLB. It is the Env
// the instruction semantics run against.
#pragma once
#include <linux/kvm.h>
#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>
#include <memory>
#include "soft/emulate.hpp"
#include "soft/phys.hpp"

namespace kxen::soft {

class Mmu final : public Env {
public:
    Mmu(CpuState& s, PhysMem& phys) : s_{&s}, phys_{&phys} { flush_all(); }

    enum class Access : std::uint8_t { read, write, fetch };
    struct Walk {
        std::uint8_t* host = nullptr;   // null: fault (or not RAM, see ram)
        std::uint64_t gpa = 0;
        bool ram = true;                // translated, but the page is not RAM (reads see all-ones)
        std::uint32_t error = 0;        // #PF error code on a fault
    };
    // Translate one address for one access at the vCPU's privilege, filling the TLB. A fault
    // is also kept for pf_error()/pf_addr().
    Walk translate(std::uint64_t gva, Access a);

    // The host address of [gva, gva+len) within one page for an access, or null (then
    // translate() says why). The TLB's hit path.
    std::uint8_t* lookup(std::uint64_t gva, Access a) {
        auto const& e = tlb_[user()][(gva >> 12) & (tlb_size - 1)];
        std::uint64_t const tag = gva & ~0xfffull;
        std::uint64_t const t = a == Access::read ? e.r : a == Access::write ? e.w : e.x;
        return t == tag ? e.host + (gva & 0xfff) : nullptr;
    }

    bool read(std::uint64_t gva, void* dst, std::size_t len) override;
    bool write(std::uint64_t gva, void const* src, std::size_t len) override;
    std::uint64_t rdtsc() override;
    std::optional<bool> cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len) override;
    void tlb_flush(bool global) override;
    void tlb_flush_page(std::uint64_t gva) override;
    CpuidLeaf cpuid(std::uint32_t leaf, std::uint32_t subleaf) override;
    bool msr_exits(std::uint32_t index, bool write) override;

    // Fetch instruction bytes at a linear address (false: #PF, error() says which).
    bool fetch(std::uint64_t gva, void* dst, std::size_t len);
    // The #PF error code of the last refused access.
    [[nodiscard]] std::uint32_t pf_error() const { return pf_error_; }
    [[nodiscard]] std::uint64_t pf_addr() const { return pf_addr_; }

    // Drop every translation (the physical map changed).
    void flush_all();
    // The current physical map; refreshed at a generation change.
    void set_table(std::shared_ptr<SlotTable const> t) { table_ = std::move(t); flush_all(); }
    [[nodiscard]] SlotTable const& table() const { return *table_; }

    // Accesses the CPU makes for itself (IDT, GDT, TSS, stacks during delivery) are supervisor
    // accesses whatever the CPL.
    void set_system(bool on) override { system_ += on ? 1 : -1; }   // nests: a delivery's own accesses

    // Pages the decode cache holds code from get no writable translations, so that every
    // store to them takes the slow path, which raises code_written().
    void add_code_page(std::uint8_t const* host_page);
    [[nodiscard]] bool code_written() const { return code_hit_; }
    void clear_code_written() { code_hit_ = false; }

    // The vCPU's CPUID table and filtered MSRs (set by its owner).
    std::vector<kvm_cpuid_entry2>* cpuid_table = nullptr;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> msr_filter;   // [base, base+count) that exit on write

private:
    static constexpr std::size_t tlb_size = 256;
    struct Entry {
        std::uint64_t r, w, x;   // page tag per access kind (never matches when invalid: 1)
        std::uint8_t* host;      // host address of the page
        bool global;
    };
    [[nodiscard]] unsigned user() const { return s_->cpl == 3 && system_ == 0; }
    bool access(std::uint64_t gva, void* buf, std::size_t len, Access a);

    CpuState* s_;
    PhysMem* phys_;
    std::shared_ptr<SlotTable const> table_ = std::make_shared<SlotTable const>();
    Entry tlb_[2][tlb_size];
    int system_ = 0;
    std::uint32_t pf_error_ = 0;
    std::uint64_t pf_addr_ = 0;
    std::unordered_set<std::uintptr_t> code_pages_;
    bool code_hit_ = false;
};

} // namespace kxen::soft
