// The PVH domain builder as `kxl create` runs it on a kernel file: the ELF parser (headers,
// program headers, Xen notes in PT_NOTE or in sections), then the layout plan and the copy
// into guest RAM. Four bytes before the ELF image choose the domain:
//   byte 0  bit 0: RAM may hold old data (bss is zeroed)  bit 1: a ramdisk  bit 2: a cmdline
//   byte 1  RAM in MiB, 1 to 16
//   byte 2  vCPUs, 1 to 16
//   byte 3  ramdisk size in KiB
// Whatever parses must plan and write within the domain's RAM (the RAM buffer is exactly its
// size, so ASan sees a write past it).
#include <cstdint>
#include <memory>
#include <vector>
#include "fuzz_input.hpp"
#include "toolstack/build/elf.hpp"
#include "toolstack/build/pvh.hpp"
#include "toolstack/build/test_ram.hpp"

using namespace kxen::toolstack::build;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    std::uint8_t const flags = in.u8();
    std::uint64_t const mem_mib = 1 + in.u8() % 16;
    unsigned const vcpus = 1 + in.u8() % 16;
    std::size_t const ramdisk_kib = in.u8();
    auto file = in.bytes(in.left());
    auto img = parse_elf(std::span<std::byte const>{reinterpret_cast<std::byte const*>(file.data()), file.size()});
    if (!img) return 0;
    PvhParams p;
    p.mem_bytes = mem_mib << 20;
    p.nr_vcpus = vcpus;
    p.memory_may_be_dirty = (flags & 1) != 0;
    if (flags & 2) p.ramdisk = std::vector<std::byte>(ramdisk_kib << 10, std::byte{0x5a});
    if (flags & 4) p.cmdline = "console=hvc0 test=fuzz";
    auto layout = plan_pvh(*img, std::move(p));
    if (!layout) return 0;
    // Exactly the domain's size, one buffer per size, kept from input to input.
    static std::unique_ptr<test::TestRam> rams[16];
    auto& ram = rams[mem_mib - 1];
    if (!ram) ram = std::make_unique<test::TestRam>(mem_mib << 20);
    (void)write_pvh(*layout, *img, *ram);
    return 0;
}
