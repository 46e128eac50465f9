// dom0's side of event channels and grants, driven through privcmd against a real kxend and a
// real (paused) domain: binding, eventfd delivery, grant map/unmap/copy and their checks.
#include <gtest/gtest.h>
#include <poll.h>
#include <cstring>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include "host.hpp"
#include "privcmd/client.hpp"

using kxen::test::Host;
using namespace kxen;

namespace {

bool readable(int fd, int ms = 1000) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
}

struct Dom0 : ::testing::Test {
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        ASSERT_TRUE(h.started());
        auto cl = privcmd::Client::connect(h.socket());
        ASSERT_TRUE(cl) << cl.error().message();
        c.emplace(std::move(*cl));
        xen_domain_handle_t uuid{};
        auto d = c->create_domain(uuid, 1);
        ASSERT_TRUE(d);
        domid = *d;
        ASSERT_TRUE(c->max_mem(domid, 4096));
        ASSERT_TRUE(c->populate_physmap(domid, 0, 256));   // 1 MiB, never run: we only poke it
    }
    // Put grant frame 0 of the domain at `gfn`, as its guest would with add_to_physmap.
    void map_grant_frame(std::uint64_t gfn) {
        auto& buf = *c;
        xen_add_to_physmap_t x{};
        x.domid = domid;
        x.space = XENMAPSPACE_grant_table;
        x.idx = 0;
        x.gpfn = gfn;
        ASSERT_EQ(hypercall_with(buf, __HYPERVISOR_memory_op, XENMEM_add_to_physmap, x), 0);
    }
    template <typename T> long hypercall_with(privcmd::Client& cl, std::uint64_t nr, std::uint64_t cmd, T& arg) {
        return cl.raw_struct_call(nr, cmd, &arg, sizeof arg);
    }
    void write_grant_v1(std::uint64_t frame_gfn, std::uint32_t ref, std::uint16_t flags, std::uint16_t to,
                        std::uint32_t gfn) {
        auto m = c->map_foreign(domid, frame_gfn, 1);
        ASSERT_TRUE(m);
        grant_entry_v1_t e{flags, to, gfn};
        std::memcpy(m->map.data() + ref * sizeof e, &e, sizeof e);
    }
    std::uint16_t read_flags(std::uint64_t frame_gfn, std::uint32_t ref) {
        auto m = c->map_foreign(domid, frame_gfn, 1);
        grant_entry_v1_t e;
        std::memcpy(&e, m->map.data() + ref * sizeof e, sizeof e);
        return e.flags;
    }
    Host h;
    std::optional<privcmd::Client> c;
    std::uint16_t domid = 0;
};

} // namespace

TEST_F(Dom0, BindInterdomainDeliversThroughEventfd) {
    // The toolstack's way: a port in the guest, offered to dom0; dom0 binds to it.
    evtchn_alloc_unbound_t a{};
    a.dom = domid;
    a.remote_dom = 0;
    ASSERT_EQ(hypercall_with(*c, __HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, a), 0);
    auto b = c->evtchn_bind_interdomain(domid, a.port);
    ASSERT_TRUE(b);
    // Xen sets the new local port pending on bind.
    EXPECT_TRUE(readable(b->fd.raw()));
    std::uint64_t n;
    ASSERT_EQ(::read(b->fd.raw(), &n, sizeof n), 8);
    EXPECT_FALSE(readable(b->fd.raw(), 50));
    // A second bind to the same port is refused; so is a port never offered.
    EXPECT_FALSE(c->evtchn_bind_interdomain(domid, a.port));
    EXPECT_FALSE(c->evtchn_bind_interdomain(domid, 4000));
    EXPECT_FALSE(c->evtchn_notify(9999));
    EXPECT_TRUE(c->evtchn_notify(b->port));
    EXPECT_TRUE(c->evtchn_unbind(b->port));
    EXPECT_FALSE(c->evtchn_unbind(b->port));
    // The guest's end went back to unbound: dom0 may bind it again.
    EXPECT_TRUE(c->evtchn_bind_interdomain(domid, a.port));
}

TEST_F(Dom0, GrantMapChecksTheEntryAndTracksUse) {
    constexpr std::uint64_t frame = 0x80, page = 0x20;
    map_grant_frame(frame);
    write_grant_v1(frame, 5, GTF_permit_access, 0, page);
    write_grant_v1(frame, 6, GTF_permit_access | GTF_readonly, 0, page);
    write_grant_v1(frame, 7, GTF_permit_access, 3, page);   // granted to domain 3, not dom0

    auto m = c->gnttab_map(domid, 5, false);
    ASSERT_TRUE(m);
    EXPECT_EQ(read_flags(frame, 5) & (GTF_reading | GTF_writing), GTF_reading | GTF_writing);
    std::memcpy(m->page.data(), "hello", 5);
    auto g = c->map_foreign(domid, page, 1);
    ASSERT_TRUE(g);
    EXPECT_EQ(std::memcmp(g->map.data(), "hello", 5), 0);

    EXPECT_EQ(c->gnttab_map(domid, 6, false).error(), GNTST_permission_denied);   // read-only grant
    EXPECT_TRUE(c->gnttab_map(domid, 6, true));
    EXPECT_EQ(c->gnttab_map(domid, 7, true).error(), GNTST_permission_denied);    // not ours
    EXPECT_EQ(c->gnttab_map(domid, 100000, true).error(), GNTST_bad_gntref);      // out of range
    EXPECT_EQ(c->gnttab_map(domid, 8, true).error(), GNTST_permission_denied);    // empty entry

    EXPECT_TRUE(c->gnttab_unmap(m->handle));
    EXPECT_EQ(read_flags(frame, 5) & (GTF_reading | GTF_writing), 0);
    EXPECT_FALSE(c->gnttab_unmap(m->handle));   // double unmap
    EXPECT_FALSE(c->gnttab_unmap(123456));
}

TEST_F(Dom0, MappedPagesOfADestroyedDomainStayValid) {
    constexpr std::uint64_t frame = 0x80, page = 0x21;
    map_grant_frame(frame);
    write_grant_v1(frame, 1, GTF_permit_access, 0, page);
    auto m = c->gnttab_map(domid, 1, false);
    ASSERT_TRUE(m);
    std::memcpy(m->page.data(), "keep", 4);
    ASSERT_TRUE(c->destroy_domain(domid));
    // Another domain now takes memory from the pool; it must not get the mapped page.
    xen_domain_handle_t uuid{};
    auto d2 = c->create_domain(uuid, 1);
    ASSERT_TRUE(d2);
    ASSERT_TRUE(c->max_mem(*d2, 4096));
    ASSERT_TRUE(c->populate_physmap(*d2, 0, 256));
    EXPECT_EQ(std::memcmp(m->page.data(), "keep", 4), 0);
    EXPECT_TRUE(c->gnttab_unmap(m->handle));
}

TEST_F(Dom0, GrantCopyIntoAGrantedPage) {
    constexpr std::uint64_t frame = 0x80, page = 0x22;
    map_grant_frame(frame);
    write_grant_v1(frame, 2, GTF_permit_access, 0, page);
    write_grant_v1(frame, 3, GTF_permit_access | GTF_readonly, 0, page);
    // dom0's "frames" are pages of its privcmd buffer; stage the source bytes there.
    auto st = c->grant_copy_to(domid, 2, 100, "copied!", 7);
    EXPECT_EQ(st, GNTST_okay);
    auto g = c->map_foreign(domid, page, 1);
    EXPECT_EQ(std::memcmp(g->map.data() + 100, "copied!", 7), 0);
    EXPECT_EQ(c->grant_copy_to(domid, 3, 0, "x", 1), GNTST_permission_denied);   // read-only
    EXPECT_EQ(c->grant_copy_to(domid, 2, 4090, "0123456789", 10), GNTST_bad_copy_arg);
    EXPECT_EQ(c->grant_copy_to(domid, 99999, 0, "x", 1), GNTST_bad_gntref);
    EXPECT_EQ(read_flags(frame, 2) & (GTF_reading | GTF_writing), 0);   // released after the copy
}
