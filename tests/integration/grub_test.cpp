// Debian's GRUB built as a Xen PVH guest (grub-xen-host): a real, 32-bit Xen guest that kxen
// did not write. It finds its console through xenstore-free start info, makes its hypercalls
// in Xen's 32-bit ABI (hv/compat) and reads keys from the PV console ring.
#include <gtest/gtest.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include "host.hpp"

using namespace kxen::test;
using namespace std::chrono_literals;

namespace {

// scripts/setup.sh unpacks grub-xen-host into the project's cache.
std::string grub_pvh() { return KXEN_GRUB_PVH; }

std::filesystem::path grub_config(Host const& h, std::string const& name) {
    auto cfg = h.dir() / (name + ".cfg");
    std::ofstream(cfg) << "name = \"" << name << "\"\ntype = \"pvh\"\nkernel = \"" << grub_pvh()
                       << "\"\nmemory = 64\n";
    return cfg;
}

} // namespace

TEST(Grub, PromptTakesCommandsOnTheConsoleAndHaltPowersOff) {
    KXEN_REQUIRE_ACCEL();
    ASSERT_TRUE(std::filesystem::exists(grub_pvh())) << grub_pvh() << " is missing: run scripts/setup.sh";
    Host h;
    auto r = h.kxl({"create", grub_config(h, "grub").string()});
    ASSERT_EQ(r.status, 0) << r.out;
    // No disk: GRUB says it found no config and gives its prompt.
    ASSERT_TRUE(h.wait_console("grub", "grub> ", 120s)) << h.console_log("grub") << h.kxend_log();
    EXPECT_NE(h.console_log("grub").find("GNU GRUB"), std::string::npos) << h.console_log("grub");
    int s = h.console_socket(h.domid("grub"));
    ASSERT_GE(s, 0);
    ASSERT_TRUE(type(s, "ls\r"));
    EXPECT_TRUE(h.wait_console("grub", "(memdisk)", 60s)) << h.console_log("grub");
    ASSERT_TRUE(type(s, "echo typed-through-kxen\r"));
    EXPECT_TRUE(h.wait_console("grub", "\n\rtyped-through-kxen", 60s)) << h.console_log("grub");
    // GRUB's halt is SCHEDOP_shutdown(poweroff): the domain goes away (on_poweroff=destroy).
    ASSERT_TRUE(type(s, "halt\r"));
    EXPECT_TRUE(h.wait_gone("grub", 60s)) << h.console_log("grub") << h.kxl({"list"}).out;
    ::close(s);
    EXPECT_TRUE(h.kxend_alive());
}
