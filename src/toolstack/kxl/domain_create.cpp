#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/domain_xenstore.hpp"
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <xen/grant_table.h>
#include <xen/hvm/params.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include "common/read_file.hpp"
#include "toolstack/build/pvh.hpp"
#include "toolstack/build/vcpu_start.hpp"

namespace kxen::kxl {
namespace build = toolstack::build;

namespace {

// A kernel or ramdisk larger than the guest's memory cannot be loaded; refusing it here also
// keeps `kernel="/dev/zero"` from reading until kxl runs out of memory.
std::expected<std::vector<std::byte>, std::string> read_boot_file(std::string const& what, std::string const& path,
                                                                  std::uint64_t mem_bytes) {
    auto r = read_regular_file(path, mem_bytes);
    if (!r) return std::unexpected(fmt::format("{} '{}': {}{}", what, path, r.error().message,
                                               r.error().err == EFBIG ? " (the domain's memory)" : ""));
    return std::move(*r);
}

// Destroys a half-built domain unless disarmed.
struct DomainGuard {
    privcmd::Client& c;
    xs::Handle* store;
    std::uint16_t domid;
    bool armed = true;
    ~DomainGuard() {
        if (armed) (void)destroy_domain(c, store, domid);
    }
};

toolstack::ShutdownAction action_for(toolstack::DomainConfig const& cfg, unsigned reason) {
    switch (reason) {
    case SHUTDOWN_poweroff: return cfg.on_poweroff;
    case SHUTDOWN_reboot: return cfg.on_reboot;
    case SHUTDOWN_watchdog: return cfg.on_watchdog;
    case SHUTDOWN_soft_reset: return cfg.on_soft_reset;
    default: return cfg.on_crash;
    }
}

std::string err(char const* step, XenErr e) {
    return fmt::format("{}: {}", step, privcmd::xen_strerror(e));
}

} // namespace

std::span<std::byte> GuestMemory::map(std::uint64_t gpa, std::size_t len) {
    for (auto& [base, m] : maps_)
        if (gpa >= base && gpa + len >= gpa && gpa + len <= base + m.map.size())
            return {m.map.data() + (gpa - base), len};
    return {};
}

std::expected<std::uint16_t, std::string> make_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg,
                                                      std::string const& name) {
    xen_domain_handle_t handle;
    std::memcpy(handle, cfg.uuid.bytes.data(), sizeof handle);
    auto domid = c.create_domain(handle, cfg.max_vcpus);
    if (!domid) return std::unexpected(err("createdomain", domid.error()));
    DomainGuard guard{c, nullptr, *domid};
    // Should this process die before the domain is built, kxend destroys it: Xen's libxl
    // leaves the half-built domain for the user to `xl destroy`. Callers lift the guard.
    if (auto r = c.guard(*domid, privcmd::Guard::destroy); !r) return std::unexpected(err("guard", r.error()));
    if (auto r = c.set_name(*domid, name); !r)
        return std::unexpected(r.error() == XenErr::exist ? fmt::format("domain with name \"{}\" already exists", name)
                                                          : err("set name", r.error()));
    // libxl adds LIBXL_MAXMEM_CONSTANT (1 MiB) of slack above maxmem for the special pages.
    if (auto r = c.max_mem(*domid, (cfg.maxmem_mib << 10) + 1024); !r) return std::unexpected(err("max_mem", r.error()));
    guard.armed = false;
    return *domid;
}

std::expected<void, std::string> populate_ram(privcmd::Client& c, std::uint16_t domid, build::PvhLayout const& layout,
                                              GuestMemory& mem, bool readonly) {
    auto populate = [&](std::uint64_t start, std::uint64_t end) -> std::expected<void, std::string> {
        if (end <= start) return {};
        auto runs = c.populate_physmap(domid, start >> 12, (end - start) >> 12);
        if (!runs) return std::unexpected(err("populate_physmap", runs.error()));
        for (auto [gfn, count] : *runs) {
            auto m = c.map_foreign(domid, gfn, count, readonly);
            if (!m) return std::unexpected(err("map guest memory", m.error()));
            mem.add(gfn << 12, std::move(*m));
        }
        return {};
    };
    if (auto r = populate(0, layout.lowmem_end); !r) return r;
    if (layout.highmem_end)
        if (auto r = populate(build::gib4, layout.highmem_end); !r) return r;
    // The special pages (console, xenstore, ...) sit in a reserved range below 4 GiB.
    auto first_special = layout.special_gfns.front();
    if (auto r = c.populate_physmap(domid, first_special, layout.special_gfns.size()); !r)
        return std::unexpected(err("populate special pages", r.error()));
    if (auto m = c.map_foreign(domid, first_special, layout.special_gfns.size(), readonly))
        mem.add(first_special << 12, std::move(*m));
    return {};
}

std::expected<void, std::string> set_e820(privcmd::Client& c, std::uint16_t domid, build::PvhLayout const& layout) {
    // XENMEM_memory_map hands the guest the BIOS E820 format (20-byte entries).
    std::vector<std::uint8_t> e820;
    for (auto const& e : layout.memmap) {
        std::uint8_t b[20];
        std::memcpy(b, &e.addr, 8);
        std::memcpy(b + 8, &e.size, 8);
        std::memcpy(b + 16, &e.type, 4);
        e820.insert(e820.end(), b, b + 20);
    }
    if (auto r = c.set_memory_map(domid, e820, static_cast<unsigned>(layout.memmap.size())); !r)
        return std::unexpected(err("set memory map", r.error()));
    return {};
}

std::expected<StoreChannels, std::string> offer_channels(privcmd::Client& c, std::uint16_t domid) {
    using SP = build::SpecialPage;
    StoreChannels ch;
    ch.store_gfn = build::special_gfn(SP::xenstore);
    ch.console_gfn = build::special_gfn(SP::console);
    (void)c.set_hvm_param(domid, HVM_PARAM_STORE_PFN, ch.store_gfn);
    (void)c.set_hvm_param(domid, HVM_PARAM_CONSOLE_PFN, ch.console_gfn);
    // The PV console's and xenstore's event channels: ports in the guest offered to dom0, where
    // kxen-backend and kxenstored bind them (libxl's alloc_unbound for console and store).
    for (auto param : {HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_STORE_EVTCHN}) {
        evtchn_alloc_unbound_t a{};
        a.dom = domid;
        a.remote_dom = 0;
        if (c.raw_struct_call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, &a, sizeof a) < 0)
            return std::unexpected(std::string("cannot allocate the console/store event channels"));
        (void)c.set_hvm_param(domid, static_cast<std::uint32_t>(param), a.port);
        (param == HVM_PARAM_STORE_EVTCHN ? ch.store_port : ch.console_port) = a.port;
    }
    // libxc's xc_dom_gnttab_seed: the reserved grant entries give dom0 (the console and store
    // backends) the console and xenstore pages, so a xenstored that maps the store by grant
    // (Xen's C xenstored) finds it.
    auto frame = c.map_grant_frame(domid, 0);
    if (!frame) return std::unexpected(err("map the grant table", frame.error()));
    auto* e = frame->map.as<grant_entry_v1_t>();
    for (auto [ref, gfn] : {std::pair{GNTTAB_RESERVED_CONSOLE, ch.console_gfn}, {GNTTAB_RESERVED_XENSTORE, ch.store_gfn}}) {
        e[ref].domid = 0;
        e[ref].frame = static_cast<std::uint32_t>(gfn);
        std::atomic_ref<std::uint16_t>{e[ref].flags}.store(GTF_permit_access, std::memory_order_release);
    }
    return ch;
}

namespace {
std::optional<std::filesystem::path> userdata_path(privcmd::Client& c, std::uint16_t domid) {
    auto dir = c.state_dir();
    if (!dir) return std::nullopt;
    return std::filesystem::path(*dir) / "userdata" / fmt::format("d{}.xl", domid);
}
} // namespace

namespace {
// Where libxl keeps a domain's config (libxl__userdata_path): Xen's xl reads it to save or
// migrate the domain.
std::string libxl_userdata_path(std::uint16_t domid, toolstack::Uuid const& uuid) {
    return fmt::format("/var/lib/xen/userdata-d.{}.{}.libxl-json", domid, uuid.to_string());
}

std::optional<toolstack::Uuid> domain_uuid(privcmd::Client& c, std::uint16_t domid) {
    auto info = c.domain_info(domid);
    if (!info) return std::nullopt;
    toolstack::Uuid uuid;
    std::memcpy(uuid.bytes.data(), info->handle, uuid.bytes.size());
    return uuid;
}

// libxl's names for the on_* actions (libxl_action_on_shutdown) from xl.cfg's.
std::string libxl_action(toolstack::ShutdownAction a) {
    std::string name{toolstack::to_string(a)};
    if (name == "rename-restart") return "restart_rename";
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}
} // namespace

void remember_config(privcmd::Client& c, std::uint16_t domid, toolstack::DomainConfig const& cfg) {
    remember_config(c, domid, cfg.text);
    // On a host that also has Xen's tools (their /var/lib/xen), the config in libxl's form
    // too, so that xl can save and migrate what kxl created.
    if (!std::filesystem::is_directory("/var/lib/xen")) return;
    auto vcpus = nlohmann::json::array();
    for (unsigned i = 0; i < cfg.vcpus; ++i) vcpus.push_back(i);
    nlohmann::json b{{"max_vcpus", cfg.max_vcpus}, {"avail_vcpus", vcpus},
                     {"max_memkb", cfg.maxmem_mib << 10}, {"target_memkb", cfg.memory_mib << 10},
                     {"kernel", cfg.kernel}, {"cmdline", cfg.cmdline}, {"type.pvh", nlohmann::json::object()}};
    if (cfg.ramdisk) b["ramdisk"] = *cfg.ramdisk;
    nlohmann::json j{{"c_info", {{"type", "pvh"}, {"name", cfg.name}, {"uuid", cfg.uuid.to_string()}}},
                     {"b_info", b},
                     {"on_poweroff", libxl_action(cfg.on_poweroff)},
                     {"on_reboot", libxl_action(cfg.on_reboot)},
                     {"on_watchdog", libxl_action(cfg.on_watchdog)},
                     {"on_crash", libxl_action(cfg.on_crash)},
                     {"on_soft_reset", libxl_action(cfg.on_soft_reset)}};
    std::ofstream(libxl_userdata_path(domid, cfg.uuid), std::ios::trunc) << j.dump(4) << '\n';
}

void remember_config(privcmd::Client& c, std::uint16_t domid, std::string const& text) {
    auto path = userdata_path(c, domid);
    if (!path || text.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(path->parent_path(), ec);
    std::ofstream(*path, std::ios::trunc) << text;
}

toolstack::DomainConfig current_config(privcmd::Client& c, std::uint16_t domid,
                                       toolstack::DomainConfig const& fallback) {
    auto text = remembered_config(c, domid);
    if (!text || *text == fallback.text) return fallback;
    auto parsed = toolstack::parse_xl_cfg(*text, "<kept config>");
    if (!parsed) return fallback;
    auto cfg = toolstack::domain_config_from(*parsed);
    if (!cfg) return fallback;
    cfg->text = std::move(*text);
    return std::move(*cfg);
}

std::optional<std::string> remembered_config(privcmd::Client& c, std::uint16_t domid) {
    auto path = userdata_path(c, domid);
    if (!path) return std::nullopt;
    if (std::ifstream f(*path); f) return std::string{std::istreambuf_iterator<char>(f), {}};
    // A domain Xen's xl built: libxl keeps its config as JSON userdata, named by id and uuid.
    auto uuid = domain_uuid(c, domid);
    if (!uuid) return std::nullopt;
    std::ifstream f(libxl_userdata_path(domid, *uuid));
    if (!f) return std::nullopt;
    auto j = nlohmann::json::parse(f, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    // The name is the domain's now, as libxl_retrieve_domain_configuration takes it: xl's
    // migration receiver renames its domain from NAME--incoming without touching this file.
    if (auto name = DomainNames{c}(domid); !name.empty()) j["c_info"]["name"] = name;
    auto text = config_from_libxl_json(j.dump());
    if (!text) return std::nullopt;
    return std::move(*text);
}

XenResult<void> destroy_domain(privcmd::Client& c, xs::Handle* store, std::uint16_t domid) {
    if (auto uuid = domain_uuid(c, domid)) {
        std::error_code ec;
        std::filesystem::remove(libxl_userdata_path(domid, *uuid), ec);
    }
    auto r = c.destroy_domain(domid);
    if (store) forget_domain(*store, domid);
    if (auto path = userdata_path(c, domid)) {
        std::error_code ec;
        std::filesystem::remove(*path, ec);
    }
    return r;
}

std::expected<std::uint16_t, std::string> create_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg,
                                                        bool paused, xs::Handle* store) {
    auto kernel = read_boot_file("kernel", cfg.kernel, cfg.memory_bytes());
    if (!kernel) return std::unexpected(kernel.error());
    auto image = build::parse_elf(std::move(*kernel));
    if (!image) return std::unexpected(fmt::format("kernel '{}': {}", cfg.kernel, image.error().message));
    build::PvhParams params;
    params.mem_bytes = cfg.memory_bytes();
    params.cmdline = cfg.cmdline;
    params.nr_vcpus = cfg.max_vcpus;
    if (cfg.ramdisk) {
        auto rd = read_boot_file("ramdisk", *cfg.ramdisk, cfg.memory_bytes());
        if (!rd) return std::unexpected(rd.error());
        params.ramdisk = std::move(*rd);
    }
    auto layout = build::plan_pvh(*image, params);
    if (!layout) return std::unexpected(fmt::format("kernel '{}': {}", cfg.kernel, layout.error().message));

    auto domid = make_domain(c, cfg, cfg.name);
    if (!domid) return domid;
    DomainGuard guard{c, store, *domid};
    GuestMemory mem;
    if (auto r = populate_ram(c, *domid, *layout, mem); !r) return std::unexpected(r.error());
    if (auto r = build::write_pvh(*layout, *image, mem); !r)
        return std::unexpected(fmt::format("loading kernel: {}", r.error().message));
    if (auto r = set_e820(c, *domid, *layout); !r) return std::unexpected(r.error());
    auto ch = offer_channels(c, *domid);
    if (!ch) return std::unexpected(ch.error());
    if (store) {
        if (auto r = announce_domain(*store, *domid, cfg, *ch); !r) return std::unexpected("xenstore: " + r.error());
    } else if (!cfg.disks.empty()) {
        return std::unexpected("disks need the host's xenstore (kxenstored), and none answers");
    }
    remember_config(c, *domid, cfg);

    auto ctx = build::pvh_vcpu_context(*layout);
    if (auto r = c.set_vcpu_context(*domid, 0, &ctx, sizeof ctx); !r)
        return std::unexpected(err("set vCPU context", r.error()));
    if (!paused)
        if (auto r = c.unpause(*domid); !r) return std::unexpected(err("unpause", r.error()));
    (void)c.guard(*domid, privcmd::Guard::none);
    guard.armed = false;
    return *domid;
}

void monitor_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg, std::uint16_t domid) {
    auto xs = open_store(c);
    auto* store = xs ? &*xs : nullptr;
    std::uint64_t seq = 0;
    while (true) {
        auto info = c.domain_info(domid);
        if (!info) return;   // destroyed by someone else: nothing to do
        if (info->flags & XEN_DOMINF_shutdown) {
            unsigned reason = (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
            // A suspend is not a death: the save or migration that asked for it destroys or
            // resumes the domain (as xl's monitor lets it be).
            if (reason == SHUTDOWN_suspend) {
                if (auto s2 = c.domain_wait(domid, seq, 10000)) seq = *s2;
                else if (s2.error() == XenErr::srch || s2.error() == XenErr::io) return;
                continue;
            }
            switch (action_for(cfg, reason)) {
            case toolstack::ShutdownAction::preserve: return;
            case toolstack::ShutdownAction::destroy:
            case toolstack::ShutdownAction::coredump_destroy:
            case toolstack::ShutdownAction::soft_reset:
                (void)destroy_domain(c, store, domid);
                return;
            case toolstack::ShutdownAction::restart:
            case toolstack::ShutdownAction::rename_restart:
            case toolstack::ShutdownAction::coredump_restart: {
                // With the disks it has now, as xl restarts a domain from its current config.
                auto const now = current_config(c, domid, cfg);
                (void)destroy_domain(c, store, domid);
                auto again = create_domain(c, now, false, store);
                if (!again) return;
                domid = *again;
                seq = 0;
                continue;
            }
            }
        }
        auto s = c.domain_wait(domid, seq, 10000);
        if (!s) {
            if (s.error() == XenErr::srch) return;
            if (s.error() == XenErr::io) return;   // kxend went away
            continue;
        }
        seq = *s;
    }
}

} // namespace kxen::kxl
