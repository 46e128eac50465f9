// console-echo: console input through the PV console ring. Prints "console-echo: ready",
// then reads input line by line (a line ends at \r or \n; empty lines are skipped) and
// prints "echo: <line>" for each; the line "quit" passes. Waiting serves control/shutdown.
// timeout_ms= (120000): the longest wait for the next byte of input before FAIL.
#include "../console.hpp"
#include "../control.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {

void console_echo() {
    need_xen();
    uint64_t const timeout = timeout_ns(120'000);
    if (!console::ring_active()) skip("no console ring");
    control::start();
    console::println("console-echo: ready");
    char line[160];
    size_t len = 0;
    unsigned lines = 0;
    for (;;) {
        char in[64];
        size_t n = console::read(in, sizeof(in));
        if (!n) {
            if (!console::wait_input(time::now_ns() + timeout, control::poll))
                fail("no console input for %lu ms (%u lines echoed)", timeout / 1'000'000, lines);
            continue;
        }
        for (size_t i = 0; i < n; ++i) {
            char c = in[i];
            if (c != '\r' && c != '\n') {
                if (len < sizeof(line) - 1) line[len++] = c;
                continue;
            }
            if (!len) continue;
            line[len] = '\0';
            len = 0;
            if (lib::str_eq(line, "quit")) {
                console::println("console-echo: quit after %u lines", lines);
                return;
            }
            console::println("echo: %s", line);
            ++lines;
        }
    }
}

}  // namespace minios::tests
