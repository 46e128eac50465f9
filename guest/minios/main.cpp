// Ring 3 from the first instruction after boot.S's iretq: everything that needs
// no privilege runs here natively, and the rest traps in (sys.hpp).
#include "abi.h"
#include "boot_info.hpp"
#include "cmdline.hpp"
#include "console.hpp"
#include "evtchn.hpp"
#include "lib.hpp"
#include "paging.hpp"
#include "shared_info.hpp"
#include "tests/test.hpp"
#include "time.hpp"
#include "xen.hpp"

namespace minios {
namespace {

constexpr tests::Test kTests[] = {
    {"hello", tests::hello},   {"reboot", tests::reboot},       {"crash", tests::crash},
    {"fault", tests::fault},   {"spin", tests::spin},           {"idle", tests::idle},
    {"hcall-fuzz", tests::hcall_fuzz}, {"insn", tests::insn},   {"vmcall", tests::vmcall},
    {"evtchn-loop", tests::evtchn_loop}, {"evtchn-hostile", tests::evtchn_hostile},
    {"gnttab-hostile", tests::gnttab_hostile}, {"pingpong", tests::pingpong},
    {"xenbus", tests::xenbus}, {"console-echo", tests::console_echo}, {"xs-hostile", tests::xs_hostile},
    {"evtchn-echo", tests::evtchn_echo}, {"grant-pages", tests::grant_pages},
    {"dirty", tests::dirty},   {"cpu-loop", tests::cpu_loop},
    {"xs-loop", tests::xs_loop}, {"console-lines", tests::console_lines},
    {"blk", tests::blk},       {"blk-hostile", tests::blk_hostile}, {"blk-loop", tests::blk_loop},
    {"blk-bench", tests::blk_bench}, {"blk-reattach", tests::blk_reattach},
};

constinit const char* test_name = "?";
constinit sched::Done done = sched::Done::poweroff;

bool parse_done(const char* v, sched::Done* out) {
    if (!v || lib::str_eq(v, "poweroff")) *out = sched::Done::poweroff;
    else if (lib::str_eq(v, "reboot")) *out = sched::Done::reboot;
    else if (lib::str_eq(v, "crash")) *out = sched::Done::crash;
    else if (lib::str_eq(v, "stay")) *out = sched::Done::stay;
    else return false;
    return true;
}

// Shared info, the upcall vector, the event-channel ABI (evtchn=2l|fifo) and the timer
// VIRQ: what every Xen test needs.
void xen_setup() {
    long rc = shared_info::map();
    if (rc < 0) {
        console::println("minios: XENMEM_add_to_physmap(shared_info) failed: %ld", rc);
        sched::finish(sched::Done::crash);
    }
    time::init();
    if ((rc = evtchn::init()) < 0) console::println("minios: HVM_PARAM_CALLBACK_IRQ failed: %ld", rc);
    const char* abi = cmdline::get("evtchn");
    if (abi && lib::str_eq(abi, "fifo")) {
        // Before any port is bound, as Linux does.
        if ((rc = evtchn::use_fifo()) < 0) {
            console::println("minios: FIFO event channels: %ld", rc);
            sched::finish(sched::Done::crash);
        }
    } else if (abi && !lib::str_eq(abi, "2l")) {
        console::println("minios: bad evtchn=%s (2l|fifo)", abi);
    }
    if (long port = sched::bind_timer(); port < 0) console::println("minios: bind_virq(VIRQ_TIMER) failed: %ld", port);
    console::init_ring();
}

}  // namespace

namespace tests {
const char* current() { return test_name; }
sched::Done on_done() { return done; }
long timer_port() { return sched::timer_port(); }
}  // namespace tests

}  // namespace minios

extern "C" [[noreturn]] void minios_main() {
    using namespace minios;
    paging::init();
    boot_info::init();
    paging::guard_null_page();

    auto const& bi = boot_info::info;
    char version[48];
    if (xen::present()) xen::version_string(version, sizeof(version));
    console::println("minios: booting (%s%s, cmdline \"%s\")", xen::present() ? "xen " : "no xen",
                     xen::present() ? version : "", bi.cmdline);

    cmdline::parse(bi.cmdline);
    if (xen::present()) xen_setup();
    else time::init();
    console::println("minios: ram %lu KiB (top 0x%lx), clock %s, start_info 0x%lx v%u%s", bi.ram_bytes >> 10,
                     bi.ram_top, time::source(), bi.start_info_paddr, bi.version,
                     bi.version ? "" : " (bad magic)");
    if (xen::present())
        console::println("minios: xen cpuid base 0x%x, hypercall msr 0x%x, shared_info gfn 0x%lx, upcall vector 0x%x, "
                         "%s event channels, timer port %ld, console %s (port %ld)",
                         xen::info.cpuid_base, xen::info.msr, shared_info::gfn(), VEC_UPCALL, evtchn::abi_name(),
                         tests::timer_port(), console::sink(), console::ring_port());

    const char* name = cmdline::get("test");
    test_name = name && *name ? name : "none";
    if (!parse_done(cmdline::get("on_done"), &done)) {
        console::println("minios: bad on_done=%s (poweroff|reboot|crash|stay)", cmdline::get("on_done"));
        done = sched::Done::poweroff;
    }
    for (auto const& t : kTests) {
        if (lib::str_eq(t.name, test_name)) {
            t.run();
            tests::pass();  // a test that returns has passed
        }
    }
    tests::fail("unknown test (try test=hello|spin|idle|hcall-fuzz|insn|vmcall|crash|reboot|fault|evtchn-loop|"
                "evtchn-hostile|gnttab-hostile|pingpong|xenbus|console-echo|xs-hostile|dirty|cpu-loop|xs-loop|"
                "console-lines|blk|blk-hostile|blk-loop|blk-bench|blk-reattach)");
}
