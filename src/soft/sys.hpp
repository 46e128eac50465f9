// Internals of the system instructions and event delivery: descriptors, segment loads with the
// SDM's protection checks, stack pushes and pops outside of a Ctx (delivery has no instruction).
#pragma once
#include "soft/ctx.hpp"

namespace kxen::soft::sys {

inline constexpr std::uint64_t rf_tf = 1u << 8, rf_if = 1u << 9, rf_df = 1u << 10, rf_iopl = 3u << 12,
                               rf_nt = 1u << 14, rf_rf = 1u << 16, rf_vm = 1u << 17, rf_ac = 1u << 18,
                               rf_vif = 1u << 19, rf_vip = 1u << 20, rf_id = 1u << 21;
inline constexpr std::uint64_t efer_sce = 1u << 0, efer_lme = 1u << 8, efer_lma = 1u << 10, efer_nxe = 1u << 11;
inline constexpr std::uint64_t cr0_pe = 1u << 0, cr0_pg = 1u << 31;

[[nodiscard]] inline unsigned iopl(CpuState const& s) { return (s.rflags >> 12) & 3; }
[[nodiscard]] inline bool long64(CpuState const& s) { return s.long_mode && s.cs_l; }
[[nodiscard]] bool canonical(CpuState const& s, std::uint64_t a);

// Guest memory for accesses the instruction makes implicitly (descriptor tables, the TSS) or
// on a stack; `system` accesses are supervisor accesses whatever the CPL.
Step mem_read(CpuState const& s, Env& env, std::uint64_t gva, void* dst, std::size_t len, bool system = false);
Step mem_write(CpuState const& s, Env& env, std::uint64_t gva, void const* src, std::size_t len, bool system = false);

// A descriptor's 8 bytes and where they are (to set the accessed or busy bit).
struct Desc {
    std::uint64_t raw = 0;
    std::uint64_t addr = 0;
    [[nodiscard]] std::uint16_t attr() const {
        return static_cast<std::uint16_t>(((raw >> 40) & 0xff) | (((raw >> 52) & 0xf) << 8));
    }
    [[nodiscard]] unsigned type() const { return (raw >> 40) & 0xf; }
    [[nodiscard]] bool s() const { return raw & (1ull << 44); }
    [[nodiscard]] unsigned dpl() const { return (raw >> 45) & 3; }
    [[nodiscard]] bool present() const { return raw & (1ull << 47); }
    [[nodiscard]] bool code() const { return s() && (type() & 8); }
    [[nodiscard]] bool conforming() const { return code() && (type() & 4); }
    [[nodiscard]] bool readable() const { return !code() || (type() & 2); }          // S=1 only
    [[nodiscard]] bool writable_data() const { return s() && !code() && (type() & 2); }
    [[nodiscard]] bool l() const { return raw & (1ull << 53); }
    [[nodiscard]] bool db() const { return raw & (1ull << 54); }
};

[[nodiscard]] Segment to_segment(std::uint64_t raw, std::uint16_t sel);
[[nodiscard]] inline Segment null_segment(std::uint16_t sel) { return Segment{0, 0, sel, 0}; }

// The GDT/LDT entry of sel (not null); beyond the table's limit is #GP(sel | ext).
Got<Desc> read_desc(CpuState const& s, Env& env, std::uint16_t sel, std::uint32_t ext = 0);
// Sets the accessed bit of a code/data descriptor, as a load does.
Step set_accessed(CpuState const& s, Env& env, Desc& d);

// mov/pop/lds-style loads of a data segment register or SS at the current CPL (SDM MOV, POP).
Step load_data_segment(CpuState& s, Env& env, int seg, std::uint16_t sel);
// SS for a return to privilege cpl (iret, far ret): #GP(sel) unless a writable data segment of
// that DPL and RPL; null only where 64-bit mode allows it.
Step load_stack_segment(CpuState& s, Env& env, std::uint16_t sel, unsigned cpl, bool to64);
// The code segment a far jmp/call (same privilege; gates are not supported) or a return may
// load; return: the RPL is the new CPL, which may be outer.
Got<Desc> check_code_for_jump(CpuState const& s, Env& env, std::uint16_t sel);
Got<Desc> check_code_for_return(CpuState const& s, Env& env, std::uint16_t sel);
// CS and the CPL, keeping cpl/cs_l/cs_db in step.
void set_cs(CpuState& s, Segment const& cs, unsigned cpl);
void sync_derived(CpuState& s);
// After a return to an outer privilege: data segments the new CPL may not use become null.
void null_inaccessible(CpuState& s);

// Stack through SS (SS.B picks ESP or SP outside 64-bit mode).
[[nodiscard]] std::uint64_t stack_addr(CpuState const& s, std::uint64_t sp);
void set_sp(CpuState& s, std::uint64_t sp);
Step push(CpuState& s, Env& env, std::uint64_t v, unsigned size);
Got<std::uint64_t> pop(CpuState& s, Env& env, unsigned size);

// Operand size of stack ops (push/pop sreg): 64-bit mode defaults to 8.
[[nodiscard]] inline unsigned stack_op_size(Decoded const& d) { return d.long64 ? (d.opsize_prefix ? 2 : 8) : d.op_size; }

// Delivery through the IDT, for int n/int3/into/int1 and for raise()/interrupt().
enum class EventKind { exception, external, software, icebp };
struct Event {
    std::uint8_t vector;
    EventKind kind;
    bool has_error_code = false;
    std::uint32_t error_code = 0;
    std::uint64_t return_rip = 0;      // what is pushed as RIP
};
// On error s may be partly changed: callers run it on a copy.
Step deliver(CpuState& s, Env& env, Event const& e);

std::unexpected<Result> crash(std::string what);

} // namespace kxen::soft::sys
