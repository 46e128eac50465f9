#include "soft/x87_stack.hpp"
#include <cstdio>
#include <cstring>

namespace kxen::soft {

F80 X87::st(unsigned i) const {
    F80 v;
    std::memcpy(v.b, s_.fpr[i], sizeof v.b);
    return v;
}

void X87::set_st(unsigned i, F80 const& v) {
    std::memcpy(s_.fpr[i], v.b, sizeof v.b);
    std::memset(s_.fpr[i] + sizeof v.b, 0, sizeof s_.fpr[i] - sizeof v.b);
    s_.ftwx = static_cast<std::uint8_t>(s_.ftwx | (1u << phys(i)));
}

void X87::set_top(unsigned t) {
    unsigned const shift = (t - top()) & 7;   // new ST(i) is old ST(i + shift)
    std::uint8_t old[8][16];
    std::memcpy(old, s_.fpr, sizeof old);
    for (unsigned i = 0; i < 8; ++i) std::memcpy(s_.fpr[i], old[(i + shift) & 7], sizeof old[0]);
    s_.fsw = static_cast<std::uint16_t>((s_.fsw & ~(7u << 11)) | ((t & 7) << 11));
}

Step X87::raise(std::uint16_t flags) {
    flags &= fsw::flags | fsw::sf;
    if (flags & ~s_.fcw & fsw::flags) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "x87 exception %#x not masked (fcw %#x)", flags, s_.fcw);
        return unsupported(buf);
    }
    s_.fsw |= flags;
    return {};
}

Step X87::push(F80 const& v) {
    F80 value = v;
    bool const overflow = !empty(7);
    set_cc(fsw::c1, overflow ? fsw::c1 : 0);
    if (overflow) {
        if (auto r = raise(fsw::ie | fsw::sf); !r) return r;
        value = f80_indefinite;
    }
    set_top(top() - 1);
    set_st(0, value);
    return {};
}

void X87::pop() {
    free(0);
    set_top(top() + 1);
}

Got<F80> X87::read(unsigned i) {
    if (!empty(i)) return st(i);
    set_cc(fsw::c1, 0);
    if (auto r = raise(fsw::ie | fsw::sf); !r) return std::unexpected(r.error());
    return f80_indefinite;
}

} // namespace kxen::soft
