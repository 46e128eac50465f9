/*
 * Descriptor tables and every way into ring 0: exceptions, the int3 trap ABI
 * (abi.h), the event upcall, and the SCHEDOP_block window.
 *
 * The IDT and the TSS descriptor need their handler/base addresses split into
 * bit fields. Rather than spend emulated ring-0 instructions filling them at boot,
 * everything they point at lives in this one section, which the linker script
 * places exactly at MINIOS_BASE, so `sym - entry_base + MINIOS_BASE` is an
 * assemble-time constant.
 */
#include "abi.h"

#define ABS(sym) ((sym) - entry_base + MINIOS_BASE)

    .section .entry, "awx"
    .globl entry_base
entry_base:

/* ---- exceptions --------------------------------------------------------- */

.macro EXC vec:req, has_err=0
exc_\vec:
    .if !\has_err
    pushq $0
    .endif
    pushq $\vec
    jmp trap_common
.endm

EXC 0
EXC 1
EXC 4
EXC 5
EXC 6
EXC 7
EXC 8, 1
EXC 9
EXC 10, 1
EXC 11, 1
EXC 12, 1
EXC 13, 1
EXC 14, 1
EXC 15
EXC 16
EXC 17, 1
EXC 18
EXC 19
EXC 20
EXC 21, 1
EXC 22
EXC 23
EXC 24
EXC 25
EXC 26
EXC 27
EXC 28
EXC 29, 1
EXC 30, 1
EXC 31

/* The frame layout is struct minios::trap::Frame (trap.hpp). trap_entry either
 * does not return (fatal) or has redirected rip to a recovery point. */
trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    call trap_entry
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

/* A hypervisor may inject NMIs (VCPUOP_send_nmi); count and ignore them. */
exc_2:
    lock incq nmi_count
    iretq

/* ---- int3: the ring-3 trap ABI (abi.h) ---------------------------------- */
/* The caller declares every caller-saved register clobbered, so nothing is saved
 * here. SYS_HYPERCALL, the hot one, goes straight to its stub (16 emulated
 * instructions from int3 to iretq, the stub's 3 included); the others cost 9 plus
 * the service itself. */
exc_3:
    cmpq $SYS_HYPERCALL, %rax
    jne 2f
    cmpq $HYPERCALL_STUBS, %rdi
    jae 1f
    cmpb $0, hypercall_ready
    je 1f
    shlq $5, %rdi
    leaq hypercall_page(%rdi), %rax
    movq %rsi, %rdi               /* Xen's 64-bit ABI: rdi, rsi, rdx, r10, r8 */
    movq %rdx, %rsi
    movq %r10, %rdx
    movq %r8, %r10
    movq %r9, %r8
    call *%rax
    iretq
2:  cmpq $SYS_COUNT, %rax
    jae 1f
    movq %r10, %rcx
    subq $8, %rsp                 /* 5-word frame + 8 = 16-byte aligned call */
    call *sys_table(, %rax, 8)
    addq $8, %rsp
    iretq
1:  movq $ENOSYS_NEG, %rax
    iretq

/* ---- event upcall -------------------------------------------------------- */
/*
 * Ring 0, IF=0, every instruction emulated: so only acknowledge and count (ring 3
 * consumes the events, evtchn.cpp), in 6 instructions when ring 3 was interrupted.
 * Xen's callback vector is level-like, asserted while evtchn_upcall_pending is set:
 * clear it before the iretq. An upcall that lands in ring 0 can only be the block
 * window's (sys_block below): resume past the hypercall then.
 * Frame: rip 0, cs 8, rflags 16, rsp 24, ss 32 (no error code).
 */
upcall_entry:
    movb $0, shared_info_page + SHINFO_UPCALL_PENDING
    incq evtchn_upcall_count
    btl $9, 16(%rsp)              /* IF clear in the interrupted code: a hypervisor bug */
    jnc 3f
1:  testb $3, 8(%rsp)
    jz 4f
2:  iretq
3:  incq evtchn_upcall_if_clear
    jmp 1b
4:  cmpb $0, block_active         /* not in sys_block: a hypervisor that ignored IF=0 */
    je 2b
    pushq %rax                    /* the frame is now 8 bytes further up */
    movq 8(%rsp), %rax
    cmpq $block_window_start, %rax
    jb 5f
    cmpq $block_window_end, %rax
    jbe 6f
5:  subq block_stub, %rax         /* in the sched_op stub? (unsigned: below it wraps) */
    cmpq $HYPERCALL_STUB_SIZE, %rax
    jae 7f
6:  movq $block_window_end, 8(%rsp)
    movq block_rsp, %rax
    movq %rax, 32(%rsp)
    popq %rax
    xorl %eax, %eax               /* sys_block's result */
    iretq
7:  popq %rax
    iretq

/* ---- tables --------------------------------------------------------------- */

    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9a000000ffff      /* 0x08 ring-0 code, 64-bit */
    .quad 0x00cf92000000ffff      /* 0x10 ring-0 data */
    .quad 0x00affa000000ffff      /* 0x18 ring-3 code, 64-bit */
    .quad 0x00cff2000000ffff      /* 0x20 ring-3 data */
    /* 0x28 64-bit TSS, available */
    .word tss_end - tss - 1
    .word ABS(tss) & 0xffff
    .byte (ABS(tss) >> 16) & 0xff
    .byte 0x89
    .byte 0
    .byte (ABS(tss) >> 24) & 0xff
    .long 0
    .long 0
gdt_end:

    .p2align 3
    .word 0, 0, 0
    .globl gdt_ptr
gdt_ptr:                          /* lgdt in 32-bit mode reads base as 32 bits */
    .word gdt_end - gdt - 1
    .quad gdt

    .p2align 4
tss:
    .long 0
    .quad kstack_top              /* rsp0: traps from ring 3 land here */
    .quad 0, 0
    .quad 0
    .quad dfstack_top             /* ist1: double fault gets a known-good stack */
    .quad 0, 0, 0, 0, 0, 0
    .quad 0
    .word 0
    .word tss_end - tss           /* no I/O bitmap: ring 3 may not touch ports */
tss_end:

/* type 0x8e: interrupt gate, DPL 0 (IF cleared: ring 0 runs with interrupts off);
 * 0xee: DPL 3 so that ring 3 may execute int3. */
.macro GATE handler:req, type=0x8e, ist=0
    .word ABS(\handler) & 0xffff
    .word SEL_KCODE
    .byte \ist
    .byte \type
    .word (ABS(\handler) >> 16) & 0xffff
    .long 0
    .long 0
.endm

    .p2align 4
idt:
    GATE exc_0
    GATE exc_1
    GATE exc_2
    GATE exc_3, 0xee
    GATE exc_4
    GATE exc_5
    GATE exc_6
    GATE exc_7
    GATE exc_8, 0x8e, 1
    GATE exc_9
    GATE exc_10
    GATE exc_11
    GATE exc_12
    GATE exc_13
    GATE exc_14
    GATE exc_15
    GATE exc_16
    GATE exc_17
    GATE exc_18
    GATE exc_19
    GATE exc_20
    GATE exc_21
    GATE exc_22
    GATE exc_23
    GATE exc_24
    GATE exc_25
    GATE exc_26
    GATE exc_27
    GATE exc_28
    GATE exc_29
    GATE exc_30
    GATE exc_31
    GATE upcall_entry             /* VEC_UPCALL */
idt_end:
    .if (idt_end - idt) != IDT_ENTRIES * 16
    .error "IDT must end at VEC_UPCALL"
    .endif

    .p2align 3
    .word 0, 0, 0
    .globl idt_ptr
idt_ptr:
    .word idt_end - idt - 1
    .quad idt

/* ---- ring-0 services (C ABI; sys_table is indexed by SYS_*) ------------- */

    .text
    .p2align 3
sys_table:
    .quad hypercall_dispatch
    .quad ring0_dispatch
    .quad sys_block

/* long hypercall_dispatch(nr, a1, a2, a3, a4, a5): the C ABI puts the arguments in
 * rdi, rsi, rdx, rcx, r8, r9; Xen's 64-bit ABI wants rdi, rsi, rdx, r10, r8. */
    .globl hypercall_dispatch
hypercall_dispatch:
    cmpq $HYPERCALL_STUBS, %rdi
    jae 1f
    cmpb $0, hypercall_ready
    je 1f
    shlq $5, %rdi
    leaq hypercall_page(%rdi), %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rcx, %rdx
    movq %r8, %r10
    movq %r9, %r8
    jmp *%rax                     /* the stub's ret returns to our caller */
1:  movq $ENOSYS_NEG, %rax
    ret

/* u64 ring0_dispatch(fn, a1, a2, a3, a4): run fn(a1..a4) in ring 0. An exception
 * inside fn unwinds here (trap.cpp: ring0_recover) and returns a fault code, so a
 * test can report a faulting instruction instead of dying. */
    .globl ring0_dispatch, ring0_recover
ring0_dispatch:
    movq %rbx, r0_ctx + 0
    movq %rbp, r0_ctx + 8
    movq %r12, r0_ctx + 16
    movq %r13, r0_ctx + 24
    movq %r14, r0_ctx + 32
    movq %r15, r0_ctx + 40
    movq %rsp, r0_ctx + 48        /* nonzero: armed */
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rcx, %rdx
    movq %r8, %rcx
    call *%rax
    movq $0, r0_ctx + 48
    ret
ring0_recover:                    /* entered by iretq with rax = fault code */
    movq r0_ctx + 0, %rbx
    movq r0_ctx + 8, %rbp
    movq r0_ctx + 16, %r12
    movq r0_ctx + 24, %r13
    movq r0_ctx + 32, %r14
    movq r0_ctx + 40, %r15
    movq r0_ctx + 48, %rsp
    movq $0, r0_ctx + 48
    ret

/*
 * long sys_block(seen): SCHEDOP_block with interrupts enabled, as Xen's HVM block
 * semantics need (it returns at once if an upcall is deliverable). The upcall may
 * arrive anywhere from the sti to the stub's ret; if it landed before the block
 * took effect its event would be consumed and the block would then sleep past it.
 * So a ring-0 upcall that lands in the window (block_active, rip between the sti
 * and the cli, or in the sched_op stub) resumes at block_window_end with
 * rsp = block_rsp (upcall_entry above). IF is set nowhere else in ring 0.
 * The earlier race, an upcall between ring 3's last look at its events and the
 * int3, is closed by `seen`: unless it is -1, sys_block returns 0 at once when
 * evtchn_upcall_count no longer equals it (sched::block_since).
 */
    .globl sys_block, block_window_start, block_window_end, block_stub
sys_block:
    cmpb $0, hypercall_ready
    je 1f
    cmpq $-1, %rdi                /* rdi: the upcall count the caller saw, or -1 */
    je 2f
    cmpq %rdi, evtchn_upcall_count
    jne 3f                        /* an upcall came since: its events await the caller */
2:  movq block_stub, %rax
    movq %rsp, block_rsp
    movb $1, block_active
    movl block_cmd, %edi
    xorl %esi, %esi
block_window_start:
    sti
    call *%rax
block_window_end:
    cli
    movb $0, block_active
    ret
1:  movq $ENOSYS_NEG, %rax
    ret
3:  xorl %eax, %eax
    ret

    .data
    .p2align 3
    .globl hypercall_ready, block_stub, block_cmd, nmi_count
block_rsp:      .quad 0
block_stub:     .quad 0           /* set with hypercall_ready (sched.cpp) */
block_cmd:      .long 0
hypercall_ready: .byte 0
block_active:   .byte 0
    .p2align 3
nmi_count:      .quad 0

    .bss
    .p2align 3
    .globl r0_ctx
r0_ctx:         .skip 56
    .p2align 12
    .globl hypercall_page
hypercall_page: .skip 4096        /* filled by the hypervisor after the MSR write */

    .section .note.GNU-stack, "", @progbits
