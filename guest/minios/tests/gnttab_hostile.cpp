// gnttab-hostile: grant-table operations a hostile guest might try. Each must fail (a
// negative hypercall result or a GNTST_* error status), none may hurt the hypervisor or
// us; PASS if all failed and we are still alive. Positive controls first and last (a
// local GNTTABOP_copy frame to frame, a grant to a non-existent domain and its end, a
// read-only grant to ourselves copied from through our own gref), so an op that fails
// for everything does not pass for the wrong reason. Keys: gnttab=v1|v2,
// verbose=1 (every op and its result).
#include <initializer_list>  // freestanding: range-for over {...}

#include "../boot_info.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../gnttab.hpp"
#include "../hypercall.hpp"
#include "../lib.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

alignas(4096) constinit uint8_t src_page[4096]{};
alignas(4096) constinit uint8_t dst_page[4096]{};

constexpr domid_t kNoSuchDomain = 0x7fe0;  // below DOMID_FIRST_RESERVED; nobody creates that many
constinit unsigned checks = 0;
constinit bool loud = false;
constinit long self = -1;            // our domid
constinit grant_ref_t self_ref = 0;  // a read-only grant of src_page to ourselves

uint64_t gfn_of(const void* p) { return uint64_t(p) >> 12; }

// A hypercall with a single status: must fail one way or the other.
void expect_error(const char* what, long rc, int16_t status = GNTST_okay) {
    ++checks;
    if (loud) console::println("gnttab-hostile: %s -> rc %ld, status %d (%s)", what, rc, status, gnttab::status_name(status));
    if (rc >= 0 && status == GNTST_okay) fail("%s succeeded (rc %ld, status okay)", what, rc);
    if (rc >= 0 && status == 1) fail("%s: rc %ld and the status was never written", what, rc);
}

void copy_must_fail(const char* what, gnttab_copy op) {
    op.status = 1;
    long rc = gnttab::copy(&op, 1);
    expect_error(what, rc, op.status);
}

gnttab_copy local_copy(uint16_t src_off, uint16_t dst_off, uint16_t len) {
    gnttab_copy op{};
    op.source.u.gmfn = gfn_of(src_page);
    op.source.domid = DOMID_SELF;
    op.source.offset = src_off;
    op.dest.u.gmfn = gfn_of(dst_page);
    op.dest.domid = DOMID_SELF;
    op.dest.offset = dst_off;
    op.len = len;
    op.flags = 0;
    op.status = 1;
    return op;
}

void positive_controls() {
    for (unsigned i = 0; i < 4096; ++i) src_page[i] = uint8_t(i * 13 + 1);
    gnttab_copy op = local_copy(100, 200, 1000);
    long rc = gnttab::copy(&op, 1);
    if (rc < 0 || op.status != GNTST_okay)
        fail("control: local frame-to-frame GNTTABOP_copy: rc %ld status %d (%s)", rc, op.status,
             gnttab::status_name(op.status));
    for (unsigned i = 0; i < 1000; ++i)
        if (dst_page[200 + i] != src_page[100 + i]) fail("control: local GNTTABOP_copy: byte %u differs", i);
    long ref = gnttab::grant_access(kNoSuchDomain, gfn_of(src_page), true);
    if (ref < 0) fail("control: grant_access: %ld", ref);
    if (long e = gnttab::end_access(grant_ref_t(ref)); e != 1) fail("control: end_access(%ld) = %ld", ref, e);
    // A grant to ourselves, used through our own gref: allowed, as in Xen.
    ref = gnttab::grant_access(domid_t(self), gfn_of(src_page), true);
    if (ref < 0) fail("control: grant_access(self): %ld", ref);
    for (unsigned i = 0; i < 64; ++i) dst_page[i] = 0;
    op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, grant_ref_t(ref), 64, 64, false);
    rc = gnttab::copy(&op, 1);
    if (rc < 0 || op.status != GNTST_okay)
        fail("control: copy from our own read-only grant to ourselves (d%ld): rc %ld status %d (%s)", self, rc,
             op.status, gnttab::status_name(op.status));
    for (unsigned i = 0; i < 64; ++i)
        if (dst_page[i] != src_page[64 + i]) fail("control: copy via our own gref: byte %u differs", i);
    self_ref = grant_ref_t(ref);  // copies() tries to write through it
}

void copies() {
    uint32_t const n = gnttab::nr_entries();
    gnttab_copy op;
    // Grant refs out of range, on both sides.
    for (uint32_t ref : {n, n + 100, 0x7fffffffu, 0xffffffffu}) {
        op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, ref, 0, 8, false);
        copy_must_fail("copy from our own gref out of range", op);
        op = gnttab::copy_op(gfn_of(src_page), 0, DOMID_SELF, ref, 0, 8, true);
        copy_must_fail("copy to our own gref out of range", op);
    }
    // Refs of domains that did not grant to us: a reserved ref and a never-used one of our
    // own table, ref 8 of a domain that does not exist, of DOMID_IO/XEN/INVALID.
    for (grant_ref_t ref : {0u, 1u, GNTTAB_NR_RESERVED_ENTRIES + 3u}) {
        op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, ref, 0, 8, false);
        copy_must_fail("copy from an ungranted gref of ours", op);
    }
    for (domid_t d : {kNoSuchDomain, domid_t(1234), domid_t(DOMID_IO), domid_t(DOMID_XEN), domid_t(DOMID_INVALID),
                      domid_t(DOMID_COW), domid_t(0xffff)}) {
        op = gnttab::copy_op(gfn_of(dst_page), 0, d, GNTTAB_NR_RESERVED_ENTRIES, 0, 8, false);
        copy_must_fail("copy from a gref of a domain that granted nothing", op);
        op = gnttab::copy_op(gfn_of(src_page), 0, d, GNTTAB_NR_RESERVED_ENTRIES, 0, 8, true);
        copy_must_fail("copy to a gref of a domain that granted nothing", op);
    }
    // A read-only grant, written through.
    op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, self_ref, 0, 8, true);
    copy_must_fail("copy into a read-only grant", op);
    op = gnttab::copy_op(gfn_of(dst_page), 0, domid_t(self), self_ref, 0, 8, true);
    copy_must_fail("copy into a read-only grant (by domid)", op);
    if (gnttab::flags(self_ref) & (GTF_reading | GTF_writing))
        fail("grant %u: flags 0x%x after the copies ended (GTF_reading/writing left set)", self_ref,
             gnttab::flags(self_ref));
    if (long e = gnttab::end_access(self_ref); e != 1) fail("end_access(%u) = %ld", self_ref, e);
    // Our own grant, made to someone else: not ours to use.
    long ref = gnttab::grant_access(kNoSuchDomain, gfn_of(src_page), false);
    if (ref < 0) fail("grant_access: %ld", ref);
    op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, grant_ref_t(ref), 0, 8, false);
    copy_must_fail("copy from our gref granted to another domain", op);
    op = gnttab::copy_op(gfn_of(src_page), 0, DOMID_SELF, grant_ref_t(ref), 0, 8, true);
    copy_must_fail("copy to our gref granted to another domain", op);
    if (long e = gnttab::end_access(grant_ref_t(ref)); e != 1)
        fail("end_access(%ld) after refused copies = %ld (flags 0x%x: GTF_reading/writing left set?)", ref, e,
             gnttab::flags(grant_ref_t(ref)));
    // A foreign frame number without a gref: only DOMID_SELF may name frames.
    op = local_copy(0, 0, 8);
    op.source.domid = kNoSuchDomain;
    copy_must_fail("copy from a frame of another domain", op);
    op = local_copy(0, 0, 8);
    op.dest.domid = domid_t(0);
    copy_must_fail("copy to a frame of dom0", op);
    // Lengths and offsets past the page.
    copy_must_fail("copy with src offset+len crossing the page end", local_copy(4000, 0, 200));
    copy_must_fail("copy with dst offset+len crossing the page end", local_copy(0, 4000, 200));
    copy_must_fail("copy with len 4097", local_copy(0, 0, 4097));
    copy_must_fail("copy with len 0xffff", local_copy(0, 0, 0xffff));
    copy_must_fail("copy with src offset 4096", local_copy(4096, 0, 1));
    copy_must_fail("copy with src offset 5000", local_copy(5000, 0, 1));
    copy_must_fail("copy with dst offset 0xffff", local_copy(0, 0xffff, 1));
    op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, GNTTAB_NR_RESERVED_ENTRIES, 4000, 200, false);
    copy_must_fail("copy from a gref with offset+len crossing the page end", op);
    op = gnttab::copy_op(gfn_of(dst_page), 0, DOMID_SELF, GNTTAB_NR_RESERVED_ENTRIES, 8000, 1, false);
    copy_must_fail("copy from a gref with offset 8000", op);
    // Frames that are not our RAM.
    uint64_t const beyond = (boot_info::info.ram_top >> 12) + 0x100000;
    op = local_copy(0, 0, 8);
    op.source.u.gmfn = beyond;
    copy_must_fail("copy from a gfn beyond RAM", op);
    op = local_copy(0, 0, 8);
    op.dest.u.gmfn = ~0ull;
    copy_must_fail("copy to gfn ~0", op);
    // A batch running off the end of RAM: the first op is bad, the rest are not there.
    uint64_t top = boot_info::info.ram_top;
    if (top >= (2u << 20) && top <= 0xfec00000) {
        auto* at_top = reinterpret_cast<gnttab_copy*>(top - sizeof(gnttab_copy));
        *at_top = local_copy(5000, 0, 1);
        long rc = gnttab::copy(at_top, 0x10000);
        expect_error("copy batch of 65536 ops running past the end of RAM", rc < 0 ? rc : 0, rc < 0 ? 0 : at_top->status);
    }
    // An op array that is not in RAM.
    expect_error("copy with the op array at 0xfff00000 (not RAM)",
                 gnttab::copy(reinterpret_cast<gnttab_copy*>(0xfff00000ull), 1));
}

void maps() {
    gnttab_map_grant_ref m{};
    m.host_addr = uint64_t(dst_page);
    m.flags = GNTMAP_host_map;
    m.ref = GNTTAB_NR_RESERVED_ENTRIES;
    m.dom = DOMID_SELF;
    m.status = 1;
    long rc = xen::grant_table_op(GNTTABOP_map_grant_ref, &m, 1);
    expect_error("GNTTABOP_map_grant_ref from a guest (our own ungranted ref)", rc, m.status);
    m = {};
    m.host_addr = uint64_t(dst_page);
    m.flags = GNTMAP_host_map | GNTMAP_readonly;
    m.ref = GNTTAB_NR_RESERVED_ENTRIES;
    m.dom = kNoSuchDomain;
    m.status = 1;
    rc = xen::grant_table_op(GNTTABOP_map_grant_ref, &m, 1);
    expect_error("GNTTABOP_map_grant_ref from a guest (no such domain)", rc, m.status);
    gnttab_unmap_grant_ref u{};
    u.host_addr = uint64_t(dst_page);
    u.handle = 0x1234;
    u.status = 1;
    rc = xen::grant_table_op(GNTTABOP_unmap_grant_ref, &u, 1);
    expect_error("GNTTABOP_unmap_grant_ref of a handle we never had", rc, u.status);
}

long add_frame(uint64_t idx, uint64_t gfn) {
    xen_add_to_physmap x{};
    x.domid = DOMID_SELF;
    x.space = XENMAPSPACE_grant_table;
    x.idx = idx;
    x.gpfn = gfn;
    return xen::memory_op(XENMEM_add_to_physmap, &x);
}

void tables() {
    unsigned const maxf = gnttab::max_frames();
    // Mapping frames over dst_page would be allowed for valid idx; these must all fail.
    expect_error("add_to_physmap grant_table idx = max_nr_frames", add_frame(maxf, gfn_of(dst_page)));
    expect_error("add_to_physmap grant_table idx = 1<<20", add_frame(1u << 20, gfn_of(dst_page)));
    expect_error("add_to_physmap grant_table idx = ~0 without the status bit", add_frame(~0ull & ~uint64_t(XENMAPIDX_grant_table_status), gfn_of(dst_page)));
    expect_error("add_to_physmap grant_table status idx = max_nr_frames",
                 add_frame(XENMAPIDX_grant_table_status | maxf, gfn_of(dst_page)));
    if (gnttab::version() == 1)
        expect_error("add_to_physmap grant_table status frame 0 with a v1 table",
                     add_frame(XENMAPIDX_grant_table_status | 0, gfn_of(dst_page)));
    expect_error("add_to_physmap grant_table frame 0 at gfn 1<<40", add_frame(0, 1ull << 40));
    expect_error("add_to_physmap grant_table frame 0 at gfn ~0", add_frame(0, ~0ull));

    xen_pfn_t list[4]{};
    gnttab_setup_table st{};
    st.dom = DOMID_SELF;
    st.nr_frames = 0x7fffffff;
    st.status = 1;
    set_xen_guest_handle(st.frame_list, list);
    long rc = xen::grant_table_op(GNTTABOP_setup_table, &st, 1);
    expect_error("setup_table nr_frames = 0x7fffffff", rc, st.status);
    st.nr_frames = maxf + 1;
    st.status = 1;
    rc = xen::grant_table_op(GNTTABOP_setup_table, &st, 1);
    expect_error("setup_table nr_frames = max_nr_frames + 1", rc, st.status);
    st.dom = kNoSuchDomain;
    st.nr_frames = 1;
    st.status = 1;
    rc = xen::grant_table_op(GNTTABOP_setup_table, &st, 1);
    expect_error("setup_table of another domain", rc, st.status);

    gnttab_query_size qs{};
    qs.dom = kNoSuchDomain;
    qs.status = 1;
    rc = xen::grant_table_op(GNTTABOP_query_size, &qs, 1);
    expect_error("query_size of another domain", rc, qs.status);

    for (uint32_t v : {0u, 3u, 0xffffffffu}) {
        gnttab_set_version sv{};
        sv.version = v;
        rc = xen::grant_table_op(GNTTABOP_set_version, &sv, 1);
        expect_error(v == 3 ? "set_version 3" : v == 0 ? "set_version 0" : "set_version 0xffffffff", rc);
    }
    gnttab_get_version gv{};
    gv.dom = DOMID_SELF;
    if (xen::grant_table_op(GNTTABOP_get_version, &gv, 1) < 0 || gv.version != gnttab::version())
        fail("grant table version changed to %u by the failed set_version calls", gv.version);
    gv.dom = kNoSuchDomain;
    expect_error("get_version of another domain", xen::grant_table_op(GNTTABOP_get_version, &gv, 1));

    uint64_t frames[4]{};
    gnttab_get_status_frames gs{};
    gs.nr_frames = 0x7fffffff;
    gs.dom = DOMID_SELF;
    gs.status = 1;
    set_xen_guest_handle(gs.frame_list, frames);
    rc = xen::grant_table_op(GNTTABOP_get_status_frames, &gs, 1);
    expect_error("get_status_frames nr_frames = 0x7fffffff", rc, gs.status);

    expect_error("GNTTABOP 99", xen::grant_table_op(99, &gv, 1));
    expect_error("GNTTABOP_transfer from an HVM guest", [] {
        gnttab_transfer t{};
        t.mfn = gfn_of(dst_page);
        t.domid = kNoSuchDomain;
        t.ref = GNTTAB_NR_RESERVED_ENTRIES;
        t.status = 1;
        long r = xen::grant_table_op(GNTTABOP_transfer, &t, 1);
        return r < 0 ? r : (t.status == GNTST_okay ? 0L : -1L);
    }());
}

}  // namespace

void gnttab_hostile() {
    need_xen();
    loud = verbose();
    setup_gnttab();
    self = evtchn::self_domid();
    if (self < 0) fail("own domid: %ld", self);
    console::println("gnttab-hostile: d%ld, grant table v%u, %u frame(s) of max %u, %u entries", self, gnttab::version(),
                     gnttab::nr_frames(), gnttab::max_frames(), gnttab::nr_entries());
    positive_controls();
    copies();
    maps();
    tables();
    // Still alive, and the table still works.
    positive_controls();
    if (long e = gnttab::end_access(self_ref); e != 1) fail("end_access(%u) = %ld", self_ref, e);
    console::println("gnttab-hostile: %u hostile operations, all refused", checks);
}

}  // namespace minios::tests
