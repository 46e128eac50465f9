// A guest for the soft vCPU system tests: 16 MiB of RAM in an anonymous mapping with guard pages
// on both sides, the programs of guest.S at CODE, and long mode prepared by hand (GDT, IDT, TSS,
// page tables, CpuState) so that each test starts a program at ring 0 with paging on.
#pragma once
#include <sys/mman.h>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <thread>
#include "soft/cpu.hpp"
#include "soft/cpuid_model.hpp"
#include "soft/regs.hpp"
#include "layout.h"

extern "C" std::uint8_t const kxen_guest_blob[], kxen_guest_blob_end[];

namespace kxen::soft::systest {

// RAM with an inaccessible page on each side: a host access that strays out of the guest's
// memory faults instead of reading a neighbour.
class GuardedRam {
public:
    explicit GuardedRam(std::size_t size) : size_{size} {
        base_ = static_cast<std::uint8_t*>(
            mmap(nullptr, size + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
        if (base_ == MAP_FAILED) throw std::runtime_error("mmap");
        if (mprotect(base_ + 4096, size, PROT_READ | PROT_WRITE)) throw std::runtime_error("mprotect");
    }
    ~GuardedRam() { munmap(base_, size_ + 2 * 4096); }
    GuardedRam(GuardedRam const&) = delete;
    GuardedRam& operator=(GuardedRam const&) = delete;
    [[nodiscard]] std::uint8_t* data() const { return base_ + 4096; }
    [[nodiscard]] std::size_t size() const { return size_; }

private:
    std::uint8_t* base_;
    std::size_t size_;
};

inline constexpr std::uint64_t ram_size = 16 << 20, dirty_size = 2 << 20;
inline constexpr std::uint64_t pte_p = 1, pte_rw = 2, pte_us = 4, pte_a = 0x20, pte_d = 0x40, pte_ps = 0x80,
                               pte_nx = 1ull << 63;
inline constexpr std::uint16_t attr_code64 = 0xa9b, attr_code32 = 0xc9b, attr_data = 0xc93, attr_tss_busy = 0x8b;

inline std::uint64_t desc(std::uint32_t base, std::uint32_t limit, std::uint16_t attr) {
    return (limit & 0xffff) | (std::uint64_t{base & 0xffffff} << 16) | (std::uint64_t{attr & 0xffu} << 40) |
           (std::uint64_t{(limit >> 16) & 0xf} << 48) | (std::uint64_t{(attr >> 8) & 0xfu} << 52) |
           (std::uint64_t{base >> 24} << 56);
}

class Machine {
    GuardedRam ram_, dirty_ram_;   // first: outlives the vCPUs

public:
    Machine() : ram_{ram_size}, dirty_ram_{dirty_size} {
        phys.set_slot(0, 0, ram_size, ram_.data(), false);
        std::memcpy(ram_.data() + CODE, kxen_guest_blob, static_cast<std::size_t>(kxen_guest_blob_end - kxen_guest_blob));
        build_tables();
        cpu = new_cpu(0);
    }

    template <class T> T get(std::uint64_t gpa) const {
        T v;
        std::memcpy(&v, ram_.data() + gpa, sizeof v);
        return v;
    }
    template <class T> void put(std::uint64_t gpa, T v) { std::memcpy(ram_.data() + gpa, &v, sizeof v); }
    [[nodiscard]] std::uint8_t* host(std::uint64_t gpa) const { return ram_.data() + gpa; }
    [[nodiscard]] std::uint8_t* dirty_host() const { return dirty_ram_.data(); }
    [[nodiscard]] std::uint64_t entry(unsigned i) const { return get<std::uint64_t>(CODE + 8 * i); }
    std::uint64_t& pte(std::uint64_t va) { return *reinterpret_cast<std::uint64_t*>(host(PT + 8 * (va >> 12))); }
    std::uint64_t& pde(unsigned i) { return *reinterpret_cast<std::uint64_t*>(host(PD + 8 * i)); }
    std::uint64_t report(unsigned off) const { return get<std::uint64_t>(REPORT + off); }

    void enable_dirty_slot() { phys.set_slot(1, DIRTY_GPA, dirty_size, dirty_ram_.data(), true); }

    // A vCPU in 64-bit mode at ring 0, paging on, WP and NXE set, at program e.
    std::unique_ptr<Cpu> new_cpu(unsigned id) {
        auto c = std::make_unique<Cpu>(phys, id);
        c->cpuid = cpuid_model();
        auto& s = c->state();
        s.cr0 = 0x80010033;
        s.cr4 = 0x620;
        s.efer = 0xd00;
        s.cr3 = PML4;
        s.seg[cs] = {0, 0xffffffff, SEL_KCODE, attr_code64};
        for (int r : {es, ss, ds, fs, gs}) s.seg[r] = {0, 0xffffffff, SEL_KDATA, attr_data};
        s.tr = {TSS_BASE, 0x67, SEL_TSS, attr_tss_busy};
        s.gdtr = {GDT_BASE, 9 * 8 - 1};
        s.idtr = {IDT_BASE, 0xfff};
        s.cpl = 0;
        s.long_mode = true;
        s.cs_l = true;
        s.cs_db = false;
        s.rflags = 2;
        s.gpr[rsp] = STACK0_TOP;
        c->mmu().tlb_flush(true);
        return c;
    }
    void start(unsigned e, Cpu* c = nullptr) {
        c = c ? c : cpu.get();
        c->state().rip = entry(e);
    }

    // Runs until an exit; a program that has not exited after `limit` is kicked and fails.
    std::uint32_t run(Cpu* c = nullptr, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        c = c ? c : cpu.get();
        std::mutex mu;
        std::condition_variable cv;
        bool done = false, timed_out = false;
        std::thread dog([&] {
            std::unique_lock l{mu};
            if (!cv.wait_for(l, limit, [&] { return done; })) {
                timed_out = true;
                c->kick();
            }
        });
        bool const exited = c->run();
        {
            std::lock_guard l{mu};
            done = true;
        }
        cv.notify_one();
        dog.join();
        if (!exited) return timed_out ? ~0u : ~1u;
        return c->run_state()->exit_reason;
    }
    std::uint64_t io_value(Cpu* c = nullptr) {
        c = c ? c : cpu.get();
        std::uint64_t v = 0;
        auto* r = c->run_state();
        std::memcpy(&v, reinterpret_cast<std::uint8_t*>(r) + r->io.data_offset, r->io.size);
        return v;
    }

    PhysMem phys;
    std::unique_ptr<Cpu> cpu;

private:
    void build_tables() {
        std::uint64_t const gdt[] = {0,
                                     desc(0, 0xfffff, attr_code64),
                                     desc(0, 0xfffff, attr_data),
                                     desc(0, 0xfffff, attr_code32 | 0x60),
                                     desc(0, 0xfffff, attr_data | 0x60),
                                     desc(0, 0xfffff, attr_code64 | 0x60),
                                     desc(TSS_BASE, 0x67, attr_tss_busy),
                                     0,
                                     desc(0, 0xfffff, attr_code32)};
        std::memcpy(host(GDT_BASE), gdt, sizeof gdt);
        put<std::uint64_t>(TSS_BASE + 4, STACK0_TOP);
        put<std::uint64_t>(TSS_BASE + 0x24, IST1_TOP);
        put<std::uint16_t>(TSS_BASE + 0x66, 0x68);
        std::uint64_t const stubs = entry(E_STUBS);
        for (unsigned v = 0; v < 256; ++v) {
            std::uint64_t const off = stubs + 16 * v;
            unsigned const dpl = v == 3 ? 3 : 0, ist = v == 0x41 ? 1 : 0;
            std::uint64_t const lo = (off & 0xffff) | (std::uint64_t{SEL_KCODE} << 16) | (std::uint64_t{ist} << 32) |
                                     (0xeull << 40) | (std::uint64_t{dpl} << 45) | (1ull << 47) |
                                     (((off >> 16) & 0xffff) << 48);
            put(IDT_BASE + 16 * v, lo);
            put(IDT_BASE + 16 * v + 8, off >> 32);
        }
        put<std::uint64_t>(PML4, PDPT | pte_p | pte_rw | pte_us);
        put<std::uint64_t>(PDPT, PD | pte_p | pte_rw | pte_us);
        put<std::uint64_t>(PDPT + 8, 0 | pte_p | pte_rw | pte_ps);            // ALIAS_1G
        put<std::uint64_t>(PD, PT | pte_p | pte_rw | pte_us);
        for (unsigned i = 1; i < 8; ++i) pde(i) = (std::uint64_t{i} << 21) | pte_p | pte_rw | pte_ps;
        pde(ALIAS_2M >> 21) = BIG_2M | pte_p | pte_rw | pte_ps;
        pde(DIRTY_GPA >> 21) = DIRTY_GPA | pte_p | pte_rw | pte_ps;
        for (std::uint64_t va = 0; va < 0x200000; va += 4096) pte(va) = va | pte_p | pte_rw;
        for (std::uint64_t va = USER_STACK_TOP - 0x8000; va < USER_STACK_TOP; va += 4096) pte(va) |= pte_us;
        pte(PERCPU_USER) &= ~pte_rw;
        for (std::uint64_t va = USER_CODE; va < entry(E_USER_END); va += 4096) pte(va) |= pte_us;
    }
};

} // namespace kxen::soft::systest
