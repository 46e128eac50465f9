#include "diff_gen.hpp"
#include <algorithm>
#include <bit>
#include <map>

namespace kxen::soft::diff {

char const* subset_name(Subset s) {
    switch (s) {
    case Subset::alu: return "alu";
    case Subset::shift: return "shift";
    case Subset::muldiv: return "muldiv";
    case Subset::bitops: return "bitops";
    case Subset::string: return "string";
    case Subset::x87: return "x87";
    case Subset::sse_move: return "sse_move";
    case Subset::sse_int: return "sse_int";
    case Subset::sse_fp: return "sse_fp";
    }
    return "?";
}

namespace {

constexpr u64 undef_logic = flag::af;                                   // and/or/xor/test
constexpr u64 undef_mul = flag::sf | flag::zf | flag::af | flag::pf;     // mul/imul
constexpr u64 fsw_c0 = 0x100, fsw_c1 = 0x200, fsw_c2 = 0x400, fsw_c3 = 0x4000;

// Values that hit the edges arithmetic gets wrong: 0, +-1, sign bits, all ones, small counts.
u64 rval(Rng& r) {
    switch (r.below(8)) {
    case 0: return r.below(17);
    case 1: return -r.below(17);
    case 2: return 1ull << r.below(64);
    case 3: return (1ull << r.below(64)) - 1;
    case 4: return static_cast<u64>(static_cast<std::int64_t>(static_cast<std::int32_t>(r.next())));
    case 5: return r.next() & 0xff;
    case 6: return 0x80ull << (8 * r.below(8));
    default: return r.next();
    }
}

// A 32/64-bit float bit pattern: ordinary numbers most of the time, then the specials.
u64 fbits(Rng& r, bool dbl) {
    auto const frac = r.next() & (dbl ? 0xfffffffffffffull : 0x7fffffull);
    u64 const sign = r.below(2) ? (dbl ? 1ull << 63 : 1ull << 31) : 0;
    u64 const emax = dbl ? 0x7ff : 0xff;
    unsigned const fb = dbl ? 52 : 23;
    switch (r.below(10)) {
    case 0: return sign;                                              // +-0
    case 1: return sign | (emax << fb);                               // inf
    case 2: return sign | (emax << fb) | (frac ? frac : 1);           // NaN
    case 3: return sign | (frac ? frac : 1);                          // denormal
    case 4: return r.next() & (dbl ? ~0ull : 0xffffffffull);          // any bits
    default: {
        u64 const bias = dbl ? 1023 : 127;
        u64 const e = bias - 20 + r.below(60);
        return sign | (e << fb) | (r.below(3) ? frac : frac & ~((1ull << (fb - 8)) - 1));
    }
    }
}

// An 80-bit extended value: normals, zero, inf, NaN, denormals and the unsupported encodings.
void f80(Rng& r, u8* out) {
    u64 mant = r.next();
    u16 se = static_cast<u16>(r.below(2) << 15);
    switch (r.below(12)) {
    case 0: mant = 0; break;
    case 1: mant = 1ull << 63; se |= 0x7fff; break;
    case 2: mant |= 1ull << 63; se |= 0x7fff; break;
    case 3: mant &= ~(1ull << 63); break;                     // denormal (exp 0)
    case 4: mant &= ~(1ull << 63); se |= 1 + r.below(0x7ffe); break;   // unnormal
    case 5: se |= static_cast<u16>(r.below(0x8000)); break;  // any
    case 6: mant = (1ull << 63) | (static_cast<u64>(r.below(1u << 20)) << 43); se |= 0x3fff + 40; break;  // integer-ish
    default: mant |= 1ull << 63; se |= static_cast<u16>(0x3fff - 30 + r.below(60)); break;
    }
    std::memcpy(out, &mant, 8);
    std::memcpy(out + 8, &se, 2);
}

struct Gen {
    Case& c;
    Rng& r;
    bool l64;
    unsigned nreg() const { return l64 ? 16 : 8; }
    unsigned reg() { return static_cast<unsigned>(r.below(nreg())); }
};

// An instruction in the making; encode() turns it into bytes and aims its memory operand.
struct Form {
    std::vector<u8> legacy;
    bool rex_w = false, force_rex = false;
    std::vector<u8> opc;
    bool modrm = false;
    unsigned reg = 0;          // ModRM.reg (register number or /digit), 0..15
    bool mem = false;
    unsigned rm = 0;           // register form: 0..15
    unsigned msize = 1, malign = 1;
    unsigned imm_size = 0;
    u64 imm = 0;
    bool addr32 = false;       // 67 in 64-bit code
    bool vex = false;
    u8 vex_map = 2, vex_pp = 0;
    bool vex_w = false;
    unsigned vvvv = 0;
};

u64 choose_target(Rng& r, unsigned size, unsigned align) {
    if (r.chance(7)) {
        switch (r.below(3)) {
        case 0: return data_end - size + 1 + r.below(size);   // crosses into (or starts at) the hole
        case 1: return data_end + r.below(0x800);
        default: return data_base - 1 - r.below(64);
        }
    }
    u64 t = data_base + r.below(data_size - size + 1);
    if (align > 1 && r.chance(75)) t &= ~static_cast<u64>(align - 1);
    return t;
}

// Encodes f into c.bytes. A memory operand is aimed at a target chosen here: the base (and
// index) registers are set so that the effective address is the target.
void encode(Gen& g, Form& f) {
    Case& c = g.c;
    Rng& r = g.r;
    std::vector<u8> b;
    for (u8 p : f.legacy) b.push_back(p);
    if (f.addr32) b.push_back(0x67);

    // Memory operand plan.
    unsigned mod = 3, rm3 = f.rm & 7, base = 0, index = 4, scale = 0;
    bool sib = false, riprel = false, no_base = false;
    unsigned disp_size = 0;
    std::int64_t disp = 0;
    u64 target = 0;
    if (f.mem) {
        target = choose_target(r, f.msize, f.malign);
        c.mem_target = target;
        c.mem_size = f.msize;
        unsigned const kind = static_cast<unsigned>(r.below(10));
        if (kind < 2) {
            mod = 0;
            if (kind == 0) {
                rm3 = 5;                              // [rip+disp32] / [disp32]
                riprel = g.l64;
                no_base = true;
            } else {
                rm3 = 4;                              // SIB, no base, maybe an index
                sib = true;
                base = 5;
                no_base = true;
                index = g.reg();
                scale = static_cast<unsigned>(r.below(4));
            }
            disp_size = 4;
        } else {
            mod = 1 + static_cast<unsigned>(r.below(3)) % 3;   // 1, 2 or (as 3) 0
            if (mod == 3) mod = 0;
            base = g.reg();
            if (kind >= 6) {
                sib = true;
                rm3 = 4;
                index = g.reg();
                scale = static_cast<unsigned>(r.below(4));
                if (mod == 0 && (base & 7) == 5) mod = 1;
            } else {
                rm3 = base & 7;
                if (rm3 == 4) {
                    sib = true;
                    index = 4;
                }
                if (mod == 0 && rm3 == 5) mod = 1;
            }
            disp_size = mod == 1 ? 1 : mod == 2 ? 4 : 0;
        }
        if (sib && index == base && !no_base) index = 4;
        if (sib && index == 4) index = 4;   // rsp: no index (with REX.X it is r12, kept)
    }
    bool const has_index = sib && index != 4;

    unsigned const R = f.reg >> 3, X = has_index ? index >> 3 : 0;
    unsigned const B = f.mem ? (no_base ? 0 : base >> 3) : (f.rm >> 3);
    if (f.vex) {
        b.push_back(0xc4);
        b.push_back(static_cast<u8>(((R ^ 1) << 7) | ((X ^ 1) << 6) | ((B ^ 1) << 5) | f.vex_map));
        b.push_back(static_cast<u8>((f.vex_w ? 0x80 : 0) | ((~f.vvvv & 15) << 3) | f.vex_pp));
    } else if (g.l64) {
        u8 const rex = static_cast<u8>(0x40 | (f.rex_w ? 8 : 0) | (R << 2) | (X << 1) | B);
        if (rex != 0x40 || f.force_rex) b.push_back(rex);
    }
    for (u8 o : f.opc) b.push_back(o);
    std::size_t disp_at = 0;
    if (f.modrm) {
        b.push_back(static_cast<u8>((mod << 6) | ((f.reg & 7) << 3) | rm3));
        if (sib) b.push_back(static_cast<u8>((scale << 6) | ((index & 7) << 3) | (base & 7)));
        disp_at = b.size();
        if (f.mem) {
            // Registers for the target, now that we know which ones address it.
            bool const a32 = !g.l64 || f.addr32;
            u64 const amask = a32 ? 0xffffffffull : ~0ull;
            u64 idx_val = 0;
            if (has_index) {
                idx_val = no_base ? r.below(0x100) : (r.chance(50) ? r.below(0x1000) - 0x800 : rval(r));
                if (a32) idx_val &= 0xffffffff;
                c.m.gpr[index] = a32 && g.l64 ? (r.next() << 32) | idx_val : idx_val;
                c.addr_regs |= static_cast<u16>(1u << index);
            }
            u64 const scaled = idx_val << scale;
            if (no_base) {
                disp = static_cast<std::int64_t>(target - (has_index ? scaled : 0));
            } else {
                if (disp_size == 1) disp = static_cast<std::int8_t>(r.next());
                else if (disp_size == 4) disp = static_cast<std::int32_t>(r.chance(50) ? r.next() : r.below(0x2000) - 0x1000);
                u64 const bv = (target - scaled - static_cast<u64>(disp)) & amask;
                c.m.gpr[base] = a32 && g.l64 && r.chance(50) ? (r.next() << 32) | bv : bv;
                c.addr_regs |= static_cast<u16>(1u << base);
            }
            for (unsigned i = 0; i < disp_size; ++i) b.push_back(static_cast<u8>(static_cast<u64>(disp) >> (8 * i)));
        }
    }
    for (unsigned i = 0; i < f.imm_size; ++i) b.push_back(static_cast<u8>(f.imm >> (8 * i)));
    if (riprel) {
        std::int64_t const d = static_cast<std::int64_t>(target) - static_cast<std::int64_t>(c.m.rip + b.size());
        for (unsigned i = 0; i < 4; ++i) b[disp_at + i] = static_cast<u8>(static_cast<u64>(d) >> (8 * i));
    }
    c.len = static_cast<unsigned>(std::min<std::size_t>(b.size(), 15));
    std::copy_n(b.begin(), c.len, c.bytes);
}

// Operand size 2/4/8 for a "v" instruction; sets the 66 prefix or REX.W.
unsigned osize(Gen& g, Form& f, bool allow16 = true) {
    unsigned const k = static_cast<unsigned>(g.r.below(g.l64 ? 3 : 2));
    if (k == 0 && allow16) {
        f.legacy.push_back(0x66);
        return 2;
    }
    if (k == 2) {
        f.rex_w = true;
        return 8;
    }
    return 4;
}

// ModRM r/m: a register most of the time, memory (aimed) otherwise.
void rm_operand(Gen& g, Form& f, unsigned size, bool mem_ok = true, unsigned mem_percent = 45) {
    f.modrm = true;
    f.mem = mem_ok && g.r.chance(mem_percent);
    f.rm = g.reg();
    f.msize = size;
    f.malign = size;
}

void imm(Gen& g, Form& f, unsigned size) {
    f.imm_size = size;
    f.imm = rval(g.r);
}

// Reads a register operand as the instruction sees it (byte registers 4-7 are ah..bh
// without REX).
u64 reg_value(Gen& g, Form const& f, unsigned reg, unsigned size) {
    bool const rex = g.l64 && (f.force_rex || f.rex_w || f.reg >= 8 || f.rm >= 8);
    if (size == 1 && !rex && reg >= 4 && reg < 8) return (g.c.m.gpr[reg - 4] >> 8) & 0xff;
    u64 const v = g.c.m.gpr[reg];
    return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

u64 rm_value(Gen& g, Form const& f, unsigned size) {
    if (!f.mem) return reg_value(g, f, f.rm, size);
    u64 t = g.c.mem_target;
    if (t < data_base || t + size > data_end) return 1;   // faults anyway
    u64 v = 0;
    std::memcpy(&v, &g.c.m.data[t - data_base], size);
    return v;
}

void put_mem(Gen& g, u64 addr, void const* src, unsigned size) {
    if (addr >= data_base && addr + size <= data_end) std::memcpy(&g.c.m.data[addr - data_base], src, size);
}

void maybe_lock(Gen& g, Form& f, bool lockable) {
    // LOCK on a register form is left out: QEMU 5.0 aborts the process on some of them
    // (f0 66 44 0f b3 ee, lock btr si, r13w: "tcg fatal error") instead of raising #UD.
    if (f.mem && ((lockable && g.r.chance(10)) || g.r.chance(1))) {
        f.legacy.insert(f.legacy.begin(), 0xf0);
        g.c.lock_invalid = !lockable;
    }
}

// ---- integer ALU, moves, setcc/cmovcc, xadd/cmpxchg ----------------------------------------

void gen_alu(Gen& g) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    u64 undef = 0;
    unsigned const op = static_cast<unsigned>(r.below(8));
    bool const logic = op == 1 || op == 4 || op == 6;
    switch (r.below(13)) {
    case 0: {   // op r/m, reg / reg, r/m / acc, imm
        unsigned const form = static_cast<unsigned>(r.below(6));
        unsigned size = 1;
        if (form & 1) size = osize(g, f);
        f.opc = {static_cast<u8>(op * 8 + form)};
        if (form < 4) {
            f.reg = g.reg();
            rm_operand(g, f, size);
            // lock cmp: QEMU 5.0 aborts ("tcg fatal error") instead of raising #UD.
            if (op != 7) maybe_lock(g, f, form < 2);
        } else {
            imm(g, f, size == 1 ? 1 : size == 2 ? 2 : 4);
        }
        if (size == 1 && g.l64) f.force_rex = r.chance(30);
        c.op = "alu";
        if (logic) undef = undef_logic;
        break;
    }
    case 1: {   // group 1
        unsigned const k = static_cast<unsigned>(r.below(3));
        unsigned const size = k == 0 ? 1 : osize(g, f);
        f.opc = {static_cast<u8>(k == 0 ? 0x80 : k == 1 ? 0x81 : 0x83)};
        f.reg = op;
        rm_operand(g, f, size);
        imm(g, f, k == 1 ? (size == 2 ? 2 : 4) : 1);
        if (op != 7) maybe_lock(g, f, true);   // lock cmp aborts QEMU 5.0 (see above)
        c.op = "grp1";
        if (logic) undef = undef_logic;
        break;
    }
    case 2: {   // test
        unsigned const k = static_cast<unsigned>(r.below(3));
        bool const byte = r.below(2);
        unsigned const size = byte ? 1 : osize(g, f);
        if (k == 0) {
            f.opc = {static_cast<u8>(byte ? 0x84 : 0x85)};
            f.reg = g.reg();
            rm_operand(g, f, size);
        } else if (k == 1) {
            f.opc = {static_cast<u8>(byte ? 0xa8 : 0xa9)};
            imm(g, f, size == 1 ? 1 : size == 2 ? 2 : 4);
        } else {
            f.opc = {static_cast<u8>(byte ? 0xf6 : 0xf7)};
            f.reg = 0;
            rm_operand(g, f, size);
            imm(g, f, size == 1 ? 1 : size == 2 ? 2 : 4);
        }
        c.op = "test";
        undef = undef_logic;
        break;
    }
    case 3: {   // not / neg
        bool const byte = r.below(2);
        unsigned const size = byte ? 1 : osize(g, f);
        f.opc = {static_cast<u8>(byte ? 0xf6 : 0xf7)};
        f.reg = 2 + static_cast<unsigned>(r.below(2));
        rm_operand(g, f, size);
        maybe_lock(g, f, true);
        c.op = f.reg == 2 ? "not" : "neg";
        break;
    }
    case 4: {   // inc / dec
        bool const byte = r.below(2);
        unsigned const size = byte ? 1 : osize(g, f);
        if (!g.l64 && !byte && r.chance(30)) {
            f.opc = {static_cast<u8>(0x40 + r.below(16))};
        } else {
            f.opc = {static_cast<u8>(byte ? 0xfe : 0xff)};
            f.reg = static_cast<unsigned>(r.below(2));
            rm_operand(g, f, size);
            maybe_lock(g, f, true);
        }
        c.op = "incdec";
        break;
    }
    case 5: {   // mov
        unsigned const k = static_cast<unsigned>(r.below(4));
        bool const byte = r.below(2);
        unsigned const size = byte ? 1 : osize(g, f);
        if (k == 0) {
            f.opc = {static_cast<u8>((byte ? 0x88 : 0x89) + 2 * r.below(2))};
            f.reg = g.reg();
            rm_operand(g, f, size);
        } else if (k == 1) {
            f.opc = {static_cast<u8>(byte ? 0xc6 : 0xc7)};
            rm_operand(g, f, size);
            imm(g, f, size == 1 ? 1 : size == 2 ? 2 : 4);
        } else {
            unsigned const rr = g.reg();
            f.rm = rr;   // REX.B
            f.opc = {static_cast<u8>((byte ? 0xb0 : 0xb8) + (rr & 7))};
            imm(g, f, size);
        }
        maybe_lock(g, f, false);
        c.op = "mov";
        break;
    }
    case 6: {   // xchg
        bool const byte = r.below(2);
        unsigned const size = byte ? 1 : osize(g, f);
        if (!byte && r.chance(30)) {
            unsigned const rr = g.reg();
            f.rm = rr;
            f.opc = {static_cast<u8>(0x90 + (rr & 7))};
        } else {
            f.opc = {static_cast<u8>(byte ? 0x86 : 0x87)};
            f.reg = g.reg();
            rm_operand(g, f, size);
            maybe_lock(g, f, true);
        }
        c.op = "xchg";
        break;
    }
    case 7: {   // movzx / movsx / movsxd
        if (g.l64 && r.chance(25)) {
            f.rex_w = true;
            f.opc = {0x63};
            f.reg = g.reg();
            rm_operand(g, f, 4);
            c.op = "movsxd";
        } else {
            unsigned const src = r.below(2) ? 1 : 2;
            osize(g, f);
            f.opc = {0x0f, static_cast<u8>((r.below(2) ? 0xb6 : 0xbe) + (src == 2))};
            f.reg = g.reg();
            rm_operand(g, f, src);
            c.op = "movzx/sx";
        }
        break;
    }
    case 8: {   // lea
        osize(g, f);
        f.opc = {0x8d};
        f.reg = g.reg();
        rm_operand(g, f, 1, true, 100);
        if (g.l64 && r.chance(20)) f.addr32 = true;
        c.op = "lea";
        break;
    }
    case 9: {   // xadd / cmpxchg
        bool const byte = r.below(2);
        unsigned const size = byte ? 1 : osize(g, f);
        bool const xadd = r.below(2);
        f.opc = {0x0f, static_cast<u8>((xadd ? 0xc0 : 0xb0) + !byte)};
        f.reg = g.reg();
        rm_operand(g, f, size);
        maybe_lock(g, f, true);
        c.op = xadd ? "xadd" : "cmpxchg";
        if (!xadd && r.chance(50)) {
            encode(g, f);
            c.flags_defined = ~0ull;
            if (c.addr_regs & 1) return;
            u64 const v = rm_value(g, f, size);   // make the compare succeed
            std::memcpy(&c.m.gpr[0], &v, size);
            return;
        }
        break;
    }
    case 10: {   // setcc / cmovcc
        unsigned const cc = static_cast<unsigned>(r.below(16));
        if (r.below(2)) {
            f.opc = {0x0f, static_cast<u8>(0x90 + cc)};
            rm_operand(g, f, 1);
            if (g.l64) f.force_rex = r.chance(30);
            c.op = "setcc";
        } else {
            unsigned const size = osize(g, f);
            f.opc = {0x0f, static_cast<u8>(0x40 + cc)};
            f.reg = g.reg();
            rm_operand(g, f, size);
            c.op = "cmovcc";
        }
        break;
    }
    case 11: {   // one-byte specials
        static constexpr u8 ops[] = {0x98, 0x99, 0xf5, 0xf8, 0xf9, 0xfc, 0xfd, 0x9e, 0x9f};
        f.opc = {ops[r.below(sizeof ops)]};
        if (f.opc[0] == 0x98 || f.opc[0] == 0x99) osize(g, f);
        c.op = "cbw/flags";
        break;
    }
    default: {   // add/sub family on memory with lock, the common kernel forms
        unsigned const size = osize(g, f);
        f.opc = {static_cast<u8>(op * 8 + 1)};
        f.reg = g.reg();
        rm_operand(g, f, size, true, 100);
        if (op != 7 && r.chance(50)) f.legacy.insert(f.legacy.begin(), 0xf0);
        c.op = "alu-mem";
        if (logic) undef = undef_logic;
        break;
    }
    }
    encode(g, f);
    c.flags_defined = ~undef;
}

// ---- shifts and rotates -----------------------------------------------------------------

unsigned pick_count(Rng& r) {
    static constexpr unsigned edges[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255};
    return r.chance(60) ? edges[r.below(sizeof edges / sizeof edges[0])] : static_cast<unsigned>(r.below(256));
}

void gen_shift(Gen& g) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    bool const dbl = r.chance(25);
    unsigned size, digit = 0, how;   // how: 0 imm8, 1 by one, 2 by CL
    if (dbl) {
        size = osize(g, f);
        bool const right = r.below(2);
        how = r.below(2) ? 0 : 2;
        f.opc = {0x0f, static_cast<u8>((right ? 0xac : 0xa4) + (how == 2))};
        f.reg = g.reg();
        rm_operand(g, f, size);
        c.op = right ? "shrd" : "shld";
    } else {
        bool const byte = r.below(3) == 0;
        size = byte ? 1 : osize(g, f);
        how = static_cast<unsigned>(r.below(3));
        static constexpr u8 base[] = {0xc0, 0xd0, 0xd2};
        f.opc = {static_cast<u8>(base[how] + !byte)};
        static constexpr unsigned digits[] = {0, 1, 2, 3, 4, 5, 7};
        digit = digits[r.below(7)];
        f.reg = digit;
        rm_operand(g, f, size);
        if (byte && g.l64) f.force_rex = r.chance(30);
        static constexpr char const* names[] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal6", "sar"};
        c.op = names[digit];
    }
    unsigned const count = pick_count(r);
    if (how == 0) {
        f.imm_size = 1;
        f.imm = count;
    }
    encode(g, f);
    if (how == 2 && !(c.addr_regs & 2)) c.m.gpr[1] = (c.m.gpr[1] & ~0xffull) | count;
    unsigned raw = how == 0 ? count : how == 1 ? 1 : static_cast<unsigned>(c.m.gpr[1] & 0xff);
    unsigned const bits = size * 8;
    unsigned const masked = raw & (size == 8 ? 63 : 31);
    u64 undef = 0;
    if (masked != 0) {
        if (dbl) {
            undef |= flag::af;
            if (masked != 1) undef |= flag::of;
            if (masked > bits) {   // SDM SHLD/SHRD: count > operand size: result and flags undefined
                undef |= flag::status;
                if (f.mem) c.ignore_mem = true;
                else c.gpr_ignore = static_cast<u16>(1u << f.rm);
            }
        } else if (digit >= 4) {
            undef |= flag::af;
            if (masked != 1) undef |= flag::of;
            if (masked >= bits && digit != 7) undef |= flag::cf;   // SDM SHL/SHR: count >= size
        } else {
            if (masked != 1) undef |= flag::of;
        }
    }
    c.flags_defined = ~undef;
}

// ---- mul / imul / div / idiv ----------------------------------------------------------

void gen_muldiv(Gen& g) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    unsigned const k = static_cast<unsigned>(r.below(7));
    if (k < 4) {   // f6/f7 /4../7
        bool const byte = r.below(4) == 0;
        unsigned const size = byte ? 1 : osize(g, f);
        f.opc = {static_cast<u8>(byte ? 0xf6 : 0xf7)};
        f.reg = 4 + k;
        rm_operand(g, f, size);
        if (byte && g.l64) f.force_rex = r.chance(30);
        static constexpr char const* names[] = {"mul", "imul1", "div", "idiv"};
        c.op = names[k];
        encode(g, f);
        if (k >= 2) {
            c.flags_defined = ~flag::status;
            if (r.chance(90)) {   // mostly a quotient that fits, so the result is compared
                u64 const dv = rm_value(g, f, size);
                bool const rm_is_hi = !f.mem && (size == 1 ? (f.rm == 4 && !f.force_rex) : f.rm == 2);
                if (dv != 0 && !rm_is_hi && !(c.addr_regs & 5)) {
                    u64 const m = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
                    u64 lo = c.m.gpr[0] & m;
                    u64 hi;
                    if (k == 2) {
                        hi = r.next() % dv;
                    } else {
                        bool const neg = size == 8 ? (lo >> 63) : (lo >> (8 * size - 1)) & 1;
                        hi = neg ? m : 0;
                    }
                    if (size == 1) c.m.gpr[0] = (c.m.gpr[0] & ~0xff00ull) | (hi << 8);
                    else if (size == 8) c.m.gpr[2] = hi;
                    else c.m.gpr[2] = (c.m.gpr[2] & ~m) | hi;
                    (void)lo;
                }
            }
        } else {
            c.flags_defined = ~undef_mul;
        }
        return;
    }
    unsigned const size = osize(g, f);
    f.reg = g.reg();
    if (k == 4) {
        f.opc = {0x0f, 0xaf};
    } else if (k == 5) {
        f.opc = {0x69};
        imm(g, f, size == 2 ? 2 : 4);
    } else {
        f.opc = {0x6b};
        imm(g, f, 1);
    }
    rm_operand(g, f, size);
    c.op = "imul";
    encode(g, f);
    c.flags_defined = ~undef_mul;
}

// ---- bit operations ------------------------------------------------------------------

void gen_bitops(Gen& g) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    u64 undef = 0;
    unsigned const k = static_cast<unsigned>(r.below(g.l64 ? 10 : 9));
    switch (k) {
    case 0:
    case 1: {   // bt/bts/btr/btc
        unsigned const size = osize(g, f);
        unsigned const which = static_cast<unsigned>(r.below(4));
        static constexpr char const* names[] = {"bt", "bts", "btr", "btc"};
        c.op = names[which];
        if (k == 0) {
            f.opc = {0x0f, static_cast<u8>(0xa3 + 8 * which)};
            f.reg = g.reg();
            rm_operand(g, f, size);
        } else {
            f.opc = {0x0f, 0xba};
            f.reg = 4 + which;
            rm_operand(g, f, size);
            f.imm_size = 1;
            f.imm = r.below(256);
        }
        maybe_lock(g, f, which != 0);
        encode(g, f);
        if (k == 0 && f.mem && !(c.addr_regs >> f.reg & 1)) {
            // A bit offset near the operand (it may reach below or past it, or the hole).
            u64 const off = static_cast<u64>(static_cast<std::int64_t>(r.below(1024)) - 512);
            c.m.gpr[f.reg] = g.l64 ? off : off & 0xffffffff;
        }
        undef = flag::of | flag::sf | flag::af | flag::pf;
        c.flags_defined = ~undef;
        return;
    }
    case 2: {   // bsf / bsr
        unsigned const size = osize(g, f);
        bool const rev = r.below(2);
        f.opc = {0x0f, static_cast<u8>(rev ? 0xbd : 0xbc)};
        f.reg = g.reg();
        rm_operand(g, f, size);
        encode(g, f);
        if (r.chance(15)) {   // a zero source
            if (f.mem) {
                u64 z = 0;
                put_mem(g, c.mem_target, &z, size);
            } else {
                c.m.gpr[f.rm] &= size == 8 ? 0 : ~((1ull << (8 * size)) - 1);
            }
        }
        c.op = rev ? "bsr" : "bsf";
        c.flags_defined = ~(flag::status & ~flag::zf);
        if (rm_value(g, f, size) == 0) c.gpr_ignore = static_cast<u16>(1u << f.reg);   // SDM: dest undefined
        return;
    }
    case 3: {   // popcnt / tzcnt / lzcnt
        unsigned const size = osize(g, f);
        unsigned const which = static_cast<unsigned>(r.below(3));
        f.legacy.insert(f.legacy.begin(), 0xf3);
        f.opc = {0x0f, static_cast<u8>(which == 0 ? 0xb8 : which == 1 ? 0xbc : 0xbd)};
        f.reg = g.reg();
        rm_operand(g, f, size);
        static constexpr char const* names[] = {"popcnt", "tzcnt", "lzcnt"};
        c.op = names[which];
        if (which) undef = flag::of | flag::sf | flag::pf | flag::af;
        break;
    }
    case 4: {   // bswap (16-bit: undefined result, not generated)
        unsigned const size = osize(g, f, false);
        (void)size;
        unsigned const rr = g.reg();
        f.rm = rr;
        f.opc = {0x0f, static_cast<u8>(0xc8 + (rr & 7))};
        c.op = "bswap";
        break;
    }
    case 5: {   // movbe
        unsigned const size = osize(g, f);
        f.opc = {0x0f, 0x38, static_cast<u8>(0xf0 + r.below(2))};
        f.reg = g.reg();
        rm_operand(g, f, size, true, 100);
        c.op = "movbe";
        break;
    }
    case 6: {   // crc32
        bool const byte = r.below(2);
        f.legacy.push_back(0xf2);
        unsigned size = 1;
        if (!byte) {
            if (r.chance(30)) {
                f.legacy.insert(f.legacy.begin(), 0x66);
                size = 2;
            } else if (g.l64 && r.below(2)) {
                f.rex_w = true;
                size = 8;
            } else {
                size = 4;
            }
        } else if (g.l64 && r.chance(30)) {
            f.rex_w = true;
        }
        f.opc = {0x0f, 0x38, static_cast<u8>(byte ? 0xf0 : 0xf1)};
        f.reg = g.reg();
        rm_operand(g, f, size);
        c.op = "crc32";
        break;
    }
    default: {   // BMI1/BMI2 (VEX)
        f.vex = true;
        f.vex_w = g.l64 && r.below(2);
        unsigned const size = f.vex_w ? 8 : 4;
        f.reg = g.reg();
        f.vvvv = g.reg();
        unsigned const which = static_cast<unsigned>(r.below(12));
        static constexpr char const* names[] = {"andn", "bextr", "blsr", "blsmsk", "blsi", "bzhi",
                                                "pdep", "pext", "mulx", "rorx", "sarx", "shlx"};
        c.op = names[which];
        switch (which) {
        case 0: f.opc = {0xf2}; undef = flag::af | flag::pf; break;
        case 1: f.opc = {0xf7}; undef = flag::af | flag::sf | flag::pf; break;
        case 2: case 3: case 4: f.opc = {0xf3}; f.reg = which - 1; undef = flag::af | flag::pf; break;
        case 5: f.opc = {0xf5}; undef = flag::af | flag::pf; break;
        case 6: f.opc = {0xf5}; f.vex_pp = 3; break;
        case 7: f.opc = {0xf5}; f.vex_pp = 2; break;
        case 8: f.opc = {0xf6}; f.vex_pp = 3; break;
        case 9: f.opc = {0xf0}; f.vex_pp = 3; f.vex_map = 3; f.vvvv = 0; f.imm_size = 1; f.imm = r.below(256); break;
        case 10: f.opc = {0xf7}; f.vex_pp = 2; break;
        default: f.opc = {0xf7}; f.vex_pp = 1; break;
        }
        rm_operand(g, f, size);
        break;
    }
    }
    encode(g, f);
    c.flags_defined = ~undef;
}

// ---- string instructions -----------------------------------------------------------

void gen_string(Gen& g) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    static constexpr u8 ops[] = {0xa4, 0xa6, 0xaa, 0xac, 0xae};
    static constexpr char const* names[] = {"movs", "cmps", "stos", "lods", "scas"};
    unsigned const which = static_cast<unsigned>(r.below(5));
    bool const byte = r.below(3) == 0;
    unsigned const size = byte ? 1 : osize(g, f);
    bool const compare = which == 1 || which == 4;
    unsigned const rep = static_cast<unsigned>(r.below(10));   // 0-2 none, 3-8 f3, 9 f2
    if (rep >= 3) f.legacy.insert(f.legacy.begin(), rep == 9 && compare ? 0xf2 : 0xf3);
    f.opc = {static_cast<u8>(ops[which] + !byte)};
    f.addr32 = g.l64 && r.chance(20);
    c.op = names[which];
    c.string_op = true;
    encode(g, f);

    bool const down = r.below(2);
    c.m.rflags = (c.m.rflags & ~flag::df) | (down ? flag::df : 0);
    u64 const n = rep >= 3 ? r.below(24) : 1;
    bool const a32 = !g.l64 || f.addr32;
    u64 cnt = r.chance(3) ? rval(g.r) : n;
    if (rep >= 3) c.m.gpr[1] = a32 && g.l64 ? (r.next() << 32) | (cnt & 0xffffffff) : cnt;
    u64 const span = n * size;
    auto place = [&](unsigned reg) {
        u64 a;
        if (r.chance(85) && span + size <= data_size) {
            u64 const lo = down ? data_base + span - size : data_base;
            u64 const hi = down ? data_end - size : data_end - span;
            a = lo + r.below(hi - lo + 1);
        } else {
            a = data_base - 64 + r.below(data_size + 128);
        }
        if (r.chance(50)) a &= ~static_cast<u64>(size - 1);
        c.m.gpr[reg] = a32 && g.l64 && r.chance(50) ? (r.next() << 32) | a : a;
    };
    place(6);
    place(7);
    if (compare && r.chance(60)) {   // equal runs, so repe goes on for a while
        u64 const rsi = c.m.gpr[6] & 0xffffffff, rdi = c.m.gpr[7] & 0xffffffff;
        for (u64 i = 0; i < span; ++i) {
            u64 const off = down ? (size - 1 + i) : i;
            u64 const s = down ? rsi + size - 1 - off : rsi + off;
            u64 const d = down ? rdi + size - 1 - off : rdi + off;
            if (d < data_base || d >= data_end) continue;
            u8 v = which == 1 ? (s >= data_base && s < data_end ? c.m.data[s - data_base] : 0)
                              : static_cast<u8>(c.m.gpr[0] >> (8 * (off % size)));
            c.m.data[d - data_base] = v;
        }
        if (r.chance(50) && span) {
            u64 const d = rdi + (down ? -static_cast<std::int64_t>(r.below(n)) * size : r.below(span));
            if (d >= data_base && d < data_end) c.m.data[d - data_base] ^= 1;
        }
    }
    c.flags_defined = ~0ull;
}

// ---- x87 -------------------------------------------------------------------------------

void gen_x87(Gen& g) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    c.cmp_x87 = true;
    // Mostly a well-formed stack: ST(0)..ST(depth-1) valid, the rest empty, with room to push.
    unsigned const top = (c.m.fsw >> 11) & 7;
    unsigned depth = 8;
    bool const tidy = r.chance(85);
    if (tidy) {
        depth = 2 + static_cast<unsigned>(r.below(5));
        c.m.ftags = 0;
        for (unsigned i = 0; i < depth; ++i) c.m.ftags |= static_cast<u8>(1u << ((top + i) & 7));
    }
    c.x87_stack_fault = !tidy;
    // C1 mostly starts clear: QEMU 5.0 never writes it, so a set C1 would send the case to the
    // exclusions instead of being compared.
    if (r.chance(80)) c.m.fsw &= static_cast<u16>(~0x200);
    u16 fsw_undef = fsw_c0 | fsw_c2 | fsw_c3;   // loads, stores, moves: only C1 defined
    u64 undef = 0;
    struct MemOp { u8 opc; unsigned digit, size; bool load; int fmt; char const* name; };
    // fmt: 0 f32, 1 f64, 2 f80, 3 i16, 4 i32, 5 i64, -1 control word
    static const MemOp mem_ops[] = {
        {0xd9, 0, 4, true, 0, "fld m32"},   {0xdd, 0, 8, true, 1, "fld m64"},
        {0xdb, 5, 10, true, 2, "fld m80"},  {0xdf, 0, 2, true, 3, "fild m16"},
        {0xdb, 0, 4, true, 4, "fild m32"},  {0xdf, 5, 8, true, 5, "fild m64"},
        {0xd9, 2, 4, false, 0, "fst m32"},  {0xd9, 3, 4, false, 0, "fstp m32"},
        {0xdd, 2, 8, false, 1, "fst m64"},  {0xdd, 3, 8, false, 1, "fstp m64"},
        {0xdb, 7, 10, false, 2, "fstp m80"}, {0xdf, 2, 2, false, 3, "fist m16"},
        {0xdf, 3, 2, false, 3, "fistp m16"}, {0xdb, 2, 4, false, 4, "fist m32"},
        {0xdb, 3, 4, false, 4, "fistp m32"}, {0xdf, 7, 8, false, 5, "fistp m64"},
        {0xdf, 1, 2, false, 3, "fisttp m16"}, {0xdb, 1, 4, false, 4, "fisttp m32"},
        {0xdd, 1, 8, false, 5, "fisttp m64"}, {0xd9, 5, 2, true, -1, "fldcw"},
        {0xd9, 7, 2, false, -1, "fnstcw"},  {0xdd, 7, 2, false, -1, "fnstsw m"},
    };
    struct RegOp { u8 opc, modrm; bool sti; u16 fsw_undef; char const* name; };
    static constexpr u16 none = 0, c023 = 0x4500, all4 = 0x4700;
    static const RegOp reg_ops[] = {
        {0xd9, 0xc0, true, c023, "fld st"},   {0xdd, 0xd0, true, c023, "fst st"},
        {0xdd, 0xd8, true, c023, "fstp st"},  {0xd9, 0xc8, true, c023, "fxch"},
        {0xdd, 0xc0, true, all4, "ffree"},    {0xd9, 0xd0, false, all4, "fnop"},
        {0xd9, 0xe0, false, c023, "fchs"},    {0xd9, 0xe1, false, c023, "fabs"},
        {0xd9, 0xf6, false, c023, "fdecstp"}, {0xd9, 0xf7, false, c023, "fincstp"},
        {0xdb, 0xe3, false, none, "fninit"},  {0xdb, 0xe2, false, all4, "fnclex"},
        {0xd9, 0xe8, false, c023, "fld1"},    {0xd9, 0xe9, false, c023, "fldl2t"},
        {0xd9, 0xea, false, c023, "fldl2e"},  {0xd9, 0xeb, false, c023, "fldpi"},
        {0xd9, 0xec, false, c023, "fldlg2"},  {0xd9, 0xed, false, c023, "fldln2"},
        {0xd9, 0xee, false, c023, "fldz"},    {0xde, 0xd9, false, none, "fcompp"},
        {0xda, 0xe9, false, none, "fucompp"}, {0xdd, 0xe0, true, none, "fucom"},
        {0xdd, 0xe8, true, none, "fucomp"},   {0xd9, 0xe4, false, none, "ftst"},
        {0xdb, 0xe8, true, none, "fucomi"},   {0xdb, 0xf0, true, none, "fcomi"},
        {0xdf, 0xe8, true, none, "fucomip"},  {0xdf, 0xf0, true, none, "fcomip"},
        {0xdf, 0xe0, false, all4, "fnstsw ax"}, {0x9b, 0, false, all4, "fwait"},
    };
    if (r.chance(45)) {
        MemOp const& m = mem_ops[r.below(sizeof mem_ops / sizeof mem_ops[0])];
        f.opc = {m.opc};
        f.reg = m.digit;
        rm_operand(g, f, m.size, true, 100);
        f.malign = 1;
        c.op = m.name;
        if (m.fmt < 0) fsw_undef = all4;
        encode(g, f);
        if (m.load && c.mem_target >= data_base && c.mem_target + m.size <= data_end && r.chance(70)) {
            u8 buf[10];
            switch (m.fmt) {
            case 0: { u32 v = static_cast<u32>(fbits(r, false)); std::memcpy(buf, &v, 4); break; }
            case 1: { u64 v = fbits(r, true); std::memcpy(buf, &v, 8); break; }
            case 2: f80(r, buf); break;
            case -1: { u16 v = static_cast<u16>(0x0040 | 0x3f | (r.below(16) << 8) | (r.chance(10) ? r.below(0x40) : 0)); v = r.chance(90) ? static_cast<u16>(v | 0x3f) : v; std::memcpy(buf, &v, 2); break; }
            default: { u64 v = rval(r); std::memcpy(buf, &v, 8); break; }
            }
            put_mem(g, c.mem_target, buf, m.size);
        }
    } else {
        RegOp const& o = reg_ops[r.below(sizeof reg_ops / sizeof reg_ops[0])];
        f.opc = {o.opc};
        unsigned const sti = o.sti ? static_cast<unsigned>(r.below(tidy ? depth : 8)) : 0;
        if (o.opc != 0x9b) f.opc.push_back(static_cast<u8>(o.modrm + sti));
        c.op = o.name;
        fsw_undef = o.fsw_undef;
        std::string_view const n = o.name;
        if (n.starts_with("fcomi") || n.starts_with("fucomi")) {
            undef = 0;
            fsw_undef = none;
        }
        encode(g, f);
    }
    c.flags_defined = ~undef;
    c.fsw_defined = static_cast<u16>(~fsw_undef);
}

// ---- SSE -------------------------------------------------------------------------------

struct SseOp {
    u8 pfx;                 // 0, 0x66, 0xf2, 0xf3
    std::vector<u8> opc;    // after 0f
    int digit;              // -1: reg field is an xmm
    unsigned msize;         // memory operand size; 0: register form only
    bool align16;
    unsigned imm;           // imm8 count
    char const* name;
    char gpr = 0;           // 'r': reg is a GPR, 'm': rm is a GPR/mem; sized by REX.W
    bool mem_only = false;
    u64 undef = 0;
};

void gen_sse(Gen& g, std::vector<SseOp> const& ops) {
    Form f;
    Rng& r = g.r;
    Case& c = g.c;
    c.cmp_xmm = true;
    SseOp const& o = r.pick(ops);
    if (o.pfx) f.legacy.push_back(o.pfx);
    f.opc = {0x0f};
    for (u8 b : o.opc) f.opc.push_back(b);
    f.modrm = true;
    f.reg = o.digit >= 0 ? static_cast<unsigned>(o.digit) : g.reg();
    unsigned msize = o.msize;
    if (o.gpr) {
        if (g.l64 && r.below(2)) f.rex_w = true;
        if (o.gpr == 'm' && msize == 4 && f.rex_w) msize = 8;
    }
    f.mem = o.mem_only || (msize && r.chance(45));
    f.rm = g.reg();
    f.msize = msize ? msize : 16;
    f.malign = o.align16 ? 16 : msize ? msize : 1;
    if (o.imm) {
        f.imm_size = 1;
        f.imm = r.below(256);
    }
    c.op = o.name;
    c.align16 = o.align16;
    encode(g, f);
    if (f.mem && c.mem_target >= data_base && c.mem_target + msize <= data_end && r.chance(60)) {
        for (unsigned i = 0; i < msize; i += 8) {
            u64 v = fbits(r, r.below(2));
            put_mem(g, c.mem_target + i, &v, std::min(8u, msize - i));
        }
    }
    if (std::string_view{o.name} == "ldmxcsr" && c.mem_target >= data_base && c.mem_target + 4 <= data_end) {
        u32 v = 0x1f80 | static_cast<u32>(r.below(4) << 13) | static_cast<u32>(r.below(0x40)) |
                (r.chance(20) ? 0x8040u : 0) ;
        if (r.chance(10)) v |= static_cast<u32>(1u << (16 + r.below(16)));
        if (r.chance(20)) v &= ~static_cast<u32>(r.below(0x40) << 7);
        put_mem(g, c.mem_target, &v, 4);
    }
    c.flags_defined = ~o.undef;
}

std::vector<SseOp> const& sse_move_ops() {
    static const std::vector<SseOp> ops = {
        {0x66, {0x6f}, -1, 16, true, 0, "movdqa load"}, {0x66, {0x7f}, -1, 16, true, 0, "movdqa store"},
        {0xf3, {0x6f}, -1, 16, false, 0, "movdqu load"}, {0xf3, {0x7f}, -1, 16, false, 0, "movdqu store"},
        {0, {0x28}, -1, 16, true, 0, "movaps load"}, {0, {0x29}, -1, 16, true, 0, "movaps store"},
        {0x66, {0x28}, -1, 16, true, 0, "movapd load"}, {0x66, {0x29}, -1, 16, true, 0, "movapd store"},
        {0, {0x10}, -1, 16, false, 0, "movups load"}, {0, {0x11}, -1, 16, false, 0, "movups store"},
        {0x66, {0x10}, -1, 16, false, 0, "movupd load"}, {0x66, {0x11}, -1, 16, false, 0, "movupd store"},
        {0xf3, {0x10}, -1, 4, false, 0, "movss load"}, {0xf3, {0x11}, -1, 4, false, 0, "movss store"},
        {0xf2, {0x10}, -1, 8, false, 0, "movsd load"}, {0xf2, {0x11}, -1, 8, false, 0, "movsd store"},
        {0x66, {0xe7}, -1, 16, true, 0, "movntdq", 0, true}, {0, {0x2b}, -1, 16, true, 0, "movntps", 0, true},
        {0x66, {0x38, 0x2a}, -1, 16, true, 0, "movntdqa", 0, true},
        {0xf3, {0x7e}, -1, 8, false, 0, "movq load"}, {0x66, {0xd6}, -1, 8, false, 0, "movq store"},
        {0x66, {0x6e}, -1, 4, false, 0, "movd/q to xmm", 'm'}, {0x66, {0x7e}, -1, 4, false, 0, "movd/q from xmm", 'm'},
        {0x66, {0x2b}, -1, 16, true, 0, "movntpd", 0, true},
    };
    return ops;
}

std::vector<SseOp> const& sse_int_ops() {
    static const std::vector<SseOp> ops = {
        {0x66, {0xef}, -1, 16, true, 0, "pxor"},   {0x66, {0xdb}, -1, 16, true, 0, "pand"},
        {0x66, {0xdf}, -1, 16, true, 0, "pandn"},  {0x66, {0xeb}, -1, 16, true, 0, "por"},
        {0x66, {0xfc}, -1, 16, true, 0, "paddb"}, {0x66, {0xfd}, -1, 16, true, 0, "paddw"},
        {0x66, {0xfe}, -1, 16, true, 0, "paddd"}, {0x66, {0xd4}, -1, 16, true, 0, "paddq"},
        {0x66, {0xf8}, -1, 16, true, 0, "psubb"}, {0x66, {0xf9}, -1, 16, true, 0, "psubw"},
        {0x66, {0xfa}, -1, 16, true, 0, "psubd"}, {0x66, {0xfb}, -1, 16, true, 0, "psubq"},
        {0x66, {0x74}, -1, 16, true, 0, "pcmpeqb"}, {0x66, {0x75}, -1, 16, true, 0, "pcmpeqw"},
        {0x66, {0x76}, -1, 16, true, 0, "pcmpeqd"}, {0x66, {0x64}, -1, 16, true, 0, "pcmpgtb"},
        {0x66, {0xd7}, -1, 0, false, 0, "pmovmskb", 'r'},
        {0x66, {0x70}, -1, 16, true, 1, "pshufd"}, {0xf2, {0x70}, -1, 16, true, 1, "pshuflw"},
        {0x66, {0x60}, -1, 16, true, 0, "punpcklbw"}, {0x66, {0x61}, -1, 16, true, 0, "punpcklwd"},
        {0x66, {0x62}, -1, 16, true, 0, "punpckldq"}, {0x66, {0x6c}, -1, 16, true, 0, "punpcklqdq"},
        {0x66, {0x6d}, -1, 16, true, 0, "punpckhqdq"}, {0x66, {0x73}, 3, 0, false, 1, "psrldq"},
        {0x66, {0x73}, 7, 0, false, 1, "pslldq"}, {0x66, {0xda}, -1, 16, true, 0, "pminub"},
        {0x66, {0xde}, -1, 16, true, 0, "pmaxub"}, {0x66, {0x38, 0x00}, -1, 16, true, 0, "pshufb"},
        {0x66, {0x3a, 0x0f}, -1, 16, true, 1, "palignr"}, {0, {0xc6}, -1, 16, true, 1, "shufps"},
        {0x66, {0x65}, -1, 16, true, 0, "pcmpgtw"},
        {0x66, {0x66}, -1, 16, true, 0, "pcmpgtd"},
        {0x66, {0xec}, -1, 16, true, 0, "paddsb"},
        {0x66, {0xed}, -1, 16, true, 0, "paddsw"},
        {0x66, {0xdc}, -1, 16, true, 0, "paddusb"},
        {0x66, {0xdd}, -1, 16, true, 0, "paddusw"},
        {0x66, {0xe8}, -1, 16, true, 0, "psubsb"},
        {0x66, {0xe9}, -1, 16, true, 0, "psubsw"},
        {0x66, {0xd8}, -1, 16, true, 0, "psubusb"},
        {0x66, {0xd9}, -1, 16, true, 0, "psubusw"},
        {0x66, {0xea}, -1, 16, true, 0, "pminsw"},
        {0x66, {0xee}, -1, 16, true, 0, "pmaxsw"},
        {0x66, {0xe0}, -1, 16, true, 0, "pavgb"},
        {0x66, {0xe3}, -1, 16, true, 0, "pavgw"},
        {0x66, {0xd5}, -1, 16, true, 0, "pmullw"},
        {0x66, {0xe5}, -1, 16, true, 0, "pmulhw"},
        {0x66, {0xe4}, -1, 16, true, 0, "pmulhuw"},
        {0x66, {0xf4}, -1, 16, true, 0, "pmuludq"},
        {0x66, {0xf5}, -1, 16, true, 0, "pmaddwd"},
        {0x66, {0xf6}, -1, 16, true, 0, "psadbw"},
        {0x66, {0xf1}, -1, 16, true, 0, "psllw"},
        {0x66, {0xf2}, -1, 16, true, 0, "pslld"},
        {0x66, {0xf3}, -1, 16, true, 0, "psllq"},
        {0x66, {0xd1}, -1, 16, true, 0, "psrlw"},
        {0x66, {0xd2}, -1, 16, true, 0, "psrld"},
        {0x66, {0xd3}, -1, 16, true, 0, "psrlq"},
        {0x66, {0xe1}, -1, 16, true, 0, "psraw"},
        {0x66, {0xe2}, -1, 16, true, 0, "psrad"},
        {0x66, {0x68}, -1, 16, true, 0, "punpckhbw"},
        {0x66, {0x69}, -1, 16, true, 0, "punpckhwd"},
        {0x66, {0x6a}, -1, 16, true, 0, "punpckhdq"},
        {0x66, {0x63}, -1, 16, true, 0, "packsswb"},
        {0x66, {0x6b}, -1, 16, true, 0, "packssdw"},
        {0x66, {0x67}, -1, 16, true, 0, "packuswb"},
        {0, {0x14}, -1, 16, true, 0, "unpcklps"},
        {0, {0x15}, -1, 16, true, 0, "unpckhps"},
        {0x66, {0x14}, -1, 16, true, 0, "unpcklpd"},
        {0x66, {0x15}, -1, 16, true, 0, "unpckhpd"},
        {0x66, {0x38, 0x01}, -1, 16, true, 0, "phaddw"},
        {0x66, {0x38, 0x02}, -1, 16, true, 0, "phaddd"},
        {0x66, {0x38, 0x03}, -1, 16, true, 0, "phaddsw"},
        {0x66, {0x38, 0x04}, -1, 16, true, 0, "pmaddubsw"},
        {0x66, {0x38, 0x05}, -1, 16, true, 0, "phsubw"},
        {0x66, {0x38, 0x06}, -1, 16, true, 0, "phsubd"},
        {0x66, {0x38, 0x07}, -1, 16, true, 0, "phsubsw"},
        {0x66, {0x38, 0x08}, -1, 16, true, 0, "psignb"},
        {0x66, {0x38, 0x09}, -1, 16, true, 0, "psignw"},
        {0x66, {0x38, 0x0a}, -1, 16, true, 0, "psignd"},
        {0x66, {0x38, 0x0b}, -1, 16, true, 0, "pmulhrsw"},
        {0x66, {0x38, 0x1c}, -1, 16, true, 0, "pabsb"},
        {0x66, {0x38, 0x1d}, -1, 16, true, 0, "pabsw"},
        {0x66, {0x38, 0x1e}, -1, 16, true, 0, "pabsd"},
        {0x66, {0x38, 0x10}, -1, 16, true, 0, "pblendvb"},
        {0x66, {0x38, 0x14}, -1, 16, true, 0, "blendvps"},
        {0x66, {0x38, 0x15}, -1, 16, true, 0, "blendvpd"},
        {0x66, {0x38, 0x28}, -1, 16, true, 0, "pmuldq"},
        {0x66, {0x38, 0x29}, -1, 16, true, 0, "pcmpeqq"},
        {0x66, {0x38, 0x2b}, -1, 16, true, 0, "packusdw"},
        {0x66, {0x38, 0x38}, -1, 16, true, 0, "pminsb"},
        {0x66, {0x38, 0x39}, -1, 16, true, 0, "pminsd"},
        {0x66, {0x38, 0x3a}, -1, 16, true, 0, "pminuw"},
        {0x66, {0x38, 0x3b}, -1, 16, true, 0, "pminud"},
        {0x66, {0x38, 0x3c}, -1, 16, true, 0, "pmaxsb"},
        {0x66, {0x38, 0x3d}, -1, 16, true, 0, "pmaxsd"},
        {0x66, {0x38, 0x3e}, -1, 16, true, 0, "pmaxuw"},
        {0x66, {0x38, 0x3f}, -1, 16, true, 0, "pmaxud"},
        {0x66, {0x38, 0x40}, -1, 16, true, 0, "pmulld"},
        {0x66, {0x38, 0x41}, -1, 16, true, 0, "phminposuw"},
        {0x66, {0x38, 0x17}, -1, 16, true, 0, "ptest"},
        {0x66, {0x38, 0x20}, -1, 8, false, 0, "pmovsxbw"},
        {0x66, {0x38, 0x21}, -1, 4, false, 0, "pmovsxbd"},
        {0x66, {0x38, 0x22}, -1, 2, false, 0, "pmovsxbq"},
        {0x66, {0x38, 0x23}, -1, 8, false, 0, "pmovsxwd"},
        {0x66, {0x38, 0x24}, -1, 4, false, 0, "pmovsxwq"},
        {0x66, {0x38, 0x25}, -1, 8, false, 0, "pmovsxdq"},
        {0x66, {0x38, 0x30}, -1, 8, false, 0, "pmovzxbw"},
        {0x66, {0x38, 0x31}, -1, 4, false, 0, "pmovzxbd"},
        {0x66, {0x38, 0x32}, -1, 2, false, 0, "pmovzxbq"},
        {0x66, {0x38, 0x33}, -1, 8, false, 0, "pmovzxwd"},
        {0x66, {0x38, 0x34}, -1, 4, false, 0, "pmovzxwq"},
        {0x66, {0x38, 0x35}, -1, 8, false, 0, "pmovzxdq"},
        {0x66, {0x3a, 0x0c}, -1, 16, true, 1, "blendps"},
        {0x66, {0x3a, 0x0d}, -1, 16, true, 1, "blendpd"},
        {0x66, {0x3a, 0x0e}, -1, 16, true, 1, "pblendw"},
        {0x66, {0x3a, 0x42}, -1, 16, true, 1, "mpsadbw"},
        {0xf3, {0x70}, -1, 16, true, 1, "pshufhw"}, {0x66, {0xc6}, -1, 16, true, 1, "shufpd"},
        {0x66, {0x71}, 2, 0, false, 1, "psrlw imm"}, {0x66, {0x71}, 4, 0, false, 1, "psraw imm"},
        {0x66, {0x71}, 6, 0, false, 1, "psllw imm"}, {0x66, {0x72}, 2, 0, false, 1, "psrld imm"},
        {0x66, {0x72}, 4, 0, false, 1, "psrad imm"}, {0x66, {0x72}, 6, 0, false, 1, "pslld imm"},
        {0x66, {0x73}, 2, 0, false, 1, "psrlq imm"}, {0x66, {0x73}, 6, 0, false, 1, "psllq imm"},
        {0x66, {0xc4}, -1, 2, false, 1, "pinsrw", 'm'}, {0x66, {0xc5}, -1, 0, false, 1, "pextrw", 'r'},
        {0, {0x50}, -1, 0, false, 0, "movmskps", 'r'}, {0x66, {0x50}, -1, 0, false, 0, "movmskpd", 'r'},
        {0, {0x12}, -1, 8, false, 0, "movlps/movhlps"}, {0, {0x16}, -1, 8, false, 0, "movhps/movlhps"},
        {0, {0x13}, -1, 8, false, 0, "movlps store", 0, true}, {0, {0x17}, -1, 8, false, 0, "movhps store", 0, true},
        {0x66, {0x12}, -1, 8, false, 0, "movlpd", 0, true}, {0x66, {0x16}, -1, 8, false, 0, "movhpd", 0, true},
        {0x66, {0x13}, -1, 8, false, 0, "movlpd store", 0, true}, {0x66, {0x17}, -1, 8, false, 0, "movhpd store", 0, true},
        {0xf3, {0x12}, -1, 16, true, 0, "movsldup"}, {0xf3, {0x16}, -1, 16, true, 0, "movshdup"},
        {0xf2, {0x12}, -1, 8, false, 0, "movddup"}, {0xf2, {0xf0}, -1, 16, false, 0, "lddqu", 0, true},
        {0x66, {0x3a, 0x14}, -1, 1, false, 1, "pextrb", 'm'}, {0x66, {0x3a, 0x15}, -1, 2, false, 1, "pextrw m", 'm'},
        {0x66, {0x3a, 0x16}, -1, 4, false, 1, "pextrd/q", 'm'}, {0x66, {0x3a, 0x17}, -1, 4, false, 1, "extractps", 'm'},
        {0x66, {0x3a, 0x20}, -1, 1, false, 1, "pinsrb", 'm'}, {0x66, {0x3a, 0x22}, -1, 4, false, 1, "pinsrd/q", 'm'},
        {0x66, {0x3a, 0x21}, -1, 4, false, 1, "insertps"},
    };
    return ops;
}

std::vector<SseOp> const& sse_fp_ops() {
    constexpr u64 comis_undef = 0;
    static const std::vector<SseOp> ops = {
        {0, {0x57}, -1, 16, true, 0, "xorps"}, {0, {0x54}, -1, 16, true, 0, "andps"},
        {0, {0x55}, -1, 16, true, 0, "andnps"}, {0, {0x56}, -1, 16, true, 0, "orps"},
        {0x66, {0x57}, -1, 16, true, 0, "xorpd"}, {0x66, {0x54}, -1, 16, true, 0, "andpd"},
        {0x66, {0x55}, -1, 16, true, 0, "andnpd"}, {0x66, {0x56}, -1, 16, true, 0, "orpd"},
        {0, {0xae}, 2, 4, false, 0, "ldmxcsr", 0, true}, {0, {0xae}, 3, 4, false, 0, "stmxcsr", 0, true},
        {0xf3, {0x58}, -1, 4, false, 0, "addss"}, {0xf2, {0x58}, -1, 8, false, 0, "addsd"},
        {0xf3, {0x5c}, -1, 4, false, 0, "subss"}, {0xf2, {0x5c}, -1, 8, false, 0, "subsd"},
        {0xf3, {0x59}, -1, 4, false, 0, "mulss"}, {0xf2, {0x59}, -1, 8, false, 0, "mulsd"},
        {0xf3, {0x5e}, -1, 4, false, 0, "divss"}, {0xf2, {0x5e}, -1, 8, false, 0, "divsd"},
        {0xf2, {0x51}, -1, 8, false, 0, "sqrtsd"}, {0, {0x58}, -1, 16, true, 0, "addps"},
        {0x66, {0x59}, -1, 16, true, 0, "mulpd"}, {0xf3, {0x5d}, -1, 4, false, 0, "minss"},
        {0xf2, {0x5f}, -1, 8, false, 0, "maxsd"},
        {0, {0x2e}, -1, 4, false, 0, "ucomiss", 0, false, comis_undef},
        {0x66, {0x2e}, -1, 8, false, 0, "ucomisd", 0, false, comis_undef},
        {0, {0x2f}, -1, 4, false, 0, "comiss", 0, false, comis_undef},
        {0xf2, {0x2a}, -1, 4, false, 0, "cvtsi2sd", 'm'}, {0xf3, {0x2a}, -1, 4, false, 0, "cvtsi2ss", 'm'},
        {0xf2, {0x2c}, -1, 8, false, 0, "cvttsd2si", 'r'}, {0xf2, {0x2d}, -1, 8, false, 0, "cvtsd2si", 'r'},
        {0xf3, {0x2c}, -1, 4, false, 0, "cvttss2si", 'r'}, {0xf3, {0x5a}, -1, 4, false, 0, "cvtss2sd"},
        {0xf2, {0x5a}, -1, 8, false, 0, "cvtsd2ss"}, {0xf3, {0xe6}, -1, 8, false, 0, "cvtdq2pd"},
        {0, {0x5b}, -1, 16, true, 0, "cvtdq2ps"}, {0xf3, {0x5b}, -1, 16, true, 0, "cvttps2dq"},
        {0x66, {0x58}, -1, 16, true, 0, "addpd"},
        {0, {0x5c}, -1, 16, true, 0, "subps"}, {0x66, {0x5c}, -1, 16, true, 0, "subpd"},
        {0, {0x59}, -1, 16, true, 0, "mulps"},
        {0, {0x5e}, -1, 16, true, 0, "divps"}, {0x66, {0x5e}, -1, 16, true, 0, "divpd"},
        {0, {0x5d}, -1, 16, true, 0, "minps"}, {0x66, {0x5d}, -1, 16, true, 0, "minpd"},
        {0xf2, {0x5d}, -1, 8, false, 0, "minsd"},
        {0, {0x5f}, -1, 16, true, 0, "maxps"}, {0x66, {0x5f}, -1, 16, true, 0, "maxpd"},
        {0xf3, {0x5f}, -1, 4, false, 0, "maxss"},
        {0, {0x51}, -1, 16, true, 0, "sqrtps"}, {0x66, {0x51}, -1, 16, true, 0, "sqrtpd"},
        {0xf3, {0x51}, -1, 4, false, 0, "sqrtss"},
        {0, {0xc2}, -1, 16, true, 1, "cmpps"}, {0x66, {0xc2}, -1, 16, true, 1, "cmppd"},
        {0xf3, {0xc2}, -1, 4, false, 1, "cmpss"}, {0xf2, {0xc2}, -1, 8, false, 1, "cmpsd"},
        {0x66, {0x2f}, -1, 8, false, 0, "comisd", 0, false, comis_undef},
        {0xf3, {0x2d}, -1, 4, false, 0, "cvtss2si", 'r'}, {0, {0x5a}, -1, 8, false, 0, "cvtps2pd"},
        {0x66, {0x5a}, -1, 16, true, 0, "cvtpd2ps"}, {0x66, {0x5b}, -1, 16, true, 0, "cvtps2dq"},
        {0xf2, {0xe6}, -1, 16, true, 0, "cvtpd2dq"}, {0x66, {0xe6}, -1, 16, true, 0, "cvttpd2dq"},
        {0xf2, {0xd0}, -1, 16, true, 0, "addsubps"}, {0x66, {0xd0}, -1, 16, true, 0, "addsubpd"},
        {0xf2, {0x7c}, -1, 16, true, 0, "haddps"}, {0x66, {0x7c}, -1, 16, true, 0, "haddpd"},
        {0xf2, {0x7d}, -1, 16, true, 0, "hsubps"}, {0x66, {0x7d}, -1, 16, true, 0, "hsubpd"},
        {0x66, {0x3a, 0x08}, -1, 16, true, 1, "roundps"}, {0x66, {0x3a, 0x09}, -1, 16, true, 1, "roundpd"},
        {0x66, {0x3a, 0x0a}, -1, 4, false, 1, "roundss"}, {0x66, {0x3a, 0x0b}, -1, 8, false, 1, "roundsd"},
        {0x66, {0x3a, 0x40}, -1, 16, true, 1, "dpps"}, {0x66, {0x3a, 0x41}, -1, 16, true, 1, "dppd"},
    };
    return ops;
}

// The ops of a list kxen runs today (register form, or memory for memory-only ones): the
// others would only come back unsupported. A form kxen gains joins its subset by itself.
std::vector<SseOp> const& implemented_ops(std::vector<SseOp> const& all) {
    static std::map<std::vector<SseOp> const*, std::vector<SseOp>> cache;
    auto [it, fresh] = cache.try_emplace(&all);
    if (!fresh) return it->second;
    for (SseOp const& o : all) {
        Case c;
        c.m.rip = code_base;
        c.m.rflags = 2;
        c.m.mxcsr = 0x1f80;
        c.m.gpr[6] = data_base;
        unsigned n = 0;
        if (o.pfx) c.bytes[n++] = o.pfx;
        c.bytes[n++] = 0x0f;
        for (u8 b : o.opc) c.bytes[n++] = b;
        unsigned const reg = o.digit >= 0 ? static_cast<unsigned>(o.digit) : 0;
        c.bytes[n++] = static_cast<u8>(o.mem_only ? (reg << 3) | 6 : 0xc0 | (reg << 3) | 1);   // [rsi] / xmm1
        for (unsigned i = 0; i < o.imm; ++i) c.bytes[n++] = 0;
        c.len = n;
        c.m.data.fill(0);
        if (run_kxen(c).kind != Kind::unsupported) it->second.push_back(o);
    }
    return it->second;
}

void random_machine(Gen& g) {
    Machine& m = g.c.m;
    Rng& r = g.r;
    for (u64& v : m.gpr) v = rval(r);
    if (!g.l64)
        for (u64& v : m.gpr) v &= 0xffffffff;
    m.rflags = 0x2 | (r.next() & flag::status) | (r.chance(10) ? flag::df : 0);
    for (Xmm& x : m.xmm) {
        if (r.chance(50)) x = {r.next(), r.next()};
        else if (r.below(2)) x = {fbits(r, true), fbits(r, true)};
        else x = {fbits(r, false) | (fbits(r, false) << 32), fbits(r, false) | (fbits(r, false) << 32)};
    }
    m.mxcsr = 0x1f80 | static_cast<u32>(r.below(4) << 13) | static_cast<u32>(r.below(0x40)) |
              (r.chance(20) ? 0x8040u : 0);
    for (auto& reg : m.fpr) f80(r, reg);
    unsigned const top = static_cast<unsigned>(r.below(8));
    m.ftags = static_cast<u8>(r.chance(20) ? 0 : r.chance(20) ? 0xff : r.next());
    m.fcw = static_cast<u16>(0x0040 | 0x3f | (r.below(16) << 8));
    m.fsw = static_cast<u16>((top << 11) | (r.next() & 0x4700) | (r.next() & 0x7f));
    for (std::size_t i = 0; i < data_size; i += 8) {
        u64 v = r.next();
        std::memcpy(&m.data[i], &v, 8);
    }
}

} // namespace

Case generate(Subset s, bool long64, u64 rip, Rng& r) {
    Case c;
    c.long64 = long64;
    Gen g{c, r, long64};
    random_machine(g);
    c.m.rip = rip;
    switch (s) {
    case Subset::alu: gen_alu(g); break;
    case Subset::shift: gen_shift(g); break;
    case Subset::muldiv: gen_muldiv(g); break;
    case Subset::bitops: gen_bitops(g); break;
    case Subset::string: gen_string(g); break;
    case Subset::x87: gen_x87(g); break;
    case Subset::sse_move: gen_sse(g, implemented_ops(sse_move_ops())); break;
    case Subset::sse_int: gen_sse(g, implemented_ops(sse_int_ops())); break;
    case Subset::sse_fp: gen_sse(g, implemented_ops(sse_fp_ops())); break;
    }
    if (!long64)
        for (u64& v : c.m.gpr) v &= 0xffffffff;
    return c;
}

} // namespace kxen::soft::diff
