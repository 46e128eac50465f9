// Exception and interrupt delivery through the guest IDT (SDM vol. 3 ch. 6), for the software
// vCPU's loop, and the pieces of exits the loop completes.
//
// Only protected mode and long mode are delivered to. Real-address and virtual-8086 mode are
// not supported at all (the guests are PVH kernels that never go back to them): raise() in
// either reports a triple fault, so the loop crashes the domain. A task gate in the IDT, or a
// fault that itself cannot be delivered, also ends in triple_fault.
#pragma once
#include "soft/emulate.hpp"

namespace kxen::soft {

enum class Delivered { ok, triple_fault };

// An exception raised by the instruction at s.rip (a fault: the pushed RIP is s.rip; #DB traps
// and software exceptions are handled by their instructions). Sets CR2 for #PF. A fault while
// delivering escalates per SDM vol. 3 table 6-5 (contributory then contributory, #PF then #PF
// or contributory: #DF(0); a fault while delivering #DF: triple fault); any other is delivered
// in its place. On ok, s is at the handler; on triple_fault, s is unchanged but for CR2.
Delivered raise(CpuState& s, Env& env, Fault const& f);

// An external interrupt at an instruction boundary (the caller checked IF and the shadow).
Delivered interrupt(CpuState& s, Env& env, std::uint8_t vector);

// Completes an `in` the owner answered: AL, AX or EAX (zero-extending into RAX) as the
// instruction would have. The loop then advances RIP by the instruction's length.
void complete_in(CpuState& s, unsigned size, std::uint64_t value);

} // namespace kxen::soft
