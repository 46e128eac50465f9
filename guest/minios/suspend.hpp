// minios::suspend: Xen's cooperative suspend as an HVM/PVH guest takes part in it (Linux's
// xen/manage.c do_suspend with xen_hvm_post_suspend, Mini-OS's kernel_suspend/resume):
// quiesce the rings, SCHEDOP_shutdown(SHUTDOWN_suspend), and when the call returns set up
// again whatever the hypervisor held for the domain.
//
// The call returns 0 when we run in a new domain (kxl restore, a migration's target):
// memory and vCPU state came along, nothing else did. shared_info is mapped again at the
// same gfn, the upcall vector and the event-channel ABI registered again, VIRQ_TIMER bound
// (its port may differ) and the last deadline armed, the grant table set up again, and the
// console and store take their new ports from the HVM params. It returns 1 when the
// toolstack cancelled (a failed save, `kxl save -c`): the old domain runs on and only what
// quiescing stopped is restarted.
#pragma once

namespace minios::suspend {

enum class Result { new_domain, cancelled, failed };

// From ring 3, with no store request in flight. failed: the hypercall was refused (printed).
Result run();

}  // namespace minios::suspend
