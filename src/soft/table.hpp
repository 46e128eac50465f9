// The dispatch table: one Row per supported encoding. Each instruction family (sse.cpp, x87.cpp,
// ...) owns its rows and handlers; emulate.cpp finds the row and runs the checks every row of a
// class shares, describe.cpp uses the same rows for names and operands.
#pragma once
#include <span>
#include "soft/ctx.hpp"

namespace kxen::soft {

using Handler = Step (*)(Ctx&);

enum class Pfx : std::uint8_t { none, p66, pf3, pf2, any };   // mandatory prefix to match
enum class Mod : std::uint8_t { any, mem, reg };              // ModRM.mod: memory or register form
enum class W : std::uint8_t { any, w0, w1 };                  // REX.W / VEX.W
// Operating modes a row exists in: not64 rows are #UD in 64-bit code (pusha, 82 ...); only64
// rows do not match outside it (63 is movsxd there and arpl elsewhere).
enum class Mode : std::uint8_t { any, not64, only64 };
// What must hold before a row may run; emulate.cpp checks it (the SDM's #UD/#NM conditions).
enum class Class : std::uint8_t {
    none,
    sse,      // #UD if CR0.EM or !CR4.OSFXSR, #NM if CR0.TS
    x87,      // #NM if CR0.EM or CR0.TS
    xsave,    // #UD if !CR4.OSXSAVE, #NM if CR0.TS
    vex,      // VEX-encoded general-register op (BMI): #UD if VEX.L, or in real/v8086 mode
};

// Designated initializers keep rows readable: {.name, .ops, .map, .opcode, .pfx, ..., .fn}.
struct Row {
    char const* name = nullptr;
    // Operands for describe(), one letter each: V xmm(reg) W xmm/mem(rm) G gpr(reg) E gpr/mem(rm)
    // B byte gpr/mem(rm) R byte gpr(reg) Y gpr32/64 by W (reg) Z gpr32/64 by W (rm) H gpr32/64 (vvvv) M mem
    // S st(rm) 0 st(0) A ax I imm8
    char const* ops = "";
    Map map = Map::m0f;
    std::uint8_t opcode = 0;
    std::uint8_t count = 1;   // opcodes opcode..opcode+count-1 (register in the low bits: 50+r)
    Pfx pfx = Pfx::none;
    Mod mod = Mod::any;
    std::int8_t reg = -1;     // ModRM.reg (group member) or -1
    std::int8_t rm = -1;      // ModRM.rm for register-form specials (0f 01 d0) or -1
    W w = W::any;
    Mode mode = Mode::any;
    Class cls = Class::none;
    bool lockable = false;    // LOCK allowed (memory form only); otherwise LOCK is #UD
    bool vex = false;         // a VEX encoding (pfx then means VEX.pp)
    bool in_place = false;    // may run on the live state (see Ctx)
    Handler fn = nullptr;
};

std::span<Row const> sse_rows();
std::span<Row const> sse_int_rows();
std::span<Row const> sse_fp_rows();
std::span<Row const> x87_rows();
std::span<Row const> x87_arith_rows();
std::span<Row const> xsave_rows();
std::span<Row const> bitops_rows();
std::span<Row const> bmi_rows();
std::span<Row const> cmpxchg_rows();
std::span<Row const> system_rows();
std::span<Row const> sys_seg_rows();
std::span<Row const> sys_int_rows();
std::span<Row const> sys_ctl_rows();
std::span<Row const> sys_msr_rows();
std::span<Row const> int_alu_rows();
std::span<Row const> int_muldiv_rows();
std::span<Row const> int_bits_rows();
std::span<Row const> int_data_rows();
std::span<Row const> int_flow_rows();
std::span<Row const> int_shift_rows();
std::span<Row const> int_string_rows();

// The row for a decoded instruction, or nullptr.
Row const* find_row(Decoded const& d);

} // namespace kxen::soft
