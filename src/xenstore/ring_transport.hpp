// kxen::xenstore::RingTransport: a guest connection over its xenstore ring page (Xen's
// readchn()/writechn() in tools/xenstored/domain.c). The guest produces requests in req[]
// and we consume them; we produce replies and watch events in rsp[]. Indexes are free-running
// uint32_t, masked with MASK_XENSTORE_IDX. The guest can write anything into the page at any
// time: each index is read once per call, and a producer more than XENSTORE_RING_SIZE ahead
// of its consumer breaks the connection (not the store).
#pragma once
#include <memory>
#include "xenstore/domain_port.hpp"
#include "xenstore/transport.hpp"

namespace kxen::xenstore {

class RingTransport final : public Transport {
public:
    RingTransport(DomId domid, std::unique_ptr<DomainPort> port);

    IoResult read(std::span<char> dst) override;
    IoResult write(std::span<char const> src) override;
    void kick() override;
    int wait_fd() const override { return port_->event_fd(); }
    bool poll_writable() const override { return false; }
    void woken() override { port_->clear_event(); }
    void fail(ProtoError e) override;
    bool droppable() const override { return false; }
    std::string describe() const override;

    // XS_INTRODUCE of a fresh guest: zero the indexes (Xen's domain_conn_reset()), advertise
    // our features, and finish a reconnect the guest asked for.
    void reset();
    DomainPort& port() { return *port_; }

private:
    DomId domid_;
    std::unique_ptr<DomainPort> port_;
    bool moved_ = false;   // bytes went through since the last kick()
};

} // namespace kxen::xenstore
