// kxen::privcmd::Client: a dom0 process's typed connection to kxend (libxencall + libxenctrl
// in one small C++ class). Arguments are staged in the shared buffer; see protocol.hpp.
#pragma once
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>
#include <xen/xen.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>
#include "common/mapping.hpp"
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"
#include "common/xen_err.hpp"
#include "privcmd/protocol.hpp"

namespace kxen::privcmd {

struct ForeignMap {
    Mapping map;   // guest RAM [gfn, gfn+count), writable
};

// Where a guest's pages sit in kxend's RAM pool, for readers that can skip what was never
// written: SEEK_DATA/SEEK_HOLE on `fd` from `offset` find them without touching (or
// allocating) a page.
struct PoolRange {
    UniqueFd fd;
    std::uint64_t offset = 0;
};

class Client {
public:
    static SysResult<Client> connect(std::string const& path, std::size_t buffer_bytes = 4 << 20);

    // A raw hypercall; args that are pointers must be buffer offsets (see stage()).
    std::int64_t hypercall(std::uint64_t nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0,
                           std::uint64_t a2 = 0, std::uint64_t a3 = 0, std::uint64_t a4 = 0);
    XenResult<void> domctl(xen_domctl& op);
    XenResult<void> sysctl(xen_sysctl& op);

    // Typed calls the toolstack uses.
    XenResult<std::uint16_t> create_domain(xen_domain_handle_t const uuid, std::uint32_t max_vcpus,
                                           std::uint16_t want = 0);
    XenResult<void> destroy_domain(std::uint16_t domid);
    XenResult<void> pause(std::uint16_t domid);
    XenResult<void> unpause(std::uint16_t domid);
    XenResult<void> max_mem(std::uint16_t domid, std::uint64_t kb);
    XenResult<xen_domctl_getdomaininfo_t> domain_info(std::uint16_t domid);
    // The guests (dom0, the host, which Xen lists first, is left out).
    XenResult<std::vector<xen_domctl_getdomaininfo_t>> domain_list();
    XenResult<xen_sysctl_physinfo> physinfo();
    XenResult<std::string> read_console(bool clear);
    // Returns the ranges as populated, one per hypercall: each is contiguous in guest RAM and
    // so can be mapped with one map_foreign.
    XenResult<std::vector<std::pair<std::uint64_t, std::uint64_t>>> populate_physmap(std::uint16_t domid,
                                                                                    std::uint64_t gfn,
                                                                                    std::uint64_t count);
    XenResult<void> set_memory_map(std::uint16_t domid, std::span<std::uint8_t const> e820_bytes, unsigned nr);
    XenResult<void> set_hvm_param(std::uint16_t domid, std::uint32_t index, std::uint64_t value);
    XenResult<std::uint64_t> get_hvm_param(std::uint16_t domid, std::uint32_t index);
    XenResult<void> set_vcpu_context(std::uint16_t domid, std::uint32_t vcpu, void const* ctx, std::size_t len);
    XenResult<void> remote_shutdown(std::uint16_t domid, unsigned reason);
    XenResult<long> xen_version(int cmd, void* out = nullptr, std::size_t out_len = 0);

    // kxen operations beyond Xen's hypercalls.
    // `readonly` maps PROT_READ and tells kxend the pages are not written (log-dirty need not
    // count them).
    // Log-dirty (XEN_DOMCTL_shadow_op): OFF, ENABLE_LOGDIRTY, or CLEAN/PEEK into `bitmap` (one
    // bit per gfn, at most 4 GiB of guest per call with the default buffer). Returns the
    // number of dirty pages for CLEAN/PEEK.
    XenResult<std::uint32_t> shadow_op(std::uint16_t domid, std::uint32_t op, std::span<std::uint64_t> bitmap = {},
                                       std::uint32_t mode = 0);
    // The highest gfn the domain has (XENMEM_maximum_gpfn).
    XenResult<std::uint64_t> max_gpfn(std::uint16_t domid);
    // XEN_DOMCTL_getpageframeinfo3: each pfn (at most 1024) comes back with its type in bits
    // 28-31 (XEN_DOMCTL_PFINFO_NOTAB: RAM, XTAB: absent).
    XenResult<void> page_types(std::uint16_t domid, std::span<xen_pfn_t> pfns);
    // The domain's HVM save records (XEN_DOMCTL_gethvmcontext), and loading them back.
    XenResult<std::vector<std::uint8_t>> get_hvm_context(std::uint16_t domid);
    XenResult<void> set_hvm_context(std::uint16_t domid, std::span<std::uint8_t const> blob);
    // The CPUID leaves the domain's vCPUs see (XEN_DOMCTL_get_cpu_policy), in libx86's order.
    XenResult<std::vector<xen_cpuid_leaf_t>> cpuid_policy(std::uint16_t domid);
    // XEN_DOMCTL_resumedomain: a suspended domain runs on.
    XenResult<void> resume_domain(std::uint16_t domid);
    XenResult<ForeignMap> map_foreign(std::uint16_t domid, std::uint64_t gfn, std::uint64_t count,
                                      bool readonly = false);
    // Shared grant frame `idx` of the domain, mapped writable (XENMEM_acquire_resource): where
    // the toolstack seeds the reserved entries before the guest runs.
    XenResult<ForeignMap> map_grant_frame(std::uint16_t domid, std::uint32_t idx);
    XenResult<PoolRange> pool_range(std::uint16_t domid, std::uint64_t gfn, std::uint64_t count);
    // Bytes of console_io output from `pos`; waits up to wait_ms for some. Updates pos.
    XenResult<std::string> console_read(std::uint16_t domid, std::uint64_t& pos, int wait_ms);
    // Waits until the domain's state changes (shutdown, crash, pause, destroy). -ESRCH once gone.
    XenResult<std::uint64_t> domain_wait(std::uint16_t domid, std::uint64_t seen, int wait_ms);
    XenResult<void> set_name(std::uint16_t domid, std::string const& name);
    // What kxend does to the domain if this connection closes before the guard is set to none.
    XenResult<void> guard(std::uint16_t domid, Guard g, bool cooperative = false);
    // Guard::commit: `connection` is where the migration's go (go_bytes long) comes, and, when
    // `report` is not empty, where kxend sends it (and the result byte) should this process die.
    XenResult<void> guard_commit(std::uint16_t domid, int connection, std::size_t go_bytes, std::string_view report);
    // Guard::sent: `connection` is where the receiver's report (report_bytes, result included)
    // comes.
    XenResult<void> guard_sent(std::uint16_t domid, int connection, std::size_t report_bytes, bool cooperative);

    // dom0 event channels: each bound port comes with an eventfd that becomes readable when
    // the port is raised (read it to clear). Ports close with the connection.
    struct BoundPort {
        std::uint32_t port;
        UniqueFd fd;
    };
    XenResult<BoundPort> evtchn_bind_interdomain(std::uint16_t domid, std::uint32_t remote_port);
    XenResult<BoundPort> evtchn_alloc_unbound(std::uint16_t remote_domid);
    // A global VIRQ (VIRQ_DOM_EXC), as dom0's kernel binds it for xenstored.
    XenResult<BoundPort> evtchn_bind_virq(std::uint32_t virq);
    XenResult<void> evtchn_notify(std::uint32_t port);
    XenResult<void> evtchn_unbind(std::uint32_t port);
    // dom0 grant mappings: the granted page, mapped; the handle unmaps it.
    struct GrantMap {
        std::uint64_t handle;
        Mapping page;
    };
    // The error is a GNTST_* status (public/grant_table.h), or GNTST_general_error.
    std::expected<GrantMap, std::int16_t> gnttab_map(std::uint16_t domid, std::uint32_t ref, bool readonly);
    XenResult<void> gnttab_unmap(std::uint64_t handle);
    // GNTTABOP_copy of `len` bytes from this process into domain `domid`'s grant `ref` at
    // `offset`. Returns the GNTST_* status.
    std::int16_t grant_copy_to(std::uint16_t domid, std::uint32_t ref, std::uint16_t offset, void const* data,
                               std::uint16_t len);
    // The reverse, batched: `len` bytes from offset 0 of each of `domid`'s grants `refs` into
    // consecutive pages of `out` (refs.size() pages; at most 512), in one GNTTABOP_copy. The
    // first GNTST_* status that is not GNTST_okay, else GNTST_okay.
    std::int16_t grant_copy_from(std::uint16_t domid, std::span<std::uint32_t const> refs, std::uint16_t len,
                                 void* out);
    // Part of a granted page: what a block or network request names.
    struct GrantSegment {
        std::uint32_t ref;
        std::uint16_t offset;
        std::uint16_t len;
    };
    static constexpr std::size_t max_copy_segments = 512;
    // One GNTTABOP_copy between `domid`'s granted segments and `data`, which holds the segments
    // back to back: into the grants when `to_guest`, else out of them. At most
    // max_copy_segments; each segment stays within its page. Returns the first GNTST_* status
    // that is not GNTST_okay (nothing is guaranteed copied then), else GNTST_okay.
    std::int16_t grant_copy_segments(std::uint16_t domid, std::span<GrantSegment const> segs, void* data,
                                     bool to_guest);
    // A hypercall whose argument is one structure (sub-op `cmd`): staged, called, copied back.
    std::int64_t raw_struct_call(std::uint64_t nr, std::uint64_t cmd, void* arg, std::size_t len);
    XenResult<std::string> get_name(std::uint16_t domid);
    // The host's state directory (consoles, service sockets live under it).
    XenResult<std::string> state_dir();

private:
    Client(UniqueFd fd, Mapping buf) : fd_{std::move(fd)}, buf_{std::move(buf)} {}
    template <typename Arg> XenResult<void> struct_call(std::uint64_t nr, Arg& op);
    XenResult<void> domctl_staged(xen_domctl& op);   // op plus what is already staged
    XenResult<void> sysctl_staged(xen_sysctl& op);
    SysResult<Reply> call(Op op, std::array<std::uint64_t, 6> a, UniqueFd* fd_out = nullptr, int fd_in = -1);
    // Copy bytes into the buffer; returns their offset (a bump allocator reset per call).
    std::uint64_t stage(void const* p, std::size_t len);
    template <typename T> std::uint64_t stage(T const& t) { return stage(&t, sizeof t); }
    void fetch(std::uint64_t off, void* p, std::size_t len) { std::memcpy(p, buf_.data() + off, len); }
    // Offset 0 is never handed out: kxend reads a handle of 0 as NULL (a size query).
    void reset() { used_ = 16; }

    UniqueFd fd_;
    Mapping buf_;
    std::size_t used_ = 16;
};

// Xen error values as text, for messages (XenErr::srch -> "No such process").
std::string xen_strerror(XenErr e);

} // namespace kxen::privcmd
