/* The structures a 32-bit x86 guest passes to Xen, where their layout differs from the 64-bit
 * one kxend's handlers use: Xen's x86_32 ABI (xen-x86_32.h), in which guest handles,
 * xen_pfn_t and xen_ulong_t are 4 bytes and a uint64_t member is only 4-byte aligned.
 * Xen's compat layer (xen/include/compat, generated from the public headers) has the same
 * layouts. Plain C, so tests/compat/layout_check.c can compile it with -m32 beside Xen's
 * own headers and compare every offset and size. */
#ifndef KXEN_HV_COMPAT_LAYOUT_H
#define KXEN_HV_COMPAT_LAYOUT_H
#include <stdint.h>

typedef uint64_t compat_u64 __attribute__((aligned(4)));
typedef uint32_t compat_handle;   /* XEN_GUEST_HANDLE(x) */
typedef uint32_t compat_pfn;      /* xen_pfn_t */
typedef uint32_t compat_ulong;    /* xen_ulong_t, unsigned long */

/* memory.h */
struct compat_memory_reservation {
    compat_handle extent_start;
    compat_ulong nr_extents;
    uint32_t extent_order;
    uint32_t mem_flags;
    uint16_t domid;
};
struct compat_add_to_physmap {
    uint16_t domid;
    uint16_t size;
    uint32_t space;
    compat_ulong idx;
    compat_pfn gpfn;
};
struct compat_memory_map {
    uint32_t nr_entries;
    compat_handle buffer;
};

/* grant_table.h */
struct compat_gnttab_setup_table {
    uint16_t dom;
    uint32_t nr_frames;
    int16_t status;
    compat_handle frame_list;   /* xen_pfn_t[] */
};
struct compat_gnttab_get_status_frames {
    uint32_t nr_frames;
    uint16_t dom;
    int16_t status;
    compat_handle frame_list;   /* uint64_t[] */
};
struct compat_gnttab_copy_ptr {
    union {
        uint32_t ref;
        compat_pfn gmfn;
    } u;
    uint16_t domid;
    uint16_t offset;
};
struct compat_gnttab_copy {
    struct compat_gnttab_copy_ptr source, dest;
    uint16_t len;
    uint16_t flags;
    int16_t status;
};

/* sched.h */
struct compat_sched_poll {
    compat_handle ports;
    uint32_t nr_ports;
    compat_u64 timeout;
};

/* vcpu.h */
struct compat_vcpu_runstate_info {
    int32_t state;
    compat_u64 state_entry_time;
    compat_u64 time[4];
};
struct compat_vcpu_set_singleshot_timer {
    compat_u64 timeout_abs_ns;
    uint32_t flags;
};

/* version.h */
struct compat_platform_parameters {
    compat_ulong virt_start;
};

/* xen.h: the start of vcpu_info and shared_info, as far as event delivery reads them.
 * Bitmaps are arrays of 32-bit words, so 1024 ports, not 4096. */
struct compat_vcpu_info_head {
    uint8_t evtchn_upcall_pending;
    uint8_t evtchn_upcall_mask;
    compat_ulong evtchn_pending_sel;
};
#define KXEN_COMPAT_VCPU_INFO_SIZE 64
#define KXEN_COMPAT_LEGACY_MAX_VCPUS 32
#define KXEN_COMPAT_NR_EVTCHN_2L (32 * 32)
#define KXEN_COMPAT_EVTCHN_PENDING_OFFSET (KXEN_COMPAT_VCPU_INFO_SIZE * KXEN_COMPAT_LEGACY_MAX_VCPUS)
#define KXEN_COMPAT_EVTCHN_MASK_OFFSET (KXEN_COMPAT_EVTCHN_PENDING_OFFSET + 32 * 4)

/* Xen's __HYPERVISOR_COMPAT_VIRT_START: what XENVER_platform_parameters tells a 32-bit guest. */
#define KXEN_COMPAT_VIRT_START 0xF5800000u

#endif
