/* io/blkif.h as a 32-bit x86 frontend lays it out (its "x86_32-abi" protocol): a uint64_t
 * member is only 4-byte aligned, so id, sector_number and everything after them sit 4 bytes
 * earlier than in the native (x86_64) structures, and ring entries are 108 bytes, not 112.
 * Xen's backends carry the same definitions (blkif_x86_32_request in Linux and QEMU).
 * Plain C, so tests/compat/layout_check.c compares it with io/blkif.h built with -m32. */
#ifndef KXEN_BACKENDS_BLKIF_X86_32_H
#define KXEN_BACKENDS_BLKIF_X86_32_H
#include <stdint.h>

typedef uint64_t blkif_x86_32_u64 __attribute__((aligned(4)));

struct blkif_x86_32_request_segment {
    uint32_t gref;
    uint8_t first_sect, last_sect;
};
struct blkif_x86_32_request {
    uint8_t operation;
    uint8_t nr_segments;
    uint16_t handle;
    blkif_x86_32_u64 id;
    blkif_x86_32_u64 sector_number;
    struct blkif_x86_32_request_segment seg[11];
};
struct blkif_x86_32_request_discard {
    uint8_t operation;
    uint8_t flag;
    uint16_t handle;
    blkif_x86_32_u64 id;
    blkif_x86_32_u64 sector_number;
    blkif_x86_32_u64 nr_sectors;
};
struct blkif_x86_32_request_indirect {
    uint8_t operation;
    uint8_t indirect_op;
    uint16_t nr_segments;
    blkif_x86_32_u64 id;
    blkif_x86_32_u64 sector_number;
    uint16_t handle;
    uint16_t _pad2;
    uint32_t indirect_grefs[8];
    blkif_x86_32_u64 _pad3;
};
struct blkif_x86_32_response {
    blkif_x86_32_u64 id;
    uint8_t operation;
    int16_t status;
};

#endif
