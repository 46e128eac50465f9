// XEN_DOMCTL_gethvmcontext / sethvmcontext / resumedomain against a running minios: the
// records read back load again and the guest runs on; malformed records are refused and
// change nothing.
#include <gtest/gtest.h>
#include <cstring>
#include <xen/hvm/save.h>
#include <xen/sched.h>
#include "host.hpp"
#include "privcmd/client.hpp"

using kxen::test::Host;
using namespace kxen;
using namespace std::chrono_literals;

namespace {


// The records of a blob: (typecode, instance, body).
std::vector<std::tuple<std::uint16_t, std::uint16_t, std::vector<std::uint8_t>>> records(std::vector<std::uint8_t> const& b) {
    std::vector<std::tuple<std::uint16_t, std::uint16_t, std::vector<std::uint8_t>>> out;
    std::size_t off = 0;
    while (off + sizeof(hvm_save_descriptor) <= b.size()) {
        hvm_save_descriptor d;
        std::memcpy(&d, b.data() + off, sizeof d);
        off += sizeof d;
        if (off + d.length > b.size()) break;
        out.emplace_back(d.typecode, d.instance, std::vector<std::uint8_t>(b.begin() + off, b.begin() + off + d.length));
        off += d.length;
        if (d.typecode == 0) break;
    }
    return out;
}

} // namespace

TEST(HvmContext, SavedRecordsLoadBackAndTheGuestRunsOn) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("ctx", "test=idle period_ms=5", {"vcpus=2"}).status, 0);
    ASSERT_TRUE(h.wait_console("ctx", "KXEN-TEST idle PASS")) << h.console_log("ctx");
    auto domid = h.domid("ctx");
    auto cl = privcmd::Client::connect(h.socket());
    ASSERT_TRUE(cl);
    auto& c = *cl;

    EXPECT_EQ(c.get_hvm_context(domid).error(), XenErr::busy);   // running: refused
    ASSERT_TRUE(c.pause(domid));
    auto blob = c.get_hvm_context(domid);
    ASSERT_TRUE(blob);
    auto recs = records(*blob);
    ASSERT_GE(recs.size(), 3u);
    EXPECT_EQ(std::get<0>(recs.front()), HVM_SAVE_CODE(HEADER));
    EXPECT_EQ(std::get<0>(recs.back()), 0);   // END
    unsigned cpus = 0;
    for (auto const& [type, inst, body] : recs) {
        if (type != HVM_SAVE_CODE(CPU)) continue;
        ++cpus;
        ASSERT_EQ(body.size(), sizeof(hvm_hw_cpu));
        hvm_hw_cpu cpu;
        std::memcpy(&cpu, body.data(), sizeof cpu);
        if (inst == 0) {
            EXPECT_TRUE(cpu.msr_efer & 0x400) << "minios runs in long mode";
            EXPECT_TRUE(cpu.cr0 & 0x80000000);
            EXPECT_NE(cpu.rip, 0u);
        }
    }
    EXPECT_GE(cpus, 1u);

    // Malformed blobs change nothing.
    auto bad = *blob;
    bad.resize(bad.size() - 4);   // no END
    EXPECT_FALSE(c.set_hvm_context(domid, bad));
    bad = *blob;
    bad[sizeof(hvm_save_descriptor)] ^= 0xff;   // header magic
    EXPECT_FALSE(c.set_hvm_context(domid, bad));
    bad = *blob;
    hvm_save_descriptor d;
    auto cpu_off = sizeof(hvm_save_descriptor) + sizeof(hvm_save_header);
    std::memcpy(&d, bad.data() + cpu_off, sizeof d);
    d.instance = 200;   // no such vCPU
    std::memcpy(bad.data() + cpu_off, &d, sizeof d);
    EXPECT_FALSE(c.set_hvm_context(domid, bad));
    d.instance = 0;
    d.length = 0xfffffff0;   // past the end
    std::memcpy(bad.data() + cpu_off, &d, sizeof d);
    EXPECT_FALSE(c.set_hvm_context(domid, bad));

    ASSERT_TRUE(c.set_hvm_context(domid, *blob));
    auto again = c.get_hvm_context(domid);
    ASSERT_TRUE(again);
    // The TSC moves on; everything else must come back as it was.
    auto strip_tsc = [](std::vector<std::uint8_t> b) {
        std::size_t off = 0;
        while (off + sizeof(hvm_save_descriptor) <= b.size()) {
            hvm_save_descriptor e;
            std::memcpy(&e, b.data() + off, sizeof e);
            off += sizeof e;
            if (e.typecode == HVM_SAVE_CODE(CPU))
                std::memset(b.data() + off + offsetof(hvm_hw_cpu, tsc), 0, sizeof(std::uint64_t));
            off += e.length;
            if (e.typecode == 0) break;
        }
        return b;
    };
    EXPECT_EQ(strip_tsc(*again), strip_tsc(*blob));
    auto before = h.console_log("ctx").size();
    ASSERT_TRUE(c.unpause(domid));
    // idle prints a line every 100 wakeups: 0.5 s at 5 ms.
    bool more = false;
    for (int i = 0; i < 100 && !more; ++i) {
        std::this_thread::sleep_for(50ms);
        more = h.console_log("ctx").size() > before;
    }
    EXPECT_TRUE(more) << h.console_log("ctx");
    EXPECT_TRUE(h.kxend_alive());
}

TEST(HvmContext, ResumeOnlyASuspendedDomain) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("rs", "test=idle", {"on_poweroff=\"preserve\""}).status, 0);
    ASSERT_TRUE(h.wait_console("rs", "KXEN-TEST idle PASS")) << h.console_log("rs");
    auto domid = h.domid("rs");
    auto cl = privcmd::Client::connect(h.socket());
    ASSERT_TRUE(cl);
    EXPECT_EQ(cl->resume_domain(domid).error(), XenErr::inval);   // running, not suspended
    ASSERT_TRUE(cl->remote_shutdown(domid, SHUTDOWN_poweroff));
    EXPECT_EQ(cl->resume_domain(domid).error(), XenErr::inval);   // shut down for good
    EXPECT_TRUE(h.kxend_alive());
}
