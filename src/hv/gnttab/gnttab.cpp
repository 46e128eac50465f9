#include "hv/gnttab/gnttab.hpp"
#include <cstring>
#include <mutex>

namespace kxen::hv {

namespace {
// The {flags, domid} word of an entry header, read and updated as one 32-bit unit so that a
// guest changing either between our check and our update is noticed (Xen's _set_status_v1).
std::uint32_t combo(std::uint16_t flags, std::uint16_t domid) { return flags | (std::uint32_t{domid} << 16); }
std::uint16_t flags_of(std::uint32_t w) { return static_cast<std::uint16_t>(w & 0xffff); }
std::uint16_t domid_of(std::uint32_t w) { return static_cast<std::uint16_t>(w >> 16); }
constexpr int max_retries = 4;   // a guest flipping the entry under us gets GNTST_general_error
} // namespace

GrantTable::GrantTable(unsigned max_frames)
    : max_frames_{max_frames}, shared_(max_frames, nullptr), shared_gfn_(max_frames, ~0ull),
      status_(max_frames, nullptr), status_gfn_(max_frames, ~0ull) {}

unsigned GrantTable::nr_frames() const {
    std::shared_lock g{mu_};
    return nr_frames_;
}

std::uint32_t GrantTable::nr_entries() const {
    std::shared_lock g{mu_};
    return nr_frames_ * (version_ == 1 ? per_frame_v1 : per_frame_v2);
}

XenResult<void> GrantTable::map_frame(std::uint64_t idx, bool status, std::byte* frame, std::uint64_t gfn) {
    std::unique_lock g{mu_};
    if (status) {
        // v2 only; enough status frames for every entry of max_frames shared frames.
        if (version_ != 2) return xen_fail(XenErr::inval);
        unsigned max_status = (max_frames_ * per_frame_v2 + per_status_frame - 1) / per_status_frame;
        if (idx >= max_status) return xen_fail(XenErr::inval);
        status_[idx] = frame;
        status_gfn_[idx] = gfn;
        return {};
    }
    if (idx >= max_frames_) return xen_fail(XenErr::inval);
    // A Xen frame keeps its entries wherever it is placed: what dom0 seeded before the guest
    // placed it, or what the frame held at the gfn it had before.
    if (shared_[idx] && shared_[idx] != frame) std::memcpy(frame, shared_[idx], 4096);
    shared_[idx] = frame;
    shared_gfn_[idx] = gfn;
    if (idx >= nr_frames_) nr_frames_ = static_cast<unsigned>(idx + 1);   // gnttab_grow_table
    return {};
}

std::pair<std::byte*, std::uint64_t> GrantTable::frame(std::uint64_t idx) const {
    std::shared_lock g{mu_};
    if (idx >= max_frames_) return {nullptr, ~0ull};
    return {shared_[idx], shared_gfn_[idx]};
}

bool GrantTable::set_home(std::uint64_t idx, std::byte* page) {
    std::unique_lock g{mu_};
    if (idx >= max_frames_ || shared_[idx]) return false;
    shared_[idx] = page;
    if (idx >= nr_frames_) nr_frames_ = static_cast<unsigned>(idx + 1);
    return true;
}

XenResult<std::vector<std::uint64_t>> GrantTable::setup(unsigned nr) {
    if (nr > max_frames_) return xen_fail(XenErr::inval);
    std::unique_lock g{mu_};
    if (nr > nr_frames_) nr_frames_ = nr;
    return std::vector<std::uint64_t>(shared_gfn_.begin(), shared_gfn_.begin() + nr);
}

XenResult<std::vector<std::uint64_t>> GrantTable::status_frames(unsigned nr) const {
    std::shared_lock g{mu_};
    if (version_ != 2) return xen_fail(XenErr::inval);
    unsigned need = (nr_frames_ * per_frame_v2 + per_status_frame - 1) / per_status_frame;
    if (nr > need) return xen_fail(XenErr::inval);
    return std::vector<std::uint64_t>(status_gfn_.begin(), status_gfn_.begin() + nr);
}

XenResult<void> GrantTable::set_version(unsigned v) {
    if (v != 1 && v != 2) return xen_fail(XenErr::inval);
    std::unique_lock g{mu_};
    if (v == version_) return {};
    // Xen refuses while any grant is in use; the entries' meaning changes with the version.
    std::lock_guard a{active_mu_};
    for (auto& chunk : active_)
        for (auto& e : *chunk) {
            std::lock_guard l{e.lock};
            if (e.readers || e.writers) return xen_fail(XenErr::busy);
        }
    version_ = v;
    return {};
}

GrantTable::Active* GrantTable::active(std::uint32_t ref) {
    std::lock_guard g{active_mu_};
    auto chunk = ref / per_frame_v1;
    if (chunk >= max_frames_) return nullptr;
    if (active_.size() <= chunk) active_.resize(chunk + 1);
    if (!active_[chunk]) active_[chunk] = std::make_unique<std::array<Active, per_frame_v1>>();
    return &(*active_[chunk])[ref % per_frame_v1];
}

std::uint16_t volatile* GrantTable::flags_word(std::uint32_t ref) const {
    if (version_ == 1) {
        auto* f = shared_[ref / per_frame_v1];
        return f ? reinterpret_cast<std::uint16_t*>(f + (ref % per_frame_v1) * sizeof(grant_entry_v1_t)) : nullptr;
    }
    auto* s = status_[ref / per_status_frame];
    return s ? reinterpret_cast<std::uint16_t*>(s + (ref % per_status_frame) * sizeof(grant_status_t)) : nullptr;
}

std::expected<GrantAccess, std::int16_t> GrantTable::acquire(std::uint32_t ref, std::uint16_t who, bool write) {
    std::shared_lock g{mu_};
    unsigned const ver = version_;
    unsigned const per = ver == 1 ? per_frame_v1 : per_frame_v2;
    if (ref >= nr_frames_ * per) return std::unexpected(std::int16_t{GNTST_bad_gntref});
    std::byte* frame = shared_[ref / per];
    if (!frame) return std::unexpected(std::int16_t{GNTST_bad_gntref});
    Active* act = active(ref);
    if (!act) return std::unexpected(std::int16_t{GNTST_bad_gntref});
    std::lock_guard al{act->lock};

    // SAFETY: frame is a guest RAM page; the entry is read and updated only with atomics,
    // since the guest may change it at any moment.
    std::byte* e = frame + (ref % per) * (ver == 1 ? sizeof(grant_entry_v1_t) : sizeof(grant_entry_v2_t));
    auto* hdr = reinterpret_cast<std::uint32_t*>(e);
    GrantAccess out{};
    for (int attempt = 0;; ++attempt) {
        if (attempt == max_retries) return std::unexpected(std::int16_t{GNTST_general_error});
        std::uint32_t w = __atomic_load_n(hdr, __ATOMIC_SEQ_CST);
        auto flags = flags_of(w);
        if ((flags & GTF_type_mask) != GTF_permit_access || domid_of(w) != who)
            return std::unexpected(std::int16_t{GNTST_permission_denied});
        if (write && (flags & GTF_readonly)) return std::unexpected(std::int16_t{GNTST_permission_denied});
        out.readonly = flags & GTF_readonly;
        if (ver == 1) {
            out.gfn = __atomic_load_n(reinterpret_cast<std::uint32_t*>(e + 4), __ATOMIC_SEQ_CST);
            std::uint16_t add = GTF_reading | (write ? GTF_writing : 0);
            if (__atomic_compare_exchange_n(hdr, &w, combo(static_cast<std::uint16_t>(flags | add), who), false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                break;
            continue;
        }
        // v2: the status lives in its own frame; set it, then make sure the header held still.
        auto* st = flags_word(ref);
        if (!st) return std::unexpected(std::int16_t{GNTST_general_error});
        out.gfn = __atomic_load_n(reinterpret_cast<std::uint64_t*>(e + 8), __ATOMIC_SEQ_CST);
        if (flags & GTF_sub_page) {
            out.offset = __atomic_load_n(reinterpret_cast<std::uint16_t*>(e + 4), __ATOMIC_SEQ_CST);
            out.length = __atomic_load_n(reinterpret_cast<std::uint16_t*>(e + 6), __ATOMIC_SEQ_CST);
            if (out.offset >= 4096 || out.length > 4096 - out.offset)
                return std::unexpected(std::int16_t{GNTST_general_error});
        }
        __atomic_fetch_or(st, static_cast<std::uint16_t>(GTF_reading | (write ? GTF_writing : 0)), __ATOMIC_SEQ_CST);
        if (__atomic_load_n(hdr, __ATOMIC_SEQ_CST) == w) break;
        if (!act->readers && !act->writers)
            __atomic_fetch_and(st, static_cast<std::uint16_t>(~(GTF_reading | GTF_writing)), __ATOMIC_SEQ_CST);
    }
    if (write) ++act->writers;
    else ++act->readers;
    return out;
}

void GrantTable::clear_status(std::uint32_t ref, std::uint16_t bits) {
    if (auto* w = flags_word(ref)) __atomic_fetch_and(w, static_cast<std::uint16_t>(~bits), __ATOMIC_SEQ_CST);
}

void GrantTable::release(std::uint32_t ref, bool write) {
    std::shared_lock g{mu_};
    Active* act = active(ref);
    if (!act) return;
    std::lock_guard al{act->lock};
    auto& n = write ? act->writers : act->readers;
    if (n == 0) return;   // never acquired: a double release changes nothing
    --n;
    std::uint16_t bits = 0;
    if (!act->writers) bits |= GTF_writing;
    if (!act->writers && !act->readers) bits |= GTF_reading;
    if (bits) clear_status(ref, bits);
}

} // namespace kxen::hv
