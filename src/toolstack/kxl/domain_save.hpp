// Saving and restoring a domain as Xen's migration v2 stream (libxl's domain_suspend /
// domain_restore over libxc's save/restore): an xl save file, `kxl migrate`'s stream.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include "privcmd/client.hpp"
#include "toolstack/stream/io.hpp"
#include "toolstack/xl_cfg_domain.hpp"
#include "xenstore/client/xs.hpp"

namespace kxen::kxl {

// libxl's ao_abort: a long operation looks at this between steps and stops at once when it is
// set, leaving things as they were (the source domain running, nothing half-built).
class Cancel {
public:
    void request() { flag_.store(true, std::memory_order_relaxed); }
    [[nodiscard]] bool requested() const { return flag_.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> flag_{false};
};

struct SaveProgress {
    unsigned iteration = 0;          // 0: the first full pass
    std::uint64_t pages_sent = 0;    // so far, all iterations
    std::uint64_t bytes = 0;         // stream bytes so far
    std::uint64_t dirty = 0;         // pages dirtied during the last iteration
    double dirty_mb_s = 0;           // the guest's dirty rate in that iteration
    double expected_downtime_ms = 0; // if the guest were stopped now
    bool final = false;              // the stop-and-copy
};

struct SaveOptions {
    bool live = false;                 // pre-copy while the guest runs (migrate)
    unsigned max_iterations = 30;
    double downtime_target_ms = 300;   // stop once the rest fits in this
    std::chrono::milliseconds suspend_timeout{10000};
    // libxc's debug mode: after the last pages, a VERIFY record and every page once more, which
    // the receiver compares with what it built.
    bool verify = false;
    Cancel const* cancel = nullptr;
    std::function<void(SaveProgress const&)> progress;
};

struct SaveStats {
    unsigned iterations = 0;
    std::uint64_t pages_sent = 0;   // with data
    std::uint64_t zero_pages = 0;   // sent as XALLOC, without data
    std::uint64_t bytes = 0;
    double total_ms = 0;
    double downtime_ms = 0;   // from the suspend request to the end of the stream
    bool cooperative = false; // the guest suspended itself (PV control), rather than from outside
};

// Writes the domain, described by `config_text` (xl.cfg), as an xl save stream. On success the
// domain is left suspended, for the caller to destroy or resume; on failure or cancel it has
// been resumed and runs on.
std::expected<SaveStats, std::string> save_domain(privcmd::Client& c, xs::Handle* store, std::uint16_t domid,
                                                  std::string const& config_text,
                                                  toolstack::stream::ByteSink sink, SaveOptions const& opts);

// A suspended domain runs on as if the suspend had failed (libxc's xc_domain_resume, fast
// path): a guest that suspended itself sees its suspend hypercall return 1; one suspended
// from outside just goes on.
std::expected<void, std::string> resume_suspended(privcmd::Client& c, std::uint16_t domid, bool cooperative);

struct RestoreOptions {
    bool paused = false;
    // Appended to the config's name when a domain of that name exists here (migrate's
    // "--incoming", for a migration to the same host).
    std::string name_suffix;
    Cancel const* cancel = nullptr;
    // Leave kxend's destroy guard on the restored domain (an incoming migration until its go).
    bool keep_guard = false;
};

struct Restored {
    std::uint16_t domid = 0;
    toolstack::DomainConfig config;
};

// Reads an xl save stream and builds the domain from it; on any error nothing is left and the
// message names the record that was refused.
std::expected<Restored, std::string> restore_domain(privcmd::Client& c, xs::Handle* store,
                                                    toolstack::stream::ByteSource& src, RestoreOptions const& opts);

} // namespace kxen::kxl
