// kxen::hv::compat: hypercalls from a 32-bit guest, as Xen's compat layer takes them. Where an
// argument's x86_32 layout (hv/compat/layout.h) differs from the 64-bit one, the call is
// translated into the native structure in a scratch area the native handler reads through
// its GuestAccess (Xen's "xlat area"), and the results are translated back; every other
// call goes to the native handler unchanged.
#pragma once
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv::compat {

long hypercall(Caller& c, std::uint64_t nr, Args const& a);

} // namespace kxen::hv::compat
