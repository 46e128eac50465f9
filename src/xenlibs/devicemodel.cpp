// libxendevicemodel.so.1: a device model's calls on a domain, each one XEN_DMOP_* sent with
// __HYPERVISOR_dm_op as Xen's library sends it; kxend answers what it implements and refuses
// the rest as Xen refuses an unknown op.
// Xen's headers declare C functions without extern "C" of their own.
extern "C" {
#include <xendevicemodel.h>
}
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <span>
#include <xen/hvm/dm_op.h>
#include "xenlibs/handle.hpp"

using kxen::privcmd::Op;
using kxen::xenlibs::Channel;

struct xendevicemodel_handle {
    xentoolcore__active_handle tc;
    std::unique_ptr<Channel> ch;
    std::int32_t restricted = -1;
};

namespace {

int restrict_cb(xentoolcore__active_handle* ah, domid_t domid) {
    reinterpret_cast<xendevicemodel_handle*>(ah)->restricted = domid;
    return 0;
}

struct Buf {
    void* p;
    std::size_t len;
};

// One dm_op: each buffer is copied into the shared buffer, the call made, and each copied back
// (the op's OUT fields, a dirty bitmap).
int dm_op(xendevicemodel_handle* h, domid_t domid, std::initializer_list<Buf> bufs) {
    if (h->restricted >= 0 && domid != h->restricted) {
        errno = EPERM;
        return -1;
    }
    std::size_t pages = 1;
    for (auto const& b : bufs) pages += (b.len + 4095) >> 12;
    auto* mem = static_cast<std::byte*>(h->ch->alloc_pages(pages));
    if (!mem) return -1;
    auto* descs = reinterpret_cast<xen_dm_op_buf_t*>(mem);
    auto* at = mem + 4096;
    std::size_t i = 0;
    for (auto const& b : bufs) {
        std::memcpy(at, b.p, b.len);
        descs[i].h = at;   // a guest handle is a plain pointer in tools builds
        descs[i].size = b.len;
        at += ((b.len + 4095) >> 12) << 12;
        ++i;
    }
    auto r = h->ch->call(Op::hypercall, {__HYPERVISOR_dm_op, domid, bufs.size(),
                                         reinterpret_cast<std::uint64_t>(descs), 0, 0});
    at = mem + 4096;
    for (auto const& b : bufs) {
        std::memcpy(b.p, at, b.len);
        at += ((b.len + 4095) >> 12) << 12;
    }
    h->ch->free_pages(mem, pages);
    return static_cast<int>(kxen::xenlibs::c_result(r));
}

int dm_op(xendevicemodel_handle* h, domid_t domid, xen_dm_op& op) { return dm_op(h, domid, {{&op, sizeof op}}); }

xen_dm_op make(std::uint32_t code) {
    xen_dm_op op{};
    op.op = code;
    return op;
}

int io_range(xendevicemodel_handle* h, domid_t domid, std::uint32_t code, ioservid_t id, std::uint32_t type,
             std::uint64_t start, std::uint64_t end) {
    auto op = make(code);
    auto& r = op.u.map_io_range_to_ioreq_server;   // both ops share the layout
    r.id = id;
    r.type = type;
    r.start = start;
    r.end = end;
    return dm_op(h, domid, op);
}

} // namespace

extern "C" {

xendevicemodel_handle* xendevicemodel_open(xentoollog_logger*, unsigned) {
    return kxen::xenlibs::open_handle<xendevicemodel_handle>(
        1 << 20, "xendevicemodel: error: Could not obtain handle on privileged command interface", restrict_cb);
}

int xendevicemodel_close(xendevicemodel_handle* h) {
    return kxen::xenlibs::close_handle(h);
}

int xendevicemodel_create_ioreq_server(xendevicemodel_handle* h, domid_t domid, int handle_bufioreq, ioservid_t* id) {
    auto op = make(XEN_DMOP_create_ioreq_server);
    op.u.create_ioreq_server.handle_bufioreq = static_cast<std::uint8_t>(handle_bufioreq);
    if (dm_op(h, domid, op) < 0) return -1;
    *id = op.u.create_ioreq_server.id;
    return 0;
}

int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle* h, domid_t domid, ioservid_t id, xen_pfn_t* ioreq_gfn,
                                         xen_pfn_t* bufioreq_gfn, evtchn_port_t* bufioreq_port) {
    auto op = make(XEN_DMOP_get_ioreq_server_info);
    auto& d = op.u.get_ioreq_server_info;
    d.id = id;
    d.flags = (!ioreq_gfn && !bufioreq_gfn) ? XEN_DMOP_no_gfns : 0;
    if (dm_op(h, domid, op) < 0) return -1;
    if (ioreq_gfn) *ioreq_gfn = d.ioreq_gfn;
    if (bufioreq_gfn) *bufioreq_gfn = d.bufioreq_gfn;
    if (bufioreq_port) *bufioreq_port = d.bufioreq_port;
    return 0;
}

int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id, int is_mmio,
                                                std::uint64_t start, std::uint64_t end) {
    return io_range(h, domid, XEN_DMOP_map_io_range_to_ioreq_server, id,
                    is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT, start, end);
}

int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id,
                                                    int is_mmio, std::uint64_t start, std::uint64_t end) {
    return io_range(h, domid, XEN_DMOP_unmap_io_range_from_ioreq_server, id,
                    is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT, start, end);
}

int xendevicemodel_map_mem_type_to_ioreq_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id,
                                                std::uint16_t type, std::uint32_t flags) {
    auto op = make(XEN_DMOP_map_mem_type_to_ioreq_server);
    auto& d = op.u.map_mem_type_to_ioreq_server;
    d.id = id;
    d.type = type;
    d.flags = flags;
    return dm_op(h, domid, op);
}

int xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id,
                                              std::uint16_t segment, std::uint8_t bus, std::uint8_t device,
                                              std::uint8_t function) {
    auto sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
    return io_range(h, domid, XEN_DMOP_map_io_range_to_ioreq_server, id, XEN_DMOP_IO_RANGE_PCI, sbdf, sbdf);
}

int xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id,
                                                  std::uint16_t segment, std::uint8_t bus, std::uint8_t device,
                                                  std::uint8_t function) {
    auto sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
    return io_range(h, domid, XEN_DMOP_unmap_io_range_from_ioreq_server, id, XEN_DMOP_IO_RANGE_PCI, sbdf, sbdf);
}

int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id) {
    auto op = make(XEN_DMOP_destroy_ioreq_server);
    op.u.destroy_ioreq_server.id = id;
    return dm_op(h, domid, op);
}

int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle* h, domid_t domid, ioservid_t id, int enabled) {
    auto op = make(XEN_DMOP_set_ioreq_server_state);
    op.u.set_ioreq_server_state.id = id;
    op.u.set_ioreq_server_state.enabled = !!enabled;
    return dm_op(h, domid, op);
}

int xendevicemodel_set_pci_intx_level(xendevicemodel_handle* h, domid_t domid, std::uint16_t segment,
                                      std::uint8_t bus, std::uint8_t device, std::uint8_t intx, unsigned level) {
    auto op = make(XEN_DMOP_set_pci_intx_level);
    auto& d = op.u.set_pci_intx_level;
    d.domain = segment;
    d.bus = bus;
    d.device = device;
    d.intx = intx;
    d.level = static_cast<std::uint8_t>(level);
    return dm_op(h, domid, op);
}

int xendevicemodel_set_isa_irq_level(xendevicemodel_handle* h, domid_t domid, std::uint8_t irq, unsigned level) {
    auto op = make(XEN_DMOP_set_isa_irq_level);
    op.u.set_isa_irq_level.isa_irq = irq;
    op.u.set_isa_irq_level.level = static_cast<std::uint8_t>(level);
    return dm_op(h, domid, op);
}

int xendevicemodel_set_irq_level(xendevicemodel_handle* h, domid_t domid, unsigned irq, unsigned level) {
    auto op = make(XEN_DMOP_set_irq_level);
    op.u.set_irq_level.irq = irq;
    op.u.set_irq_level.level = static_cast<std::uint8_t>(level);
    return dm_op(h, domid, op);
}

int xendevicemodel_set_pci_link_route(xendevicemodel_handle* h, domid_t domid, std::uint8_t link, std::uint8_t irq) {
    auto op = make(XEN_DMOP_set_pci_link_route);
    op.u.set_pci_link_route.link = link;
    op.u.set_pci_link_route.isa_irq = irq;
    return dm_op(h, domid, op);
}

int xendevicemodel_inject_msi(xendevicemodel_handle* h, domid_t domid, std::uint64_t msi_addr, std::uint32_t msi_data) {
    auto op = make(XEN_DMOP_inject_msi);
    op.u.inject_msi.addr = msi_addr;
    op.u.inject_msi.data = msi_data;
    return dm_op(h, domid, op);
}

int xendevicemodel_track_dirty_vram(xendevicemodel_handle* h, domid_t domid, std::uint64_t first_pfn, std::uint32_t nr,
                                    unsigned long* dirty_bitmap) {
    auto op = make(XEN_DMOP_track_dirty_vram);
    op.u.track_dirty_vram.first_pfn = first_pfn;
    op.u.track_dirty_vram.nr = nr;
    std::size_t bytes = ((nr + 63) / 64) * 8;
    if (!dirty_bitmap) return dm_op(h, domid, op);
    return dm_op(h, domid, {{&op, sizeof op}, {dirty_bitmap, bytes}});
}

int xendevicemodel_modified_memory_bulk(xendevicemodel_handle* h, domid_t domid,
                                        xen_dm_op_modified_memory_extent extents[], std::uint32_t nr) {
    auto op = make(XEN_DMOP_modified_memory);
    op.u.modified_memory.nr_extents = nr;
    return dm_op(h, domid, {{&op, sizeof op}, {extents, nr * sizeof extents[0]}});
}

int xendevicemodel_modified_memory(xendevicemodel_handle* h, domid_t domid, std::uint64_t first_pfn, std::uint32_t nr) {
    xen_dm_op_modified_memory_extent e{};
    e.first_pfn = first_pfn;
    e.nr = nr;
    return xendevicemodel_modified_memory_bulk(h, domid, &e, 1);
}

int xendevicemodel_set_mem_type(xendevicemodel_handle* h, domid_t domid, hvmmem_type_t mem_type,
                                std::uint64_t first_pfn, std::uint32_t nr) {
    auto op = make(XEN_DMOP_set_mem_type);
    op.u.set_mem_type.mem_type = static_cast<std::uint16_t>(mem_type);
    op.u.set_mem_type.first_pfn = first_pfn;
    op.u.set_mem_type.nr = nr;
    return dm_op(h, domid, op);
}

int xendevicemodel_inject_event(xendevicemodel_handle* h, domid_t domid, int vcpu, std::uint8_t vector,
                                std::uint8_t type, std::uint32_t error_code, std::uint8_t insn_len,
                                std::uint64_t extra) {
    auto op = make(XEN_DMOP_inject_event);
    auto& d = op.u.inject_event;
    d.vcpuid = static_cast<std::uint32_t>(vcpu);
    d.vector = vector;
    d.type = type;
    d.error_code = error_code;
    d.insn_len = insn_len;
    d.cr2 = extra;
    return dm_op(h, domid, op);
}

int xendevicemodel_shutdown(xendevicemodel_handle* h, domid_t domid, unsigned reason) {
    auto op = make(XEN_DMOP_remote_shutdown);
    op.u.remote_shutdown.reason = reason;
    return dm_op(h, domid, op);
}

int xendevicemodel_relocate_memory(xendevicemodel_handle* h, domid_t domid, std::uint32_t size, std::uint64_t src_gfn,
                                   std::uint64_t dst_gfn) {
    auto op = make(XEN_DMOP_relocate_memory);
    op.u.relocate_memory.size = size;
    op.u.relocate_memory.src_gfn = src_gfn;
    op.u.relocate_memory.dst_gfn = dst_gfn;
    return dm_op(h, domid, op);
}

int xendevicemodel_pin_memory_cacheattr(xendevicemodel_handle* h, domid_t domid, std::uint64_t start,
                                        std::uint64_t end, std::uint32_t type) {
    auto op = make(XEN_DMOP_pin_memory_cacheattr);
    op.u.pin_memory_cacheattr.start = start;
    op.u.pin_memory_cacheattr.end = end;
    op.u.pin_memory_cacheattr.type = type;
    return dm_op(h, domid, op);
}

int xendevicemodel_nr_vcpus(xendevicemodel_handle* h, domid_t domid, unsigned* vcpus) {
    auto op = make(XEN_DMOP_nr_vcpus);
    if (dm_op(h, domid, op) < 0) return -1;
    *vcpus = op.u.nr_vcpus.vcpus;
    return 0;
}

int xendevicemodel_restrict(xendevicemodel_handle* h, domid_t domid) { return restrict_cb(&h->tc, domid); }

}
