// Fuzzes soft::Cpu with whole machines: the input picks a mode (64-bit, compatibility, 32-bit
// protected with and without paging, 16-bit protected), a CPL, control-register and RFLAGS
// bits, registers and segment bases, patches the GDT, IDT, TSS and page tables the harness
// builds, and supplies the code. The guest runs for a bounded number of blocks (and a timer
// kicks it should one block take long, a stuck rep perhaps); the host
// must survive: no crash, no hang, no access outside the guest's RAM, which has an inaccessible
// page on each side.
//
// Built for libFuzzer with -DKXEN_FUZZ=ON (clang), and with GCC as fuzz_soft_cpu_smoke, which
// runs a fixed number of inputs from a fixed seed:
//   CC=clang-16 CXX=clang++-16 cmake -S . -B build-fuzz -G Ninja -DKXEN_FUZZ=ON
//       -DKXEN_BUILD_TESTS=OFF -DKXEN_BUILD_BENCH=OFF
//   ninja -C build-fuzz fuzz_soft_cpu
//   mkdir -p corpus && build-fuzz/bin/fuzz_soft_cpu -max_len=600 corpus
// A crash's input replays with `build-fuzz/bin/fuzz_soft_cpu crash-<sha1>`.
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include "common/log.hpp"
#include "soft/cpu.hpp"
#include "soft/cpuid_model.hpp"
#include "soft/regs.hpp"

namespace {

using namespace kxen::soft;

constexpr std::uint64_t ram_size = 64 * 1024;
constexpr std::uint64_t gdt = 0x1000, idt = 0x2000, pml4 = 0x3000, pdpt = 0x4000, pd = 0x5000, pt = 0x6000,
                        pd32 = 0x7000, pt32 = 0x8000, tss = 0x9000, stack_top = 0xf000;
constexpr unsigned max_runs = 8, max_blocks = 256;

std::uint8_t* ram() {
    static std::uint8_t* const base = [] {
        auto* p = static_cast<std::uint8_t*>(
            mmap(nullptr, ram_size + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
        if (p == MAP_FAILED || mprotect(p + 4096, ram_size, PROT_READ | PROT_WRITE)) std::abort();
        return p + 4096;
    }();
    return base;
}

PhysMem& phys() {
    static PhysMem* const p = [] {
        auto* m = new PhysMem;
        m->set_slot(0, 0, ram_size, ram(), true);   // dirty logging on: its path runs too
        return m;
    }();
    return *p;
}

// The vCPU a timer kicks: run() returns within 50 ms whatever the guest does.
Cpu* volatile running = nullptr;
void on_timer(int) {
    if (Cpu* c = running) c->kick();
}
timer_t kick_timer() {
    static timer_t const t = [] {
        struct sigaction sa{};
        sa.sa_handler = on_timer;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGRTMIN + 3, &sa, nullptr);
        sigevent ev{};
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = SIGRTMIN + 3;
        ev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
        timer_t id;
        if (timer_create(CLOCK_MONOTONIC, &ev, &id)) std::abort();
        return id;
    }();
    return t;
}
void arm(bool on) {
    itimerspec its{};
    if (on) its.it_value.tv_nsec = its.it_interval.tv_nsec = 50'000'000;
    timer_settime(kick_timer(), 0, &its, nullptr);
}

// Reads the input front to back; past its end, zeros.
struct Input {
    std::uint8_t const* p;
    std::size_t n;
    template <class T> T take() {
        T v{};
        std::size_t const k = n < sizeof v ? n : sizeof v;
        std::memcpy(&v, p, k);
        p += k;
        n -= k;
        return v;
    }
};

template <class T> void put(std::uint64_t gpa, T v) { std::memcpy(ram() + gpa, &v, sizeof v); }

std::uint64_t desc(std::uint32_t base, std::uint32_t limit, std::uint16_t attr) {
    return (limit & 0xffff) | (std::uint64_t{base & 0xffffff} << 16) | (std::uint64_t{attr & 0xffu} << 40) |
           (std::uint64_t{(limit >> 16) & 0xf} << 48) | (std::uint64_t{(attr >> 8) & 0xfu} << 52) |
           (std::uint64_t{base >> 24} << 56);
}

enum MachineMode : unsigned { long64, compat, prot32, prot32_pae, prot32_paging, prot16, modes };

void build_tables(MachineMode mode, unsigned cpl, std::uint64_t handler) {
    std::uint16_t const dpl = static_cast<std::uint16_t>(cpl << 5);
    std::uint64_t const g[] = {0,
                               desc(0, 0xfffff, 0xa9b),          // 0x08 code64
                               desc(0, 0xfffff, 0xc93),          // 0x10 data
                               desc(0, 0xfffff, 0xcfb),          // 0x18 user code32
                               desc(0, 0xfffff, 0xcf3),          // 0x20 user data
                               desc(0, 0xfffff, 0xafb),          // 0x28 user code64
                               desc(tss, 0x2067, 0x8b),          // 0x30 TSS (busy)
                               0,
                               desc(0, 0xfffff, 0xc9b),          // 0x40 code32
                               desc(0, 0xffff, 0x09b),           // 0x48 code16
                               desc(0, 0xfffff, 0xc93 | dpl),    // 0x50 data at the CPL
                               desc(0, 0xfffff, 0xc9b | dpl),    // 0x58 code32 at the CPL
                               desc(0, 0xfffff, 0xa9b | dpl)};   // 0x60 code64 at the CPL
    std::memcpy(ram() + gdt, g, sizeof g);
    bool const lm = mode == long64 || mode == compat;
    for (unsigned v = 0; v < 256; ++v) {
        std::uint16_t const sel = lm ? 0x08 : 0x40;
        std::uint64_t const lo = (handler & 0xffff) | (std::uint64_t{sel} << 16) | (0xeull << 40) |
                                 (std::uint64_t{v == 3 || v == 0x80 ? 3u : 0u} << 45) | (1ull << 47) |
                                 (((handler >> 16) & 0xffff) << 48);
        if (lm) {
            put(idt + 16 * v, lo);
            put<std::uint64_t>(idt + 16 * v + 8, 0);
        } else {
            put(idt + 8 * v, lo);
        }
    }
    put<std::uint64_t>(tss + 4, stack_top);   // RSP0 (64-bit TSS)
    put<std::uint32_t>(tss + 4, stack_top);   // ESP0 (32-bit TSS), SS0 next
    put<std::uint16_t>(tss + 8, 0x10);
    for (unsigned i = 0; i < 7; ++i) put<std::uint64_t>(tss + 0x24 + 8 * i, stack_top - 0x800 * (i + 1));
    put<std::uint16_t>(tss + 0x66, 0x68);
    put<std::uint64_t>(pml4, pdpt | 7);
    put<std::uint64_t>(pdpt, pd | 7);
    put<std::uint64_t>(pd, pt | 7);
    for (std::uint64_t i = 0; i < 512; ++i) put<std::uint64_t>(pt + 8 * i, (i << 12) | 7);
    if (mode == prot32_pae)
        for (unsigned i = 0; i < 4; ++i) put<std::uint64_t>(pdpt + 8 * i, i == 0 ? pd | 1 : 0);
    put<std::uint32_t>(pd32, pt32 | 7);
    for (std::uint32_t i = 0; i < 1024; ++i) put<std::uint32_t>(pt32 + 4 * i, (i << 12) | 7);
}

// What CpuState promises whatever the guest did: the mode flags mirror EFER.LMA and CS's L
// and D/B, the CPL is CS's RPL, RFLAGS bit 1 is set. A broken promise is a crash to keep.
void check_invariants(CpuState const& s) {
    char const* broken = nullptr;
    if (s.long_mode != ((s.efer >> 10) & 1)) broken = "long_mode != EFER.LMA";
    else if (s.cs_l != ((s.seg[cs].attr & seg_attr::l) != 0)) broken = "cs_l != CS.L";
    else if (s.cs_db != ((s.seg[cs].attr & seg_attr::db) != 0)) broken = "cs_db != CS.D";
    else if (s.cpl != (s.seg[cs].sel & 3u)) broken = "cpl != CS.RPL";
    else if (!(s.rflags & 2) || (s.rflags >> 22)) broken = "RFLAGS reserved bits";
    else if (s.long_mode && !(s.cr0 & 0x80000000)) broken = "long mode without paging";
    if (!broken) return;
    std::fprintf(stderr, "CpuState invariant broken: %s (rip %#llx cs %#x attr %#x cpl %u efer %#llx)\n", broken,
                 static_cast<unsigned long long>(s.rip), s.seg[cs].sel, s.seg[cs].attr, s.cpl,
                 static_cast<unsigned long long>(s.efer));
    std::abort();
}

struct Stats {
    std::uint64_t runs = 0, instructions = 0, exits[64] = {}, kicked = 0;
} stats;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    static std::vector<kvm_cpuid_entry2> const cpuid = [] {
        kxen::log::set_min_level(kxen::log::Level::error);   // every #UD would be a line
        return cpuid_model();
    }();
    Input in{data, size};
    // hlt wherever the input put nothing: code that runs off its end stops soon, not after
    // thousands of `add %al, (%rax)`.
    std::memset(ram(), 0xf4, ram_size);

    auto const mode = static_cast<MachineMode>(in.take<std::uint8_t>() % modes);
    unsigned const cpl = in.take<std::uint8_t>() & 3;
    auto const cr0_bits = in.take<std::uint32_t>();
    auto const cr4_bits = in.take<std::uint32_t>();
    auto const misc = in.take<std::uint32_t>();
    auto const rflags = in.take<std::uint32_t>();
    std::uint64_t const rip = in.take<std::uint16_t>() % ram_size;
    auto const handler = in.take<std::uint16_t>() % ram_size;
    auto const seg_base = in.take<std::uint32_t>();
    build_tables(mode, cpl, handler);

    Cpu cpu{phys(), 0};
    cpu.cpuid = cpuid;
    auto& s = cpu.state();
    bool const lm = mode == long64 || mode == compat;
    bool const paging = lm || mode == prot32_pae || mode == prot32_paging;
    // PE always: the soft vCPU does not run real mode. WP, AM, NE, TS, EM, MP, CD, NW from the input.
    s.cr0 = 0x11 | (cr0_bits & 0x6005002e) | (paging ? 0x80000000u : 0);
    // VME, PVI, TSD, DE, PSE, PGE, PCE, OSFXSR, OSXMMEXCPT, UMIP, FSGSBASE, OSXSAVE, SMEP, SMAP.
    s.cr4 = (cr4_bits & 0x3507ff & ~0x20u) | (lm || mode == prot32_pae ? 0x20u : 0);
    s.efer = (misc & 1 ? 0x800 : 0) | (misc & 2 ? 1 : 0) | (lm ? 0x500 : 0);
    s.cr3 = lm ? pml4 : mode == prot32_pae ? pdpt : pd32;
    s.xcr0 = 3;
    s.cpl = cpl;
    s.long_mode = lm;
    s.cs_l = mode == long64;
    s.cs_db = mode != long64 && mode != prot16;
    std::uint16_t const dpl = static_cast<std::uint16_t>(cpl << 5);
    std::uint16_t const code = mode == long64 ? 0xa9b : mode == prot16 ? 0x09b : 0xc9b;
    std::uint64_t const base = lm || !(misc & 4) ? 0 : seg_base;
    s.seg[cs] = Segment{base, mode == prot16 ? 0xffffu : 0xffffffffu,
                        static_cast<std::uint16_t>((mode == long64 ? 0x60u : 0x58u) | cpl),
                        static_cast<std::uint16_t>(code | dpl)};
    for (int r : {es, ss, ds, fs, gs})
        s.seg[r] = Segment{r == fs || r == gs ? seg_base : base, 0xffffffffu, static_cast<std::uint16_t>(0x50u | cpl),
                           static_cast<std::uint16_t>(0xc93u | dpl)};
    s.tr = {tss, 0x2067, 0x30, 0x8b};
    s.ldtr = {0, 0, 0, 0};
    s.gdtr = {gdt, static_cast<std::uint16_t>(misc & 8 ? (misc >> 8) & 0xfff : 13 * 8 - 1)};
    s.idtr = {idt, static_cast<std::uint16_t>(misc & 16 ? (misc >> 20) & 0xfff : lm ? 0xfff : 0x7ff)};
    s.rflags = (rflags & 0x254dd5) | 2;   // CF PF AF ZF SF TF IF DF OF IOPL NT AC ID; no VM, no RF
    s.rip = rip;
    s.msr.lstar = s.msr.cstar = handler;
    s.msr.star = (std::uint64_t{0x18} << 48) | (std::uint64_t{0x08} << 32);
    s.msr.kernel_gs_base = seg_base;
    for (unsigned i = 0; i < 16; ++i) {
        auto const r = in.take<std::uint8_t>();
        // Mostly addresses in RAM, sometimes anything.
        s.gpr[i] = r & 0x80 ? (std::uint64_t{r} << 56 | r) * 0x0101010101ull : (std::uint64_t{r} << 9) % ram_size;
    }
    s.gpr[rsp] = stack_top - 0x100;
    cpu.mmu().tlb_flush(true);

    // Patches: count, then (offset, length, bytes) each, over the tables and anything else.
    unsigned const patches = in.take<std::uint8_t>() & 15;
    for (unsigned i = 0; i < patches && in.n; ++i) {
        auto const off = in.take<std::uint16_t>() % ram_size;
        std::size_t len = in.take<std::uint8_t>() & 31u;
        len = std::min<std::size_t>({len, in.n, static_cast<std::size_t>(ram_size - off)});
        std::memcpy(ram() + off, in.p, len);
        in.p += len;
        in.n -= len;
    }
    auto const irq = in.take<std::uint8_t>();
    // The rest is the code, at RIP (linear = physical at the start, with the bases used).
    std::uint64_t const at = ((base + rip) & 0xffffffff) % ram_size;
    std::size_t const n = std::min<std::size_t>(in.n, ram_size - at);
    std::memcpy(ram() + at, in.p, n);

    if (irq >= 32 && irq < 0x40) cpu.interrupt(irq);
    cpu.set_block_limit(max_blocks);
    running = &cpu;
    arm(true);
    for (unsigned r = 0; r < max_runs; ++r) {
        ++stats.runs;
        if (!cpu.run()) {
            ++stats.kicked;
            break;
        }
        auto* k = cpu.run_state();
        ++stats.exits[k->exit_reason & 63];
        if (k->exit_reason != KVM_EXIT_SHUTDOWN && k->exit_reason != KVM_EXIT_INTERNAL_ERROR) check_invariants(s);
        if (k->exit_reason == KVM_EXIT_SHUTDOWN || k->exit_reason == KVM_EXIT_INTERNAL_ERROR) break;
        if (k->exit_reason == KVM_EXIT_IO && k->io.direction == KVM_EXIT_IO_IN)
            std::memset(reinterpret_cast<std::uint8_t*>(k) + k->io.data_offset, 0xa5, k->io.size * k->io.count);
        if (k->exit_reason == KVM_EXIT_X86_RDMSR || k->exit_reason == KVM_EXIT_X86_WRMSR) k->msr.error = 1;
    }
    arm(false);
    running = nullptr;
    stats.instructions += cpu.instructions();
    std::uint64_t bits[1];
    phys().get_dirty_log(0, bits);
    return 0;
}

#ifdef KXEN_FUZZ_SMOKE
#include <cctype>
#include <chrono>
#include <random>
#include <vector>

// Without libFuzzer: random inputs from a fixed seed (arguments: [count] [seed]), or the
// files named (a libFuzzer corpus or a crash to replay).
int main(int argc, char** argv) {
    if (argc > 1 && !std::isdigit(static_cast<unsigned char>(argv[1][0]))) {
        for (int i = 1; i < argc; ++i) {
            std::FILE* f = std::fopen(argv[i], "rb");
            if (!f) continue;
            std::vector<std::uint8_t> in(1 << 16);
            in.resize(std::fread(in.data(), 1, in.size(), f));
            std::fclose(f);
            LLVMFuzzerTestOneInput(in.data(), in.size());
        }
        std::printf("%d inputs\n", argc - 1);
        return 0;
    }
    unsigned long const count = argc > 1 ? std::strtoul(argv[1], nullptr, 0) : 20000;
    unsigned long const seed = argc > 2 ? std::strtoul(argv[2], nullptr, 0) : 1;
    std::mt19937_64 rng{seed};
    std::vector<std::uint8_t> buf;
    auto const t0 = std::chrono::steady_clock::now();
    for (unsigned long i = 0; i < count; ++i) {
        buf.resize(rng() % 512);
        for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
        LLVMFuzzerTestOneInput(buf.data(), buf.size());
    }
    double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%lu inputs in %.1f s (%.0f/s), %llu instructions, %llu kicked; exits:", count, secs, count / secs,
                static_cast<unsigned long long>(stats.instructions), static_cast<unsigned long long>(stats.kicked));
    for (unsigned i = 0; i < 64; ++i)
        if (stats.exits[i]) std::printf(" %u:%llu", i, static_cast<unsigned long long>(stats.exits[i]));
    std::printf("\n");
    return 0;
}
#endif
