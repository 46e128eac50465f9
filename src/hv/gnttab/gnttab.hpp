// kxen::hv::GrantTable: one domain's grant table (public/grant_table.h), v1 and v2.
//
// The shared (and, for v2, status) frames are guest pages: XENMEM_add_to_physmap with space
// grant_table makes the page at the chosen gfn *be* frame idx, so the guest writes entries
// where kxend reads them. Access by another domain (a dom0 mapping, a grant copy) goes through
// acquire/release, which check the entry and keep GTF_reading/GTF_writing and the per-entry
// use counts right. Each active entry has its own lock, so unrelated grants never contend
// (Xen 4.6's grant-table scalability work).
#pragma once
#include <array>
#include <cstdint>
#include <expected>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>
#include <xen/grant_table.h>
#include "common/xen_err.hpp"

namespace kxen::hv {

class Domain;

// What a granted page is, once acquired.
struct GrantAccess {
    std::uint64_t gfn;          // in the granting domain
    std::uint16_t offset = 0;   // v2 sub-page grants limit access to [offset, offset+length)
    std::uint16_t length = 4096;
    bool readonly = false;
};

class GrantTable {
public:
    static constexpr unsigned default_max_frames = 32;   // Xen's default max_grant_frames
    explicit GrantTable(unsigned max_frames = default_max_frames);

    [[nodiscard]] unsigned version() const { return version_.load(); }
    [[nodiscard]] unsigned nr_frames() const;
    [[nodiscard]] unsigned max_frames() const { return max_frames_; }
    [[nodiscard]] std::uint32_t nr_entries() const;

    // XENMEM_add_to_physmap, space grant_table: page `frame` now is frame idx.
    XenResult<void> map_frame(std::uint64_t idx, bool status, std::byte* frame, std::uint64_t gfn);
    // Shared frame idx: the page kxend reaches it at (null: none yet) and its gfn (~0: not in
    // the guest's physmap).
    [[nodiscard]] std::pair<std::byte*, std::uint64_t> frame(std::uint64_t idx) const;
    // Xen's frames exist before the guest places them: dom0 seeds the reserved entries
    // (console, xenstore) through XENMEM_acquire_resource. A frame with no page yet gets
    // `page` (kxend's); false if it has one already. When the guest places the frame
    // (map_frame), its entries move with it, as a Xen frame keeps its contents.
    bool set_home(std::uint64_t idx, std::byte* page);
    // GNTTABOP_setup_table: grow to nr frames; gfns of the frames (~0 where not mapped yet).
    XenResult<std::vector<std::uint64_t>> setup(unsigned nr);
    XenResult<std::vector<std::uint64_t>> status_frames(unsigned nr) const;
    XenResult<void> set_version(unsigned v);

    // Check grant `ref` lets domain `who` read (or write) it, and mark it in use.
    // The error is a GNTST_* status.
    std::expected<GrantAccess, std::int16_t> acquire(std::uint32_t ref, std::uint16_t who, bool write);
    void release(std::uint32_t ref, bool write);

private:
    struct Active {
        std::mutex lock;
        std::uint32_t readers = 0, writers = 0;
    };
    static constexpr unsigned per_frame_v1 = 4096 / sizeof(grant_entry_v1_t);
    static constexpr unsigned per_frame_v2 = 4096 / sizeof(grant_entry_v2_t);
    static constexpr unsigned per_status_frame = 4096 / sizeof(grant_status_t);
    Active* active(std::uint32_t ref);
    std::uint16_t volatile* flags_word(std::uint32_t ref) const;   // caller holds mu_ shared
    void clear_status(std::uint32_t ref, std::uint16_t bits);

    unsigned const max_frames_;
    std::atomic<unsigned> version_{1};
    mutable std::shared_mutex mu_;                       // frames and version
    std::vector<std::byte*> shared_;                     // frame idx -> guest page (or null)
    std::vector<std::uint64_t> shared_gfn_;
    std::vector<std::byte*> status_;
    std::vector<std::uint64_t> status_gfn_;
    unsigned nr_frames_ = 1;                             // Xen starts every table with one frame
    std::vector<std::unique_ptr<std::array<Active, per_frame_v1>>> active_;   // by v1-sized chunks
    std::mutex active_mu_;
};

} // namespace kxen::hv
