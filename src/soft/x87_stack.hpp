// The x87 register stack over CpuState's FXSAVE-style fields. fpr[] is in stack order (fpr[i]
// is ST(i)) while the abridged tag bits are per physical register, so every change of TOP
// rotates fpr[] to keep each physical register's contents where hardware keeps them.
#pragma once
#include "soft/ctx.hpp"
#include "soft/host_x87.hpp"

namespace kxen::soft {

namespace fsw {
inline constexpr std::uint16_t ie = 1, sf = 1u << 6, es = 1u << 7, c0 = 1u << 8, c1 = 1u << 9,
                               c2 = 1u << 10, c3 = 1u << 14, busy = 1u << 15, flags = 0x3f,
                               cc = c0 | c1 | c2 | c3;
}

class X87 {
public:
    explicit X87(CpuState& s) : s_{s} {}

    [[nodiscard]] unsigned top() const { return (s_.fsw >> 11) & 7; }
    [[nodiscard]] bool empty(unsigned i) const { return !((s_.ftwx >> phys(i)) & 1); }
    [[nodiscard]] F80 st(unsigned i) const;
    void set_st(unsigned i, F80 const& v);   // and tag it valid
    void free(unsigned i) { s_.ftwx = static_cast<std::uint8_t>(s_.ftwx & ~(1u << phys(i))); }
    // Moves TOP; values and tags stay with their physical registers (fincstp, fninit ...).
    void set_top(unsigned t);

    // push() reports stack overflow (ST(7) valid) first: IE|SF and C1=1, the indefinite QNaN
    // pushed when IE is masked. read() reports underflow: IE|SF, C1=0, the QNaN returned.
    Step push(F80 const& v);
    void pop();
    Got<F80> read(unsigned i);

    // Adds the exception flags of an operation (host FSW bits 0-5); an exception the guest has
    // not masked stops the instruction, since kxend cannot deliver the #MF that follows.
    Step raise(std::uint16_t flags);
    void set_cc(std::uint16_t mask, std::uint16_t bits) {
        s_.fsw = static_cast<std::uint16_t>((s_.fsw & ~mask) | (bits & mask));
    }

private:
    [[nodiscard]] unsigned phys(unsigned i) const { return (top() + i) & 7; }
    CpuState& s_;
};

// What FXSAVE reports as the last non-control x87 instruction: its opcode (low 3 bits of the
// first byte, then ModRM), its address and its memory operand's offset.
inline void note_x87(Ctx& c) {
    c.s.fop = static_cast<std::uint16_t>(((c.d.opcode & 7u) << 8) | c.d.modrm);
    c.s.fip = c.s.rip;
    if (c.d.is_mem()) c.s.fdp = c.ea();
}

} // namespace kxen::soft
