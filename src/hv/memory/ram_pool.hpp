// kxen::hv::RamPool: all guest RAM of a host, carved from one sparse memfd.
//
// One memfd for every domain costs one file descriptor in all (a process may hold at most
// 20,000 here, and a domain already needs two for its KVM VM and vCPU), and a page's offset in
// the pool is a natural machine frame number. Freed extents are hole-punched, so the host
// gets the memory back at once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include "common/mapping.hpp"
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace kxen::hv {

inline constexpr std::uint64_t page_size = 4096;
inline constexpr unsigned page_shift = 12;

struct Extent {
    std::uint64_t offset = 0;   // bytes into the pool
    std::uint64_t pages = 0;
};

class RamPool {
public:
    static SysResult<RamPool> create(std::uint64_t max_bytes);
    RamPool(RamPool&&) noexcept;

    // Zero-filled pages; the pool never hands out a page with another domain's data in it.
    SysResult<Extent> alloc(std::uint64_t pages);
    void free(Extent e);

    [[nodiscard]] std::byte* host(std::uint64_t offset) const { return map_.data() + offset; }
    [[nodiscard]] int fd() const { return fd_.raw(); }
    [[nodiscard]] std::uint64_t size() const { return map_.size(); }
    [[nodiscard]] std::uint64_t allocated_pages() const;

private:
    RamPool(UniqueFd fd, Mapping map);
    UniqueFd fd_;
    Mapping map_;
    mutable std::mutex mu_;
    std::map<std::uint64_t, std::uint64_t> free_;   // offset -> pages, coalesced
    std::uint64_t allocated_ = 0;
};

} // namespace kxen::hv
