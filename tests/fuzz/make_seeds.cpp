// Writes the seed corpora under tests/fuzz/corpus/<target>/ (checked in; run again after a
// format changes): small, real inputs in each target's input format, built with the same
// code that writes them for real where there is such code (sample migration streams, test
// ELF kernels, xenstore requests and saved state).
//   ninja -C build kxen_fuzz_seeds && build/bin/kxen_fuzz_seeds tests/fuzz/corpus
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <variant>
#include <vector>
#include <xen/domctl.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/sysctl.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/xen.h>
#include "privcmd/protocol.hpp"
#include "toolstack/build/test_elf.hpp"
#include "toolstack/stream/reader.hpp"
#include "toolstack/stream/sample.hpp"
#include "xenstore/persist.hpp"
#include "xenstore/persist_record.hpp"
#include "xenstore/test_support.hpp"

namespace fs = std::filesystem;
using namespace kxen;

namespace {

fs::path root;

void save(std::string const& target, std::string const& name, std::string_view bytes) {
    fs::create_directories(root / target);
    std::ofstream f{root / target / name, std::ios::binary | std::ios::trunc};
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string as_string(std::span<std::byte const> b) { return {reinterpret_cast<char const*>(b.data()), b.size()}; }

template <typename T> void put(std::string& s, T v) { s.append(reinterpret_cast<char const*>(&v), sizeof v); }

// ---- xenstore over a socket: flag byte, then (connection, u16 length, bytes) chunks ----
void chunk(std::string& s, std::uint8_t conn, std::string_view bytes) {
    put<std::uint8_t>(s, conn);
    put<std::uint16_t>(s, static_cast<std::uint16_t>(bytes.size()));
    s.append(bytes);
}

void xs_wire() {
    using namespace xenstore;
    using xenstore::test::args;
    using xenstore::test::request;
    auto kv = [](std::string_view k, std::string_view v) {
        std::string s{k};
        s.push_back('\0');
        s.append(v);
        return s;
    };
    std::string basic(1, '\0');
    chunk(basic, 0, request(XS_WRITE, 1, 0, kv("/vm/a", "hello")) + request(XS_READ, 2, 0, args("/vm/a")) +
                        request(XS_DIRECTORY, 3, 0, args("/vm")) + request(XS_GET_PERMS, 4, 0, args("/vm/a")) +
                        request(XS_SET_PERMS, 5, 0, args("/vm/a", "n0", "r1")) +
                        request(XS_MKDIR, 6, 0, args("/vm/b/c")) + request(XS_RM, 7, 0, args("/vm/b")));
    save("fuzz_xs_wire", "basic", basic);

    std::string watches(1, '\0');
    chunk(watches, 1, request(XS_WATCH, 1, 0, args("/vm", "tok")) + request(XS_WATCH, 2, 0, args("@introduceDomain", "i")));
    chunk(watches, 0, request(XS_WRITE, 1, 0, kv("/vm/x", "1")) + request(XS_INTRODUCE, 2, 0, args("5", "1", "9")) +
                          request(XS_RELEASE, 3, 0, args("5")));
    chunk(watches, 1, request(XS_UNWATCH, 3, 0, args("/vm", "tok")) + request(XS_RESET_WATCHES, 4, 0, ""));
    save("fuzz_xs_wire", "watches", watches);

    std::string tx(1, '\x01');   // requests in 1-byte pieces
    chunk(tx, 0, request(XS_TRANSACTION_START, 1, 0, args("")));
    chunk(tx, 0, request(XS_WRITE, 2, 1, kv("/tx/a", "in-tx")) + request(XS_READ, 3, 1, args("/tx/a")) +
                     request(XS_TRANSACTION_END, 4, 1, args("T")));
    chunk(tx, 1, request(XS_TRANSACTION_START, 1, 0, args("")) + request(XS_RM, 2, 2, args("/tx")) +
                     request(XS_TRANSACTION_END, 3, 2, args("F")));
    save("fuzz_xs_wire", "transactions", tx);

    std::string guest(1, '\x08');   // tiny quotas
    chunk(guest, 2, request(XS_WRITE, 1, 0, kv("data/x", "v")) + request(XS_READ, 2, 0, args("data/x")) +
                        request(XS_WRITE, 3, 0, kv("/vm/forbidden", "v")) + request(XS_WATCH, 4, 0, args("data", "t")) +
                        request(XS_GET_DOMAIN_PATH, 5, 0, args("1")) + request(XS_DIRECTORY_PART, 6, 0, args("/local/domain/1", "0")) +
                        request(XS_SET_PERMS, 7, 0, args("data/x", "b1", "r0")) + request(XS_TRANSACTION_START, 8, 0, args("")));
    chunk(guest, 3, std::string(1, '\2'));
    save("fuzz_xs_wire", "unprivileged", guest);

    std::string control(1, '\x14');   // slow readers, congestion
    chunk(control, 0, request(XS_CONTROL, 1, 0, args("quota")) + request(XS_CONTROL, 2, 0, args("quota", "set", "nodes", "5")) +
                          request(XS_CONTROL, 3, 0, args("check")) + request(XS_CONTROL, 4, 0, args("help")) +
                          request(XS_IS_DOMAIN_INTRODUCED, 5, 0, args("0")) + request(XS_SET_TARGET, 6, 0, args("1", "0")) +
                          request(XS_RESUME, 7, 0, args("1")) + request(999, 8, 0, "junk"));
    std::string too_big = request(XS_WRITE, 9, 0, std::string(5000, 'x'));
    chunk(control, 1, too_big);
    save("fuzz_xs_wire", "control", control);
}

void xs_ring() {
    using namespace xenstore;
    using xenstore::test::args;
    using xenstore::test::request;
    auto put_req = [](std::string& s, std::string const& r) {
        put<std::uint8_t>(s, 0);
        put<std::uint16_t>(s, static_cast<std::uint16_t>(r.size()));
        s.append(r);
        put<std::uint8_t>(s, 3);   // notify
        put<std::uint8_t>(s, 4);   // take replies
    };
    std::string ok;
    put_req(ok, request(XS_WRITE, 1, 0, std::string("name\0guest", 10)));
    put_req(ok, request(XS_READ, 2, 0, args("name")));
    put_req(ok, request(XS_WATCH, 3, 0, args("name", "t")));
    put_req(ok, request(XS_TRANSACTION_START, 4, 0, args("")));
    save("fuzz_xs_ring", "requests", ok);

    std::string bad;
    put<std::uint8_t>(bad, 1);
    put<std::uint32_t>(bad, 0);
    put<std::uint32_t>(bad, 0x2000);   // req_prod beyond the ring
    put<std::uint8_t>(bad, 3);
    put<std::uint8_t>(bad, 7);
    put<std::uint8_t>(bad, 0);   // re-introduce
    put_req(bad, request(XS_READ, 1, 0, args("name")));
    put<std::uint8_t>(bad, 6);
    put<std::uint32_t>(bad, XENSTORE_RECONNECT);
    put<std::uint8_t>(bad, 3);
    save("fuzz_xs_ring", "hostile_indexes", bad);

    std::string big;
    put_req(big, request(XS_WRITE, 1, 0, "big\0" + std::string(3000, 'y')));
    for (int i = 0; i < 4; ++i) put<std::uint8_t>(big, 3), put<std::uint8_t>(big, 4);
    save("fuzz_xs_ring", "wraps", big);
}

void xs_path_perms() {
    auto seed = [](std::string const& name, std::uint8_t flags, std::string_view path, std::string_view perms) {
        std::string s(1, static_cast<char>(flags));
        s.append(path);
        s.push_back('\xff');
        s.append(perms);
        save("fuzz_xs_path_perms", name, s);
    };
    seed("absolute", 0, "/local/domain/3/device/vbd/768", std::string_view{"n3\0r0\0", 6});
    seed("relative", 6, "device/vif/0/state", std::string_view{"b3\0w0\0", 6});
    seed("special", 1, "@introduceDomain", std::string_view{"n0\0r0x10\0", 9});
    seed("long", 0x80, "/" + std::string(80, 'a'), std::string_view{"r-1\0", 4});
}

void xs_persist() {
    using namespace xenstore;
    // Framed: u16 length + body per record, 0xffff between snapshot and journal.
    auto rec = [](std::string& s, record::Writer const& w) {
        std::string framed;
        w.finish(framed);   // u32 length, u32 crc, body
        std::string_view body{framed.data() + 8, framed.size() - 8};
        put<std::uint16_t>(s, static_cast<std::uint16_t>(body.size()));
        s.append(body);
    };
    Node root_node;
    root_node.perms = {Perm{0, XS_PERM_NONE}};
    root_node.children = {"local", "vm"};
    Node leaf;
    leaf.perms = {Perm{3, XS_PERM_NONE}, Perm{0, XS_PERM_READ}};
    leaf.value = "value";
    std::string framed(1, '\1');
    rec(framed, record::Writer{record::node}.str("/").node_state(root_node));
    rec(framed, record::Writer{record::node}.str("/vm").node_state(leaf));
    rec(framed, record::Writer{record::domain}.u32(3).u64(0xfeffc).u32(9).u8(1).u32(0));
    rec(framed, record::Writer{record::watch}.u32(3).u32(16).str("/vm").str("tok"));
    put<std::uint16_t>(framed, 0xffff);
    rec(framed, record::Writer{record::remove}.str("/vm"));
    rec(framed, record::Writer{record::unwatch}.u32(3).str("/vm").str("tok"));
    rec(framed, record::Writer{record::clear_watches}.u32(3));
    rec(framed, record::Writer{record::release}.u32(3));
    save("fuzz_xs_persist", "framed", framed);

    // Raw: a snapshot and a journal as kxenstored writes them, from a live server.
    xenstore::test::Ports ports;
    Server server{Config{}, ports.factory()};
    xenstore::test::Client tool{server};
    tool.call(XS_INTRODUCE, xenstore::test::args("3", "1", "9"));
    tool.write("/local/domain/3/name", "guest");
    tool.set_perms("/local/domain/3", "n3", "r0");
    std::string raw(1, '\0');
    raw += encode_snapshot(server.store(), server.domains(), server.watches(), 5);
    std::string journal;
    record::header(journal, record::journal_magic, 5);
    record::Writer{record::node}.str("/local/domain/3/name").node_state(leaf).finish(journal);
    record::Writer{record::release}.u32(3).finish(journal);
    save("fuzz_xs_persist", "raw", raw + journal);
}

void xl_cfg() {
    std::ifstream f{fs::path{KXEN_SOURCE_DIR} / "examples/minios.cfg"};
    std::string minios{std::istreambuf_iterator<char>{f}, std::istreambuf_iterator<char>{}};
    save("fuzz_xl_cfg", "minios.cfg", minios);
    save("fuzz_xl_cfg", "full.cfg",
         "name = \"guest-1\"\ntype = 'pvh'\nuuid = \"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"\n"
         "kernel = \"/boot/vmlinuz\"\nramdisk = \"/boot/initrd.img\"\nmemory = 512\nmaxmem = 1024\n"
         "vcpus = 2\nmaxvcpus = 4\nroot = \"/dev/xvda1 ro\"\nextra = \"console=hvc0\"\n"
         "on_poweroff = \"destroy\"\non_reboot = \"restart\"\non_crash = \"coredump-restart\"\n"
         "on_watchdog = \"preserve\"\non_soft_reset = \"soft-reset\"\n"
         "disk = [ 'phy:/dev/vg/guest,xvda,w', \"file:/img.iso,hdc:cdrom,r\" ]\n"
         "vif = [ 'bridge=xenbr0,mac=00:16:3e:00:00:01' ]\nvif += [ 'bridge=xenbr1' ]\n"
         "cpus = \"0-3,^1\"\ncpu_weight = 0x100\nvnc = 1; sdl = 0\n# a comment\nunknown_key = [ 1, \"two\", ]\n");
    save("fuzz_xl_cfg", "overrides.cfg",
         "name = \"a\"\nkernel = \"k\"\nmemory = \"64\"\ncmdline = \"x\\ty\\n\\\"q\\\"\"\n"
         "#--overrides--\nmemory=128\nvcpus=2\nextra=\"more\"\n");
    save("fuzz_xl_cfg", "errors.cfg", "name = \nkernel = [\nmemory = 'a' 'b'\n\x01\n");
}

void stream() {
    using namespace toolstack::stream;
    auto sample = [](SampleFormat f) {
        auto s = build_sample_stream(SampleOptions{f, 1, 1});
        if (!s) {
            std::fprintf(stderr, "sample stream: %s\n", s.error().message().c_str());
            std::exit(1);
        }
        return as_string(*s);
    };
    save("fuzz_stream", "xl_save", std::string(1, '\0') + sample(SampleFormat::xl));
    save("fuzz_stream", "libxl", std::string(1, '\1') + sample(SampleFormat::libxl));
    save("fuzz_stream", "libxc", std::string(1, '\2') + sample(SampleFormat::libxc));
    // The HVM context blob out of the sample, for the blob parser alone.
    auto libxc = build_sample_stream(SampleOptions{SampleFormat::libxc, 1, 2});
    MemorySource src{*libxc};
    StreamInput in{src};
    LibxcReader xc{in};
    (void)xc.read_header();
    for (;;) {
        auto r = xc.next();
        if (!r || std::holds_alternative<EndRecord>(*r)) break;
        if (auto* ctx = std::get_if<HvmContextRecord>(&*r))
            save("fuzz_stream", "hvm_context", std::string(1, '\3') + as_string(ctx->blob));
    }
}

void elf_pvh() {
    using namespace toolstack::build::test;
    auto seed = [](std::string const& name, std::string head, TestElf const& spec) {
        save("fuzz_elf_pvh", name, head + as_string(make_elf(spec)));
    };
    // Small segments keep the seeds small: what matters is the headers and notes.
    auto small = [](bool elf64, NotesIn where) {
        TestElf e = pvh_kernel(elf64);
        for (auto& s : e.segments) {
            s.data.resize(std::min<std::size_t>(s.data.size(), 64));
        }
        e.notes_in = where;
        return e;
    };
    seed("elf64", std::string("\0\x07\x01\x00", 4), small(true, NotesIn::pt_note));
    seed("elf32", std::string("\x06\x0f\x03\x04", 4), small(false, NotesIn::pt_note));
    seed("elf64_sections", std::string("\x05\x03\x00\x10", 4), small(true, NotesIn::sections_only));
    seed("elf32_sections", std::string("\x01\x07\x00\x00", 4), small(false, NotesIn::sections_only));
}

void console_ring() {
    std::string s;
    auto out = [&](std::string_view text) {
        put<std::uint8_t>(s, 0);
        put<std::uint8_t>(s, static_cast<std::uint8_t>(text.size()));
        s.append(text);
    };
    out("hello from the guest\n");
    put<std::uint8_t>(s, 3);
    put<std::uint8_t>(s, 4);
    put<std::uint16_t>(s, 5);
    s += "input";
    put<std::uint8_t>(s, 5);
    put<std::uint8_t>(s, 5);
    save("fuzz_console_ring", "normal", s);
    std::string w;
    put<std::uint8_t>(w, 1);
    put<std::uint32_t>(w, 2040);
    put<std::uint32_t>(w, 2040);
    s = w;
    out("across the wrap of the ring");
    put<std::uint8_t>(s, 3);
    put<std::uint8_t>(s, 2);
    put<std::uint32_t>(s, 5000);
    put<std::uint32_t>(s, 10);
    put<std::uint8_t>(s, 4);
    put<std::uint16_t>(s, 3);
    s += "abc";
    put<std::uint8_t>(s, 1);
    put<std::uint32_t>(s, 0);
    put<std::uint32_t>(s, 0x7fffffff);
    put<std::uint8_t>(s, 3);
    save("fuzz_console_ring", "hostile", s);
}

// ---- hypercalls: steps writing structures into the caller's memory, then calls ----
template <typename T> void mem_write(std::string& s, std::uint16_t off, T const& v) {
    static_assert(sizeof v < 256);
    put<std::uint8_t>(s, 0);
    put<std::uint16_t>(s, off);
    put<std::uint8_t>(s, sizeof v);
    put(s, v);
}
void mem_write_big(std::string& s, std::uint16_t off, void const* p, std::size_t n) {
    auto const* b = static_cast<char const*>(p);
    for (std::size_t at = 0; at < n; at += 255) {
        std::size_t len = std::min<std::size_t>(255, n - at);
        put<std::uint8_t>(s, 0);
        put<std::uint16_t>(s, static_cast<std::uint16_t>(off + at));
        put<std::uint8_t>(s, static_cast<std::uint8_t>(len));
        s.append(b + at, len);
    }
}
void call(std::string& s, bool guest, std::uint8_t which, std::initializer_list<std::uint16_t> args) {
    put<std::uint8_t>(s, guest ? 2 : 1);
    put<std::uint8_t>(s, which);
    put<std::uint8_t>(s, 0);   // all arguments u16
    std::size_t n = 0;
    for (auto a : args) put<std::uint16_t>(s, a), ++n;
    for (; n < 5; ++n) put<std::uint16_t>(s, 0);
}
// Indexes into fuzz_hypercall.cpp's table.
enum : std::uint8_t { h_memory, h_grant, h_evtchn, h_sched, h_vcpu, h_hvm, h_domctl, h_sysctl, h_version, h_console, h_timer };

void hypercalls() {
    std::string s;
    xen_domctl d{};
    d.cmd = XEN_DOMCTL_getdomaininfo;
    d.domain = 1;
    d.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    mem_write_big(s, 0, &d, sizeof d);
    call(s, false, h_domctl, {0});
    xen_pfn_t gfns[2] = {0, 1};
    mem_write(s, 1024, gfns);
    xen_memory_reservation_t r{};
    r.domid = 1;
    r.extent_start.p = reinterpret_cast<xen_pfn_t*>(1024);
    r.nr_extents = 2;
    mem_write(s, 2048, r);
    call(s, false, h_memory, {XENMEM_populate_physmap, 2048});
    call(s, true, h_memory, {XENMEM_populate_physmap, 2048});
    save("fuzz_hypercall", "domctl_memory", s);

    s.clear();
    evtchn_alloc_unbound_t au{};
    au.dom = DOMID_SELF;
    au.remote_dom = 0;
    mem_write(s, 0, au);
    call(s, true, h_evtchn, {EVTCHNOP_alloc_unbound, 0});
    evtchn_send_t send{};
    send.port = 1;
    mem_write(s, 64, send);
    call(s, true, h_evtchn, {EVTCHNOP_send, 64});
    gnttab_query_size_t q{};
    q.dom = DOMID_SELF;
    mem_write(s, 128, q);
    call(s, true, h_grant, {GNTTABOP_query_size, 128, 1});
    gnttab_setup_table_t st{};
    st.dom = DOMID_SELF;
    st.nr_frames = 1;
    st.frame_list.p = reinterpret_cast<xen_pfn_t*>(512);
    mem_write(s, 256, st);
    call(s, true, h_grant, {GNTTABOP_setup_table, 256, 1});
    save("fuzz_hypercall", "evtchn_gnttab", s);

    s.clear();
    xen_hvm_param_t p{};
    p.domid = 1;
    p.index = HVM_PARAM_STORE_PFN;
    p.value = 0xfeffc;
    mem_write(s, 0, p);
    call(s, false, h_hvm, {HVMOP_set_param, 0});
    call(s, true, h_hvm, {HVMOP_get_param, 0});
    evtchn_port_t ports[1] = {1};
    mem_write(s, 512, ports);
    sched_poll_t poll{};
    poll.ports.p = reinterpret_cast<evtchn_port_t*>(512);
    poll.nr_ports = 1;
    poll.timeout = 1000000;
    mem_write(s, 64, poll);
    call(s, true, h_sched, {SCHEDOP_poll, 64});
    call(s, true, h_sched, {SCHEDOP_yield});
    vcpu_set_singleshot_timer_t t{};
    t.timeout_abs_ns = 1;
    mem_write(s, 128, t);
    call(s, true, h_vcpu, {VCPUOP_set_singleshot_timer, 0, 128});
    call(s, true, h_version, {XENVER_extraversion, 256});
    call(s, true, h_console, {CONSOLEIO_write, 5, 256});
    save("fuzz_hypercall", "guest_ops", s);

    s.clear();
    xen_sysctl sc{};
    sc.cmd = XEN_SYSCTL_physinfo;
    sc.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    mem_write_big(s, 0, &sc, sizeof sc);
    call(s, false, h_sysctl, {0});
    sc.cmd = XEN_SYSCTL_getdomaininfolist;
    sc.u.getdomaininfolist.first_domain = 0;
    sc.u.getdomaininfolist.max_domains = 4;
    sc.u.getdomaininfolist.buffer.p = reinterpret_cast<xen_domctl_getdomaininfo_t*>(4096);
    mem_write_big(s, 0, &sc, sizeof sc);
    call(s, false, h_sysctl, {0});
    save("fuzz_hypercall", "sysctl", s);
}

void privcmd_requests() {
    using privcmd::Op;
    auto rq = [](std::string& s, Op op, std::initializer_list<std::uint16_t> args) {
        put<std::uint8_t>(s, 1);
        put<std::uint8_t>(s, static_cast<std::uint8_t>(op));
        put<std::uint8_t>(s, 0);
        std::size_t n = 0;
        for (auto a : args) put<std::uint16_t>(s, a), ++n;
        for (; n < 6; ++n) put<std::uint16_t>(s, 0);
    };
    std::string s;
    xen_domctl d{};
    d.cmd = XEN_DOMCTL_getdomaininfo;
    d.domain = 1;
    d.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    mem_write_big(s, 0, &d, sizeof d);
    rq(s, Op::hypercall, {__HYPERVISOR_domctl, 0});
    rq(s, Op::map_foreign, {1, 0, 1, 0});
    rq(s, Op::console_read, {1, 0, 4096, 256});
    rq(s, Op::domain_wait, {1, 0});
    save("fuzz_privcmd", "domain", s);

    s.clear();
    mem_write_big(s, 8192, "guest-1", 7);
    rq(s, Op::set_name, {1, 8192, 7});
    rq(s, Op::get_name, {1, 8300, 64});
    rq(s, Op::evtchn_bind, {1, 0xffff});
    rq(s, Op::evtchn_notify, {1});
    rq(s, Op::evtchn_unbind, {1});
    rq(s, Op::gnttab_map, {1, 0, 1});
    rq(s, Op::gnttab_unmap, {0});
    rq(s, Op::host_info, {100, 200});
    put<std::uint8_t>(s, 2);   // hello claiming a bigger buffer than the file
    put<std::uint32_t>(s, 1u << 20);
    rq(s, Op::get_name, {1, 60000, 64});
    save("fuzz_privcmd", "names_events", s);
}

void soft_cpu() {
    // fuzz_soft_cpu reads a machine description, then code; random bytes make machines.
    std::mt19937_64 rng{0x6b78656e};
    for (int i = 0; i < 8; ++i) {
        std::string s(400, '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        save("fuzz_soft_cpu", "random" + std::to_string(i), s);
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    xs_wire();
    xs_ring();
    xs_path_perms();
    xs_persist();
    xl_cfg();
    stream();
    elf_pvh();
    console_ring();
    hypercalls();
    privcmd_requests();
    soft_cpu();
    return 0;
}
