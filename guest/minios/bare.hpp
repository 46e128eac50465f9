// minios::bare: the PC hardware minios uses when there is no Xen (QEMU's own PVH
// boot): COM1, isa-debug-exit at 0x501 and the keyboard-controller reset. All of
// it is port I/O, so it runs in ring 0 (the TSS grants ring 3 no ports).
#pragma once
#include <stddef.h>

namespace minios::bare {

// Ring 0, at boot: mask the legacy PIC. QEMU's firmware leaves IRQ0 (the PIT) on
// vector 8, which would arrive as a "double fault" once ring 3 runs with IF=1.
void quiesce_ring0();

void serial_write(const char* s, size_t n);
// isa-debug-exit: QEMU exits with status (code << 1) | 1. Halts if the device is absent.
[[noreturn]] void debug_exit(unsigned code);
[[noreturn]] void reset();
[[noreturn]] void halt();

}  // namespace minios::bare
