// kxen::hv::P2m: a domain's guest-physical map, gfn -> page of the RAM pool, one KVM memslot per run.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <vector>
#include "hv/memory/ram_pool.hpp"
#include "accel/accel.hpp"

namespace kxen::hv {

template <typename Tag> struct Frame {
    std::uint64_t raw;
    constexpr auto operator<=>(Frame const&) const = default;
};
using Gfn = Frame<struct GfnTag>;   // a frame as the guest names it
using Mfn = Frame<struct MfnTag>;   // a page of the RAM pool (offset / page_size)

class P2m {
public:
    P2m(accel::Vm& vm, RamPool& pool) : vm_{&vm}, pool_{&pool} {}
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

    // Log-dirty, Xen's shadow_op LOGDIRTY. Guest writes come from KVM's per-memslot dirty
    // bitmap; writes kxend makes itself are logged in software: once, after the write, with
    // mark_dirty(), or for pages kxend keeps writing (shared_info, vcpu_info, grant frames,
    // FIFO control blocks) by holding them, which logs them in every round.
    SysResult<void> log_dirty_enable();
    void log_dirty_disable();
    [[nodiscard]] bool log_dirty() const { return log_dirty_.load(std::memory_order_acquire); }
    // The pages dirtied since the last clean as a bitmap by gfn (bit g of bitmap[g/64]); gfns
    // at or past bitmap.size()*64 are left out. Returns how many were dirty; `clean` starts a
    // new round.
    SysResult<std::uint64_t> log_dirty_read(std::span<std::uint64_t> bitmap, bool clean);
    void mark_dirty(Gfn gfn, std::uint64_t count = 1);
    void hold(Gfn gfn);
    // The highest populated gfn + 1.
    [[nodiscard]] std::uint64_t max_gfn() const;

private:
    struct DirtyBits {
        explicit DirtyBits(std::uint64_t pages) : soft((pages + 63) / 64), kvm((pages + 63) / 64) {}
        std::vector<std::atomic<std::uint64_t>> soft;   // kxend's own writes
        std::vector<std::uint64_t> kvm;                   // KVM's bits fetched but not yet cleaned
    };
    struct Run {
        std::uint64_t gfn, count;
        Extent ext;
        std::uint32_t slot;
        std::shared_ptr<DirtyBits> dirty;   // while log-dirty is on
    };
    Run const* find(std::uint64_t gfn) const;   // callers hold mu_
    SysResult<void> start_logging(Run& r);      // callers hold mu_ exclusively
    std::atomic<bool> log_dirty_{false};
    std::mutex log_mu_;                         // one reader of the log at a time
    std::set<std::uint64_t> held_;              // guarded by mu_
    accel::Vm* vm_;
    RamPool* pool_;
    mutable std::shared_mutex mu_;
    std::vector<Run> runs_;   // sorted by gfn
    std::uint32_t next_slot_ = 0;
};

} // namespace kxen::hv
