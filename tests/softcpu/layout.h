/* Guest-physical layout shared by the guest programs (guest.S) and the test that loads them.
   Everything below 16 MiB is identity-mapped; the test builds these tables before each run. */
#pragma once

#define GDT_BASE        0x1000
#define IDT_BASE        0x2000
#define TSS_BASE        0x3000
#define REPORT          0x5000   /* what the exception handler saw, see R_* */
#define PERCPU_KERNEL   0x5800   /* KERNEL_GS_BASE for the swapgs test */
#define PERCPU_USER     0xa9800  /* in the read-only user page */
#define DATA            0x6000   /* scratch pages 0x6000..0xffff, supervisor */
#define PML4            0x10000
#define PDPT            0x11000
#define PD              0x12000
#define PT              0x13000  /* 4 KiB PTEs for 0..2 MiB */
#define STACK0_TOP      0x90000  /* boot stack, also TSS.RSP0 */
#define IST1_TOP        0xa0000
#define USER_STACK_TOP  0xb0000  /* user pages 0xa8000..0xaffff, 0xa9000 read-only */
#define CODE            0x100000
#define USER_CODE       0x108000 /* user pages from here to the entry E_USER_END */
#define ALIAS_1G        0x40000000 /* a 1 GiB page mapping guest-physical 0 */
#define BIG_2M          0x400000 /* 2 MiB pages identity-map 2..16 MiB */
#define ALIAS_2M        0x1000000 /* a 2 MiB page at 16 MiB mapping 4 MiB */
#define DIRTY_GPA       0x2000000 /* a separate, logged slot: 32 MiB, 64 pages, 2 MiB pages map it */

#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_UCODE32 0x18
#define SEL_UDATA   0x20
#define SEL_UCODE   0x28
#define SEL_TSS     0x30
#define SEL_KCODE32 0x40

/* The report the common exception handler fills (offsets from REPORT). */
#define R_VEC    0x00
#define R_ERR    0x08
#define R_RIP    0x10
#define R_CS     0x18
#define R_RFLAGS 0x20
#define R_RSP    0x28
#define R_SS     0x30
#define R_CR2    0x38
#define R_COUNT  0x40
#define R_ENTRY_RSP 0x48  /* RSP when the CPU finished pushing the frame */
#define R_RESUME 0x50     /* 0: hlt; 1: iretq to the saved RIP; else: iretq to this RIP */
#define R_RAX    0x58

/* The entry table at CODE: one quad per program, in this order. */
#define E_STUBS       0
#define E_PAGING_AD   1
#define E_JMP_RAX     2
#define E_READ_RAX    3
#define E_WRITE_RAX   4
#define E_BIGPAGES    5
#define E_INVLPG      6
#define E_GP_SEL      7
#define E_UD          8
#define E_DE          9
#define E_BP          10
#define E_IST         11
#define E_TO_USER     12
#define E_USER_PF     13
#define E_USER_INT    14
#define E_SYSCALL     15
#define E_USER_SYSCALL 16
#define E_STI         17
#define E_SMC_SAME    18
#define E_SMC_ALIAS   19
#define E_SMC_HOST    20
#define E_XADD        21
#define E_SPIN        22
#define E_DIRTY       23
#define E_BOOT32      24
#define E_USER_SPIN   25
#define E_USER_HLT    26
#define E_USER_END    27
#define E_REP_MOVSB   28
#define E_WP_TOGGLE   29
#define E_GLOBAL      30
#define E_DIRTY_LOOP  31
#define E_COMPAT      32
#define E_REP_IRQ     33
