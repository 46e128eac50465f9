// minios::tests: the workloads chosen by test=<name>. Each reports exactly one
// "KXEN-TEST <name> PASS" or "KXEN-TEST <name> FAIL <why>" line (long-running ones
// print RUNNING first), then the on_done action; a FAIL always ends in a crash.
#pragma once
#include <stdint.h>

#include "sched.hpp"

namespace minios::tests {

using Fn = void (*)();
struct Test {
    const char* name;
    Fn run;
};

// The test being run, for the helpers below.
const char* current();
sched::Done on_done();
// The event channel bound to VIRQ_TIMER on vCPU 0 (< 0 without Xen).
long timer_port();

[[noreturn]] void pass();
[[noreturn]] void fail(const char* why, ...) __attribute__((format(printf, 1, 2)));
void running();
// "needs Xen" tests print SKIP under bare QEMU and end as on_done says.
[[noreturn]] void skip(const char* why);

void hello();
void reboot();
void crash();
void fault();
void spin();
void idle();
void hcall_fuzz();
void insn();
void vmcall();
void evtchn_loop();
void evtchn_hostile();
void gnttab_hostile();
void pingpong();
void xenbus();
void console_echo();
void xs_hostile();
void evtchn_echo();
void grant_pages();
void dirty();
void cpu_loop();
void xs_loop();
void console_lines();
void blk();
void blk_hostile();
void blk_loop();
void blk_bench();
void blk_reattach();

}  // namespace minios::tests
