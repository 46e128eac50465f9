// kxen::hv::ByteMemory: a caller's memory as a plain byte vector, addresses being offsets into
// it, as in a dom0 client's privcmd buffer. What tests and fuzz targets hand the hypercall
// handlers in place of a guest's or a client's memory.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>
#include "hv/hypercall/guest_access.hpp"

namespace kxen::hv {

class ByteMemory final : public GuestAccess {
public:
    explicit ByteMemory(std::size_t n) : bytes(n) {}
    bool read(std::uint64_t a, void* d, std::size_t n) override {
        if (a > bytes.size() || n > bytes.size() - a) return false;
        if (n) std::memcpy(d, bytes.data() + a, n);   // an empty copy may name no memory
        return true;
    }
    bool write(std::uint64_t a, void const* s, std::size_t n) override {
        if (a > bytes.size() || n > bytes.size() - a) return false;
        if (n) std::memcpy(bytes.data() + a, s, n);
        return true;
    }
    std::vector<std::uint8_t> bytes;
};

} // namespace kxen::hv
