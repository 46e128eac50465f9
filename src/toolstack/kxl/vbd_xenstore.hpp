// A domain's virtual block devices in xenstore, as libxl's device add and remove handle them:
// the backend's half under /local/domain/0/backend/vbd/<domid>/<devid>, the frontend's half
// under /local/domain/<domid>/device/vbd/<devid>, and the xenbus states both ends go through.
// `kxl create` writes a config's disks with these; block-attach, block-detach and block-list
// use them on a running domain.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include "toolstack/xl_disk.hpp"
#include "xenstore/client/xs.hpp"

namespace kxen::kxl {

// The directories that hold a domain's vbds, and one vbd's.
std::string vbd_backend_dir(std::uint16_t domid);
std::string vbd_frontend_dir(std::uint16_t domid);
std::string vbd_backend_path(std::uint16_t domid, std::uint32_t devid);
std::string vbd_frontend_path(std::uint16_t domid, std::uint32_t devid);

// Why the disk's image cannot be opened as the spec asks, or nothing if it can (an empty
// cdrom drive always can). Checked before anything is written, as xl checks it.
std::optional<std::string> check_disk_target(toolstack::DiskSpec const& disk);

// Both halves of one disk, in the caller's transaction, as libxl__device_disk_add writes them
// (frontend and backend state Initialising, backend online).
xs::Result<void> write_vbd(xs::Handle& xs, xs::Transaction t, std::uint16_t domid, toolstack::DiskSpec const& disk);

// The disk as its backend's nodes describe it (what write_vbd wrote), or nothing once they
// are gone.
std::optional<toolstack::DiskSpec> read_vbd(xs::Handle& xs, std::uint16_t domid, std::uint32_t devid);

// As libxl's device add: waits until each disk's backend has taken the device (InitWait or
// beyond), so a frontend that looks at once finds a disk somebody serves. An error names the
// disk and carries the backend's hotplug-error when it wrote one.
inline constexpr std::chrono::seconds vbd_add_timeout{20};
std::expected<void, std::string> wait_for_vbd_backends(xs::Handle& xs, std::uint16_t domid,
                                                       std::span<toolstack::DiskSpec const> disks);

// xl block-attach: refuses a devid the domain already has, writes the disk in one
// transaction and waits for its backend; on failure removes what it wrote.
std::expected<void, std::string> attach_vbd(xs::Handle& xs, std::uint16_t domid, toolstack::DiskSpec const& disk);

// xl block-detach, as libxl's device removal: the backend is set offline and Closing, the
// frontend closes, the backend follows to Closed; then both halves are removed. A frontend
// that does not close within the timeout fails the detach and leaves the device listed,
// unless `force`, which removes it anyway (as `xl block-detach -f`).
inline constexpr std::chrono::seconds vbd_remove_timeout{10};
struct DetachResult {
    bool forced = false;   // the backend never reached Closed; the device was removed anyway
};
std::expected<DetachResult, std::string> detach_vbd(xs::Handle& xs, std::uint16_t domid, std::uint32_t devid,
                                                    bool force);

// Both halves of one vbd, gone; and their parents once empty (libxl__xs_path_cleanup), so a
// domain whose last disk went has no vbd nodes left.
xs::Result<void> remove_vbd(xs::Handle& xs, xs::Transaction t, std::uint16_t domid, std::uint32_t devid);

// One row of xl block-list (libxl_device_disk_getinfo): -1 where the store has no value.
struct VbdInfo {
    std::uint32_t devid = 0;
    int backend_id = -1;
    int state = -1;          // the frontend's XenbusState
    long long evtch = -1;
    long long ring_ref = -1;
    std::string backend;     // the frontend's `backend` node
};
// Every vbd the domain has (in either half), by devid.
std::vector<VbdInfo> list_vbds(xs::Handle& xs, std::uint16_t domid);

} // namespace kxen::kxl
