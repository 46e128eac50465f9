// kxl save, kxl restore: a domain to an xl save file (Xen's format) and back.
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <fmt/format.h>
#include "common/unique_fd.hpp"
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {

namespace {

std::optional<std::string> read_text(std::string const& path) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    return std::string{std::istreambuf_iterator<char>(f), {}};
}

} // namespace

std::function<void(SaveProgress const&)> progress_printer(char const* what) {
    bool const tty = ::isatty(STDERR_FILENO);
    return [what, tty](SaveProgress const& p) {
        auto line = fmt::format("{}: {} {:>4}: {:8.1f} MiB sent, {:6} pages dirty ({:.1f} MB/s), expected downtime "
                                "{:.0f} ms",
                                what, p.final ? "final" : "iter ", p.iteration, double(p.bytes) / (1 << 20), p.dirty,
                                p.dirty_mb_s, p.expected_downtime_ms);
        if (tty) fmt::print(stderr, "\r{}\x1b[K", line);
        else fmt::print(stderr, "{}\n", line);
        if (tty && p.final) fmt::print(stderr, "\n");
    };
}

int cmd_save(Globals const& g, SaveArgs const& a) {
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, a.dom);
    if (!id) return 1;
    auto config = a.config.empty() ? remembered_config(*c, *id) : read_text(a.config);
    if (!config) {
        fmt::print(stderr, "kxl: save {}: {}\n", a.dom,
                   a.config.empty() ? "no config is recorded for this domain; give one after the file name"
                                    : "cannot read " + a.config);
        return 1;
    }
    auto store = open_store(*c);
    UniqueFd fd{::open(a.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (!fd) {
        fmt::print(stderr, "kxl: save: cannot create {}: {}\n", a.file, std::strerror(errno));
        return 1;
    }
    Cancel cancel;
    cancel_on_signals(cancel);
    SaveOptions opts;
    opts.cancel = &cancel;
    opts.progress = progress_printer("save");
    fmt::print(stderr, "Saving domain {} to {}\n", *id, a.file);
    auto stats = save_domain(*c, store ? &*store : nullptr, *id, *config, toolstack::stream::fd_sink(fd.raw()), opts);
    if (stats && ::fdatasync(fd.raw()) != 0)
        stats = std::unexpected(fmt::format("writing {}: {}", a.file, std::strerror(errno)));
    if (!stats) {
        ::unlink(a.file.c_str());
        fmt::print(stderr, "kxl: save {}: {}; the domain runs on\n", a.dom, stats.error());
        return 1;
    }
    fmt::print(stderr, "save: done total_ms={:.0f} bytes={} pages={} zero_pages={}\n", stats->total_ms, stats->bytes,
               stats->pages_sent, stats->zero_pages);
    if (a.checkpoint || a.paused) {
        if (auto r = resume_suspended(*c, *id, stats->cooperative); !r) {
            fmt::print(stderr, "kxl: save {}: saved, but resuming it failed: {}\n", a.dom, r.error());
            return 1;
        }
        if (a.paused) (void)c->pause(*id);
        return 0;
    }
    if (auto r = destroy_domain(*c, store ? &*store : nullptr, *id); !r) {
        fmt::print(stderr, "kxl: save {}: saved, but destroying it failed: {}\n", a.dom, describe(r.error()));
        return 1;
    }
    return 0;
}

int cmd_restore(Globals const& g, RestoreArgs const& a) {
    auto c = connect(g);
    if (!c) return 1;
    if (!a.config.empty()) {
        fmt::print(stderr, "kxl: restore: a replacement config is not supported; the saved one is used\n");
        return 1;
    }
    UniqueFd fd{::open(a.file.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd) {
        fmt::print(stderr, "kxl: restore: cannot open {}: {}\n", a.file, std::strerror(errno));
        return 1;
    }
    auto store = open_store(*c);
    if (!store)
        fmt::print(stderr, "kxl: warning: {}; the domain gets no xenstore tree\n", store.error().message);
    Cancel cancel;
    cancel_on_signals(cancel);
    RestoreOptions opts;
    opts.paused = a.paused;
    opts.cancel = &cancel;
    toolstack::stream::FdSource src{fd.raw()};
    auto r = restore_domain(*c, store ? &*store : nullptr, src, opts);
    if (!r) {
        fmt::print(stderr, "kxl: restore {}: {}\n", a.file, r.error());
        return 1;
    }
    fmt::print("Restored domain {} ({}) from {}\n", r->config.name, r->domid, a.file);
    std::fflush(stdout);
    if (!a.no_monitor) start_monitor(g, r->config, r->domid);
    if (a.console) return attach_console(*c, r->domid);
    return 0;
}

} // namespace kxen::kxl
