// Guests that misbehave or need kxend's help: hypercall fuzzing, vmcall, instruction emulation.
#include <gtest/gtest.h>
#include <thread>
#include "host.hpp"

using namespace std::chrono_literals;
using kxen::test::Host;
using kxen::test::accel;

TEST(Guest, HypercallFuzzLeavesKxendAndOtherDomainsHealthy) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("bystander", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("bystander", "KXEN-TEST idle PASS")) << h.console_log("bystander");
    ASSERT_EQ(h.create("fuzz", "test=hcall-fuzz seed=7 on_done=stay").status, 0);
    EXPECT_TRUE(h.wait_console("fuzz", "KXEN-TEST hcall-fuzz PASS", 120s)) << h.console_log("fuzz") << h.kxend_log();
    EXPECT_TRUE(h.kxend_alive());
    // The bystander keeps taking timer ticks.
    auto before = h.console_log("bystander").size();
    EXPECT_TRUE(h.wait_console("bystander", "idle: ", 30s));
    std::this_thread::sleep_for(3s);
    EXPECT_TRUE(h.list_line("bystander"));
    EXPECT_GE(h.console_log("bystander").size(), before);
    EXPECT_EQ(h.kxl({"destroy", "fuzz"}).status, 0);
    EXPECT_EQ(h.kxl({"destroy", "bystander"}).status, 0);
}

// vmcall from ring 0: a hypercall on the software vCPU (as on Xen); on kvm_pvm hosts it never
// completes, and kxend crashes that domain alone.
TEST(Guest, VmcallIsAHypercallOrCrashesOnlyThatDomain) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("vm", "test=vmcall", {"on_crash=\"preserve\""}).status, 0);
    ASSERT_TRUE(h.wait_console("vm", "KXEN-TEST vmcall RUNNING")) << h.console_log("vm");
    if (accel() == "soft") {
        EXPECT_TRUE(h.wait_console("vm", "KXEN-TEST vmcall PASS")) << h.console_log("vm") << h.kxend_log();
        EXPECT_TRUE(h.kxend_alive());
        return;
    }
    std::optional<std::string> line;
    for (int i = 0; i < 200; ++i) {
        line = h.list_line("vm");
        if (line && line->find("--c-") != std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("--c-"), std::string::npos) << *line;
    EXPECT_NE(h.kxend_log().find("vmcall"), std::string::npos) << h.kxend_log();
    EXPECT_EQ(h.console_log("vm").find("KXEN-TEST vmcall FAIL"), std::string::npos);
    EXPECT_TRUE(h.kxend_alive());
    EXPECT_EQ(h.kxl({"destroy", "vm"}).status, 0);
}

TEST(Guest, InstructionsTheHostCannotEmulateWork) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("insn", "test=insn").status, 0);
    EXPECT_TRUE(h.wait_console("insn", "KXEN-TEST insn PASS", 60s)) << h.console_log("insn") << h.kxend_log();
    EXPECT_EQ(h.console_log("insn").find("FAIL"), std::string::npos) << h.console_log("insn");
    EXPECT_TRUE(h.kxend_alive());
}
