// kxen::backends::ConsoleRing: the backend's view of one guest's PV console page
// (public/io/console.h): output the guest produced, input we give it. Every index the guest
// controls is checked before use; a corrupt ring is reset, never trusted.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <xen/io/console.h>

namespace kxen::backends {

class ConsoleRing {
public:
    explicit ConsoleRing(xencons_interface* page) : p_{page} {}
    // What the guest wrote, left in the ring until consume(). `corrupt` is set if its
    // indexes made no sense (then everything is dropped).
    std::string peek_output(bool& corrupt);
    // Frees the first n bytes peek_output() returned, for the guest to reuse.
    void consume(std::size_t n);
    // peek_output() and consume() in one.
    std::string take_output(bool& corrupt);
    // Queue input for the guest; returns how many bytes fit.
    std::size_t put_input(std::string_view s);

private:
    xencons_interface* p_;
};

} // namespace kxen::backends
