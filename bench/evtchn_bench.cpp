// kxen-bench-evtchn: event-channel round trip between a dom0 process and a minios guest
// (test=evtchn-echo), against the host's floor, two eventfds between two threads.
//
// One round trip: evtchn_notify over privcmd -> kxend raises the guest's port -> upcall ->
// minios's ring 3 sees the port, EVTCHNOP_send -> kxend signals our port's eventfd -> poll()
// returns and we read it. Half of it is reported as the send-to-upcall latency.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <algorithm>
#include <thread>
#include <xen/version.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include "common/guest.hpp"
#include "common/kxend_host.hpp"
#include "common/proc.hpp"
#include "common/stats.hpp"

using namespace kxen;
using namespace kxen::bench;

namespace {

struct Options {
    std::string kxend = KXEN_BIN_DIR "/kxend";
    int count = 10000;
    int warmup = 200;
    std::vector<int> spins{0, 1000};   // the guest's spin_us: block at once, or poll first
};

struct Row {
    std::string what;
    std::vector<double> rtt_us;
    std::string error;
};

double us_since(Clock::time_point t0) { return ms_since(t0) * 1000; }

bool wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
}

void drain(int fd) {
    std::uint64_t v;
    while (wait_readable(fd, 0) && ::read(fd, &v, sizeof v) == sizeof v) {}
}

// The floor: thread A writes eventfd 1 and waits on eventfd 2; thread B echoes 1 -> 2.
Row host_floor(Options const& o) {
    Row r{"host: eventfd ping-pong between two threads", {}, {}};
    int e1 = ::eventfd(0, EFD_CLOEXEC), e2 = ::eventfd(0, EFD_CLOEXEC);
    int const total = o.count + o.warmup;
    std::thread echo([&] {
        std::uint64_t v;
        for (int i = 0; i < total; ++i) {
            wait_readable(e1, -1);
            if (::read(e1, &v, sizeof v) != sizeof v) return;
            v = 1;
            if (::write(e2, &v, sizeof v) != sizeof v) return;
        }
    });
    for (int i = 0; i < total; ++i) {
        std::uint64_t v = 1;
        auto const t0 = Clock::now();
        if (::write(e1, &v, sizeof v) != sizeof v) break;
        wait_readable(e2, -1);
        if (::read(e2, &v, sizeof v) != sizeof v) break;
        if (i >= o.warmup) r.rtt_us.push_back(us_since(t0));
    }
    echo.join();
    ::close(e1);
    ::close(e2);
    return r;
}

// dom0 -> kxend and back with nothing to do: the privcmd request's own cost.
Row null_call(privcmd::Client& c, Options const& o) {
    Row r{"kxen: privcmd round trip (xen_version)", {}, {}};
    for (int i = 0; i < o.count + o.warmup; ++i) {
        auto const t0 = Clock::now();
        auto v = c.xen_version(XENVER_version);
        if (!v) {
            r.error = "xen_version: " + privcmd::xen_strerror(v.error());
            break;
        }
        if (i >= o.warmup) r.rtt_us.push_back(us_since(t0));
    }
    return r;
}

Row guest_echo(privcmd::Client& c, Options const& o, int spin_us) {
    Row r{spin_us ? fmt::format("kxen: dom0 <-> minios, guest polls {} us before blocking", spin_us)
                  : "kxen: dom0 <-> minios, guest blocks (SCHEDOP_block)",
          {}, {}};
    auto const name = fmt::format("evtchn-bench-{}-{}", ::getpid(), spin_us);
    auto domid = start_minios(c, name, fmt::format("test=evtchn-echo spin_us={}", spin_us));
    if (!domid) {
        r.error = "create: " + domid.error();
        return r;
    }
    std::string why;
    auto port_text = console_after(c, *domid, "evtchn-echo: port=", std::chrono::seconds(30), &why);
    if (!port_text) {
        r.error = "no port from the guest: " + why;
        (void)c.destroy_domain(*domid);
        return r;
    }
    auto bound = c.evtchn_bind_interdomain(*domid, static_cast<std::uint32_t>(std::stoul(*port_text)));
    if (!bound) {
        r.error = "evtchn_bind_interdomain: " + privcmd::xen_strerror(bound.error());
        (void)c.destroy_domain(*domid);
        return r;
    }
    // Binding raises our new port once (as Xen does): not an echo.
    wait_readable(bound->fd.raw(), 100);
    drain(bound->fd.raw());
    for (int i = 0; i < o.count + o.warmup; ++i) {
        auto const t0 = Clock::now();
        if (auto n = c.evtchn_notify(bound->port); !n) {
            r.error = fmt::format("evtchn_notify (round {}): {}", i, privcmd::xen_strerror(n.error()));
            break;
        }
        if (!wait_readable(bound->fd.raw(), 5000)) {
            r.error = fmt::format("no echo within 5 s (round {})", i);
            break;
        }
        double const us = us_since(t0);
        std::uint64_t v;
        if (::read(bound->fd.raw(), &v, sizeof v) != sizeof v) {
            r.error = "read eventfd";
            break;
        }
        if (i >= o.warmup) r.rtt_us.push_back(us);
    }
    (void)c.evtchn_unbind(bound->port);
    (void)c.destroy_domain(*domid);
    return r;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"event-channel round trip dom0 <-> minios, vs two eventfds between two threads"};
    app.add_option("--kxend", o.kxend, "kxend binary")->capture_default_str();
    app.add_option("--count", o.count, "timed round trips per case")->capture_default_str();
    app.add_option("--warmup", o.warmup, "untimed round trips first")->capture_default_str();
    app.add_option("--spin-us", o.spins, "guest spin_us values (0: block at once)")->delimiter(',');
    CLI11_PARSE(app, argc, argv);

    if (auto why = kvm_unavailable_reason(); !why.empty()) {
        fmt::print("SKIPPED: {}\n", why);
        return 0;
    }
    auto host = KxendHost::start(o.kxend);
    if (!host) {
        fmt::print(stderr, "kxen-bench-evtchn: {}\n", host.error());
        return 1;
    }
    auto c = privcmd::Client::connect((*host)->socket());
    if (!c) {
        fmt::print(stderr, "kxen-bench-evtchn: connect: {}\n", c.error().message());
        return 1;
    }
    fmt::print("host: {}\n", host_description());
    fmt::print("kxen-bench-evtchn: {} round trips per case (+{} warm-up)\n", o.count, o.warmup);

    std::vector<Row> rows;
    rows.push_back(host_floor(o));
    rows.push_back(null_call(*c, o));
    for (int s : o.spins) rows.push_back(guest_echo(*c, o, s));

    fmt::print("\nload average at the end: {}\n\n", first_line_of("cat /proc/loadavg"));
    double const floor = summarize(rows[0].rtt_us).median;
    fmt::print("{:<62} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}\n", "round trip, us", "median", "p10", "p99", "max",
               "half", "/floor");
    int failed = 0;
    for (auto const& r : rows) {
        if (!r.error.empty()) {
            fmt::print("{:<62} FAILED: {}\n", r.what, r.error);
            ++failed;
            continue;
        }
        auto s = summarize(r.rtt_us);
        auto sorted = r.rtt_us;
        std::sort(sorted.begin(), sorted.end());
        fmt::print("{:<62} {:>7.1f} {:>7.1f} {:>7.1f} {:>7.0f} {:>9.1f} {:>9.1f}\n", r.what, s.median, s.p10,
                   percentile(sorted, 99), s.max, s.median / 2, s.median / floor);
    }
    fmt::print("(half = median / 2: one direction, notify to the other side's wake-up; /floor = median / "
               "the eventfd median)\n");
    return failed ? 1 : 0;
}
