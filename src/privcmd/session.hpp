// kxen::privcmd::Session: what one dom0 client's requests do, apart from the socket that
// carries them: the buffer it shares, the event channels it bound, the grants it mapped.
// Every field of every request is the client's and is checked here.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>
#include <xen/event_channel.h>
#include "common/mapping.hpp"
#include "common/unique_fd.hpp"
#include "hv/hypercall/guest_access.hpp"
#include "privcmd/protocol.hpp"

namespace kxen::hv { class Hv; class Domain; }

namespace kxen::privcmd {

// A dom0 client's shared buffer: every address it gives kxend is in here. `base` is where
// the client mapped it (0: the client sends offsets), so a pointer a C library stores in a
// hypercall structure (a guest handle in a domctl) is followed as it is.
class Buffer final : public hv::GuestAccess {
public:
    Buffer(Mapping m, std::uint64_t base) : m_{std::move(m)}, base_{base} {}
    bool read(std::uint64_t off, void* dst, std::size_t len) override;
    bool write(std::uint64_t off, void const* src, std::size_t len) override;

private:
    // The offset of [addr, addr+len) in the buffer, or nothing if it is not all inside.
    std::optional<std::uint64_t> offset(std::uint64_t addr, std::size_t len) const {
        if (addr < base_) return std::nullopt;
        auto off = addr - base_;
        if (off > m_.size() || len > m_.size() - off) return std::nullopt;
        return off;
    }
    Mapping m_;
    std::uint64_t base_;
};

class Session {
public:
    explicit Session(hv::Hv& hv);
    ~Session();
    Session(Session const&) = delete;
    Session& operator=(Session const&) = delete;

    // One request. passed: the fd that came with it (hello's buffer). out_fd: an fd to send
    // back with the reply, -1 for none; it stays owned by kxend.
    Reply handle(Request const& rq, UniqueFd& passed, int& out_fd);

private:
    Reply evtchn_bind(Request const& rq, int& out_fd);
    // A new dom0 port gets an eventfd the client waits on.
    Reply evtchn_port(evtchn_port_t port, bool pending, int& out_fd);
    Reply gnttab_map(Request const& rq, int& out_fd);

    struct MapEntry {
        std::shared_ptr<hv::Domain> dom;
        std::uint32_t ref = 0;
        bool readonly = false;
    };
    struct GuardEntry {
        std::weak_ptr<hv::Domain> dom;   // not the id alone: it may name a later domain
        Guard what = Guard::none;
        bool cooperative = false;
        UniqueFd connection;   // Guard::commit: where the go comes; Guard::sent: the report
        std::uint64_t go_bytes = 0;   // the length of that message
        std::string report;    // what the receiver would answer there, less its result byte
    };
    // Mappings held at once; a handle unmapped is given out again (a backend that maps
    // persistent grants and reconnects maps far more than it ever holds).
    static constexpr std::size_t max_maps = 1 << 16;
    static inline std::atomic<std::uint64_t> next_id{1};

    hv::Hv* hv_;
    std::uint64_t id_;
    std::optional<Buffer> buf_;
    std::map<evtchn_port_t, UniqueFd> ports_;
    std::vector<MapEntry> maps_;
    std::vector<std::uint64_t> free_maps_;   // handles in maps_ unmapped
    std::map<std::uint16_t, GuardEntry> guards_;   // by domid
};

} // namespace kxen::privcmd
