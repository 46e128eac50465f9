// Debian's GRUB built as a Xen PVH guest (grub-xen-host): a real, 32-bit Xen guest that kxen
// did not write. It makes its hypercalls in Xen's 32-bit ABI (hv/compat), reads keys from the
// PV console ring, and finds its disks through xenstore and reads them with its own blkfront
// (x86_32-abi rings) from kxen-backend's vbd backend.
#include <gtest/gtest.h>
#include <chrono>
#include <thread>
#include <unistd.h>
#include <cstdlib>
#include <vector>
#include <filesystem>
#include <fstream>
#include "host.hpp"

using namespace kxen::test;
using namespace std::chrono_literals;

namespace {

// scripts/setup.sh unpacks grub-xen-host into the project's cache.
std::string grub_pvh() { return KXEN_GRUB_PVH; }

std::filesystem::path grub_config(Host const& h, std::string const& name, std::string const& disk = {}) {
    auto cfg = h.dir() / (name + ".cfg");
    std::ofstream f(cfg);
    f << "name = \"" << name << "\"\ntype = \"pvh\"\nkernel = \"" << grub_pvh() << "\"\nmemory = 64\n";
    if (!disk.empty()) f << "disk = [ '" << disk << ",raw,xvda,rw' ]\n";
    return cfg;
}

// An ext2 image made without mounting anything (mke2fs -d) from `files` (path -> contents).
std::filesystem::path ext2_image(Host const& h, std::vector<std::pair<std::string, std::string>> const& files) {
    auto tree = h.dir() / "tree";
    for (auto const& [path, text] : files) {
        std::filesystem::create_directories((tree / path).parent_path());
        std::ofstream(tree / path) << text;
    }
    std::filesystem::create_directories(tree);
    auto img = h.dir() / "disk.img";
    auto cmd = "mke2fs -q -F -t ext2 -d '" + tree.string() + "' '" + img.string() + "' 8M";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return img;
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

TEST(Grub, ReadsItsConfigAndADataFileFromAKxenDisk) {
    KXEN_REQUIRE_ACCEL();
    ASSERT_TRUE(std::filesystem::exists(grub_pvh())) << grub_pvh() << " is missing: run scripts/setup.sh";
    Host h;
    auto img = ext2_image(h, {{"boot/grub/grub.cfg", "echo \"config read from the kxen disk\"\ncat /data.txt\nhalt\n"},
                              {"data.txt", "the data file came through blkif\n"}});
    auto r = h.kxl({"create", grub_config(h, "grubdisk", img.string()).string()});
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("grubdisk", "the data file came through blkif", 120s))
        << h.console_log("grubdisk") << h.kxend_log();
    EXPECT_NE(h.console_log("grubdisk").find("config read from the kxen disk"), std::string::npos);
    // `halt` at the end of the config powers the domain off.
    EXPECT_TRUE(h.wait_gone("grubdisk", 60s)) << h.console_log("grubdisk");
    EXPECT_NE(h.kxend_log().find("connected (x86_32 ABI)"), std::string::npos) << h.kxend_log();
    // The backend's nodes go with the domain: kxl's watcher removes them just after the
    // destroy that ends the domain's listing, so they may outlive it by a moment.
    auto xs = h.store();
    ASSERT_TRUE(xs);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
        gone = !xs->try_read("/local/domain/0/backend/vbd/1/51712/state");
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(gone) << "a state node outlived its domain by 10 s";
}

TEST(Grub, WithoutAConfigThePromptListsTheKxenDisk) {
    KXEN_REQUIRE_ACCEL();
    ASSERT_TRUE(std::filesystem::exists(grub_pvh())) << grub_pvh() << " is missing: run scripts/setup.sh";
    Host h;
    auto img = ext2_image(h, {{"hello.txt", "typed cat works\n"}});
    auto r = h.kxl({"create", grub_config(h, "grubls", img.string()).string()});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_console("grubls", "grub> ", 120s)) << h.console_log("grubls") << h.kxend_log();
    int s = h.console_socket(h.domid("grubls"));
    ASSERT_GE(s, 0);
    ASSERT_TRUE(type(s, "ls\r"));
    EXPECT_TRUE(h.wait_console("grubls", "(xen/xvda)", 60s)) << h.console_log("grubls");
    ASSERT_TRUE(type(s, "cat (xen/xvda)/hello.txt\r"));
    EXPECT_TRUE(h.wait_console("grubls", "typed cat works", 60s)) << h.console_log("grubls");
    ASSERT_TRUE(type(s, "halt\r"));
    EXPECT_TRUE(h.wait_gone("grubls", 60s)) << h.console_log("grubls");
    ::close(s);
}
