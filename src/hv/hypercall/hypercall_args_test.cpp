// Hypercall argument decoding as a dom0 caller sees it: every pointer and count is untrusted.
#include <gtest/gtest.h>
#include <array>
#include <cstring>
#include <vector>
#include <xen/domctl.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sysctl.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include "hv/domain/domain.hpp"
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
    long set_max_mem(std::uint16_t id, std::uint64_t kb) {
        xen_domctl mm{};
        mm.cmd = XEN_DOMCTL_max_mem;
        mm.domain = id;
        mm.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        mm.u.max_mem.max_memkb = kb;
        put(1024, mm);
        return call(__HYPERVISOR_domctl, {1024});
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
    ASSERT_EQ(set_max_mem(id, 64), 0);
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

// What Xen's own tools ask first (xl list, xenstored): dom0 is in every list, and is queryable.
TEST_F(HypercallArgs, Dom0IsListedFirstAndCanBeQueried) {
    auto id = create();
    xen_sysctl op{};
    op.cmd = XEN_SYSCTL_getdomaininfolist;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    op.u.getdomaininfolist.first_domain = 0;
    op.u.getdomaininfolist.max_domains = 8;
    op.u.getdomaininfolist.buffer.p = reinterpret_cast<xen_domctl_getdomaininfo_t*>(1024);
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    ASSERT_EQ(get<xen_sysctl>(0).u.getdomaininfolist.num_domains, 2u);
    auto dom0 = get<xen_domctl_getdomaininfo_t>(1024);
    auto guest = get<xen_domctl_getdomaininfo_t>(1024 + sizeof(xen_domctl_getdomaininfo_t));
    EXPECT_EQ(dom0.domain, 0);
    EXPECT_TRUE(dom0.flags & XEN_DOMINF_running);
    EXPECT_FALSE(dom0.flags & XEN_DOMINF_hvm_guest);
    EXPECT_EQ(dom0.nr_online_vcpus, 1u);   // one pCPU in this fixture
    EXPECT_EQ(guest.domain, id);
    // From 1 on, dom0 is not there.
    op.u.getdomaininfolist.first_domain = 1;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(get<xen_sysctl>(0).u.getdomaininfolist.num_domains, 1u);

    xen_domctl d{};
    d.cmd = XEN_DOMCTL_getvcpuinfo;
    d.domain = 0;
    d.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    put(0, d);
    ASSERT_EQ(call(__HYPERVISOR_domctl, {0}), 0);
    EXPECT_TRUE(get<xen_domctl>(0).u.getvcpuinfo.online);
    d.u.getvcpuinfo.vcpu = 1;   // dom0 has one vCPU per pCPU
    put(0, d);
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), -22);
    d.cmd = XEN_DOMCTL_destroydomain;   // the host is not a domain to change
    put(0, d);
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), -1);
}

TEST_F(HypercallArgs, CreateDomainWithNoGuestIdPicksOne) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_createdomain;
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    op.domain = DOMID_INVALID;   // libxl: let Xen choose
    op.u.createdomain.flags = XEN_DOMCTL_CDF_hvm;
    op.u.createdomain.max_vcpus = 1;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_domctl, {0}), 0);
    auto id = get<xen_domctl>(0).domain;
    EXPECT_GT(id, 0);
    EXPECT_LT(id, DOMID_FIRST_RESERVED);
}

TEST_F(HypercallArgs, OneCpupoolOneNodeAndAllCpusInEveryMap) {
    create();
    xen_sysctl op{};
    op.cmd = XEN_SYSCTL_cpupool_op;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    op.u.cpupool_op.op = XEN_SYSCTL_CPUPOOL_OP_INFO;
    op.u.cpupool_op.cpumap.bitmap.p = reinterpret_cast<std::uint8_t*>(2048);
    op.u.cpupool_op.cpumap.nr_bits = 64;
    put(2048, std::uint64_t{0});
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    auto p = get<xen_sysctl>(0).u.cpupool_op;
    EXPECT_EQ(p.cpupool_id, 0u);
    EXPECT_EQ(p.sched_id, unsigned{XEN_SCHEDULER_CREDIT});
    EXPECT_EQ(p.n_dom, 2u);   // dom0 and the guest
    EXPECT_EQ(get<std::uint64_t>(2048), 1u);   // the one pCPU
    op.u.cpupool_op.cpupool_id = 1;
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_sysctl, {0}), -2);

    op = {};
    op.cmd = XEN_SYSCTL_numainfo;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(get<xen_sysctl>(0).u.numainfo.num_nodes, 1u);

    op = {};
    op.cmd = XEN_SYSCTL_cputopoinfo;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    op.u.cputopoinfo.num_cpus = 4;
    op.u.cputopoinfo.cputopo.p = reinterpret_cast<xen_sysctl_cputopo_t*>(2048);
    put(2048, xen_sysctl_cputopo_t{7, 7, 7});
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(get<xen_sysctl>(0).u.cputopoinfo.num_cpus, 1u);
    auto t = get<xen_sysctl_cputopo_t>(2048);
    EXPECT_EQ(t.core, 0u);
    EXPECT_EQ(t.socket, 0u);
    EXPECT_EQ(t.node, 0u);
}

TEST_F(HypercallArgs, MulticallRunsEachEntryAndRefusesNesting) {
    multicall_entry_t e[3]{};
    e[0].op = __HYPERVISOR_xen_version;
    e[0].args[0] = XENVER_version;
    e[1].op = __HYPERVISOR_multicall;
    e[2].op = 1000;
    put(4096, e);
    ASSERT_EQ(call(__HYPERVISOR_multicall, {4096, 3}), 0);
    std::array<multicall_entry_t, 3> r{};
    ASSERT_TRUE(mem.read(4096, r.data(), sizeof r));
    EXPECT_EQ(r[0].result, xen_ulong_t{(4 << 16) | 17});
    EXPECT_EQ(static_cast<long>(r[1].result), -22);
    EXPECT_EQ(static_cast<long>(r[2].result), -38);
    EXPECT_EQ(call(__HYPERVISOR_multicall, {~0ull - 8, 1}), -14);
}

// libxenguest seeds the reserved grant entries in Xen's own frame before the guest runs; the
// entries are in the frame the guest then places in its physmap.
TEST_F(HypercallArgs, AcquiredGrantFrameKeepsItsEntriesWhenTheGuestPlacesIt) {
    auto id = create();
    xen_mem_acquire_resource_t ar{};
    ar.domid = id;
    ar.type = XENMEM_resource_grant_table;
    ar.id = XENMEM_resource_grant_table_id_shared;
    put(0, ar);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_acquire_resource, 0}), 0);   // a size query
    EXPECT_EQ(get<xen_mem_acquire_resource_t>(0).nr_frames, hv->lookup(id)->gnttab().max_frames());
    ar.nr_frames = 1;
    ar.frame_list.p = reinterpret_cast<xen_pfn_t*>(512);
    put(0, ar);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_acquire_resource, 0}), 0);
    auto mfn = get<xen_pfn_t>(512);
    auto* frame = reinterpret_cast<grant_entry_v1_t*>(hv->pool().host(mfn << 12));
    frame[1] = {GTF_permit_access, 0, 0x1234};
    // The same frame again: the same page.
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_acquire_resource, 0}), 0);
    EXPECT_EQ(get<xen_pfn_t>(512), mfn);

    ASSERT_TRUE(hv->lookup(id)->p2m().populate(Gfn{0x100}, 1));
    xen_add_to_physmap_t xatp{};
    xatp.domid = id;
    xatp.space = XENMAPSPACE_grant_table;
    xatp.idx = 0;
    xatp.gpfn = 0x100;
    put(0, xatp);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_add_to_physmap, 0}), 0);
    auto* placed = reinterpret_cast<grant_entry_v1_t*>(hv->lookup(id)->gpa_ptr(0x100 << 12, 4096));
    ASSERT_NE(placed, nullptr);
    EXPECT_EQ(placed[1].frame, 0x1234u);
    EXPECT_EQ(placed[1].flags, GTF_permit_access);
    // Acquired now, frame 0 is the guest's page.
    ar.nr_frames = 1;
    put(0, ar);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_acquire_resource, 0}), 0);
    EXPECT_EQ(get<xen_pfn_t>(512), *hv->lookup(id)->p2m().pool_offset(Gfn{0x100}, 1) >> 12);

    // Refusals: another resource, frames out of range, too many at once.
    auto refused = [&](xen_mem_acquire_resource_t a, long want) {
        put(0, a);
        EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_acquire_resource, 0}), want);
    };
    auto bad = ar;
    bad.type = XENMEM_resource_ioreq_server;
    refused(bad, -95);
    bad = ar;
    bad.frame = hv->lookup(id)->gnttab().max_frames();
    refused(bad, -22);
    bad = ar;
    bad.nr_frames = 33;
    refused(bad, -7);
}

// libxl's CPUID round trip: the default policy read, handed back unchanged, is taken; a
// feature bit kxend does not offer is refused with its leaf named.
TEST_F(HypercallArgs, CpuPolicyRoundTripsAndRefusesFeaturesNotOffered) {
    auto id = create();
    xen_sysctl s{};
    s.cmd = XEN_SYSCTL_get_cpu_policy;
    s.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    put(0, s);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);   // a size query
    auto max = get<xen_sysctl>(0).u.cpu_policy.nr_leaves;
    ASSERT_GT(max, 16u);
    s.u.cpu_policy.index = XEN_SYSCTL_cpu_policy_hvm_default;
    s.u.cpu_policy.nr_leaves = max;
    s.u.cpu_policy.leaves.p = reinterpret_cast<xen_cpuid_leaf_t*>(8192);
    s.u.cpu_policy.msrs.p = reinterpret_cast<xen_msr_entry_t*>(4096);
    put(0, s);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    auto n = get<xen_sysctl>(0).u.cpu_policy.nr_leaves;
    ASSERT_GT(n, 0u);
    ASSERT_LE(n, max);
    s.u.cpu_policy.index = XEN_SYSCTL_cpu_policy_pv_default;   // no PV guests here
    put(0, s);
    EXPECT_EQ(call(__HYPERVISOR_sysctl, {0}), -95);

    xen_domctl d{};
    d.cmd = XEN_DOMCTL_set_cpu_policy;
    d.domain = id;
    d.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    d.u.cpu_policy.nr_leaves = n;
    d.u.cpu_policy.leaves.p = reinterpret_cast<xen_cpuid_leaf_t*>(8192);
    put(0, d);
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), 0);
    // Leaf 1 with every ECX bit: more than any CPU kxend offers has.
    for (std::uint32_t i = 0; i < n; ++i) {
        auto at = 8192 + i * sizeof(xen_cpuid_leaf_t);
        auto l = get<xen_cpuid_leaf_t>(at);
        if (l.leaf == 1) {
            l.c = ~0u;
            put(at, l);
        }
    }
    EXPECT_EQ(call(__HYPERVISOR_domctl, {0}), -22);
    EXPECT_EQ(get<xen_domctl>(0).u.cpu_policy.err_leaf, 1u);

    s = {};
    s.cmd = XEN_SYSCTL_get_cpu_featureset;
    s.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    s.u.cpu_featureset.index = XEN_SYSCTL_cpu_featureset_hvm;
    s.u.cpu_featureset.nr_features = 4;
    s.u.cpu_featureset.features.p = reinterpret_cast<std::uint32_t*>(4096);
    put(0, s);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(get<xen_sysctl>(0).u.cpu_featureset.nr_features, 4u);
    EXPECT_NE(get<std::uint32_t>(4096) & (1u << 0), 0u);   // word 0 is leaf 1 EDX: FPU
}

// libxl sets a PoD target on every memory target change; kxend has no populate-on-demand, so
// the answer is Xen's for a fully populated domain: nothing to do, and its sizes.
TEST_F(HypercallArgs, PodTargetReportsTheAllocationToDom0Only) {
    auto id = create();
    ASSERT_EQ(set_max_mem(id, 64), 0);
    xen_pfn_t gfns[3] = {0, 1, 2};
    put(512, gfns);
    xen_memory_reservation_t r{};
    r.domid = id;
    r.extent_start.p = reinterpret_cast<xen_pfn_t*>(512);
    r.nr_extents = 3;
    put(0, r);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), 3);

    xen_pod_target_t t{};
    t.domid = id;
    t.target_pages = 2;
    t.pod_entries = 99;
    put(2048, t);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_set_pod_target, 2048}), 0);
    auto got = get<xen_pod_target_t>(2048);
    EXPECT_EQ(got.tot_pages, 3u);
    EXPECT_EQ(got.pod_cache_pages, 0u);
    EXPECT_EQ(got.pod_entries, 0u);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_get_pod_target, 2048}), 0);

    t.domid = 4321;
    put(2048, t);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_set_pod_target, 2048}), -3);   // ESRCH
    EXPECT_EQ(call(__HYPERVISOR_memory_op, {XENMEM_set_pod_target, ~0ull - 8}), -14);
    auto d = hv->lookup(id);
    ASSERT_TRUE(d);
    t.domid = DOMID_SELF;
    put(2048, t);
    Caller guest{*hv, d.get(), nullptr, mem};
    EXPECT_EQ(hypercall(guest, __HYPERVISOR_memory_op, {XENMEM_set_pod_target, 2048}), -1);   // EPERM
}

TEST_F(HypercallArgs, CreditTimeSliceIsKeptWithinXensBounds) {
    xen_sysctl op{};
    op.cmd = XEN_SYSCTL_scheduler_op;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    op.u.scheduler_op.sched_id = XEN_SCHEDULER_CREDIT;
    op.u.scheduler_op.cmd = XEN_SYSCTL_SCHEDOP_putinfo;
    op.u.scheduler_op.u.sched_credit.tslice_ms = 7;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(hv->sched().slice_ns(), 7'000'000u);
    for (std::uint32_t bad : {0u, 1001u}) {
        op.u.scheduler_op.u.sched_credit.tslice_ms = bad;
        put(0, op);
        EXPECT_EQ(call(__HYPERVISOR_sysctl, {0}), -22);
    }
    op.u.scheduler_op.u.sched_credit.tslice_ms = 5;
    op.u.scheduler_op.u.sched_credit.ratelimit_us = 1000;   // kxend has no rate limit to set
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_sysctl, {0}), -22);
    op.u.scheduler_op.cmd = XEN_SYSCTL_SCHEDOP_getinfo;
    op.u.scheduler_op.cpupool_id = 3;
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_sysctl, {0}), -3);   // no such pool
    op.u.scheduler_op.cpupool_id = 0;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    auto got = get<xen_sysctl>(0).u.scheduler_op.u.sched_credit;
    EXPECT_EQ(got.tslice_ms, 7u);
    EXPECT_EQ(got.ratelimit_us, 0u);
}

TEST_F(HypercallArgs, PciTopologyKnowsNoDevice) {
    physdev_pci_device_t devs[2] = {{0, 0, 0x08}, {0, 3, 0x10}};
    put(1024, devs);
    std::uint32_t nodes[2] = {7, 7};
    put(2048, nodes);
    xen_sysctl op{};
    op.cmd = XEN_SYSCTL_pcitopoinfo;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    op.u.pcitopoinfo.num_devs = 2;
    set_xen_guest_handle_raw(op.u.pcitopoinfo.devs, reinterpret_cast<physdev_pci_device_t*>(1024));
    set_xen_guest_handle_raw(op.u.pcitopoinfo.nodes, reinterpret_cast<std::uint32_t*>(2048));
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(get<xen_sysctl>(0).u.pcitopoinfo.num_devs, 2u);
    auto out = get<std::array<std::uint32_t, 2>>(2048);
    EXPECT_EQ(out[0], XEN_INVALID_DEV);
    EXPECT_EQ(out[1], XEN_INVALID_DEV);
    // A large count is answered a batch at a time (libxc calls again for the rest).
    op.u.pcitopoinfo.num_devs = 1u << 20;
    put(0, op);
    ASSERT_EQ(call(__HYPERVISOR_sysctl, {0}), 0);
    EXPECT_EQ(get<xen_sysctl>(0).u.pcitopoinfo.num_devs, 4096u);
    // A list running past the caller's memory faults rather than reading beyond it.
    op.u.pcitopoinfo.num_devs = 3;
    set_xen_guest_handle_raw(op.u.pcitopoinfo.devs, reinterpret_cast<physdev_pci_device_t*>((1 << 16) - 8));
    put(0, op);
    EXPECT_EQ(call(__HYPERVISOR_sysctl, {0}), -14);
}
