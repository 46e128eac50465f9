// kxen::hv::Domain: one guest: its KVM VM, memory, vCPUs and the Xen state Xen keeps per domain.
#pragma once
#include <array>
#include <filesystem>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <xen/xen.h>
#include <xen/hvm/params.h>
#include <xen/memory.h>
#include "common/unique_fd.hpp"
#include "hv/evtchn/evtchn.hpp"
#include "hv/evtchn/fifo.hpp"
#include "hv/gnttab/gnttab.hpp"
#include "hv/p2m/p2m.hpp"
#include "hv/vcpu/vcpu.hpp"
#include "accel/accel.hpp"

namespace kxen::hv {

class Hv;
using DomId = std::uint16_t;

// One entry of the BIOS INT 15h E820 format that XENMEM_memory_map returns (packed, 20 bytes).
struct [[gnu::packed]] E820Entry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
};

// What a domain printed through console_io: the last `cap` bytes, addressed by absolute position.
class ConsoleBuffer {
public:
    explicit ConsoleBuffer(std::size_t cap = 1 << 20) : cap_{cap} {}
    void append(std::string_view s);
    // Bytes from absolute position `from` (clamped to what is kept); returns the new position.
    std::uint64_t read(std::uint64_t from, std::string& out, std::size_t max) const;
    [[nodiscard]] std::uint64_t end() const { return end_; }

private:
    std::size_t cap_;
    std::string data_;         // holds positions [end_ - data_.size(), end_)
    std::uint64_t end_ = 0;
};

class Domain : public std::enable_shared_from_this<Domain> {
public:
    Domain(Hv& hv, DomId id, std::unique_ptr<accel::Vm> vm, xen_domain_handle_t const handle, std::uint32_t max_vcpus);
    ~Domain();

    [[nodiscard]] Hv& hv() const { return *hv_; }
    [[nodiscard]] DomId id() const { return id_; }
    [[nodiscard]] accel::Vm& vm() const { return *vm_; }
    [[nodiscard]] P2m& p2m() { return p2m_; }
    [[nodiscard]] evtchn::Table& evtchns() { return evtchn_; }
    [[nodiscard]] GrantTable& gnttab() { return gnttab_; }
    // Where shared grant frame idx is in the RAM pool, for dom0 to map
    // (XENMEM_acquire_resource): the guest's page if it placed the frame, else a page kxend
    // keeps for the frame until then (Xen's own frame). Nothing if the pool is full.
    std::optional<std::uint64_t> grant_frame_offset(std::uint64_t idx);
    // The FIFO ABI's state once the guest switched to it (EVTCHNOP_init_control), else null.
    [[nodiscard]] evtchn::Fifo* fifo() const { return fifo_.load(); }
    evtchn::Fifo& use_fifo();
    [[nodiscard]] std::uint32_t max_vcpus() const { return static_cast<std::uint32_t>(vcpus_.size()); }
    [[nodiscard]] Vcpu* vcpu(std::uint32_t i) const { return i < vcpus_.size() ? vcpus_[i].get() : nullptr; }
    SysResult<Vcpu*> create_vcpu(std::uint32_t i);

    // Guest physical memory, bounds-checked: null unless [gpa, gpa+len) is RAM.
    [[nodiscard]] std::byte* gpa_ptr(std::uint64_t gpa, std::uint64_t len) { return p2m_.host(gpa, len); }
    // kxend wrote [gpa, gpa+len): log it for migration (after the write, so no round misses it).
    void mark_dirty(std::uint64_t gpa, std::uint64_t len) {
        if (len) p2m_.mark_dirty(Gfn{gpa >> 12}, ((gpa + len - 1) >> 12) - (gpa >> 12) + 1);
    }
    // A page kxend keeps a pointer to and writes whenever it likes: logged in every round.
    void hold_page(std::uint64_t gfn) { p2m_.hold(Gfn{gfn}); }

    [[nodiscard]] shared_info* shinfo() const { return shared_info_.load(); }
    void map_shared_info(shared_info* p, std::uint64_t gfn);
    [[nodiscard]] std::uint64_t shared_info_gfn() const { return shared_info_gfn_; }
    // Xen's has_32bit_shinfo: shared_info and vcpu_info in the x86_32 layout (32-bit event
    // words, 1024 2-level ports). Latched, as Xen's hvm_latch_shinfo_size, from the mode of
    // the vCPU that writes the hypercall page or sets HVM_PARAM_CALLBACK_IRQ.
    [[nodiscard]] bool shinfo_compat() const { return shinfo_compat_.load(); }
    void set_shinfo_compat(bool c) { shinfo_compat_.store(c); }
    // A toolstack asked the guest to suspend itself (control/shutdown) and died before the guest
    // did: the guest's SCHEDOP_shutdown(suspend) is then answered 1, "cancelled", and it runs
    // on, since nobody is left to save or resume it. A new save's guard clears it.
    void abandon_suspend(bool on) { abandoned_suspend_.store(on); }
    [[nodiscard]] bool take_abandoned_suspend() { return abandoned_suspend_.exchange(false); }

    // Lifecycle, as Xen's domain.c: pause counts nest; shutdown records why; crash = shutdown(crash).
    void pause();
    void unpause();
    [[nodiscard]] bool paused() const { return pause_count_.load() > 0; }
    void shutdown(unsigned reason);
    // XEN_DOMCTL_resumedomain: a suspended domain runs on (a cancelled save, a failed migration).
    XenResult<void> resume();
    // Kick every vCPU out of guest mode and wait until none runs: what a paused or shut-down
    // domain needs before its state is read. false: a vCPU did not stop in time.
    bool wait_stopped(int timeout_ms = 2000);
    void crash(std::string const& why);
    [[nodiscard]] bool is_shutdown() const { return is_shutdown_.load(); }
    [[nodiscard]] unsigned shutdown_code() const { return shutdown_code_.load(); }
    void set_shutdown_code(unsigned c) { pending_shutdown_code_.store(c); }
    void set_dying() { dying_.store(true); }
    [[nodiscard]] bool dying() const { return dying_.load(); }
    // Can this domain's vCPUs run at all?
    [[nodiscard]] bool can_run() const { return !paused() && !is_shutdown() && !dying(); }

    // State changes (shutdown, crash, destroy) bump a sequence number waiters sleep on.
    std::uint64_t wait_state_change(std::uint64_t seen, int timeout_ms);
    // kxend is going: every wait_state_change returns now, and from now on at once.
    void release_waiters();
    [[nodiscard]] std::uint64_t state_seq() const { return state_seq_.load(); }
    void notify_state_change();

    // HVM params (public/hvm/params.h).
    std::uint64_t param(unsigned i) const;
    void set_param(unsigned i, std::uint64_t v);
    [[nodiscard]] std::uint32_t callback_vector() const;

    // console_io output.
    void console_write(std::string_view s);
    std::uint64_t console_read(std::uint64_t from, std::string& out, std::size_t max, int wait_ms);
    void set_name(std::string name);
    [[nodiscard]] std::string name() const;

    // The e820 the guest gets from XENMEM_memory_map (set by the toolstack).
    void set_memory_map(std::vector<E820Entry> m);
    [[nodiscard]] std::vector<E820Entry> memory_map() const;

    std::atomic<std::uint64_t> max_pages{0};
    std::vector<xen_cpuid_leaf_t> cpu_policy;
    // The credit scheduler's parameters as the toolstack set them (XEN_DOMCTL_scheduler_op).
    // kxend's round-robin scheduler reports them and does not weigh by them.
    std::atomic<std::uint16_t> sched_weight{256};
    std::atomic<std::uint16_t> sched_cap{0};   // the last XEN_DOMCTL_set_cpu_policy (empty: kxend's)
    xen_domain_handle_t handle{};
    std::uint32_t create_flags = 0;

private:
    Hv* hv_;
    DomId id_;
    std::unique_ptr<accel::Vm> vm_;
    P2m p2m_;
    evtchn::Table evtchn_;
    GrantTable gnttab_;
    std::mutex xen_pages_mu_;
    std::vector<Extent> xen_pages_;   // pool pages kxend holds for the domain (grant frames)
    std::unique_ptr<evtchn::Fifo> fifo_owner_;
    std::atomic<evtchn::Fifo*> fifo_{nullptr};
    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    std::atomic<shared_info*> shared_info_{nullptr};
    std::uint64_t shared_info_gfn_ = ~0ull;
    std::atomic<bool> shinfo_compat_{false};
    std::atomic<bool> abandoned_suspend_{false};

    std::atomic<int> pause_count_{0};
    std::atomic<bool> is_shutdown_{false};
    std::atomic<unsigned> shutdown_code_{0};
    std::atomic<unsigned> pending_shutdown_code_{~0u};
    std::atomic<bool> dying_{false};
    std::atomic<std::uint64_t> state_seq_{0};
    bool waiters_released_ = false;   // under mu_

    mutable std::mutex mu_;                 // params, console, name, memory map
    std::condition_variable cv_;            // state changes and console output
    std::array<std::uint64_t, HVM_NR_PARAMS> params_{};
    ConsoleBuffer console_;
    std::filesystem::path log_path_;
    void append_log(std::string_view s);
    std::string name_;
    std::vector<E820Entry> memmap_;
};

} // namespace kxen::hv
