// A small guest for the system tests: GDT, IDT, TSS and stacks in one MemEnv, laid out like a
// 64-bit kernel's (STAR-compatible selectors).
#pragma once
#include "soft/deliver.hpp"
#include "soft/test_env.hpp"

namespace kxen::soft::test {

inline constexpr std::uint64_t gdt = 0x11000, idt = 0x12000, tss = 0x13000;
inline constexpr std::uint64_t kstack = 0x16000, ist1 = 0x17000, ustack = 0x18000, handler = 0x10800;
// Selectors: kernel code64/data, user code32/data/code64 (the STAR layout), TSS, kernel code32,
// a not-present data segment, a DPL-0 data segment, a not-present code64 segment.
inline constexpr std::uint16_t kcs = 0x08, kds = 0x10, ucs32 = 0x1b, uds = 0x23, ucs = 0x2b, tss_sel = 0x30,
                               kcs32 = 0x40, absent = 0x48, kds2 = 0x50, absent_code = 0x58;
inline constexpr std::uint16_t a_code64 = 0xa9b, a_code32 = 0xc9b, a_data = 0xc93, dpl3 = 0x60;

inline std::uint64_t desc(std::uint32_t base, std::uint32_t limit, std::uint16_t attr) {
    return (limit & 0xffff) | (std::uint64_t{base & 0xffffff} << 16) | (std::uint64_t{attr & 0xffu} << 40) |
           (std::uint64_t{(limit >> 16) & 0xf} << 48) | (std::uint64_t{(attr >> 8) & 0xfu} << 52) |
           (std::uint64_t{base >> 24} << 56);
}

class SysEnv : public MemEnv {
public:
    SysEnv() : MemEnv(0x10000, 0x10000) {
        put<std::uint64_t>(gdt + kcs, desc(0, 0xfffff, a_code64));
        put<std::uint64_t>(gdt + kds, desc(0, 0xfffff, a_data));
        put<std::uint64_t>(gdt + 0x18, desc(0, 0xfffff, a_code32 | dpl3));
        put<std::uint64_t>(gdt + 0x20, desc(0, 0xfffff, a_data | dpl3));
        put<std::uint64_t>(gdt + 0x28, desc(0, 0xfffff, a_code64 | dpl3));
        put<std::uint64_t>(gdt + tss_sel, desc(static_cast<std::uint32_t>(tss), 0x2067, 0x89));   // available 64-bit TSS
        put<std::uint64_t>(gdt + kcs32, desc(0, 0xfffff, a_code32));
        put<std::uint64_t>(gdt + absent, desc(0, 0xfffff, a_data & ~0x80));
        put<std::uint64_t>(gdt + kds2, desc(0, 0xfffff, a_data));
        put<std::uint64_t>(gdt + absent_code, desc(0, 0xfffff, a_code64 & ~0x80));
        put<std::uint64_t>(tss + 4, kstack);        // RSP0
        put<std::uint64_t>(tss + 0x24, ist1);       // IST1
        put<std::uint16_t>(tss + 0x66, 0x68);       // I/O bitmap right after the TSS
        for (unsigned i = 0; i < 0x2000; ++i) put<std::uint8_t>(tss + 0x68 + i, 0xff);
    }
    // A 64-bit interrupt (type 0xe) or trap (0xf) gate.
    void gate64(unsigned v, std::uint64_t off, unsigned type = 0xe, unsigned dpl = 0, unsigned ist = 0,
                std::uint16_t sel = kcs, bool present = true) {
        std::uint64_t const lo = (off & 0xffff) | (std::uint64_t{sel} << 16) | (std::uint64_t{ist} << 32) |
                                 (std::uint64_t{type} << 40) | (std::uint64_t{dpl} << 45) |
                                 (std::uint64_t{present} << 47) | (((off >> 16) & 0xffff) << 48);
        put(idt + 16 * v, lo);
        put(idt + 16 * v + 8, off >> 32);
    }
    void gate32(unsigned v, std::uint32_t off, unsigned type = 0xe, unsigned dpl = 0, std::uint16_t sel = kcs32) {
        std::uint64_t const lo = (off & 0xffff) | (std::uint64_t{sel} << 16) | (std::uint64_t{type} << 40) |
                                 (std::uint64_t{dpl} << 45) | (1ull << 47) | (std::uint64_t{off >> 16} << 48);
        put(idt + 8 * v, lo);
    }
    std::vector<std::pair<std::uint64_t, bool>> flushes;   // (page or ~0, global)
    void tlb_flush(bool global) override { flushes.emplace_back(~0ull, global); }
    void tlb_flush_page(std::uint64_t gva) override { flushes.emplace_back(gva, false); }
    CpuidLeaf cpuid(std::uint32_t leaf, std::uint32_t sub) override {
        if (leaf == 0xd && sub == 0) return {0x7, 0, 0, 0};
        if (leaf == 0x80000008) return {0x3030, 0, 0, 0};   // 48-bit physical and linear
        return {leaf, sub, 0x1234, 0x5678};
    }
    std::uint32_t exiting_msr = 0;
    bool msr_exits(std::uint32_t index, bool) override { return index == exiting_msr; }
};

inline Segment seg(std::uint16_t sel, std::uint16_t attr) { return Segment{0, 0xffffffff, sel, attr}; }

// Ring 0 of a 64-bit kernel on SysEnv's tables.
inline CpuState kernel64() {
    CpuState s = cpu64();
    s.seg[1] = seg(kcs, a_code64);
    s.seg[2] = seg(kds, a_data);
    s.seg[0] = s.seg[3] = seg(kds, a_data);
    s.gdtr = {gdt, 0x7f};
    s.idtr = {idt, 0xfff};
    s.tr = Segment{tss, 0x2067, tss_sel, 0x8b};
    s.gpr[4] = kstack - 0x100;
    s.rflags = 0x202;
    return s;
}

// Ring 3 64-bit user code on the same tables.
inline CpuState user64() {
    CpuState s = kernel64();
    s.seg[1] = seg(ucs, a_code64 | dpl3);
    s.seg[2] = seg(uds, a_data | dpl3);
    s.seg[0] = s.seg[3] = seg(uds, a_data | dpl3);
    s.cpl = 3;
    s.gpr[4] = ustack - 8;
    return s;
}

// Ring 0 of a 32-bit protected-mode kernel (8-byte gates, a 32-bit TSS).
inline CpuState kernel32() {
    CpuState s = kernel64();
    s.cr0 = 0x11;
    s.cr4 = 0;
    s.efer = 0;
    s.long_mode = s.cs_l = false;
    s.cs_db = true;
    s.seg[1] = seg(kcs32, a_code32);
    s.idtr = {idt, 0x7ff};
    s.tr = Segment{tss, 0x2067, tss_sel, 0x8b};
    return s;
}

} // namespace kxen::soft::test
