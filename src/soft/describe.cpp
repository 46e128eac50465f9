// describe(): the bytes of one instruction and, when a row knows it, its Intel-syntax text. It is
// what the log says when a guest is crashed, so it never fails: undecodable bytes print as such.
#include <cstdio>
#include "soft/decode.hpp"
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

char const* const gpr64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                               "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
char const* const gpr32[16] = {"eax", "ecx", "edx",  "ebx",  "esp",  "ebp",  "esi",  "edi",
                               "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
char const* const gpr16[16] = {"ax",  "cx",  "dx",   "bx",   "sp",   "bp",   "si",   "di",
                               "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"};
char const* const gpr8[16] = {"al",  "cl",  "dl",   "bl",   "spl",  "bpl",  "sil",  "dil",
                              "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"};
char const* const gpr8_legacy[8] = {"al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"};
char const* const seg_names[6] = {"es", "cs", "ss", "ds", "fs", "gs"};

std::string hex(std::int64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%s%#llx", v < 0 ? "-" : "",
                  static_cast<unsigned long long>(v < 0 ? -static_cast<std::uint64_t>(v) : v));
    return buf;
}

std::string gpr(Decoded const& d, unsigned reg, unsigned size) {
    switch (size) {
    case 1: return !d.rex && reg < 8 ? gpr8_legacy[reg] : gpr8[reg];
    case 2: return gpr16[reg];
    case 4: return gpr32[reg];
    default: return gpr64[reg];
    }
}

std::string memory(Decoded const& d) {
    std::string s = d.seg >= 0 ? std::string(seg_names[d.seg]) + ":[" : "[";
    std::string terms;
    auto add = [&](std::string const& t) {
        if (!terms.empty()) terms += '+';
        terms += t;
    };
    unsigned const asz = d.addr_size;
    if (asz == 2) {
        static char const* const forms[8] = {"bx+si", "bx+di", "bp+si", "bp+di", "si", "di", "bp", "bx"};
        if (!(d.mod() == 0 && d.rm_field() == 6)) add(forms[d.rm_field()]);
    } else if (d.rip_relative()) {
        add(asz == 8 ? "rip" : "eip");
    } else if (d.has_sib) {
        unsigned const base = (d.sib & 7) | ((d.rex & 1) << 3);
        unsigned const index = ((d.sib >> 3) & 7) | ((d.rex & 2) << 2);
        if (!(d.mod() == 0 && (d.sib & 7) == 5)) add(gpr(d, base, asz));
        if (index != 4) add(gpr(d, index, asz) + "*" + std::to_string(1u << (d.sib >> 6)));
    } else if (!(d.mod() == 0 && d.rm_field() == 5)) {
        add(gpr(d, d.rm(), asz));
    }
    if (d.disp != 0 || terms.empty()) {
        std::string const h = hex(d.disp);
        if (!terms.empty() && h[0] != '-') terms += '+';
        terms += h;
    }
    s += terms;
    s += ']';
    return s;
}

std::string operand(Decoded const& d, char c) {
    unsigned const wsize = (d.vex ? d.vex_w : d.rex_w()) && d.long64 ? 8 : 4;
    bool const mem = d.is_mem();
    switch (c) {
    case 'V': return "xmm" + std::to_string(d.reg());
    case 'W': return mem ? memory(d) : "xmm" + std::to_string(d.rm());
    case 'G': return gpr(d, d.reg(), d.op_size);
    case 'E': return mem ? memory(d) : gpr(d, d.rm(), d.op_size);
    case 'B': return mem ? memory(d) : gpr(d, d.rm(), 1);
    case 'R': return gpr(d, d.reg(), 1);
    case 'Y': return gpr(d, d.reg(), wsize);
    case 'Z': return mem ? memory(d) : gpr(d, d.rm(), wsize);
    case 'H': return gpr(d, d.vex_vvvv, wsize);
    case 'M': return memory(d);
    case 'S': return "st(" + std::to_string(d.rm_field()) + ")";
    case '0': return "st";
    case 'A': return "ax";
    case 'I': return hex(static_cast<std::int64_t>(d.imm));
    default: return "?";
    }
}

// A few instructions guests are known to run that are deliberately not emulated, so the log
// names them (DESIGN.md sec. 7 lists what KVM's emulator fails on).
char const* known_unsupported(Decoded const& d) {
    if (d.evex) return "evex";
    if (d.vex) return "vex";
    if (d.map == Map::m0f && d.mandatory == 0 &&
        ((d.opcode >= 0x60 && d.opcode <= 0x7f) || (d.opcode >= 0xd1 && d.opcode <= 0xfe)))
        return "mmx";   // the MMX forms of the SSE2 integer opcodes
    if (d.map == Map::m0f) {
        switch (d.opcode) {
        case 0x34: return "sysenter";
        case 0x35: return "sysexit";
        case 0x05: return "syscall";
        case 0x07: return "sysret";
        case 0x0b: return "ud2";
        case 0x01:
            if (d.modrm == 0xc1) return "vmcall";
            if (d.modrm == 0xd9) return "vmmcall";
            if (d.modrm == 0xd1) return "xsetbv";
            break;
        case 0xc7:
            if (d.is_mem() && d.reg_field() == 3) return "xrstors";
            if (d.is_mem() && d.reg_field() == 4) return "xsavec";
            if (d.is_mem() && d.reg_field() == 5) return "xsaves";
            break;
        }
    }
    if (d.map == Map::one && d.opcode >= 0xd8 && d.opcode <= 0xdf) return "x87";
    return nullptr;
}

} // namespace

std::string describe(std::span<const std::uint8_t> bytes, bool long64, bool default32) {
    Decoded d;
    DecodeStatus const st = decode_into(bytes, long64, default32, d);
    std::size_t const n = st == DecodeStatus::ok ? d.length : std::min<std::size_t>(bytes.size(), 15);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        char b[4];
        std::snprintf(b, sizeof b, i ? " %02x" : "%02x", bytes[i]);
        out += b;
    }
    if (st == DecodeStatus::truncated) return out + " (truncated)";
    if (st == DecodeStatus::too_long) return out + " (longer than 15 bytes)";

    Row const* row = find_row(d);
    if (!row) {
        char const* name = known_unsupported(d);
        out += " (";
        out += name ? name : "unknown";
        out += ')';
        return out;
    }
    out += " (";
    out += row->name;
    for (char const* p = row->ops; *p; ++p) {
        out += p == row->ops ? ' ' : ',';
        out += operand(d, *p);
    }
    out += ')';
    return out;
}

std::string describe(std::span<const std::uint8_t> bytes) { return describe(bytes, true, true); }

} // namespace kxen::soft
