// kxen::xenstore::DomainPort: what kxenstored needs from the hypervisor side to talk to one
// guest: the guest's xenstore ring page (struct xenstore_domain_interface, io/xs_wire.h),
// mapped read-write, and the interdomain event channel bound to the guest's xenstore port.
// On Xen, xenstored gets these from the grant table (GNTTAB_RESERVED_XENSTORE) or a foreign
// map of the store gfn, and from /dev/xen/evtchn. On kxen the lead implements them with
// kxend's privcmd channel. Everything above this interface (RingTransport) treats the page
// as hostile.
#pragma once
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include "xenstore/errors.hpp"
#include "xenstore/path.hpp"
#include "xenstore/wire.hpp"

namespace kxen::xenstore {

class DomainPort {
public:
    virtual ~DomainPort() = default;

    // The guest's page, mapped for as long as this object lives. Its contents change under
    // us at any time.
    virtual xenstore_domain_interface* interface() = 0;
    // Send an event to the guest on the bound channel.
    virtual void notify() = 0;
    // An fd that becomes readable (epoll) when the guest notifies the channel; -1 if there is
    // none (then kxenstored only looks at the ring when something else wakes it).
    virtual int event_fd() const = 0;
    // Consume the pending notification(s), so that event_fd() stops being readable.
    virtual void clear_event() = 0;
};

// Called for XS_INTRODUCE(domid, mfn, port) and, after a restart, for every domain the saved
// state lists. ENOSYS: no hypervisor to map guest pages with; kxenstored then keeps the
// domain introduced (for the toolstack's bookkeeping) without a ring connection.
using DomainPortFactory = std::function<std::expected<std::unique_ptr<DomainPort>, XsErr>(
    DomId domid, std::uint64_t mfn, std::uint32_t port)>;

// The factory until the hypervisor side exists: always ENOSYS.
DomainPortFactory no_domain_ports();

} // namespace kxen::xenstore
