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
    Run run{gfn.raw, count, *ext, slot};
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

std::uint64_t P2m::pages() const {
    std::shared_lock g{mu_};
    std::uint64_t n = 0;
    for (auto const& r : runs_) n += r.count;
    return n;
}

} // namespace kxen::hv
