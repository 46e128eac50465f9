// Differential testing of kxen::soft::emulate() against Unicorn (QEMU 5.0's TCG x86 CPU).
// The method is described in docs/unicorn-diff-testing.md; in short: a generator per subset
// draws one instruction and a machine state, both engines run it from identical pages and
// registers, and what the SDM defines for that instruction is compared.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>
#include "soft/emulate.hpp"

namespace kxen::soft::diff {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

// Guest layout, the same for both engines and both modes (everything below 4 GiB). The page
// after the data area and the one before it are never mapped: accesses there are #PF.
// Every case gets its own 16-byte code slot: Unicorn 2.0.1 does not invalidate translated
// blocks when uc_mem_write changes code, so a reused address would run the previous case's
// bytes (uc_ctl_remove_cache works but costs ~300 us a call).
inline constexpr u64 code_base = 0x1000000, code_size = 0x200000, code_slot = 16;
inline constexpr u64 code_slots = code_size / code_slot;
inline constexpr u64 data_base = 0x200000, data_size = 0x2000, data_end = data_base + data_size;

namespace flag {
inline constexpr u64 cf = 1u << 0, pf = 1u << 2, af = 1u << 4, zf = 1u << 6, sf = 1u << 7, df = 1u << 10,
                     of = 1u << 11, status = cf | pf | af | zf | sf | of;
}

// The state both engines start from and end in, in one neutral form.
struct Machine {
    u64 gpr[16];
    u64 rip, rflags;
    Xmm xmm[16];
    u32 mxcsr;
    u8 fpr[8][10];            // physical registers R0..R7 (not stack order)
    u16 fcw, fsw;             // fsw holds TOP in bits 11-13
    u8 ftags;                 // bit i: R(i) holds a value
    std::array<u8, data_size> data;
};

// One random case: bytes, start state and what the SDM defines for this instruction.
struct Case {
    bool long64 = true;
    u8 bytes[15]{};
    unsigned len = 0;
    Machine m{};
    char const* op = "";      // the generator's name for the form (for grouping mismatches)
    u64 flags_defined = ~0ull;   // RFLAGS bits compared after completion
    u16 gpr_ignore = 0;          // registers whose result is undefined
    u16 fsw_defined = 0xffff;    // FSW bits compared (C0-C3 are often undefined)
    bool ignore_mem = false;     // the memory destination's result is undefined
    bool cmp_xmm = false, cmp_x87 = false;
    bool string_op = false;      // registers and memory are architectural after a fault too
    bool align16 = false;        // a legacy-SSE 16-byte memory operand that must be aligned
    u64 mem_target = 0;          // the ModRM memory operand's address (0: none)
    unsigned mem_size = 0;
    bool x87_stack_fault = false;   // the x87 start state may overflow/underflow the stack
    u16 addr_regs = 0;           // registers the memory operand's address is computed from
    bool lock_invalid = false;   // LOCK on a form the SDM does not allow it on (#UD)
};

enum class Kind { done, fault, unsupported, other };
struct RunResult {
    Kind kind = Kind::other;
    int vector = -1;
    u64 address = 0;
    std::string what;
    Machine m{};
};

std::string kind_name(Kind k);
std::string hex(u8 const* b, unsigned n);

// Unicorn with the layout above mapped; one per mode, reused across cases.
class Unicorn {
public:
    explicit Unicorn(bool long64);
    ~Unicorn();
    Unicorn(Unicorn const&) = delete;
    Unicorn& operator=(Unicorn const&) = delete;
    RunResult run(Case const& c);

    // Filled by hooks during run().
    int intno = -1;
    bool unmapped = false;
    u64 unmapped_addr = 0;

private:
    void put_state(Machine const& m);
    void get_state(Machine& m);
    void* uc_ = nullptr;
    void* ctx_ = nullptr;   // the CPU as set up, restored before every case
    bool long64_;
};

RunResult run_kxen(Case const& c);

} // namespace kxen::soft::diff
