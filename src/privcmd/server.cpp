#include "privcmd/server.hpp"
#include "common/domain_name.hpp"
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <xen/grant_table.h>
#include <xen/hvm/save.h>
#include <xen/sched.h>
#include "common/log.hpp"
#include "common/mapping.hpp"
#include "hv/domain/domain.hpp"
#include "hv/domctl/hvm_context.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"
#include "privcmd/fd_passing.hpp"
#include "privcmd/protocol.hpp"

namespace kxen::privcmd {
namespace {

// A dom0 client's shared buffer: every address it gives kxend is an offset in here.
class Buffer final : public hv::GuestAccess {
public:
    explicit Buffer(Mapping m) : m_{std::move(m)} {}
    bool read(std::uint64_t off, void* dst, std::size_t len) override {
        if (!in_range(off, len)) return false;
        std::memcpy(dst, m_.data() + off, len);
        return true;
    }
    bool write(std::uint64_t off, void const* src, std::size_t len) override {
        if (!in_range(off, len)) return false;
        std::memcpy(m_.data() + off, src, len);
        return true;
    }

private:
    bool in_range(std::uint64_t off, std::size_t len) const {
        return off <= m_.size() && len <= m_.size() - off;
    }
    Mapping m_;
};

constexpr std::int64_t err(XenErr e) { return -static_cast<std::int64_t>(e); }

constexpr std::string_view migrated_away = "--migratedaway";

// A suspended domain runs on where it is. A domain that suspended itself (SCHEDOP_shutdown)
// sees the hypercall return 1, "cancelled", as libxc's xc_domain_resume(fast) arranges.
void resume_here(hv::Domain& d, bool cooperative) {
    if (!d.is_shutdown() || d.shutdown_code() != SHUTDOWN_suspend) return;
    if (cooperative) {
        d.pause();
        if (d.wait_stopped())
            if (auto ctx = hv::save_hvm_context(d)) {
                for (std::size_t off = 0; off + sizeof(hvm_save_descriptor) <= ctx->size();) {
                    hvm_save_descriptor h;
                    std::memcpy(&h, ctx->data() + off, sizeof h);
                    off += sizeof h;
                    if (h.typecode == 0 || off + h.length > ctx->size()) break;
                    if (h.typecode == HVM_SAVE_CODE(CPU) && h.instance == 0 && h.length >= offsetof(hvm_hw_cpu, rbx)) {
                        std::uint64_t one = 1;
                        std::memcpy(ctx->data() + off + offsetof(hvm_hw_cpu, rax), &one, sizeof one);
                    }
                    off += h.length;
                }
                (void)hv::load_hvm_context(d, *ctx);
            }
        d.unpause();
    }
    (void)d.resume();
}

// The guard a tool left on a domain when its connection closed: the tool died (kill -9, a
// crash) in the middle of building, saving or migrating it.
void settle(hv::Hv& hv, std::shared_ptr<hv::Domain> const& d, Guard g, bool cooperative) {
    if (d->dying() || hv.lookup(d->id()) != d) return;
    switch (g) {
    case Guard::none: return;
    case Guard::destroy:
        log::warn("d{}: its toolstack went away while building it: destroyed", d->id());
        (void)hv.destroy_domain(d->id());
        {
            // The config kxl recorded for it (kxl's remember_config); kxenstored forgets its
            // xenstore tree once it sees the domain gone.
            std::error_code ec;
            std::filesystem::remove(std::filesystem::path(hv.options().state_dir) / "userdata" /
                                        ("d" + std::to_string(d->id()) + ".xl"), ec);
        }
        return;
    case Guard::resume: {
        log::warn("d{}: its toolstack went away while saving it: runs on here", d->id());
        d->p2m().log_dirty_disable();
        auto name = d->name();
        if (name.ends_with(migrated_away)) (void)hv.set_domain_name(*d, name.substr(0, name.size() - migrated_away.size()));
        resume_here(*d, cooperative);
        return;
    }
    case Guard::unpause:
        log::warn("d{}: its toolstack went away after the migration's go: unpaused", d->id());
        if (d->paused()) d->unpause();
        return;
    }
}

class Connection {
public:
    Connection(hv::Hv& hv, UniqueFd fd) : hv_{&hv}, fd_{std::move(fd)}, id_{next_id++} {}
    // What a dom0 process bound or mapped goes away with its connection, as with Xen's
    // evtchn and gntdev devices when the process exits.
    ~Connection() {
        for (auto& [id, gd] : guards_)
            if (auto d = gd.dom.lock()) settle(*hv_, d, gd.what, gd.cooperative);
        for (auto& [port, efd] : ports_) (void)hv::evtchn::close(*hv_, hv_->dom0_evtchns(), port);
        for (auto& m : maps_)
            if (m.dom) m.dom->gnttab().release(m.ref, !m.readonly);
    }

    void serve() {
        Request rq;
        UniqueFd passed;
        while (true) {
            auto n = recv_msg(fd_.raw(), &rq, sizeof rq, &passed);
            if (!n || *n == 0) return;
            Reply rp{};
            int out_fd = -1;
            if (*n != sizeof rq || rq.magic != magic) {
                rp.ret = err(XenErr::inval);
            } else {
                rp = handle(rq, passed, out_fd);
            }
            passed.reset();
            if (!send_msg(fd_.raw(), &rp, sizeof rp, out_fd)) return;
        }
    }

private:
    Reply handle(Request const& rq, UniqueFd& passed, int& out_fd) {
        Reply rp{};
        if (rq.op == Op::hello) {
            if (!passed || rq.a[0] == 0 || rq.a[0] > (1ull << 30)) return {err(XenErr::inval), {}};
            auto m = Mapping::shared(passed.raw(), rq.a[0]);
            if (!m) return {err(XenErr::nomem), {}};
            buf_.emplace(std::move(*m));
            rp.val[0] = version;
            return rp;
        }
        if (!buf_) return {err(XenErr::inval), {}};
        switch (rq.op) {
        case Op::hypercall: {
            hv::Caller c{*hv_, nullptr, nullptr, *buf_};
            rp.ret = hv::hypercall(c, rq.a[0], {rq.a[1], rq.a[2], rq.a[3], rq.a[4], rq.a[5]});
            return rp;
        }
        case Op::map_foreign: {
            auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
            if (!d) return {err(XenErr::srch), {}};
            if (rq.a[2] == 0 || rq.a[2] > (1ull << 28)) return {err(XenErr::inval), {}};
            auto off = d->p2m().pool_offset(hv::Gfn{rq.a[1]}, rq.a[2]);
            if (!off) return {err(XenErr::inval), {}};
            rp.val[0] = *off;
            out_fd = hv_->pool().fd();
            // dom0 writes through the mapping where kxend cannot see: a ring page (store,
            // console) is logged in every round; a big mapping (the builder's) once, now.
            if (rq.a[3] == 1) return rp;
            if (rq.a[2] <= 4) for (std::uint64_t i = 0; i < rq.a[2]; ++i) d->hold_page(rq.a[1] + i);
            else d->mark_dirty(rq.a[1] << 12, rq.a[2] << 12);
            return rp;
        }
        case Op::console_read: {
            auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
            if (!d) return {err(XenErr::srch), {}};
            std::string out;
            auto max = std::min<std::uint64_t>(rq.a[3], 1 << 20);
            auto next = d->console_read(rq.a[1], out, max, static_cast<int>(std::min<std::uint64_t>(rq.a[4], 60000)));
            if (!out.empty() && !buf_->write(rq.a[2], out.data(), out.size())) return {err(XenErr::fault), {}};
            rp.ret = static_cast<std::int64_t>(out.size());
            rp.val[0] = next;
            return rp;
        }
        case Op::domain_wait: {
            auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
            if (!d) return {err(XenErr::srch), {}};
            rp.val[0] = d->wait_state_change(rq.a[1], static_cast<int>(std::min<std::uint64_t>(rq.a[2], 60000)));
            if (d->dying()) return {err(XenErr::srch), {}};
            return rp;
        }
        case Op::set_name: {
            auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
            if (!d) return {err(XenErr::srch), {}};
            if (rq.a[2] == 0 || rq.a[2] > domain_name_max) return {err(XenErr::inval), {}};
            std::string name(rq.a[2], '\0');
            if (!buf_->read(rq.a[1], name.data(), name.size())) return {err(XenErr::fault), {}};
            if (!valid_domain_name(name)) return {err(XenErr::inval), {}};
            if (auto r = hv_->set_domain_name(*d, std::move(name)); !r) return {err(r.error()), {}};
            return rp;
        }
        case Op::get_name: {
            auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
            if (!d) return {err(XenErr::srch), {}};
            auto name = d->name();
            auto n = std::min<std::uint64_t>(name.size(), rq.a[2]);
            if (n && !buf_->write(rq.a[1], name.data(), n)) return {err(XenErr::fault), {}};
            rp.ret = static_cast<std::int64_t>(n);
            return rp;
        }
        case Op::evtchn_bind: return evtchn_bind(rq, out_fd);
        case Op::host_info: {
            auto const& dir = hv_->options().state_dir;
            auto n = std::min<std::uint64_t>(dir.size(), rq.a[1]);
            if (n && !buf_->write(rq.a[0], dir.data(), n)) return {err(XenErr::fault), {}};
            return {static_cast<std::int64_t>(n), {}};
        }
        case Op::evtchn_notify:
            if (!ports_.contains(static_cast<evtchn_port_t>(rq.a[0]))) return {err(XenErr::inval), {}};
            if (auto r = hv::evtchn::send(*hv_, hv_->dom0_evtchns(), static_cast<evtchn_port_t>(rq.a[0])); !r)
                return {err(r.error()), {}};
            return rp;
        case Op::evtchn_unbind: {
            auto it = ports_.find(static_cast<evtchn_port_t>(rq.a[0]));
            if (it == ports_.end()) return {err(XenErr::inval), {}};
            (void)hv::evtchn::close(*hv_, hv_->dom0_evtchns(), it->first);
            ports_.erase(it);   // the eventfd closes only after the port stopped using it
            return rp;
        }
        case Op::domain_guard: {
            auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
            if (!d) return {err(XenErr::srch), {}};
            if (rq.a[1] > static_cast<std::uint64_t>(Guard::unpause)) return {err(XenErr::inval), {}};
            auto g = static_cast<Guard>(rq.a[1]);
            if (g == Guard::none) guards_.erase(d->id());
            else guards_[d->id()] = GuardEntry{d, g, rq.a[2] != 0};
            return rp;
        }
        case Op::gnttab_map: return gnttab_map(rq, out_fd);
        case Op::gnttab_unmap: {
            if (rq.a[0] >= maps_.size() || !maps_[rq.a[0]].dom) return {err(XenErr::inval), {}};
            auto& m = maps_[rq.a[0]];
            m.dom->gnttab().release(m.ref, !m.readonly);
            m = {};
            return rp;
        }
        default: return {err(XenErr::nosys), {}};
        }
    }

    Reply evtchn_bind(Request const& rq, int& out_fd) {
        auto& t = hv_->dom0_evtchns();
        auto remote = static_cast<std::uint16_t>(rq.a[0]);
        XenResult<evtchn_port_t> port = xen_fail(XenErr::inval);
        if (rq.a[1] == ~0ull) {
            port = t.alloc_unbound(remote);
        } else {
            auto d = hv_->lookup(remote);
            if (!d) return {err(XenErr::srch), {}};
            port = hv::evtchn::bind_interdomain(t, d->evtchns(), static_cast<evtchn_port_t>(rq.a[1]));
        }
        if (!port) return {err(port.error()), {}};
        UniqueFd efd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
        if (!efd) {
            auto e = errno == EMFILE ? XenErr::mfile : XenErr::nfile;
            (void)hv::evtchn::close(*hv_, t, *port);
            return {err(e), {}};
        }
        t.set_notify(*port, efd.raw(), id_);
        out_fd = efd.raw();
        ports_.emplace(*port, std::move(efd));
        if (rq.a[1] != ~0ull) hv::evtchn::set_pending(t, *port);   // Xen: pending after bind
        return {static_cast<std::int64_t>(*port), {}};
    }

    Reply gnttab_map(Request const& rq, int& out_fd) {
        auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
        if (!d) return {err(XenErr::srch), {}};
        if (maps_.size() >= max_maps) return {err(XenErr::nospc), {}};
        bool readonly = rq.a[2] != 0;
        auto ref = static_cast<std::uint32_t>(rq.a[1]);
        auto acc = d->gnttab().acquire(ref, 0, !readonly);
        if (!acc) return {acc.error(), {}};   // a GNTST_* status, negative
        auto off = d->p2m().pool_offset(hv::Gfn{acc->gfn}, 1);
        if (!off) {
            d->gnttab().release(ref, !readonly);
            return {GNTST_bad_page, {}};
        }
        if (!readonly) d->hold_page(acc->gfn);   // a backend writes it whenever it likes
        // Maptrack: the entry keeps the granting domain, and so its pages, alive until unmap.
        maps_.push_back(MapEntry{d, ref, readonly});
        out_fd = hv_->pool().fd();
        return {static_cast<std::int64_t>(maps_.size() - 1), {*off, 0}};
    }

    struct MapEntry {
        std::shared_ptr<hv::Domain> dom;
        std::uint32_t ref = 0;
        bool readonly = false;
    };
    struct GuardEntry {
        std::weak_ptr<hv::Domain> dom;   // not the id alone: it may name a later domain
        Guard what = Guard::none;
        bool cooperative = false;
    };
    static constexpr std::size_t max_maps = 1 << 16;
    static inline std::atomic<std::uint64_t> next_id{1};

    hv::Hv* hv_;
    UniqueFd fd_;
    std::uint64_t id_;
    std::optional<Buffer> buf_;
    std::map<evtchn_port_t, UniqueFd> ports_;
    std::vector<MapEntry> maps_;
    std::map<hv::DomId, GuardEntry> guards_;
};

} // namespace

Server::Server(hv::Hv& hv, UniqueFd fd, std::string path)
    : hv_{&hv}, fd_{std::move(fd)}, path_{std::move(path)}, thread_{[this] { accept_loop(); }} {}

Server::~Server() { stop(); }

void Server::stop() {
    if (stop_.exchange(true)) return;
    ::shutdown(fd_.raw(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
}

SysResult<std::unique_ptr<Server>> Server::listen(hv::Hv& hv, std::string const& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return sys_fail(ENAMETOOLONG, "socket path " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    UniqueFd fd{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
    if (!fd) return sys_fail("socket");
    // A socket file left by a kxend that died is stale only if nobody answers on it.
    if (::connect(fd.raw(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        return sys_fail(EADDRINUSE, "another kxend is listening on " + path);
    fd.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    ::unlink(path.c_str());
    auto old = ::umask(0077);   // mode 0600: only root (dom0) may talk to the hypervisor
    int r = ::bind(fd.raw(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (r < 0) return sys_fail("bind " + path);
    if (::listen(fd.raw(), 128) < 0) return sys_fail("listen");
    return std::unique_ptr<Server>(new Server(hv, std::move(fd), path));
}

void Server::accept_loop() {
    while (!stop_) {
        int c = ::accept4(fd_.raw(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                log::warn("privcmd: accept: out of file descriptors");
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            return;
        }
        std::thread{[hv = hv_, fd = UniqueFd{c}]() mutable {
            ::pthread_setname_np(::pthread_self(), "kxend-privcmd");
            Connection{*hv, std::move(fd)}.serve();
        }}.detach();
    }
}

} // namespace kxen::privcmd
