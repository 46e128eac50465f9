#include "privcmd/session.hpp"
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <xen/grant_table.h>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::privcmd {
namespace {

constexpr std::int64_t err(XenErr e) { return -static_cast<std::int64_t>(e); }

} // namespace

bool Buffer::read(std::uint64_t off, void* dst, std::size_t len) {
    if (!in_range(off, len)) return false;
    if (len) std::memcpy(dst, m_.data() + off, len);   // an empty vector's data() may be null
    return true;
}

bool Buffer::write(std::uint64_t off, void const* src, std::size_t len) {
    if (!in_range(off, len)) return false;
    if (len) std::memcpy(m_.data() + off, src, len);
    return true;
}

Session::Session(hv::Hv& hv) : hv_{&hv}, id_{next_id++} {}

// What a dom0 process bound or mapped goes away with its connection, as with Xen's evtchn and
// gntdev devices when the process exits.
Session::~Session() {
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
        if (rq.a[2] == 0 || rq.a[2] > 64) return {err(XenErr::inval), {}};
        std::string name(rq.a[2], '\0');
        if (!buf_->read(rq.a[1], name.data(), name.size())) return {err(XenErr::fault), {}};
        // The name becomes a file name (console log): keep it to a safe alphabet.
        for (char ch : name)
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
                return {err(XenErr::inval), {}};
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

Reply Session::evtchn_bind(Request const& rq, int& out_fd) {
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

Reply Session::gnttab_map(Request const& rq, int& out_fd) {
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

} // namespace kxen::privcmd
