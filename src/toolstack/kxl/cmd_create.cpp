// kxl create: parse the config, build the domain, then (like xl) leave a small process behind
// that applies on_poweroff/on_reboot/on_crash when the domain shuts down.
#include <fcntl.h>
#include <sys/wait.h>
#include <cstdio>
#include <optional>
#include <fstream>
#include <fmt/format.h>
#include <xen/sched.h>
#include "common/read_file.hpp"
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/kxl.hpp"
#include "toolstack/kxl/vbd_xenstore.hpp"

namespace kxen::kxl {
namespace ts = toolstack;

namespace {

// The file as written, then the overrides, which later lines win over as in xl.cfg.
std::string config_text(std::string const& path, std::vector<std::string> const& overrides) {
    auto bytes = read_regular_file(path, ts::max_config_bytes);   // load_xl_cfg has read it already
    std::string text;
    if (bytes) text.assign(reinterpret_cast<char const*>(bytes->data()), bytes->size());
    if (!overrides.empty()) {
        if (!text.empty() && text.back() != '\n') text += '\n';
        text += "# kxl create overrides\n";
        for (auto const& o : overrides) text += o + "\n";
    }
    return text;
}

// Settings kxl does not implement are named, never dropped silently; past a screenful they
// are counted, so a config with thousands of them stays readable.
void warn_ignored(std::vector<ts::IgnoredSetting> const& ignored) {
    constexpr std::size_t shown = 20;
    for (std::size_t i = 0; i < ignored.size() && i < shown; ++i)
        fmt::print(stderr, "kxl: warning: {}:{}: '{}' is not implemented by kxl yet; ignored\n",
                   ignored[i].source, ignored[i].line, ignored[i].key);
    if (ignored.size() > shown)
        fmt::print(stderr, "kxl: warning: {} more settings not implemented by kxl; ignored\n",
                   ignored.size() - shown);
}

} // namespace

int cmd_create(Globals const& g, CreateArgs const& a) {
    auto cfgfile = ts::load_xl_cfg(a.config);
    if (!cfgfile) {
        fmt::print(stderr, "kxl: {}\n", cfgfile.error().to_string());
        return 1;
    }
    if (auto r = cfgfile->apply_overrides(a.overrides); !r) {
        fmt::print(stderr, "kxl: {}\n", r.error().to_string());
        return 1;
    }
    auto cfg = ts::domain_config_from(*cfgfile);
    if (!cfg) {
        fmt::print(stderr, "kxl: {}\n", cfg.error().to_string());
        return 1;
    }
    // A disk whose image cannot be opened as asked fails `create` before any domain exists.
    for (auto const& disk : cfg->disks) {
        if (auto bad = check_disk_target(disk)) {
            fmt::print(stderr, "kxl: {}\n", *bad);
            return 1;
        }
    }
    cfg->text = config_text(a.config, a.overrides);
    if (!a.quiet) {
        for (auto const& w : cfg->warnings) fmt::print(stderr, "kxl: warning: {}\n", w);
        warn_ignored(cfg->ignored);
    }
    auto c = connect(g);
    if (!c) return 1;
    if (!a.quiet) fmt::print("Parsing config from {}\n", a.config);
    auto store = open_store(*c);
    if (!store && !a.quiet)
        fmt::print(stderr, "kxl: warning: {}; the domain gets no xenstore tree (no PV control, no xenbus)\n",
                   store.error().message);
    auto domid = create_domain(*c, *cfg, a.paused, store ? &*store : nullptr);
    if (!domid) {
        fmt::print(stderr, "kxl: cannot create domain \"{}\": {}\n", cfg->name, domid.error());
        return 1;
    }
    std::fflush(stdout);
    if (!a.no_monitor) start_monitor(g, *cfg, *domid);
    if (a.console) return attach_console(*c, *domid);
    return 0;
}

} // namespace kxen::kxl
