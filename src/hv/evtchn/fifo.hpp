// kxen::hv::evtchn::Fifo: the FIFO event-channel ABI (Xen's event_fifo.c). Event words live in
// guest pages the guest hands over with EVTCHNOP_expand_array; each vCPU has a control block
// (EVTCHNOP_init_control) with one queue head per priority. kxend links raised events onto the
// tail of their queue with atomic updates of the guest's words.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include <xen/event_channel.h>
#include "common/xen_err.hpp"

namespace kxen::hv {
class Domain;
class Vcpu;
}

namespace kxen::hv::evtchn {

class Fifo {
public:
    explicit Fifo(std::uint32_t nr_vcpus);

    XenResult<void> init_control(Domain& d, std::uint32_t vcpu, std::uint64_t gfn, std::uint32_t offset);
    XenResult<void> expand_array(Domain& d, std::uint64_t gfn);

    void set_pending(Vcpu& v, evtchn_port_t port, unsigned priority);
    void clear_pending(evtchn_port_t port);
    [[nodiscard]] bool is_pending(evtchn_port_t port);
    // EVTCHNOP_unmask: Xen clears MASKED itself before re-raising (Linux relies on it).
    void clear_masked(evtchn_port_t port);

private:
    struct Queue {
        std::mutex lock;
        evtchn_port_t tail = 0;
    };
    struct PerVcpu {
        evtchn_fifo_control_block* cb = nullptr;   // in guest RAM
        std::array<Queue, EVTCHN_FIFO_MAX_QUEUES> q;
    };
    event_word_t* word(evtchn_port_t port);
    bool set_link(event_word_t* w, evtchn_port_t port);

    std::mutex mu_;
    std::vector<std::unique_ptr<PerVcpu>> vcpus_;
    static constexpr std::uint32_t words_per_page = 4096 / sizeof(event_word_t);
    static constexpr std::uint32_t max_pages = EVTCHN_FIFO_NR_CHANNELS / words_per_page;
    std::array<std::atomic<event_word_t*>, max_pages> pages_{};
    std::atomic<std::uint32_t> nr_pages_{0};
    std::vector<bool> lost_;   // raised before their word existed; replayed on expand
    // Linking takes one lock for all queues (Xen locks the old and the new queue); lastq_ is
    // the (vCPU, priority) queue each port was last linked on, whose tail must forget it.
    std::mutex link_mu_;
    std::vector<std::pair<std::uint32_t, std::uint8_t>> lastq_;
};

} // namespace kxen::hv::evtchn
