// kxen-backend's PV console against a real kxend: the ring of a (paused) domain is filled the
// way a guest fills it, and the backend must log it, pass keyboard input back, and survive a
// ring whose indexes are garbage.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cstring>
#include <thread>
#include <xen/event_channel.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>
#include "host.hpp"
#include "privcmd/client.hpp"

using kxen::test::Host;
using namespace kxen;
using namespace std::chrono_literals;

namespace {

struct ConsoleBackend : ::testing::Test {
    static constexpr std::uint64_t console_gfn = 0x30;
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        auto cl = privcmd::Client::connect(h.socket());
        ASSERT_TRUE(cl);
        c.emplace(std::move(*cl));
        xen_domain_handle_t uuid{};
        auto d = c->create_domain(uuid, 1);
        ASSERT_TRUE(d);
        domid = *d;
        ASSERT_TRUE(c->set_name(domid, "ring"));
        ASSERT_TRUE(c->max_mem(domid, 1024));
        ASSERT_TRUE(c->populate_physmap(domid, 0, 64));
        auto m = c->map_foreign(domid, console_gfn, 1);
        ASSERT_TRUE(m);
        page.emplace(std::move(*m));
    }
    xencons_interface* ring() { return reinterpret_cast<xencons_interface*>(page->map.data()); }
    void guest_writes(std::string_view s) {
        for (char ch : s) ring()->out[MASK_XENCONS_IDX(ring()->out_prod++, ring()->out)] = ch;
    }
    // What the toolstack does: a port in the guest for dom0, and the two params.
    void offer_console() {
        evtchn_alloc_unbound_t a{};
        a.dom = domid;
        a.remote_dom = 0;
        ASSERT_EQ(c->raw_struct_call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, &a, sizeof a), 0);
        ASSERT_TRUE(c->set_hvm_param(domid, HVM_PARAM_CONSOLE_PFN, console_gfn));
        ASSERT_TRUE(c->set_hvm_param(domid, HVM_PARAM_CONSOLE_EVTCHN, a.port));
    }
    Host h;
    std::optional<privcmd::Client> c;
    std::optional<privcmd::ForeignMap> page;
    std::uint16_t domid = 0;
};

} // namespace

TEST_F(ConsoleBackend, LogsRingOutputAndDeliversInput) {
    guest_writes("hello from the ring\n");
    offer_console();
    EXPECT_TRUE(h.wait_console("ring", "hello from the ring", 10s)) << h.kxend_log();
    EXPECT_EQ(ring()->out_cons, ring()->out_prod);

    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    auto path = (h.state() / "console" / "backend.sock").string();
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    auto hello = std::to_string(domid) + "\nkeys";
    ASSERT_GT(::send(s, hello.data(), hello.size(), 0), 0);
    char ok[3];
    ASSERT_EQ(::recv(s, ok, 3, MSG_WAITALL), 3);
    EXPECT_EQ(std::string(ok, 3), "OK\n");
    for (int i = 0; i < 100 && ring()->in_prod < 4; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_EQ(ring()->in_prod - ring()->in_cons, 4u);
    EXPECT_EQ(std::string(ring()->in, 4), "keys");
    ::close(s);
}

TEST_F(ConsoleBackend, GarbageIndexesDoNotTakeTheBackendDown) {
    ring()->out_cons = 0;
    ring()->out_prod = 0x40000000;   // a hostile guest
    offer_console();
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(ring()->out_cons, ring()->out_prod) << "the backend resynchronises the ring";
    EXPECT_NE(h.kxend_log().find("ring indexes out of range"), std::string::npos) << h.kxend_log();
    // The backend still serves: an unknown domain gets ENOENT, not a hang or a dead socket.
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    auto path = (h.state() / "console" / "backend.sock").string();
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_GT(::send(s, "31999\n", 6, 0), 0);
    char buf[7];
    EXPECT_EQ(::recv(s, buf, 7, MSG_WAITALL), 7);
    EXPECT_EQ(std::string(buf, 7), "ENOENT\n");
    ::close(s);
}
