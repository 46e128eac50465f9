// Hypercall argument decoding as a dom0 caller sees it: every pointer and count is untrusted.
#include <gtest/gtest.h>
#include <cstring>
#include <vector>
#include <xen/domctl.h>
#include <xen/memory.h>
#include <xen/sysctl.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include "hv/hv.hpp"
#include "hv/hypercall/byte_memory.hpp"
#include "hv/hypercall/hypercall.hpp"

using namespace kxen;
using namespace kxen::hv;

namespace {

using Memory = ByteMemory;

class HypercallArgs : public ::testing::Test {
protected:
    void SetUp() override {
        auto h = Hv::create(HvOptions{.state_dir = ::testing::TempDir(), .pool_bytes = 1ull << 32, .nr_pcpus = 1});
        if (!h) GTEST_SKIP() << "SKIPPED: needs /dev/kvm: " << h.error().message();
        hv = std::move(*h);
    }
    long call(std::uint64_t nr, Args a) {
        Caller c{*hv, nullptr, nullptr, mem};
        return hypercall(c, nr, a);
    }
    template <typename T> void put(std::uint64_t at, T const& t) { ASSERT_TRUE(mem.write(at, &t, sizeof t)); }
    template <typename T> T get(std::uint64_t at) { T t{}; EXPECT_TRUE(mem.read(at, &t, sizeof t)); return t; }
    std::uint16_t create() {
        xen_domctl op{};
        op.cmd = XEN_DOMCTL_createdomain;
        op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        op.u.createdomain.flags = XEN_DOMCTL_CDF_hvm;
        op.u.createdomain.max_vcpus = 1;
        put(0, op);
        EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), 0);
        return get<xen_domctl>(0).domain;
    }
    std::unique_ptr<Hv> hv;
    Memory mem{1 << 16};
};

} // namespace

TEST_F(HypercallArgs, UnknownHypercallsAndSubopsAreEnosys) {
    EXPECT_EQ(call(63, {}), -38);
    EXPECT_EQ(call(1000, {}), -38);
    EXPECT_EQ(call(~0ull, {}), -38);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, {12345}), -38);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {63}), -38);
}

TEST_F(HypercallArgs, PointersOutsideTheCallersMemoryFault) {
    EXPECT_EQ(call(__HYPERVISOR_domctl, {1ull << 40}), -14);
    EXPECT_EQ(call(__HYPERVISOR_sysctl, {mem.bytes.size() - 8}), -14);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, {XENVER_extraversion, ~0ull}), -14);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, ~0ull - 3}), -14);
}

TEST_F(HypercallArgs, WrongInterfaceVersionIsRefused) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_getdomaininfo;
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION - 1;
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), -13);
}

TEST_F(HypercallArgs, XenVersionReportsFourSeventeen) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, {XENVER_version}), (4 << 16) | 17);
    ASSERT_EQ(call(__HYPERVISOR_xen_version, {XENVER_extraversion, 64}), 0);
    EXPECT_STREQ(reinterpret_cast<char const*>(mem.bytes.data() + 64), ".0-kxen");
}

TEST_F(HypercallArgs, CreateDomainThenQueryIt) {
    auto id = create();
    EXPECT_GT(id, 0);
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_getdomaininfo;
    op.domain = id;
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_domctl, {0}), 0);
    auto info = get<xen_domctl>(0).u.getdomaininfo;
    EXPECT_EQ(info.domain, id);
    EXPECT_TRUE(info.flags & XEN_DOMINF_paused);   // new domains start paused
    EXPECT_TRUE(info.flags & XEN_DOMINF_hvm_guest);
}

TEST_F(HypercallArgs, PopulateChecksOrderCountAndLimit) {
    auto id = create();
    xen_pfn_t gfns[2] = {0, 1};
    put(512, gfns);
    xen_memory_reservation_t r{};
    r.domid = id;
    r.extent_start.p = reinterpret_cast<xen_pfn_t*>(512);
    r.nr_extents = 2;
    put(0, r);
    // No max_mem yet: nothing may be populated.
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), -12);
    xen_domctl mm{};
    mm.cmd = XEN_DOMCTL_max_mem;
    mm.domain = id;
    mm.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    mm.u.max_mem.max_memkb = 64;
    put(1024, mm);
    ASSERT_EQ(call(__HYPERVISOR_domctl, {1024}), 0);
    r.extent_order = 40;
    put(0, r);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), -22);
    r.extent_order = 0;
    r.nr_extents = ~0ull;
    put(0, r);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), -22);
    r.nr_extents = 2;
    put(0, r);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), 2);
    // The same gfns again overlap what is there.
    EXPECT_LT(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), 2);
    domid_t d = id;
    put(2048, d);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_current_reservation, 2048}), 2);
}

TEST_F(HypercallArgs, HvmParamIndexIsBounded) {
    auto id = create();
    xen_hvm_param_t p{};
    p.domid = id;
    p.index = HVM_NR_PARAMS;
    put(0, p);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, {HVMOP_set_param, 0}), -22);
    p.index = 0xffffffffu;
    put(0, p);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, {HVMOP_get_param, 0}), -22);
    p.index = HVM_PARAM_STORE_PFN;
    p.value = 0xfeffc;
    put(0, p);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, {HVMOP_set_param, 0}), 0);
    p.value = 0;
    put(0, p);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, {HVMOP_get_param, 0}), 0);
    EXPECT_EQ(get<xen_hvm_param_t>(0).value, 0xfeffcu);
}

TEST_F(HypercallArgs, OperationsOnMissingDomainsAreEsrch) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_pausedomain;
    op.domain = 31000;
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), -3);
    op.cmd = XEN_DOMCTL_destroydomain;
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), -3);
}
