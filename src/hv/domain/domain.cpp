#include <cstdint>
#include "hv/domain/domain.hpp"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <chrono>
#include <cstring>
#include <thread>
#include <filesystem>
#include <xen/sched.h>
#include "common/log.hpp"
#include "hv/hv.hpp"
#include "hv/vcpu/cpuid.hpp"

namespace kxen::hv {

void ConsoleBuffer::append(std::string_view s) {
    data_.append(s);
    end_ += s.size();
    if (data_.size() > cap_) data_.erase(0, data_.size() - cap_);
}

std::uint64_t ConsoleBuffer::read(std::uint64_t from, std::string& out, std::size_t max) const {
    std::uint64_t begin = end_ - data_.size();
    if (from < begin) from = begin;
    if (from >= end_) return end_;
    auto n = std::min<std::uint64_t>(max, end_ - from);
    out.append(data_, from - begin, n);
    return from + n;
}

Domain::Domain(Hv& hv, DomId id, std::unique_ptr<accel::Vm> vm, xen_domain_handle_t const h, std::uint32_t max_vcpus)
    : hv_{&hv}, id_{id}, vm_{std::move(vm)}, p2m_{*vm_, hv.pool()}, evtchn_{this, id}, vcpus_(max_vcpus) {
    std::memcpy(handle, h, sizeof(handle));
    pause_count_ = 1;   // Xen creates domains paused; the toolstack unpauses when built
}

Domain::~Domain() {
    for (auto const& e : xen_pages_) hv_->pool().free(e);
}

std::optional<std::uint64_t> Domain::grant_frame_offset(std::uint64_t idx) {
    std::lock_guard g{xen_pages_mu_};
    auto [page, gfn] = gnttab_.frame(idx);
    if (gfn != ~0ull) return p2m_.pool_offset(Gfn{gfn}, 1);
    if (page) return static_cast<std::uint64_t>(page - hv_->pool().host(0));
    if (idx >= gnttab_.max_frames()) return std::nullopt;
    auto ext = hv_->pool().alloc(1);
    if (!ext) return std::nullopt;
    if (!gnttab_.set_home(idx, hv_->pool().host(ext->offset))) {
        // The guest placed the frame meanwhile.
        hv_->pool().free(*ext);
        auto [p2, gfn2] = gnttab_.frame(idx);
        if (gfn2 == ~0ull) return std::nullopt;
        return p2m_.pool_offset(Gfn{gfn2}, 1);
    }
    xen_pages_.push_back(*ext);
    return ext->offset;
}

SysResult<Vcpu*> Domain::create_vcpu(std::uint32_t i) {
    auto cpu = vm_->create_vcpu(i);
    if (!cpu) return std::unexpected(cpu.error());
    if (auto r = (*cpu)->set_cpuid(guest_cpuid(hv_->accel().supported_cpuid(), i)); !r)
        return std::unexpected(r.error());
    vcpus_[i] = std::make_unique<Vcpu>(*this, i, std::move(*cpu));
    return vcpus_[i].get();
}

evtchn::Fifo& Domain::use_fifo() {
    std::lock_guard g{mu_};
    if (!fifo_owner_) {
        fifo_owner_ = std::make_unique<evtchn::Fifo>(max_vcpus());
        fifo_ = fifo_owner_.get();
    }
    return *fifo_owner_;
}

void Domain::map_shared_info(shared_info* p, std::uint64_t gfn) {
    {
        std::lock_guard g{mu_};
        shared_info_gfn_ = gfn;
    }
    shared_info_.store(p);
}

void Domain::pause() { ++pause_count_; notify_state_change(); }

void Domain::unpause() {
    int c = pause_count_.load();
    while (c > 0 && !pause_count_.compare_exchange_weak(c, c - 1)) {}
    if (c - 1 == 0)
        for (auto& v : vcpus_) hv_->sched().wake(*v);
    notify_state_change();
}

void Domain::shutdown(unsigned reason) {
    bool was = is_shutdown_.exchange(true);
    if (was) return;
    shutdown_code_ = reason;
    log::info("d{}: shutdown ({})", id_,
              reason == SHUTDOWN_poweroff ? "poweroff" : reason == SHUTDOWN_reboot ? "reboot"
              : reason == SHUTDOWN_suspend ? "suspend" : reason == SHUTDOWN_crash ? "crash"
              : reason == SHUTDOWN_watchdog ? "watchdog" : "other");
    for (auto& v : vcpus_) hv_->sched().kick(*v);
    notify_state_change();
    hv_->send_global_virq(VIRQ_DOM_EXC);
}

XenResult<void> Domain::resume() {
    if (!is_shutdown() || shutdown_code_.load() != SHUTDOWN_suspend) return xen_fail(XenErr::inval);
    shutdown_code_ = 0;
    is_shutdown_.store(false);
    log::info("d{}: resumed", id_);
    for (auto& v : vcpus_) hv_->sched().wake(*v);
    notify_state_change();
    return {};
}

bool Domain::wait_stopped(int timeout_ms) {
    for (auto& v : vcpus_) hv_->sched().kick(*v);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        bool any = false;
        for (auto& v : vcpus_) any |= v->running.load();
        if (!any) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

void Domain::crash(std::string const& why) {
    log::error("d{}: domain_crash: {}", id_, why);
    console_write("\n(kxend) domain crashed: " + why + "\n");
    shutdown(SHUTDOWN_crash);
}

void Domain::notify_state_change() {
    {
        std::lock_guard g{mu_};
        ++state_seq_;
    }
    cv_.notify_all();
}

std::uint64_t Domain::wait_state_change(std::uint64_t seen, int timeout_ms) {
    std::unique_lock g{mu_};
    cv_.wait_for(g, std::chrono::milliseconds(timeout_ms),
                 [&] { return state_seq_.load() != seen || waiters_released_; });
    return state_seq_.load();
}

void Domain::release_waiters() {
    std::lock_guard g{mu_};
    waiters_released_ = true;
    cv_.notify_all();
}

std::uint64_t Domain::param(unsigned i) const {
    std::lock_guard g{mu_};
    return i < params_.size() ? params_[i] : 0;
}

void Domain::set_param(unsigned i, std::uint64_t v) {
    std::lock_guard g{mu_};
    if (i < params_.size()) params_[i] = v;
}

std::uint32_t Domain::callback_vector() const {
    std::uint64_t cb = param(HVM_PARAM_CALLBACK_IRQ);
    // public/hvm/params.h: type in bits 63:56; type 2 is "vector" in bits 7:0.
    if ((cb >> 56) != HVM_PARAM_CALLBACK_TYPE_VECTOR) return 0;
    return static_cast<std::uint32_t>(cb & 0xff);
}

void Domain::console_write(std::string_view s) {
    {
        std::lock_guard g{mu_};
        console_.append(s);
        append_log(s);
    }
    cv_.notify_all();
}

std::uint64_t Domain::console_read(std::uint64_t from, std::string& out, std::size_t max, int wait_ms) {
    std::unique_lock g{mu_};
    if (from >= console_.end() && wait_ms > 0)
        cv_.wait_for(g, std::chrono::milliseconds(wait_ms),
                     [&] { return console_.end() > from || dying_.load(); });
    return console_.read(from, out, max);
}

// The log is opened per write rather than held open: a descriptor per domain would cost a
// third of the 20,000 a process may hold (each domain already needs its VM and vCPU fds).
// Callers hold mu_.
void Domain::append_log(std::string_view s) {
    if (log_path_.empty() || s.empty()) return;
    UniqueFd fd{::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)};
    if (fd) (void)!::write(fd.raw(), s.data(), s.size());
}

void Domain::set_name(std::string name) {
    // As xenconsoled: <state-dir>/console/guest-<name>.log, appended across restarts.
    auto dir = std::filesystem::path(hv_->options().state_dir) / "console";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::lock_guard g{mu_};
    log_path_ = dir / ("guest-" + name + ".log");
    name_ = std::move(name);
    // Whatever the guest printed before it had a name goes into the file too.
    std::string early;
    console_.read(0, early, console_.end());
    append_log(early);
}

std::string Domain::name() const {
    std::lock_guard g{mu_};
    return name_;
}

void Domain::set_memory_map(std::vector<E820Entry> m) {
    std::lock_guard g{mu_};
    memmap_ = std::move(m);
}

std::vector<E820Entry> Domain::memory_map() const {
    std::lock_guard g{mu_};
    return memmap_;
}

} // namespace kxen::hv
