// kxen::toolstack::DiskSpec: one entry of xl.cfg's `disk = [...]`, in the syntax of
// xl-disk-configuration(5) (Xen's docs/misc/xl-disk-configuration.txt, libxlu_disk_l.l):
// comma-separated positional parameters (target, format, vdev, access), key=value pairs and
// flags, `target=` last since a target may hold commas, and the deprecated forms
// (`phy:/dev/x,xvda,w`, `hdc:cdrom`).
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace kxen::toolstack {

struct DiskSpec {
    std::string target;          // image file or block device ("" only for an empty cdrom)
    std::string vdev;            // as written: xvda, hdc, sdb1, ...
    std::uint32_t devid = 0;     // libxl's device number for vdev (xenstore's <devid>)
    bool readonly = false;       // access=ro (and every cdrom)
    bool cdrom = false;          // devtype=cdrom
    bool discard = true;         // `discard` / `no-discard`; libxl's default is on
    bool direct_io_safe = false;
    std::string backendtype;     // as written (phy, qdisk, tap) or "" for the default
};

// xl's wording in error messages: what is wrong, without the file position (the caller adds it).
auto parse_disk_spec(std::string_view spec) -> std::expected<DiskSpec, std::string>;

// The spec in xl-disk-configuration(5)'s key=value form, which parse_disk_spec reads back as
// `d` (for a config that has to name the disks a domain has now).
std::string disk_spec_text(DiskSpec const& d);

// libxl_device_disk_dev_number: xvdX[N], hdX[N], sdX[N] to the Linux device number the
// frontend is told (xenstore `virtual-device`), which is also the device id.
auto vdev_devid(std::string_view vdev) -> std::expected<std::uint32_t, std::string>;

} // namespace kxen::toolstack
