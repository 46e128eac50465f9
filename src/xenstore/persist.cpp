#include "xenstore/persist.hpp"
#include <algorithm>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/log.hpp"
#include "xenstore/connection.hpp"
#include "xenstore/persist_record.hpp"

namespace kxen::xenstore {
namespace {

constexpr char const* db_name = "kxenstored.db";
constexpr char const* log_name = "kxenstored.log";
constexpr std::uint64_t min_journal_for_snapshot = 4u << 20;

SysResult<std::string> slurp(std::filesystem::path const& p) {
    UniqueFd fd{::open(p.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd) return sys_fail(p.string());
    std::string data;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd.raw(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_fail("read " + p.string());
        }
        if (n == 0) return data;
        data.append(buf, static_cast<std::size_t>(n));
    }
}

SysResult<void> write_all(int fd, std::string_view data, std::string const& what) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_fail(what);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

// Writes data to path atomically: a temporary file, fsync, rename.
SysResult<void> replace_file(std::filesystem::path const& path, std::string_view data) {
    auto tmp = path;
    tmp += ".tmp";
    UniqueFd fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (!fd) return sys_fail("create " + tmp.string());
    if (auto w = write_all(fd.raw(), data, "write " + tmp.string()); !w) return w;
    if (::fsync(fd.raw()) != 0) return sys_fail("fsync " + tmp.string());
    if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_fail("rename " + tmp.string());
    return {};
}

std::uint64_t epoch_of(std::string_view data, std::string_view magic) {
    if (data.size() < 16 || data.substr(0, 8) != magic) return ~std::uint64_t{0};
    record::Reader r{data.substr(8, 8)};
    return r.u64();
}

// State that is not the store: the domains and their watches, as the records leave them.
struct Side {
    std::map<DomId, SavedDomain> domains;
    std::map<DomId, std::vector<SavedWatch>> watches;
};

// Applies one record; false if it does not parse.
bool apply(std::string_view body, Store& store, Side& side) {
    record::Reader r{body};
    auto type = r.u8();
    switch (type) {
    case record::node: {
        std::string path{r.str()};
        Node n = r.node_state();
        if (r.failed() || path.empty()) return false;
        store.put(path, std::make_shared<Node>(std::move(n)));
        return true;
    }
    case record::remove: {
        auto path = r.str();
        if (r.failed()) return false;
        store.erase(path);
        return true;
    }
    case record::domain: {
        SavedDomain d;
        d.id = r.u32();
        d.mfn = r.u64();
        d.port = r.u32();
        bool has_target = r.u8() != 0;
        DomId t = r.u32();
        if (r.failed()) return false;
        if (has_target) d.target = t;
        side.domains[d.id] = d;
        return true;
    }
    case record::release: {
        DomId id = r.u32();
        if (r.failed()) return false;
        side.domains.erase(id);
        side.watches.erase(id);
        return true;
    }
    case record::watch: {
        SavedWatch w;
        w.id = r.u32();
        w.prefix_len = r.u32();
        w.path = r.str();
        w.token = r.str();
        if (r.failed()) return false;
        auto& list = side.watches[w.id];
        auto same = [&](SavedWatch const& x) { return x.path == w.path && x.token == w.token; };
        if (std::none_of(list.begin(), list.end(), same)) list.push_back(std::move(w));
        return true;
    }
    case record::unwatch: {
        DomId id = r.u32();
        std::string path{r.str()};
        std::string token{r.str()};
        if (r.failed()) return false;
        std::erase_if(side.watches[id], [&](SavedWatch const& x) {
            return x.path == path && x.token == token;
        });
        return true;
    }
    case record::clear_watches: {
        DomId id = r.u32();
        if (r.failed()) return false;
        side.watches.erase(id);
        return true;
    }
    default:
        return false;
    }
}

} // namespace

SysResult<std::unique_ptr<Persist>> Persist::open(std::filesystem::path dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return sys_fail(ec.value(), "create " + dir.string());
    auto lock_path = dir / "kxenstored.lock";
    UniqueFd lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
    if (!lock) return sys_fail("open " + lock_path.string());
    if (::flock(lock.raw(), LOCK_EX | LOCK_NB) != 0)
        return sys_fail("lock " + lock_path.string() + " (another kxenstored uses it?)");
    return std::unique_ptr<Persist>(new Persist(std::move(dir), std::move(lock)));
}

SysResult<LoadedState> load_state(Store& store, StateFiles const& files, std::uint64_t& epoch) {
    LoadedState out;
    store.reset();
    epoch = epoch_of(files.snapshot, record::snapshot_magic);
    if (epoch == ~std::uint64_t{0}) {
        return sys_fail(EINVAL, files.snapshot_name + ": not a kxenstored snapshot");
    }
    out.found = true;
    store.clear();
    Side side;
    std::size_t off = 16;
    while (auto body = record::next(files.snapshot, off)) {
        if (!apply(*body, store, side))
            return sys_fail(EINVAL, files.snapshot_name + ": bad record");
        ++out.records;
    }
    if (off != files.snapshot.size())
        return sys_fail(EINVAL, files.snapshot_name + ": damaged at offset " + std::to_string(off));

    if (files.journal) {
        std::string_view journal = *files.journal;
        if (epoch_of(journal, record::journal_magic) == epoch) {
            off = 16;
            while (auto body = record::next(journal, off)) {
                if (!apply(*body, store, side)) break;
                ++out.records;
            }
            out.journal_cut = off != journal.size();
        } else {
            log::warn("xenstore: {}: from another snapshot, ignored", files.journal_name);
        }
    }
    out.repaired = store.repair();
    for (auto& [id, d] : side.domains) out.domains.push_back(d);
    for (auto& [id, list] : side.watches)
        if (side.domains.contains(id))
            for (auto& w : list) out.watches.push_back(std::move(w));
    return out;
}

SysResult<LoadedState> Persist::load(Store& store) {
    store.reset();
    auto snap_path = dir_ / db_name;
    if (!std::filesystem::exists(snap_path)) return LoadedState{};
    auto snap = slurp(snap_path);
    if (!snap) return std::unexpected(snap.error());
    auto log_path = dir_ / log_name;
    std::optional<std::string> journal;
    if (std::filesystem::exists(log_path)) {
        auto j = slurp(log_path);
        if (!j) return std::unexpected(j.error());
        journal = std::move(*j);
    }
    StateFiles files{*snap, std::nullopt, snap_path.string(), log_path.string()};
    if (journal) files.journal = *journal;
    std::uint64_t epoch = 0;
    auto out = load_state(store, files, epoch);
    if (out) epoch_ = epoch;
    return out;
}

std::string encode_snapshot(Store const& store, Domains const& domains, Watches const& watches,
                            std::uint64_t epoch) {
    std::string data;
    record::header(data, record::snapshot_magic, epoch);
    // Pre-order from "/", so that parents come first, then the special nodes.
    std::vector<std::string> stack{"/"};
    while (!stack.empty()) {
        std::string path = std::move(stack.back());
        stack.pop_back();
        Node const* n = store.get(path);
        if (!n) continue;
        record::Writer{record::node}.str(path).node_state(*n).finish(data);
        for (auto it = n->children.rbegin(); it != n->children.rend(); ++it)
            stack.push_back(child_path(path, *it));
    }
    for (auto special : {introduce_domain_node, release_domain_node})
        if (Node const* n = store.get(special))
            record::Writer{record::node}.str(special).node_state(*n).finish(data);
    for (auto const& [id, d] : domains.all()) {
        record::Writer{record::domain}.u32(id).u64(d.mfn).u32(d.port)
            .u8(d.target ? 1 : 0).u32(d.target.value_or(0)).finish(data);
        if (!d.conn) continue;
        for (Watch const* w : watches.of(*d.conn))
            record::Writer{record::watch}.u32(id).u32(w->prefix_len).str(w->path).str(w->token)
                .finish(data);
    }
    return data;
}

SysResult<void> Persist::snapshot(Store const& store, Domains const& domains,
                                  Watches const& watches) {
    std::string data = encode_snapshot(store, domains, watches, epoch_ + 1);
    if (auto r = replace_file(dir_ / db_name, data); !r) return r;

    std::string head;
    record::header(head, record::journal_magic, epoch_ + 1);
    if (auto r = replace_file(dir_ / log_name, head); !r) return r;
    UniqueFd dirfd{::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dirfd) ::fsync(dirfd.raw());

    auto log_path = dir_ / log_name;
    UniqueFd j{::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)};
    if (!j) return sys_fail("open " + log_path.string());
    journal_ = std::move(j);
    ++epoch_;
    pending_.clear();   // all in the snapshot
    journal_bytes_ = head.size();
    snapshot_bytes_ = data.size();
    failed_ = false;
    return {};
}

bool Persist::wants_snapshot() const {
    return journal_bytes_ > std::max(min_journal_for_snapshot, 2 * snapshot_bytes_);
}

void Persist::node_written(std::string_view path, Node const& node) {
    record::Writer{record::node}.str(path).node_state(node).finish(pending_);
}
void Persist::node_removed(std::string_view path) {
    record::Writer{record::remove}.str(path).finish(pending_);
}
void Persist::domain_saved(Domain const& d) {
    record::Writer{record::domain}.u32(d.id).u64(d.mfn).u32(d.port).u8(d.target ? 1 : 0)
        .u32(d.target.value_or(0)).finish(pending_);
}
void Persist::domain_released(DomId id) {
    record::Writer{record::release}.u32(id).finish(pending_);
}
void Persist::watch_added(DomId id, std::string_view path, std::string_view token,
                          std::uint32_t prefix_len) {
    record::Writer{record::watch}.u32(id).u32(prefix_len).str(path).str(token).finish(pending_);
}
void Persist::watch_removed(DomId id, std::string_view path, std::string_view token) {
    record::Writer{record::unwatch}.u32(id).str(path).str(token).finish(pending_);
}
void Persist::watches_cleared(DomId id) {
    record::Writer{record::clear_watches}.u32(id).finish(pending_);
}

void Persist::flush() {
    if (pending_.empty() || !journal_) return;
    if (auto w = write_all(journal_.raw(), pending_, "journal"); !w) {
        if (!failed_) log::error("xenstore: state not saved: {}", w.error().message());
        failed_ = true;
    } else {
        journal_bytes_ += pending_.size();
    }
    pending_.clear();
}

} // namespace kxen::xenstore
