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
#include <functional>
#include <memory>
#include <cstdio>
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
    int chunk = 500;
    std::vector<int> spins{0, 1000};   // the guest's spin_us: block at once, or poll first
};

// One way of making a round trip; cases take turns in chunks (see main).
struct Case {
    explicit Case(std::string w, std::function<std::expected<double, std::string>()> f = {})
        : what{std::move(w)}, round_trip{std::move(f)} {}
    std::string what;
    std::function<std::expected<double, std::string>()> round_trip;   // microseconds
    std::function<void()> teardown = [] {};
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

// The floor: we write eventfd 1 and wait on eventfd 2; a thread echoes 1 -> 2.
struct EventfdPair {
    int e1 = ::eventfd(0, EFD_CLOEXEC), e2 = ::eventfd(0, EFD_CLOEXEC);
    std::thread echo{[this] {
        std::uint64_t v = 0;
        // A value above 1 is the signal to stop (eventfd adds writes up; we read each one).
        while (v < 2) {
            wait_readable(e1, -1);
            if (::read(e1, &v, sizeof v) != sizeof v) return;
            std::uint64_t one = 1;
            if (::write(e2, &one, sizeof one) != sizeof one) return;
        }
    }};
    std::expected<double, std::string> round_trip() {
        std::uint64_t v = 1;
        auto const t0 = Clock::now();
        if (::write(e1, &v, sizeof v) != sizeof v) return std::unexpected("write eventfd");
        wait_readable(e2, -1);
        if (::read(e2, &v, sizeof v) != sizeof v) return std::unexpected("read eventfd");
        return us_since(t0);
    }
    ~EventfdPair() {
        std::uint64_t stop = 2;
        (void)!::write(e1, &stop, sizeof stop);
        echo.join();
        ::close(e1);
        ::close(e2);
    }
};

// dom0 -> kxend and back with nothing to do: the privcmd request's own cost.
std::expected<double, std::string> null_call(privcmd::Client& c) {
    auto const t0 = Clock::now();
    auto v = c.xen_version(XENVER_version);
    if (!v) return std::unexpected("xen_version: " + privcmd::xen_strerror(v.error()));
    return us_since(t0);
}

// A minios echoing on a port we bound; the case's round trip and teardown.
std::expected<Case, std::string> guest_echo(privcmd::Client& c, int spin_us) {
    Case k{spin_us ? fmt::format("kxen: dom0 <-> minios, guest polls {} us before blocking", spin_us)
                   : "kxen: dom0 <-> minios, guest blocks (SCHEDOP_block)"};
    auto const name = fmt::format("evtchn-bench-{}-{}", ::getpid(), spin_us);
    auto domid = start_minios(c, name, fmt::format("test=evtchn-echo spin_us={}", spin_us));
    if (!domid) return std::unexpected("create: " + domid.error());
    std::string why;
    auto port_text = console_after(c, *domid, "evtchn-echo: port=", std::chrono::seconds(30), &why);
    if (!port_text) {
        (void)c.destroy_domain(*domid);
        return std::unexpected("no port from the guest: " + why);
    }
    auto bound = c.evtchn_bind_interdomain(*domid, static_cast<std::uint32_t>(std::stoul(*port_text)));
    if (!bound) {
        (void)c.destroy_domain(*domid);
        return std::unexpected("evtchn_bind_interdomain: " + privcmd::xen_strerror(bound.error()));
    }
    // Binding raises our new port once (as Xen does): not an echo.
    wait_readable(bound->fd.raw(), 100);
    drain(bound->fd.raw());
    auto port = std::make_shared<privcmd::Client::BoundPort>(std::move(*bound));
    std::uint16_t const d = *domid;
    k.round_trip = [&c, port]() -> std::expected<double, std::string> {
        auto const t0 = Clock::now();
        if (auto n = c.evtchn_notify(port->port); !n)
            return std::unexpected("evtchn_notify: " + privcmd::xen_strerror(n.error()));
        if (!wait_readable(port->fd.raw(), 5000)) return std::unexpected("no echo within 5 s");
        double const us = us_since(t0);
        std::uint64_t v;
        if (::read(port->fd.raw(), &v, sizeof v) != sizeof v) return std::unexpected("read eventfd");
        return us;
    };
    k.teardown = [&c, port, d] {
        (void)c.evtchn_unbind(port->port);
        (void)c.destroy_domain(d);
    };
    return k;
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
    std::setvbuf(stdout, nullptr, _IOLBF, 0);   // progress shows when the output goes to a file

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

    EventfdPair floor_pair;
    std::vector<Case> cases;
    cases.emplace_back("host: eventfd ping-pong between two threads", [&] { return floor_pair.round_trip(); });
    cases.emplace_back("kxen: privcmd round trip (xen_version)", [&] { return null_call(*c); });
    for (int s : o.spins) {
        auto k = guest_echo(*c, s);
        if (!k) {
            Case failed{fmt::format("kxen: dom0 <-> minios, spin_us={}", s)};
            failed.error = k.error();
            cases.push_back(std::move(failed));
        } else {
            cases.push_back(std::move(*k));
        }
    }
    // Warm-up, then the cases take turns in chunks of `chunk` round trips: a change in the
    // load of the (shared) machine hits all of them alike.
    for (int done = -o.warmup; done < o.count; done += o.chunk)
        for (auto& k : cases) {
            if (!k.error.empty()) continue;
            for (int i = 0; i < o.chunk && done + i < o.count; ++i) {
                auto us = k.round_trip();
                if (!us) {
                    k.error = us.error();
                    break;
                }
                if (done + i >= 0) k.rtt_us.push_back(*us);
            }
        }
    for (auto& k : cases) k.teardown();
    auto const& rows = cases;

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
