// Running one decoded instruction: the piece the single-step emulate() and the software vCPU's
// loop share, so that every instruction has one set of semantics.
#pragma once
#include "soft/emulate.hpp"
#include "soft/ctx.hpp"
#include "soft/table.hpp"

namespace kxen::soft {

// Applies the row's class checks (#UD/#NM), runs its handler (in place, or on a copy that is
// committed only on done) and advances RIP. On an error (fault, exit, unsupported, crash),
// state is as it was, except what a rep string instruction's completed iterations changed
// (architecturally visible). Success costs no Result: this is the software vCPU's hot path.
Step execute(Decoded const& d, Row const& row, CpuState& state, Env& env);

} // namespace kxen::soft
