#include "gnttab.hpp"

#include "console.hpp"
#include "hypercall.hpp"
#include "x86.hpp"

namespace minios::gnttab {
namespace {

constexpr unsigned kPerFrameV1 = 4096 / sizeof(grant_entry_v1_t);
constexpr unsigned kPerFrameV2 = 4096 / sizeof(grant_entry_v2_t);
constexpr unsigned kPerStatusFrame = 4096 / sizeof(grant_status_t);
constexpr unsigned kMaxEntries = kMaxFrames * kPerFrameV1;
constexpr unsigned kMaxStatusFrames = (kMaxFrames * kPerFrameV2 + kPerStatusFrame - 1) / kPerStatusFrame;

// Pages of our RAM that become the grant frames (XENMEM_add_to_physmap replaces them).
alignas(4096) constinit uint8_t shared_pages[kMaxFrames][4096]{};
alignas(4096) constinit uint8_t status_pages[kMaxStatusFrames][4096]{};

constinit unsigned ver = 0;  // 0: not initialised
constinit unsigned frames = 0;
constinit unsigned max_nr = 0;
constinit uint32_t entries = 0;
constinit bool used[kMaxEntries]{};
// Where the search for a free entry starts: after the one taken last, so that a frontend
// holding thousands of grants does not rescan them all for each new one.
constinit grant_ref_t next_free = GNTTAB_NR_RESERVED_ENTRIES;
constinit uint64_t generation_ = 0;
constinit const char* error = "";

uint64_t gfn_of(const void* p) { return uint64_t(p) >> 12; }

volatile grant_entry_v1_t* v1() { return reinterpret_cast<volatile grant_entry_v1_t*>(shared_pages); }
volatile grant_entry_v2_t* v2() { return reinterpret_cast<volatile grant_entry_v2_t*>(shared_pages); }
volatile grant_status_t* status() { return reinterpret_cast<volatile grant_status_t*>(status_pages); }

long fail(const char* what, long rc) {
    error = what;
    return rc;
}

long map(uint64_t idx, uint64_t gfn) {
    xen_add_to_physmap xatp{};
    xatp.domid = DOMID_SELF;
    xatp.space = XENMAPSPACE_grant_table;
    xatp.idx = idx;
    xatp.gpfn = gfn;
    return xen::memory_op(XENMEM_add_to_physmap, &xatp);
}

}  // namespace

long init(unsigned version, unsigned nr_frames_wanted) {
    if (version != 1 && version != 2) return fail("version must be 1 or 2", -XEN_EINVAL);
    gnttab_query_size qs{};
    qs.dom = DOMID_SELF;
    long rc = xen::grant_table_op(GNTTABOP_query_size, &qs, 1);
    if (rc < 0) return fail("GNTTABOP_query_size", rc);
    if (qs.status != GNTST_okay) return fail("GNTTABOP_query_size status", -XEN_EIO);
    max_nr = qs.max_nr_frames;

    gnttab_get_version gv{};
    gv.dom = DOMID_SELF;
    rc = xen::grant_table_op(GNTTABOP_get_version, &gv, 1);
    if (rc < 0) return fail("GNTTABOP_get_version", rc);
    if (gv.version != version) {
        gnttab_set_version sv{};
        sv.version = version;
        rc = xen::grant_table_op(GNTTABOP_set_version, &sv, 1);
        if (rc < 0) return fail("GNTTABOP_set_version", rc);
        if (sv.version != version) return fail("GNTTABOP_set_version left another version", -XEN_EIO);
        gv.version = 0;
        rc = xen::grant_table_op(GNTTABOP_get_version, &gv, 1);
        if (rc < 0 || gv.version != version) return fail("GNTTABOP_get_version after set_version", rc < 0 ? rc : -XEN_EIO);
    }

    unsigned nr = nr_frames_wanted ? nr_frames_wanted : 1;
    if (nr > kMaxFrames) nr = kMaxFrames;
    if (max_nr && nr > max_nr) nr = max_nr;
    for (unsigned i = 0; i < nr; ++i)
        if ((rc = map(i, gfn_of(shared_pages[i]))) < 0) return fail("XENMEM_add_to_physmap(grant_table)", rc);
    uint32_t n = nr * (version == 1 ? kPerFrameV1 : kPerFrameV2);

    if (version == 2) {
        unsigned ns = (n + kPerStatusFrame - 1) / kPerStatusFrame;
        for (unsigned i = 0; i < ns; ++i)
            if ((rc = map(i | XENMAPIDX_grant_table_status, gfn_of(status_pages[i]))) < 0)
                return fail("XENMEM_add_to_physmap(grant_table status)", rc);
        uint64_t list[kMaxStatusFrames]{};
        gnttab_get_status_frames gs{};
        gs.nr_frames = ns;
        gs.dom = DOMID_SELF;
        set_xen_guest_handle(gs.frame_list, list);
        rc = xen::grant_table_op(GNTTABOP_get_status_frames, &gs, 1);
        if (rc < 0) return fail("GNTTABOP_get_status_frames", rc);
        if (gs.status != GNTST_okay) return fail("GNTTABOP_get_status_frames status", -XEN_EIO);
        for (unsigned i = 0; i < ns; ++i)
            if (list[i] != gfn_of(status_pages[i]))
                console::println("gnttab: warning: get_status_frames[%u] = 0x%lx, mapped at gfn 0x%lx", i, list[i],
                                 gfn_of(status_pages[i]));
    }

    // For an HVM guest, setup_table reports the gfns the frames sit at.
    xen_pfn_t list[kMaxFrames]{};
    gnttab_setup_table st{};
    st.dom = DOMID_SELF;
    st.nr_frames = nr;
    set_xen_guest_handle(st.frame_list, list);
    rc = xen::grant_table_op(GNTTABOP_setup_table, &st, 1);
    if (rc < 0) return fail("GNTTABOP_setup_table", rc);
    if (st.status != GNTST_okay) return fail("GNTTABOP_setup_table status", -XEN_EIO);
    for (unsigned i = 0; i < nr; ++i)
        if (list[i] != gfn_of(shared_pages[i]))
            console::println("gnttab: warning: setup_table frame %u = 0x%lx, mapped at gfn 0x%lx", i, uint64_t(list[i]),
                             gfn_of(shared_pages[i]));

    ver = version;
    frames = nr;
    entries = n;
    return 0;
}

long resume() {
    if (!ver) return 0;
    unsigned version = ver, nr = frames;
    ver = 0;
    ++generation_;
    next_free = GNTTAB_NR_RESERVED_ENTRIES;
    for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < entries; ++ref) {
        if (!used[ref]) continue;
        used[ref] = false;
        if (version == 1) v1()[ref].flags = 0;
        else v2()[ref].hdr.flags = 0;
    }
    return init(version, nr);
}

const char* last_error() { return error; }
uint64_t generation() { return generation_; }
bool ready() { return ver != 0; }
unsigned version() { return ver; }
unsigned nr_frames() { return frames; }
unsigned max_frames() { return max_nr; }
uint32_t nr_entries() { return entries; }
uint64_t frame_gfn(unsigned i) { return i < kMaxFrames ? gfn_of(shared_pages[i]) : 0; }

long grant_access(domid_t dom, uint64_t gfn, bool readonly) {
    if (!ver) return -XEN_EINVAL;
    if (next_free < GNTTAB_NR_RESERVED_ENTRIES || next_free >= entries) next_free = GNTTAB_NR_RESERVED_ENTRIES;
    grant_ref_t ref = next_free;
    for (uint32_t n = entries - GNTTAB_NR_RESERVED_ENTRIES; used[ref]; ) {
        if (--n == 0) return -XEN_ENOSPC;
        if (++ref >= entries) ref = GNTTAB_NR_RESERVED_ENTRIES;
    }
    used[ref] = true;
    next_free = grant_ref_t(ref + 1);
    uint16_t fl = uint16_t(GTF_permit_access | (readonly ? GTF_readonly : 0));
    if (ver == 1) {
        volatile grant_entry_v1_t& e = v1()[ref];
        e.domid = dom;
        e.frame = uint32_t(gfn);
        x86::barrier();  // x86 keeps stores in order: the header's wmb() is a compiler barrier
        e.flags = fl;
    } else {
        volatile grant_entry_v2_t& e = v2()[ref];
        e.full_page.frame = gfn;
        e.hdr.domid = dom;
        x86::barrier();
        e.hdr.flags = fl;
    }
    return long(ref);
}

long end_access(grant_ref_t ref) {
    if (!ver || ref >= entries || !used[ref]) return -XEN_EINVAL;
    if (ver == 1) {
        volatile uint16_t* p = &v1()[ref].flags;
        uint16_t f = __atomic_load_n(p, __ATOMIC_SEQ_CST);
        do {
            if (f & (GTF_reading | GTF_writing)) return 0;
        } while (!__atomic_compare_exchange_n(p, &f, uint16_t{0}, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    } else {
        v2()[ref].hdr.flags = 0;
        x86::mb();  // Xen may be acquiring it right now: order our clear before the status read
        if (status()[ref] & (GTF_reading | GTF_writing)) return 0;
    }
    used[ref] = false;
    return 1;
}

uint16_t flags(grant_ref_t ref) {
    if (!ver || ref >= entries) return 0;
    if (ver == 1) return v1()[ref].flags;
    return uint16_t(v2()[ref].hdr.flags | status()[ref]);
}

long copy(gnttab_copy* ops, unsigned count) { return xen::grant_table_op(GNTTABOP_copy, ops, count); }

gnttab_copy copy_op(uint64_t gfn, uint16_t off, domid_t dom, grant_ref_t ref, uint16_t ref_off, uint16_t len,
                    bool to_ref) {
    gnttab_copy op{};
    auto& local = to_ref ? op.source : op.dest;
    auto& remote = to_ref ? op.dest : op.source;
    local.u.gmfn = gfn;
    local.domid = DOMID_SELF;
    local.offset = off;
    remote.u.ref = ref;
    remote.domid = dom;
    remote.offset = ref_off;
    op.len = len;
    op.flags = to_ref ? GNTCOPY_dest_gref : GNTCOPY_source_gref;
    op.status = 1;  // not a GNTST_* value: shows whether Xen wrote it
    return op;
}

const char* status_name(int16_t st) {
    static const char* const names[] = GNTTABOP_error_msgs;
    if (st == 1) return "unwritten";
    if (st > 0 || -st >= int(sizeof(names) / sizeof(names[0]))) return "?";
    return names[-st];
}

}  // namespace minios::gnttab
