#include "hv/evtchn/evtchn.hpp"
#include <gtest/gtest.h>

using namespace kxen;
using kxen::hv::evtchn::Table;

TEST(EvtchnTable, BindVirqGivesDistinctPortsAndRefusesDuplicates) {
    Table t;
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
    Table t;
    EXPECT_EQ(t.bind_virq(NR_VIRQS, 0, 1).error(), XenErr::inval);
    EXPECT_EQ(t.bind_virq(0xffffffffu, 0, 1).error(), XenErr::inval);
    EXPECT_EQ(t.bind_virq(VIRQ_TIMER, 5, 1).error(), XenErr::noent);
    EXPECT_EQ(t.bind_ipi(7, 1).error(), XenErr::noent);
    EXPECT_EQ(t.close(0).error(), XenErr::inval);
    EXPECT_EQ(t.close(123456).error(), XenErr::inval);
    EXPECT_EQ(t.get(0xffffffffu).error(), XenErr::inval);
    EXPECT_EQ(t.virq_port(99, VIRQ_TIMER), -1);
}

TEST(EvtchnTable, ClosedPortIsReusedAndVirqUnbound) {
    Table t;
    auto p = t.bind_virq(VIRQ_TIMER, 0, 1);
    ASSERT_TRUE(p);
    ASSERT_TRUE(t.close(*p));
    EXPECT_EQ(t.virq_port(0, VIRQ_TIMER), -1);
    EXPECT_EQ(t.close(*p).error(), XenErr::inval);   // double close
    auto q = t.bind_ipi(0, 1);
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, *p);
}

TEST(EvtchnTable, TwoLevelAbiRunsOutOfPorts) {
    Table t;
    unsigned n = 0;
    while (t.bind_ipi(0, 1)) ++n;
    EXPECT_EQ(n, Table::nr_ports_2l - 1);   // port 0 is never valid
    EXPECT_EQ(t.bind_ipi(0, 1).error(), XenErr::nospc);
}
