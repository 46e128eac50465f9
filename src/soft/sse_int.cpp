// SSE2/SSSE3/SSE4.1 integer instructions and the data-movement float forms (shuffles,
// unpacks, half moves, sign masks): nothing here rounds, so MXCSR is not involved. Each is
// pure lane arithmetic on the two operands, done in software. Legacy-SSE m128 operands must be
// 16-byte aligned (#GP); operands narrower than 16 bytes (pmovzx m64, movlps ...) need not be.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i8 = std::int8_t;
using i16 = std::int16_t;
using i32 = std::int32_t;
using i64 = std::int64_t;

template <class T> struct V {
    static constexpr unsigned n = 16 / sizeof(T);
    T e[n];
};
template <class T> V<T> as(Xmm x) {
    V<T> v;
    std::memcpy(v.e, &x, 16);
    return v;
}
template <class T> Xmm of(V<T> const& v) {
    Xmm x;
    std::memcpy(&x, v.e, 16);
    return x;
}

template <class T> T sat(i64 v) {
    return static_cast<T>(std::clamp<i64>(v, std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
}

// The shape of almost every row: dst(reg) <- F(dst, xmm/m(Size), imm8).
using Fn2 = Xmm (*)(Xmm, Xmm, unsigned);
template <Fn2 F, unsigned Size = 16, std::size_t Align = 16> Step op2(Ctx& c) {
    auto src = c.rm_xmm(Size, Align);
    if (!src) return std::unexpected(src.error());
    Xmm& dst = c.s.xmm[c.d.reg()];
    dst = F(dst, *src, static_cast<unsigned>(c.d.imm));
    return {};
}

template <class T, auto F> Xmm lanes(Xmm a, Xmm b, unsigned) {
    auto x = as<T>(a);
    auto const y = as<T>(b);
    for (unsigned i = 0; i < V<T>::n; ++i) x.e[i] = static_cast<T>(F(x.e[i], y.e[i]));
    return of(x);
}
template <class T, auto F> constexpr Handler L = op2<lanes<T, F>>;

constexpr auto add = [](auto a, auto b) { return a + b; };
constexpr auto sub = [](auto a, auto b) { return a - b; };
template <class T> constexpr auto adds = [](T a, T b) { return sat<T>(i64{a} + b); };
template <class T> constexpr auto subs = [](T a, T b) { return sat<T>(i64{a} - b); };
template <class T> constexpr auto eq = [](T a, T b) { return a == b ? T(~T{0}) : T{0}; };
template <class T> constexpr auto gt = [](T a, T b) { return a > b ? T(~T{0}) : T{0}; };
constexpr auto min = [](auto a, auto b) { return std::min(a, b); };
constexpr auto max = [](auto a, auto b) { return std::max(a, b); };
constexpr auto avg = [](auto a, auto b) { return (u32{a} + b + 1) >> 1; };
// The low half of a product is the same signed or unsigned; unsigned arithmetic wraps.
constexpr auto mullo = [](auto a, auto b) { return static_cast<u64>(a) * static_cast<u64>(b); };
template <class T> constexpr auto mulhi = [](T a, T b) { return (i64{a} * i64{b}) >> 16; };
constexpr auto mulhrs = [](i16 a, i16 b) { return ((i32{a} * b >> 14) + 1) >> 1; };
// Negation that wraps (psignd/pabsd of INT32_MIN give INT32_MIN, as the SDM says).
template <class T> constexpr T neg(T a) { return T(0u - static_cast<std::make_unsigned_t<T>>(a)); }
template <class T> constexpr auto sign = [](T a, T b) { return b < 0 ? neg(a) : b == 0 ? T{0} : a; };
template <class T> constexpr auto abs_ = [](T, T b) { return b < 0 ? neg(b) : b; };

// Shifts: psllw/d/q, psrlw/d/q, psraw/d. A count above the lane width clears the lane (logical)
// or fills it with the sign (arithmetic); the xmm/m128 form's count is its whole low quadword.
enum class Sh { left, right, arith };
template <class T, Sh K> Xmm shift(Xmm a, u64 n) {
    constexpr unsigned bits = sizeof(T) * 8;
    auto x = as<T>(a);
    for (auto& e : x.e) {
        if (K == Sh::arith) e = static_cast<T>(static_cast<std::make_signed_t<T>>(e) >> std::min<u64>(n, bits - 1));
        else if (n >= bits) e = 0;
        else e = static_cast<T>(K == Sh::left ? e << n : e >> n);
    }
    return of(x);
}
template <class T, Sh K> Xmm shift_xmm(Xmm a, Xmm b, unsigned) { return shift<T, K>(a, b.lo); }
// 66 0f 71/72/73 /digit ib: the register is ModRM.rm.
template <class T, Sh K> Step shift_imm(Ctx& c) {
    Xmm& x = c.s.xmm[c.d.rm()];
    x = shift<T, K>(x, c.d.imm & 0xff);
    return {};
}
template <bool Left> Step byte_shift(Ctx& c) {
    Xmm& x = c.s.xmm[c.d.rm()];
    unsigned const n = c.d.imm & 0xff;
    unsigned __int128 v = (static_cast<unsigned __int128>(x.hi) << 64) | x.lo;
    v = n > 15 ? 0 : Left ? v << (8 * n) : v >> (8 * n);
    x = {static_cast<u64>(v), static_cast<u64>(v >> 64)};
    return {};
}

// Interleave the low (High = false) or high halves: a0 b0 a1 b1 ...
template <class T, bool High> Xmm unpack(Xmm a, Xmm b, unsigned) {
    auto const x = as<T>(a), y = as<T>(b);
    V<T> r;
    constexpr unsigned h = V<T>::n / 2, o = High ? h : 0;
    for (unsigned i = 0; i < h; ++i) {
        r.e[2 * i] = x.e[o + i];
        r.e[2 * i + 1] = y.e[o + i];
    }
    return of(r);
}

// Narrow with saturation: dst's lanes to the low half, src's to the high half.
template <class From, class To> Xmm pack(Xmm a, Xmm b, unsigned) {
    auto const x = as<From>(a), y = as<From>(b);
    V<To> r;
    constexpr unsigned n = V<From>::n;
    for (unsigned i = 0; i < n; ++i) {
        r.e[i] = sat<To>(x.e[i]);
        r.e[n + i] = sat<To>(y.e[i]);
    }
    return of(r);
}

Xmm pmaddwd(Xmm a, Xmm b, unsigned) {
    auto const x = as<i16>(a), y = as<i16>(b);
    V<u32> r;
    for (unsigned i = 0; i < 4; ++i)
        r.e[i] = static_cast<u32>(i64{x.e[2 * i]} * y.e[2 * i] + i64{x.e[2 * i + 1]} * y.e[2 * i + 1]);
    return of(r);
}

Xmm pmaddubsw(Xmm a, Xmm b, unsigned) {   // unsigned bytes of dst times signed bytes of src
    auto const x = as<u8>(a);
    auto const y = as<i8>(b);
    V<i16> r;
    for (unsigned i = 0; i < 8; ++i)
        r.e[i] = sat<i16>(i32{x.e[2 * i]} * y.e[2 * i] + i32{x.e[2 * i + 1]} * y.e[2 * i + 1]);
    return of(r);
}

Xmm psadbw(Xmm a, Xmm b, unsigned) {
    auto const x = as<u8>(a), y = as<u8>(b);
    u64 s[2] = {0, 0};
    for (unsigned i = 0; i < 16; ++i) s[i / 8] += static_cast<u64>(std::abs(int{x.e[i]} - int{y.e[i]}));
    return {s[0], s[1]};
}

template <bool Signed> Xmm pmul_dq(Xmm a, Xmm b, unsigned) {
    if (Signed)
        return {static_cast<u64>(i64{static_cast<i32>(a.lo)} * static_cast<i32>(b.lo)),
                static_cast<u64>(i64{static_cast<i32>(a.hi)} * static_cast<i32>(b.hi))};
    return {(a.lo & 0xffffffff) * (b.lo & 0xffffffff), (a.hi & 0xffffffff) * (b.hi & 0xffffffff)};
}

// pshufd: dwords of src picked by imm8; pshuflw/pshufhw: words of one half, the other copied.
Xmm pshufd(Xmm, Xmm b, unsigned imm) {
    auto const y = as<u32>(b);
    V<u32> r;
    for (unsigned i = 0; i < 4; ++i) r.e[i] = y.e[(imm >> (2 * i)) & 3];
    return of(r);
}
template <bool High> Xmm pshufw(Xmm, Xmm b, unsigned imm) {
    auto const y = as<u16>(b);
    auto r = y;
    unsigned const o = High ? 4 : 0;
    for (unsigned i = 0; i < 4; ++i) r.e[o + i] = y.e[o + ((imm >> (2 * i)) & 3)];
    return of(r);
}

Xmm pshufb(Xmm a, Xmm b, unsigned) {
    auto const x = as<u8>(a), y = as<u8>(b);
    V<u8> r;
    for (unsigned i = 0; i < 16; ++i) r.e[i] = y.e[i] & 0x80 ? 0 : x.e[y.e[i] & 15];
    return of(r);
}

// palignr: the 32 bytes dst:src shifted right by imm8 bytes, the low 16 kept.
Xmm palignr(Xmm a, Xmm b, unsigned imm) {
    u8 t[48] = {};
    std::memcpy(t, &b, 16);
    std::memcpy(t + 16, &a, 16);
    unsigned const n = imm & 0xff;
    Xmm r{0, 0};
    if (n < 32) std::memcpy(&r, t + n, std::min(16u, 32 - n));
    return r;
}

// phadd/phsub: pairwise within dst (low half of the result), then within src (high half).
template <class T, int Op> Xmm hop(Xmm a, Xmm b, unsigned) {
    auto const x = as<T>(a), y = as<T>(b);
    V<T> r;
    constexpr unsigned h = V<T>::n / 2;
    auto f = [](T p, T q) -> T {
        if (Op == 0) return static_cast<T>(p + q);
        if (Op == 1) return static_cast<T>(p - q);
        if (Op == 2) return sat<T>(i64{p} + q);
        return sat<T>(i64{p} - q);
    };
    for (unsigned i = 0; i < h; ++i) {
        r.e[i] = f(x.e[2 * i], x.e[2 * i + 1]);
        r.e[h + i] = f(y.e[2 * i], y.e[2 * i + 1]);
    }
    return of(r);
}

// pmovzx/pmovsx: the low lanes of src widened; the memory form reads only what it uses.
template <class From, class To> Xmm widen(Xmm, Xmm b, unsigned) {
    From f[16 / sizeof(From)];
    std::memcpy(f, &b, 16);
    V<To> r;
    for (unsigned i = 0; i < V<To>::n; ++i) r.e[i] = static_cast<To>(f[i]);
    return of(r);
}

Xmm phminposuw(Xmm, Xmm b, unsigned) {
    auto const y = as<u16>(b);
    unsigned k = 0;
    for (unsigned i = 1; i < 8; ++i)
        if (y.e[i] < y.e[k]) k = i;
    return {y.e[k] | (u64{k} << 16), 0};
}

// mpsadbw: eight sums of absolute differences of a sliding 4-byte window of dst against one
// 4-byte block of src.
Xmm mpsadbw(Xmm a, Xmm b, unsigned imm) {
    auto const x = as<u8>(a), y = as<u8>(b);
    unsigned const ao = ((imm >> 2) & 1) * 4, bo = (imm & 3) * 4;
    V<u16> r;
    for (unsigned i = 0; i < 8; ++i) {
        unsigned s = 0;
        for (unsigned j = 0; j < 4; ++j) s += static_cast<unsigned>(std::abs(int{x.e[ao + i + j]} - int{y.e[bo + j]}));
        r.e[i] = static_cast<u16>(s);
    }
    return of(r);
}

// Blends: lane i from src where imm8 bit i (or the sign of xmm0's lane i) is set.
template <class T> Xmm blend(Xmm a, Xmm b, unsigned imm) {
    auto x = as<T>(a);
    auto const y = as<T>(b);
    for (unsigned i = 0; i < V<T>::n; ++i)
        if (imm >> (i % 8) & 1) x.e[i] = y.e[i];
    return of(x);
}
template <class T> Step blendv(Ctx& c) {
    auto src = c.rm_xmm(16, 16);
    if (!src) return std::unexpected(src.error());
    Xmm& dst = c.s.xmm[c.d.reg()];
    auto x = as<T>(dst);
    auto const y = as<T>(*src), m = as<T>(c.s.xmm[0]);
    for (unsigned i = 0; i < V<T>::n; ++i)
        if (m.e[i] >> (sizeof(T) * 8 - 1)) x.e[i] = y.e[i];
    dst = of(x);
    return {};
}

// ptest: ZF = (src & dst) == 0, CF = (src & ~dst) == 0, the other arithmetic flags cleared.
Step ptest(Ctx& c) {
    auto src = c.rm_xmm(16, 16);
    if (!src) return std::unexpected(src.error());
    Xmm const d = c.s.xmm[c.d.reg()];
    u64 f = c.s.rflags & ~fl::arith;
    if (((src->lo & d.lo) | (src->hi & d.hi)) == 0) f |= fl::zf;
    if (((src->lo & ~d.lo) | (src->hi & ~d.hi)) == 0) f |= fl::cf;
    c.s.rflags = f;
    return {};
}

// Sign masks into a general register (zero-extended): pmovmskb, movmskps, movmskpd.
template <class T> Step movmsk(Ctx& c) {
    auto const x = as<T>(c.s.xmm[c.d.rm()]);
    u64 m = 0;
    for (unsigned i = 0; i < V<T>::n; ++i) m |= u64{static_cast<u64>(x.e[i]) >> (sizeof(T) * 8 - 1)} << i;
    c.set(c.d.reg(), 8, m);
    return {};
}

// pextrw r, xmm, imm8 (0f c5): reg is the GPR.
Step pextrw_c5(Ctx& c) {
    auto const x = as<u16>(c.s.xmm[c.d.rm()]);
    c.set(c.d.reg(), 8, x.e[c.d.imm & 7]);
    return {};
}
// pextrb/w/d/q r/m, xmm, imm8 (0f 3a 14-16): a register destination is zero-extended.
template <class T> Step pextr(Ctx& c) {
    constexpr unsigned n = 16 / sizeof(T);
    unsigned const size = sizeof(T) == 4 && c.d.rex_w() ? 8 : sizeof(T);
    u64 v;
    if (size == 8) v = (c.d.imm & 1) ? c.s.xmm[c.d.reg()].hi : c.s.xmm[c.d.reg()].lo;
    else v = as<T>(c.s.xmm[c.d.reg()]).e[c.d.imm & (n - 1)];
    if (!c.d.is_mem()) {
        c.set(c.d.rm(), 8, v);
        return {};
    }
    return c.write(c.mem_addr(), &v, size);
}
// pinsrb/w/d/q xmm, r/m, imm8: one lane replaced.
template <class T> Step pinsr(Ctx& c) {
    unsigned const size = sizeof(T) == 4 && c.d.rex_w() ? 8 : sizeof(T);
    // A register source is r32/r64 (never ah..bh); memory is read at the lane's size only.
    auto v = c.d.is_mem() ? c.rm_get(size) : Got<u64>{c.get(c.d.rm(), 8)};
    if (!v) return std::unexpected(v.error());
    Xmm& x = c.s.xmm[c.d.reg()];
    if (size == 8) {
        ((c.d.imm & 1) ? x.hi : x.lo) = *v;
        return {};
    }
    auto l = as<T>(x);
    l.e[c.d.imm & (16 / sizeof(T) - 1)] = static_cast<T>(*v);
    x = of(l);
    return {};
}

// extractps r/m32, xmm, imm8: a dword, as pextrd (REX.W only widens a register destination).
Step extractps(Ctx& c) {
    u32 const v = as<u32>(c.s.xmm[c.d.reg()]).e[c.d.imm & 3];
    if (!c.d.is_mem()) {
        c.set(c.d.rm(), 8, v);
        return {};
    }
    return c.store(c.mem_addr(), v);
}

// insertps xmm, xmm/m32, imm8: source dword imm[7:6] (a memory source is the dword itself)
// into lane imm[5:4], then lanes in imm[3:0] zeroed.
Step insertps(Ctx& c) {
    auto src = c.rm_xmm(4);
    if (!src) return std::unexpected(src.error());
    unsigned const imm = c.d.imm & 0xff;
    u32 const v = c.d.is_mem() ? static_cast<u32>(src->lo) : as<u32>(*src).e[imm >> 6];
    Xmm& dst = c.s.xmm[c.d.reg()];
    auto l = as<u32>(dst);
    l.e[(imm >> 4) & 3] = v;
    for (unsigned i = 0; i < 4; ++i)
        if (imm >> i & 1) l.e[i] = 0;
    dst = of(l);
    return {};
}

// shufps/shufpd: the low lanes from dst, the high lanes from src, each picked by imm8.
Xmm shufps(Xmm a, Xmm b, unsigned imm) {
    auto const x = as<u32>(a), y = as<u32>(b);
    return of(V<u32>{{x.e[imm & 3], x.e[(imm >> 2) & 3], y.e[(imm >> 4) & 3], y.e[(imm >> 6) & 3]}});
}
Xmm shufpd(Xmm a, Xmm b, unsigned imm) { return {imm & 1 ? a.hi : a.lo, imm & 2 ? b.hi : b.lo}; }

// movhlps/movlhps (register forms of 0f 12 / 0f 16); movlps/movlpd/movhps/movhpd loads (memory
// forms) replace one half of dst with the m64; the stores write that half.
Xmm movhlps(Xmm a, Xmm b, unsigned) { return {b.hi, a.hi}; }
Xmm movlhps(Xmm a, Xmm b, unsigned) { return {a.lo, b.lo}; }
Xmm load_lo(Xmm a, Xmm b, unsigned) { return {b.lo, a.hi}; }
Xmm load_hi(Xmm a, Xmm b, unsigned) { return {a.lo, b.lo}; }
template <bool High> Step store_half(Ctx& c) {
    Xmm const x = c.s.xmm[c.d.reg()];
    return c.store(c.mem_addr(), High ? x.hi : x.lo);
}

// SSE3 duplicates.
Xmm movsldup(Xmm, Xmm b, unsigned) {
    auto const y = as<u32>(b);
    return of(V<u32>{{y.e[0], y.e[0], y.e[2], y.e[2]}});
}
Xmm movshdup(Xmm, Xmm b, unsigned) {
    auto const y = as<u32>(b);
    return of(V<u32>{{y.e[1], y.e[1], y.e[3], y.e[3]}});
}
Xmm movddup(Xmm, Xmm b, unsigned) { return {b.lo, b.lo}; }
Xmm copy(Xmm, Xmm b, unsigned) { return b; }

using enum Pfx;
constexpr auto m38 = Map::m0f38;
constexpr auto m3a = Map::m0f3a;
constexpr auto sse = Class::sse;

#define ROW(n, o, p, f) {.name = n, .ops = "VW", .opcode = o, .pfx = p, .cls = sse, .in_place = true, .fn = f}
#define ROWI(n, o, p, f) {.name = n, .ops = "VWI", .opcode = o, .pfx = p, .cls = sse, .in_place = true, .fn = f}
#define ROW38(n, o, f) {.name = n, .ops = "VW", .map = m38, .opcode = o, .pfx = p66, .cls = sse, .in_place = true, .fn = f}
#define ROW3A(n, o, f) {.name = n, .ops = "VWI", .map = m3a, .opcode = o, .pfx = p66, .cls = sse, .in_place = true, .fn = f}
#define SHIFTI(n, o, r, f) {.name = n, .ops = "WI", .opcode = o, .pfx = p66, .mod = Mod::reg, .reg = r, .cls = sse, .in_place = true, .fn = f}

constexpr Row rows[] = {
    ROW("paddb", 0xfc, p66, (L<u8, add>)), ROW("paddw", 0xfd, p66, (L<u16, add>)),
    ROW("paddd", 0xfe, p66, (L<u32, add>)), ROW("paddq", 0xd4, p66, (L<u64, add>)),
    ROW("psubb", 0xf8, p66, (L<u8, sub>)), ROW("psubw", 0xf9, p66, (L<u16, sub>)),
    ROW("psubd", 0xfa, p66, (L<u32, sub>)), ROW("psubq", 0xfb, p66, (L<u64, sub>)),
    ROW("paddsb", 0xec, p66, (L<i8, adds<i8>>)), ROW("paddsw", 0xed, p66, (L<i16, adds<i16>>)),
    ROW("paddusb", 0xdc, p66, (L<u8, adds<u8>>)), ROW("paddusw", 0xdd, p66, (L<u16, adds<u16>>)),
    ROW("psubsb", 0xe8, p66, (L<i8, subs<i8>>)), ROW("psubsw", 0xe9, p66, (L<i16, subs<i16>>)),
    ROW("psubusb", 0xd8, p66, (L<u8, subs<u8>>)), ROW("psubusw", 0xd9, p66, (L<u16, subs<u16>>)),
    ROW("pcmpeqb", 0x74, p66, (L<u8, eq<u8>>)), ROW("pcmpeqw", 0x75, p66, (L<u16, eq<u16>>)),
    ROW("pcmpeqd", 0x76, p66, (L<u32, eq<u32>>)), ROW("pcmpgtb", 0x64, p66, (L<i8, gt<i8>>)),
    ROW("pcmpgtw", 0x65, p66, (L<i16, gt<i16>>)), ROW("pcmpgtd", 0x66, p66, (L<i32, gt<i32>>)),
    ROW("pminub", 0xda, p66, (L<u8, min>)), ROW("pmaxub", 0xde, p66, (L<u8, max>)),
    ROW("pminsw", 0xea, p66, (L<i16, min>)), ROW("pmaxsw", 0xee, p66, (L<i16, max>)),
    ROW("pavgb", 0xe0, p66, (L<u8, avg>)), ROW("pavgw", 0xe3, p66, (L<u16, avg>)),
    ROW("pmullw", 0xd5, p66, (L<u16, mullo>)), ROW("pmulhw", 0xe5, p66, (L<i16, mulhi<i16>>)),
    ROW("pmulhuw", 0xe4, p66, (L<u16, mulhi<u16>>)), ROW("pmuludq", 0xf4, p66, op2<pmul_dq<false>>),
    ROW("pmaddwd", 0xf5, p66, op2<pmaddwd>), ROW("psadbw", 0xf6, p66, op2<psadbw>),
    ROW("psllw", 0xf1, p66, (op2<shift_xmm<u16, Sh::left>>)), ROW("pslld", 0xf2, p66, (op2<shift_xmm<u32, Sh::left>>)),
    ROW("psllq", 0xf3, p66, (op2<shift_xmm<u64, Sh::left>>)), ROW("psrlw", 0xd1, p66, (op2<shift_xmm<u16, Sh::right>>)),
    ROW("psrld", 0xd2, p66, (op2<shift_xmm<u32, Sh::right>>)), ROW("psrlq", 0xd3, p66, (op2<shift_xmm<u64, Sh::right>>)),
    ROW("psraw", 0xe1, p66, (op2<shift_xmm<u16, Sh::arith>>)), ROW("psrad", 0xe2, p66, (op2<shift_xmm<u32, Sh::arith>>)),
    SHIFTI("psrlw", 0x71, 2, (shift_imm<u16, Sh::right>)), SHIFTI("psraw", 0x71, 4, (shift_imm<u16, Sh::arith>)),
    SHIFTI("psllw", 0x71, 6, (shift_imm<u16, Sh::left>)), SHIFTI("psrld", 0x72, 2, (shift_imm<u32, Sh::right>)),
    SHIFTI("psrad", 0x72, 4, (shift_imm<u32, Sh::arith>)), SHIFTI("pslld", 0x72, 6, (shift_imm<u32, Sh::left>)),
    SHIFTI("psrlq", 0x73, 2, (shift_imm<u64, Sh::right>)), SHIFTI("psrldq", 0x73, 3, byte_shift<false>),
    SHIFTI("psllq", 0x73, 6, (shift_imm<u64, Sh::left>)), SHIFTI("pslldq", 0x73, 7, byte_shift<true>),
    ROW("punpcklbw", 0x60, p66, (op2<unpack<u8, false>>)), ROW("punpcklwd", 0x61, p66, (op2<unpack<u16, false>>)),
    ROW("punpckldq", 0x62, p66, (op2<unpack<u32, false>>)), ROW("punpcklqdq", 0x6c, p66, (op2<unpack<u64, false>>)),
    ROW("punpckhbw", 0x68, p66, (op2<unpack<u8, true>>)), ROW("punpckhwd", 0x69, p66, (op2<unpack<u16, true>>)),
    ROW("punpckhdq", 0x6a, p66, (op2<unpack<u32, true>>)), ROW("punpckhqdq", 0x6d, p66, (op2<unpack<u64, true>>)),
    ROW("packsswb", 0x63, p66, (op2<pack<i16, i8>>)), ROW("packssdw", 0x6b, p66, (op2<pack<i32, i16>>)),
    ROW("packuswb", 0x67, p66, (op2<pack<i16, u8>>)),
    ROWI("pshufd", 0x70, p66, op2<pshufd>), ROWI("pshufhw", 0x70, pf3, op2<pshufw<true>>),
    ROWI("pshuflw", 0x70, pf2, op2<pshufw<false>>),
    {.name = "pmovmskb", .ops = "GW", .opcode = 0xd7, .pfx = p66, .mod = Mod::reg, .cls = sse, .in_place = true, .fn = movmsk<u8>},
    {.name = "pextrw", .ops = "GWI", .opcode = 0xc5, .pfx = p66, .mod = Mod::reg, .cls = sse, .in_place = true, .fn = pextrw_c5},
    {.name = "pinsrw", .ops = "VEI", .opcode = 0xc4, .pfx = p66, .cls = sse, .in_place = true, .fn = pinsr<u16>},

    // Float data movement.
    ROWI("shufps", 0xc6, none, op2<shufps>), ROWI("shufpd", 0xc6, p66, op2<shufpd>),
    ROW("unpcklps", 0x14, none, (op2<unpack<u32, false>>)), ROW("unpckhps", 0x15, none, (op2<unpack<u32, true>>)),
    ROW("unpcklpd", 0x14, p66, (op2<unpack<u64, false>>)), ROW("unpckhpd", 0x15, p66, (op2<unpack<u64, true>>)),
    {.name = "movhlps", .ops = "VW", .opcode = 0x12, .mod = Mod::reg, .cls = sse, .in_place = true, .fn = op2<movhlps>},
    {.name = "movlps", .ops = "VM", .opcode = 0x12, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = op2<load_lo, 8, 1>},
    {.name = "movlps", .ops = "MV", .opcode = 0x13, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = store_half<false>},
    {.name = "movlhps", .ops = "VW", .opcode = 0x16, .mod = Mod::reg, .cls = sse, .in_place = true, .fn = op2<movlhps>},
    {.name = "movhps", .ops = "VM", .opcode = 0x16, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = op2<load_hi, 8, 1>},
    {.name = "movhps", .ops = "MV", .opcode = 0x17, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = store_half<true>},
    {.name = "movlpd", .ops = "VM", .opcode = 0x12, .pfx = p66, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = op2<load_lo, 8, 1>},
    {.name = "movlpd", .ops = "MV", .opcode = 0x13, .pfx = p66, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = store_half<false>},
    {.name = "movhpd", .ops = "VM", .opcode = 0x16, .pfx = p66, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = op2<load_hi, 8, 1>},
    {.name = "movhpd", .ops = "MV", .opcode = 0x17, .pfx = p66, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = store_half<true>},
    {.name = "movmskps", .ops = "GW", .opcode = 0x50, .mod = Mod::reg, .cls = sse, .in_place = true, .fn = movmsk<u32>},
    {.name = "movmskpd", .ops = "GW", .opcode = 0x50, .pfx = p66, .mod = Mod::reg, .cls = sse, .in_place = true, .fn = movmsk<u64>},

    // SSE3 (the arithmetic ones are in sse_fp.cpp).
    ROW("movsldup", 0x12, pf3, op2<movsldup>), ROW("movshdup", 0x16, pf3, op2<movshdup>),
    {.name = "movddup", .ops = "VW", .opcode = 0x12, .pfx = pf2, .cls = sse, .in_place = true, .fn = op2<movddup, 8, 1>},
    {.name = "lddqu", .ops = "VM", .opcode = 0xf0, .pfx = pf2, .mod = Mod::mem, .cls = sse, .in_place = true, .fn = op2<copy, 16, 1>},

    // SSSE3 (the xmm forms; MMX is not implemented).
    ROW38("pshufb", 0x00, op2<pshufb>), ROW3A("palignr", 0x0f, op2<palignr>),
    ROW38("phaddw", 0x01, (op2<hop<u16, 0>>)), ROW38("phaddd", 0x02, (op2<hop<u32, 0>>)),
    ROW38("phaddsw", 0x03, (op2<hop<i16, 2>>)), ROW38("pmaddubsw", 0x04, op2<pmaddubsw>),
    ROW38("phsubw", 0x05, (op2<hop<u16, 1>>)), ROW38("phsubd", 0x06, (op2<hop<u32, 1>>)),
    ROW38("phsubsw", 0x07, (op2<hop<i16, 3>>)), ROW38("psignb", 0x08, (L<i8, sign<i8>>)),
    ROW38("psignw", 0x09, (L<i16, sign<i16>>)), ROW38("psignd", 0x0a, (L<i32, sign<i32>>)),
    ROW38("pmulhrsw", 0x0b, (L<i16, mulhrs>)), ROW38("pabsb", 0x1c, (L<i8, abs_<i8>>)),
    ROW38("pabsw", 0x1d, (L<i16, abs_<i16>>)), ROW38("pabsd", 0x1e, (L<i32, abs_<i32>>)),

    // SSE4.1 integer and blends.
    ROW38("pblendvb", 0x10, blendv<u8>), ROW38("blendvps", 0x14, blendv<u32>), ROW38("blendvpd", 0x15, blendv<u64>),
    {.name = "ptest", .ops = "VW", .map = m38, .opcode = 0x17, .pfx = p66, .cls = sse, .in_place = true, .fn = ptest},
    {.name = "pmovsxbw", .ops = "VW", .map = m38, .opcode = 0x20, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<i8, i16>, 8, 1>},
    {.name = "pmovsxbd", .ops = "VW", .map = m38, .opcode = 0x21, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<i8, i32>, 4, 1>},
    {.name = "pmovsxbq", .ops = "VW", .map = m38, .opcode = 0x22, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<i8, i64>, 2, 1>},
    {.name = "pmovsxwd", .ops = "VW", .map = m38, .opcode = 0x23, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<i16, i32>, 8, 1>},
    {.name = "pmovsxwq", .ops = "VW", .map = m38, .opcode = 0x24, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<i16, i64>, 4, 1>},
    {.name = "pmovsxdq", .ops = "VW", .map = m38, .opcode = 0x25, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<i32, i64>, 8, 1>},
    {.name = "pmovzxbw", .ops = "VW", .map = m38, .opcode = 0x30, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<u8, u16>, 8, 1>},
    {.name = "pmovzxbd", .ops = "VW", .map = m38, .opcode = 0x31, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<u8, u32>, 4, 1>},
    {.name = "pmovzxbq", .ops = "VW", .map = m38, .opcode = 0x32, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<u8, u64>, 2, 1>},
    {.name = "pmovzxwd", .ops = "VW", .map = m38, .opcode = 0x33, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<u16, u32>, 8, 1>},
    {.name = "pmovzxwq", .ops = "VW", .map = m38, .opcode = 0x34, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<u16, u64>, 4, 1>},
    {.name = "pmovzxdq", .ops = "VW", .map = m38, .opcode = 0x35, .pfx = p66, .cls = sse, .in_place = true, .fn = op2<widen<u32, u64>, 8, 1>},
    ROW38("pmuldq", 0x28, op2<pmul_dq<true>>), ROW38("pcmpeqq", 0x29, (L<u64, eq<u64>>)),
    ROW38("packusdw", 0x2b, (op2<pack<i32, u16>>)),
    ROW38("pminsb", 0x38, (L<i8, min>)), ROW38("pminsd", 0x39, (L<i32, min>)),
    ROW38("pminuw", 0x3a, (L<u16, min>)), ROW38("pminud", 0x3b, (L<u32, min>)),
    ROW38("pmaxsb", 0x3c, (L<i8, max>)), ROW38("pmaxsd", 0x3d, (L<i32, max>)),
    ROW38("pmaxuw", 0x3e, (L<u16, max>)), ROW38("pmaxud", 0x3f, (L<u32, max>)),
    ROW38("pmulld", 0x40, (L<u32, mullo>)), ROW38("phminposuw", 0x41, op2<phminposuw>),
    ROW3A("blendps", 0x0c, op2<blend<u32>>), ROW3A("blendpd", 0x0d, op2<blend<u64>>),
    ROW3A("pblendw", 0x0e, op2<blend<u16>>), ROW3A("mpsadbw", 0x42, op2<mpsadbw>),
    {.name = "pextrb", .ops = "EVI", .map = m3a, .opcode = 0x14, .pfx = p66, .cls = sse, .in_place = true, .fn = pextr<u8>},
    {.name = "pextrw", .ops = "EVI", .map = m3a, .opcode = 0x15, .pfx = p66, .cls = sse, .in_place = true, .fn = pextr<u16>},
    {.name = "pextrd", .ops = "ZVI", .map = m3a, .opcode = 0x16, .pfx = p66, .cls = sse, .in_place = true, .fn = pextr<u32>},
    {.name = "extractps", .ops = "EVI", .map = m3a, .opcode = 0x17, .pfx = p66, .cls = sse, .in_place = true, .fn = extractps},
    {.name = "pinsrb", .ops = "VEI", .map = m3a, .opcode = 0x20, .pfx = p66, .cls = sse, .in_place = true, .fn = pinsr<u8>},
    {.name = "insertps", .ops = "VWI", .map = m3a, .opcode = 0x21, .pfx = p66, .cls = sse, .in_place = true, .fn = insertps},
    {.name = "pinsrd", .ops = "VZI", .map = m3a, .opcode = 0x22, .pfx = p66, .cls = sse, .in_place = true, .fn = pinsr<u32>},
};

#undef ROW
#undef ROWI
#undef ROW38
#undef ROW3A
#undef SHIFTI

} // namespace

std::span<Row const> sse_int_rows() { return rows; }

} // namespace kxen::soft
