#include "privcmd/session.hpp"
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstring>
#include <limits>
#include <string>
#include <xen/grant_table.h>
#include <filesystem>
#include <xen/hvm/save.h>
#include <xen/sched.h>
#include "common/domain_name.hpp"
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/domctl/hvm_context.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::privcmd {
namespace {

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
        // A guest asked to suspend itself may not have done so yet: when it does, it is told
        // the suspend was cancelled.
        if (cooperative && !(d->is_shutdown() && d->shutdown_code() == SHUTDOWN_suspend)) d->abandon_suspend(true);
        resume_here(*d, cooperative);
        return;
    }
    case Guard::unpause:
        log::warn("d{}: its toolstack went away after the migration's go: unpaused", d->id());
        if (d->paused()) d->unpause();
        return;
    case Guard::commit:   // settle_commit
    case Guard::sent: return;   // settle_sent
    }
}

// The receiver died waiting for the go. The sender gives up its copy once it has sent the go,
// so a go that reached this end unread makes the domain the one that runs; with none there, the
// sender still has its copy (it checks that the receiver is alive just before it sends).
// With a report to send, the sender learns which: it destroys its copy on 0, and runs it on
// 1 (a go still on its way when the receiver died then reaches nobody).
void settle_commit(hv::Hv& hv, std::shared_ptr<hv::Domain> const& d, int connection, std::uint64_t go_bytes,
                   std::string report) {
    if (d->dying() || hv.lookup(d->id()) != d) return;
    int unread = 0;
    bool const go = ::ioctl(connection, FIONREAD, &unread) == 0 && static_cast<std::uint64_t>(unread) >= go_bytes;
    if (go) {
        log::warn("d{}: its toolstack went away with the migration's go unread: unpaused", d->id());
        if (d->paused()) d->unpause();
    } else {
        settle(hv, d, Guard::destroy, false);
    }
    if (report.empty()) return;
    report.push_back(go ? '\0' : '\1');
    // Never blocking kxend, never raising SIGPIPE in it: a sender gone too gets nothing.
    (void)::send(connection, report.data(), report.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// The sender died past its go: the receiver's report (its own, or its kxend's) says whether the
// copy runs there. Without one nobody knows, and the source stays suspended, as with xl.
void settle_sent(hv::Hv& hv, std::shared_ptr<hv::Domain> const& d, int connection, std::uint64_t report_bytes,
                 bool cooperative) {
    if (d->dying() || hv.lookup(d->id()) != d) return;
    std::string got;
    auto const until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (got.size() < report_bytes && std::chrono::steady_clock::now() < until) {
        pollfd p{connection, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        auto n = ::recv(connection, buf, std::min<std::size_t>(sizeof buf, report_bytes - got.size()), MSG_DONTWAIT);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    if (got.size() < report_bytes) {
        log::warn("d{}: its toolstack went away after the migration's go, with no report: kept suspended", d->id());
        return;
    }
    if (got.back() == 0) {
        log::warn("d{}: its toolstack went away after the migration's go; the copy runs there: destroyed", d->id());
        (void)hv.destroy_domain(d->id());
        return;
    }
    settle(hv, d, Guard::resume, cooperative);
}

} // namespace

bool Buffer::read(std::uint64_t addr, void* dst, std::size_t len) {
    auto off = offset(addr, len);
    if (!off) return false;
    if (len) std::memcpy(dst, m_.data() + *off, len);   // an empty vector's data() may be null
    return true;
}

bool Buffer::write(std::uint64_t addr, void const* src, std::size_t len) {
    auto off = offset(addr, len);
    if (!off) return false;
    if (len) std::memcpy(m_.data() + *off, src, len);
    return true;
}

Session::Session(hv::Hv& hv) : hv_{&hv}, id_{next_id++} {}

// What a dom0 process bound or mapped goes away with its connection, as with Xen's evtchn and
// gntdev devices when the process exits.
Session::~Session() {
    for (auto& [id, gd] : guards_)
        if (auto d = gd.dom.lock()) {
            if (gd.what == Guard::commit) settle_commit(*hv_, d, gd.connection.raw(), gd.go_bytes, gd.report);
            else if (gd.what == Guard::sent) settle_sent(*hv_, d, gd.connection.raw(), gd.go_bytes, gd.cooperative);
            else settle(*hv_, d, gd.what, gd.cooperative);
        }
    for (auto& [port, efd] : ports_) (void)hv::evtchn::close(*hv_, hv_->dom0_evtchns(), port);
    for (auto& m : maps_)
        if (m.dom) m.dom->gnttab().release(m.ref, !m.readonly);
}

Reply Session::handle(Request const& rq, UniqueFd& passed, int& out_fd) {
    Reply rp{};
    if (rq.op == Op::hello) {
        if (!passed || rq.a[0] == 0 || rq.a[0] > (1ull << 30)) return {err(XenErr::inval), {}};
        // kxend uses the buffer for as long as the client stays: a file shorter than the size
        // claimed, or one the client shrinks later, would fault (SIGBUS) in kxend on access.
        if (::fcntl(passed.raw(), F_ADD_SEALS, F_SEAL_SHRINK) != 0) return {err(XenErr::inval), {}};
        struct stat st{};
        if (::fstat(passed.raw(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) < rq.a[0])
            return {err(XenErr::inval), {}};
        auto m = Mapping::shared(passed.raw(), rq.a[0]);
        if (!m) return {err(XenErr::nomem), {}};
        // a1: where the client mapped it. The top of the address space is no place for it.
        if (rq.a[1] > (1ull << 56)) return {err(XenErr::inval), {}};
        buf_.emplace(std::move(*m), rq.a[1]);
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
        if (rq.a[1] > static_cast<std::uint64_t>(Guard::sent)) return {err(XenErr::inval), {}};
        auto g = static_cast<Guard>(rq.a[1]);
        if ((g == Guard::commit || g == Guard::sent) && (!passed || rq.a[3] == 0 || rq.a[3] > 4096 || rq.a[5] > 4096))
            return {err(XenErr::inval), {}};
        std::string report(g == Guard::commit ? rq.a[5] : 0, '\0');
        if (!buf_->read(rq.a[4], report.data(), report.size())) return {err(XenErr::fault), {}};
        if (g == Guard::resume) d->abandon_suspend(false);   // a new save: its suspend is wanted
        if (g == Guard::none) guards_.erase(d->id());
        else if (g == Guard::commit || g == Guard::sent)
            guards_[d->id()] = GuardEntry{d, g, rq.a[2] != 0, std::move(passed), rq.a[3], std::move(report)};
        else guards_[d->id()] = GuardEntry{d, g, rq.a[2] != 0, {}, 0, {}};
        return rp;
    }
    case Op::gnttab_map: return gnttab_map(rq, out_fd);
    case Op::gnttab_unmap: {
        if (rq.a[0] >= maps_.size() || !maps_[rq.a[0]].dom) return {err(XenErr::inval), {}};
        auto& m = maps_[rq.a[0]];
        m.dom->gnttab().release(m.ref, !m.readonly);
        m = {};
        free_maps_.push_back(rq.a[0]);
        // gntdev's unmap notification: the port may be another connection's (libxengnttab and
        // libxenevtchn are separate handles), as any dom0 port is the kernel's on Xen.
        if (rq.a[1] != 0 && rq.a[1] <= std::numeric_limits<evtchn_port_t>::max())
            (void)hv::evtchn::send(*hv_, hv_->dom0_evtchns(), static_cast<evtchn_port_t>(rq.a[1] - 1));
        return rp;
    }
    case Op::ram_pool: out_fd = hv_->pool().fd(); return rp;
    case Op::evtchn_bind_virq: {
        // Only global VIRQs mean anything to dom0 here; Xen refuses a per-vCPU one on a
        // vCPU other than 0 the same way.
        if (rq.a[0] != VIRQ_DOM_EXC) return {err(XenErr::inval), {}};
        auto port = hv_->dom0_evtchns().bind_virq(static_cast<std::uint32_t>(rq.a[0]), 0, 1);
        if (!port) return {err(port.error()), {}};
        return evtchn_port(*port, false, out_fd);
    }
    default: return {err(XenErr::nosys), {}};
    }
}

Reply Session::evtchn_bind(Request const& rq, int& out_fd) {
    auto& t = hv_->dom0_evtchns();
    auto remote = static_cast<std::uint16_t>(rq.a[0]);
    XenResult<evtchn_port_t> port = xen_fail(XenErr::inval);
    if (rq.a[1] == ~0ull) {
        port = t.alloc_unbound(remote);
    } else if (remote == 0) {
        // A port another dom0 process offered (Linux's xenbus offers xenstored one for dom0's
        // own store connection, /proc/xen/xsd_port).
        port = hv::evtchn::bind_interdomain(t, t, static_cast<evtchn_port_t>(rq.a[1]));
    } else {
        auto d = hv_->lookup(remote);
        if (!d) return {err(XenErr::srch), {}};
        port = hv::evtchn::bind_interdomain(t, d->evtchns(), static_cast<evtchn_port_t>(rq.a[1]));
    }
    if (!port) return {err(port.error()), {}};
    return evtchn_port(*port, rq.a[1] != ~0ull, out_fd);   // Xen: pending after bind_interdomain
}

Reply Session::evtchn_port(evtchn_port_t port, bool pending, int& out_fd) {
    auto& t = hv_->dom0_evtchns();
    UniqueFd efd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    if (!efd) {
        auto e = errno == EMFILE ? XenErr::mfile : XenErr::nfile;
        (void)hv::evtchn::close(*hv_, t, port);
        return {err(e), {}};
    }
    t.set_notify(port, efd.raw(), id_);
    out_fd = efd.raw();
    ports_.emplace(port, std::move(efd));
    if (pending) hv::evtchn::set_pending(t, port);
    return {static_cast<std::int64_t>(port), {}};
}

Reply Session::gnttab_map(Request const& rq, int& out_fd) {
    auto d = hv_->lookup(static_cast<hv::DomId>(rq.a[0]));
    if (!d) return {err(XenErr::srch), {}};
    if (free_maps_.empty() && maps_.size() >= max_maps) return {err(XenErr::nospc), {}};
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
    std::uint64_t handle = maps_.size();
    if (!free_maps_.empty()) {
        handle = free_maps_.back();
        free_maps_.pop_back();
        maps_[handle] = MapEntry{d, ref, readonly};
    } else {
        maps_.push_back(MapEntry{d, ref, readonly});
    }
    out_fd = hv_->pool().fd();
    return {static_cast<std::int64_t>(handle), {*off, 0}};
}

} // namespace kxen::privcmd
