// kxen::xs::Handle: the toolstack's and backends' xenstore connection, through Xen's own client
// library (libxenstore from libxen-dev), so kxl and kxen-backend speak to kxenstored exactly as
// libxl and xenconsoled speak to xenstored.
#pragma once
#include <cstdint>
#include <expected>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct xs_handle;

namespace kxen::xs {

// errno of the failed call; the message is for the user.
struct Error {
    int err = 0;
    std::string message;
};
template <typename T> using Result = std::expected<T, Error>;

// One entry of a node's permission list (xenstore.h's struct xs_permissions): the first entry
// names the owner and what everyone else may do.
struct Perm {
    unsigned domid;
    enum Access : unsigned { none = 0, read = 1, write = 2, both = 3 } access;
};

using Transaction = std::uint32_t;
inline constexpr Transaction no_transaction = 0;

// The store socket of the host whose state directory is `state_dir`, unless the user points
// XENSTORED_PATH elsewhere (as Xen's clients allow).
std::string socket_path(std::string const& state_dir);

class Handle {
public:
    // Connects to the store at `socket`.
    static Result<Handle> open(std::string const& socket);
    Handle(Handle&& o) noexcept : h_{std::exchange(o.h_, nullptr)} {}
    Handle& operator=(Handle&& o) noexcept {
        std::swap(h_, o.h_);
        return *this;
    }
    ~Handle();

    Result<std::string> read(std::string const& path, Transaction t = no_transaction);
    std::optional<std::string> try_read(std::string const& path, Transaction t = no_transaction) {
        auto r = read(path, t);
        return r ? std::optional{std::move(*r)} : std::nullopt;
    }
    Result<void> write(std::string const& path, std::string_view value, Transaction t = no_transaction);
    Result<void> mkdir(std::string const& path, Transaction t = no_transaction);
    Result<void> rm(std::string const& path, Transaction t = no_transaction);
    Result<std::vector<std::string>> directory(std::string const& path, Transaction t = no_transaction);
    Result<void> set_perms(std::string const& path, std::initializer_list<Perm> perms,
                           Transaction t = no_transaction);

    Result<Transaction> transaction_start();
    // err == EAGAIN: another writer got there first; run the transaction again.
    Result<void> transaction_end(Transaction t, bool abort = false);

    Result<void> introduce(unsigned domid, std::uint64_t store_gfn, unsigned store_port);
    Result<void> release(unsigned domid);

    Result<void> watch(std::string const& path, std::string const& token);
    Result<void> unwatch(std::string const& path, std::string const& token);
    // Readable when a watch event is queued.
    [[nodiscard]] int fileno() const;
    // The next queued event (path, token), or nothing if none is queued.
    std::optional<std::pair<std::string, std::string>> next_event();

private:
    explicit Handle(xs_handle* h) : h_{h} {}
    xs_handle* h_ = nullptr;
};

// Runs `body(t)` in a transaction, again while the store says EAGAIN (at most `tries` times),
// as libxl's transaction loops do. The body's own errors abort the transaction.
template <typename F> Result<void> in_transaction(Handle& h, F&& body, int tries = 20) {
    for (int i = 0;; ++i) {
        auto t = h.transaction_start();
        if (!t) return std::unexpected(t.error());
        if (auto r = body(*t); !r) {
            (void)h.transaction_end(*t, true);
            return r;
        }
        auto end = h.transaction_end(*t);
        if (end || end.error().err != EAGAIN || i + 1 >= tries) return end;
    }
}

} // namespace kxen::xs
