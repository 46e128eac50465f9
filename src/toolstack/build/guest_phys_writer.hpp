// kxen::toolstack::build::GuestPhysWriter: how the builder reaches a new domain's RAM.
// kxl implements it over a foreign mapping of the domain (the memfd kxend passes it);
// tests implement it over a plain buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace kxen::toolstack::build {

class GuestPhysWriter {
public:
    // write_pvh never asks for more than this at once, nor for a range that crosses a
    // multiple of it, so an implementation may map 2 MiB windows.
    static constexpr std::size_t max_map_len = std::size_t{2} << 20;

    virtual ~GuestPhysWriter() = default;
    // Writable host memory for guest-physical [gpa, gpa + len), which the builder only asks
    // for inside the domain's RAM. An empty span if it cannot be mapped; write_pvh then
    // fails with BuildError::Kind::unmapped. The span must stay valid until the next call.
    virtual std::span<std::byte> map(std::uint64_t gpa, std::size_t len) = 0;
};

} // namespace kxen::toolstack::build
