// kxen::xenstore::Persist: the store survives a restart (or a crash) of kxenstored.
//
// Two files in the state directory (--state-dir):
//   kxenstored.db   a snapshot: everything, written to kxenstored.db.tmp, fsync()ed, renamed
//   kxenstored.log  a journal: each change since that snapshot, appended before the reply
//                   that reports it goes out (write(2) per round of the event loop; not
//                   fsync()ed: it survives a crash of kxenstored, not of the host)
// Both are "<magic 8 bytes><epoch u64>" then records. A record is
//   u32 length of body | u32 CRC-32 (zlib's) of body | body = u8 type, fields
// with integers little-endian and str = u32 length + bytes:
//   1 NODE     str path, u32 n, n x (u32 domid, u8 XS_PERM_* bits), str value,
//              u32 m, m x str child            (the node's whole state; replaces it)
//   2 DELETE   str path                        (that node only; children have their own)
//   3 DOMAIN   u32 domid, u64 mfn, u32 port, u8 has_target, u32 target
//   4 RELEASE  u32 domid                       (and its watches)
//   5 WATCH    u32 domid, u32 prefix_len, str path, str token   (a guest's watch)
//   6 UNWATCH  u32 domid, str path, str token
//   7 CLEARW   u32 domid                       (all that guest's watches)
// Loading reads the snapshot, then the journal if its epoch is the snapshot's, up to the
// first record that is cut short or fails its CRC; then repairs the tree (children entries
// without nodes, unreachable nodes) like Xen's check_store(). After loading, kxenstored writes
// a new snapshot with the next epoch and starts an empty journal; it does so again whenever
// the journal outgrows the snapshot, and at exit. A crash between the snapshot's rename and
// the new journal's leaves an older-epoch journal, which loading then ignores.
// A lock file (flock) keeps a second kxenstored off the same directory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"
#include "xenstore/state_sink.hpp"
#include "xenstore/watch.hpp"

namespace kxen::xenstore {

struct SavedDomain {
    DomId id = 0;
    std::uint64_t mfn = 0;
    std::uint32_t port = 0;
    std::optional<DomId> target;
};
struct SavedWatch {
    DomId id = 0;
    std::string path;
    std::string token;
    std::uint32_t prefix_len = 0;
};
struct LoadedState {
    std::vector<SavedDomain> domains;
    std::vector<SavedWatch> watches;
    std::size_t records = 0;
    std::size_t repaired = 0;
    bool found = false;          // there was a snapshot
    bool journal_cut = false;    // the journal ended in a torn or corrupt record
};

class Persist final : public StateSink {
public:
    static SysResult<std::unique_ptr<Persist>> open(std::filesystem::path dir);

    // Fills store (emptied first) from the files; a fresh store if there are none.
    SysResult<LoadedState> load(Store& store);
    // Writes everything to a new snapshot and starts an empty journal.
    SysResult<void> snapshot(Store const& store, Domains const& domains, Watches const& watches);
    // The journal has grown enough that a snapshot is worth it.
    bool wants_snapshot() const;

    void node_written(std::string_view path, Node const& node) override;
    void node_removed(std::string_view path) override;
    void domain_saved(Domain const& d) override;
    void domain_released(DomId id) override;
    void watch_added(DomId id, std::string_view path, std::string_view token,
                     std::uint32_t prefix_len) override;
    void watch_removed(DomId id, std::string_view path, std::string_view token) override;
    void watches_cleared(DomId id) override;
    void flush() override;

    std::filesystem::path const& dir() const { return dir_; }
    std::uint64_t journal_bytes() const { return journal_bytes_; }
    bool failed() const { return failed_; }

private:
    explicit Persist(std::filesystem::path dir, UniqueFd lock)
        : dir_{std::move(dir)}, lock_{std::move(lock)} {}

    std::filesystem::path dir_;
    UniqueFd lock_;
    UniqueFd journal_;
    std::uint64_t epoch_ = 0;
    std::string pending_;              // records not yet written
    std::uint64_t journal_bytes_ = 0;
    std::uint64_t snapshot_bytes_ = 0;
    bool failed_ = false;              // a write failed: logged once, state may be stale
};

// The two files' contents as load() reads them; the names are for error messages.
struct StateFiles {
    std::string_view snapshot;
    std::optional<std::string_view> journal;   // none: there is no journal file
    std::string snapshot_name;
    std::string journal_name;
};
// What Persist::load() does with the bytes: fills store (emptied first) from the snapshot, then
// from the journal if its epoch is the snapshot's; epoch is set to the snapshot's.
SysResult<LoadedState> load_state(Store& store, StateFiles const& files, std::uint64_t& epoch);
// The bytes of a snapshot file with this state.
std::string encode_snapshot(Store const& store, Domains const& domains, Watches const& watches,
                            std::uint64_t epoch);

// CRC-32 as zlib computes it (polynomial 0xEDB88320), for the record checksums.
std::uint32_t crc32(std::string_view data);

} // namespace kxen::xenstore
