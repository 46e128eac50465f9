// kxen::hv hypercall entry: one table from hypercall number to handler, shared by guest vCPUs
// (through the stub page) and dom0 processes (through privcmd).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include "common/xen_err.hpp"
#include "hv/hypercall/guest_access.hpp"

namespace kxen::hv {

class Hv;
class Domain;
class Vcpu;

struct Caller {
    Hv& hv;
    Domain* dom;        // null: a dom0 process over privcmd
    Vcpu* vcpu;         // null for dom0
    GuestAccess& mem;   // where pointer arguments point
    bool compat = false;   // a 32-bit guest: Xen's x86_32 argument layouts (hv/compat)
    [[nodiscard]] bool privileged() const { return dom == nullptr; }
    [[nodiscard]] std::uint16_t id() const;
};

using Args = std::array<std::uint64_t, 5>;
using Handler = long (*)(Caller&, Args const&);

long hypercall(Caller& c, std::uint64_t nr, Args const& a);
// A hypercall or sub-op kxend does not implement, answered with Xen's error: logged once per
// (hypercall, sub-op), so what a tool needs shows in kxend's log.
void note_unimplemented(std::uint64_t nr, std::uint64_t sub);

// The domain a hypercall names: DOMID_SELF is the caller; others need privilege.
XenResult<std::shared_ptr<Domain>> target_domain(Caller& c, std::uint64_t domid);

long do_xen_version(Caller&, Args const&);
long do_console_io(Caller&, Args const&);
long do_sched_op(Caller&, Args const&);
long do_vcpu_op(Caller&, Args const&);
long do_memory_op(Caller&, Args const&);
long do_hvm_op(Caller&, Args const&);
long do_set_timer_op(Caller&, Args const&);
long do_event_channel_op(Caller&, Args const&);
long do_grant_table_op(Caller&, Args const&);
long do_domctl(Caller&, Args const&);
long do_sysctl(Caller&, Args const&);

// Fill the hypercall page at gpa with stubs that exit to kxend (DESIGN.md sec. 3).
bool write_hypercall_page(Domain& d, std::uint64_t gpa);
inline constexpr std::uint16_t hypercall_port = 0x5a;

} // namespace kxen::hv
