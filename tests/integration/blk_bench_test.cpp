// minios's test=blk-bench (bench/run_blk_fio.sh's guest side) runs both ways it is measured,
// reports what it did, and its writes land in the span it was given. No rate is checked.
#include <gtest/gtest.h>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>
#include "blk_image.hpp"
#include "host.hpp"

using namespace kxen::test;
using namespace std::chrono_literals;

namespace {

// The guest's result line, `blk-bench: key=value ...`, as a map (empty if there is none).
std::map<std::string, std::string> result(std::string const& log) {
    std::map<std::string, std::string> out;
    auto p = log.find("blk-bench: rw=");
    if (p == std::string::npos) return out;
    std::istringstream words(log.substr(p + 11, log.find('\n', p) - p - 11));
    for (std::string w; words >> w;)
        if (auto eq = w.find('='); eq != std::string::npos) out[w.substr(0, eq)] = w.substr(eq + 1);
    return out;
}

} // namespace

TEST(BlkBench, ReadsAndWritesWithAndWithoutPersistentGrants) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "bench", 8 * MiB, 0x11);
    std::string const disk = "disk=['" + img.string() + ",raw,xvda,rw']";

    ASSERT_EQ(h.create("rd", "test=blk-bench rw=read pattern=random kib=4 qd=8 seconds=1 persistent=1", {"memory=32", disk}).status, 0);
    ASSERT_TRUE(h.wait_console("rd", "KXEN-TEST blk-bench PASS", 120s)) << h.console_log("rd") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("rd", 30s));
    std::string const rd_log = h.console_log("rd");
    auto m = result(rd_log);
    ASSERT_EQ(m.count("ms"), 1u) << rd_log;
    EXPECT_EQ(m["rw"], "read");
    EXPECT_EQ(m["pattern"], "random");
    EXPECT_EQ(m["kib"], "4");
    EXPECT_EQ(m["qd"], "8");
    EXPECT_EQ(m["persistent"], "1") << "persistent grants were not agreed on";
    EXPECT_GT(std::stoull(m["ios"]), 0u);
    EXPECT_EQ(std::stoull(m["bytes"]), std::stoull(m["ios"]) * 4096);
    EXPECT_GE(std::stoull(m["ms"]), 1000u);

    // 1 MiB requests are indirect; size=4 keeps them to the first 4 MiB.
    ASSERT_EQ(h.create("wr", "test=blk-bench rw=write pattern=seq kib=1024 qd=4 size=4 seconds=1 persistent=0", {"memory=32", disk}).status, 0);
    ASSERT_TRUE(h.wait_console("wr", "KXEN-TEST blk-bench PASS", 120s)) << h.console_log("wr") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("wr", 30s));
    std::string const wr_log = h.console_log("wr");
    m = result(wr_log);
    ASSERT_EQ(m.count("ms"), 1u) << wr_log;
    EXPECT_EQ(m["rw"], "write");
    EXPECT_EQ(m["persistent"], "0");
    EXPECT_GT(std::stoull(m["ios"]), 0u);

    std::ifstream f(img, std::ios::binary);
    std::vector<unsigned char> d{std::istreambuf_iterator<char>(f), {}};
    ASSERT_EQ(d.size(), 8 * MiB);
    for (std::size_t i = 0; i < d.size(); ++i)
        ASSERT_EQ(d[i], i < 4 * MiB ? 0xa5 : 0x11) << "byte " << i;
}
