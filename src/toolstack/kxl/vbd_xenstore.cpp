#include "toolstack/kxl/vbd_xenstore.hpp"
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <thread>
#include <fmt/format.h>
#include "common/parse_number.hpp"
#include "toolstack/kxl/domain_xenstore.hpp"

namespace kxen::kxl {
namespace {

// io/xenbus.h's XenbusState values, as they appear in the store.
enum : int { initialising = 1, init_wait = 2, closing = 5, closed = 6 };

// How a disk is named in messages: as the user wrote it, and as the store knows it.
std::string disk_name(std::string const& vdev, std::uint32_t devid) {
    return vdev.empty() ? fmt::format("vbd {}", devid) : fmt::format("{} (vbd {})", vdev, devid);
}

} // namespace

std::string vbd_backend_dir(std::uint16_t domid) { return fmt::format("/local/domain/0/backend/vbd/{}", domid); }
std::string vbd_frontend_dir(std::uint16_t domid) { return domain_path(domid) + "/device/vbd"; }

std::string vbd_backend_path(std::uint16_t domid, std::uint32_t devid) {
    return fmt::format("{}/{}", vbd_backend_dir(domid), devid);
}

std::string vbd_frontend_path(std::uint16_t domid, std::uint32_t devid) {
    return fmt::format("{}/{}", vbd_frontend_dir(domid), devid);
}

std::optional<std::string> check_disk_target(toolstack::DiskSpec const& d) {
    if (d.target.empty()) return std::nullopt;
    struct stat st {};
    if (::stat(d.target.c_str(), &st) != 0) return fmt::format("disk {}: '{}': {}", d.vdev, d.target, std::strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return fmt::format("disk {}: '{}': not a regular file or block device", d.vdev, d.target);
    if (::access(d.target.c_str(), d.readonly ? R_OK : R_OK | W_OK) != 0)
        return fmt::format("disk {}: '{}': {}{}", d.vdev, d.target, std::strerror(errno),
                           d.readonly ? "" : " (it is attached read-write)");
    return std::nullopt;
}

xs::Result<void> write_vbd(xs::Handle& xs, xs::Transaction t, std::uint16_t domid, toolstack::DiskSpec const& disk) {
    using P = xs::Perm;
    auto const be = vbd_backend_path(domid, disk.devid);
    auto const fe = vbd_frontend_path(domid, disk.devid);
    // The backend's half is dom0's and the guest may read it; the frontend's half is the
    // guest's and the backend (dom0) may read it.
    if (auto r = xs.mkdir(be, t); !r) return r;
    if (auto r = xs.set_perms(be, {P{0, P::none}, P{domid, P::read}}, t); !r) return r;
    if (auto r = xs.mkdir(fe, t); !r) return r;
    if (auto r = xs.set_perms(fe, {P{domid, P::none}, P{0, P::read}}, t); !r) return r;
    std::string const devtype = disk.cdrom ? "cdrom" : "disk";
    std::pair<std::string, std::string> const nodes[] = {
        {be + "/frontend", fe},
        {be + "/frontend-id", fmt::format("{}", domid)},
        {be + "/online", "1"},
        {be + "/removable", disk.cdrom ? "1" : "0"},
        {be + "/bootable", "1"},
        {be + "/params", disk.target},
        {be + "/mode", disk.readonly ? "r" : "w"},
        {be + "/type", disk.backendtype == "phy" ? "phy" : "file"},
        {be + "/dev", disk.vdev},
        {be + "/device-type", devtype},
        {be + "/discard-enable", disk.discard ? "1" : "0"},
        {be + "/state", fmt::format("{}", int{initialising})},
        {fe + "/backend", be},
        {fe + "/backend-id", "0"},
        {fe + "/virtual-device", fmt::format("{}", disk.devid)},
        {fe + "/device-type", devtype},
        {fe + "/state", fmt::format("{}", int{initialising})},
    };
    for (auto const& [path, value] : nodes)
        if (auto r = xs.write(path, value, t); !r) return r;
    return {};
}

std::optional<toolstack::DiskSpec> read_vbd(xs::Handle& xs, std::uint16_t domid, std::uint32_t devid) {
    auto const be = vbd_backend_path(domid, devid);
    auto params = xs.try_read(be + "/params");
    if (!params) return std::nullopt;
    toolstack::DiskSpec d;
    d.target = std::move(*params);
    d.devid = devid;
    d.vdev = xs.try_read(be + "/dev").value_or("");
    d.readonly = xs.try_read(be + "/mode").value_or("w") != "w";
    d.cdrom = xs.try_read(be + "/device-type") == "cdrom";
    d.discard = xs.try_read(be + "/discard-enable").value_or("1") == "1";
    if (xs.try_read(be + "/type") == "phy") d.backendtype = "phy";
    return d;
}

std::expected<void, std::string> wait_for_vbd_backends(xs::Handle& xs, std::uint16_t domid,
                                                       std::span<toolstack::DiskSpec const> disks) {
    using namespace std::chrono;
    auto const deadline = steady_clock::now() + vbd_add_timeout;
    for (auto const& disk : disks) {
        auto const be = vbd_backend_path(domid, disk.devid);
        while (true) {
            auto st = parse_number<int>(xs.try_read(be + "/state"));
            // The backend writes hotplug-error before it closes the device.
            if (auto e = xs.try_read(be + "/hotplug-error"))
                return std::unexpected(fmt::format("disk {}: {}", disk.vdev, *e));
            if (st == closed) return std::unexpected(fmt::format("disk {}: the block backend closed it", disk.vdev));
            if (st && *st > initialising) break;
            if (steady_clock::now() > deadline)
                return std::unexpected(fmt::format("disk {}: no block backend took it within {} s "
                                                   "(is kxen-backend running?)", disk.vdev, vbd_add_timeout.count()));
            std::this_thread::sleep_for(milliseconds(5));
        }
    }
    return {};
}

xs::Result<void> remove_vbd(xs::Handle& xs, xs::Transaction t, std::uint16_t domid, std::uint32_t devid) {
    for (auto const& [path, parent] : {std::pair{vbd_frontend_path(domid, devid), vbd_frontend_dir(domid)},
                                       std::pair{vbd_backend_path(domid, devid), vbd_backend_dir(domid)}}) {
        if (auto r = xs.rm(path, t); !r && r.error().err != ENOENT) return r;
        auto left = xs.directory(parent, t);
        if (left && left->empty())
            if (auto r = xs.rm(parent, t); !r && r.error().err != ENOENT) return r;
    }
    return {};
}

std::expected<void, std::string> attach_vbd(xs::Handle& xs, std::uint16_t domid, toolstack::DiskSpec const& disk) {
    auto const be = vbd_backend_path(domid, disk.devid);
    auto const fe = vbd_frontend_path(domid, disk.devid);
    auto written = xs::in_transaction(xs, [&](xs::Transaction t) -> xs::Result<void> {
        if (!xs.read(domain_path(domid), t))
            return std::unexpected(xs::Error{ENOENT, fmt::format("domain {} has no xenstore tree", domid)});
        if (xs.read(be, t) || xs.read(fe, t))
            return std::unexpected(xs::Error{EEXIST, fmt::format("disk {} is already attached to domain {}",
                                                                 disk_name(disk.vdev, disk.devid), domid)});
        return write_vbd(xs, t, domid, disk);
    });
    if (!written) return std::unexpected(written.error().message);
    if (auto r = wait_for_vbd_backends(xs, domid, std::span{&disk, 1}); !r) {
        (void)xs::in_transaction(xs, [&](xs::Transaction t) { return remove_vbd(xs, t, domid, disk.devid); });
        return std::unexpected(r.error());
    }
    return {};
}

std::expected<DetachResult, std::string> detach_vbd(xs::Handle& xs, std::uint16_t domid, std::uint32_t devid,
                                                    bool force) {
    using namespace std::chrono;
    auto const be = vbd_backend_path(domid, devid);
    auto const fe = vbd_frontend_path(domid, devid);
    std::string vdev;
    // Only a backend that has taken the device (InitWait to Closing) has anything to close.
    bool backend_holds = false;
    auto asked = xs::in_transaction(xs, [&](xs::Transaction t) -> xs::Result<void> {
        bool const has_be = xs.read(be, t).has_value();
        if (!has_be && !xs.read(fe, t))
            return std::unexpected(xs::Error{ENOENT, fmt::format("domain {} has no disk {}", domid, devid)});
        vdev = xs.read(be + "/dev", t).value_or("");
        auto st = parse_number<int>(xs.try_read(be + "/state", t));
        backend_holds = has_be && st && *st >= init_wait && *st <= closing;
        if (!backend_holds) return {};
        // As libxl's forced removal: the frontend's half goes first, so the guest loses the
        // device whether or not it takes part.
        if (force)
            if (auto r = xs.rm(fe, t); !r && r.error().err != ENOENT) return r;
        if (auto r = xs.write(be + "/online", "0", t); !r) return r;
        return xs.write(be + "/state", fmt::format("{}", int{closing}), t);
    });
    if (!asked) return std::unexpected(asked.error().message);

    DetachResult result;
    if (backend_holds) {
        auto const deadline = steady_clock::now() + vbd_remove_timeout;
        while (parse_number<int>(xs.try_read(be + "/state")) != closed) {
            if (!xs.try_read(be)) break;   // someone else removed it meanwhile
            if (steady_clock::now() > deadline) {
                if (force) {
                    result.forced = true;
                    break;
                }
                auto fst = xs.try_read(fe + "/state");
                auto bst = xs.try_read(be + "/state");
                return std::unexpected(fmt::format(
                    "the guest did not close disk {} within {} s (frontend state {}, backend state {}); it stays "
                    "attached but offline: --force removes it anyway",
                    disk_name(vdev, devid), vbd_remove_timeout.count(), fst.value_or("gone"), bst.value_or("gone")));
            }
            std::this_thread::sleep_for(milliseconds(5));
        }
    }
    auto removed = xs::in_transaction(xs, [&](xs::Transaction t) { return remove_vbd(xs, t, domid, devid); });
    if (!removed) return std::unexpected(removed.error().message);
    return result;
}

std::vector<VbdInfo> list_vbds(xs::Handle& xs, std::uint16_t domid) {
    std::set<std::uint32_t> devids;
    for (auto const& dir : {vbd_frontend_dir(domid), vbd_backend_dir(domid)})
        if (auto names = xs.directory(dir))
            for (auto const& n : *names)
                if (auto id = parse_number<std::uint32_t>(n)) devids.insert(*id);
    std::vector<VbdInfo> out;
    for (auto devid : devids) {
        auto const fe = vbd_frontend_path(domid, devid);
        VbdInfo i;
        i.devid = devid;
        i.backend_id = parse_number<int>(xs.try_read(fe + "/backend-id")).value_or(-1);
        i.state = parse_number<int>(xs.try_read(fe + "/state")).value_or(-1);
        i.evtch = parse_number<long long>(xs.try_read(fe + "/event-channel")).value_or(-1);
        i.ring_ref = parse_number<long long>(xs.try_read(fe + "/ring-ref")).value_or(-1);
        i.backend = xs.try_read(fe + "/backend").value_or("");
        out.push_back(std::move(i));
    }
    return out;
}

} // namespace kxen::kxl
