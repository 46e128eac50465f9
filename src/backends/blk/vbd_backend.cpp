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
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/io/blkif.h>
#include <xen/io/xenbus.h>
#include "backends/epoll_watch.hpp"
#include "common/log.hpp"

namespace kxen::backends::blk {
namespace {

constexpr std::uint32_t sector_size = 512;
constexpr char const* root = "/local/domain/0/backend/vbd";

template <typename T> std::optional<T> number(std::optional<std::string> const& s) {
    if (!s) return std::nullopt;
    T v{};
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size()) return std::nullopt;
    return v;
}

} // namespace

VbdBackend::VbdBackend(privcmd::Client c, std::string state_dir)
    : c_{std::move(c)}, dir_{std::move(state_dir)}, buf_(max_indirect_segments * 4096) {}

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
            } else if (auto it = port_fds_.find(fd); it != port_fds_.end()) {
                std::uint64_t cnt;
                (void)!::read(fd, &cnt, sizeof cnt);
                if (auto d = devices_.find(it->second); d != devices_.end()) serve(d->second);
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
            auto domid = number<std::uint16_t>(dom);
            if (!domid) continue;
            auto devs = store_->directory(fmt::format("{}/{}", root, dom));
            if (!devs) continue;
            for (auto const& dev : *devs)
                if (auto devid = number<std::uint32_t>(dev)) present[{*domid, *devid}] = true;
        }
    }
    for (auto it = devices_.begin(); it != devices_.end();) {
        auto k = (it++)->first;
        if (!present.count(k)) remove(k);
    }
    for (auto const& [k, _] : present) {
        auto [it, fresh] = devices_.try_emplace(k);
        Device& d = it->second;
        if (fresh) {
            d.domid = k.first;
            d.devid = k.second;
            d.be = fmt::format("{}/{}/{}", root, k.first, k.second);
            setup(d);
        }
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
        {"feature-barrier", "0"},
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
    auto fstate = number<int>(store_->try_read(d.fe + "/state"));
    if (!fstate) return;
    switch (*fstate) {
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (d.state == XenbusStateInitWait && !connect(d)) disconnect(d, XenbusStateClosing);
        break;
    case XenbusStateClosing:
        if (d.state != XenbusStateClosed) disconnect(d, XenbusStateClosing);
        break;
    case XenbusStateClosed:
        if (d.state == XenbusStateClosing || d.state == XenbusStateConnected) disconnect(d, XenbusStateClosed);
        break;
    case XenbusStateInitialising:
        // A frontend starting over (a re-attach, a guest that reset its device): offer again.
        if (d.state == XenbusStateClosed && d.file) set_state(d, XenbusStateInitWait);
        break;
    default: break;
    }
}

bool VbdBackend::connect(Device& d) {
    auto abi = abi_from_protocol(store_->try_read(d.fe + "/protocol"));
    auto ref = number<std::uint32_t>(store_->try_read(d.fe + "/ring-ref"));
    if (!ref) ref = number<std::uint32_t>(store_->try_read(d.fe + "/ring-ref0"));
    auto port = number<std::uint32_t>(store_->try_read(d.fe + "/event-channel"));
    if (!abi || !ref || !port) {
        log::warn("d{} vbd {}: frontend gave no usable ring-ref, event-channel or protocol", d.domid, d.devid);
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
    d.persistent = store_->try_read(d.fe + "/feature-persistent").value_or("0") == "1";
    d.ring_page.emplace(std::move(*page));
    d.ring.emplace(d.ring_page->page.data(), *abi);
    d.port.emplace(std::move(*bound));
    port_fds_[d.port->fd.raw()] = {d.domid, d.devid};
    epoll_watch(epoll_.raw(), d.port->fd.raw());
    set_state(d, XenbusStateConnected);
    log::info("d{} vbd {}: connected ({} ABI{})", d.domid, d.devid, *abi == Abi::native ? "x86_64" : "x86_32",
              d.persistent ? ", persistent grants" : "");
    serve(d);   // requests queued before we bound the port
    return true;
}

void VbdBackend::disconnect(Device& d, int state) {
    if (d.port) {
        port_fds_.erase(d.port->fd.raw());
        ::epoll_ctl(epoll_.raw(), EPOLL_CTL_DEL, d.port->fd.raw(), nullptr);
        (void)c_.evtchn_unbind(d.port->port);
        d.port.reset();
    }
    d.ring.reset();
    for (auto& [ref, m] : d.pgrants) (void)c_.gnttab_unmap(m.handle);
    d.pgrants.clear();
    if (d.ring_page) {
        (void)c_.gnttab_unmap(d.ring_page->handle);
        d.ring_page.reset();
    }
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
    if (store_ && !d.be.empty()) (void)store_->write(d.be + "/state", fmt::format("{}", state));
}

void VbdBackend::serve(Device& d) {
    while (d.ring) {
        auto n = d.ring->unconsumed();
        if (!n) {
            log::warn("d{} vbd {}: the frontend's request index ran past the ring; closing the device",
                      d.domid, d.devid);
            disconnect(d, XenbusStateClosing);
            return;
        }
        for (std::uint32_t i = 0; i < *n; ++i) {
            auto r = d.ring->take();
            d.ring->respond(r.id, r.operation, execute(d, r));
        }
        if (d.ring->push_responses()) (void)c_.evtchn_notify(d.port->port);
        if (!d.ring->final_check_for_requests()) return;
    }
}

std::int16_t VbdBackend::execute(Device& d, Request const& r) {
    switch (r.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_FLUSH_DISKCACHE: {
        if (r.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return BLKIF_RSP_ERROR;
        std::vector<Segment> segs(r.seg.begin(), r.seg.begin() + r.nr_segments);
        bool const write = r.operation != BLKIF_OP_READ;
        if (r.operation != BLKIF_OP_FLUSH_DISKCACHE && segs.empty()) return BLKIF_RSP_ERROR;
        if (!segs.empty())
            if (auto st = transfer(d, write, r.sector, segs); st != BLKIF_RSP_OKAY) return st;
        if (r.operation == BLKIF_OP_FLUSH_DISKCACHE && ::fdatasync(d.file.raw()) != 0) return BLKIF_RSP_ERROR;
        return BLKIF_RSP_OKAY;
    }
    case BLKIF_OP_INDIRECT: {
        if (r.indirect_op != BLKIF_OP_READ && r.indirect_op != BLKIF_OP_WRITE) return BLKIF_RSP_ERROR;
        if (r.indirect_segments == 0 || r.indirect_segments > max_indirect_segments) return BLKIF_RSP_ERROR;
        constexpr unsigned per_page = 4096 / sizeof(blkif_request_segment);
        unsigned const pages = (r.indirect_segments + per_page - 1) / per_page;
        std::vector<privcmd::Client::GrantSegment> refs;
        for (unsigned i = 0; i < pages; ++i) refs.push_back({r.indirect_grefs[i], 0, 4096});
        std::vector<blkif_request_segment> raw(pages * per_page);
        if (c_.grant_copy_segments(d.domid, refs, raw.data(), false) != GNTST_okay) return BLKIF_RSP_ERROR;
        std::vector<Segment> segs;
        for (unsigned i = 0; i < r.indirect_segments; ++i)
            segs.push_back({raw[i].gref, raw[i].first_sect, raw[i].last_sect});
        return transfer(d, r.indirect_op == BLKIF_OP_WRITE, r.sector, segs);
    }
    case BLKIF_OP_DISCARD: {
        if (!d.discard || d.readonly) return BLKIF_RSP_EOPNOTSUPP;
        if (r.sector > d.sectors || r.nr_sectors > d.sectors - r.sector) return BLKIF_RSP_ERROR;
        std::uint64_t range[2] = {r.sector * sector_size, r.nr_sectors * sector_size};
        int rc = d.block_device ? ::ioctl(d.file.raw(), BLKDISCARD, range)
                                : ::fallocate(d.file.raw(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                              static_cast<off_t>(range[0]), static_cast<off_t>(range[1]));
        return rc == 0 ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR;
    }
    default:
        // BLKIF_OP_WRITE_BARRIER is not advertised (feature-barrier = 0), nor is anything else.
        return BLKIF_RSP_EOPNOTSUPP;
    }
}

// Checks every segment and the whole range before touching the image: a request that names
// a sector past the end, or a segment outside its page, is answered with an error and does
// nothing.
std::int16_t VbdBackend::transfer(Device& d, bool write, std::uint64_t sector, std::vector<Segment> const& segs) {
    if (write && d.readonly) return BLKIF_RSP_ERROR;
    std::vector<privcmd::Client::GrantSegment> gs;
    std::uint64_t total = 0;
    for (auto const& s : segs) {
        if (s.first_sect > s.last_sect || s.last_sect >= 4096 / sector_size) return BLKIF_RSP_ERROR;
        auto len = static_cast<std::uint16_t>((s.last_sect - s.first_sect + 1) * sector_size);
        gs.push_back({s.gref, static_cast<std::uint16_t>(s.first_sect * sector_size), len});
        total += len;
    }
    if (sector > d.sectors || total / sector_size > d.sectors - sector) return BLKIF_RSP_ERROR;
    auto const off = static_cast<off_t>(sector * sector_size);
    if (d.persistent) {
        // Straight between the image and the guest's pages: no copy through buf_ and no call
        // to kxend once the grants are mapped.
        std::vector<iovec> iov;
        if (mapped_iov(d, gs, iov)) {
            ssize_t const n = write ? ::pwritev(d.file.raw(), iov.data(), static_cast<int>(iov.size()), off)
                                    : ::preadv(d.file.raw(), iov.data(), static_cast<int>(iov.size()), off);
            return n == static_cast<ssize_t>(total) ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR;
        }
    }
    if (write) {
        if (c_.grant_copy_segments(d.domid, gs, buf_.data(), false) != GNTST_okay) return BLKIF_RSP_ERROR;
        if (::pwrite(d.file.raw(), buf_.data(), total, off) != static_cast<ssize_t>(total)) return BLKIF_RSP_ERROR;
    } else {
        if (::pread(d.file.raw(), buf_.data(), total, off) != static_cast<ssize_t>(total)) return BLKIF_RSP_ERROR;
        if (c_.grant_copy_segments(d.domid, gs, buf_.data(), true) != GNTST_okay) return BLKIF_RSP_ERROR;
    }
    return BLKIF_RSP_OKAY;
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
