// kxen::toolstack::build::BuildError: why a kernel image or a domain layout was refused.
// The kind is for callers and tests; the message is for the person running kxl.
#pragma once
#include <fmt/format.h>

#include <expected>
#include <string>

namespace kxen::toolstack::build {

struct BuildError {
    enum class Kind {
        not_elf,        // not an ELF file at all
        truncated,      // a header, table or segment runs past the end of the file
        unsupported,    // wrong class, byte order, machine or table entry size
        bad_segment,    // no PT_LOAD, filesz > memsz, overlapping or wrapping segments
        bad_note,       // a malformed note, or a Xen note with an unusable value
        not_pvh,        // no XEN_ELFNOTE_PHYS32_ENTRY
        bad_params,     // the caller's memory size, vCPU count or command line
        too_big,        // something does not fit in the domain's RAM
        unmapped,       // the GuestPhysWriter could not map a range it should
    };
    Kind kind;
    std::string message;
};

template <typename... A>
std::unexpected<BuildError> build_fail(BuildError::Kind kind, fmt::format_string<A...> f, A&&... a) {
    return std::unexpected(BuildError{kind, fmt::format(f, std::forward<A>(a)...)});
}

} // namespace kxen::toolstack::build
