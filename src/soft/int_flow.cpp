// The stack and near control transfers: push/pop (50-5f, 68, 6a, ff /6, 8f /0), pushf/popf,
// pusha/popa, enter/leave, call/ret/jmp near, jcc, loop/loope/loopne/jcxz/jecxz/jrcxz.
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;

// push rsp pushes the value before the push.
Step push_reg(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    return push(c, c.get((c.d.opcode & 7) | ((c.d.rex & 1) << 3), size), size);
}

Step push_imm(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    return push(c, imm_sx(c.d, size), size);
}

Step push_rm(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    return push(c, *v, size);
}

// pop rsp: the popped value replaces the incremented rsp.
Step pop_reg(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    std::uint64_t const sp = c.s.gpr[rsp];
    auto v = peek(c, size, sp);
    if (!v) return std::unexpected(v.error());
    c.s.gpr[rsp] = sp_add(c, sp, size);
    c.set((c.d.opcode & 7) | ((c.d.rex & 1) << 3), size, *v);
    return {};
}

// pop r/m: an rsp-based address is computed with rsp already incremented.
Step pop_rm(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    std::uint64_t const sp = c.s.gpr[rsp], after = sp_add(c, sp, size);
    auto v = peek(c, size, sp);
    if (!v) return std::unexpected(v.error());
    if (!c.d.is_mem()) {
        c.s.gpr[rsp] = after;
        c.set(c.d.rm(), size, *v);
        return {};
    }
    c.s.gpr[rsp] = after;   // only for the address; restored if the store faults
    std::uint64_t const a = c.mem_addr();
    c.s.gpr[rsp] = sp;
    if (auto r = c.write(a, &*v, size); !r) return r;
    c.s.gpr[rsp] = after;
    return {};
}

Step pushf(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    return push(c, c.s.rflags & ~(rf | vm), size);   // the image has VM and RF clear
}

// popf (protected mode): VM, VIP, VIF keep their values and RF ends up clear; IOPL changes only
// at CPL 0 and IF only when CPL <= IOPL. A 16-bit popf changes only the low 16 bits.
Step popf(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    std::uint64_t const sp = c.s.gpr[rsp];
    auto v = peek(c, size, sp);
    if (!v) return std::unexpected(v.error());
    std::uint64_t writable = fl::arith | tf | df | nt | fl::ac | id;
    unsigned const cur_iopl = (c.s.rflags >> 12) & 3;
    if (c.s.cpl == 0) writable |= iopl;
    if (c.s.cpl <= cur_iopl) writable |= if_;
    if (size == 2) writable &= 0xffff;
    c.s.gpr[rsp] = sp_add(c, sp, size);
    c.s.rflags = ((c.s.rflags & ~writable) | (*v & writable) | 2) & ~rf;
    return {};
}

// pusha/popa (16/32-bit code only); they run on a copy, having several stores or loads.
Step pusha(Ctx& c) {
    unsigned const size = c.d.op_size;
    std::uint64_t const sp0 = c.get(rsp, size);
    for (unsigned r = 0; r < 8; ++r)
        if (auto st = push(c, r == rsp ? sp0 : c.get(r, size), size); !st) return st;
    return {};
}

Step popa(Ctx& c) {
    unsigned const size = c.d.op_size;
    std::uint64_t sp = c.s.gpr[rsp];
    std::uint64_t v[8];
    for (int r = 7; r >= 0; --r) {
        auto x = peek(c, size, sp);
        if (!x) return std::unexpected(x.error());
        v[r] = *x;
        sp = sp_add(c, sp, size);
    }
    for (unsigned r = 0; r < 8; ++r)
        if (r != rsp) c.set(r, size, v[r]);
    c.s.gpr[rsp] = sp;
    return {};
}

// enter imm16, imm8 (runs on a copy: it may push many times).
Step enter(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    unsigned const level = c.d.imm2 & 31;
    unsigned const asz = stack_addr_size(c);
    if (auto r = push(c, c.get(rbp, size), size); !r) return r;
    std::uint64_t const frame = c.s.gpr[rsp];
    if (level > 0) {
        std::uint64_t bp = c.s.gpr[rbp];
        for (unsigned i = 1; i < level; ++i) {
            bp = (bp & ~size_mask(asz)) | ((bp - size) & size_mask(asz));
            auto v = peek(c, size, bp);
            if (!v) return std::unexpected(v.error());
            if (auto r = push(c, *v, size); !r) return r;
        }
        if (auto r = push(c, frame & size_mask(asz), size); !r) return r;
    }
    c.set(rbp, size, frame);
    c.s.gpr[rsp] = sp_add(c, c.s.gpr[rsp], -static_cast<std::int64_t>(c.d.imm & 0xffff));
    return {};
}

// leave: rsp from rbp (stack-address-sized), then pop rbp.
Step leave(Ctx& c) {
    unsigned const size = stack_op_size(c.d);
    std::uint64_t const m = size_mask(stack_addr_size(c));
    std::uint64_t const sp = (c.s.gpr[rsp] & ~m) | (c.s.gpr[rbp] & m);
    auto v = peek(c, size, sp);
    if (!v) return std::unexpected(v.error());
    c.s.gpr[rsp] = sp_add(c, sp, size);
    c.set(rbp, size, *v);
    return {};
}

// Near branches: 64-bit operand size in 64-bit code (66 is ignored, as Intel does).
unsigned branch_size(Decoded const& d) { return d.long64 ? 8 : d.op_size; }

std::uint64_t rel_target(Ctx const& c) {
    return next_rip(c) + sign_extend(c.d.imm, c.d.imm_size);
}

Step jmp_rel(Ctx& c) { return jump_to(c, rel_target(c), branch_size(c.d)); }

Step jmp_rm(Ctx& c) {
    unsigned const size = branch_size(c.d);
    auto t = c.rm_get(size);
    if (!t) return std::unexpected(t.error());
    return jump_to(c, *t, size);
}

Step jcc(Ctx& c) {
    if (!cond(c.s.rflags, c.d.opcode & 15)) return {};
    return jump_to(c, rel_target(c), branch_size(c.d));
}

// The target is checked before the return address is pushed, so a bad target changes nothing.
Step call_to(Ctx& c, std::uint64_t target) {
    unsigned const size = branch_size(c.d);
    if (c.d.long64 && !canonical(c.s, target)) return fault(vec::gp, 0, "#GP: non-canonical branch target");
    if (auto r = push(c, next_rip(c) & size_mask(size), size); !r) return r;
    c.jump(target & size_mask(size));
    return {};
}

Step call_rel(Ctx& c) { return call_to(c, rel_target(c)); }

Step call_rm(Ctx& c) {
    auto t = c.rm_get(branch_size(c.d));
    if (!t) return std::unexpected(t.error());
    return call_to(c, *t);
}

template <bool Imm> Step ret(Ctx& c) {
    unsigned const size = branch_size(c.d);
    std::uint64_t const sp = c.s.gpr[rsp];
    auto t = peek(c, size, sp);
    if (!t) return std::unexpected(t.error());
    if (c.d.long64 && !canonical(c.s, *t)) return fault(vec::gp, 0, "#GP: non-canonical return address");
    c.s.gpr[rsp] = sp_add(c, sp, size + (Imm ? static_cast<std::int64_t>(c.d.imm & 0xffff) : 0));
    c.jump(*t & size_mask(size));
    return {};
}

// e0-e3: the counter is rcx, ecx or cx by address size.
Step loop(Ctx& c) {
    unsigned const asz = c.d.addr_size;
    std::uint64_t const target = rel_target(c);
    unsigned const size = branch_size(c.d);
    if (c.d.opcode == 0xe3) {   // jcxz/jecxz/jrcxz
        if (c.get(rcx, asz) != 0) return {};
        return jump_to(c, target, size);
    }
    std::uint64_t const count = (c.get(rcx, asz) - 1) & size_mask(asz);
    bool take = count != 0;
    if (c.d.opcode == 0xe0) take = take && !(c.s.rflags & fl::zf);   // loopne
    if (c.d.opcode == 0xe1) take = take && (c.s.rflags & fl::zf);    // loope
    if (take && c.d.long64 && !canonical(c.s, target)) return fault(vec::gp, 0, "#GP: non-canonical branch target");
    c.set(rcx, asz == 2 ? 2 : 8, asz == 4 ? count & 0xffffffff : count);
    if (take) c.jump(c.d.long64 ? target : target & size_mask(size));
    return {};
}

constexpr Row rows[] = {
    {.name = "push", .map = Map::one, .opcode = 0x50, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = push_reg},
    {.name = "pop", .map = Map::one, .opcode = 0x58, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = pop_reg},
    {.name = "push", .ops = "I", .map = Map::one, .opcode = 0x68, .pfx = Pfx::any, .in_place = true, .fn = push_imm},
    {.name = "push", .ops = "I", .map = Map::one, .opcode = 0x6a, .pfx = Pfx::any, .in_place = true, .fn = push_imm},
    {.name = "push", .ops = "E", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .reg = 6, .in_place = true, .fn = push_rm},
    {.name = "pop", .ops = "E", .map = Map::one, .opcode = 0x8f, .pfx = Pfx::any, .reg = 0, .in_place = true, .fn = pop_rm},
    {.name = "pushf", .map = Map::one, .opcode = 0x9c, .pfx = Pfx::any, .in_place = true, .fn = pushf},
    {.name = "popf", .map = Map::one, .opcode = 0x9d, .pfx = Pfx::any, .in_place = true, .fn = popf},
    {.name = "pusha", .map = Map::one, .opcode = 0x60, .pfx = Pfx::any, .mode = Mode::not64, .fn = pusha},
    {.name = "popa", .map = Map::one, .opcode = 0x61, .pfx = Pfx::any, .mode = Mode::not64, .fn = popa},
    {.name = "enter", .map = Map::one, .opcode = 0xc8, .pfx = Pfx::any, .fn = enter},
    {.name = "leave", .map = Map::one, .opcode = 0xc9, .pfx = Pfx::any, .in_place = true, .fn = leave},
    {.name = "jmp", .ops = "I", .map = Map::one, .opcode = 0xe9, .pfx = Pfx::any, .in_place = true, .fn = jmp_rel},
    {.name = "jmp", .ops = "I", .map = Map::one, .opcode = 0xeb, .pfx = Pfx::any, .in_place = true, .fn = jmp_rel},
    {.name = "jmp", .ops = "E", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .reg = 4, .in_place = true, .fn = jmp_rm},
    {.name = "call", .ops = "I", .map = Map::one, .opcode = 0xe8, .pfx = Pfx::any, .in_place = true, .fn = call_rel},
    {.name = "call", .ops = "E", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .reg = 2, .in_place = true, .fn = call_rm},
    {.name = "ret", .map = Map::one, .opcode = 0xc3, .pfx = Pfx::any, .in_place = true, .fn = ret<false>},
    {.name = "ret", .ops = "I", .map = Map::one, .opcode = 0xc2, .pfx = Pfx::any, .in_place = true, .fn = ret<true>},
    {.name = "jcc", .ops = "I", .map = Map::one, .opcode = 0x70, .count = 16, .pfx = Pfx::any, .in_place = true, .fn = jcc},
    {.name = "jcc", .ops = "I", .opcode = 0x80, .count = 16, .pfx = Pfx::any, .in_place = true, .fn = jcc},
    {.name = "loop", .ops = "I", .map = Map::one, .opcode = 0xe0, .count = 4, .pfx = Pfx::any, .in_place = true, .fn = loop},
};

} // namespace

std::span<Row const> int_flow_rows() { return rows; }

} // namespace kxen::soft
