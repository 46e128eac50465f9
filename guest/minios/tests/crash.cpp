// crash: SHUTDOWN_crash on purpose. fault: a ring-3 page fault on the (unmapped)
// null page, to check that a bad test is reported and ends in a crash.
#include "../console.hpp"
#include "test.hpp"

namespace minios::tests {

void crash() {
    running();
    console::println("minios: crashing on request");
    sched::finish(sched::Done::crash);
}

void fault() {
    running();
    volatile uintptr_t null_plus_8 = 8;  // hidden from the optimizer, which knows 8 is no object
    *reinterpret_cast<volatile uint64_t*>(uintptr_t{null_plus_8}) = 1;  // #PF, cr2 = 8: trap.cpp reports, crashes
    fail("write to the null page did not fault");
}

}  // namespace minios::tests
