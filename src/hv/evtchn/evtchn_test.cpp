#include "hv/evtchn/evtchn.hpp"
#include <gtest/gtest.h>
#include "hv/evtchn/port_ops.hpp"

using namespace kxen;
using kxen::hv::evtchn::Port;
using kxen::hv::evtchn::Table;

// Tables without a guest behind them (dom0-style) exercise the port bookkeeping alone.
TEST(EvtchnTable, BindVirqGivesDistinctPortsAndRefusesDuplicates) {
    Table t{nullptr, 1};
    auto a = t.bind_virq(VIRQ_TIMER, 0, 2);
    auto b = t.bind_virq(VIRQ_TIMER, 1, 2);
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, 0u);
    EXPECT_NE(*a, *b);
    EXPECT_EQ(t.bind_virq(VIRQ_TIMER, 0, 2).error(), XenErr::exist);
    EXPECT_EQ(t.virq_port(0, VIRQ_TIMER), *a);
    EXPECT_EQ(t.virq_port(1, VIRQ_TIMER), *b);
}

TEST(EvtchnTable, BadArgumentsAreErrorsNotCrashes) {
    Table t{nullptr, 1};
    EXPECT_EQ(t.bind_virq(NR_VIRQS, 0, 1).error(), XenErr::inval);
    EXPECT_EQ(t.bind_virq(0xffffffffu, 0, 1).error(), XenErr::inval);
    EXPECT_EQ(t.bind_virq(VIRQ_TIMER, 5, 1).error(), XenErr::noent);
    EXPECT_EQ(t.bind_ipi(7, 1).error(), XenErr::noent);
    EXPECT_EQ(t.close_local(0).error(), XenErr::inval);
    EXPECT_EQ(t.close_local(123456).error(), XenErr::inval);
    EXPECT_EQ(t.get(0xffffffffu).error(), XenErr::inval);
    EXPECT_EQ(t.virq_port(99, VIRQ_TIMER), -1);
    EXPECT_EQ(t.set_priority(1, 16).error(), XenErr::inval);
    EXPECT_EQ(t.bind_vcpu(1, 0, 1).error(), XenErr::inval);
}

TEST(EvtchnTable, ClosedPortIsReusedAndVirqUnbound) {
    Table t{nullptr, 1};
    auto p = t.bind_virq(VIRQ_TIMER, 0, 1);
    ASSERT_TRUE(p);
    ASSERT_TRUE(t.close_local(*p));
    EXPECT_EQ(t.virq_port(0, VIRQ_TIMER), -1);
    EXPECT_EQ(t.close_local(*p).error(), XenErr::inval);   // double close
    auto q = t.bind_ipi(0, 1);
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, *p);
}

TEST(EvtchnTable, TwoLevelAbiRunsOutOfPorts) {
    Table t{nullptr, 1};
    unsigned n = 0;
    while (t.bind_ipi(0, 1)) ++n;
    EXPECT_EQ(n, hv::evtchn::nr_ports_2l - 1);   // port 0 is never valid
    EXPECT_EQ(t.bind_ipi(0, 1).error(), XenErr::nospc);
}

TEST(EvtchnTable, InterdomainBindNeedsAnUnboundPortOfferedToTheBinder) {
    Table a{nullptr, 1}, b{nullptr, 2}, c{nullptr, 3};
    auto offer = a.alloc_unbound(2);
    ASSERT_TRUE(offer);
    EXPECT_EQ(hv::evtchn::bind_interdomain(c, a, *offer).error(), XenErr::inval);   // offered to 2, not 3
    EXPECT_EQ(hv::evtchn::bind_interdomain(b, a, *offer + 7).error(), XenErr::inval);
    auto bound = hv::evtchn::bind_interdomain(b, a, *offer);
    ASSERT_TRUE(bound);
    auto pa = a.get(*offer), pb = b.get(*bound);
    ASSERT_TRUE(pa && pb);
    EXPECT_EQ(pa->state, Port::State::interdomain);
    EXPECT_EQ(pa->remote_dom, 2);
    EXPECT_EQ(pa->remote_port, *bound);
    EXPECT_EQ(pb->remote_dom, 1);
    EXPECT_EQ(pb->remote_port, *offer);
    // Bound once: a second bind to the same port fails.
    EXPECT_EQ(hv::evtchn::bind_interdomain(b, a, *offer).error(), XenErr::inval);
}

TEST(EvtchnTable, LoopbackBindWithinOneTable) {
    Table a{nullptr, 4};
    auto offer = a.alloc_unbound(4);
    ASSERT_TRUE(offer);
    auto bound = hv::evtchn::bind_interdomain(a, a, *offer);
    ASSERT_TRUE(bound);
    EXPECT_NE(*bound, *offer);
    EXPECT_EQ(a.get(*offer)->remote_port, *bound);
}

TEST(EvtchnTable, Dom0TableReachesBeyondTheTwoLevelLimit) {
    Table t{nullptr, 0};
    unsigned n = 0;
    while (n < hv::evtchn::nr_ports_2l + 10 && t.alloc_unbound(1)) ++n;
    EXPECT_EQ(n, hv::evtchn::nr_ports_2l + 10);
}
