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
inline Step execute(Decoded const& d, Row const& row, CpuState& state, Env& env);

// The pieces of execute(): the SDM's #UD/#NM conditions a row's class shares, and the run on
// a copy for rows that may not run in place (out of line: the copy is a frame of several KiB).
Step class_checks(Row const& row, Decoded const& d, CpuState const& s);
[[gnu::noinline]] Step execute_on_copy(Decoded const& d, Row const& row, CpuState& state, Env& env);

// After a handler completed: RIP to the next instruction unless the handler transferred
// control, and RF cleared, as once an instruction completes.
inline void finish(Decoded const& d, bool jumped, CpuState& s) {
    if (!jumped) {
        s.rip += d.length;
        if (!d.long64) s.rip &= s.cs_db ? 0xffffffff : 0xffff;
    }
    s.rflags &= ~(std::uint64_t{1} << 16);
}

inline Step execute(Decoded const& d, Row const& row, CpuState& state, Env& env) {
    if (row.cls != Class::none || d.lock || row.mode == Mode::not64)
        if (Step step = class_checks(row, d, state); !step) return step;
    if (!row.in_place) return execute_on_copy(d, row, state, env);
    Ctx ctx{d, state, env};
    if (Step step = row.fn(ctx); !step) return step;
    finish(d, ctx.jumped, state);
    return {};
}

} // namespace kxen::soft
