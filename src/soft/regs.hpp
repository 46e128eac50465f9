// Register and segment numbers as the x86 encoding (and CpuState's arrays) order them.
#pragma once

namespace kxen::soft {

enum Gpr : unsigned { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi };
enum Seg : int { es, cs, ss, ds, fs, gs };

} // namespace kxen::soft
