// DomainConfig from an XlCfg: xl's defaults and checks for the settings a PVH guest needs.
#include "toolstack/xl_cfg_domain.hpp"
#include "common/domain_name.hpp"

#include <fmt/format.h>

#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/xen.h>
#include <xen/hvm/hvm_info_table.h>

#include <algorithm>
#include <array>

namespace kxen::toolstack {
namespace {

using Step = std::expected<void, CfgError>;

// An error about a setting that exists, pointing at its value.
CfgError error_at(XlCfg const& cfg, std::string_view key, std::string message) {
    auto const* s = cfg.find(key);
    if (!s) return CfgError{cfg.filename(), 0, 0, std::move(message)};
    return CfgError{s->source, s->value.line, s->value.column, std::move(message)};
}

auto get_bounded(XlCfg const& cfg, std::string_view key, std::int64_t min, std::int64_t max)
    -> std::expected<std::optional<std::int64_t>, CfgError> {
    auto v = cfg.get_integer(key);
    if (!v || !*v) return v;
    if (**v < min || **v > max)
        return std::unexpected(error_at(cfg, key,
            fmt::format("'{}' must be between {} and {}, not {}", key, min, max, **v)));
    return v;
}

constexpr std::array<std::pair<ShutdownAction, std::string_view>, 7> action_names{{
    {ShutdownAction::destroy, "destroy"},
    {ShutdownAction::restart, "restart"},
    {ShutdownAction::rename_restart, "rename-restart"},
    {ShutdownAction::preserve, "preserve"},
    {ShutdownAction::coredump_destroy, "coredump-destroy"},
    {ShutdownAction::coredump_restart, "coredump-restart"},
    {ShutdownAction::soft_reset, "soft-reset"},
}};

// The settings read below; any other key is reported in DomainConfig::ignored.
constexpr std::array<std::string_view, 20> known_keys{
    "name", "type", "builder", "pvh", "uuid", "memory", "maxmem", "vcpus", "maxvcpus",
    "kernel", "ramdisk", "cmdline", "root", "extra", "on_poweroff", "on_reboot", "on_crash",
    "on_watchdog", "on_soft_reset", "disk",
};

Step read_name(XlCfg const& cfg, DomainConfig& d) {
    auto name = cfg.get_string("name");
    if (!name) return std::unexpected(name.error());
    if (!*name) return std::unexpected(CfgError{cfg.filename(), 0, 0, "'name' is required"});
    if ((*name)->empty()) return std::unexpected(error_at(cfg, "name", "'name' must not be empty"));
    if ((*name)->size() > domain_name_max)
        return std::unexpected(error_at(cfg, "name", fmt::format(
            "'name' is {} characters long; kxen allows at most {}", (*name)->size(), domain_name_max)));
    if (auto bad = std::find_if_not((*name)->begin(), (*name)->end(), domain_name_char);
        bad != (*name)->end())
        return std::unexpected(error_at(cfg, "name", fmt::format(
            "'name' may hold only letters, digits, '-', '_' and '.'; not {:?}", *bad)));
    d.name = std::move(**name);
    return {};
}

// xl: `type` wins; else the deprecated `builder` ("hvm" or "generic" = PV); else the
// deprecated `pvh = 1`; else xl builds PV. kxen can only build PVH, so that is the default.
Step read_type(XlCfg const& cfg, DomainConfig& d) {
    auto refuse = [&](std::string_view key, std::string_view what) {
        return std::unexpected(error_at(cfg, key, fmt::format(
            "{} guests are not supported: kxen runs PVH guests only (set type = \"pvh\")", what)));
    };
    auto type = cfg.get_string("type");
    if (!type) return std::unexpected(type.error());
    if (*type) {
        if (**type == "pvh") return {};
        if (**type == "pv") return refuse("type", "PV");
        if (**type == "hvm") return refuse("type", "HVM");
        return std::unexpected(error_at(cfg, "type",
            fmt::format("unknown type \"{}\" (xl knows \"pv\", \"pvh\" and \"hvm\")", **type)));
    }
    auto builder = cfg.get_string("builder");
    if (!builder) return std::unexpected(builder.error());
    if (*builder) {
        if (**builder == "hvm") return refuse("builder", "HVM");
        if (**builder == "generic") return refuse("builder", "PV");
        return std::unexpected(error_at(cfg, "builder",
            fmt::format("unknown builder \"{}\" (xl knows \"generic\" and \"hvm\")", **builder)));
    }
    auto pvh = cfg.get_bool("pvh");
    if (!pvh) return std::unexpected(pvh.error());
    if (*pvh) {
        if (!**pvh) return refuse("pvh", "PV");
        d.warnings.push_back("'pvh = 1' is deprecated; use type = \"pvh\"");
        return {};
    }
    d.warnings.push_back("no 'type' given: building a PVH guest (xl would build a PV one)");
    return {};
}

Step read_uuid(XlCfg const& cfg, DomainConfig& d) {
    auto text = cfg.get_string("uuid");
    if (!text) return std::unexpected(text.error());
    if (!*text) {
        d.uuid = Uuid::random_v4();
        d.uuid_generated = true;
        return {};
    }
    auto u = Uuid::parse(**text);
    if (!u) return std::unexpected(error_at(cfg, "uuid", fmt::format(
        "'uuid' must look like 01234567-89ab-cdef-0123-456789abcdef, not \"{}\"", **text)));
    d.uuid = *u;
    return {};
}

Step read_memory(XlCfg const& cfg, DomainConfig& d) {
    // Bytes must fit in 64 bits, and frame numbers in Xen's interfaces; 2^40 MiB is beyond both
    // any host and any sane config.
    constexpr std::int64_t max_mib = std::int64_t{1} << 40;
    auto memory = get_bounded(cfg, "memory", 1, max_mib);
    if (!memory) return std::unexpected(memory.error());
    auto maxmem = get_bounded(cfg, "maxmem", 1, max_mib);
    if (!maxmem) return std::unexpected(maxmem.error());
    if (*memory) d.memory_mib = static_cast<std::uint64_t>(**memory);
    d.maxmem_mib = *maxmem ? static_cast<std::uint64_t>(**maxmem) : d.memory_mib;
    if (d.maxmem_mib < d.memory_mib)
        return std::unexpected(error_at(cfg, "maxmem", fmt::format(
            "'maxmem' ({} MiB) must not be below 'memory' ({} MiB)", d.maxmem_mib, d.memory_mib)));
    return {};
}

Step read_vcpus(XlCfg const& cfg, DomainConfig& d) {
    // HVM_MAX_VCPUS (public/hvm/hvm_info_table.h) bounds every HVM-container guest, PVH included.
    auto vcpus = get_bounded(cfg, "vcpus", 1, HVM_MAX_VCPUS);
    if (!vcpus) return std::unexpected(vcpus.error());
    auto maxvcpus = get_bounded(cfg, "maxvcpus", 1, HVM_MAX_VCPUS);
    if (!maxvcpus) return std::unexpected(maxvcpus.error());
    if (*vcpus) d.vcpus = static_cast<unsigned>(**vcpus);
    d.max_vcpus = *maxvcpus ? static_cast<unsigned>(**maxvcpus) : d.vcpus;
    if (d.vcpus > d.max_vcpus)
        return std::unexpected(error_at(cfg, "maxvcpus", fmt::format(
            "'maxvcpus' ({}) must not be below 'vcpus' ({})", d.max_vcpus, d.vcpus)));
    return {};
}

// xl_parse.c: `cmdline` wins (with a warning if root/extra are also set); otherwise
// "root=ROOT EXTRA", "root=ROOT" or "EXTRA".
Step read_boot(XlCfg const& cfg, DomainConfig& d) {
    auto kernel = cfg.get_string("kernel");
    if (!kernel) return std::unexpected(kernel.error());
    if (!*kernel || (*kernel)->empty())
        return std::unexpected(*kernel ? error_at(cfg, "kernel", "'kernel' must not be empty")
                                       : CfgError{cfg.filename(), 0, 0,
                                                  "'kernel' is required for a PVH guest"});
    d.kernel = std::move(**kernel);

    auto ramdisk = cfg.get_string("ramdisk");
    if (!ramdisk) return std::unexpected(ramdisk.error());
    if (*ramdisk && !(*ramdisk)->empty()) d.ramdisk = std::move(**ramdisk);

    auto cmdline = cfg.get_string("cmdline");
    if (!cmdline) return std::unexpected(cmdline.error());
    auto root = cfg.get_string("root");
    if (!root) return std::unexpected(root.error());
    auto extra = cfg.get_string("extra");
    if (!extra) return std::unexpected(extra.error());
    if (*cmdline) {
        d.cmdline = std::move(**cmdline);
        if (*root || *extra) d.warnings.push_back("ignoring root= and extra= in favour of cmdline=");
    } else if (*root && *extra) {
        d.cmdline = fmt::format("root={} {}", **root, **extra);
    } else if (*root) {
        d.cmdline = fmt::format("root={}", **root);
    } else if (*extra) {
        d.cmdline = std::move(**extra);
    }
    return {};
}

Step read_action(XlCfg const& cfg, std::string_view key, ShutdownAction& out) {
    auto text = cfg.get_string(key);
    if (!text) return std::unexpected(text.error());
    if (!*text) return {};
    auto a = shutdown_action_from(**text);
    if (!a)
        return std::unexpected(error_at(cfg, key, fmt::format(
            "'{}' must be one of destroy, restart, rename-restart, preserve, coredump-destroy, "
            "coredump-restart, soft-reset; not \"{}\"", key, **text)));
    out = *a;
    return {};
}

Step read_disks(XlCfg const& cfg, DomainConfig& d) {
    auto list = cfg.get_list("disk");
    if (!list) return std::unexpected(list.error());
    if (!*list) return {};
    auto const* setting = cfg.find("disk");
    for (auto const& item : **list) {
        auto at = [&](std::string message) {
            return std::unexpected(CfgError{setting->source, item.line, item.column, std::move(message)});
        };
        if (item.is_list()) return at("each 'disk' entry must be a string such as 'file:/img,xvda,w'");
        auto spec = parse_disk_spec(item.text);
        if (!spec) return at(fmt::format("disk '{}': {}", item.text, spec.error()));
        for (auto const& other : d.disks)
            if (other.devid == spec->devid)
                return at(fmt::format("disk '{}': vdev {} is the same device as {}", item.text, spec->vdev, other.vdev));
        d.disks.push_back(std::move(*spec));
    }
    return {};
}

void collect_ignored(XlCfg const& cfg, DomainConfig& d) {
    for (auto const& key : cfg.keys()) {
        if (std::find(known_keys.begin(), known_keys.end(), key) != known_keys.end()) continue;
        auto const* s = cfg.find(key);
        d.ignored.push_back(IgnoredSetting{key, s->source, s->line});
    }
}

} // namespace

std::string_view to_string(ShutdownAction a) {
    for (auto const& [action, name] : action_names)
        if (action == a) return name;
    return "?";
}

std::optional<ShutdownAction> shutdown_action_from(std::string_view text) {
    for (auto const& [action, name] : action_names)
        if (name == text) return action;
    return std::nullopt;
}

auto domain_config_from(XlCfg const& cfg) -> std::expected<DomainConfig, CfgError> {
    DomainConfig d;
    for (auto step : {read_name, read_type, read_uuid, read_memory, read_vcpus, read_boot, read_disks})
        if (auto r = step(cfg, d); !r) return std::unexpected(r.error());
    std::pair<std::string_view, ShutdownAction*> const actions[] = {
        {"on_poweroff", &d.on_poweroff}, {"on_reboot", &d.on_reboot}, {"on_crash", &d.on_crash},
        {"on_watchdog", &d.on_watchdog}, {"on_soft_reset", &d.on_soft_reset},
    };
    for (auto const& [key, out] : actions)
        if (auto r = read_action(cfg, key, *out); !r) return std::unexpected(r.error());
    collect_ignored(cfg, d);
    return d;
}

} // namespace kxen::toolstack
