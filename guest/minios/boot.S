/*
 * PVH entry. The vCPU starts in 32-bit flat protected mode, paging off, with EBX =
 * guest-physical address of struct hvm_start_info. Every ring-0 instruction is
 * emulated on our hosts (~0.55 us each), so this does the least that reaches ring 3:
 * identity-map only the 2 MiB pages holding the image (usually one), enter long
 * mode, detect the hypervisor (kernel.cpp) and iretq. Ring 3 builds the real page
 * tables natively (paging.cpp).
 * Nothing here clears memory: the loader leaves all RAM outside the file data zero.
 */
#include "abi.h"

#define CR0_PE 0x00000001
#define CR0_ET 0x00000010
#define CR0_NE 0x00000020
#define CR0_WP 0x00010000
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define PTE_P_RW_US 0x7
#define PDE_2M (PTE_P_RW_US | 0x80)

    .section .text.boot, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    movl %ebx, start_info_paddr

    movl $(boot_pdpt + PTE_P_RW_US), boot_pml4
    movl $(boot_pd + PTE_P_RW_US), boot_pdpt
    movl $PDE_2M, %eax
    movl $boot_pd, %edi
    movl $boot_map_2m_count, %ecx      /* from the linker script: 2 MiB pages up to _end */
1:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    decl %ecx
    jnz 1b

    lgdt gdt_ptr
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    movl $EFER_LME, %eax
    xorl %edx, %edx
    wrmsr
    movl $(CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $SEL_KCODE, $start64

    .code64
start64:
    movl $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    movq $kstack_top, %rsp
    lidt idt_ptr
    movl $SEL_TSS, %eax
    ltr %ax
    call kernel_init
    /* Into ring 3 with interrupts on; minios_main runs there natively. */
    pushq $SEL_UDATA
    pushq $ustack_top
    pushq $0x202
    pushq $SEL_UCODE
    pushq $user_start
    iretq

    .text
user_start:
    /* iretq leaves rsp 16-aligned; the call makes it ABI-aligned for C++. */
    call minios_main
    ud2

    .data
    .globl start_info_paddr
    .p2align 3
start_info_paddr:
    .quad 0

    .bss
    .p2align 12
    .globl boot_pml4, boot_pdpt
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096
    .globl kstack_top, dfstack_top
kstack:     .skip 8192
kstack_top:
dfstack:    .skip 4096
dfstack_top:
ustack:     .skip 16384
ustack_top:

    .section .note.GNU-stack, "", @progbits
