// Round-robin: one run queue per pCPU worker, a fixed time slice, vCPUs pinned to the worker
// they were placed on. A blocked vCPU is on no queue and costs nothing.
#include <pthread.h>
#include <signal.h>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>
#include "common/log.hpp"
#include "hv/sched/scheduler.hpp"
#include "hv/sched/timer_service.hpp"
#include "hv/vcpu/vcpu.hpp"

namespace kxen::hv {
namespace {

void kick_signal_handler(int) {}   // only there to make KVM_RUN return EINTR

struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Vcpu*> runq;
    Vcpu* current = nullptr;
    unsigned load = 0;             // vCPUs placed here
    pthread_t thread{};
    std::thread t;
};

class RoundRobin final : public Scheduler {
public:
    RoundRobin(unsigned n, std::uint64_t slice_ns) : slice_ns_{slice_ns}, workers_(n) {
        struct sigaction sa{};
        sa.sa_handler = kick_signal_handler;   // no SA_RESTART: KVM_RUN must see EINTR
        ::sigaction(SIGUSR1, &sa, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            workers_[i] = std::make_unique<Worker>();
            auto& w = *workers_[i];
            w.t = std::thread{[this, i] { worker_loop(i); }};
            w.thread = w.t.native_handle();
            ::pthread_setname_np(w.thread, ("kxend-pcpu" + std::to_string(i)).c_str());
        }
        ticker_ = std::thread{[this] { tick_loop(); }};
        ::pthread_setname_np(ticker_.native_handle(), "kxend-tick");
    }
    ~RoundRobin() override {
        stop_ = true;
        for (auto& w : workers_) {
            { std::lock_guard g{w->mu}; }
            w->cv.notify_all();
            ::pthread_kill(w->thread, SIGUSR1);
        }
        for (auto& w : workers_) w->t.join();
        ticker_.join();
    }

    void add(Vcpu& v) override {
        unsigned best = 0;
        for (unsigned i = 1; i < workers_.size(); ++i)
            if (workers_[i]->load < workers_[best]->load) best = i;
        std::lock_guard g{workers_[best]->mu};
        v.worker = best;
        ++workers_[best]->load;
        enqueue_locked(*workers_[best], v);
    }

    void remove(Vcpu& v) override {
        auto& w = *workers_[v.worker];
        std::unique_lock g{w.mu};
        std::erase(w.runq, &v);
        v.queued = false;
        --w.load;
        while (w.current == &v) {
            v.yield = true;
            kick_locked(w, v);
            w.cv.wait_for(g, std::chrono::milliseconds(5));
        }
    }

    void wake(Vcpu& v) override {
        auto& w = *workers_[v.worker];
        std::lock_guard g{w.mu};
        if (w.current == &v) return;
        enqueue_locked(w, v);
        // A woken vCPU should not wait a whole slice behind a spinner (credit's BOOST idea).
        if (v.queued && w.current) {
            w.current->yield = true;
            kick_locked(w, *w.current);
        }
    }

    void kick(Vcpu& v) override {
        auto& w = *workers_[v.worker];
        std::lock_guard g{w.mu};
        if (w.current == &v) kick_locked(w, v);
    }

    unsigned nr_pcpus() const override { return static_cast<unsigned>(workers_.size()); }
    char const* name() const override { return "rr"; }
    std::uint64_t slice_ns() const override { return slice_ns_.load(std::memory_order_relaxed); }
    void set_slice_ns(std::uint64_t ns) override { slice_ns_.store(ns, std::memory_order_relaxed); }

private:
    void enqueue_locked(Worker& w, Vcpu& v) {
        if (v.queued || v.running || !vcpu_runnable(v)) return;
        v.queued = true;
        w.runq.push_back(&v);
        w.cv.notify_one();
    }
    static void kick_locked(Worker& w, Vcpu& v) {
        v.cpu().request_exit();
        ::pthread_kill(w.thread, SIGUSR1);
    }

    void worker_loop(unsigned i) {
        auto& w = *workers_[i];
        std::unique_lock g{w.mu};
        while (!stop_) {
            if (w.runq.empty()) {
                w.cv.wait(g);
                continue;
            }
            Vcpu* v = w.runq.front();
            w.runq.pop_front();
            v->queued = false;
            if (!vcpu_runnable(*v)) continue;
            w.current = v;
            v->running = true;
            v->yield = false;
            v->run_start_ns = monotonic_ns();
            g.unlock();
            run_vcpu(*v);
            g.lock();
            v->running = false;
            w.current = nullptr;
            w.cv.notify_all();   // remove() may be waiting
            enqueue_locked(w, *v);
        }
    }

    // Preempts a vCPU whose slice is over when others wait, and kicks long guest stints so the
    // run loop can notice a vCPU that makes no progress (vmcall on these hosts).
    void tick_loop() {
        while (!stop_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            auto now = monotonic_ns();
            for (auto& wp : workers_) {
                std::lock_guard g{wp->mu};
                Vcpu* v = wp->current;
                if (!v) continue;
                auto ran = now - v->run_start_ns;
                auto const slice = slice_ns_.load(std::memory_order_relaxed);
                if (ran > slice && !wp->runq.empty()) {
                    v->yield = true;
                    kick_locked(*wp, *v);
                } else if (ran > 4 * slice) {
                    v->run_start_ns = now;
                    kick_locked(*wp, *v);
                }
            }
        }
    }

    std::atomic<std::uint64_t> slice_ns_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::atomic<bool> stop_{false};
    std::thread ticker_;
};

} // namespace

std::unique_ptr<Scheduler> make_rr_scheduler(unsigned nr_pcpus, std::uint64_t slice_ns) {
    return std::make_unique<RoundRobin>(nr_pcpus, slice_ns);
}

} // namespace kxen::hv
