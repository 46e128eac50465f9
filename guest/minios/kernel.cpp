// The only C++ that runs in ring 0 during boot, between boot.S's switch to long
// mode and its iretq to ring 3. Kept to what must precede ring 3 running with
// interrupts enabled.
#include "bare.hpp"
#include "xen.hpp"

extern "C" void kernel_init() {
    using namespace minios;
    xen::detect_ring0();
    if (!xen::present()) bare::quiesce_ring0();
}
