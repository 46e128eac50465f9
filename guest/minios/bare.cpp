#include "bare.hpp"

#include "sys.hpp"

namespace minios::bare {
namespace {

constexpr uint16_t kCom1 = 0x3f8;
constexpr uint16_t kDebugExit = 0x501;

uint64_t serial_ring0(uint64_t s, uint64_t n, uint64_t, uint64_t) {
    auto* p = reinterpret_cast<const char*>(s);  // identity-mapped caller buffer
    for (uint64_t i = 0; i < n; ++i) {
        // Wait for the transmit holding register (LSR bit 5), bounded so a
        // missing UART cannot hang us.
        for (unsigned spin = 0; spin < 1000 && !(x86::inb(kCom1 + 5) & 0x20); ++spin) {}
        if (p[i] == '\n') x86::outb(kCom1, '\r');
        x86::outb(kCom1, uint8_t(p[i]));
    }
    return n;
}

[[noreturn]] void halt_here() {
    for (;;) asm volatile("cli; hlt");
}

uint64_t debug_exit_ring0(uint64_t code, uint64_t, uint64_t, uint64_t) {
    x86::outb(kDebugExit, uint8_t(code));
    halt_here();
}

uint64_t reset_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    x86::outb(0x64, 0xfe);  // pulse the CPU reset line; QEMU -no-reboot then exits
    halt_here();
}

uint64_t halt_ring0(uint64_t, uint64_t, uint64_t, uint64_t) { halt_here(); }

}  // namespace

void quiesce_ring0() {
    x86::outb(0x21, 0xff);
    x86::outb(0xa1, 0xff);
}

void serial_write(const char* s, size_t n) { sys::ring0(serial_ring0, uint64_t(s), n); }

void debug_exit(unsigned code) {
    sys::ring0(debug_exit_ring0, code);
    __builtin_unreachable();
}

void reset() {
    sys::ring0(reset_ring0);
    __builtin_unreachable();
}

void halt() {
    sys::ring0(halt_ring0);
    __builtin_unreachable();
}

}  // namespace minios::bare
