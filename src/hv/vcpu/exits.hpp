// Exit handlers that need more than a few lines, kept out of the run loop's switch.
#pragma once

namespace kxen::hv {

class Vcpu;

// KVM's emulator gave up (KVM_INTERNAL_ERROR_EMULATION): emulate the instruction in kxend,
// or crash the domain with RIP and the bytes. false: the vCPU must leave the pCPU.
bool emulation_failure_exit(Vcpu& v);

} // namespace kxen::hv
