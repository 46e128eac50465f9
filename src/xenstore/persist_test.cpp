// The store, the domains and guests' watches survive a restart; damaged files do not take
// the daemon down.
#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include "xenstore/persist.hpp"
#include "xenstore/persist_record.hpp"
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/kxenstored-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

// One kxenstored lifetime: a server with persistence in dir, restored from what is there.
struct Life {
    Ports& ports;
    std::unique_ptr<Persist> persist;
    Server server;
    LoadedState loaded;

    Life(fs::path const& dir, Ports& p) : ports{p}, server{Config{}, p.factory()} {
        persist = Persist::open(dir).value();
        loaded = persist->load(server.store()).value();
        for (auto const& d : loaded.domains) (void)server.introduce(d.id, d.mfn, d.port, false);
        for (auto const& d : loaded.domains)
            if (d.target) (void)server.set_target(d.id, *d.target);
        for (auto const& w : loaded.watches) server.restore_watch(w.id, w.path, w.token, w.prefix_len);
        server.set_sink(persist.get());
        EXPECT_TRUE(persist->snapshot(server.store(), server.domains(), server.watches()));
    }
    ~Life() { server.set_sink(nullptr); }
};

TEST(Persist, StoreSurvivesARestart) {
    TempDir dir;
    Ports ports;
    {
        Life a{dir.path, ports};
        Client c{a.server};
        c.write("/x/b", "2");
        c.write("/x/a", "1");
        c.write("/bin", std::string("\0\1\2", 3));
        c.set_perms("/x/a", "n3", "r4");
        c.write("/gone", "");
        c.rm("/gone");
        auto tx = c.start();
        c.write("/x/c", "3", tx);
        c.end(tx, true);
        c.set_perms("@releaseDomain", "n0", "r7");
        a.server.flush();   // end of a round: the journal is written
        // no snapshot at exit: as after a crash
    }
    Life b{dir.path, ports};
    EXPECT_TRUE(b.loaded.found);
    Client c{b.server};
    EXPECT_EQ(split(c.dir("/x").body), (std::vector<std::string>{"b", "a", "c"}));   // order kept
    EXPECT_EQ(c.read("/x/a").body, "1");
    EXPECT_EQ(c.read("/bin").body, std::string("\0\1\2", 3));
    EXPECT_EQ(c.get_perms("/x/a").body, args("n3", "r4"));
    EXPECT_EQ(c.read("/gone").error(), "ENOENT");
    EXPECT_EQ(c.read("/x/c").body, "3");
    EXPECT_EQ(c.get_perms("@releaseDomain").body, args("n0", "r7"));
    EXPECT_EQ(b.server.store().owned(3), 1u);
}

TEST(Persist, DomainsAndGuestWatchesComeBack) {
    TempDir dir;
    Ports ports;
    {
        Life a{dir.path, ports};
        Client tool{a.server};
        tool.call(XS_INTRODUCE, args("5", "0x99", "7"));
        tool.call(XS_INTRODUCE, args("6", "0x98", "8"));
        tool.call(XS_SET_TARGET, args("6", "5"));
        tool.mkdir("/local/domain/5");
        tool.set_perms("/local/domain/5", "n5");
        Guest g{ports.pages[5]};
        g.put(request(XS_WATCH, 1, 0, args("dev", "tok")));
        a.server.service(*a.server.domains().find(5)->conn);
        a.server.flush();
        g.take();
    }
    Life b{dir.path, ports};
    ASSERT_EQ(b.loaded.domains.size(), 2u);
    ASSERT_NE(b.server.domains().find(5), nullptr);
    EXPECT_EQ(b.server.domains().find(5)->mfn, 0x99u);
    EXPECT_EQ(b.server.domains().find(6)->target, DomId{5});
    Client tool{b.server};
    tool.write("/local/domain/5/dev/x", "1");
    Guest g{ports.pages[5]};
    std::string rx = g.take();
    auto msgs = parse_messages(rx);
    // The watch is back. It fires once on its own after the restart (events the dead daemon
    // had queued may be lost, so the guest re-reads), then for the write.
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(split(msgs[0].body), (std::vector<std::string>{"dev", "tok"}));
    EXPECT_EQ(split(msgs[1].body), (std::vector<std::string>{"dev/x", "tok"}));
}

TEST(Persist, TornOrCorruptJournalTailIsIgnored) {
    TempDir dir;
    Ports ports;
    {
        Life a{dir.path, ports};
        Client c{a.server};
        c.write("/first", "1");
        a.server.flush();
        c.write("/second", "2");
        a.server.flush();
    }
    auto log = dir.path / "kxenstored.log";
    auto size = fs::file_size(log);
    fs::resize_file(log, size - 3);   // cut into the last record
    {
        Life b{dir.path, ports};
        EXPECT_TRUE(b.loaded.journal_cut);
        Client c{b.server};
        EXPECT_EQ(c.read("/first").body, "1");
        c.write("/third", "3");
        b.server.flush();
    }
    // Flip a byte in the journal's last record: its CRC fails, the rest stands.
    size = fs::file_size(log);
    {
        std::fstream f{log, std::ios::in | std::ios::out | std::ios::binary};
        f.seekp(static_cast<std::streamoff>(size - 2));
        f.put('#');
    }
    Life c2{dir.path, ports};
    Client c{c2.server};
    EXPECT_EQ(c.read("/first").body, "1");
    EXPECT_EQ(c.read("/third").error(), "ENOENT");
}

TEST(Persist, CorruptSnapshotIsAnError) {
    TempDir dir;
    { std::ofstream{dir.path / "kxenstored.db"} << "not a snapshot at all"; }
    auto p = Persist::open(dir.path).value();
    Store s;
    EXPECT_FALSE(p->load(s));
}

TEST(Persist, JournalFromAnotherEpochIsIgnored) {
    TempDir dir;
    Ports ports;
    {
        Life a{dir.path, ports};
        Client c{a.server};
        c.write("/kept", "1");
        a.server.flush();
        ASSERT_TRUE(a.persist->snapshot(a.server.store(), a.server.domains(), a.server.watches()));
    }
    // An old journal next to a newer snapshot (a crash between the two renames).
    std::string old;
    {
        std::ifstream f{dir.path / "kxenstored.log", std::ios::binary};
        old.assign(std::istreambuf_iterator<char>{f}, {});
    }
    old[8] ^= 1;   // its epoch
    { std::ofstream{dir.path / "kxenstored.log", std::ios::binary} << old; }
    Life b{dir.path, ports};
    Client c{b.server};
    EXPECT_EQ(c.read("/kept").body, "1");
}

TEST(Persist, OnlyOneDaemonPerDirectory) {
    TempDir dir;
    auto a = Persist::open(dir.path);
    ASSERT_TRUE(a);
    EXPECT_FALSE(Persist::open(dir.path));
}

TEST(Persist, SnapshotWhenTheJournalOutgrowsIt) {
    TempDir dir;
    Ports ports;
    Life a{dir.path, ports};
    Client c{a.server};
    for (int i = 0; i < 3000 && !a.persist->wants_snapshot(); ++i) {
        c.write("/big", std::string(2000, static_cast<char>('a' + i % 26)));
        a.server.flush();
    }
    EXPECT_TRUE(a.persist->wants_snapshot());
    ASSERT_TRUE(a.persist->snapshot(a.server.store(), a.server.domains(), a.server.watches()));
    EXPECT_LT(a.persist->journal_bytes(), 100u);
}

TEST(Persist, RecordsRejectDamage) {
    std::string buf;
    record::Writer{record::remove}.str("/a").finish(buf);
    std::size_t off = 0;
    EXPECT_TRUE(record::next(buf, off));
    EXPECT_EQ(off, buf.size());
    buf[9] ^= 0x40;
    off = 0;
    EXPECT_FALSE(record::next(buf, off));
    EXPECT_FALSE(record::next(std::string_view{buf}.substr(0, 5), off = 0));
    record::Reader r{std::string_view{"\xff\xff\xff\x7f", 4}};
    EXPECT_TRUE(r.str().empty());
    EXPECT_TRUE(r.failed());
    EXPECT_EQ(crc32("123456789"), 0xCBF43926u);   // the standard check value
}

} // namespace
} // namespace kxen::xenstore::test
