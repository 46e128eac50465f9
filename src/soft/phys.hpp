// kxen::soft::PhysMem: a software VM's guest-physical memory, as KVM's memslots map it, with
// the per-slot dirty bitmaps, and the handshake that tells every vCPU to drop its translations.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace kxen::soft {

struct Slot {
    std::uint32_t id;
    std::uint64_t gpa, size;
    std::uint8_t* hva;
    // One bit per page while dirty logging is on (KVM_MEM_LOG_DIRTY_PAGES), else empty.
    std::unique_ptr<std::atomic<std::uint64_t>[]> dirty;
    std::size_t dirty_words = 0;
};

using SlotTable = std::vector<std::shared_ptr<Slot>>;   // sorted by gpa

// What a vCPU publishes so that a memory change can wait for it (see PhysMem::sync).
struct VcpuSync {
    std::atomic<bool> in_run{false};
    std::atomic<std::uint64_t> seen{0};   // the last PhysMem generation this vCPU acted on
};

class PhysMem {
public:
    // Map [gpa, gpa+size) to hva (size 0 deletes); returns once no vCPU uses the old mapping.
    bool set_slot(std::uint32_t id, std::uint64_t gpa, std::uint64_t size, std::uint8_t* hva, bool log_dirty);
    // Fetch-and-clear a slot's dirty bits; false if the slot does not log.
    bool get_dirty_log(std::uint32_t id, std::span<std::uint64_t> out);

    [[nodiscard]] std::shared_ptr<SlotTable const> table() const {
        std::lock_guard g{mu_};
        return table_;
    }
    [[nodiscard]] std::uint64_t generation() const { return gen_.load(std::memory_order_acquire); }

    void attach(VcpuSync* v);
    void detach(VcpuSync* v);

    // Finds the slot holding gpa in a table snapshot, or null.
    static Slot const* find(SlotTable const& t, std::uint64_t gpa);
    // The host address of gpa if RAM; marks its page dirty for a write.
    static std::uint8_t* host(SlotTable const& t, std::uint64_t gpa, bool write);

private:
    // Every vCPU drops its TLB at its next block boundary; wait until each running one has.
    void sync();
    mutable std::mutex mu_;
    std::shared_ptr<SlotTable const> table_ = std::make_shared<SlotTable const>();
    std::atomic<std::uint64_t> gen_{1};
    std::mutex vcpus_mu_;
    std::vector<VcpuSync*> vcpus_;
};

} // namespace kxen::soft
