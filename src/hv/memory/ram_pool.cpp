#include "hv/memory/ram_pool.hpp"
#include <fcntl.h>
#include <sys/mman.h>
#include <linux/falloc.h>

namespace kxen::hv {

RamPool::RamPool(UniqueFd fd, Mapping map) : fd_{std::move(fd)}, map_{std::move(map)} {
    free_.emplace(0, map_.size() / page_size);
}

RamPool::RamPool(RamPool&& o) noexcept
    : fd_{std::move(o.fd_)}, map_{std::move(o.map_)}, free_{std::move(o.free_)},
      allocated_{o.allocated_} {}

SysResult<RamPool> RamPool::create(std::uint64_t max_bytes) {
    max_bytes &= ~(page_size - 1);
    UniqueFd fd{::memfd_create("kxen-guest-ram", MFD_CLOEXEC)};
    if (!fd) return sys_fail("memfd_create");
    if (::ftruncate(fd.raw(), static_cast<off_t>(max_bytes)) < 0) return sys_fail("ftruncate pool");
    // NORESERVE: the pool is sparse; only pages a guest touches cost host memory.
    void* p = ::mmap(nullptr, max_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                     fd.raw(), 0);
    if (p == MAP_FAILED) return sys_fail("mmap pool");
    return RamPool{std::move(fd), Mapping{p, max_bytes}};
}

SysResult<Extent> RamPool::alloc(std::uint64_t pages) {
    if (pages == 0) return sys_fail(EINVAL, "pool alloc of 0 pages");
    std::lock_guard g{mu_};
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second < pages) continue;
        Extent e{it->first, pages};
        auto rest = it->second - pages;
        free_.erase(it);
        if (rest) free_.emplace(e.offset + pages * page_size, rest);
        allocated_ += pages;
        return e;
    }
    return sys_fail(ENOMEM, "guest RAM pool exhausted");
}

void RamPool::free(Extent e) {
    if (!e.pages) return;
    // Give the memory back to the host and make sure the next owner sees zeros.
    ::fallocate(fd_.raw(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                static_cast<off_t>(e.offset), static_cast<off_t>(e.pages * page_size));
    std::lock_guard g{mu_};
    allocated_ -= e.pages;
    auto [it, ok] = free_.emplace(e.offset, e.pages);
    (void)ok;
    if (auto next = std::next(it); next != free_.end() && it->first + it->second * page_size == next->first) {
        it->second += next->second;
        free_.erase(next);
    }
    if (it != free_.begin()) {
        auto prev = std::prev(it);
        if (prev->first + prev->second * page_size == it->first) {
            prev->second += it->second;
            free_.erase(it);
        }
    }
}

std::uint64_t RamPool::allocated_pages() const {
    std::lock_guard g{mu_};
    return allocated_;
}

} // namespace kxen::hv
