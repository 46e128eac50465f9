/*
 * Xen ELF notes. PHYS32_ENTRY is what makes this a PVH kernel for both Xen-style
 * loaders and QEMU's -kernel. The descriptor is a .quad like Linux's, since QEMU
 * reads 8 bytes. Keep the section 4-byte aligned: QEMU pads note names to the
 * PT_NOTE alignment, and 4 is what every producer uses.
 */
#include <xen/elfnote.h>

.macro XEN_NOTE_HEAD type:req
    .p2align 2
    .long 2f - 1f
    .long 4f - 3f
    .long \type
1:  .asciz "Xen"
2:  .p2align 2
3:
.endm
.macro XEN_NOTE_STR type:req, str:req
    XEN_NOTE_HEAD \type
    .asciz "\str"
4:  .p2align 2
.endm
.macro XEN_NOTE_QUAD type:req, value:req
    XEN_NOTE_HEAD \type
    .quad \value
4:  .p2align 2
.endm

    .section .note.Xen, "a", @note
    .p2align 2
    XEN_NOTE_STR  XEN_ELFNOTE_GUEST_OS,     minios
    XEN_NOTE_STR  XEN_ELFNOTE_XEN_VERSION,  xen-3.0
    XEN_NOTE_STR  XEN_ELFNOTE_LOADER,       generic
    XEN_NOTE_QUAD XEN_ELFNOTE_PHYS32_ENTRY, pvh_start32

    .section .note.GNU-stack, "", @progbits
