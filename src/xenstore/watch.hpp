// kxen::xenstore::Watches: every connection's watches, indexed by path so that a change to
// /a/b/c looks up only "/a/b/c", "/a/b", "/a" and "/" (Xen scans every watch instead).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include "xenstore/errors.hpp"

namespace kxen::xenstore {

class Connection;

struct Watch {
    Connection* conn;
    std::string path;          // canonical ("/local/domain/5/device", "@releaseDomain")
    std::string token;
    std::uint32_t prefix_len;  // relative watches: what to cut from event paths
};

class Watches {
public:
    // EEXIST if conn already watches path with this token.
    XsResult<void> add(Connection& conn, std::string path, std::string token,
                       std::uint32_t prefix_len);
    XsResult<void> remove(Connection& conn, std::string_view path, std::string_view token);
    void remove_all(Connection& conn);
    std::size_t count(Connection const& conn) const;
    std::size_t total() const { return total_; }

    // Calls f(Watch const&) for each watch that an event on path triggers: watches on path
    // itself, and unless exact, watches on its ancestors.
    template <typename F> void for_matches(std::string_view path, bool exact, F&& f) const {
        std::string_view p = path;
        for (;;) {
            if (auto it = by_path_.find(p); it != by_path_.end())
                for (auto const& w : it->second) f(w);
            if (exact || p.empty() || p == "/" || p[0] != '/') return;
            auto slash = p.rfind('/');
            p = slash == 0 ? std::string_view{"/"} : p.substr(0, slash);
        }
    }

    // The watches of one connection, in registration order (for persistence).
    std::vector<Watch const*> of(Connection const& conn) const;

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, std::vector<Watch>, Hash, std::equal_to<>> by_path_;
    // Each connection's (path, token) pairs, in registration order.
    std::unordered_map<Connection const*, std::vector<std::pair<std::string, std::string>>>
        by_conn_;
    std::size_t total_ = 0;
};

} // namespace kxen::xenstore
