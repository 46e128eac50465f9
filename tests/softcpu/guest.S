/* Guest programs for the soft vCPU system test, linked at CODE and loaded there. The test
   prepares long mode (GDT, IDT, TSS, page tables, CpuState) and starts one program by its entry
   in the table below; a program ends with hlt (or port 0x80) and leaves its results in
   registers, in memory, or in the report the exception handler writes. */
#include "layout.h"

	.text
	.code64
entries:
	.quad stubs, paging_ad, jmp_rax, read_rax, write_rax, bigpages, invlpg_prog, gp_sel
	.quad ud_prog, de_prog, bp_prog, ist_prog, to_user, user_pf, user_int, syscall_prog
	.quad user_syscall, sti_prog, smc_same, smc_alias, smc_host, xadd_prog, spin, dirty_prog
	.quad boot32, user_spin, user_hlt, user_end, rep_movsb, wp_toggle, global_prog, dirty_loop, compat_prog, rep_irq

/* One 16-byte stub per vector; the CPU pushes an error code only for these vectors, the
   others push a zero so that the common handler sees one frame layout. */
	.altmacro
	.macro stub v
	.p2align 4
	.if (\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
	pushq $\v
	.else
	pushq $0
	pushq $\v
	.endif
	jmp common
	.endm

	.p2align 4
stubs:
	.set i, 0
	.rept 256
	stub %i
	.set i, i + 1
	.endr

common:
	mov %rax, REPORT + R_RAX
	mov 0(%rsp), %rax
	mov %rax, REPORT + R_VEC
	mov 8(%rsp), %rax
	mov %rax, REPORT + R_ERR
	mov 16(%rsp), %rax
	mov %rax, REPORT + R_RIP
	mov 24(%rsp), %rax
	mov %rax, REPORT + R_CS
	mov 32(%rsp), %rax
	mov %rax, REPORT + R_RFLAGS
	mov 40(%rsp), %rax
	mov %rax, REPORT + R_RSP
	mov 48(%rsp), %rax
	mov %rax, REPORT + R_SS
	lea 16(%rsp), %rax
	mov %rax, REPORT + R_ENTRY_RSP
	mov %cr2, %rax
	mov %rax, REPORT + R_CR2
	incq REPORT + R_COUNT
	mov REPORT + R_RESUME, %rax
	test %rax, %rax
	jz 2f
	cmp $1, %rax
	je 1f
	mov %rax, 16(%rsp)
1:	mov REPORT + R_RAX, %rax
	add $16, %rsp
	iretq
2:	hlt
	jmp 2b

/* A read of page DATA+0x1000 and a write of page DATA+0x2000: the test checks A and D. */
paging_ad:
	mov DATA + 0x1000, %rax
	movq $1, DATA + 0x2000
	hlt

jmp_rax:
	jmp *%rax

read_rax:
	lea 1f(%rip), %r15
1:	mov (%rax), %rbx
	hlt

write_rax:
	lea 1f(%rip), %r15
1:	movq $0x5a, (%rax)
	hlt

bigpages:
	movq $0x1234, BIG_2M + 0x10
	mov ALIAS_2M + 0x10, %rbx
	mov ALIAS_1G + DATA, %rcx
	movq $0x77, ALIAS_1G + DATA + 8
	hlt

/* VA 0xb000 maps 0xc000 on entry; the program remaps it to 0xd000. */
invlpg_prog:
	mov 0xb000, %rbx
	movq $(0xd000 | 0x63), PT + 0xb * 8
	mov 0xb000, %rcx
	invlpg 0xb000
	mov 0xb000, %rdx
	hlt

gp_sel:
	lea 1f(%rip), %r15
	mov $0x78, %eax
1:	mov %eax, %ds
	hlt

ud_prog:
	lea 1f(%rip), %r15
1:	ud2

de_prog:
	lea 1f(%rip), %r15
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
1:	div %ecx
	hlt

bp_prog:
	lea 1f(%rip), %r15
	int3
1:	hlt

ist_prog:
	int $0x41
	hlt

/* iretq to ring 3 at %rdi with RFLAGS %rsi. */
to_user:
	pushq $(SEL_UDATA | 3)
	pushq $USER_STACK_TOP
	pushq %rsi
	pushq $(SEL_UCODE | 3)
	pushq %rdi
	iretq

/* Sets up syscall/sysret and the two GS bases, then sysret to ring 3 at %rdi. */
syscall_prog:
	mov $0xc0000080, %ecx
	rdmsr
	or $1, %eax
	wrmsr
	mov $0xc0000081, %ecx
	xor %eax, %eax
	mov $((SEL_UCODE32 << 16) | SEL_KCODE), %edx
	wrmsr
	mov $0xc0000082, %ecx
	lea syscall_entry(%rip), %rax
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
	mov $0xc0000084, %ecx
	mov $0x200, %eax
	xor %edx, %edx
	wrmsr
	mov $0xc0000101, %ecx
	mov $PERCPU_USER, %eax
	xor %edx, %edx
	wrmsr
	mov $0xc0000102, %ecx
	mov $PERCPU_KERNEL, %eax
	wrmsr
	mov %rdi, %rcx
	mov $0x202, %r11
	mov $USER_STACK_TOP, %rsp
	sysretq
syscall_entry:
	swapgs
	mov %gs:0, %rax
	mov %rcx, %r13
	mov %r11, %r14
	mov %cs, %r8d
	mov %ss, %r9d
	swapgs
	mov %gs:0, %rbx
	hlt

sti_prog:
	cli
	lea 2f(%rip), %r15
	xor %r8d, %r8d
	out %al, $0x80
	sti
	inc %r8
2:	inc %r8
	inc %r8
	hlt

/* 0xbb is mov $imm32, %ebx: the stores rewrite its immediate. */
smc_same:
	movl $0x22222222, 1f + 1(%rip)
1:	mov $0x11111111, %ebx
	hlt

smc_alias:
	movl $0x33333333, ALIAS_1G + 1f + 1
1:	mov $0x11111111, %ebx
	hlt

smc_host:
1:	mov $0x11111111, %ebx
	hlt
	jmp 1b

/* %rcx times lock xadd on (%rdi). */
xadd_prog:
1:	mov $1, %eax
	lock xadd %eax, (%rdi)
	dec %rcx
	jnz 1b
	hlt

spin:
1:	jmp 1b

/* Writes pages 1, 5 and 17 of the logged slot at %rdi and reads page 9; after the first hlt,
   writes page 3 and page 1 again. */
dirty_prog:
	movq $1, 0x1000(%rdi)
	movq $1, 0x5000(%rdi)
	movq $1, 0x11000(%rdi)
	mov 0x9000(%rdi), %rax
	hlt
	movq $2, 0x3000(%rdi)
	movq $2, 0x1000(%rdi)
	hlt

rep_movsb:
	lea 1f(%rip), %r15
1:	rep movsb
	hlt

/* %rax: a read-only page; CR0.WP clear on entry. */
wp_toggle:
	movq $1, (%rax)
	mov %cr0, %rbx
	or $0x10000, %rbx
	mov %rbx, %cr0
	lea 1f(%rip), %r15
1:	movq $2, (%rax)
	hlt

/* VA 0xb000 (global) and 0x4000 (not) map 0xc000 on entry; both move to 0xd000, then a CR3
   write and an invlpg. */
global_prog:
	mov 0xb000, %rbx
	mov 0x4000, %rsi
	movq $(0xd000 | 0x163), PT + 0xb * 8
	movq $(0xd000 | 0x63), PT + 0x4 * 8
	mov %cr3, %rax
	mov %rax, %cr3
	mov 0xb000, %rcx
	mov 0x4000, %rdi
	invlpg 0xb000
	mov 0xb000, %rdx
	hlt

/* Stores to page 1 of the logged slot at %rdi, forever. */
dirty_loop:
1:	mov %rax, 0x1000(%rdi)
	inc %rax
	jmp 1b

/* To compatibility mode by a far return and back by a far jump. 0x40 is inc %eax there, a
   REX prefix in 64-bit mode. */
compat_prog:
	lea 1f(%rip), %rax
	pushq $SEL_KCODE32
	pushq %rax
	lretq
	.code32
1:	xor %eax, %eax
	inc %eax
	mov %esp, %ebx
	push $0x5a
	pop %ecx
	ljmp $SEL_KCODE, $2f
	.code64
2:	mov $0x40, %r8d
	hlt

/* A long rep stosb with interrupts on: one arrives in the middle of it. */
rep_irq:
	lea 1f(%rip), %r15
	sti
	nop
1:	rep stosb
	mov %rcx, %r14
	hlt

/* From 32-bit protected mode without paging to long mode with its own GDT, then #BP. */
	.code32
boot32:
	lgdt boot_gdtr
	mov $SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $PML4, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx
	rdmsr
	or $0x900, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80010000, %eax
	mov %eax, %cr0
	ljmp $SEL_KCODE, $boot64
	.code64
boot64:
	mov $SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %ss
	mov $STACK0_TOP, %rsp
	lidt boot_idtr
	mov $SEL_TSS, %eax
	ltr %ax
	int3
	mov $0xb007, %eax
	out %eax, $0x80
	hlt
	.p2align 3
boot_gdt:
	.quad 0
	.quad 0x00af9b000000ffff   /* 0x08 kernel code, 64-bit */
	.quad 0x00cf93000000ffff   /* 0x10 kernel data */
	.quad 0x00cffb000000ffff   /* 0x18 user code, 32-bit */
	.quad 0x00cff3000000ffff   /* 0x20 user data */
	.quad 0x00affb000000ffff   /* 0x28 user code, 64-bit */
	.quad 0x0000890000000067 | ((TSS_BASE & 0xffffff) << 16)   /* 0x30 TSS */
	.quad 0
	.quad 0x00cf9b000000ffff   /* 0x40 kernel code, 32-bit */
boot_gdt_end:
boot_gdtr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt
boot_idtr:
	.word 0xfff
	.quad IDT_BASE

/* Ring 3 from here on: the test marks these pages user-accessible. */
	.org USER_CODE - CODE
user_pf:
	lea 1f(%rip), %r15
1:	mov (%rax), %rbx
	lea 2f(%rip), %r15
2:	movq $1, (%rcx)
	hlt

user_int:
	lea 1f(%rip), %r15
1:	int $0x41

user_syscall:
	mov %gs:0, %rsi
	lea 1f(%rip), %r15
	syscall
1:	hlt
user_spin:
1:	jmp 1b

user_hlt:
	lea 1f(%rip), %r15
1:	hlt
	.p2align 12
user_end:
