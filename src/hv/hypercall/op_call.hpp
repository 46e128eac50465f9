// Copy-in, call, copy-out written once for every sub-op that takes a struct argument.
#pragma once
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {

enum class Dir { in, inout };   // does the op have OUT fields to copy back?

template <typename Arg, auto Fn, Dir D>
long op_call(Caller& c, std::uint64_t arg) {
    auto op = c.mem.copy_from<Arg>(arg);
    if (!op) return xen_ret(XenErr::fault);
    auto r = Fn(c, *op);
    if (!r) return xen_ret(r.error());
    if constexpr (D == Dir::inout)
        if (!c.mem.copy_to(arg, *op)) return xen_ret(XenErr::fault);
    if constexpr (std::is_same_v<decltype(r), XenResult<long>>) return *r;
    else return 0;
}

} // namespace kxen::hv
