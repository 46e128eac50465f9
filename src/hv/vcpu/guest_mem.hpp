// kxen::hv::GuestVirt: guest memory as a vCPU sees it, through its page tables, with the
// checks a hardware access would make (present, writable, user). Hypercall arguments and the
// fallback emulator's memory operands go through here and nowhere else.
#pragma once
#include <cstdint>
#include <optional>
#include "hv/hypercall/guest_access.hpp"
#include <linux/kvm.h>

namespace kxen::hv {

class Domain;
class Vcpu;

class GuestVirt final : public GuestAccess {
public:
    explicit GuestVirt(Vcpu& v) : v_{&v} {}
    // Guest-physical address of gva, or nothing (not mapped, or not allowed).
    std::optional<std::uint64_t> translate(std::uint64_t gva, bool write);
    bool read(std::uint64_t gva, void* dst, std::size_t len) override;
    bool write(std::uint64_t gva, void const* src, std::size_t len) override;
    // 64-bit code (EFER.LMA and CS.L)? Decides the hypercall register ABI.
    bool long_mode_code();
    unsigned cpl() { return load_sregs() ? cpl_ : 0; }

private:
    bool load_sregs();
    Vcpu* v_;
    std::optional<kvm_sregs> sregs_;   // fetched once per exit, on the first access
    unsigned cpl_ = 0;
};

} // namespace kxen::hv
