#include "evtchn_fifo.hpp"

#include "evtchn.hpp"
#include "hypercall.hpp"
#include "x86.hpp"

namespace minios::evtchn::fifo {
namespace {

constexpr event_word_t bit(unsigned b) { return event_word_t{1} << b; }
constexpr event_word_t kMasked = bit(EVTCHN_FIFO_MASKED);
constexpr event_word_t kPending = bit(EVTCHN_FIFO_PENDING);
constexpr event_word_t kLinked = bit(EVTCHN_FIFO_LINKED);
constexpr event_word_t kBusy = bit(EVTCHN_FIFO_BUSY);

alignas(4096) constinit uint8_t control_page[4096]{};
alignas(4096) constinit event_word_t array[kArrayPages][kWordsPerPage]{};
constinit unsigned nr_pages = 0;
constinit bool on = false;
constinit unsigned unmasked_by_expand = 0;
constinit unsigned unmask_fallback_count = 0;
// Our position in each queue: the next event to take, 0 when we reached the tail
// (then the next one is read from the control block's HEAD).
constinit evtchn_port_t local_head[EVTCHN_FIFO_MAX_QUEUES]{};

volatile evtchn_fifo_control_block* control() {
    return reinterpret_cast<volatile evtchn_fifo_control_block*>(control_page);
}

uint64_t gfn_of(const void* p) { return uint64_t(p) >> 12; }

long expand() {
    if (nr_pages >= kArrayPages) return -XEN_ENOSPC;
    event_word_t* page = array[nr_pages];
    for (unsigned i = 0; i < kWordsPerPage; ++i) __atomic_store_n(&page[i], kMasked, __ATOMIC_RELAXED);
    evtchn_expand_array op{};
    op.array_gfn = gfn_of(page);
    long rc = xen::event_channel_op(EVTCHNOP_expand_array, &op);
    if (rc < 0) return rc;
    ++nr_pages;
    return 0;
}

// Clear LINKED and LINK; returns LINK, the next event in the queue (0: none).
evtchn_port_t clear_linked(volatile event_word_t* w) {
    event_word_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(w, &old, old & ~(kLinked | EVTCHN_FIFO_LINK_MASK), false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old & EVTCHN_FIFO_LINK_MASK;
}

// Take the next event off queue q; clears q in *ready when the queue is drained.
void consume_one(unsigned q, uint32_t* ready) {
    evtchn_port_t port = local_head[q];
    if (!port) port = __atomic_load_n(&control()->head[q], __ATOMIC_SEQ_CST);
    volatile event_word_t* w = word(port);
    if (!w) {  // nothing we can follow (a hypervisor bug): drop the queue
        local_head[q] = 0;
        *ready &= ~(1u << q);
        return;
    }
    evtchn_port_t next = clear_linked(w);
    if (!next) *ready &= ~(1u << q);
    event_word_t v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    if ((v & kPending) && !(v & kMasked)) {
        // Acknowledge before handling (an edge-triggered event, as Linux acks first), so a
        // new send while we handle it is seen again.
        if (__atomic_fetch_and(w, ~kPending, __ATOMIC_SEQ_CST) & kPending) evtchn::deliver(port);
    }
    local_head[q] = next;
}

}  // namespace

long init() {
    evtchn_init_control op{};
    op.control_gfn = gfn_of(control_page);
    op.offset = 0;
    op.vcpu = 0;
    long rc = xen::event_channel_op(EVTCHNOP_init_control, &op);
    if (rc < 0) return rc;
    on = true;
    if ((rc = expand()) < 0) return rc;
    unmasked_by_expand = 0;
    for (unsigned i = 0; i < kWordsPerPage; ++i)
        if (!(__atomic_load_n(&array[0][i], __ATOMIC_RELAXED) & kMasked)) ++unmasked_by_expand;
    // Whatever the hypervisor did with the page, start from a known state: all masked.
    for (unsigned i = 0; i < kWordsPerPage; ++i) __atomic_fetch_or(&array[0][i], kMasked, __ATOMIC_SEQ_CST);
    return 0;
}

long resume() {
    if (!on) return 0;
    on = false;
    nr_pages = 0;
    for (auto& h : local_head) h = 0;
    for (auto& b : control_page) __atomic_store_n(&b, uint8_t{0}, __ATOMIC_RELAXED);
    return init();
}

bool active() { return on; }
unsigned pages() { return nr_pages; }
unsigned words_unmasked_by_expand() { return unmasked_by_expand; }

long ensure(evtchn_port_t port) {
    while (port >= nr_pages * kWordsPerPage) {
        long rc = expand();
        if (rc < 0) return rc;
    }
    return 0;
}

volatile event_word_t* word(evtchn_port_t port) {
    if (port == 0 || port >= nr_pages * kWordsPerPage) return nullptr;
    return &array[port / kWordsPerPage][port % kWordsPerPage];
}

void mask(evtchn_port_t port) {
    if (auto* w = word(port)) __atomic_fetch_or(w, kMasked, __ATOMIC_SEQ_CST);
}

long unmask(evtchn_port_t port) {
    volatile event_word_t* w = word(port);
    if (!w) return -XEN_EINVAL;
    event_word_t v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    for (;;) {
        if (!(v & kMasked)) return 0;
        if (v & kPending) break;
        // Never clear MASKED while Xen holds BUSY (it is relinking the tail): the
        // cmpxchg then fails and we look again.
        event_word_t old = v & ~kBusy;
        if (__atomic_compare_exchange_n(w, &old, old & ~kMasked, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return 0;
        v = old;
    }
    evtchn_unmask op{};
    op.port = port;
    long rc = xen::event_channel_op(EVTCHNOP_unmask, &op);
    if (rc < 0 || !(__atomic_load_n(w, __ATOMIC_SEQ_CST) & kMasked)) return rc;
    // The hypervisor left MASKED set (Xen clears it): fall back to the older Linux way,
    // which works with both: clear it ourselves, then have the pending event linked.
    ++unmask_fallback_count;
    __atomic_fetch_and(w, ~kMasked, __ATOMIC_SEQ_CST);
    return xen::event_channel_op(EVTCHNOP_unmask, &op);
}

unsigned unmask_fallbacks() { return unmask_fallback_count; }

void poll() {
    if (!on) return;
    volatile evtchn_fifo_control_block* cb = control();
    uint32_t ready = __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST);
    while (ready) {
        consume_one(x86::bsf(ready), &ready);
        ready |= __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST);
    }
}

}  // namespace minios::evtchn::fifo
