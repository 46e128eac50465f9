#include "test.hpp"

#include <stdarg.h>

#include "console.hpp"
#include "fmt.hpp"

namespace minios::tests {

void pass() {
    console::println("KXEN-TEST %s PASS", current());
    sched::finish(on_done());
}

void fail(const char* why, ...) {
    char buf[200];
    va_list ap;
    va_start(ap, why);
    fmt::vformat(buf, sizeof(buf), why, ap);
    va_end(ap);
    console::println("KXEN-TEST %s FAIL %s", current(), buf);
    sched::finish(sched::Done::crash);
}

void running() { console::println("KXEN-TEST %s RUNNING", current()); }

void skip(const char* why) {
    console::println("KXEN-TEST %s SKIP %s", current(), why);
    sched::finish(on_done());
}

}  // namespace minios::tests
