// kxen::hv::GuestAccess: where a hypercall's pointer arguments point. For a guest vCPU it is
// its virtual memory; for a dom0 process it is the buffer it shares with kxend over privcmd.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

namespace kxen::hv {

class GuestAccess {
public:
    virtual ~GuestAccess() = default;
    // len may be 0, and dst or src then null (an empty vector's data()): nothing is copied.
    virtual bool read(std::uint64_t addr, void* dst, std::size_t len) = 0;
    virtual bool write(std::uint64_t addr, void const* src, std::size_t len) = 0;

    // Copy once into kxend, then validate the copy: the guest can change its memory any time.
    template <typename T> std::optional<T> copy_from(std::uint64_t addr) {
        T t;
        if (!read(addr, &t, sizeof t)) return std::nullopt;
        return t;
    }
    template <typename T> bool copy_to(std::uint64_t addr, T const& t) { return write(addr, &t, sizeof t); }
};

// A guest handle (XEN_GUEST_HANDLE, a struct holding a pointer in tools builds) is, to kxend,
// just an address in the caller's GuestAccess space.
template <typename H> std::uint64_t handle_addr(H const& h) {
    return reinterpret_cast<std::uint64_t>(h.p);
}

} // namespace kxen::hv
