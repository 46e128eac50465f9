// XEN_DOMCTL_gethvmcontext / sethvmcontext: a domain's platform and vCPU state as the
// records of public/hvm/save.h, the HVM_CONTEXT of a migration stream. kxen's PVH guests
// have no emulated platform devices, so the state is the header and one CPU record per vCPU;
// records for devices kxen does not model (LAPIC, MTRR, XSAVE, ... from a real Xen) are
// checked for shape and left out.
#include <cpuid.h>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>
#include <xen/domctl.h>
#include <xen/hvm/save.h>
#include "hv/domain/domain.hpp"
#include "hv/domctl/hvm_context.hpp"
#include "hv/hv.hpp"
#include "hv/vcpu/vcpu.hpp"

namespace kxen::hv {
namespace {

void put(std::vector<std::uint8_t>& out, std::uint16_t type, std::uint16_t instance, void const* p, std::uint32_t len) {
    hvm_save_descriptor d{type, instance, len};
    auto const* b = reinterpret_cast<std::uint8_t const*>(&d);
    out.insert(out.end(), b, b + sizeof d);
    auto const* q = static_cast<std::uint8_t const*>(p);
    out.insert(out.end(), q, q + len);
}

} // namespace

hvm_hw_mtrr default_mtrr() {
    hvm_hw_mtrr m{};
    m.msr_pat_cr = 0x0007040600070406ull;                  // the PAT's reset value
    m.msr_mtrr_cap = MTRR_VCNT | (1u << 8) | (1u << 10);   // variable ranges, fixed ranges, WC
    return m;
}

XenResult<std::vector<std::uint8_t>> save_hvm_context(Domain& d) {
    if (!d.paused() && !d.is_shutdown()) return xen_fail(XenErr::busy);
    if (!d.wait_stopped()) return xen_fail(XenErr::busy);
    std::vector<std::uint8_t> out;
    hvm_save_header h{};
    h.magic = HVM_FILE_MAGIC;
    h.version = HVM_FILE_VERSION;
    unsigned a, b, c, dx;
    __cpuid(1, a, b, c, dx);
    h.cpuid = a;
    h.gtsc_khz = static_cast<std::uint32_t>(d.hv().clock().tsc_khz());
    put(out, HVM_SAVE_CODE(HEADER), 0, &h, sizeof h);
    for (std::uint32_t i = 0; i < d.max_vcpus(); ++i) {
        auto* v = d.vcpu(i);
        if (!v || !v->up) continue;   // as Xen: offline vCPUs have no CPU record
        hvm_hw_cpu cpu;
        if (auto r = v->save_hw_cpu(cpu); !r) return xen_fail(r.error());
        put(out, HVM_SAVE_CODE(CPU), static_cast<std::uint16_t>(i), &cpu, sizeof cpu);
    }
    // Xen has an MTRR record for every vCPU; libxenguest starts a PVH vCPU from vCPU 0's.
    auto mtrr = default_mtrr();
    for (std::uint32_t i = 0; i < d.max_vcpus(); ++i)
        put(out, HVM_SAVE_CODE(MTRR), static_cast<std::uint16_t>(i), &mtrr, sizeof mtrr);
    put(out, 0, 0, nullptr, 0);   // END
    return out;
}

XenResult<void> load_hvm_context(Domain& d, std::span<std::uint8_t const> blob) {
    if (!d.paused()) return xen_fail(XenErr::busy);
    if (!d.wait_stopped()) return xen_fail(XenErr::busy);
    std::size_t off = 0;
    bool header = false;
    std::vector<std::pair<std::uint16_t, hvm_hw_cpu>> cpus;
    while (true) {
        hvm_save_descriptor desc;
        if (blob.size() - off < sizeof desc) return xen_fail(XenErr::inval);   // no END
        std::memcpy(&desc, blob.data() + off, sizeof desc);
        off += sizeof desc;
        if (desc.length > blob.size() - off) return xen_fail(XenErr::inval);
        auto const* body = blob.data() + off;
        off += desc.length;
        if (desc.typecode == 0) break;   // END
        if (!header) {
            // The header comes first and says the blob is one of ours.
            if (desc.typecode != HVM_SAVE_CODE(HEADER) || desc.length != sizeof(hvm_save_header))
                return xen_fail(XenErr::inval);
            hvm_save_header h;
            std::memcpy(&h, body, sizeof h);
            if (h.magic != HVM_FILE_MAGIC || h.version != HVM_FILE_VERSION) return xen_fail(XenErr::inval);
            header = true;
            continue;
        }
        if (desc.typecode == HVM_SAVE_CODE(CPU)) {
            // Xen before 4.7 wrote the record without `flags`; it reads those as zero.
            if (desc.length > sizeof(hvm_hw_cpu) || desc.length < offsetof(hvm_hw_cpu, flags))
                return xen_fail(XenErr::inval);
            if (desc.instance >= d.max_vcpus()) return xen_fail(XenErr::inval);
            hvm_hw_cpu cpu{};
            std::memcpy(&cpu, body, desc.length);
            cpus.emplace_back(desc.instance, cpu);
        } else if (desc.typecode >= HVM_SAVE_CODE_MAX + 8) {
            return xen_fail(XenErr::inval);   // beyond anything Xen defines
        }
    }
    if (!header) return xen_fail(XenErr::inval);
    for (auto const& [i, cpu] : cpus)
        if (auto r = d.vcpu(i)->load_hw_cpu(cpu); !r) return r;
    return {};
}

} // namespace kxen::hv
