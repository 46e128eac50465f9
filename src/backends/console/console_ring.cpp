#include "backends/console/console_ring.hpp"

namespace kxen::backends {

std::string ConsoleRing::take_output(bool& corrupt) {
    auto out = peek_output(corrupt);
    consume(out.size());
    return out;
}

void ConsoleRing::consume(std::size_t n) {
    XENCONS_RING_IDX cons = __atomic_load_n(&p_->out_cons, __ATOMIC_ACQUIRE);
    __atomic_store_n(&p_->out_cons, cons + static_cast<XENCONS_RING_IDX>(n), __ATOMIC_RELEASE);
}

std::string ConsoleRing::peek_output(bool& corrupt) {
    corrupt = false;
    // SAFETY: the page is shared with the guest; read each index once, then validate.
    XENCONS_RING_IDX cons = __atomic_load_n(&p_->out_cons, __ATOMIC_ACQUIRE);
    XENCONS_RING_IDX prod = __atomic_load_n(&p_->out_prod, __ATOMIC_ACQUIRE);
    XENCONS_RING_IDX n = prod - cons;
    if (n > sizeof p_->out) {
        corrupt = true;
        __atomic_store_n(&p_->out_cons, prod, __ATOMIC_RELEASE);
        return {};
    }
    std::string out;
    out.reserve(n);
    for (XENCONS_RING_IDX i = 0; i < n; ++i) out.push_back(p_->out[MASK_XENCONS_IDX(cons + i, p_->out)]);
    return out;
}

std::size_t ConsoleRing::put_input(std::string_view s) {
    XENCONS_RING_IDX cons = __atomic_load_n(&p_->in_cons, __ATOMIC_ACQUIRE);
    XENCONS_RING_IDX prod = __atomic_load_n(&p_->in_prod, __ATOMIC_ACQUIRE);
    if (prod - cons > sizeof p_->in) {   // the guest broke the ring: start over
        __atomic_store_n(&p_->in_prod, cons, __ATOMIC_RELEASE);
        prod = cons;
    }
    std::size_t room = sizeof p_->in - (prod - cons), n = std::min(room, s.size());
    for (std::size_t i = 0; i < n; ++i) p_->in[MASK_XENCONS_IDX(prod + i, p_->in)] = s[i];
    __atomic_store_n(&p_->in_prod, prod + static_cast<XENCONS_RING_IDX>(n), __ATOMIC_RELEASE);
    return n;
}

} // namespace kxen::backends
