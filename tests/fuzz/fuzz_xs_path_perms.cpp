// The pieces of a xenstore request a client controls, parsed on their own: node names
// (canonicalize, parent/basename/child), permission lists (XS_SET_PERMS's strings) and the
// NUL-separated argument splitting. Beyond "no crash", what parses must mean one thing:
//   a canonical name canonicalizes to itself and rebuilds from its parent and basename;
//   permissions survive a round trip through their reply form.
// The first byte picks the caller's domain and options; the rest is split at the first
// 0xff byte into a name and a permission list.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include "fuzz_input.hpp"
#include "xenstore/path.hpp"
#include "xenstore/perms.hpp"
#include "xenstore/wire.hpp"

using namespace kxen::xenstore;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    std::uint8_t const flags = in.u8();
    bool const allow_special = (flags & 1) != 0;
    DomId const caller = flags >> 1;
    std::size_t const path_max = (flags & 0x80) ? 64 : XENSTORE_REL_PATH_MAX;
    std::string_view rest = in.rest();
    auto cut = rest.find('\xff');
    std::string_view raw = rest.substr(0, cut);
    std::string_view perm_strings = cut == std::string_view::npos ? std::string_view{} : rest.substr(cut + 1);

    std::string const prefix = domain_path(caller);
    if (auto name = canonicalize(raw, prefix, allow_special, path_max)) {
        auto again = canonicalize(*name, prefix, allow_special, path_max);
        if (!again || *again != *name) std::abort();
        if (!is_special(*name) && *name != "/") {
            auto parent = parent_of(*name);
            if (child_path(parent, basename_of(*name)) != *name) std::abort();
            if (!is_child(*name, parent) || !is_child(*name, "/")) std::abort();
        }
    }

    std::array<std::string_view, 8> args;
    std::size_t const n = get_strings(perm_strings, args);
    if (n != count_strings(perm_strings)) std::abort();
    (void)one_arg(perm_strings);
    if (auto perms = parse_perms(perm_strings, n)) {
        std::string out;
        append_perms(out, *perms);
        auto back = parse_perms(out, perms->size());
        if (!back || *back != *perms) std::abort();
        for (bool privileged : {false, true}) {
            Identity who{caller, privileged, {}};
            if (flags & 2) who.target = caller + 1;
            (void)perm_for(who, *perms);
        }
    }
    return 0;
}
