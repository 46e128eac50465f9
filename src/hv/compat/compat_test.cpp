// Hypercalls from a 32-bit guest (hv/compat): arguments in Xen's x86_32 layouts reach the
// native handlers intact, and results come back in the guest's layout.
#include <gtest/gtest.h>
#include <cstring>
#include <vector>
#include <xen/domctl.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include "hv/compat/compat.hpp"
#include "hv/compat/layout.h"
#include "hv/domain/domain.hpp"
#include "hv/evtchn/port_ops.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/byte_memory.hpp"

using namespace kxen;
using namespace kxen::hv;

namespace {

// The caller's memory, a 32-bit guest's: every address below 4 GiB.
using Memory = ByteMemory;

class Compat : public ::testing::Test {
protected:
    void SetUp() override {
        auto h = Hv::create(HvOptions{.state_dir = ::testing::TempDir(), .pool_bytes = 1ull << 32, .nr_pcpus = 1});
        ASSERT_TRUE(h) << h.error().message();
        hv = std::move(*h);
        xen_domctl op{};
        op.cmd = XEN_DOMCTL_createdomain;
        op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        op.u.createdomain.flags = XEN_DOMCTL_CDF_hvm;
        op.u.createdomain.max_vcpus = 1;
        op.u.createdomain.max_grant_frames = 4;
        put(0, op);
        ASSERT_EQ(dom0({__HYPERVISOR_domctl, 0}), 0);
        id = get<xen_domctl>(0).domain;
        op = {};
        op.cmd = XEN_DOMCTL_max_mem;
        op.domain = id;
        op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        op.u.max_mem.max_memkb = 1024;
        put(0, op);
        ASSERT_EQ(dom0({__HYPERVISOR_domctl, 0}), 0);
        d = hv->lookup(id);
        ASSERT_TRUE(d);
    }
    // A privileged (64-bit toolstack) call, for setting the domain up.
    long dom0(std::array<std::uint64_t, 3> a) {
        Caller c{*hv, nullptr, nullptr, mem};
        return hypercall(c, a[0], {a[1], a[2], 0, 0, 0});
    }
    // The domain's own call, made in 32-bit mode.
    long guest32(std::uint64_t nr, Args a) {
        Caller c{*hv, d.get(), nullptr, mem, true};
        return compat::hypercall(c, nr, a);
    }
    template <typename T> void put(std::uint64_t at, T const& t) { ASSERT_TRUE(mem.write(at, &t, sizeof t)); }
    template <typename T> T get(std::uint64_t at) { T t{}; EXPECT_TRUE(mem.read(at, &t, sizeof t)); return t; }

    std::unique_ptr<Hv> hv;
    Memory mem{1 << 16};
    std::uint16_t id = 0;
    std::shared_ptr<Domain> d;
};

} // namespace

TEST_F(Compat, MemoryMapIsReturnedThroughThe32BitStructure) {
    E820Entry map[2] = {{0, 0xa0000, 1}, {0x100000, 0x3f00000, 1}};
    put(4096, map);
    xen_foreign_memory_map_t fm{};
    fm.domid = id;
    fm.map.nr_entries = 2;
    set_xen_guest_handle_raw(fm.map.buffer, reinterpret_cast<void*>(4096));
    put(0, fm);
    ASSERT_EQ(dom0({__HYPERVISOR_memory_op, XENMEM_set_memory_map, 0}), 0);

    compat_memory_map m{8, 8192};   // 8 bytes: a 64-bit reader would take the handle from bytes 8..15
    put(0x100, m);
    put<std::uint64_t>(0x108, 0xdeadbeefdeadbeefull);
    ASSERT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_memory_map, 0x100}), 0);
    EXPECT_EQ(get<compat_memory_map>(0x100).nr_entries, 2u);
    EXPECT_EQ(get<compat_memory_map>(0x100).buffer, 8192u);
    EXPECT_EQ(get<std::uint64_t>(0x108), 0xdeadbeefdeadbeefull);   // nothing past the struct
    EXPECT_EQ(std::memcmp(mem.bytes.data() + 8192, map, sizeof map), 0);
}

TEST_F(Compat, PopulateReads32BitFrameNumbers) {
    std::uint32_t gfns[3] = {0x10, 0x11, 0x40};
    put(512, gfns);
    compat_memory_reservation r{};
    r.extent_start = 512;
    r.nr_extents = 3;
    r.domid = DOMID_SELF;
    put(0, r);
    ASSERT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), 3);
    EXPECT_TRUE(d->gpa_ptr(0x11000, 4096));
    EXPECT_TRUE(d->gpa_ptr(0x40000, 4096));
    EXPECT_FALSE(d->gpa_ptr(0x12000, 4096));
    // Hostile counts and pointers are refused, not translated.
    r.nr_extents = 0xffffffffu;
    put(0, r);
    EXPECT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), -22);
    r.nr_extents = 3;
    r.extent_start = 0xfffffff0u;
    put(0, r);
    EXPECT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0}), -14);
    EXPECT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_populate_physmap, 0xfffffff0u}), -14);
}

TEST_F(Compat, SharedInfoAndEventsUseThe32BitLayout) {
    compat_add_to_physmap a{};
    a.domid = DOMID_SELF;
    a.space = XENMAPSPACE_shared_info;
    a.idx = 0;
    a.gpfn = 0x80;
    put(0, a);
    ASSERT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_add_to_physmap, 0}), 0);
    ASSERT_TRUE(d->shinfo());
    EXPECT_EQ(d->shared_info_gfn(), 0x80u);
    d->set_shinfo_compat(true);
    EXPECT_EQ(d->evtchns().max_ports(), 1024u);
    auto* page = reinterpret_cast<std::uint8_t*>(d->shinfo());
    evtchn::l2::deliver(*d, *d->vcpu(0), 40);
    // Port 40: bit 8 of the pending bitmap's second byte... in 32-bit words, word 1 bit 8.
    std::uint32_t word1;
    std::memcpy(&word1, page + KXEN_COMPAT_EVTCHN_PENDING_OFFSET + 4, 4);
    EXPECT_EQ(word1, 1u << 8);
    auto const* vi = reinterpret_cast<compat_vcpu_info_head const*>(page);
    EXPECT_EQ(vi->evtchn_pending_sel, 1u << 1);   // 32 ports per selector bit
    EXPECT_EQ(vi->evtchn_upcall_pending, 1);
    // Masked in the 32-bit mask bitmap: pending, but no new selector bit.
    page[KXEN_COMPAT_EVTCHN_MASK_OFFSET + 100 / 8] |= 1u << (100 % 8);
    evtchn::l2::deliver(*d, *d->vcpu(0), 100);
    EXPECT_TRUE(evtchn::l2::is_pending(*d, 100));
    EXPECT_EQ(vi->evtchn_pending_sel, 1u << 1);
    ASSERT_TRUE(evtchn::l2::unmask(*d, *d->vcpu(0), 100));
    EXPECT_EQ(vi->evtchn_pending_sel, (1u << 1) | (1u << 3));
}

TEST_F(Compat, GrantSetupTableListsFramesAs32BitNumbers) {
    compat_add_to_physmap a{};
    a.domid = DOMID_SELF;
    a.space = XENMAPSPACE_grant_table;
    a.idx = 0;
    a.gpfn = 0x90;
    put(0, a);
    ASSERT_EQ(guest32(__HYPERVISOR_memory_op, {XENMEM_add_to_physmap, 0}), 0);
    compat_gnttab_setup_table op{};
    op.dom = DOMID_SELF;
    op.nr_frames = 1;
    op.frame_list = 1024;
    put<std::uint64_t>(1024, ~0ull);
    put(0, op);
    ASSERT_EQ(guest32(__HYPERVISOR_grant_table_op, {GNTTABOP_setup_table, 0, 1}), 0);
    auto out = get<compat_gnttab_setup_table>(0);
    ASSERT_EQ(out.status, GNTST_okay);
    EXPECT_EQ(get<std::uint32_t>(1024), 0x90u);          // the frame, as 4 bytes
    EXPECT_EQ(get<std::uint32_t>(1028), 0xffffffffu);   // and not 8
    // Too many frames: an error status, and nothing allocated for them.
    op.nr_frames = 0xffffffffu;
    put(0, op);
    ASSERT_EQ(guest32(__HYPERVISOR_grant_table_op, {GNTTABOP_setup_table, 0, 1}), 0);
    EXPECT_EQ(get<compat_gnttab_setup_table>(0).status, GNTST_general_error);
}
