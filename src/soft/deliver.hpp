// Exception and interrupt delivery through the guest's IDT (SDM vol. 3, ch. 6).
#pragma once
#include "soft/emulate.hpp"

namespace kxen::soft {

enum class Delivered { ok, triple_fault };

// An exception raised by the instruction at s.rip (a fault: the pushed RIP is s.rip). Sets CR2
// for #PF; escalates to #DF per SDM vol. 3 table 6-5; a fault while delivering #DF is a triple
// fault.
Delivered raise(CpuState& s, Env& env, Fault const& f);
// An external interrupt at an instruction boundary (the caller checked IF and the shadow).
Delivered interrupt(CpuState& s, Env& env, std::uint8_t vector);

} // namespace kxen::soft
