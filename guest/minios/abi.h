/*
 * Numbers shared by minios's assembly (boot.S, entry.S) and its C++ code.
 * Plain #defines because both languages include this file.
 */
#ifndef MINIOS_ABI_H
#define MINIOS_ABI_H

/* Load address: physical == virtual (identity map). The IDT and the TSS descriptor
 * are assembled as constants relative to this, so the linker script asserts it. */
#define MINIOS_BASE 0x100000

/* GDT layout (entry.S). The user selectors carry RPL 3. */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE 0x1b
#define SEL_UDATA 0x23
#define SEL_TSS   0x28

/* Vector of the Xen event-channel upcall (HVM_PARAM_CALLBACK_IRQ, type vector).
 * Xen wants >= 0x10; 0x20 keeps the IDT at 33 entries. */
#define VEC_UPCALL 0x20

/* Offset of vcpu_info[0].evtchn_upcall_pending in shared_info (shared_info.cpp checks). */
#define SHINFO_UPCALL_PENDING 0
#define IDT_ENTRIES (VEC_UPCALL + 1)

/*
 * Ring-3 -> ring-0 trap ABI ("syscalls"). On this host `syscall` does not change
 * privilege and `int N` raises #UD, but int3 reaches the IDT, so:
 *   rax = SYS_*, arguments in rdi, rsi, rdx, r10, r8, r9, then `int3`;
 *   result in rax; rcx, rdx, rsi, rdi, r8-r11 are clobbered (SysV caller-saved).
 */
#define SYS_HYPERCALL 0   /* rdi = hypercall nr, rsi,rdx,r10,r8,r9 = args 1..5 */
#define SYS_RING0     1   /* rdi = fn, rsi,rdx,r10,r8 = fn(a1..a4) run in ring 0 */
#define SYS_BLOCK     2   /* SCHEDOP_block with event delivery enabled; rdi = upcall count seen or -1 */
#define SYS_COUNT     3

#define HYPERCALL_STUB_SIZE 32
#define HYPERCALL_STUBS     128   /* one page */

#define ENOSYS_NEG (-38)          /* -XEN_ENOSYS, for asm */

#endif
