#include "toolstack/kxl/domain_xenstore.hpp"
#include <ctime>
#include <fmt/format.h>
#include "toolstack/kxl/vbd_xenstore.hpp"

namespace kxen::kxl {

xs::Result<xs::Handle> open_store(privcmd::Client& c) {
    auto dir = c.state_dir();
    if (!dir) return std::unexpected(xs::Error{ENOENT, "kxend did not say where its state directory is"});
    return xs::Handle::open(xs::socket_path(*dir));
}

std::string domain_path(std::uint16_t domid) { return fmt::format("/local/domain/{}", domid); }

std::string DomainNames::operator()(std::uint16_t domid) {
    if (auto n = c_.get_name(domid); n && !n->empty()) return *n;
    if (!opened_) {
        opened_ = true;
        if (auto h = open_store(c_)) xs_.emplace(std::move(*h));
    }
    return xs_ ? xs_->try_read(domain_path(domid) + "/name").value_or("") : std::string{};
}

namespace {

std::string vm_path(toolstack::DomainConfig const& cfg) { return "/vm/" + cfg.uuid.to_string(); }

xs::Result<void> write_tree(xs::Handle& xs, xs::Transaction t, std::uint16_t domid,
                            toolstack::DomainConfig const& cfg, StoreChannels const& ch) {
    using P = xs::Perm;
    auto const dom = domain_path(domid);
    auto const vm = vm_path(cfg);
    // As libxl's roperm and rwperm: dom0 owns what the guest may only read; the guest owns
    // the nodes it answers through (control/shutdown, feature flags, data).
    auto ro = [&](std::string const& path) -> xs::Result<void> {
        if (auto r = xs.mkdir(path, t); !r) return r;
        return xs.set_perms(path, {P{0, P::none}, P{domid, P::read}}, t);
    };
    auto rw = [&](std::string const& path) -> xs::Result<void> {
        if (auto r = xs.mkdir(path, t); !r) return r;
        return xs.set_perms(path, {P{domid, P::none}}, t);
    };
    auto put = [&](std::string const& path, std::string const& value) { return xs.write(path, value, t); };

    // A stale tree of an earlier domain with this id must not leak into the new one.
    (void)xs.rm(dom, t);
    (void)xs.rm(vbd_backend_dir(domid), t);
    for (auto const& p : {dom, vm}) if (auto r = ro(p); !r) return r;
    if (auto r = xs.mkdir(fmt::format("/libxl/{}", domid), t); !r) return r;
    if (auto r = xs.set_perms(fmt::format("/libxl/{}", domid), {P{0, P::none}}, t); !r) return r;

    for (auto const& sub : {"cpu", "memory", "device", "control", "console", "store"})
        if (auto r = ro(dom + "/" + sub); !r) return r;
    for (auto const& sub : {"control/shutdown", "control/feature-poweroff", "control/feature-reboot",
                            "control/feature-suspend", "control/sysrq", "data", "drivers", "feature",
                            "attr", "error", "device/suspend/event-channel"})
        if (auto r = rw(dom + "/" + sub); !r) return r;

    std::pair<std::string, std::string> const nodes[] = {
        {vm + "/uuid", cfg.uuid.to_string()},
        {vm + "/name", cfg.name},
        {vm + "/start_time", fmt::format("{}", std::time(nullptr))},
        {fmt::format("/libxl/{}/type", domid), "pvh"},
        {dom + "/vm", vm},
        {dom + "/name", cfg.name},
        {dom + "/domid", fmt::format("{}", domid)},
        {dom + "/memory/static-max", fmt::format("{}", cfg.maxmem_mib << 10)},
        {dom + "/memory/target", fmt::format("{}", cfg.memory_mib << 10)},
        {dom + "/memory/videoram", "-1"},
        {dom + "/store/ring-ref", fmt::format("{}", ch.store_gfn)},
        {dom + "/store/port", fmt::format("{}", ch.store_port)},
        {dom + "/console/ring-ref", fmt::format("{}", ch.console_gfn)},
        {dom + "/console/port", fmt::format("{}", ch.console_port)},
        {dom + "/console/type", "xenconsoled"},
        {dom + "/console/output", "pty"},
        {dom + "/console/limit", "1048576"},
        {dom + "/console/backend-id", "0"},
    };
    for (auto const& [path, value] : nodes)
        if (auto r = put(path, value); !r) return r;
    for (auto const& disk : cfg.disks)
        if (auto r = write_vbd(xs, t, domid, disk); !r) return r;
    for (unsigned v = 0; v < cfg.max_vcpus; ++v)
        if (auto r = put(fmt::format("{}/cpu/{}/availability", dom, v), v < cfg.vcpus ? "online" : "offline"); !r)
            return r;
    return {};
}

} // namespace

std::expected<void, std::string> announce_domain(xs::Handle& xs, std::uint16_t domid,
                                                 toolstack::DomainConfig const& cfg, StoreChannels const& ch) {
    auto r = xs::in_transaction(xs, [&](xs::Transaction t) { return write_tree(xs, t, domid, cfg, ch); });
    if (!r) return std::unexpected(r.error().message);
    if (auto i = xs.introduce(domid, ch.store_gfn, ch.store_port); !i) return std::unexpected(i.error().message);
    return wait_for_vbd_backends(xs, domid, cfg.disks);
}

void forget_domain(xs::Handle& xs, std::uint16_t domid) {
    auto const dom = domain_path(domid);
    auto vm = xs.try_read(dom + "/vm");
    (void)xs.release(domid);
    (void)xs::in_transaction(xs, [&](xs::Transaction t) -> xs::Result<void> {
        (void)xs.rm(dom, t);
        if (vm && vm->starts_with("/vm/")) (void)xs.rm(*vm, t);
        (void)xs.rm(fmt::format("/libxl/{}", domid), t);
        (void)xs.rm(vbd_backend_dir(domid), t);
        return {};
    });
}

} // namespace kxen::kxl
