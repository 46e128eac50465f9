#include "soft/phys.hpp"
#include <algorithm>
#include <thread>

namespace kxen::soft {

bool PhysMem::set_slot(std::uint32_t id, std::uint64_t gpa, std::uint64_t size, std::uint8_t* hva, bool log_dirty) {
    {
        std::lock_guard g{mu_};
        auto t = std::make_shared<SlotTable>(*table_);
        std::erase_if(*t, [&](auto const& s) { return s->id == id; });
        if (size) {
            for (auto const& s : *t)
                if (gpa < s->gpa + s->size && s->gpa < gpa + size) return false;   // overlap: KVM's EEXIST
            auto s = std::make_shared<Slot>();
            s->id = id;
            s->gpa = gpa;
            s->size = size;
            s->hva = hva;
            if (log_dirty) {
                s->dirty_words = (size / 4096 + 63) / 64;
                s->dirty.reset(new std::atomic<std::uint64_t>[s->dirty_words]);
                for (std::size_t i = 0; i < s->dirty_words; ++i) s->dirty[i].store(0, std::memory_order_relaxed);
            }
            t->push_back(std::move(s));
            std::sort(t->begin(), t->end(), [](auto const& a, auto const& b) { return a->gpa < b->gpa; });
        }
        table_ = std::move(t);
    }
    sync();
    return true;
}

bool PhysMem::get_dirty_log(std::uint32_t id, std::span<std::uint64_t> out) {
    auto t = table();
    Slot const* slot = nullptr;
    for (auto const& s : *t)
        if (s->id == id) slot = s.get();
    if (!slot || !slot->dirty) return false;
    // A vCPU marks a page when it fills a writable translation, not on every store. So after
    // the bits are taken, every vCPU must drop its writable translations: the next store to a
    // page marks it again (what KVM's write protection does).
    std::size_t n = std::min(out.size(), slot->dirty_words);
    for (std::size_t i = 0; i < n; ++i) out[i] = slot->dirty[i].exchange(0, std::memory_order_acq_rel);
    for (std::size_t i = n; i < out.size(); ++i) out[i] = 0;
    sync();
    return true;
}

void PhysMem::attach(VcpuSync* v) {
    std::lock_guard g{vcpus_mu_};
    vcpus_.push_back(v);
}

void PhysMem::detach(VcpuSync* v) {
    std::lock_guard g{vcpus_mu_};
    std::erase(vcpus_, v);
}

void PhysMem::sync() {
    std::uint64_t const want = gen_.fetch_add(1, std::memory_order_seq_cst) + 1;
    std::lock_guard g{vcpus_mu_};
    for (VcpuSync* v : vcpus_) {
        // A vCPU outside run() checks the generation when it enters; one inside acts at its
        // next block boundary, a few microseconds away.
        while (v->in_run.load(std::memory_order_seq_cst) && v->seen.load(std::memory_order_acquire) < want)
            std::this_thread::yield();
    }
}

Slot const* PhysMem::find(SlotTable const& t, std::uint64_t gpa) {
    for (auto const& s : t)
        if (gpa - s->gpa < s->size) return s.get();
    return nullptr;
}

std::uint8_t* PhysMem::host(SlotTable const& t, std::uint64_t gpa, bool write) {
    Slot const* s = find(t, gpa);
    if (!s) return nullptr;
    std::uint64_t const off = gpa - s->gpa;
    if (write && s->dirty) {
        auto& w = s->dirty[(off >> 12) / 64];
        std::uint64_t const bit = 1ull << ((off >> 12) % 64);
        if (!(w.load(std::memory_order_relaxed) & bit)) w.fetch_or(bit, std::memory_order_acq_rel);
    }
    return s->hva + off;
}

} // namespace kxen::soft
