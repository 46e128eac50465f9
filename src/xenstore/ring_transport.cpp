#include "xenstore/ring_transport.hpp"
#include <algorithm>
#include <atomic>
#include <cstring>
#include <fmt/format.h>

namespace kxen::xenstore {
namespace {

// The ring indexes live in guest memory, which the guest writes concurrently: read each one
// exactly once per operation, with the ordering Xen's xen_mb() gives.
XENSTORE_RING_IDX load(XENSTORE_RING_IDX& idx, std::memory_order o) {
    return std::atomic_ref<XENSTORE_RING_IDX>{idx}.load(o);
}
void store(XENSTORE_RING_IDX& idx, XENSTORE_RING_IDX v) {
    std::atomic_ref<XENSTORE_RING_IDX>{idx}.store(v, std::memory_order_release);
}
bool sane(XENSTORE_RING_IDX cons, XENSTORE_RING_IDX prod) {
    return prod - cons <= XENSTORE_RING_SIZE;
}

} // namespace

DomainPortFactory no_domain_ports() {
    return [](DomId, std::uint64_t, std::uint32_t)
               -> std::expected<std::unique_ptr<DomainPort>, XsErr> {
        return std::unexpected(XsErr::nosys);
    };
}

RingTransport::RingTransport(DomId domid, std::unique_ptr<DomainPort> port)
    : domid_{domid}, port_{std::move(port)} {}

IoResult RingTransport::read(std::span<char> dst) {
    auto* intf = port_->interface();
    XENSTORE_RING_IDX cons = load(intf->req_cons, std::memory_order_relaxed);
    XENSTORE_RING_IDX prod = load(intf->req_prod, std::memory_order_acquire);
    if (!sane(cons, prod)) return std::unexpected(TransportError::bad_ring);

    std::size_t done = 0;
    while (done < dst.size() && cons != prod) {
        std::size_t chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
        chunk = std::min({chunk, std::size_t{prod - cons}, dst.size() - done});
        // SAFETY: MASK_XENSTORE_IDX keeps the offset inside req[]; chunk stops at its end.
        std::memcpy(dst.data() + done, intf->req + MASK_XENSTORE_IDX(cons), chunk);
        done += chunk;
        cons += static_cast<XENSTORE_RING_IDX>(chunk);
    }
    if (done) {
        store(intf->req_cons, cons);   // release: our copy is complete before the guest reuses
        moved_ = true;
    }
    return done;
}

IoResult RingTransport::write(std::span<char const> src) {
    auto* intf = port_->interface();
    XENSTORE_RING_IDX cons = load(intf->rsp_cons, std::memory_order_acquire);
    XENSTORE_RING_IDX prod = load(intf->rsp_prod, std::memory_order_relaxed);
    if (!sane(cons, prod)) return std::unexpected(TransportError::bad_ring);

    std::size_t done = 0;
    while (done < src.size() && prod - cons < XENSTORE_RING_SIZE) {
        std::size_t chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
        chunk = std::min({chunk, std::size_t{XENSTORE_RING_SIZE - (prod - cons)},
                          src.size() - done});
        // SAFETY: as in read(), the offset and length stay inside rsp[].
        std::memcpy(intf->rsp + MASK_XENSTORE_IDX(prod), src.data() + done, chunk);
        done += chunk;
        prod += static_cast<XENSTORE_RING_IDX>(chunk);
    }
    if (done) {
        store(intf->rsp_prod, prod);   // release: the data is there before the index says so
        moved_ = true;
    }
    return done;
}

void RingTransport::kick() {
    if (!moved_) return;
    moved_ = false;
    port_->notify();
}

void RingTransport::fail(ProtoError e) {
    std::atomic_ref<std::uint32_t>{port_->interface()->error}.store(
        static_cast<std::uint32_t>(e), std::memory_order_release);
    port_->notify();
}

void RingTransport::reset() {
    auto* intf = port_->interface();
    store(intf->req_cons, 0);
    store(intf->req_prod, 0);
    store(intf->rsp_cons, 0);
    store(intf->rsp_prod, 0);
    std::atomic_ref<std::uint32_t>{intf->server_features}.store(
        XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR,
        std::memory_order_release);
    std::atomic_ref<std::uint32_t>{intf->error}.store(XENSTORE_ERROR_NONE,
                                                       std::memory_order_release);
    std::atomic_ref<std::uint32_t> conn{intf->connection};
    if (conn.load(std::memory_order_acquire) == XENSTORE_RECONNECT)
        conn.store(XENSTORE_CONNECTED, std::memory_order_release);
    port_->notify();
}

std::string RingTransport::describe() const { return fmt::format("domain {} ring", domid_); }

} // namespace kxen::xenstore
