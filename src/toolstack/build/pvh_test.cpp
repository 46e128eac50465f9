#include "toolstack/build/pvh.hpp"
#include "toolstack/build/test_elf.hpp"
#include "toolstack/build/test_ram.hpp"
#include "toolstack/build/vcpu_start.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace kxen::toolstack::build {
namespace {

using namespace test;
using Kind = BuildError::Kind;
constexpr std::uint64_t MiB = 1 << 20;

ElfImage kernel(TestElf const& spec = pvh_kernel()) {
    auto img = parse_elf(make_elf(spec));
    EXPECT_TRUE(img) << img.error().message;
    return std::move(*img);
}

PvhParams params(std::uint64_t mem = 64 * MiB, std::string cmdline = "console=hvc0") {
    PvhParams p;
    p.mem_bytes = mem;
    p.cmdline = std::move(cmdline);
    return p;
}

template <typename T>
T read_at(PvhLayout const& l, std::uint64_t gpa) {   // from the start_info bytes
    T v;
    std::memcpy(&v, l.start_info.data() + (gpa - l.start_info_gpa), sizeof v);
    return v;
}

void expect_fails(ElfImage const& img, PvhParams p, Kind kind, std::string const& text) {
    auto l = plan_pvh(img, std::move(p));
    ASSERT_FALSE(l.has_value()) << "planned a layout that should be refused: " << text;
    EXPECT_EQ(l.error().kind, kind) << l.error().message;
    EXPECT_NE(l.error().message.find(text), std::string::npos) << l.error().message;
}

TEST(PvhPlan, SmallGuestLayout) {
    auto const img = kernel();
    auto l = plan_pvh(img, params());
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->lowmem_end, 64 * MiB);
    EXPECT_EQ(l->highmem_end, 0u);
    EXPECT_EQ(l->ram_pages(), 64 * MiB / 4096);
    EXPECT_EQ(l->entry, 0x100000u);
    // Right after the kernel's last byte (0x201233), page aligned.
    EXPECT_EQ(l->start_info_gpa, 0x202000u);
    EXPECT_GT(l->alloc_end, l->start_info_gpa);
    EXPECT_EQ(l->alloc_end % page_size, 0u);
    EXPECT_FALSE(l->ramdisk);
    EXPECT_EQ(l->nr_vcpus, 1u);
}

TEST(PvhPlan, SpecialPagesAreXensAndReservedInTheMemoryMap) {
    auto l = plan_pvh(kernel(), params());
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(special_gfn(SpecialPage::paging), 0xfeff8u);
    EXPECT_EQ(special_gfn(SpecialPage::xenstore), 0xfeffcu);
    EXPECT_EQ(special_gfn(SpecialPage::console), 0xfefffu);
    for (unsigned i = 0; i < x86_hvm_nr_special_pages; ++i) EXPECT_EQ(l->special_gfns[i], 0xfeff8u + i);
    ASSERT_EQ(l->memmap.size(), 2u);
    EXPECT_EQ(l->memmap[0].addr, 0u);
    EXPECT_EQ(l->memmap[0].size, 64 * MiB);
    EXPECT_EQ(l->memmap[0].type, unsigned{XEN_HVM_MEMMAP_TYPE_RAM});
    EXPECT_EQ(l->memmap[1].addr, 0xfeff8000u);
    EXPECT_EQ(l->memmap[1].size, 0x8000u);
    EXPECT_EQ(l->memmap[1].type, unsigned{XEN_HVM_MEMMAP_TYPE_RESERVED});
    EXPECT_FALSE(l->in_ram(0xfeff8000, 4096));
}

TEST(PvhPlan, StartInfoDescribesTheGuest) {
    auto l = plan_pvh(kernel(), params(64 * MiB, "console=hvc0 loglevel=8"));
    ASSERT_TRUE(l) << l.error().message;
    auto const si = read_at<hvm_start_info>(*l, l->start_info_gpa);
    EXPECT_EQ(si.magic, XEN_HVM_START_MAGIC_VALUE);
    EXPECT_EQ(si.version, 1u);
    EXPECT_EQ(si.flags, 0u);
    EXPECT_EQ(si.nr_modules, 0u);
    EXPECT_EQ(si.modlist_paddr, 0u);
    EXPECT_EQ(si.rsdp_paddr, 0u);
    EXPECT_EQ(si.reserved, 0u);
    EXPECT_EQ(si.memmap_paddr, l->memmap_gpa);
    EXPECT_EQ(si.memmap_entries, 2u);
    EXPECT_EQ(si.memmap_paddr % 8, 0u);
    auto const e1 = read_at<hvm_memmap_table_entry>(*l, si.memmap_paddr + sizeof(hvm_memmap_table_entry));
    EXPECT_EQ(e1.addr, 0xfeff8000u);
    EXPECT_EQ(e1.type, unsigned{XEN_HVM_MEMMAP_TYPE_RESERVED});
    EXPECT_EQ(e1.reserved, 0u);
    ASSERT_EQ(si.cmdline_paddr, l->cmdline_gpa);
    std::string const cmdline{reinterpret_cast<char const*>(l->start_info.data() + (si.cmdline_paddr - l->start_info_gpa))};
    EXPECT_EQ(cmdline, "console=hvc0 loglevel=8");
    EXPECT_EQ(l->start_info.back(), std::byte{0});   // NUL-terminated
}

TEST(PvhPlan, NoCommandLineMeansNoPointer) {
    auto l = plan_pvh(kernel(), params(64 * MiB, ""));
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(read_at<hvm_start_info>(*l, l->start_info_gpa).cmdline_paddr, 0u);
    EXPECT_EQ(l->cmdline_gpa, 0u);
}

TEST(PvhPlan, RamdiskGoesAfterTheKernelAndIsListed) {
    auto p = params();
    p.ramdisk = pattern(10000, 9);
    auto l = plan_pvh(kernel(), std::move(p));
    ASSERT_TRUE(l) << l.error().message;
    ASSERT_TRUE(l->ramdisk);
    EXPECT_EQ(l->ramdisk->paddr, 0x202000u);
    EXPECT_EQ(l->ramdisk->data.size(), 10000u);
    EXPECT_EQ(l->start_info_gpa, 0x202000u + 0x3000u);   // 10000 bytes -> 3 pages
    auto const si = read_at<hvm_start_info>(*l, l->start_info_gpa);
    EXPECT_EQ(si.nr_modules, 1u);
    ASSERT_EQ(si.modlist_paddr, l->modlist_gpa);
    auto const m = read_at<hvm_modlist_entry>(*l, si.modlist_paddr);
    EXPECT_EQ(m.paddr, 0x202000u);
    EXPECT_EQ(m.size, 10000u);
    EXPECT_EQ(m.cmdline_paddr, 0u);
}

TEST(PvhPlan, EmptyRamdiskIsNotAModule) {
    auto p = params();
    p.ramdisk = std::vector<std::byte>{};
    auto l = plan_pvh(kernel(), std::move(p));
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_FALSE(l->ramdisk);
    EXPECT_EQ(read_at<hvm_start_info>(*l, l->start_info_gpa).nr_modules, 0u);
}

TEST(PvhPlan, MemoryAboveTheHoleMovesAbove4GiB) {
    std::uint64_t const mem = std::uint64_t{5} << 30;
    auto l = plan_pvh(kernel(), params(mem));
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->lowmem_end, pvh_mmio_hole_start);
    EXPECT_EQ(l->highmem_end, gib4 + (mem - pvh_mmio_hole_start));
    ASSERT_EQ(l->memmap.size(), 3u);
    EXPECT_EQ(l->memmap[2].addr, gib4);
    EXPECT_EQ(l->memmap[2].size, mem - pvh_mmio_hole_start);
    EXPECT_EQ(l->memmap[2].type, unsigned{XEN_HVM_MEMMAP_TYPE_RAM});
    std::uint64_t ram = 0;
    for (auto const& e : l->memmap)
        if (e.type == XEN_HVM_MEMMAP_TYPE_RAM) ram += e.size;
    EXPECT_EQ(ram, mem);
    EXPECT_TRUE(l->in_ram(gib4, 4096));
    EXPECT_FALSE(l->in_ram(pvh_mmio_hole_start, 4096));
}

TEST(PvhPlan, HoleStartCanBeChosen) {
    auto p = params(std::uint64_t{4} << 30);
    p.mmio_hole_start = 0xf0000000;   // HVM_BELOW_4G_MMIO_START, as for an HVM guest
    auto l = plan_pvh(kernel(), std::move(p));
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->lowmem_end, 0xf0000000u);
    EXPECT_EQ(l->highmem_end, gib4 + 0x10000000u);
}

TEST(PvhPlan, KernelLargerThanRamIsRefused) {
    expect_fails(kernel(), params(1 * MiB), Kind::too_big,
                 "kernel segment 0x100000-0x104fff does not fit in the domain's 1 MiB");
    expect_fails(kernel(), params(2 * MiB), Kind::too_big,
                 "kernel segment 0x200000-0x201233 does not fit in the domain's 2 MiB");
}

TEST(PvhPlan, KernelInTheHoleIsRefused) {
    auto spec = pvh_kernel();
    spec.segments[1].paddr = 0xfd000000;
    expect_fails(kernel(spec), params(std::uint64_t{8} << 30), Kind::too_big,
                 "does not fit in the domain's 8192 MiB (its RAM below 4 GiB ends at 0xfc000000)");
}

TEST(PvhPlan, EntryOutsideRamIsRefused) {
    auto spec = pvh_kernel();
    spec.notes.back() = phys32_entry_note(0x8000000);
    expect_fails(kernel(spec), params(64 * MiB), Kind::too_big, "PVH entry point 0x8000000 is outside");
}

TEST(PvhPlan, RamdiskThatDoesNotFitIsRefused) {
    auto p = params(4 * MiB);
    p.ramdisk = std::vector<std::byte>(2 * MiB);
    expect_fails(kernel(), std::move(p), Kind::too_big, "the ramdisk (2097152 bytes at 0x202000)");
}

TEST(PvhPlan, BootInfoThatDoesNotFitIsRefused) {
    expect_fails(kernel(), params(0x202000), Kind::too_big, "the boot information");
    // A command line longer than what is left of RAM.
    expect_fails(kernel(), params(0x203000, std::string(5000, 'x')), Kind::too_big, "the boot information");
}

TEST(PvhPlan, BadParametersAreRefused) {
    auto const img = kernel();
    expect_fails(img, params(0), Kind::bad_params, "not a whole number of pages");
    expect_fails(img, params(64 * MiB + 100), Kind::bad_params, "not a whole number of pages");
    auto p = params();
    p.nr_vcpus = 0;
    expect_fails(img, p, Kind::bad_params, "0 vCPUs");
    p.nr_vcpus = 129;
    expect_fails(img, p, Kind::bad_params, "129 vCPUs");
    p = params(64 * MiB, std::string("a\0b", 3));
    expect_fails(img, p, Kind::bad_params, "NUL");
    p = params();
    p.mmio_hole_start = 0xff000000;   // would put the special pages in RAM
    expect_fails(img, p, Kind::bad_params, "MMIO hole start");
}

TEST(PvhWrite, CopiesSegmentsRamdiskAndStartInfo) {
    auto const spec = pvh_kernel();
    auto const img = kernel(spec);
    auto p = params();
    p.ramdisk = pattern(10000, 5);
    auto l = plan_pvh(img, std::move(p));
    ASSERT_TRUE(l) << l.error().message;
    TestRam ram(64 * MiB);
    ASSERT_TRUE(write_pvh(*l, img, ram));
    auto same = [](std::span<std::byte const> a, std::vector<std::byte> const& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    };
    EXPECT_TRUE(same(ram.at(0x100000, 0x3000), spec.segments[0].data));
    EXPECT_TRUE(same(ram.at(0x200000, 0x1234), spec.segments[1].data));
    EXPECT_TRUE(same(ram.at(l->ramdisk->paddr, 10000), l->ramdisk->data));
    EXPECT_TRUE(same(ram.at(l->start_info_gpa, l->start_info.size()), l->start_info));
    auto bss = ram.at(0x103000, 0x2000);
    EXPECT_TRUE(std::all_of(bss.begin(), bss.end(), [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_EQ(ram.window_violations, 0u);
}

TEST(PvhWrite, LeavesFreshMemoryAloneButZeroesDirtyMemory) {
    auto const img = kernel();
    for (bool dirty : {false, true}) {
        auto p = params();
        p.memory_may_be_dirty = dirty;
        auto l = plan_pvh(img, std::move(p));
        ASSERT_TRUE(l) << l.error().message;
        TestRam ram(64 * MiB, std::byte{0xaa});
        ASSERT_TRUE(write_pvh(*l, img, ram));
        auto const bss = ram.at(0x103000, 0x2000);
        auto const tail_start = l->start_info_gpa + l->start_info.size();
        auto const tail = ram.at(tail_start, l->alloc_end - tail_start);
        std::byte const want = dirty ? std::byte{0} : std::byte{0xaa};
        EXPECT_TRUE(std::all_of(bss.begin(), bss.end(), [&](std::byte b) { return b == want; })) << dirty;
        EXPECT_TRUE(std::all_of(tail.begin(), tail.end(), [&](std::byte b) { return b == want; })) << dirty;
    }
}

TEST(PvhWrite, NeverMapsAcrossA2MiBWindow) {
    TestElf spec = pvh_kernel();
    spec.segments = {{0x1ff000, pattern(0x3000, 4), 0x400000}};   // crosses 2 MiB and 4 MiB
    auto const img = kernel(spec);
    auto p = params();
    p.memory_may_be_dirty = true;
    auto l = plan_pvh(img, std::move(p));
    ASSERT_TRUE(l) << l.error().message;
    TestRam ram(64 * MiB);
    ASSERT_TRUE(write_pvh(*l, img, ram));
    EXPECT_EQ(ram.window_violations, 0u);
    EXPECT_LE(ram.max_len, GuestPhysWriter::max_map_len);
    EXPECT_GT(ram.calls, 3u);
}

TEST(PvhWrite, UnmappableMemoryIsAnError) {
    auto const img = kernel();
    auto l = plan_pvh(img, params());
    ASSERT_TRUE(l) << l.error().message;
    TestRam ram(64 * MiB);
    ram.fail = true;
    auto r = write_pvh(*l, img, ram);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, Kind::unmapped);
    EXPECT_NE(r.error().message.find("cannot map guest memory 0x100000"), std::string::npos) << r.error().message;
}

TEST(PvhWrite, LayoutForAnotherImageIsRefused) {
    auto l = plan_pvh(kernel(), params());
    ASSERT_TRUE(l) << l.error().message;
    auto other = pvh_kernel();
    other.segments[1].data.resize(0x100);
    TestRam ram(64 * MiB);
    auto r = write_pvh(*l, kernel(other), ram);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, Kind::bad_params);
}

TEST(PvhWrite, Elf32KernelBuilds) {
    auto const spec = pvh_kernel(false);
    auto const img = kernel(spec);
    auto l = plan_pvh(img, params(16 * MiB));
    ASSERT_TRUE(l) << l.error().message;
    TestRam ram(16 * MiB);
    ASSERT_TRUE(write_pvh(*l, img, ram));
    auto got = ram.at(0x200000, 0x1234);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), spec.segments[1].data.begin()));
}

TEST(PvhVcpu, StartStateIsXensPvhEntryState) {
    auto l = plan_pvh(kernel(), params());
    ASSERT_TRUE(l) << l.error().message;
    auto const ctx = pvh_vcpu_context(*l);
    EXPECT_EQ(ctx.mode, unsigned{VCPU_HVM_MODE_32B});
    auto const& r = ctx.cpu_regs.x86_32;
    EXPECT_EQ(r.eip, 0x100000u);
    EXPECT_EQ(r.ebx, l->start_info_gpa);
    EXPECT_EQ(r.eflags, 0x2u);
    EXPECT_EQ(r.cr0, 0x11u);   // PE | ET: paging off
    EXPECT_EQ(r.cr3, 0u);
    EXPECT_EQ(r.cr4, 0u);
    EXPECT_EQ(r.efer, 0u);
    EXPECT_EQ(r.eax | r.ecx | r.edx | r.esp | r.ebp | r.esi | r.edi, 0u);
    EXPECT_EQ(r.cs_base | r.ds_base | r.ss_base | r.es_base | r.tr_base, 0u);
    EXPECT_EQ(r.cs_limit, 0xffffffffu);
    EXPECT_EQ(r.ds_limit, 0xffffffffu);
    EXPECT_EQ(r.ss_limit, 0xffffffffu);
    EXPECT_EQ(r.es_limit, 0xffffffffu);
    EXPECT_EQ(r.tr_limit, 0x67u);
    EXPECT_EQ(r.cs_ar, 0xc9bu);
    EXPECT_EQ(r.ds_ar, 0xc93u);
    EXPECT_EQ(r.ss_ar, 0xc93u);
    EXPECT_EQ(r.es_ar, 0xc93u);
    EXPECT_EQ(r.tr_ar, 0x8bu);
}

} // namespace
} // namespace kxen::toolstack::build
