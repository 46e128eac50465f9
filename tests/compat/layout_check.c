/* Compiled for i386 (-m32): kxend's 32-bit guest layouts (src/hv/compat/layout.h) against Xen's
 * public headers built for x86_32, which are what a 32-bit guest was compiled with. Every
 * offset and size must match; a difference fails the compile, and so the test. */
/* As kxend and the guests it runs: the latest interface version (xen-compat.h). */
#define __XEN_TOOLS__ 1
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/grant_table.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/io/blkif.h>
#include "hv/compat/layout.h"
#include "backends/blk/blkif_x86_32.h"

#if !defined(__i386__)
#error "build with -m32: this compares against Xen's x86_32 layouts"
#endif

#define SAME_SIZE(ours, xens) _Static_assert(sizeof(struct ours) == sizeof(struct xens), #ours " size")
#define SAME(ours, xens, field)                                                                   \
    _Static_assert(offsetof(struct ours, field) == offsetof(struct xens, field),                 \
                   #ours "." #field " offset");                                                  \
    _Static_assert(sizeof(((struct ours*)0)->field) == sizeof(((struct xens*)0)->field),         \
                   #ours "." #field " size")

SAME_SIZE(compat_memory_reservation, xen_memory_reservation);
SAME(compat_memory_reservation, xen_memory_reservation, extent_start);
SAME(compat_memory_reservation, xen_memory_reservation, nr_extents);
SAME(compat_memory_reservation, xen_memory_reservation, extent_order);
SAME(compat_memory_reservation, xen_memory_reservation, mem_flags);
SAME(compat_memory_reservation, xen_memory_reservation, domid);
_Static_assert(sizeof(xen_pfn_t) == sizeof(compat_pfn), "xen_pfn_t");
_Static_assert(sizeof(xen_ulong_t) == sizeof(compat_ulong), "xen_ulong_t");

SAME_SIZE(compat_add_to_physmap, xen_add_to_physmap);
SAME(compat_add_to_physmap, xen_add_to_physmap, domid);
SAME(compat_add_to_physmap, xen_add_to_physmap, size);
SAME(compat_add_to_physmap, xen_add_to_physmap, space);
SAME(compat_add_to_physmap, xen_add_to_physmap, idx);
SAME(compat_add_to_physmap, xen_add_to_physmap, gpfn);

SAME_SIZE(compat_memory_map, xen_memory_map);
SAME(compat_memory_map, xen_memory_map, nr_entries);
SAME(compat_memory_map, xen_memory_map, buffer);

SAME_SIZE(compat_gnttab_setup_table, gnttab_setup_table);
SAME(compat_gnttab_setup_table, gnttab_setup_table, dom);
SAME(compat_gnttab_setup_table, gnttab_setup_table, nr_frames);
SAME(compat_gnttab_setup_table, gnttab_setup_table, status);
SAME(compat_gnttab_setup_table, gnttab_setup_table, frame_list);

SAME_SIZE(compat_gnttab_get_status_frames, gnttab_get_status_frames);
SAME(compat_gnttab_get_status_frames, gnttab_get_status_frames, nr_frames);
SAME(compat_gnttab_get_status_frames, gnttab_get_status_frames, dom);
SAME(compat_gnttab_get_status_frames, gnttab_get_status_frames, status);
SAME(compat_gnttab_get_status_frames, gnttab_get_status_frames, frame_list);

SAME_SIZE(compat_gnttab_copy, gnttab_copy);
SAME(compat_gnttab_copy, gnttab_copy, source.u.ref);
SAME(compat_gnttab_copy, gnttab_copy, source.u.gmfn);
SAME(compat_gnttab_copy, gnttab_copy, source.domid);
SAME(compat_gnttab_copy, gnttab_copy, source.offset);
SAME(compat_gnttab_copy, gnttab_copy, dest.u.gmfn);
SAME(compat_gnttab_copy, gnttab_copy, dest.domid);
SAME(compat_gnttab_copy, gnttab_copy, dest.offset);
SAME(compat_gnttab_copy, gnttab_copy, len);
SAME(compat_gnttab_copy, gnttab_copy, flags);
SAME(compat_gnttab_copy, gnttab_copy, status);

SAME_SIZE(compat_sched_poll, sched_poll);
SAME(compat_sched_poll, sched_poll, ports);
SAME(compat_sched_poll, sched_poll, nr_ports);
SAME(compat_sched_poll, sched_poll, timeout);

SAME_SIZE(compat_vcpu_runstate_info, vcpu_runstate_info);
SAME(compat_vcpu_runstate_info, vcpu_runstate_info, state);
SAME(compat_vcpu_runstate_info, vcpu_runstate_info, state_entry_time);
SAME(compat_vcpu_runstate_info, vcpu_runstate_info, time);

SAME_SIZE(compat_vcpu_set_singleshot_timer, vcpu_set_singleshot_timer);
SAME(compat_vcpu_set_singleshot_timer, vcpu_set_singleshot_timer, timeout_abs_ns);
SAME(compat_vcpu_set_singleshot_timer, vcpu_set_singleshot_timer, flags);

SAME_SIZE(compat_platform_parameters, xen_platform_parameters);
SAME(compat_platform_parameters, xen_platform_parameters, virt_start);
_Static_assert(KXEN_COMPAT_VIRT_START == __HYPERVISOR_VIRT_START_PAE, "HYPERVISOR_VIRT_START");

SAME(compat_vcpu_info_head, vcpu_info, evtchn_upcall_pending);
SAME(compat_vcpu_info_head, vcpu_info, evtchn_upcall_mask);
SAME(compat_vcpu_info_head, vcpu_info, evtchn_pending_sel);
_Static_assert(sizeof(struct vcpu_info) == KXEN_COMPAT_VCPU_INFO_SIZE, "vcpu_info size");
_Static_assert(XEN_LEGACY_MAX_VCPUS == KXEN_COMPAT_LEGACY_MAX_VCPUS, "XEN_LEGACY_MAX_VCPUS");
_Static_assert(offsetof(struct shared_info, evtchn_pending) == KXEN_COMPAT_EVTCHN_PENDING_OFFSET, "evtchn_pending");
_Static_assert(offsetof(struct shared_info, evtchn_mask) == KXEN_COMPAT_EVTCHN_MASK_OFFSET, "evtchn_mask");
_Static_assert(sizeof(((struct shared_info*)0)->evtchn_pending) * 8 == KXEN_COMPAT_NR_EVTCHN_2L, "2-level ports");
_Static_assert(offsetof(struct vcpu_info, time) == 32, "vcpu_time_info at the same offset as x86_64");

/* io/blkif.h as a 32-bit frontend builds it (protocol "x86_32-abi"). */
SAME_SIZE(blkif_x86_32_request, blkif_request);
SAME(blkif_x86_32_request, blkif_request, operation);
SAME(blkif_x86_32_request, blkif_request, nr_segments);
SAME(blkif_x86_32_request, blkif_request, handle);
SAME(blkif_x86_32_request, blkif_request, id);
SAME(blkif_x86_32_request, blkif_request, sector_number);
SAME(blkif_x86_32_request, blkif_request, seg);
SAME(blkif_x86_32_request, blkif_request, seg[1].gref);
SAME(blkif_x86_32_request, blkif_request, seg[1].first_sect);
SAME(blkif_x86_32_request, blkif_request, seg[1].last_sect);
SAME_SIZE(blkif_x86_32_request_discard, blkif_request_discard);
SAME(blkif_x86_32_request_discard, blkif_request_discard, id);
SAME(blkif_x86_32_request_discard, blkif_request_discard, sector_number);
SAME(blkif_x86_32_request_discard, blkif_request_discard, nr_sectors);
SAME_SIZE(blkif_x86_32_request_indirect, blkif_request_indirect);
SAME(blkif_x86_32_request_indirect, blkif_request_indirect, indirect_op);
SAME(blkif_x86_32_request_indirect, blkif_request_indirect, nr_segments);
SAME(blkif_x86_32_request_indirect, blkif_request_indirect, id);
SAME(blkif_x86_32_request_indirect, blkif_request_indirect, sector_number);
SAME(blkif_x86_32_request_indirect, blkif_request_indirect, handle);
SAME(blkif_x86_32_request_indirect, blkif_request_indirect, indirect_grefs);
SAME_SIZE(blkif_x86_32_response, blkif_response);
SAME(blkif_x86_32_response, blkif_response, id);
SAME(blkif_x86_32_response, blkif_response, operation);
SAME(blkif_x86_32_response, blkif_response, status);
_Static_assert(sizeof(union blkif_sring_entry) == 108, "ring entry");
