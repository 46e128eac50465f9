#include "hv/p2m/p2m.hpp"
#include <algorithm>
#include <mutex>

namespace kxen::hv {

P2m::~P2m() {
    // The memslots go with the VM; the pages go back to the pool (hole-punched, so zeroed).
    for (auto& r : runs_) pool_->free(r.ext);
}

SysResult<void> P2m::populate(Gfn gfn, std::uint64_t count) {
    if (count == 0) return {};
    if (gfn.raw + count < gfn.raw || gfn.raw + count > (1ull << 40))
        return sys_fail(EINVAL, "populate: gfn range out of bounds");
    std::unique_lock g{mu_};
    for (auto const& r : runs_)
        if (gfn.raw < r.gfn + r.count && r.gfn < gfn.raw + count)
            return sys_fail(EEXIST, "populate: gfn range already present");
    auto ext = pool_->alloc(count);
    if (!ext) return std::unexpected(ext.error());
    std::uint32_t slot = next_slot_++;
    if (auto r = vm_->set_memslot(slot, gfn.raw << page_shift, count * page_size,
                                  pool_->host(ext->offset));
        !r) {
        pool_->free(*ext);
        return std::unexpected(r.error());
    }
    Run run{gfn.raw, count, *ext, slot, nullptr};
    if (log_dirty()) {
        // A page that appears mid-migration is new to the receiver: all of it is dirty.
        if (auto r = start_logging(run); !r) {
            (void)vm_->set_memslot(slot, gfn.raw << page_shift, 0, nullptr);
            pool_->free(*ext);
            return std::unexpected(r.error());
        }
        for (std::uint64_t i = 0; i < count; ++i) run.dirty->soft[i / 64].fetch_or(1ull << (i % 64));
    }
    runs_.insert(std::upper_bound(runs_.begin(), runs_.end(), run,
                                  [](Run const& a, Run const& b) { return a.gfn < b.gfn; }),
                 run);
    return {};
}

P2m::Run const* P2m::find(std::uint64_t gfn) const {
    auto it = std::upper_bound(runs_.begin(), runs_.end(), gfn,
                               [](std::uint64_t g, Run const& r) { return g < r.gfn; });
    if (it == runs_.begin()) return nullptr;
    --it;
    return gfn < it->gfn + it->count ? &*it : nullptr;
}

std::byte* P2m::host(std::uint64_t gpa, std::uint64_t len) const {
    if (len == 0 || gpa + len < gpa) return nullptr;
    std::shared_lock g{mu_};
    auto const* r = find(gpa >> page_shift);
    if (!r) return nullptr;
    std::uint64_t end = (r->gfn + r->count) << page_shift;
    if (gpa + len > end) return nullptr;
    return pool_->host(r->ext.offset + (gpa - (r->gfn << page_shift)));
}

std::optional<Mfn> P2m::mfn(Gfn gfn) const {
    std::shared_lock g{mu_};
    auto const* r = find(gfn.raw);
    if (!r) return std::nullopt;
    return Mfn{(r->ext.offset >> page_shift) + (gfn.raw - r->gfn)};
}

std::optional<std::uint64_t> P2m::pool_offset(Gfn gfn, std::uint64_t count) const {
    std::shared_lock g{mu_};
    auto const* r = find(gfn.raw);
    if (!r || gfn.raw + count > r->gfn + r->count) return std::nullopt;
    return r->ext.offset + ((gfn.raw - r->gfn) << page_shift);
}

SysResult<void> P2m::start_logging(Run& r) {
    r.dirty = std::make_shared<DirtyBits>(r.count);
    return vm_->set_memslot(r.slot, r.gfn << page_shift, r.count * page_size, pool_->host(r.ext.offset),
                            KVM_MEM_LOG_DIRTY_PAGES);
}

SysResult<void> P2m::log_dirty_enable() {
    std::unique_lock g{mu_};
    if (log_dirty()) return sys_fail(EBUSY, "log-dirty is already on");
    for (auto& r : runs_)
        if (auto e = start_logging(r); !e) {
            for (auto& u : runs_) {
                if (!u.dirty) continue;
                (void)vm_->set_memslot(u.slot, u.gfn << page_shift, u.count * page_size, pool_->host(u.ext.offset));
                u.dirty.reset();
            }
            return e;
        }
    log_dirty_.store(true, std::memory_order_release);
    return {};
}

void P2m::log_dirty_disable() {
    std::unique_lock g{mu_};
    if (!log_dirty()) return;
    log_dirty_.store(false, std::memory_order_release);
    for (auto& r : runs_) {
        (void)vm_->set_memslot(r.slot, r.gfn << page_shift, r.count * page_size, pool_->host(r.ext.offset));
        r.dirty.reset();
    }
}

void P2m::mark_dirty(Gfn gfn, std::uint64_t count) {
    if (!log_dirty()) return;
    std::shared_lock g{mu_};
    for (std::uint64_t n = gfn.raw, end = gfn.raw + count; n < end;) {
        auto const* r = find(n);
        if (!r) { ++n; continue; }
        for (; n < end && n < r->gfn + r->count; ++n) {
            if (!r->dirty) continue;
            auto i = n - r->gfn;
            r->dirty->soft[i / 64].fetch_or(1ull << (i % 64), std::memory_order_release);
        }
    }
}

void P2m::hold(Gfn gfn) {
    std::unique_lock g{mu_};
    held_.insert(gfn.raw);
}

SysResult<std::uint64_t> P2m::log_dirty_read(std::span<std::uint64_t> bitmap, bool clean) {
    std::lock_guard lg{log_mu_};
    std::shared_lock g{mu_};
    if (!log_dirty()) return sys_fail(EINVAL, "log-dirty is off");
    std::fill(bitmap.begin(), bitmap.end(), 0);
    std::uint64_t const limit = bitmap.size() * 64;
    std::uint64_t dirty = 0;
    auto set = [&](std::uint64_t gfn) {
        if (gfn >= limit) return;
        auto& w = bitmap[gfn / 64];
        auto bit = 1ull << (gfn % 64);
        if (!(w & bit)) ++dirty;
        w |= bit;
    };
    std::vector<std::uint64_t> fetched;
    for (auto const& r : runs_) {
        if (!r.dirty) continue;
        auto& d = *r.dirty;
        // KVM's log is fetch-and-clear: what a peek takes must stay for the next clean.
        fetched.assign(d.kvm.size(), 0);
        if (auto e = vm_->get_dirty_log(r.slot, fetched); !e) return std::unexpected(e.error());
        for (std::size_t w = 0; w < d.kvm.size(); ++w) {
            d.kvm[w] |= fetched[w];
            std::uint64_t bits = d.kvm[w] | d.soft[w].load(std::memory_order_acquire);
            if (clean) {
                d.kvm[w] = 0;
                // Bits set after the load stay for the next round.
                d.soft[w].fetch_and(~bits, std::memory_order_acq_rel);
            }
            while (bits) {
                auto b = static_cast<std::uint64_t>(__builtin_ctzll(bits));
                bits &= bits - 1;
                if (w * 64 + b < r.count) set(r.gfn + w * 64 + b);
            }
        }
    }
    for (auto gfn : held_) set(gfn);
    return dirty;
}

std::uint64_t P2m::max_gfn() const {
    std::shared_lock g{mu_};
    return runs_.empty() ? 0 : runs_.back().gfn + runs_.back().count;
}

std::uint64_t P2m::pages() const {
    std::shared_lock g{mu_};
    std::uint64_t n = 0;
    for (auto const& r : runs_) n += r.count;
    return n;
}

} // namespace kxen::hv
