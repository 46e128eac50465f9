// minios::gnttab: our grant table (public/grant_table.h), v1 or v2, as an HVM/PVH guest
// keeps it: GNTTABOP_set_version first, then each shared frame (and, for v2, status frame)
// placed in our physmap with XENMEM_add_to_physmap(XENMAPSPACE_grant_table) over a page of
// our own BSS, the way shared_info is. Entries are written in ring 3, where the frames
// are ordinary memory.
//
// Granting follows the header's protocol: fill domid and frame, then (after a barrier)
// flags. Ending follows Linux's gnttab_end_foreign_access_ref: v1 clears flags with
// cmpxchg unless GTF_reading/GTF_writing are set; v2 clears flags, then checks the
// status word.
#pragma once
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::gnttab {

constexpr unsigned kMaxFrames = 4;  // shared frames minios maps at most

// GNTTABOP_query_size / set_version / add_to_physmap / get_status_frames / setup_table.
// 0, or < 0: a Xen errno (or -XEN_EIO for a GNTST_* status; last_error() says which step).
long init(unsigned version, unsigned nr_frames = 1);
const char* last_error();
// In a new domain after a resume: the same version and frames again. The grants we made
// were to domains of the old host; they are dropped (refs free, entries cleared), as the
// frontends that made them would grant again. Nothing to do if init() never ran.
long resume();
// How many times resume() dropped every grant: refs noted before a change are no longer ours.
uint64_t generation();
bool ready();
unsigned version();
unsigned nr_frames();
unsigned max_frames();  // GNTTABOP_query_size's max_nr_frames
uint32_t nr_entries();
uint64_t frame_gfn(unsigned i);

// GTF_permit_access (| GTF_readonly) of our page `gfn` to `dom`: the ref, or < 0.
long grant_access(domid_t dom, uint64_t gfn, bool readonly);
// 1: the grant is gone (the ref is free again); 0: the peer still uses it (Xen has
// GTF_reading/GTF_writing set), try again later; < 0: not a ref we granted.
long end_access(grant_ref_t ref);
// The entry's flags as Xen sees them (v2: header flags | status bits).
uint16_t flags(grant_ref_t ref);

// GNTTABOP_copy: the hypercall's result; each op's status is in ops[i].status.
long copy(gnttab_copy* ops, unsigned count);
// One op between our page (gfn, offset) and (dom, ref, offset); to_ref: direction.
gnttab_copy copy_op(uint64_t gfn, uint16_t off, domid_t dom, grant_ref_t ref, uint16_t ref_off, uint16_t len,
                    bool to_ref);

const char* status_name(int16_t st);

}  // namespace minios::gnttab
