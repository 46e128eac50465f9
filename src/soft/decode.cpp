// Instruction decoding (SDM vol. 2, ch. 2 and appendix A): prefixes, REX, VEX/EVEX, opcode map,
// ModRM, SIB, displacement, immediate. It decodes the length of any instruction, supported or
// not, so that logs show exactly which bytes made up the instruction that stopped a guest.
#include "soft/decode.hpp"
#include <algorithm>
#include "soft/regs.hpp"

namespace kxen::soft {
namespace {

constexpr unsigned max_length = 15;   // longer is #GP/#UD on real hardware

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_{b} {}
    bool more() const { return pos_ < b_.size(); }
    std::uint8_t peek() const { return b_[pos_]; }
    bool take(std::uint8_t& v) {
        if (!more()) return false;
        v = b_[pos_++];
        return true;
    }
    // A little-endian value of n bytes (1, 2, 4, 8).
    bool take(unsigned n, std::uint64_t& v) {
        if (b_.size() - pos_ < n) return false;
        v = 0;
        for (unsigned i = 0; i < n; ++i) v |= std::uint64_t{b_[pos_ + i]} << (8 * i);
        pos_ += n;
        return true;
    }
    unsigned pos() const { return static_cast<unsigned>(pos_); }
private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
};

std::int64_t sign_extend(std::uint64_t v, unsigned bytes) {
    unsigned const shift = 64 - 8 * bytes;
    return static_cast<std::int64_t>(v << shift) >> shift;
}

bool one_byte_has_modrm(std::uint8_t op) {
    if (op < 0x40) return (op & 7) < 4;
    switch (op) {
    case 0x62: case 0x63: case 0x69: case 0x6b: case 0xc0: case 0xc1: case 0xc4: case 0xc5:
    case 0xc6: case 0xc7: case 0xd0: case 0xd1: case 0xd2: case 0xd3: case 0xf6: case 0xf7:
    case 0xfe: case 0xff:
        return true;
    default:
        return (op >= 0x80 && op <= 0x8f) || (op >= 0xd8 && op <= 0xdf);
    }
}

bool two_byte_has_modrm(std::uint8_t op) {
    switch (op) {
    case 0x04: case 0x05: case 0x06: case 0x07: case 0x08: case 0x09: case 0x0a: case 0x0b:
    case 0x0c: case 0x0e: case 0x77: case 0xa0: case 0xa1: case 0xa2: case 0xa8: case 0xa9:
    case 0xaa:
        return false;
    default:
        return !(op >= 0x30 && op <= 0x3f) && !(op >= 0x80 && op <= 0x8f) && !(op >= 0xc8 && op <= 0xcf);
    }
}

// Immediate bytes after ModRM/displacement; needs the ModRM for the f6/f7 test forms.
unsigned immediate_size(Decoded const& d) {
    unsigned const z = d.op_size == 2 ? 2 : 4;   // Iz: 16 or 32 bits, never 64
    std::uint8_t const op = d.opcode;
    if (d.map == Map::m0f3a) return 1;
    if (d.map == Map::m0f38) return 0;
    if (d.map == Map::m0f) {
        switch (op) {
        case 0x0f: case 0x70: case 0x71: case 0x72: case 0x73: case 0xa4: case 0xac: case 0xba:
        case 0xc2: case 0xc4: case 0xc5: case 0xc6:
            return 1;
        default:
            // jcc rel32: 64-bit code always takes rel32 (Intel ignores 66 there).
            return op >= 0x80 && op <= 0x8f ? (d.long64 ? 4 : z) : 0;
        }
    }
    if (op < 0x40) return (op & 7) == 4 ? 1 : (op & 7) == 5 ? z : 0;
    if ((op >= 0x70 && op <= 0x7f) || (op >= 0xb0 && op <= 0xb7) || (op >= 0xe0 && op <= 0xe7)) return 1;
    if (op >= 0xb8 && op <= 0xbf) return d.op_size;                   // mov r, imm64 with REX.W
    if (op >= 0xa0 && op <= 0xa3) return 0;                            // moffs: a displacement
    switch (op) {
    case 0x6a: case 0x6b: case 0x80: case 0x82: case 0x83: case 0xa8: case 0xc0: case 0xc1:
    case 0xc6: case 0xcd: case 0xd4: case 0xd5: case 0xeb:
        return 1;
    case 0x68: case 0x69: case 0x81: case 0xa9: case 0xc7:
        return z;
    case 0xe8: case 0xe9:
        return d.long64 ? 4 : z;
    case 0xc2: case 0xca:
        return 2;
    case 0xc8:
        return 3;                                                      // enter imm16, imm8
    case 0x9a: case 0xea:
        return z + 2;                                                  // ptr16:16 / ptr16:32
    case 0xf6:
        return d.reg_field() < 2 ? 1 : 0;
    case 0xf7:
        return d.reg_field() < 2 ? z : 0;
    default:
        return 0;
    }
}

// VEX (c4/c5) or EVEX (62) after the legacy prefixes. Outside 64-bit mode these bytes are
// les/lds/bound unless the next byte has mod == 3, which those cannot encode.
bool is_vex_escape(Reader const& r, std::span<const std::uint8_t> bytes, bool long64) {
    std::uint8_t const b = r.peek();
    if (b != 0xc4 && b != 0xc5 && b != 0x62) return false;
    if (long64) return true;
    unsigned const next = r.pos() + 1;
    return next < bytes.size() && (bytes[next] & 0xc0) == 0xc0;
}

DecodeStatus take_vex(Reader& r, Decoded& d) {
    // 66/F2/F3/LOCK/REX in front of VEX or EVEX make the instruction #UD.
    d.vex_prefix_ud = d.rex || d.opsize_prefix || d.rep || d.repne || d.lock;
    std::uint8_t esc, p0, p1 = 0, p2 = 0;
    if (!r.take(esc) || !r.take(p0)) return DecodeStatus::truncated;
    unsigned mmmmm = 1, pp, vvvv;
    bool R, X = true, B = true, W = false;
    if (esc == 0xc5) {
        R = p0 & 0x80;
        vvvv = (~p0 >> 3) & 15;
        d.vex_l = p0 & 4;
        pp = p0 & 3;
    } else if (esc == 0xc4) {
        if (!r.take(p1)) return DecodeStatus::truncated;
        R = p0 & 0x80, X = p0 & 0x40, B = p0 & 0x20;
        mmmmm = p0 & 0x1f;
        W = p1 & 0x80;
        vvvv = (~p1 >> 3) & 15;
        d.vex_l = p1 & 4;
        pp = p1 & 3;
    } else {
        if (!r.take(p1) || !r.take(p2)) return DecodeStatus::truncated;
        R = p0 & 0x80, X = p0 & 0x40, B = p0 & 0x20;
        mmmmm = p0 & 7;
        W = p1 & 0x80;
        vvvv = (~p1 >> 3) & 15;
        d.vex_l = p2 & 0x60;
        pp = p1 & 3;
        d.evex = true;
    }
    d.vex = !d.evex;
    d.vex_w = W;
    d.vex_vvvv = static_cast<std::uint8_t>(d.long64 ? vvvv : vvvv & 7);
    // The inverted R/X/B bits act as REX.R/X/B (64-bit mode only); W as REX.W.
    if (d.long64) d.rex = static_cast<std::uint8_t>(0x40 | (W << 3) | (!R << 2) | (!X << 1) | !B);
    d.op_size = d.long64 && W ? 8 : 4;
    static constexpr std::uint8_t pp_prefix[4] = {0, 0x66, 0xf3, 0xf2};
    d.mandatory = pp_prefix[pp];
    d.map = mmmmm == 2 ? Map::m0f38 : mmmmm == 3 ? Map::m0f3a : Map::m0f;
    if (!r.take(d.opcode)) return DecodeStatus::truncated;
    // vzeroupper/vzeroall (VEX 0f 77) are the only VEX opcodes without ModRM.
    d.has_modrm = !(d.map == Map::m0f && d.opcode == 0x77);
    return DecodeStatus::ok;
}

DecodeStatus take_opcode(Reader& r, Decoded& d) {
    if (!r.take(d.opcode)) return DecodeStatus::truncated;
    if (d.opcode != 0x0f) {
        d.has_modrm = one_byte_has_modrm(d.opcode);
        return DecodeStatus::ok;
    }
    d.map = Map::m0f;
    if (!r.take(d.opcode)) return DecodeStatus::truncated;
    if (d.opcode == 0x38 || d.opcode == 0x3a) {
        d.map = d.opcode == 0x38 ? Map::m0f38 : Map::m0f3a;
        if (!r.take(d.opcode)) return DecodeStatus::truncated;
        d.has_modrm = true;
    } else {
        d.has_modrm = two_byte_has_modrm(d.opcode);
    }
    return DecodeStatus::ok;
}

DecodeStatus take_modrm(Reader& r, Decoded& d) {
    if (!r.take(d.modrm)) return DecodeStatus::truncated;
    unsigned const mod = d.mod(), rm = d.rm_field();
    if (mod == 3) return DecodeStatus::ok;
    if (d.addr_size == 2) {   // 16-bit forms: no SIB, disp16 instead of disp32
        d.disp_size = mod == 1 ? 1 : (mod == 2 || rm == 6) ? 2 : 0;
    } else {
        if (rm == 4) {
            d.has_sib = true;
            if (!r.take(d.sib)) return DecodeStatus::truncated;
        }
        bool const no_base = d.has_sib && (d.sib & 7) == 5;
        d.disp_size = mod == 1 ? 1 : (mod == 2 || (mod == 0 && (rm == 5 || no_base))) ? 4 : 0;
    }
    std::uint64_t raw = 0;
    if (d.disp_size && !r.take(d.disp_size, raw)) return DecodeStatus::truncated;
    d.disp = d.disp_size ? sign_extend(raw, d.disp_size) : 0;
    return DecodeStatus::ok;
}

} // namespace

DecodeStatus decode_into(std::span<const std::uint8_t> bytes, bool long64, bool default32, Decoded& d) {
    d = Decoded{};
    d.long64 = long64;
    Reader r{bytes.first(std::min<std::size_t>(bytes.size(), max_length))};
    bool const truncating = bytes.size() < max_length;
    auto stop = [&](DecodeStatus s) {   // running out at byte 15 means too long, not truncated
        return s == DecodeStatus::truncated && !truncating ? DecodeStatus::too_long : s;
    };

    for (std::uint8_t b; r.more(); ) {
        b = r.peek();
        int seg = -1;
        switch (b) {
        case 0xf0: d.lock = true; break;
        case 0xf2: d.repne = true; d.rep = false; d.mandatory = 0xf2; break;
        case 0xf3: d.rep = true; d.repne = false; d.mandatory = 0xf3; break;
        case 0x66: d.opsize_prefix = true; break;
        case 0x67: d.addrsize_prefix = true; break;
        case 0x26: seg = es; break;
        case 0x2e: seg = cs; break;
        case 0x36: seg = ss; break;
        case 0x3e: seg = ds; break;
        case 0x64: seg = fs; break;
        case 0x65: seg = gs; break;
        default:
            if (long64 && (b & 0xf0) == 0x40) {   // REX: counts only right before the opcode
                d.rex = b;
                r.take(b);
                continue;
            }
            goto prefixes_done;
        }
        if (seg >= 0) d.seg = seg;
        d.rex = 0;                                 // a legacy prefix after REX cancels it
        r.take(b);
    }
prefixes_done:
    if (d.mandatory == 0 && d.opsize_prefix) d.mandatory = 0x66;
    if (long64) {
        d.op_size = d.rex_w() ? 8 : d.opsize_prefix ? 2 : 4;
        d.addr_size = d.addrsize_prefix ? 4 : 8;
    } else {
        d.op_size = default32 != d.opsize_prefix ? 4 : 2;
        d.addr_size = default32 != d.addrsize_prefix ? 4 : 2;
    }
    if (!r.more()) return stop(DecodeStatus::truncated);

    DecodeStatus st = is_vex_escape(r, bytes, long64) ? take_vex(r, d) : take_opcode(r, d);
    if (st != DecodeStatus::ok) return stop(st);
    if (d.has_modrm && (st = take_modrm(r, d)) != DecodeStatus::ok) return stop(st);

    if (d.map == Map::one && d.opcode >= 0xa0 && d.opcode <= 0xa3) {   // mov al/ax, moffs
        d.disp_size = d.addr_size;
        std::uint64_t raw = 0;
        if (!r.take(d.disp_size, raw)) return stop(DecodeStatus::truncated);
        d.disp = static_cast<std::int64_t>(raw);
    }
    d.imm_size = static_cast<std::uint8_t>(immediate_size(d));
    if (d.imm_size) {
        // Far pointers' selector is not kept; enter's level goes to imm2.
        unsigned const first = d.imm_size == 3 ? 2 : d.imm_size == 6 ? 4 : d.imm_size;
        std::uint64_t rest = 0;
        if (!r.take(first, d.imm) || !r.take(d.imm_size - first, rest)) return stop(DecodeStatus::truncated);
        if (d.imm_size == 3) d.imm2 = static_cast<std::uint8_t>(rest);
    }
    d.length = static_cast<std::uint8_t>(r.pos());
    return DecodeStatus::ok;
}

std::optional<Decoded> decode(std::span<const std::uint8_t> bytes, bool long64, bool default32) {
    Decoded d;
    if (decode_into(bytes, long64, default32, d) != DecodeStatus::ok) return std::nullopt;
    return d;
}

} // namespace kxen::soft
