// Debian's unmodified xl (Xen 4.17) on kxend: the read-only commands, and what it does to a
// domain kxl created (issue 10, items 3b and 4).
#include <gtest/gtest.h>
#include <chrono>
#include <thread>
#include "xen_tools.hpp"

namespace kxen::test {
namespace {

// xl has no option for its global config; without /etc/xen/xl.conf it says so on every run.
std::string without_config_warning(std::string out) {
    std::string const w = "Failed to read config file: /etc/xen/xl.conf: No such file or directory\n";
    for (auto p = out.find(w); p != std::string::npos; p = out.find(w)) out.erase(p, w.size());
    return out;
}

// Whether a row of `xl list` has the paused flag (the third of "rbpscd").
bool paused(std::string const& row) {
    for (std::size_t p = 0; (p = row.find_first_of("-r", p)) != std::string::npos; ++p)
        if (p + 6 <= row.size() && row.find_first_not_of("-rbpscd", p) >= p + 6 && (p == 0 || row[p - 1] == ' ' || row[p - 1] == '\t'))
            return row[p + 2] == 'p';
    return false;
}

// The row `xl list` prints for `name`, or empty.
std::string xl_list_row(Host const& h, std::string const& name) {
    auto r = xl(h, {"list"});
    auto out = without_config_warning(r.out);
    for (std::size_t p = 0; p < out.size();) {
        auto e = out.find('\n', p);
        auto line = out.substr(p, e == std::string::npos ? std::string::npos : e - p);
        if (line.starts_with(name + " ")) return line;
        if (e == std::string::npos) break;
        p = e + 1;
    }
    return {};
}

class Xl : public ::testing::Test {
protected:
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        KXEN_REQUIRE_XEN_TOOLS();
        ASSERT_TRUE(h.started());
        // What a Xen host runs at boot: Domain-0's name and id in the store.
        auto init = xen_tool(h, "xen-init-dom0", {});
        ASSERT_EQ(init.status, 0) << init.out;
    }
    Host h;
};

TEST_F(Xl, InfoListUptimeVcpuListAndDmesg) {
    auto c = h.create("minios", "test=idle");
    ASSERT_EQ(c.status, 0) << c.out;
    ASSERT_TRUE(h.wait_console("minios", "idle"));
    auto id = std::to_string(h.domid("minios"));

    auto info = xl(h, {"info"});
    EXPECT_EQ(info.status, 0) << info.out;
    EXPECT_NE(info.out.find("xen_version            : 4.17"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("nr_cpus"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("xen_scheduler          : credit"), std::string::npos) << info.out;

    auto list = xl(h, {"list"});
    EXPECT_EQ(list.status, 0) << list.out;
    EXPECT_TRUE(xl_list_row(h, "Domain-0").starts_with("Domain-0")) << list.out;
    auto row = xl_list_row(h, "minios");
    ASSERT_FALSE(row.empty()) << list.out;
    EXPECT_NE(row.find(" " + id + " "), std::string::npos) << row;

    auto up = xl(h, {"uptime"});
    EXPECT_EQ(up.status, 0) << up.out;
    EXPECT_NE(up.out.find("minios"), std::string::npos) << up.out;

    auto vcpus = xl(h, {"vcpu-list", "minios"});
    EXPECT_EQ(vcpus.status, 0) << vcpus.out;
    EXPECT_NE(vcpus.out.find("all / all"), std::string::npos) << vcpus.out;

    // The hypervisor's console: kxend's own log lines (XEN_SYSCTL_readconsole).
    auto dmesg = xl(h, {"dmesg"});
    EXPECT_EQ(dmesg.status, 0) << dmesg.out;
    EXPECT_NE(dmesg.out.find("d" + id + ": created"), std::string::npos) << dmesg.out;
}

TEST_F(Xl, PausesUnpausesShutsDownAndDestroysWhatKxlCreated) {
    ASSERT_EQ(h.create("minios", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("minios", "idle"));
    auto pause = xl(h, {"pause", "minios"});
    ASSERT_EQ(pause.status, 0) << pause.out;
    EXPECT_TRUE(paused(xl_list_row(h, "minios"))) << xl_list_row(h, "minios");
    auto kxl_row = h.list_line("minios");
    ASSERT_TRUE(kxl_row);
    EXPECT_NE(kxl_row->find('p'), std::string::npos) << *kxl_row;   // kxl sees what xl did
    ASSERT_EQ(xl(h, {"unpause", "minios"}).status, 0);
    EXPECT_FALSE(paused(xl_list_row(h, "minios"))) << xl_list_row(h, "minios");

    // Through control/shutdown in the store: the guest powers itself off.
    auto down = xl(h, {"shutdown", "-w", "minios"});
    EXPECT_EQ(down.status, 0) << down.out;
    EXPECT_TRUE(h.wait_gone("minios"));
    EXPECT_TRUE(xl_list_row(h, "minios").empty());

    ASSERT_EQ(h.create("second", "test=idle", {"name=\"second\""}).status, 0);
    ASSERT_TRUE(h.wait_console("second", "idle"));
    auto destroy = xl(h, {"destroy", "second"});
    EXPECT_EQ(destroy.status, 0) << destroy.out;
    EXPECT_TRUE(h.wait_gone("second"));
    EXPECT_TRUE(h.kxend_alive());
}

} // namespace
} // namespace kxen::test
