#include "toolstack/xl_disk.hpp"
#include <fmt/format.h>
#include <array>
#include <optional>

namespace kxen::toolstack {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// "a", "z", "aa" ... as libxl's bijective base-26 disk letters; nullopt if not letters.
std::optional<unsigned> disk_letters(std::string_view s) {
    if (s.empty() || s.size() > 3) return std::nullopt;
    unsigned n = 0;
    for (char c : s) {
        if (c < 'a' || c > 'z') return std::nullopt;
        n = n * 26 + static_cast<unsigned>(c - 'a' + 1);
    }
    return n - 1;
}

struct Parsed {
    std::optional<std::string> target, format, vdev, access, devtype, backendtype;
    std::optional<bool> discard;
    bool direct_io_safe = false;
};

auto set_once(std::optional<std::string>& slot, std::string_view name, std::string_view v)
    -> std::expected<void, std::string> {
    if (slot) return std::unexpected(fmt::format("'{}' is given twice", name));
    slot = std::string{v};
    return {};
}

} // namespace

auto vdev_devid(std::string_view vdev) -> std::expected<std::uint32_t, std::string> {
    auto bad = [&] {
        return std::unexpected(fmt::format("vdev '{}' is not a disk name kxl knows (xvdX, hdX, sdX, with an "
                                           "optional partition number)", vdev));
    };
    std::string_view prefix;
    for (std::string_view p : {"xvd", "hd", "sd"})
        if (vdev.starts_with(p)) prefix = p;
    if (prefix.empty()) return bad();
    auto rest = vdev.substr(prefix.size());
    auto digits = rest.find_first_of("0123456789");
    auto disk = disk_letters(rest.substr(0, digits));
    if (!disk) return bad();
    unsigned part = 0;
    if (digits != std::string_view::npos) {
        auto p = rest.substr(digits);
        if (p.size() > 3 || p.find_first_not_of("0123456789") != std::string_view::npos || p.front() == '0')
            return bad();
        for (char c : p) part = part * 10 + static_cast<unsigned>(c - '0');
    }
    if (prefix == "xvd") {
        if (*disk < 16 && part < 16) return (202u << 8) | (*disk << 4) | part;
        if (*disk < (1u << 20) && part < 256) return (1u << 28) | (*disk << 8) | part;   // extended
        return bad();
    }
    if (prefix == "hd") {
        if (*disk > 3 || part > 63) return bad();
        return ((*disk < 2 ? 3u : 22u) << 8) | ((*disk & 1) << 6) | part;
    }
    if (*disk > 15 || part > 15) return bad();
    return (8u << 8) | (*disk << 4) | part;
}

auto parse_disk_spec(std::string_view spec) -> std::expected<DiskSpec, std::string> {
    Parsed p;
    std::array<std::optional<std::string>*, 4> const positional{&p.target, &p.format, &p.vdev, &p.access};
    std::size_t next_positional = 0;
    std::string_view rest = spec;
    for (;;) {
        // target= takes the rest of the string: a target may contain commas.
        auto t = trim(rest);
        if (t.starts_with("target=")) {
            if (auto r = set_once(p.target, "target", t.substr(7)); !r) return std::unexpected(r.error());
            break;
        }
        auto comma = rest.find(',');
        auto item = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        bool const last = comma == std::string_view::npos;
        auto eq = item.find('=');
        if (eq != std::string_view::npos) {
            auto key = trim(item.substr(0, eq)), val = trim(item.substr(eq + 1));
            std::expected<void, std::string> r;
            if (key == "format") r = set_once(p.format, key, val);
            else if (key == "vdev") r = set_once(p.vdev, key, val);
            else if (key == "access" || key == "mode") r = set_once(p.access, "access", val);
            else if (key == "devtype") r = set_once(p.devtype, key, val);
            else if (key == "backendtype") r = set_once(p.backendtype, key, val);
            else if (key == "backend")
                r = val == "0" || val == "Domain-0"
                        ? std::expected<void, std::string>{}
                        : std::unexpected(fmt::format("backend '{}': kxen's disk backend runs in dom0 only", val));
            else if (key == "script" || key == "colo-host" || key == "colo-port" || key == "colo-export" ||
                     key == "active-disk" || key == "hidden-disk" || key == "specification")
                r = std::unexpected(fmt::format("'{}' is not implemented by kxl yet", key));
            else r = std::unexpected(fmt::format("unknown disk parameter '{}'", key));
            if (!r) return std::unexpected(r.error());
        } else if (item == "cdrom") {
            if (auto r = set_once(p.devtype, "devtype", "cdrom"); !r) return std::unexpected(r.error());
        } else if (item == "discard" || item == "no-discard") {
            if (p.discard) return std::unexpected(std::string{"'discard' is given twice"});
            p.discard = item == "discard";
        } else if (item == "direct-io-safe") {
            p.direct_io_safe = true;
        } else if (item == "colo" || item == "trusted" || item == "untrusted") {
            return std::unexpected(fmt::format("'{}' is not implemented by kxl yet", item));
        } else {
            // Positional; empty means "default", as in `img,,xvda`.
            while (next_positional < positional.size() && *positional[next_positional]) ++next_positional;
            if (next_positional == positional.size()) {
                if (item.empty() && last) break;
                return std::unexpected(fmt::format("too many positional parameters at '{}'", item));
            }
            *positional[next_positional++] = std::string{item};   // empty: the default
            // A deprecated "format:" prefix on the target (raw:, phy:, file:, ...) stands in for
            // the format, so the positional parameters after it are vdev and access.
            if (next_positional == 1 && !p.format && !item.starts_with('/') && item.find(':') != std::string_view::npos)
                p.format = std::string{};
        }
        if (last) break;
    }

    DiskSpec d;
    std::string target = p.target.value_or("");
    std::string format = p.format.value_or("");
    std::string vdev = p.vdev.value_or("");
    // Deprecated forms: "phy:/dev/x" / "file:/img" / "raw:/img" prefixes on the target, and
    // "hdc:cdrom" on the vdev.
    if (auto colon = target.find(':'); colon != std::string::npos && target.front() != '/') {
        auto pre = target.substr(0, colon);
        if (pre == "phy" || pre == "file" || pre == "raw" || pre == "aio" || pre == "tap" || pre == "tap2") {
            if (pre == "phy") d.backendtype = "phy";
            target = target.substr(colon + 1);
            if (target.starts_with("aio:")) target = target.substr(4);
        } else if (pre == "qcow" || pre == "qcow2" || pre == "vhd" || pre == "qed") {
            return std::unexpected(fmt::format("format '{}' is not supported: kxen's disk backend reads raw images", pre));
        }
    }
    if (vdev.ends_with(":cdrom")) {
        vdev.resize(vdev.size() - 6);
        if (p.devtype && *p.devtype != "cdrom") return std::unexpected(std::string{"'devtype' is given twice"});
        p.devtype = "cdrom";
    }
    if (!format.empty() && format != "raw")
        return std::unexpected(fmt::format("format '{}' is not supported: kxen's disk backend reads raw images", format));
    if (vdev.empty()) return std::unexpected(std::string{"no vdev given (e.g. xvda)"});
    auto id = vdev_devid(vdev);
    if (!id) return std::unexpected(id.error());
    d.vdev = vdev;
    d.devid = *id;
    if (p.devtype && *p.devtype != "disk" && *p.devtype != "cdrom")
        return std::unexpected(fmt::format("devtype '{}': must be disk or cdrom", *p.devtype));
    d.cdrom = p.devtype && *p.devtype == "cdrom";
    std::string access = p.access.value_or("");
    if (access.empty()) d.readonly = d.cdrom;   // rw, but a cdrom is read-only
    else if (access == "rw" || access == "w") d.readonly = false;
    else if (access == "ro" || access == "r") d.readonly = true;
    else return std::unexpected(fmt::format("access '{}': must be ro, rw, r or w", access));
    if (d.cdrom && !d.readonly) return std::unexpected(std::string{"a cdrom cannot be writable"});
    if (target.empty() && !d.cdrom) return std::unexpected(std::string{"no target given (an image file or block device)"});
    d.target = target;
    if (p.backendtype) {
        if (*p.backendtype != "phy" && *p.backendtype != "qdisk" && *p.backendtype != "tap")
            return std::unexpected(fmt::format("backendtype '{}': must be phy, qdisk or tap", *p.backendtype));
        d.backendtype = *p.backendtype;
    }
    d.discard = p.discard.value_or(true);
    d.direct_io_safe = p.direct_io_safe;
    return d;
}

std::string disk_spec_text(DiskSpec const& d) {
    std::string s = fmt::format("format=raw, vdev={}, access={}, devtype={}, {}", d.vdev, d.readonly ? "ro" : "rw",
                                d.cdrom ? "cdrom" : "disk", d.discard ? "discard" : "no-discard");
    if (d.direct_io_safe) s += ", direct-io-safe";
    if (!d.backendtype.empty()) s += ", backendtype=" + d.backendtype;
    return s + ", target=" + d.target;   // last: a target may hold commas
}

} // namespace kxen::toolstack
