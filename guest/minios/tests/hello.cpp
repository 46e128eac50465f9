// hello: the banner was the work; pass and do what on_done says.
// reboot: the same, but always SHUTDOWN_reboot.
#include "../console.hpp"
#include "test.hpp"

namespace minios::tests {

void hello() {}

void reboot() {
    console::println("KXEN-TEST %s PASS", current());
    sched::finish(sched::Done::reboot);
}

}  // namespace minios::tests
