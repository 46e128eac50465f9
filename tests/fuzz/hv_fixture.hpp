// What the hypervisor-side fuzz targets share: one Hv for the whole run (it owns threads and
// the RAM pool, too costly to build per input) on the software vCPU, a domain 1 made fresh
// for each input, and the caller's memory as a plain buffer.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>
#include <xen/domctl.h>
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/byte_memory.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::fuzz {

using Memory = hv::ByteMemory;

inline hv::Hv& the_hv() {
    static hv::Hv* const h = [] {
        log::set_min_level(log::Level::error);
        char dir[] = "/tmp/kxen-fuzz-XXXXXX";
        if (!::mkdtemp(dir)) std::abort();
        auto r = hv::Hv::create(hv::HvOptions{.state_dir = dir, .pool_bytes = 1ull << 32, .nr_pcpus = 1,
                                              .accel = accel::Kind::soft});
        if (!r) std::abort();
        return r->release();
    }();
    return *h;
}

// Domain 1, paused (nothing runs), with 2 vCPUs and 1 MiB it may populate.
inline std::shared_ptr<hv::Domain> fresh_domain() {
    auto& hv = the_hv();
    xen_domain_handle_t handle{};
    auto d = hv.create_domain(1, handle, XEN_DOMCTL_CDF_hvm, 2);
    if (!d) std::abort();
    Memory mem{sizeof(xen_domctl)};
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_max_mem;
    op.domain = 1;
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    op.u.max_mem.max_memkb = 1024;
    mem.write(0, &op, sizeof op);
    hv::Caller c{hv, nullptr, nullptr, mem};
    if (hv::hypercall(c, __HYPERVISOR_domctl, {0}) != 0) std::abort();
    return *d;
}

// Back to the state fresh_domain() starts from: no domains, no dom0 event channels.
inline void reset_hv() {
    auto& hv = the_hv();
    for (auto const& d : hv.domains()) (void)hv.destroy_domain(d->id());
    hv::evtchn::close_all(hv, hv.dom0_evtchns());
}

} // namespace kxen::fuzz
