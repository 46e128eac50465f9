// Opening and closing a library handle the way every drop-in library does: its own
// connection to kxend (Channel), and its place in libxentoolcore's list for restrict_all.
// H has members `tc` (first) and `ch`.
#pragma once
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include "xenlibs/channel.hpp"
#include "xenlibs/toolcore_internal.hpp"

namespace kxen::xenlibs {

// Null with errno set if kxend cannot be reached; `what` starts Xen's message for that.
template <typename H>
H* open_handle(std::size_t buffer_bytes, char const* what, xentoolcore__restrict_callback* restrict_cb) {
    auto ch = Channel::open(buffer_bytes);
    if (!ch) {
        int e = errno;
        std::fprintf(stderr, "%s: %s\n", what, std::strerror(e));
        errno = e;
        return nullptr;
    }
    auto* h = new (std::nothrow) H{};
    if (!h) {
        errno = ENOMEM;
        return nullptr;
    }
    h->ch = std::move(ch);
    h->tc.restrict_callback = restrict_cb;
    xentoolcore__register_active_handle(&h->tc);
    return h;
}

template <typename H> int close_handle(H* h) {
    if (!h) return 0;
    xentoolcore__deregister_active_handle(&h->tc);
    delete h;   // kxend ends what the connection held (ports, maps) when it closes
    return 0;
}

} // namespace kxen::xenlibs
