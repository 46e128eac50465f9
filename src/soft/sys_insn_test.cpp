// System instructions: segment loads and their faults, far transfers, control registers and
// the PVH entry into long mode, MSRs, syscall/sysret, swapgs, port I/O, cli/sti, exits.
#include "soft/sys_fixture.hpp"

namespace kxen::soft {
namespace {

using namespace test;

Result done(Bytes const& b, CpuState& s, Env& env) {
    Result r = emulate(b, s, env);
    EXPECT_EQ(r.outcome, Outcome::done) << r.what;
    return r;
}

void expect_fault(Result const& r, std::uint8_t vector, std::uint32_t ec) {
    EXPECT_EQ(r.outcome, Outcome::fault) << r.what;
    EXPECT_EQ(r.fault.vector, vector) << r.what;
    EXPECT_EQ(r.fault.error_code, ec) << r.what;
}

TEST(SegLoad, MovDsLoadsDescriptorAndSetsAccessed) {
    SysEnv env;
    CpuState s = kernel64();
    env.put<std::uint64_t>(gdt + kds2, desc(0x1000, 0xfff, 0x492));   // not accessed, byte granular
    s.gpr[0] = kds2;
    run_ok({0x8e, 0xd8}, s, env);   // mov ds, ax
    EXPECT_EQ(s.seg[3].sel, kds2);
    EXPECT_EQ(s.seg[3].base, 0x1000u);
    EXPECT_EQ(s.seg[3].limit, 0xfffu);
    EXPECT_EQ(s.seg[3].attr, 0x493);
    EXPECT_EQ(env.get<std::uint8_t>(gdt + kds2 + 5), 0x93);
    s.gpr[1] = ~0ull;
    run_ok({0x8c, 0xd9}, s, env);   // mov ecx, ds
    EXPECT_EQ(s.gpr[1], kds2);
}

TEST(SegLoad, FaultsAndErrorCodes) {
    SysEnv env;
    CpuState s = kernel64();
    s.gpr[0] = 0x80;   // beyond the GDT limit
    expect_fault(run({0x8e, 0xd8}, s, env), 13, 0x80);
    s.gpr[0] = absent;
    expect_fault(run({0x8e, 0xd8}, s, env), 11, absent);
    s.gpr[0] = tss_sel;   // a system segment
    expect_fault(run({0x8e, 0xd8}, s, env), 13, tss_sel);
    s.gpr[0] = absent;
    expect_fault(run({0x8e, 0xd0}, s, env), 12, absent);   // mov ss: #SS
    s.gpr[0] = uds;
    expect_fault(run({0x8e, 0xd0}, s, env), 13, uds & 0xfffc);   // RPL != CPL
    s.gpr[0] = 0x0c;      // LDT selector without an LDT
    expect_fault(run({0x8e, 0xd8}, s, env), 13, 0x0c);
    expect_fault(run({0x8e, 0xc8}, s, env), 6, 0);          // mov cs
    CpuState u = user64();
    u.gpr[0] = kds;       // DPL 0 data from ring 3
    expect_fault(run({0x8e, 0xd8}, u, env), 13, kds);
    u.gpr[0] = 0;         // null SS at ring 3
    expect_fault(run({0x8e, 0xd0}, u, env), 13, 0);
    u.gpr[0] = 0;         // null DS is fine
    run_ok({0x8e, 0xd8}, u, env);
    EXPECT_EQ(u.seg[3].attr, 0);
}

TEST(SegLoad, MovSsSetsShadowAndNullSsAtRing0In64BitMode) {
    SysEnv env;
    CpuState s = kernel64();
    s.gpr[0] = 0;
    run_ok({0x8e, 0xd0}, s, env);
    EXPECT_TRUE(s.interrupt_shadow);
    EXPECT_EQ(s.seg[2].sel, 0u);
    CpuState p = kernel32();
    p.gpr[0] = 0;
    expect_fault(run({0x8e, 0xd0}, p, env), 13, 0);
}

TEST(SegLoad, PushPopFsAndLegacyOpcodesIn64BitMode) {
    SysEnv env;
    CpuState s = kernel64();
    s.seg[4] = seg(kds, a_data);
    s.seg[4].base = 0x1234;
    std::uint64_t const sp = s.gpr[4];
    run_ok({0x0f, 0xa0}, s, env);   // push fs
    EXPECT_EQ(s.gpr[4], sp - 8);
    EXPECT_EQ(env.get<std::uint16_t>(sp - 8), kds);
    env.put<std::uint64_t>(sp - 8, kds2);
    run_ok({0x0f, 0xa1}, s, env);   // pop fs
    EXPECT_EQ(s.gpr[4], sp);
    EXPECT_EQ(s.seg[4].sel, kds2);
    EXPECT_EQ(run({0x1e}, s, env).fault.vector, 6);   // push ds
    EXPECT_EQ(run({0x07}, s, env).fault.vector, 6);   // pop es
    CpuState p = kernel32();
    std::uint64_t const psp = p.gpr[4];
    run_ok({0x1e}, p, env);
    EXPECT_EQ(p.gpr[4], psp - 4);
    run_ok({0x07}, p, env);   // pop es
    EXPECT_EQ(p.seg[0].sel, kds);
}

TEST(SegLoad, LssLoadsSsAndRsp) {
    SysEnv env;
    CpuState s = kernel64();
    env.put<std::uint64_t>(0x14000, 0x15550);
    env.put<std::uint16_t>(0x14008, kds2);
    s.gpr[3] = 0x14000;
    run_ok({0x48, 0x0f, 0xb2, 0x23}, s, env);   // lss rsp, [rbx]
    EXPECT_EQ(s.gpr[4], 0x15550u);
    EXPECT_EQ(s.seg[2].sel, kds2);
    EXPECT_FALSE(s.interrupt_shadow);
}

TEST(FarTransfer, PvhEntryIntoLongMode) {
    // The PVH entry: 32-bit flat, paging off; PAE, EFER.LME, CR3, PG, then a far jump to the
    // 64-bit code segment.
    SysEnv env;
    CpuState s = kernel32();
    s.cr0 = 0x11;
    s.cr4 = 0;
    s.efer = 0;
    s.rip = 0x10000;
    s.gpr[0] = 0x20;   // PAE
    run_ok({0x0f, 0x22, 0xe0}, s, env);   // mov cr4, eax
    EXPECT_EQ(s.cr4, 0x20u);
    s.gpr[1] = 0xc0000080;
    s.gpr[0] = 0x100;
    s.gpr[2] = 0;
    run_ok({0x0f, 0x30}, s, env);         // wrmsr EFER.LME
    EXPECT_EQ(s.efer, 0x100u);
    EXPECT_FALSE(s.long_mode);
    s.gpr[0] = 0x14000;
    run_ok({0x0f, 0x22, 0xd8}, s, env);   // mov cr3, eax
    s.gpr[0] = 0x80000011;
    env.flushes.clear();
    run_ok({0x0f, 0x22, 0xc0}, s, env);   // mov cr0, eax
    EXPECT_TRUE(s.long_mode);
    EXPECT_EQ(s.efer, 0x500u);
    EXPECT_FALSE(s.cs_l);                 // compatibility mode until the far jump
    EXPECT_FALSE(env.flushes.empty());
    s.rip = 0x10000;
    env.put_bytes(0x10000, {0xea, 0x00, 0x02, 0x01, 0x00, kcs, 0x00});
    done({0xea, 0x00, 0x02, 0x01, 0x00, kcs, 0x00}, s, env);   // ljmp kcs:0x10200
    EXPECT_EQ(s.rip, 0x10200u);
    EXPECT_EQ(s.seg[1].sel, kcs);
    EXPECT_TRUE(s.cs_l && s.long_mode);
    // And the rdmsr of EFER shows LMA.
    s.gpr[1] = 0xc0000080;
    run_ok({0x0f, 0x32}, s, env);
    EXPECT_EQ(s.gpr[0], 0x500u);
}

TEST(ControlRegs, Cr0AndCr4Checks) {
    SysEnv env;
    CpuState s = kernel32();
    s.cr0 = 0x11;
    s.gpr[0] = 0x80000011;
    s.efer = 0x100;   // LME without PAE
    expect_fault(run({0x0f, 0x22, 0xc0}, s, env), 13, 0);
    s.gpr[0] = 0x80000010;   // PG without PE
    expect_fault(run({0x0f, 0x22, 0xc0}, s, env), 13, 0);
    s.gpr[0] = 0x10;         // clearing PE
    EXPECT_EQ(run({0x0f, 0x22, 0xc0}, s, env).outcome, Outcome::crash);
    CpuState k = kernel64();
    k.gpr[0] = k.cr4 & ~0x20ull;   // PAE off in long mode
    expect_fault(run({0x0f, 0x22, 0xe0}, k, env), 13, 0);
    k.gpr[0] = k.cr4 | (1u << 13);   // VMXE
    expect_fault(run({0x0f, 0x22, 0xe0}, k, env), 13, 0);
    k.gpr[0] = k.cr0 & ~0x80000000ull;   // PG off in 64-bit mode
    expect_fault(run({0x0f, 0x22, 0xc0}, k, env), 13, 0);
    env.flushes.clear();
    k.gpr[0] = k.cr4 | 0x80;             // PGE: global flush
    run_ok({0x0f, 0x22, 0xe0}, k, env);
    ASSERT_EQ(env.flushes.size(), 1u);
    EXPECT_TRUE(env.flushes[0].second);
    k.gpr[0] = 0x5000;
    run_ok({0x0f, 0x22, 0xd8}, k, env);  // mov cr3: non-global flush
    EXPECT_FALSE(env.flushes.back().second);
    k.gpr[3] = 0;
    run_ok({0x0f, 0x20, 0xdb}, k, env);  // mov rbx, cr3
    EXPECT_EQ(k.gpr[3], 0x5000u);
    k.gpr[0] = 0xf;
    run_ok({0x44, 0x0f, 0x22, 0xc0}, k, env);   // mov cr8, rax
    EXPECT_EQ(k.cr8, 0xfu);
    k.gpr[0] = 0x10;
    expect_fault(run({0x44, 0x0f, 0x22, 0xc0}, k, env), 13, 0);
    expect_fault(run({0x0f, 0x20, 0xc8}, k, env), 6, 0);   // cr1
    CpuState u = user64();
    expect_fault(run({0x0f, 0x20, 0xc0}, u, env), 13, 0);
    k.cr0 |= 8;
    run_ok({0x0f, 0x06}, k, env);        // clts
    EXPECT_EQ(k.cr0 & 8, 0u);
}

TEST(ControlRegs, DebugRegisters) {
    SysEnv env;
    CpuState s = kernel64();
    s.gpr[0] = 0xffff800000001000;
    run_ok({0x0f, 0x23, 0xc0}, s, env);   // mov dr0, rax
    EXPECT_EQ(s.dr[0], 0xffff800000001000u);
    s.gpr[0] = 1ull << 32;
    expect_fault(run({0x0f, 0x23, 0xf8}, s, env), 13, 0);   // dr7 upper bits
    s.cr4 |= 8;
    expect_fault(run({0x0f, 0x21, 0xe0}, s, env), 6, 0);    // dr4 with CR4.DE
}

TEST(DescTables, LgdtSgdtLidtLtr) {
    SysEnv env;
    CpuState s = kernel64();
    env.put<std::uint16_t>(0x14000, 0x7f);
    env.put<std::uint64_t>(0x14002, gdt);
    s.gpr[3] = 0x14000;
    s.gdtr = {};
    run_ok({0x0f, 0x01, 0x13}, s, env);   // lgdt [rbx]
    EXPECT_EQ(s.gdtr.base, gdt);
    EXPECT_EQ(s.gdtr.limit, 0x7f);
    s.gpr[3] = 0x14100;
    run_ok({0x0f, 0x01, 0x0b}, s, env);   // sidt [rbx]: 10 bytes
    EXPECT_EQ(env.get<std::uint16_t>(0x14100), 0xfff);
    EXPECT_EQ(env.get<std::uint64_t>(0x14102), idt);
    s.tr = {};
    s.gpr[0] = tss_sel;
    run_ok({0x0f, 0x00, 0xd8}, s, env);   // ltr ax
    EXPECT_EQ(s.tr.base, tss);
    EXPECT_EQ(s.tr.attr & 0xf, 0xbu);
    EXPECT_EQ(env.get<std::uint8_t>(gdt + tss_sel + 5), 0x8b);   // busy now
    expect_fault(run({0x0f, 0x00, 0xd8}, s, env), 13, tss_sel);  // busy TSS
    s.gpr[0] = 0;
    expect_fault(run({0x0f, 0x00, 0xd8}, s, env), 13, 0);
    s.gpr[1] = ~0ull;
    run_ok({0x0f, 0x00, 0xc9}, s, env);   // str ecx
    EXPECT_EQ(s.gpr[1], tss_sel);
    s.gpr[3] = 0x10000;
    env.flushes.clear();
    run_ok({0x0f, 0x01, 0x3b}, s, env);   // invlpg [rbx]
    ASSERT_EQ(env.flushes.size(), 1u);
    EXPECT_EQ(env.flushes[0].first, 0x10000u);
    CpuState u = user64();
    expect_fault(run({0x0f, 0x01, 0x13}, u, env), 13, 0);
}

TEST(Msr, KnownUnknownAndExits) {
    SysEnv env;
    CpuState s = kernel64();
    s.gpr[1] = 0x12345678;
    expect_fault(run({0x0f, 0x32}, s, env), 13, 0);
    expect_fault(run({0x0f, 0x30}, s, env), 13, 0);
    s.gpr[1] = 0xc0000082;   // LSTAR
    s.gpr[0] = 0x81000000;
    s.gpr[2] = 0xffffffff;
    run_ok({0x0f, 0x30}, s, env);
    EXPECT_EQ(s.msr.lstar, 0xffffffff81000000u);
    s.gpr[2] = 0x00008000;   // non-canonical
    expect_fault(run({0x0f, 0x30}, s, env), 13, 0);
    s.gpr[1] = 0xc0000100;   // FS_BASE
    s.gpr[0] = 0x5000;
    s.gpr[2] = 0;
    run_ok({0x0f, 0x30}, s, env);
    EXPECT_EQ(s.seg[4].base, 0x5000u);
    s.gpr[1] = 0xc0000080;   // EFER reserved bit
    s.gpr[0] = 0xd01 | 2;
    expect_fault(run({0x0f, 0x30}, s, env), 13, 0);
    s.gpr[0] = 0xc01;        // LME cleared with paging on
    expect_fault(run({0x0f, 0x30}, s, env), 13, 0);
    s.gpr[1] = 0x10;         // TSC
    s.gpr[0] = 0;
    s.gpr[2] = 0x100;
    env.tsc = 0x10;
    run_ok({0x0f, 0x30}, s, env);
    env.tsc = 0x20;
    run_ok({0x0f, 0x31}, s, env);   // rdtsc
    EXPECT_EQ(s.gpr[2], 0x100u);
    EXPECT_EQ(s.gpr[0], 0x10u);
    env.exiting_msr = 0x4b564d00;
    s.gpr[1] = 0x4b564d00;
    auto r = run({0x0f, 0x30}, s, env);
    EXPECT_EQ(r.outcome, Outcome::exit);
    EXPECT_EQ(r.exit.kind, ExitKind::wrmsr);
    EXPECT_EQ(r.exit.msr, 0x4b564d00u);
    CpuState u = user64();
    u.gpr[1] = 0xc0000080;
    expect_fault(run({0x0f, 0x32}, u, env), 13, 0);
}

TEST(Syscall, RoundTrip) {
    SysEnv env;
    CpuState s = user64();
    s.efer |= 1;
    s.msr.star = (std::uint64_t{0x18} << 48) | (std::uint64_t{kcs} << 32);
    s.msr.lstar = 0xffffffff81000000;
    s.msr.sfmask = 0x47700;   // TF DF IF NT AC cleared on entry, as Linux sets it
    s.rip = 0x10400;
    s.rflags = 0x246;
    done({0x0f, 0x05}, s, env);
    EXPECT_EQ(s.rip, 0xffffffff81000000u);
    EXPECT_EQ(s.gpr[1], 0x10402u);
    EXPECT_EQ(s.gpr[11], 0x246u);
    EXPECT_EQ(s.rflags, 0x46u);
    EXPECT_EQ(s.cpl, 0u);
    EXPECT_EQ(s.seg[1].sel, kcs);
    EXPECT_EQ(s.seg[2].sel, kds);
    EXPECT_TRUE(s.cs_l);
    done({0x48, 0x0f, 0x07}, s, env);   // sysretq
    EXPECT_EQ(s.rip, 0x10402u);
    EXPECT_EQ(s.cpl, 3u);
    EXPECT_EQ(s.seg[1].sel, ucs);
    EXPECT_EQ(s.seg[2].sel, uds);
    EXPECT_EQ(s.rflags, 0x246u);
    EXPECT_TRUE(s.cs_l);
    // Back in the kernel: sysret to a non-canonical RCX is #GP(0); sysretl goes to compat mode.
    s = kernel64();
    s.efer |= 1;
    s.msr.star = std::uint64_t{0x18} << 48;
    s.gpr[1] = 0x0000800000000000;
    expect_fault(run({0x48, 0x0f, 0x07}, s, env), 13, 0);
    s.gpr[1] = 0x12345678;
    done({0x0f, 0x07}, s, env);
    EXPECT_EQ(s.seg[1].sel, ucs32);
    EXPECT_FALSE(s.cs_l);
    EXPECT_TRUE(s.cs_db);
    CpuState n = user64();
    n.efer &= ~1ull;
    EXPECT_EQ(run({0x0f, 0x05}, n, env).fault.vector, 6);   // EFER.SCE clear
}

TEST(Swapgs, SwapsAndNeedsRing0) {
    SysEnv env;
    CpuState s = kernel64();
    s.seg[5].base = 1;
    s.msr.kernel_gs_base = 2;
    run_ok({0x0f, 0x01, 0xf8}, s, env);
    EXPECT_EQ(s.seg[5].base, 2u);
    EXPECT_EQ(s.msr.kernel_gs_base, 1u);
    CpuState u = user64();
    expect_fault(run({0x0f, 0x01, 0xf8}, u, env), 13, 0);
    CpuState p = kernel32();
    EXPECT_EQ(run({0x0f, 0x01, 0xf8}, p, env).fault.vector, 6);
}

TEST(PortIo, ExitsAndIopl) {
    SysEnv env;
    CpuState s = kernel64();
    s.gpr[2] = 0x3f8;
    s.gpr[0] = 0x1234541;
    auto r = run({0xee}, s, env);   // out dx, al
    EXPECT_EQ(r.outcome, Outcome::exit);
    EXPECT_EQ(r.exit.kind, ExitKind::io);
    EXPECT_TRUE(r.exit.write);
    EXPECT_EQ(r.exit.size, 1);
    EXPECT_EQ(r.exit.port, 0x3f8);
    EXPECT_EQ(r.exit.value, 0x41u);
    EXPECT_EQ(s.rip, 0x10000u);   // not completed
    r = run({0xe5, 0x71}, s, env);   // in eax, 0x71
    EXPECT_EQ(r.exit.size, 4);
    EXPECT_FALSE(r.exit.write);
    EXPECT_EQ(r.exit.port, 0x71);
    complete_in(s, 2, 0xbeef);
    EXPECT_EQ(s.gpr[0], 0x123beefu);
    complete_in(s, 4, 0xffffffffbeef);
    EXPECT_EQ(s.gpr[0], 0xffffbeefu);
    // Ring 3 with IOPL 0: the TSS bitmap decides.
    CpuState u = user64();
    u.gpr[2] = 0x3f8;
    expect_fault(run({0xec}, u, env), 13, 0);
    env.put<std::uint8_t>(tss + 0x68 + 0x3f8 / 8, 0xfe);   // port 0x3f8 allowed
    EXPECT_EQ(run({0xec}, u, env).outcome, Outcome::exit);
    expect_fault(run({0x66, 0xed}, u, env), 13, 0);         // 0x3f9 is not
    u.rflags |= 0x3000;                                     // IOPL 3
    EXPECT_EQ(run({0x66, 0xed}, u, env).outcome, Outcome::exit);
}

TEST(Flags, CliStiShadowAndIopl) {
    SysEnv env;
    CpuState s = kernel64();
    s.rflags = 0x2;
    run_ok({0xfb}, s, env);
    EXPECT_EQ(s.rflags, 0x202u);
    EXPECT_TRUE(s.interrupt_shadow);
    s.interrupt_shadow = false;
    run_ok({0xfb}, s, env);   // IF already set: no shadow
    EXPECT_FALSE(s.interrupt_shadow);
    run_ok({0xfa}, s, env);
    EXPECT_EQ(s.rflags, 0x2u);
    CpuState u = user64();
    expect_fault(run({0xfa}, u, env), 13, 0);
    u.rflags |= 0x3000;
    run_ok({0xfa}, u, env);
    EXPECT_EQ(u.rflags & 0x200, 0u);
}

TEST(Exits, HltAndHypercalls) {
    SysEnv env;
    CpuState s = kernel64();
    auto r = run({0xf4}, s, env);
    EXPECT_EQ(r.outcome, Outcome::exit);
    EXPECT_EQ(r.exit.kind, ExitKind::hlt);
    CpuState u = user64();
    expect_fault(run({0xf4}, u, env), 13, 0);
    EXPECT_EQ(run({0x0f, 0x01, 0xc1}, u, env).exit.kind, ExitKind::hypercall);   // any CPL
    EXPECT_EQ(run({0x0f, 0x01, 0xd9}, s, env).exit.kind, ExitKind::hypercall);
    s.gpr[0] = 7;
    s.gpr[1] = 0;
    run_ok({0x0f, 0xa2}, s, env);   // cpuid
    EXPECT_EQ(s.gpr[0], 7u);
    EXPECT_EQ(s.gpr[1], 0x1234u);
    EXPECT_EQ(run({0x0f, 0x01, 0xc8}, s, env).fault.vector, 6);   // monitor
    s.gpr[0] = 7;
    s.gpr[1] = s.gpr[2] = 0;
    run_ok({0x0f, 0x01, 0xd1}, s, env);   // xsetbv
    EXPECT_EQ(s.xcr0, 7u);
    s.gpr[0] = 5;
    expect_fault(run({0x0f, 0x01, 0xd1}, s, env), 13, 0);
}

TEST(FarTransfer, FarCallAndRetSameRingAndRetToRing3) {
    SysEnv env;
    CpuState s = kernel64();
    env.put<std::uint32_t>(0x14000, 0x10600);
    env.put<std::uint16_t>(0x14004, kcs);
    s.gpr[3] = 0x14000;
    s.rip = 0x10500;
    std::uint64_t const sp = s.gpr[4];
    done({0xff, 0x1b}, s, env);   // lcall [rbx] (m16:32)
    EXPECT_EQ(s.rip, 0x10600u);
    EXPECT_EQ(s.gpr[4], sp - 8);
    EXPECT_EQ(env.get<std::uint32_t>(sp - 4), kcs);
    EXPECT_EQ(env.get<std::uint32_t>(sp - 8), 0x10502u);
    done({0xcb}, s, env);         // lret
    EXPECT_EQ(s.rip, 0x10502u);
    EXPECT_EQ(s.gpr[4], sp);
    // lretq to ring 3 pops SS:RSP too and nulls DS (DPL 0).
    std::uint64_t const frame[4] = {0x10700, ucs, ustack - 0x10, uds};
    for (int i = 0; i < 4; ++i) env.put(sp + 8 * i, frame[i]);
    done({0x48, 0xcb}, s, env);
    EXPECT_EQ(s.rip, 0x10700u);
    EXPECT_EQ(s.cpl, 3u);
    EXPECT_EQ(s.gpr[4], ustack - 0x10);
    EXPECT_EQ(s.seg[2].sel, uds);
    EXPECT_EQ(s.seg[3].sel, 0u);
    // A far jump to a not-present code segment is #NP(sel).
    CpuState k = kernel64();
    env.put<std::uint16_t>(0x14004, absent_code);
    k.gpr[3] = 0x14000;
    expect_fault(run({0xff, 0x2b}, k, env), 11, absent_code);
}

TEST(SegQuery, LslLarVerw) {
    SysEnv env;
    CpuState u = user64();
    u.gpr[0] = uds;
    u.gpr[1] = 0;
    run_ok({0x0f, 0x03, 0xc8}, u, env);   // lsl ecx, eax
    EXPECT_EQ(u.gpr[1], 0xffffffffu);
    EXPECT_TRUE(u.rflags & 0x40);
    run_ok({0x0f, 0x02, 0xc8}, u, env);   // lar ecx, eax
    EXPECT_EQ(u.gpr[1], 0x00c0f300u);
    u.gpr[0] = kds;                        // DPL 0: not visible from ring 3
    run_ok({0x0f, 0x03, 0xc8}, u, env);
    EXPECT_FALSE(u.rflags & 0x40);
    u.gpr[0] = uds;
    run_ok({0x0f, 0x00, 0xe8}, u, env);   // verw ax
    EXPECT_TRUE(u.rflags & 0x40);
    u.gpr[0] = ucs;
    run_ok({0x0f, 0x00, 0xe8}, u, env);   // code is not writable
    EXPECT_FALSE(u.rflags & 0x40);
    u.gpr[0] = 0x1000;                     // beyond the GDT: ZF clear, no fault
    run_ok({0x0f, 0x00, 0xe8}, u, env);
    EXPECT_FALSE(u.rflags & 0x40);
}

TEST(Fsgsbase, NeedsCr4Bit) {
    SysEnv env;
    CpuState u = user64();
    u.gpr[0] = 0x7000;
    EXPECT_EQ(run({0xf3, 0x48, 0x0f, 0xae, 0xd0}, u, env).fault.vector, 6);
    u.cr4 |= 1u << 16;
    run_ok({0xf3, 0x48, 0x0f, 0xae, 0xd0}, u, env);   // wrfsbase rax
    EXPECT_EQ(u.seg[4].base, 0x7000u);
    run_ok({0xf3, 0x48, 0x0f, 0xae, 0xc3}, u, env);   // rdfsbase rbx
    EXPECT_EQ(u.gpr[3], 0x7000u);
    u.gpr[0] = 0x0000800000000000;
    expect_fault(run({0xf3, 0x48, 0x0f, 0xae, 0xd8}, u, env), 13, 0);   // wrgsbase
}

TEST(Sysenter, RoundTrip32) {
    SysEnv env;
    CpuState s = kernel32();
    s.seg[1] = seg(ucs32, a_code32 | dpl3);
    s.seg[2] = seg(uds, a_data | dpl3);
    s.cpl = 3;
    s.msr.sysenter_cs = kcs32;
    s.msr.sysenter_esp = 0x16000;
    s.msr.sysenter_eip = 0x10900;
    done({0x0f, 0x34}, s, env);
    EXPECT_EQ(s.rip, 0x10900u);
    EXPECT_EQ(s.gpr[4], 0x16000u);
    EXPECT_EQ(s.cpl, 0u);
    EXPECT_EQ(s.seg[1].sel, kcs32);
    EXPECT_EQ(s.seg[2].sel, kcs32 + 8);
    EXPECT_EQ(s.rflags & 0x200, 0u);
    EXPECT_TRUE(s.cs_db);
    s.gpr[2] = 0x10a00;
    s.gpr[1] = 0x17000;
    done({0x0f, 0x35}, s, env);   // sysexit
    EXPECT_EQ(s.rip, 0x10a00u);
    EXPECT_EQ(s.gpr[4], 0x17000u);
    EXPECT_EQ(s.cpl, 3u);
    EXPECT_EQ(s.seg[1].sel, (kcs32 + 16) | 3);
    expect_fault(run({0x0f, 0x35}, s, env), 13, 0);   // at CPL 3
    s.msr.sysenter_cs = 0;
    expect_fault(run({0x0f, 0x34}, s, env), 13, 0);
}

TEST(DescTables, LldtAndSldt) {
    SysEnv env;
    CpuState s = kernel64();
    // A 16-byte LDT descriptor at 0x60 with base 0x14000 (GDT limit extended to cover it).
    env.put<std::uint64_t>(gdt + 0x60, desc(0x14000, 0xff, 0x82));
    env.put<std::uint64_t>(gdt + 0x68, 0);
    s.gdtr.limit = 0x6f;
    env.put<std::uint64_t>(0x14000 + 8, desc(0, 0xfffff, a_data));
    s.gpr[0] = 0x60;
    run_ok({0x0f, 0x00, 0xd0}, s, env);   // lldt ax
    EXPECT_EQ(s.ldtr.base, 0x14000u);
    EXPECT_EQ(s.ldtr.limit, 0xffu);
    s.gpr[0] = 0x0c;                        // LDT entry 1
    run_ok({0x8e, 0xd8}, s, env);
    EXPECT_EQ(s.seg[3].sel, 0x0c);
    s.gpr[1] = 0;
    run_ok({0x0f, 0x00, 0xc1}, s, env);   // sldt ecx
    EXPECT_EQ(s.gpr[1], 0x60u);
    s.gpr[0] = kds;                         // not an LDT descriptor
    expect_fault(run({0x0f, 0x00, 0xd0}, s, env), 13, kds);
}

TEST(FarTransfer, LretImmReleasesParameters) {
    SysEnv env;
    CpuState s = kernel32();
    std::uint64_t const sp = s.gpr[4];
    env.put<std::uint32_t>(sp, 0x10111);
    env.put<std::uint32_t>(sp + 4, kcs32);
    done({0xca, 0x08, 0x00}, s, env);   // lret 8
    EXPECT_EQ(s.rip, 0x10111u);
    EXPECT_EQ(s.gpr[4], sp + 16);
    // Returning to an inner ring is #GP(sel).
    CpuState u = kernel32();
    u.seg[1] = seg(ucs32, a_code32 | dpl3);
    u.seg[2] = seg(uds, a_data | dpl3);
    u.cpl = 3;
    expect_fault(run({0xca, 0x08, 0x00}, u, env), 13, kcs32);
}

TEST(Invpcid, FlushesByType) {
    SysEnv env;
    CpuState s = kernel64();
    env.put<std::uint64_t>(0x14000, 0);
    env.put<std::uint64_t>(0x14008, 0xffff800000123000);
    s.gpr[3] = 0x14000;
    s.gpr[0] = 0;
    run_ok({0x66, 0x0f, 0x38, 0x82, 0x03}, s, env);   // invpcid rax, [rbx]
    ASSERT_EQ(env.flushes.size(), 1u);
    EXPECT_EQ(env.flushes[0].first, 0xffff800000123000u);
    s.gpr[0] = 2;
    run_ok({0x66, 0x0f, 0x38, 0x82, 0x03}, s, env);
    EXPECT_TRUE(env.flushes.back().second);
    s.gpr[0] = 4;
    expect_fault(run({0x66, 0x0f, 0x38, 0x82, 0x03}, s, env), 13, 0);
}

} // namespace
} // namespace kxen::soft
