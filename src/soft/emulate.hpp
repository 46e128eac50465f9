// kxen::soft: kxend's fallback x86 instruction emulator.
//
// On hosts whose KVM has no VT-x/SVM (kvm_pvm, DESIGN.md sec. 7) every guest ring-0 instruction
// goes through KVM's in-kernel emulator, which stops with KVM_INTERNAL_ERROR_EMULATION on
// instructions compiled kernels use (pxor, movq to memory, ldmxcsr, xrstor, popcnt, crc32,
// cmpxchg16b, rdtscp, clac, x87 ...). The vCPU loop then hands the reported bytes and the vCPU
// state to emulate(), writes the state back and resumes the guest; anything this file does not
// cover comes back as `unsupported` or `fault`, and the domain is crashed with describe() in
// the log. Nothing here knows KVM: tests drive it with an in-memory Env.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace kxen::soft {

struct Xmm {
    std::uint64_t lo, hi;
    constexpr bool operator==(Xmm const&) const = default;
};

// Bytes of the standard-format XSAVE area from offset 576 on: state components 2 and up (AVX,
// AVX-512, PKRU ...) at the offsets CPUID.(0xd,i).EBX gives, i.e. exactly bytes 576..4095 of
// KVM_GET_XSAVE's region. The emulator never interprets them; xsave/xrstor copy them.
inline constexpr std::size_t xsave_legacy_size = 512;
inline constexpr std::size_t xsave_header_size = 64;
inline constexpr std::size_t xsave_ext_offset = xsave_legacy_size + xsave_header_size;   // 576
inline constexpr std::size_t kvm_xsave_size = 4096;                                       // kvm_xsave.region
using XsaveExt = std::array<std::uint8_t, kvm_xsave_size - xsave_ext_offset>;

// A segment register's hidden part. attr is packed as VMX and Xen's save records pack it:
// type 3:0, S 4, DPL 6:5, P 7, AVL 8, L 9, D/B 10, G 11; attr 0 (P clear) is an unusable segment.
struct Segment {
    std::uint64_t base;
    std::uint32_t limit;               // in bytes (G already applied)
    std::uint16_t sel;
    std::uint16_t attr;
    constexpr bool operator==(Segment const&) const = default;
};
namespace seg_attr {
inline constexpr std::uint16_t s = 1u << 4, p = 1u << 7, l = 1u << 9, db = 1u << 10, g = 1u << 11;
constexpr unsigned type(std::uint16_t a) { return a & 0xf; }
constexpr unsigned dpl(std::uint16_t a) { return (a >> 5) & 3; }
}

struct DescTable {
    std::uint64_t base;
    std::uint16_t limit;
    constexpr bool operator==(DescTable const&) const = default;
};

// The MSRs the interpreter implements beyond EFER and TSC_AUX (which have fields of their own).
struct Msrs {
    std::uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    std::uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    std::uint64_t pat = 0x0007040600070406ull;   // the reset value
    std::uint64_t misc_enable = 1;               // fast strings
    std::uint64_t apic_base = 0xfee00900ull;     // BSP, xAPIC enabled, the default base
    std::uint64_t tsc_offset;                    // guest TSC = host TSC + offset (IA32_TSC writes)
    constexpr bool operator==(Msrs const&) const = default;
};

struct CpuState {                      // the vCPU's architectural state
    std::uint64_t gpr[16];             // rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (x86 encoding order)
    std::uint64_t rip, rflags;
    std::uint64_t cr0, cr4, efer;
    unsigned cpl;                      // 0..3
    bool long_mode, cs_l, cs_db;       // 64-bit code: long_mode && cs_l; else cs_db picks 32/16-bit;
                                       // kept equal to EFER.LMA, seg[cs].attr L and D/B
    Segment seg[6];                    // es cs ss ds fs gs (in 64-bit mode only fs/gs bases count)
    // System state. The single-step fallback on KVM (hv/vcpu/emulate_exit.cpp) fills only what
    // the instructions it is asked to run read; the software vCPU keeps all of it.
    Segment ldtr, tr;
    DescTable gdtr, idtr;
    std::uint64_t cr2, cr3, cr8;
    std::uint64_t dr[8];               // dr0-3, (4, 5 unused), dr6, dr7
    Msrs msr;
    // Set by sti (when IF was clear), mov ss and pop ss: no interrupt is taken before the next
    // instruction completes; the software vCPU's loop clears it after that instruction.
    bool interrupt_shadow;
    Xmm xmm[16];
    std::uint32_t mxcsr;
    // x87 as in struct kvm_fpu / the FXSAVE image: fpr[i] is ST(i) (stack order, not physical
    // register order), an 80-bit value in its first 10 bytes; ftwx is the abridged tag byte,
    // bit j = physical register R(j) valid, where ST(i) is R((TOP + i) & 7), TOP = fsw bits 11-13.
    std::uint8_t fpr[8][16];
    std::uint16_t fcw, fsw;
    std::uint8_t ftwx;
    std::uint16_t fop;                 // kvm_fpu.last_opcode
    std::uint64_t fip, fdp;            // kvm_fpu.last_ip / last_dp (64-bit FXSAVE64 format)
    std::uint64_t xcr0;
    std::uint64_t tsc_aux;
    // XSAVE components >= 2 (see XsaveExt) and which of them are not in their init state
    // (their XSTATE_BV bits; bits 0 and 1 are ignored here, x87/SSE live in the fields above).
    XsaveExt xsave_ext;
    std::uint64_t xsave_ext_bv;
};

class Env {                            // guest memory through the guest's page tables, and time
public:
    virtual ~Env() = default;
    virtual bool read(std::uint64_t gva, void* dst, std::size_t len) = 0;    // false: #PF/unmapped
    virtual bool write(std::uint64_t gva, void const* src, std::size_t len) = 0;
    virtual std::uint64_t rdtsc() = 0;  // the guest's TSC now
    // Locked read-modify-writes (lock add/or/xadd/cmpxchg/bts ..., xchg with memory) with len
    // 1, 2, 4 or 8, and cmpxchg8b/16b with 8 or 16: if the len bytes at gva equal *expected,
    // store *desired and return true; else copy the current bytes into *expected and return
    // false; nullopt: #PF. Callers retry until it stores, so it may fail spuriously.
    // This default is read-compare-write, atomic only while no other vCPU of the guest runs;
    // the glue should override it with a host atomic on its mapping of guest RAM.
    virtual std::optional<bool> cmpxchg(std::uint64_t gva, void* expected, void const* desired,
                                        std::size_t len);

    // What only the software vCPU has; the fallback on KVM never runs the instructions that
    // reach these, so the defaults say "not here".
    // Translation caches: after a CR3/CR4/CR0.PG/EFER change (global: also global pages), and
    // invlpg.
    // Accesses the CPU makes for itself (descriptor tables, the TSS, the stacks of a delivery)
    // are supervisor accesses whatever the CPL; between set_system(true) and (false) the Env
    // checks them so.
    virtual void set_system(bool /*on*/) {}
    virtual void tlb_flush(bool /*global*/) {}
    virtual void tlb_flush_page(std::uint64_t /*gva*/) {}
    // CPUID as the vCPU's table gives it (eax, ebx, ecx, edx).
    struct CpuidLeaf { std::uint32_t eax, ebx, ecx, edx; };
    virtual CpuidLeaf cpuid(std::uint32_t /*leaf*/, std::uint32_t /*subleaf*/) { return {}; }
    // MSRs the vCPU's owner handles itself (KVM's MSR filter): the access becomes an exit.
    virtual bool msr_exits(std::uint32_t /*index*/, bool /*write*/) { return false; }
};

// unsupported: no such instruction here (the software vCPU raises #UD and logs it once);
// crash: the vCPU cannot go on (real mode, virtual-8086 mode): its domain is crashed with `what`.
enum class Outcome { done, unsupported, fault, exit, crash };

// An instruction that needs the vCPU's owner (outcome == exit), in KVM's terms. The instruction
// has not completed: RIP still points at it. The owner answers, then complete_exit() finishes it.
enum class ExitKind : std::uint8_t {
    none,
    io,          // in/out: port, size, write; value is the data written (write) or read (answer)
    hlt,         // completes at once (RIP after hlt, as KVM reports it)
    rdmsr,       // msr; the owner answers value or #GP
    wrmsr,       // msr, value; the owner answers ok or #GP
    hypercall,   // vmcall/vmmcall: the owner reads the registers and writes RAX (KVM_EXIT_XEN)
};
struct Exit {
    ExitKind kind = ExitKind::none;
    bool write = false;
    std::uint8_t size = 0;
    std::uint16_t port = 0;
    std::uint32_t msr = 0;
    std::uint64_t value = 0;
};

// The exception the guest would have seen (outcome == fault). kxend does not inject it yet; it
// is here so the log is precise and injection can come later without a new interface.
struct Fault {
    std::uint8_t vector = 0;           // 6 #UD, 7 #NM, 13 #GP, 14 #PF, 16 #MF ...
    std::uint32_t error_code = 0;      // #PF: W (bit 1), U (bit 2), I/D (bit 4); P from the walk
    std::uint64_t address = 0;         // #PF: the linear address (CR2)
    bool has_error_code = false;       // pushed on delivery (#DF #TS #NP #SS #GP #PF #AC)
};

struct Result {
    Outcome outcome;
    std::string what;                  // mnemonic on done, reason otherwise
    Fault fault{};
    Exit exit{};                       // outcome == exit
    // done only: the instruction changed x87/SSE/extended state, so the glue must write the
    // FPU/XSAVE state back (GPRs, RIP and RFLAGS must always be written back after done).
    bool xstate_changed = false;
};

// bytes: the instruction bytes KVM reported (up to 15; if fewer than the instruction needs, the
// rest is fetched with env.read(seg[cs].base + rip + n)). On done, state is updated and state.rip
// advanced; on anything else state is left exactly as it was.
Result emulate(std::span<const std::uint8_t> bytes, CpuState& state, Env& env);

enum class Map : std::uint8_t { one, m0f, m0f38, m0f3a };

// One decoded instruction: the pieces of its encoding, for the emulator, tests and logs.
struct Decoded {
    std::uint8_t length = 0;
    // Legacy prefixes. `mandatory` is the prefix an SSE opcode is selected by: the last F2/F3,
    // else 66, else 0.
    bool lock = false, rep = false, repne = false, opsize_prefix = false, addrsize_prefix = false;
    std::uint8_t mandatory = 0;
    int seg = -1;                      // segment override: 0..5 = es cs ss ds fs gs, -1 none
    std::uint8_t rex = 0;              // 0x40..0x4f, 0 when absent
    // VEX (c4/c5) and EVEX (62): decoded so their length is right; only VEX is ever emulated.
    bool vex = false, evex = false, vex_l = false, vex_w = false;
    bool vex_prefix_ud = false;        // 66/F2/F3/LOCK/REX before VEX/EVEX: #UD
    std::uint8_t vex_vvvv = 0;         // the extra register, already un-inverted
    Map map = Map::one;
    std::uint8_t opcode = 0;
    bool has_modrm = false, has_sib = false;
    std::uint8_t modrm = 0, sib = 0;
    std::uint8_t disp_size = 0;        // 0, 1, 2, 4 bytes (or 8 for moffs in 64-bit mode)
    std::int64_t disp = 0;             // sign-extended (moffs: zero-extended)
    std::uint8_t imm_size = 0;         // total immediate bytes (enter has 2+1)
    std::uint64_t imm = 0;             // first immediate, zero-extended
    std::uint8_t imm2 = 0;             // enter's second immediate (the nesting level)
    std::uint8_t op_size = 4;          // operand size in bytes: 2, 4, 8
    std::uint8_t addr_size = 8;        // address size in bytes: 2, 4, 8
    bool long64 = false;               // decoded as 64-bit code

    [[nodiscard]] bool rex_w() const { return rex & 8; }
    [[nodiscard]] unsigned mod() const { return modrm >> 6; }
    [[nodiscard]] unsigned reg_field() const { return (modrm >> 3) & 7; }          // group selector
    [[nodiscard]] unsigned rm_field() const { return modrm & 7; }
    [[nodiscard]] unsigned reg() const { return reg_field() | ((rex & 4) << 1); }    // with REX.R
    [[nodiscard]] unsigned rm() const { return rm_field() | ((rex & 1) << 3); }      // with REX.B
    [[nodiscard]] bool is_mem() const { return has_modrm && mod() != 3; }
    [[nodiscard]] bool rip_relative() const {
        return long64 && addr_size != 2 && has_modrm && mod() == 0 && rm_field() == 5;
    }
};

// Decodes one instruction of 64-bit code (long64) or 32-bit (default32) / 16-bit code.
// nullopt: bytes end before the instruction does, or it is longer than 15 bytes.
std::optional<Decoded> decode(std::span<const std::uint8_t> bytes, bool long64, bool default32);

// "66 0f ef c0 (pxor xmm0,xmm0)" for logs; decodes as 64-bit code unless told otherwise.
std::string describe(std::span<const std::uint8_t> bytes);
std::string describe(std::span<const std::uint8_t> bytes, bool long64, bool default32);

// The glue's side of the XSAVE state: KVM_GET_XSAVE's region (standard format, 64-bit FIP/FDP)
// to and from CpuState's x87/SSE fields, xsave_ext and xsave_ext_bv. to_kvm_xsave only writes
// what CpuState holds (legacy area, XSTATE_BV, bytes 576..4095), so pass the region that came
// from KVM_GET_XSAVE; a longer KVM_GET_XSAVE2 region keeps its tail.
void from_kvm_xsave(std::span<const std::uint8_t> region, CpuState& state);
void to_kvm_xsave(CpuState const& state, std::span<std::uint8_t> region);

} // namespace kxen::soft
