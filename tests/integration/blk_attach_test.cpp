// kxl block-attach, block-detach and block-list on running guests: libxl's device add and
// removal against kxen-backend's vbd backend and minios's blkfront (test=blk-reattach).
#include <gtest/gtest.h>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "blk_image.hpp"
#include "host.hpp"

using namespace kxen::test;
using namespace std::chrono_literals;

namespace {

constexpr char const* vbd_header = "Vdev  BE  handle state evt-ch ring-ref BE-path";

// `kxl block-list` below its header: one row per vbd, split into columns.
std::vector<std::vector<std::string>> block_list(Host const& h, std::string const& dom) {
    auto r = h.kxl({"block-list", dom});
    EXPECT_EQ(r.status, 0) << r.out;
    std::istringstream in(r.out);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind(vbd_header, 0), 0u) << r.out;
    std::vector<std::vector<std::string>> rows;
    while (std::getline(in, line)) {
        std::istringstream cols(line);
        rows.emplace_back();
        for (std::string c; cols >> c;) rows.back().push_back(c);
    }
    return rows;
}

// The domain's vbd directories that are still in the store (none once its last disk went).
std::vector<std::string> vbd_nodes(Host const& h, unsigned domid) {
    std::vector<std::string> left;
    auto xs = h.store();
    EXPECT_TRUE(xs);
    if (!xs) return left;
    for (auto const& p : {"/local/domain/0/backend/vbd/" + std::to_string(domid),
                          "/local/domain/" + std::to_string(domid) + "/device/vbd"})
        if (xs->try_read(p)) left.push_back(p);
    return left;
}

std::string be_path(unsigned domid, unsigned devid) {
    return "/local/domain/0/backend/vbd/" + std::to_string(domid) + "/" + std::to_string(devid);
}

constexpr unsigned xvda = 51712, xvdb = 51728;

} // namespace

TEST(BlkAttach, DetachAndReattachWhileTheGuestRuns) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "ra", 72 * MiB);
    ASSERT_EQ(h.create("ra", "test=blk-reattach size=64 seed=7", {"memory=32", disk(img)}).status, 0);
    ASSERT_TRUE(h.wait_console("ra", "blk-reattach: idle, detach me", 120s)) << h.console_log("ra") << h.kxend_log();
    unsigned const id = h.domid("ra");
    ASSERT_NE(id, 0u);

    auto rows = block_list(h, "ra");
    ASSERT_EQ(rows.size(), 1u);
    ASSERT_EQ(rows[0].size(), 7u);
    EXPECT_EQ(rows[0][0], std::to_string(xvda));
    EXPECT_EQ(rows[0][1], "0");
    EXPECT_EQ(rows[0][2], std::to_string(id));
    EXPECT_EQ(rows[0][3], "4") << "the frontend is Connected";
    EXPECT_NE(rows[0][4], "-1");
    EXPECT_NE(rows[0][5], "-1");
    EXPECT_EQ(rows[0][6], be_path(id, xvda));

    auto detach = h.kxl({"block-detach", "ra", "xvda"});
    ASSERT_EQ(detach.status, 0) << detach.out << h.console_log("ra") << h.kxend_log();
    EXPECT_TRUE(h.wait_console("ra", "blk-reattach: detached", 30s)) << h.console_log("ra");
    EXPECT_TRUE(block_list(h, "ra").empty());
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});
    // What the guest wrote before the detach is in the image: the backend flushed when it closed.
    EXPECT_EQ(first_bad_sector(read_all(img), 64 * MiB / 512, 7), 64 * MiB / 512);

    auto attach = h.kxl({"block-attach", "ra", img.string() + ",raw,xvda,rw"});
    ASSERT_EQ(attach.status, 0) << attach.out << h.kxend_log();
    EXPECT_TRUE(h.wait_console("ra", "KXEN-TEST blk-reattach PASS", 120s)) << h.console_log("ra") << h.kxend_log();
    EXPECT_TRUE(h.wait_gone("ra", 30s)) << h.console_log("ra");
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});
    std::cout << h.console_log("ra");

    auto d = read_all(img);
    ASSERT_EQ(d.size(), 72 * MiB);
    EXPECT_EQ(first_bad_sector(d, 64 * MiB / 512, 7), 64 * MiB / 512);
    EXPECT_EQ(first_not(d, 64 * MiB, d.size(), 0), d.size()) << "written past the range the guest wrote";
}

TEST(BlkAttach, RefusesMissingImagesUnknownDisksAndDuplicates) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    ASSERT_EQ(h.create("idle", "test=idle").status, 0);
    unsigned const id = h.domid("idle");
    ASSERT_NE(id, 0u);

    auto const missing = (h.dir() / "missing.img").string();
    auto r = h.kxl({"block-attach", "idle", missing + ",raw,xvdb,rw"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find(missing), std::string::npos) << r.out;
    EXPECT_TRUE(block_list(h, "idle").empty());
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});

    r = h.kxl({"block-detach", "idle", "xvdc"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("has no disk xvdc"), std::string::npos) << r.out;
    r = h.kxl({"block-detach", "idle", "floppy0"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("floppy0"), std::string::npos) << r.out;

    // A disk the guest never connects to: attached, then detached at once (the backend has no
    // frontend to wait for).
    auto img = image(h, "b", 1 * MiB);
    r = h.kxl({"block-attach", "idle", "format=raw", "vdev=xvdb", "target=" + img.string()});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();
    r = h.kxl({"block-attach", "idle", image(h, "other", 1 * MiB).string() + ",raw,xvdb,rw"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("already attached"), std::string::npos) << r.out;
    auto rows = block_list(h, "idle");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], std::to_string(xvdb));
    EXPECT_EQ(rows[0][3], "1") << "the guest has not looked at it";
    EXPECT_EQ(rows[0][4], "-1");
    EXPECT_EQ(rows[0][5], "-1");
    auto const t0 = std::chrono::steady_clock::now();
    r = h.kxl({"block-detach", "idle", std::to_string(xvdb)});
    EXPECT_EQ(r.status, 0) << r.out << h.kxend_log();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_TRUE(block_list(h, "idle").empty());
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});
    EXPECT_NE(h.kxend_log().find(" vbd " + std::to_string(xvdb) + ": closed for removal"), std::string::npos)
        << h.kxend_log();
    EXPECT_EQ(h.kxl({"destroy", "idle"}).status, 0);
}

TEST(BlkAttach, HotPlugsASecondDiskIntoARunningGuest) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto a = image(h, "a", 8 * MiB), b = image(h, "b", 2 * MiB);
    ASSERT_EQ(h.create("two", "test=blk-reattach size=1 seed=9", {disk(a)}).status, 0);
    ASSERT_TRUE(h.wait_console("two", "blk-reattach: idle, detach me", 120s)) << h.console_log("two") << h.kxend_log();
    unsigned const id = h.domid("two");

    auto r = h.kxl({"block-attach", "two", "file:" + b.string() + ",xvdb,w"});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();
    auto rows = block_list(h, "two");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], std::to_string(xvda));
    EXPECT_EQ(rows[0][3], "4");
    EXPECT_EQ(rows[1][0], std::to_string(xvdb));
    EXPECT_EQ(rows[1][6], be_path(id, xvdb));
    auto xs = h.store();
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->try_read(be_path(id, xvdb) + "/state"), "2") << "the backend has taken it (InitWait)";
    EXPECT_EQ(xs->try_read(be_path(id, xvdb) + "/sectors"), std::to_string(2 * MiB / 512));

    // Both go, the guest's own disk with its cooperation; then the guest still takes a shutdown.
    EXPECT_EQ(h.kxl({"block-detach", "two", "xvdb"}).status, 0);
    r = h.kxl({"block-detach", "two", "xvda"});
    EXPECT_EQ(r.status, 0) << r.out << h.console_log("two");
    EXPECT_TRUE(h.wait_console("two", "blk-reattach: detached", 30s)) << h.console_log("two");
    EXPECT_TRUE(block_list(h, "two").empty());
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});
    EXPECT_EQ(h.kxl({"shutdown", "two"}).status, 0);
    EXPECT_TRUE(h.wait_gone("two", 30s)) << h.console_log("two");
    EXPECT_NE(h.console_log("two").find("control: shutdown request poweroff"), std::string::npos);
}

TEST(BlkAttach, DetachFailsWhenTheGuestHoldsOnAndForceRemoves) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "held", 4 * MiB);
    // test=blk stays connected after its PASS and never looks at its backend again.
    ASSERT_EQ(h.create("held", "test=blk size=1 seed=2 on_done=stay", {disk(img)}).status, 0);
    ASSERT_TRUE(h.wait_console("held", "KXEN-TEST blk PASS", 120s)) << h.console_log("held") << h.kxend_log();
    unsigned const id = h.domid("held");

    auto r = h.kxl({"block-detach", "held", "xvda"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("did not close"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
    auto rows = block_list(h, "held");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][3], "4") << "the frontend is still Connected";

    r = h.kxl({"block-detach", "--force", "held", "xvda"});
    EXPECT_EQ(r.status, 0) << r.out << h.kxend_log();
    EXPECT_TRUE(block_list(h, "held").empty());
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});
    EXPECT_EQ(first_bad_sector(read_all(img), 2048, 2), 2048u);
    EXPECT_EQ(h.kxl({"destroy", "held"}).status, 0);
}

// A detach and an attach of the same vdev can reach the backend as one change (its watch
// fires once for both): the device it then sees is new, with its own image, and is set up
// afresh rather than taken for the old one.
TEST(BlkAttach, DeviceWrittenAgainInOneTransactionIsSetUpAfresh) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    ASSERT_EQ(h.create("idle", "test=idle").status, 0);
    unsigned const id = h.domid("idle");
    auto first = image(h, "first", 1 * MiB), second = image(h, "second", 2 * MiB);
    auto r = h.kxl({"block-attach", "idle", first.string() + ",raw,xvdb,rw"});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();

    auto xs = h.store();
    ASSERT_TRUE(xs);
    auto const be = be_path(id, xvdb);
    auto const fe = "/local/domain/" + std::to_string(id) + "/device/vbd/" + std::to_string(xvdb);
    std::vector<std::pair<std::string, std::string>> nodes;
    for (auto const& dir : {be, fe}) {
        auto names = xs->directory(dir);
        ASSERT_TRUE(names);
        for (auto const& n : *names) {
            std::string value = xs->try_read(dir + "/" + n).value_or("");
            if (n == "params") value = second.string();
            if (n == "state") value = "1";
            nodes.emplace_back(dir + "/" + n, value);
        }
    }
    auto written = kxen::xs::in_transaction(*xs, [&](kxen::xs::Transaction t) -> kxen::xs::Result<void> {
        for (auto const& dir : {be, fe})
            if (auto rm = xs->rm(dir, t); !rm) return rm;
        for (auto const& [path, value] : nodes)
            if (auto w = xs->write(path, value, t); !w) return w;
        return {};
    });
    ASSERT_TRUE(written) << written.error().message;

    auto const deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline &&
           !(xs->try_read(be + "/state") == "2" && xs->try_read(be + "/sectors") == std::to_string(2 * MiB / 512)))
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(xs->try_read(be + "/state"), "2") << h.kxend_log();
    EXPECT_EQ(xs->try_read(be + "/sectors"), std::to_string(2 * MiB / 512)) << h.kxend_log();
    EXPECT_NE(h.kxend_log().find(second.string()), std::string::npos) << h.kxend_log();
    EXPECT_EQ(h.kxl({"block-detach", "idle", "xvdb"}).status, 0);
    EXPECT_EQ(vbd_nodes(h, id), std::vector<std::string>{});
    EXPECT_EQ(h.kxl({"destroy", "idle"}).status, 0);
}

// The config a domain is saved with names the disks it has at the time, as libxl's does: one
// attached since creation comes back with the restored domain, one detached stays away.
TEST(BlkAttach, SaveAndRestoreBringTheDisksTheDomainHasNow) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto a = image(h, "a", 1 * MiB), b = image(h, "b", 1 * MiB);
    ASSERT_EQ(h.create("sr", "test=idle", {disk(a)}).status, 0);
    ASSERT_TRUE(h.wait_console("sr", "control: watching control/shutdown", 60s)) << h.console_log("sr");
    auto r = h.kxl({"block-attach", "sr", b.string() + ",raw,xvdb,ro"});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();
    r = h.kxl({"block-detach", "sr", "xvda"});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();

    auto file = (h.dir() / "sr.save").string();
    r = h.kxl({"save", "sr", file});
    ASSERT_EQ(r.status, 0) << r.out << h.console_log("sr") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("sr"));
    r = h.kxl({"restore", file});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();
    ASSERT_TRUE(h.wait_console("sr", "control: resumed in a new domain", 60s)) << h.console_log("sr");
    unsigned const id = h.domid("sr");
    auto rows = block_list(h, "sr");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], std::to_string(xvdb));
    auto xs = h.store();
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->try_read(be_path(id, xvdb) + "/params"), b.string());
    EXPECT_EQ(xs->try_read(be_path(id, xvdb) + "/mode"), "r");
    EXPECT_EQ(h.kxl({"destroy", "sr"}).status, 0);
}

// A reboot restarts the domain with the disks it has now, not the ones it was created with.
TEST(BlkAttach, RestartKeepsTheDisksTheDomainHasNow) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto b = image(h, "b", 1 * MiB);
    ASSERT_EQ(h.create("rs", "test=idle", {"on_reboot=\"restart\""}).status, 0);
    ASSERT_TRUE(h.wait_console("rs", "control: watching control/shutdown", 60s)) << h.console_log("rs");
    unsigned const first = h.domid("rs");
    auto r = h.kxl({"block-attach", "rs", b.string() + ",raw,xvdb,rw"});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();
    ASSERT_EQ(h.kxl({"reboot", "rs"}).status, 0);
    ASSERT_TRUE(h.wait_console("rs", "control: watching control/shutdown", 60s, 2)) << h.console_log("rs");
    unsigned const second = h.domid("rs");
    EXPECT_NE(second, first);
    auto rows = block_list(h, "rs");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], std::to_string(xvdb));
    EXPECT_EQ(rows[0][6], be_path(second, xvdb));
    EXPECT_EQ(vbd_nodes(h, first), std::vector<std::string>{});
    EXPECT_EQ(h.kxl({"destroy", "rs"}).status, 0);
}
