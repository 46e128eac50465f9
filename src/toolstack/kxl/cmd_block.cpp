// kxl block-attach, block-detach, block-list: a running domain's disks, as xl's.
#include <cstdio>
#include <fmt/format.h>
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/domain_xenstore.hpp"
#include "toolstack/kxl/kxl.hpp"
#include "toolstack/kxl/vbd_xenstore.hpp"

namespace kxen::kxl {
namespace ts = toolstack;

namespace {

// The device id a user names a disk by: its vdev (xvdb) or the number itself (51728).
std::expected<std::uint32_t, std::string> devid_of(std::string const& what) {
    if (!what.empty() && what.size() < 11 && what.find_first_not_of("0123456789") == std::string::npos) {
        auto v = std::stoull(what);
        if (v <= UINT32_MAX) return static_cast<std::uint32_t>(v);
    }
    return ts::vdev_devid(what);
}

// As libxl keeps the config it holds for a domain in step with the devices added and removed:
// `kxl save`, `migrate` and a restart then bring the disks the domain has now. The config kxl
// keeps for it gets a `disk` line naming them, after the settings it overrides.
void remember_disks(privcmd::Client& c, xs::Handle& xs, std::uint16_t domid, std::string_view command) {
    auto text = remembered_config(c, domid);
    if (!text) return;
    std::string line = "disk = [";
    char const* sep = " ";
    for (auto const& v : list_vbds(xs, domid)) {
        if (auto d = read_vbd(xs, domid, v.devid)) {
            line += sep + ts::quote_cfg_string(ts::disk_spec_text(*d));
            sep = ", ";
        }
    }
    line += " ]\n";
    if (!text->empty() && text->back() != '\n') *text += '\n';
    *text += fmt::format("# kxl {}\n{}", command, line);
    auto parsed = ts::parse_xl_cfg(*text, "<kept config>");
    if (!parsed || !ts::domain_config_from(*parsed)) {
        fmt::print(stderr, "kxl: warning: {}: the config kept for domain {} cannot name its disks now; `kxl save` "
                           "will carry the disks it was created with\n", command, domid);
        return;
    }
    remember_config(c, domid, *text);
}

} // namespace

int cmd_block_attach(Globals const& g, BlockAttachArgs const& a) {
    // As xl: the arguments after the domain are the pieces of one disk spec.
    std::string spec;
    for (auto const& piece : a.spec) spec += (spec.empty() ? "" : ",") + piece;
    auto disk = ts::parse_disk_spec(spec);
    if (!disk) {
        fmt::print(stderr, "kxl: block-attach: disk '{}': {}\n", spec, disk.error());
        return 1;
    }
    if (auto bad = check_disk_target(*disk)) {
        fmt::print(stderr, "kxl: block-attach: {}\n", *bad);
        return 1;
    }
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, a.dom);
    if (!id) return 1;
    auto store = open_store(*c);
    if (!store) {
        fmt::print(stderr, "kxl: block-attach: disks need the host's xenstore: {}\n", store.error().message);
        return 1;
    }
    if (auto r = attach_vbd(*store, *id, *disk); !r) {
        fmt::print(stderr, "kxl: block-attach {}: {}\n", a.dom, r.error());
        return 1;
    }
    remember_disks(*c, *store, *id, "block-attach");
    return 0;
}

int cmd_block_detach(Globals const& g, BlockDetachArgs const& a) {
    auto devid = devid_of(a.disk);
    if (!devid) {
        fmt::print(stderr, "kxl: block-detach: {}\n", devid.error());
        return 1;
    }
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, a.dom);
    if (!id) return 1;
    auto store = open_store(*c);
    if (!store) {
        fmt::print(stderr, "kxl: block-detach: {}\n", store.error().message);
        return 1;
    }
    bool known = false;
    for (auto const& v : list_vbds(*store, *id)) known |= v.devid == *devid;
    if (!known) {
        fmt::print(stderr, "kxl: block-detach: domain {} has no disk {} (vbd {})\n", a.dom, a.disk, *devid);
        return 1;
    }
    auto r = detach_vbd(*store, *id, *devid, a.force);
    if (!r) {
        fmt::print(stderr, "kxl: block-detach {} {}: {}\n", a.dom, a.disk, r.error());
        return 1;
    }
    remember_disks(*c, *store, *id, "block-detach");
    if (r->forced)
        fmt::print(stderr, "kxl: warning: block-detach {} {}: the block backend did not close the disk within {} s; "
                           "removed anyway\n", a.dom, a.disk, vbd_remove_timeout.count());
    return 0;
}

int cmd_block_list(Globals const& g, std::vector<std::string> const& doms) {
    auto c = connect(g);
    if (!c) return 1;
    auto store = open_store(*c);
    if (!store) {
        fmt::print(stderr, "kxl: block-list: {}\n", store.error().message);
        return 1;
    }
    fmt::print("{:<5} {:<3} {:<6} {:<5} {:<6} {:<8} {:<30}\n", "Vdev", "BE", "handle", "state", "evt-ch", "ring-ref",
               "BE-path");
    int rc = 0;
    for (auto const& dom : doms) {
        auto id = resolve_domain(*c, dom);
        if (!id) {
            rc = 1;   // as xl: named, then the other domains are listed
            continue;
        }
        for (auto const& v : list_vbds(*store, *id))
            fmt::print("{:<5} {:<3} {:<6} {:<5} {:<6} {:<8} {:<30}\n", v.devid, v.backend_id, *id, v.state, v.evtch,
                       v.ring_ref, v.backend);
    }
    return rc;
}

} // namespace kxen::kxl
