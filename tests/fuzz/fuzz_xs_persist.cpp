// kxenstored's saved state (kxenstored.db and kxenstored.log in --state-dir, format in
// xenstore/persist.hpp) as a restart loads it: a torn, damaged or hostile pair of files.
// The first byte picks how the rest becomes the files:
//   bit 0  framed: the rest is records, each u16 length and body; the harness adds the magic,
//          the epoch and each record's length and CRC (so that the fuzzer reaches the record
//          parser, which a CRC otherwise guards). A length of 0xffff ends the snapshot and
//          starts the journal.
//          raw: the rest is the snapshot, up to the first "KXSJRNL1", which starts the journal.
//   bit 1  the journal's epoch differs from the snapshot's (it is ignored)
// Then the daemon's restore runs (domains introduced, targets set, guest watches restored)
// and checked: a repaired store needs no more repair, and a snapshot of the loaded state loads
// back to the same state.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include "common/log.hpp"
#include "fuzz_input.hpp"
#include "xenstore/persist.hpp"
#include "xenstore/persist_record.hpp"
#include "xenstore/server.hpp"
#include "xenstore/test_support.hpp"

using namespace kxen::xenstore;

namespace {

void put_le(std::string& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void frame(std::string& out, std::string_view body) {
    put_le(out, body.size(), 4);
    put_le(out, crc32(body), 4);
    out.append(body);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    kxen::log::set_min_level(kxen::log::Level::error);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    std::uint8_t const flags = in.u8();
    std::string snapshot;
    std::optional<std::string> journal;
    if (flags & 1) {
        record::header(snapshot, record::snapshot_magic, 7);
        std::string* out = &snapshot;
        while (!in.empty()) {
            std::uint16_t const len = in.u16();
            if (len == 0xffff) {
                if (journal) break;
                journal.emplace();
                record::header(*journal, record::journal_magic, flags & 2 ? 6 : 7);
                out = &*journal;
                continue;
            }
            frame(*out, in.str(len));
        }
    } else {
        std::string_view rest = in.rest();
        auto j = rest.find(record::journal_magic);
        snapshot = rest.substr(0, j);
        if (j != std::string_view::npos) journal = std::string{rest.substr(j)};
    }

    // What Daemon::start() does, on a server with in-memory guest rings.
    test::Ports ports;
    Server server{Config{}, ports.factory()};
    Store& store = server.store();
    StateFiles files{snapshot, std::nullopt, "kxenstored.db", "kxenstored.log"};
    if (journal) files.journal = *journal;
    std::uint64_t epoch = 0;
    auto loaded = load_state(store, files, epoch);
    if (!loaded) return 0;
    if (store.repair() != 0) std::abort();

    for (auto const& d : loaded->domains) (void)server.introduce(d.id, d.mfn, d.port, false);
    for (auto const& d : loaded->domains)
        if (d.target) (void)server.set_target(d.id, *d.target);
    for (auto const& w : loaded->watches) server.restore_watch(w.id, w.path, w.token, w.prefix_len);

    auto const saved = encode_snapshot(server.store(), server.domains(), server.watches(), epoch + 1);
    Store again;
    std::uint64_t epoch2 = 0;
    auto reloaded = load_state(again, StateFiles{saved, std::nullopt, "again.db", "again.log"}, epoch2);
    if (!reloaded || epoch2 != epoch + 1 || reloaded->repaired != 0) std::abort();
    if (encode_snapshot(again, server.domains(), server.watches(), epoch + 1) != saved) std::abort();
    return 0;
}
