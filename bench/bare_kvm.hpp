// The density peer: bare KVM, in a child process of its own so that its descriptors count
// against nobody else. Per VM: KVM_CREATE_VM, KVM_CREATE_VCPU and one memslot
// (KVM_SET_USER_MEMORY_REGION of `slot_bytes` from one shared, sparse memfd; never touched).
// The parent snapshots the child's /proc and /proc/meminfo at each checkpoint while the child
// waits, exactly as it does for kxend.
#pragma once
#include <cstdint>
#include "curve.hpp"

namespace kxen::bench {

struct BareOptions {
    long target = 8000;
    long every = 500;
    std::uint64_t slot_bytes = 2ull << 20;
};

// Returns the curve; teardown_s is how long the child took to exit (closing all VMs).
Curve run_bare_kvm(BareOptions const& o, double& teardown_s);

} // namespace kxen::bench
