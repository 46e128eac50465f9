// The host-FPU primitives. Each asm block leaves the x87 stack as it found it (empty, as the
// x86-64 ABI guarantees between statements), and the guard restores the host's control word
// and clears the flags the guest's operation raised, so host code never sees them.
#include "soft/host_x87.hpp"

namespace kxen::soft::host_x87 {
namespace {

class Guard {
public:
    explicit Guard(std::uint16_t guest_fcw) {
        std::uint16_t const cw = guest_fcw | 0x3f;   // mask everything: the host must never trap
        asm volatile("fnstcw %0" : "=m"(saved_));
        asm volatile("fnclex\n\tfldcw %0" : : "m"(cw));
    }
    ~Guard() { asm volatile("fnclex\n\tfldcw %0" : : "m"(saved_)); }
    Guard(Guard const&) = delete;
    Guard& operator=(Guard const&) = delete;
    std::uint16_t status() const {
        std::uint16_t sw;
        asm volatile("fnstsw %0" : "=m"(sw));
        return sw;
    }
private:
    std::uint16_t saved_;
};

} // namespace

std::uint16_t load(Fmt f, void const* src, F80& out, std::uint16_t fcw) {
    Guard g{fcw};
    auto const* p = static_cast<char const*>(src);
    // The casts only pick the operand width for the assembler; "memory" tells the compiler the
    // bytes behind src/dst are involved whatever their declared type.
    switch (f) {
    case Fmt::f32: asm volatile("flds %1\n\tfstpt %0" : "=m"(out) : "m"(*reinterpret_cast<std::uint32_t const*>(p)) : "memory"); break;
    case Fmt::f64: asm volatile("fldl %1\n\tfstpt %0" : "=m"(out) : "m"(*reinterpret_cast<std::uint64_t const*>(p)) : "memory"); break;
    case Fmt::i16: asm volatile("filds %1\n\tfstpt %0" : "=m"(out) : "m"(*reinterpret_cast<std::uint16_t const*>(p)) : "memory"); break;
    case Fmt::i32: asm volatile("fildl %1\n\tfstpt %0" : "=m"(out) : "m"(*reinterpret_cast<std::uint32_t const*>(p)) : "memory"); break;
    case Fmt::i64: asm volatile("fildll %1\n\tfstpt %0" : "=m"(out) : "m"(*reinterpret_cast<std::uint64_t const*>(p)) : "memory"); break;
    }
    return g.status();
}

std::uint16_t store(Fmt f, F80 const& in, void* dst, std::uint16_t fcw, bool truncate) {
    Guard g{fcw};
    auto* p = static_cast<char*>(dst);
    auto& d16 = *reinterpret_cast<std::uint16_t*>(p);
    auto& d32 = *reinterpret_cast<std::uint32_t*>(p);
    auto& d64 = *reinterpret_cast<std::uint64_t*>(p);
    switch (f) {
    case Fmt::f32: asm volatile("fldt %1\n\tfstps %0" : "=m"(d32) : "m"(in) : "memory"); break;
    case Fmt::f64: asm volatile("fldt %1\n\tfstpl %0" : "=m"(d64) : "m"(in) : "memory"); break;
    case Fmt::i16:
        if (truncate) asm volatile("fldt %1\n\tfisttps %0" : "=m"(d16) : "m"(in) : "memory");
        else asm volatile("fldt %1\n\tfistps %0" : "=m"(d16) : "m"(in) : "memory");
        break;
    case Fmt::i32:
        if (truncate) asm volatile("fldt %1\n\tfisttpl %0" : "=m"(d32) : "m"(in) : "memory");
        else asm volatile("fldt %1\n\tfistpl %0" : "=m"(d32) : "m"(in) : "memory");
        break;
    case Fmt::i64:
        if (truncate) asm volatile("fldt %1\n\tfisttpll %0" : "=m"(d64) : "m"(in) : "memory");
        else asm volatile("fldt %1\n\tfistpll %0" : "=m"(d64) : "m"(in) : "memory");
        break;
    }
    return g.status();
}

// st(0) is the destination in every form used here, which sidesteps the AT&T fsub/fsubr
// operand-order swap for st(i) destinations.
std::uint16_t arith(Op op, F80 const& a, F80 const& b, F80& out, std::uint16_t fcw) {
    Guard g{fcw};
    std::uint16_t cc;   // C1 (rounded up) right after the operation; the fstpt clears it
    switch (op) {
    case Op::add: asm volatile("fldt %3\n\tfldt %2\n\tfadd %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)" : "=m"(out), "=m"(cc) : "m"(a), "m"(b)); break;
    case Op::mul: asm volatile("fldt %3\n\tfldt %2\n\tfmul %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)" : "=m"(out), "=m"(cc) : "m"(a), "m"(b)); break;
    case Op::sub: asm volatile("fldt %3\n\tfldt %2\n\tfsub %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)" : "=m"(out), "=m"(cc) : "m"(a), "m"(b)); break;
    case Op::div: asm volatile("fldt %3\n\tfldt %2\n\tfdiv %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)" : "=m"(out), "=m"(cc) : "m"(a), "m"(b)); break;
    }
    return static_cast<std::uint16_t>((g.status() & 0x3f) | (cc & 0x4700));
}

std::uint16_t compare(F80 const& a, F80 const& b, bool quiet, std::uint16_t fcw) {
    Guard g{fcw};
    std::uint16_t cc;   // C0/C2/C3 right after the compare; the pop that follows leaves them undefined
    if (quiet) asm volatile("fldt %2\n\tfldt %1\n\tfucomp %%st(1)\n\tfnstsw %0\n\tfstp %%st(0)" : "=m"(cc) : "m"(a), "m"(b));
    else asm volatile("fldt %2\n\tfldt %1\n\tfcomp %%st(1)\n\tfnstsw %0\n\tfstp %%st(0)" : "=m"(cc) : "m"(a), "m"(b));
    return static_cast<std::uint16_t>((g.status() & 0x3f) | (cc & 0x4500));
}

std::uint16_t constant(Const k, F80& out, std::uint16_t fcw) {
    Guard g{fcw};   // the last bit of pi, l2e, ... depends on RC, as on hardware
    switch (k) {
    case Const::one: asm volatile("fld1\n\tfstpt %0" : "=m"(out)); break;
    case Const::l2t: asm volatile("fldl2t\n\tfstpt %0" : "=m"(out)); break;
    case Const::l2e: asm volatile("fldl2e\n\tfstpt %0" : "=m"(out)); break;
    case Const::pi: asm volatile("fldpi\n\tfstpt %0" : "=m"(out)); break;
    case Const::lg2: asm volatile("fldlg2\n\tfstpt %0" : "=m"(out)); break;
    case Const::ln2: asm volatile("fldln2\n\tfstpt %0" : "=m"(out)); break;
    case Const::zero: asm volatile("fldz\n\tfstpt %0" : "=m"(out)); break;
    }
    return g.status();
}

} // namespace kxen::soft::host_x87
