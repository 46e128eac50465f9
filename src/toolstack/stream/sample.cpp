#include "toolstack/stream/sample.hpp"

#include "toolstack/stream/hvm_context.hpp"
#include "toolstack/stream/writer.hpp"

#include <xen/hvm/params.h>

namespace kxen::toolstack::stream {

namespace {

// What Xen's HVM save writes after the static data and the pages, in Xen's order.
StreamResult<void> write_libxc(StreamOutput& out, SampleOptions const& opts) {
    LibxcWriter xc{out};
    if (auto r = xc.header(); !r) return r;

    // A cut-down CPU policy: the basic and extended maximum leaves and the feature leaves.
    std::vector<CpuidLeaf> leaves{
        {0x0, cpuid_no_subleaf, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69},   // "GenuineIntel"
        {0x1, cpuid_no_subleaf, 0x000906ea, 0x00100800, 0xf7fa3203, 0x1f8bfbff},
        {0x7, 0, 0, 0x009c4fbb, 0, 0},
        {0xd, 0, 0x7, 0, 0x340, 0},
        {0xd, 1, 0x1, 0, 0, 0},
        {0x80000000, cpuid_no_subleaf, 0x80000008, 0, 0, 0},
        {0x80000001, cpuid_no_subleaf, 0, 0, 0x121, 0x2c100800},
    };
    std::vector<MsrEntry> msrs{{0xce, 0}, {0x10a, 0}};   // PLATFORM_INFO, ARCH_CAPABILITIES
    if (auto r = xc.cpuid_policy(leaves); !r) return r;
    if (auto r = xc.msr_policy(msrs); !r) return r;
    if (auto r = xc.static_data_end(); !r) return r;

    // Pages in batches of 8, each page filled with its pfn so that a reader can check them.
    for (unsigned first = 0; first < opts.pages; first += 8) {
        std::vector<PageEntry> batch;
        std::vector<std::byte> data;
        for (unsigned pfn = first; pfn < opts.pages && pfn < first + 8; ++pfn) {
            batch.push_back({pfn, PageType::notab});
            data.insert(data.end(), page_size, std::byte(pfn + 1));
        }
        if (auto r = xc.page_data(batch, data); !r) return r;
    }

    if (auto r = xc.tsc_info({.mode = 0, .khz = 2'000'000, .nsec = 123'456'789, .incarnation = 0}); !r) return r;

    hvm_save_header hdr{};
    hdr.changeset = 0;
    hdr.cpuid = 0x000906ea;
    hdr.gtsc_khz = 2'000'000;
    HvmContextBuilder ctx{hdr};
    for (unsigned v = 0; v < opts.vcpus; ++v) {
        hvm_hw_cpu cpu{};
        cpu.rip = 0x100000;
        cpu.cr0 = 0x11;   // PE | ET: a PVH vCPU starts in protected mode
        cpu.cs_arbytes = 0xc9b;
        cpu.ds_arbytes = cpu.es_arbytes = cpu.ss_arbytes = 0xc93;
        cpu.cs_limit = cpu.ds_limit = cpu.es_limit = cpu.ss_limit = 0xffffffff;
        cpu.tr_arbytes = 0x8b;
        cpu.msr_efer = 0;
        cpu.flags = v == 0 ? 0 : XEN_X86_FPU_INITIALISED;
        ctx.add_cpu(std::uint16_t(v), cpu);
    }
    for (unsigned v = 0; v < opts.vcpus; ++v) {
        hvm_hw_lapic lapic{};
        lapic.apic_base_msr = 0xfee00000 | (v == 0 ? 0x900 : 0x800);
        ctx.add_lapic(std::uint16_t(v), lapic);
    }
    for (unsigned v = 0; v < opts.vcpus; ++v) {
        hvm_hw_lapic_regs regs{};
        regs.data[0x20] = std::uint8_t(v);   // APIC ID register, bits 24-31 of 0x20
        ctx.add_lapic_regs(std::uint16_t(v), regs);
    }
    for (unsigned v = 0; v < opts.vcpus; ++v) {
        hvm_hw_mtrr mtrr{};
        mtrr.msr_pat_cr = 0x0007040600070406ull;
        mtrr.msr_mtrr_cap = 0x508;
        mtrr.msr_mtrr_def_type = 0xc06;
        ctx.add_mtrr(std::uint16_t(v), mtrr);
    }
    for (unsigned v = 0; v < opts.vcpus; ++v) {
        hvm_hw_cpu_xsave xs{};
        xs.xcr0 = xs.xcr0_accum = 0x7;   // x87, SSE, AVX
        xs.save_area.xsave_hdr.xstate_bv = 0x3;
        std::vector<std::byte> avx(256);   // the AVX component (offset 576, size 256)
        ctx.add_xsave(std::uint16_t(v), xs, avx);
    }
    for (unsigned v = 0; v < opts.vcpus; ++v) {
        hvm_msr::hvm_one_msr tsc_aux{};
        tsc_aux.index = 0xc0000103;
        tsc_aux.val = v;
        ctx.add_cpu_msrs(std::uint16_t(v), std::span{&tsc_aux, 1});
    }
    auto blob = ctx.finish();
    if (!blob) return std::unexpected(blob.error());
    if (auto r = xc.hvm_context(*blob); !r) return r;

    std::uint64_t special = 0xfeff0;   // where Xen's PVH builder puts the special pages
    std::vector<HvmParam> params{
        {HVM_PARAM_STORE_PFN, special + 1},
        {HVM_PARAM_CONSOLE_PFN, special},
        {HVM_PARAM_IDENT_PT, special + 2},
        {HVM_PARAM_PAGING_RING_PFN, special + 3},
        {HVM_PARAM_MONITOR_RING_PFN, special + 4},
        {HVM_PARAM_SHARING_RING_PFN, special + 5},
        {HVM_PARAM_NR_IOREQ_SERVER_PAGES, 0},
    };
    if (auto r = xc.hvm_params(params); !r) return r;
    return xc.end();
}

} // namespace

StreamResult<std::vector<std::byte>> build_sample_stream(SampleOptions const& opts) {
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    if (opts.format == SampleFormat::libxc) {
        if (auto r = write_libxc(o, opts); !r) return std::unexpected(r.error());
        return out;
    }
    if (opts.format == SampleFormat::xl) {
        XlHeader hdr;
        hdr.mandatory_flags = xl_flag_streamv2 | xl_flag_json;
        hdr.config = fmt::format(
            R"({{"c_info":{{"type":"pvh","name":"sample","uuid":"5a6b7c8d-0000-4000-8000-000000000001"}},)"
            R"("b_info":{{"max_vcpus":{},"max_memkb":{},"target_memkb":{},"type.pvh":{{}}}},)"
            R"("on_poweroff":"destroy","on_reboot":"restart","on_crash":"destroy"}})",
            opts.vcpus, opts.pages * 4, opts.pages * 4);
        if (auto r = write_xl_header(o, hdr); !r) return std::unexpected(r.error());
    }
    LibxlWriter xl{o};
    if (auto r = xl.header(); !r) return std::unexpected(r.error());
    if (auto r = xl.libxc_context(); !r) return std::unexpected(r.error());
    if (auto r = write_libxc(o, opts); !r) return std::unexpected(r.error());
    if (auto r = xl.end(); !r) return std::unexpected(r.error());
    return out;
}

} // namespace kxen::toolstack::stream
