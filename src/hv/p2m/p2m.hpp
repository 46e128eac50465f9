// kxen::hv::P2m: a domain's guest-physical map, gfn -> page of the RAM pool, one KVM memslot per run.
#pragma once
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <span>
#include <vector>
#include "hv/memory/ram_pool.hpp"
#include "kvm/vm_fd.hpp"

namespace kxen::hv {

template <typename Tag> struct Frame {
    std::uint64_t raw;
    constexpr auto operator<=>(Frame const&) const = default;
};
using Gfn = Frame<struct GfnTag>;   // a frame as the guest names it
using Mfn = Frame<struct MfnTag>;   // a page of the RAM pool (offset / page_size)

class P2m {
public:
    P2m(kvm::VmFd const& vm, RamPool& pool) : vm_{&vm}, pool_{&pool} {}
    P2m(P2m const&) = delete;
    P2m& operator=(P2m const&) = delete;
    ~P2m();

    // Back [gfn, gfn+count) with fresh zeroed pages. Refuses ranges that overlap present ones.
    SysResult<void> populate(Gfn gfn, std::uint64_t count);
    // Host address of guest-physical [gpa, gpa+len), or nullptr unless all of it is RAM of one run.
    [[nodiscard]] std::byte* host(std::uint64_t gpa, std::uint64_t len) const;
    [[nodiscard]] std::optional<Mfn> mfn(Gfn gfn) const;
    [[nodiscard]] std::uint64_t pages() const;
    // Pool offset of [gfn, gfn+count) if it is one run (foreign mappings by dom0).
    [[nodiscard]] std::optional<std::uint64_t> pool_offset(Gfn gfn, std::uint64_t count) const;

private:
    struct Run {
        std::uint64_t gfn, count;
        Extent ext;
        std::uint32_t slot;
    };
    Run const* find(std::uint64_t gfn) const;   // callers hold mu_
    kvm::VmFd const* vm_;
    RamPool* pool_;
    mutable std::shared_mutex mu_;
    std::vector<Run> runs_;   // sorted by gfn
    std::uint32_t next_slot_ = 0;
};

} // namespace kxen::hv
