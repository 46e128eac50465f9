#include "backends/blk/vbd_backend.hpp"
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/io/blkif.h>
#include <xen/io/xenbus.h>
#include "common/parse_number.hpp"
#include "backends/epoll_watch.hpp"
#include "common/log.hpp"

namespace kxen::backends::blk {
namespace {

constexpr std::uint32_t sector_size = 512;
constexpr char const* root = "/local/domain/0/backend/vbd";

} // namespace

VbdBackend::VbdBackend(privcmd::Client c, std::string state_dir)
    : c_{std::move(c)}, dir_{std::move(state_dir)} {}

void VbdBackend::stop() {
    std::uint64_t one = 1;
    (void)!::write(stop_.raw(), &one, sizeof one);
}

int VbdBackend::run() {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    // Every 50 ms until the store answers (kxl waits for us before it starts a guest with a
    // disk), then once a second as a safety net.
    itimerspec every{{0, 50'000'000}, {0, 1'000'000}};
    ::timerfd_settime(timer_.raw(), 0, &every, nullptr);
    epoll_watch(epoll_.raw(), stop_.raw());
    epoll_watch(epoll_.raw(), timer_.raw());
    // Room for every ring slot of a few busy devices; more waits in the submission queue.
    if (auto u = Uring::create(256)) {
        uring_.emplace(std::move(*u));
        epoll_watch(epoll_.raw(), uring_->event_fd());
    } else {
        log::warn("block backend: no io_uring ({}): each request's I/O is done before the next starts",
                  std::strerror(-u.error()));
    }
    while (true) {
        epoll_event evs[32];
        int n = ::epoll_wait(epoll_.raw(), evs, 32, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return 1;
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == stop_.raw()) return 0;
            if (fd == timer_.raw()) {
                std::uint64_t ticks;
                (void)!::read(fd, &ticks, sizeof ticks);
                if (!store_) {
                    auto s = xs::Handle::open(xs::socket_path(dir_));
                    if (!s) continue;
                    store_.emplace(std::move(*s));
                    if (!store_->watch(root, "vbd")) {
                        store_.reset();
                        continue;
                    }
                    epoll_watch(epoll_.raw(), store_->fileno());
                    itimerspec slow{{1, 0}, {1, 0}};
                    ::timerfd_settime(timer_.raw(), 0, &slow, nullptr);
                    log::info("block backend serving {}", root);
                }
                scan();
            } else if (store_ && fd == store_->fileno()) {
                while (store_->next_event()) {}
                scan();
            } else if (uring_ && fd == uring_->event_fd()) {
                std::uint64_t cnt;
                (void)!::read(fd, &cnt, sizeof cnt);
                reap();
            } else if (auto it = port_fds_.find(fd); it != port_fds_.end()) {
                std::uint64_t cnt;
                (void)!::read(fd, &cnt, sizeof cnt);
                auto [key, qi] = it->second;
                if (auto d = devices_.find(key); d != devices_.end()) serve(d->second, qi);
            }
        }
    }
}

// Every change under backend/vbd, and every frontend state we watch, lands here: the set of
// devices is compared with the store, and each device's frontend is looked at again.
void VbdBackend::scan() {
    std::map<Key, bool> present;
    if (auto doms = store_->directory(root)) {
        for (auto const& dom : *doms) {
            auto domid = parse_number<std::uint16_t>(dom);
            if (!domid) continue;
            auto devs = store_->directory(fmt::format("{}/{}", root, dom));
            if (!devs) continue;
            for (auto const& dev : *devs)
                if (auto devid = parse_number<std::uint32_t>(dev)) present[{*domid, *devid}] = true;
        }
    }
    for (auto it = devices_.begin(); it != devices_.end();) {
        auto k = (it++)->first;
        if (!present.count(k)) remove(k);
    }
    for (auto const& [k, _] : present) {
        // We never write Initialising: a backend node back at it while we hold the device is a
        // new device the toolstack wrote where ours was (removed and added again between two
        // looks), maybe with another image.
        if (auto old = devices_.find(k); old != devices_.end() && old->second.state > XenbusStateInitialising &&
                                          store_->try_read(old->second.be + "/state") == "1")
            remove(k);
        auto [it, fresh] = devices_.try_emplace(k);
        Device& d = it->second;
        if (fresh) {
            d.domid = k.first;
            d.devid = k.second;
            d.be = fmt::format("{}/{}/{}", root, k.first, k.second);
        }
        if (d.state == 0) setup(d);
        if (d.state != 0) frontend_changed(d);
    }
}

void VbdBackend::setup(Device& d) {
    auto fail = [&](std::string const& why) {
        log::warn("d{} vbd {}: {}", d.domid, d.devid, why);
        (void)store_->write(d.be + "/hotplug-error", why);
        set_state(d, XenbusStateClosed);
    };
    auto params = store_->try_read(d.be + "/params");
    auto fe = store_->try_read(d.be + "/frontend");
    if (!params || !fe) return;   // the toolstack is still writing; its next write brings us back
    d.fe = *fe;
    d.readonly = store_->try_read(d.be + "/mode").value_or("w") != "w";
    d.discard = store_->try_read(d.be + "/discard-enable").value_or("1") == "1";
    d.file.reset(::open(params->c_str(), (d.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!d.file) return fail(fmt::format("cannot open '{}': {}", *params, std::strerror(errno)));
    struct stat st {};
    if (::fstat(d.file.raw(), &st) != 0) return fail(fmt::format("'{}': {}", *params, std::strerror(errno)));
    std::uint64_t bytes = static_cast<std::uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode)) {
        d.block_device = true;
        if (::ioctl(d.file.raw(), BLKGETSIZE64, &bytes) != 0) return fail(fmt::format("'{}': size unknown", *params));
    } else if (!S_ISREG(st.st_mode)) {
        return fail(fmt::format("'{}' is not a regular file or block device", *params));
    }
    d.sectors = bytes / sector_size;
    auto cdrom = store_->try_read(d.be + "/device-type").value_or("disk") == "cdrom";
    std::pair<std::string, std::string> const nodes[] = {
        {"sectors", fmt::format("{}", d.sectors)},
        {"sector-size", fmt::format("{}", sector_size)},
        {"physical-sector-size", fmt::format("{}", sector_size)},
        {"info", fmt::format("{}", (d.readonly ? VDISK_READONLY : 0) | (cdrom ? VDISK_CDROM | VDISK_REMOVABLE : 0))},
        {"feature-flush-cache", "1"},
        {"feature-barrier", "1"},
        {"multi-queue-max-queues", fmt::format("{}", max_queues)},
        {"feature-persistent", "1"},
        {"feature-max-indirect-segments", fmt::format("{}", max_indirect_segments)},
        {"feature-discard", d.discard && !d.readonly ? "1" : "0"},
        {"discard-granularity", "4096"},
        {"discard-alignment", "0"},
        {"discard-secure", "0"},
    };
    for (auto const& [k, v] : nodes) (void)store_->write(d.be + "/" + k, v);
    (void)store_->watch(d.fe + "/state", fmt::format("vbd-fe-{}-{}", d.domid, d.devid));
    set_state(d, XenbusStateInitWait);
    log::info("d{} vbd {}: '{}', {} sectors{}", d.domid, d.devid, *params, d.sectors, d.readonly ? ", read-only" : "");
}

void VbdBackend::frontend_changed(Device& d) {
    // The toolstack removes a device by setting it offline and Closing (libxl's device
    // removal). As Linux's blkback, we still serve a connected frontend until it closes; as
    // QEMU's xen-bus, a device whose frontend is not (or no longer) there closes at once.
    bool const removing = store_->try_read(d.be + "/online") == "0" ||
                          (d.state < XenbusStateClosing &&
                           parse_number<int>(store_->try_read(d.be + "/state")) == XenbusStateClosing);
    auto fstate = parse_number<int>(store_->try_read(d.fe + "/state"));
    switch (fstate.value_or(XenbusStateUnknown)) {
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (d.state == XenbusStateInitWait && !removing && !connect(d)) disconnect(d, XenbusStateClosing);
        break;
    case XenbusStateClosing:
        if (d.state != XenbusStateClosed) disconnect(d, XenbusStateClosing);
        break;
    case XenbusStateClosed:
        if (d.state == XenbusStateClosing || d.state == XenbusStateConnected) disconnect(d, XenbusStateClosed);
        break;
    case XenbusStateInitialising:
        // A frontend starting over (a re-attach, a guest that reset its device): offer again.
        if (d.state == XenbusStateClosed && d.file && !removing) set_state(d, XenbusStateInitWait);
        break;
    default: break;
    }
    bool const frontend_active = fstate == XenbusStateInitialised || fstate == XenbusStateConnected ||
                                 fstate == XenbusStateClosing;
    if (removing && !frontend_active && d.state != XenbusStateClosed) {
        disconnect(d, XenbusStateClosed);
        log::info("d{} vbd {}: closed for removal", d.domid, d.devid);
    }
}

bool VbdBackend::connect(Device& d) {
    auto abi = abi_from_protocol(store_->try_read(d.fe + "/protocol"));
    if (!abi) {
        log::warn("d{} vbd {}: frontend protocol not understood", d.domid, d.devid);
        return false;
    }
    // multi-queue-num-queues present: queue-<i>/ring-ref and queue-<i>/event-channel each.
    unsigned nq = 1;
    auto const asked = parse_number<unsigned>(store_->try_read(d.fe + "/multi-queue-num-queues"));
    if (asked) {
        if (*asked == 0 || *asked > max_queues) {
            log::warn("d{} vbd {}: frontend asks for {} queues (at most {})", d.domid, d.devid, *asked, max_queues);
            return false;
        }
        nq = *asked;
    }
    d.persistent = store_->try_read(d.fe + "/feature-persistent").value_or("0") == "1";
    ++d.generation;
    d.queues.clear();
    d.queues.resize(nq);
    for (unsigned i = 0; i < nq; ++i) {
        auto const dir = asked ? fmt::format("{}/queue-{}", d.fe, i) : d.fe;
        if (!connect_queue(d, d.queues[i], dir, *abi)) return false;   // disconnect() releases the rest
        port_fds_[d.queues[i].port->fd.raw()] = {{d.domid, d.devid}, i};
    }
    set_state(d, XenbusStateConnected);
    log::info("d{} vbd {}: connected ({} ABI{}{})", d.domid, d.devid, *abi == Abi::native ? "x86_64" : "x86_32",
              d.persistent ? ", persistent grants" : "", nq > 1 ? fmt::format(", {} queues", nq) : "");
    for (unsigned i = 0; i < nq; ++i) serve(d, i);   // requests queued before we bound the ports
    return true;
}

bool VbdBackend::connect_queue(Device& d, Queue& q, std::string const& dir, Abi abi) {
    auto ref = parse_number<std::uint32_t>(store_->try_read(dir + "/ring-ref"));
    if (!ref) ref = parse_number<std::uint32_t>(store_->try_read(dir + "/ring-ref0"));
    auto port = parse_number<std::uint32_t>(store_->try_read(dir + "/event-channel"));
    if (!ref || !port) {
        log::warn("d{} vbd {}: {} gave no usable ring-ref or event-channel", d.domid, d.devid, dir);
        return false;
    }
    auto page = c_.gnttab_map(d.domid, *ref, false);
    if (!page) {
        log::warn("d{} vbd {}: cannot map ring grant {}: status {}", d.domid, d.devid, *ref, page.error());
        return false;
    }
    auto bound = c_.evtchn_bind_interdomain(d.domid, *port);
    if (!bound) {
        (void)c_.gnttab_unmap(page->handle);
        log::warn("d{} vbd {}: cannot bind event channel {}", d.domid, d.devid, *port);
        return false;
    }
    q.ring_page.emplace(std::move(*page));
    q.ring.emplace(q.ring_page->page.data(), abi);
    q.port.emplace(std::move(*bound));
    epoll_watch(epoll_.raw(), q.port->fd.raw());
    return true;
}

void VbdBackend::disconnect(Device& d, int state) {
    // The frontend's pages stay mapped until the I/O into them is over.
    if (d.inflight) drain();
    for (auto& q : d.queues) {
        if (q.port) {
            port_fds_.erase(q.port->fd.raw());
            ::epoll_ctl(epoll_.raw(), EPOLL_CTL_DEL, q.port->fd.raw(), nullptr);
            (void)c_.evtchn_unbind(q.port->port);
            q.port.reset();
        }
        q.ring.reset();
        if (q.ring_page) {
            (void)c_.gnttab_unmap(q.ring_page->handle);
            q.ring_page.reset();
        }
    }
    d.queues.clear();
    for (auto& [ref, m] : d.pgrants) (void)c_.gnttab_unmap(m.handle);
    d.pgrants.clear();
    if (d.file && ::fdatasync(d.file.raw()) != 0 && errno != EINVAL)
        log::warn("d{} vbd {}: flush on disconnect: {}", d.domid, d.devid, std::strerror(errno));
    set_state(d, state);
}

void VbdBackend::remove(Key k) {
    auto it = devices_.find(k);
    if (it == devices_.end()) return;
    if (!it->second.fe.empty())
        (void)store_->unwatch(it->second.fe + "/state", fmt::format("vbd-fe-{}-{}", k.first, k.second));
    // The toolstack removed the device's directory: release everything, write nothing (a state
    // node written now would recreate the directory it just removed).
    it->second.be.clear();
    disconnect(it->second, XenbusStateClosed);
    devices_.erase(it);
}

void VbdBackend::set_state(Device& d, int state) {
    d.state = state;
    if (!store_ || d.be.empty()) return;
    // Only into a directory that is still there: a toolstack that removed it (a destroy, a
    // detach) must not find a lone state node recreated behind it.
    (void)xs::in_transaction(*store_, [&](xs::Transaction t) -> xs::Result<void> {
        if (!store_->read(d.be + "/frontend", t)) return {};
        return store_->write(d.be + "/state", fmt::format("{}", state), t);
    });
}

void VbdBackend::serve(Device& d, unsigned qi) {
    while (qi < d.queues.size() && d.queues[qi].ring) {
        Queue& q = d.queues[qi];
        auto n = q.ring->unconsumed();
        if (!n) {
            log::warn("d{} vbd {}: the frontend's request index ran past the ring; closing the device",
                      d.domid, d.devid);
            disconnect(d, XenbusStateClosing);
            return;
        }
        for (std::uint32_t i = 0; i < *n; ++i) {
            auto r = q.ring->take();
            std::uint64_t const seq = q.first_seq + q.taken.size();
            q.taken.push_back({r.id, r.operation, false, 0});
            start(d, qi, seq, r);
            if (qi >= d.queues.size()) return;   // a barrier's drain found the device gone
        }
        if (uring_) uring_->submit();
        publish(d, qi);
        if (qi >= d.queues.size() || !d.queues[qi].ring || !d.queues[qi].ring->final_check_for_requests()) return;
    }
}

void VbdBackend::start(Device& d, unsigned qi, std::uint64_t seq, Request const& r) {
    auto answer = [&](std::int16_t st) { complete(d, qi, seq, st); };
    switch (r.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_FLUSH_DISKCACHE:
    case BLKIF_OP_WRITE_BARRIER: {
        if (r.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return answer(BLKIF_RSP_ERROR);
        std::vector<Segment> segs(r.seg.begin(), r.seg.begin() + r.nr_segments);
        bool const write = r.operation != BLKIF_OP_READ;
        bool const flush = r.operation == BLKIF_OP_FLUSH_DISKCACHE || r.operation == BLKIF_OP_WRITE_BARRIER;
        if (!flush && segs.empty()) return answer(BLKIF_RSP_ERROR);
        if (r.operation == BLKIF_OP_WRITE_BARRIER) {
            // Xen's barrier: what came before it is on stable storage before it is written,
            // and it is there before anything after it starts (the ring is taken in order and
            // this loop waits for it).
            if (d.readonly && !segs.empty()) return answer(BLKIF_RSP_ERROR);
            drain();
            if (qi >= d.queues.size()) return;
            if (::fdatasync(d.file.raw()) != 0) return answer(BLKIF_RSP_ERROR);
        }
        if (flush && segs.empty()) {
            if (r.operation == BLKIF_OP_WRITE_BARRIER) return answer(BLKIF_RSP_OKAY);
            // After every write issued before it: what the frontend saw completed is covered.
            std::uint64_t const tag = next_tag_++;
            ops_.emplace(tag, Op{.dev = {d.domid, d.devid}, .generation = d.generation, .queue = qi, .seq = seq, .expect = 0});
            ++d.inflight;
            issue(tag, true, true);
            return;
        }
        if (auto st = start_rw(d, qi, seq, write, r.sector, segs, flush)) return answer(*st);
        if (r.operation == BLKIF_OP_WRITE_BARRIER) drain();
        return;
    }
    case BLKIF_OP_INDIRECT: {
        if (r.indirect_op != BLKIF_OP_READ && r.indirect_op != BLKIF_OP_WRITE) return answer(BLKIF_RSP_ERROR);
        if (r.indirect_segments == 0 || r.indirect_segments > max_indirect_segments) return answer(BLKIF_RSP_ERROR);
        constexpr unsigned per_page = 4096 / sizeof(blkif_request_segment);
        unsigned const pages = (r.indirect_segments + per_page - 1) / per_page;
        std::vector<privcmd::Client::GrantSegment> refs;
        for (unsigned i = 0; i < pages; ++i) refs.push_back({r.indirect_grefs[i], 0, 4096});
        std::vector<blkif_request_segment> raw(pages * per_page);
        if (c_.grant_copy_segments(d.domid, refs, raw.data(), false) != GNTST_okay) return answer(BLKIF_RSP_ERROR);
        std::vector<Segment> segs;
        for (unsigned i = 0; i < r.indirect_segments; ++i)
            segs.push_back({raw[i].gref, raw[i].first_sect, raw[i].last_sect});
        if (auto st = start_rw(d, qi, seq, r.indirect_op == BLKIF_OP_WRITE, r.sector, segs, false)) answer(*st);
        return;
    }
    case BLKIF_OP_DISCARD: {
        if (!d.discard || d.readonly) return answer(BLKIF_RSP_EOPNOTSUPP);
        if (r.sector > d.sectors || r.nr_sectors > d.sectors - r.sector) return answer(BLKIF_RSP_ERROR);
        std::uint64_t range[2] = {r.sector * sector_size, r.nr_sectors * sector_size};
        int rc = d.block_device ? ::ioctl(d.file.raw(), BLKDISCARD, range)
                                : ::fallocate(d.file.raw(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                              static_cast<off_t>(range[0]), static_cast<off_t>(range[1]));
        return answer(rc == 0 ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR);
    }
    default: return answer(BLKIF_RSP_EOPNOTSUPP);
    }
}

// Checks every segment and the whole range before touching the image: a request that names
// a sector past the end, or a segment outside its page, is answered with an error and does
// nothing. Returns the answer if there is one now; otherwise its I/O is on its way.
std::optional<std::int16_t> VbdBackend::start_rw(Device& d, unsigned qi, std::uint64_t seq, bool write,
                                                 std::uint64_t sector, std::vector<Segment> const& segs,
                                                 bool sync_after) {
    if (write && d.readonly) return BLKIF_RSP_ERROR;
    Op op{.dev = {d.domid, d.devid}, .generation = d.generation, .queue = qi, .seq = seq, .expect = 0};
    op.sync_after = sync_after;
    for (auto const& s : segs) {
        if (s.first_sect > s.last_sect || s.last_sect >= 4096 / sector_size) return BLKIF_RSP_ERROR;
        auto len = static_cast<std::uint16_t>((s.last_sect - s.first_sect + 1) * sector_size);
        op.gs.push_back({s.gref, static_cast<std::uint16_t>(s.first_sect * sector_size), len});
        op.expect += len;
    }
    if (sector > d.sectors || op.expect / sector_size > d.sectors - sector) return BLKIF_RSP_ERROR;
    // Straight between the image and the guest's pages when they are mapped; through a
    // buffer of ours and a grant copy otherwise.
    if (!d.persistent || !mapped_iov(d, op.gs, op.iov)) {
        if (!spare_bufs_.empty()) {
            op.buf = std::move(spare_bufs_.back());
            spare_bufs_.pop_back();
        }
        op.buf.resize(op.expect);
        if (write && c_.grant_copy_segments(d.domid, op.gs, op.buf.data(), false) != GNTST_okay) {
            spare_bufs_.push_back(std::move(op.buf));
            return BLKIF_RSP_ERROR;
        }
        op.iov.assign(1, iovec{op.buf.data(), op.buf.size()});
        op.copy_out = !write;
    }
    op.offset = sector * sector_size;
    std::uint64_t const tag = next_tag_++;
    ops_.emplace(tag, std::move(op));
    ++d.inflight;
    issue(tag, write, false);
    return std::nullopt;
}

// To io_uring, or without one done here and now.
void VbdBackend::issue(std::uint64_t tag, bool write, bool flush) {
    Op& op = ops_.at(tag);
    int const fd = devices_.at(op.dev).file.raw();
    if (uring_) {
        if (flush) uring_->fdatasync(fd, tag, true);
        else if (write) uring_->writev(fd, op.iov, op.offset, tag);
        else uring_->readv(fd, op.iov, op.offset, tag);
        return;
    }
    ssize_t n;
    if (flush) n = ::fdatasync(fd);
    else if (write) n = ::pwritev(fd, op.iov.data(), static_cast<int>(op.iov.size()), static_cast<off_t>(op.offset));
    else n = ::preadv(fd, op.iov.data(), static_cast<int>(op.iov.size()), static_cast<off_t>(op.offset));
    finish(tag, n < 0 ? -errno : static_cast<std::int32_t>(n));
}

void VbdBackend::finish(std::uint64_t tag, std::int32_t result) {
    auto it = ops_.find(tag);
    if (it == ops_.end()) return;
    Op op = std::move(it->second);
    ops_.erase(it);
    auto give_back = [&] {
        if (op.buf.capacity() && spare_bufs_.size() < 64) spare_bufs_.push_back(std::move(op.buf));
    };
    auto d = devices_.find(op.dev);
    if (d == devices_.end() || op.generation != d->second.generation) return give_back();
    Device& dev = d->second;
    --dev.inflight;
    std::int16_t st = result >= 0 && static_cast<std::uint64_t>(result) == op.expect ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR;
    if (st == BLKIF_RSP_OKAY && op.copy_out &&
        c_.grant_copy_segments(dev.domid, op.gs, op.buf.data(), true) != GNTST_okay)
        st = BLKIF_RSP_ERROR;
    give_back();
    if (st == BLKIF_RSP_OKAY && op.sync_after && ::fdatasync(dev.file.raw()) != 0) st = BLKIF_RSP_ERROR;
    complete(dev, op.queue, op.seq, st);
    if (uring_) touched_.push_back({op.dev, op.queue});
    else publish(dev, op.queue);
}

void VbdBackend::complete(Device& d, unsigned qi, std::uint64_t seq, std::int16_t status) {
    if (qi >= d.queues.size()) return;
    Queue& q = d.queues[qi];
    if (seq < q.first_seq || seq - q.first_seq >= q.taken.size()) return;
    auto& t = q.taken[seq - q.first_seq];
    t.done = true;
    t.status = status;
}

// The answers at the front of the queue, in request order, then one notification.
void VbdBackend::publish(Device& d, unsigned qi) {
    if (qi >= d.queues.size() || !d.queues[qi].ring) return;
    Queue& q = d.queues[qi];
    bool any = false;
    while (!q.taken.empty() && q.taken.front().done) {
        q.ring->respond(q.taken.front().id, q.taken.front().op, q.taken.front().status);
        q.taken.pop_front();
        ++q.first_seq;
        any = true;
    }
    if (any && q.ring->push_responses()) (void)c_.evtchn_notify(q.port->port);
}

void VbdBackend::reap() {
    while (uring_->reap(false, [&](std::uint64_t tag, std::int32_t res) { finish(tag, res); })) {}
    auto touched = std::exchange(touched_, {});
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (auto const& [key, qi] : touched)
        if (auto d = devices_.find(key); d != devices_.end()) publish(d->second, qi);
}

void VbdBackend::drain() {
    if (!uring_) return;
    while (!ops_.empty()) {
        uring_->submit();
        uring_->reap(true, [&](std::uint64_t tag, std::int32_t res) { finish(tag, res); });
    }
    reap();
}

bool VbdBackend::mapped_iov(Device& d, std::span<privcmd::Client::GrantSegment const> segs, std::vector<iovec>& iov) {
    iov.clear();
    for (auto const& s : segs) {
        auto it = d.pgrants.find(s.ref);
        if (it == d.pgrants.end()) {
            if (d.pgrants.size() >= max_persistent_grants) return false;
            // Writable whatever this request does: the next one may read into the same page.
            // A grant the frontend made read-only, or one that is not its, fails here, and
            // the copy path answers for it.
            auto m = c_.gnttab_map(d.domid, s.ref, false);
            if (!m) return false;
            it = d.pgrants.emplace(s.ref, std::move(*m)).first;
        }
        iov.push_back({static_cast<std::byte*>(it->second.page.data()) + s.offset, s.len});
    }
    return true;
}

} // namespace kxen::backends::blk
