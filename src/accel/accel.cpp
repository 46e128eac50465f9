#include "accel/accel.hpp"

namespace kxen::accel {

SysResult<std::unique_ptr<Accel>> open(Kind kind, std::string& why) {
    switch (kind) {
    case Kind::kvm:
        why = "--accel kvm";
        return open_kvm();
    case Kind::soft:
        why = "--accel soft";
        return open_soft();
    case Kind::automatic:
        break;
    }
    auto k = open_kvm();
    if (k) {
        why = "/dev/kvm opens and creates VMs";
        return k;
    }
    why = "no usable KVM (" + k.error().message() + ")";
    return open_soft();
}

} // namespace kxen::accel
