#include "xenstore/privcmd_port.hpp"
#include <unistd.h>

namespace kxen::xenstore {
namespace {

class PrivcmdPort final : public DomainPort {
public:
    PrivcmdPort(privcmd::Client& c, privcmd::ForeignMap page, privcmd::Client::BoundPort port)
        : c_{&c}, page_{std::move(page)}, port_{std::move(port)} {}
    ~PrivcmdPort() override { (void)c_->evtchn_unbind(port_.port); }

    // SAFETY: one mapped page of guest RAM, at least the size of xenstore_domain_interface.
    xenstore_domain_interface* interface() override {
        return reinterpret_cast<xenstore_domain_interface*>(page_.map.data());
    }
    void notify() override { (void)c_->evtchn_notify(port_.port); }
    int event_fd() const override { return port_.fd.raw(); }
    void clear_event() override {
        std::uint64_t n;
        (void)!::read(port_.fd.raw(), &n, sizeof n);
    }

private:
    privcmd::Client* c_;
    privcmd::ForeignMap page_;
    privcmd::Client::BoundPort port_;
};

} // namespace

DomainPortFactory privcmd_domain_ports(privcmd::Client& c) {
    return [&c](DomId domid, std::uint64_t mfn, std::uint32_t port)
               -> std::expected<std::unique_ptr<DomainPort>, XsErr> {
        auto page = c.map_foreign(static_cast<std::uint16_t>(domid), mfn, 1);
        if (!page) return std::unexpected(XsErr::inval);
        auto bound = c.evtchn_bind_interdomain(static_cast<std::uint16_t>(domid), port);
        if (!bound) return std::unexpected(XsErr::inval);
        return std::make_unique<PrivcmdPort>(c, std::move(*page), std::move(*bound));
    };
}

} // namespace kxen::xenstore
