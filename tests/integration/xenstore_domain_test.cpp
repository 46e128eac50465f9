// The toolstack's xenstore plumbing against a real kxend + kxenstored, read back with Xen's own
// client library: the tree kxl writes for a domain, its removal, and kxl shutdown's choice
// between PV control and the hypervisor.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <thread>
#include "host.hpp"
#include "xenstore/client/xs.hpp"

using kxen::test::Host;
using namespace kxen;
using namespace std::chrono_literals;

TEST(XenstoreDomain, CreateWritesTheTreeAndDestroyRemovesIt) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto xs = h.store();
    ASSERT_TRUE(xs);
    ASSERT_EQ(h.create("tree", "test=idle", {"memory=8", "maxmem=16"}).status, 0);
    auto id = h.domid("tree");
    ASSERT_NE(id, 0u);
    auto dom = fmt::format("/local/domain/{}", id);
    EXPECT_EQ(xs->try_read(dom + "/name"), "tree");
    EXPECT_EQ(xs->try_read(dom + "/domid"), std::to_string(id));
    EXPECT_EQ(xs->try_read(dom + "/memory/target"), "8192");
    EXPECT_EQ(xs->try_read(dom + "/memory/static-max"), "16384");
    EXPECT_EQ(xs->try_read(dom + "/cpu/0/availability"), "online");
    EXPECT_EQ(xs->try_read(dom + "/console/type"), "xenconsoled");
    EXPECT_TRUE(xs->try_read(dom + "/store/port"));
    auto vm = xs->try_read(dom + "/vm");
    ASSERT_TRUE(vm);
    EXPECT_TRUE(vm->starts_with("/vm/")) << *vm;
    EXPECT_EQ(xs->try_read(*vm + "/name"), "tree");
    EXPECT_EQ(xs->try_read(*vm + "/uuid"), vm->substr(4));

    ASSERT_EQ(h.kxl({"destroy", "tree"}).status, 0);
    EXPECT_FALSE(xs->try_read(dom + "/name"));
    EXPECT_FALSE(xs->try_read(*vm + "/name"));
    EXPECT_FALSE(xs->try_read(fmt::format("/libxl/{}/type", id)));
}

TEST(XenstoreDomain, ShutdownWithoutPvControlNeedsFallback) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto xs = h.store();
    ASSERT_TRUE(xs);
    // `spin` never answers control/shutdown and never says it could.
    ASSERT_EQ(h.create("nopv", "test=spin").status, 0);
    ASSERT_TRUE(h.wait_console("nopv", "KXEN-TEST spin RUNNING")) << h.console_log("nopv");
    auto r = h.kxl({"shutdown", "nopv"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("PV control interface not available"), std::string::npos) << r.out;
    EXPECT_TRUE(h.list_line("nopv"));

    // A guest that claims PV control but never takes the request: -F gives up after the
    // timeout and shuts it down from the hypervisor.
    auto id = h.domid("nopv");
    ASSERT_TRUE(xs->write(fmt::format("/local/domain/{}/control/feature-poweroff", id), "1"));
    r = h.kxl({"shutdown", "-F", "--timeout", "1", "-w", "nopv"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("did not take the poweroff request"), std::string::npos) << r.out;
    EXPECT_TRUE(h.wait_gone("nopv"));
    // The monitor removes the tree right after the domain goes.
    bool removed = false;
    for (int i = 0; i < 100 && !removed; ++i) {
        removed = !xs->try_read(fmt::format("/local/domain/{}/name", id));
        if (!removed) std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(removed);
}
