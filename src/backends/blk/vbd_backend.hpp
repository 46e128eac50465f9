// kxen::backends::blk::VbdBackend: dom0's block backend (what blkback is on Xen). It serves
// every disk the toolstack puts under /local/domain/0/backend/vbd/<domid>/<devid>, through the
// xenbus state machine of io/blkif.h: it opens the image, advertises the disk and its
// features, maps the ring the frontend grants, and answers requests by copying data between
// the image and the guest's granted pages (GNTTABOP_copy), so guest memory is never mapped
// into this process beyond the ring.
#pragma once
#include <atomic>
#include <sys/uio.h>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>
#include "backends/blk/blkif_ring.hpp"
#include "common/unique_fd.hpp"
#include "privcmd/client.hpp"
#include "xenstore/client/xs.hpp"

namespace kxen::backends::blk {

// What the backend advertises (feature-max-indirect-segments): 256 segments, 1 MiB per request.
inline constexpr unsigned max_indirect_segments = 256;
// Grants kept mapped per device when the frontend asks for feature-persistent (Linux
// blkback's default max_persistent_grants); segments past it are copied.
inline constexpr std::size_t max_persistent_grants = 1056;

class VbdBackend {
public:
    VbdBackend(privcmd::Client c, std::string state_dir);
    // Runs until stop(); returns the exit status.
    int run();
    void stop();

private:
    using Key = std::pair<std::uint16_t, std::uint32_t>;   // domid, devid
    struct Device {
        std::uint16_t domid = 0;
        std::uint32_t devid = 0;
        std::string be, fe;        // xenstore paths
        UniqueFd file;
        std::uint64_t sectors = 0;
        bool readonly = false, discard = false, block_device = false;
        int state = 0;             // our XenbusState
        std::optional<privcmd::Client::GrantMap> ring_page;
        std::optional<BackRing> ring;
        std::optional<privcmd::Client::BoundPort> port;
        bool persistent = false;   // the frontend reuses its grants: keep them mapped
        std::map<std::uint32_t, privcmd::Client::GrantMap> pgrants;   // by gref
    };

    void scan();
    void setup(Device& d);
    void frontend_changed(Device& d);
    bool connect(Device& d);
    void disconnect(Device& d, int state);
    void remove(Key k);
    void serve(Device& d);
    std::int16_t execute(Device& d, Request const& r);
    std::int16_t transfer(Device& d, bool write, std::uint64_t sector, std::vector<Segment> const& segs);
    // The segments' bytes in persistently mapped grants, mapping those not mapped yet while
    // there is room; false if one cannot be (the request is then copied).
    bool mapped_iov(Device& d, std::span<privcmd::Client::GrantSegment const> segs, std::vector<iovec>& iov);
    void set_state(Device& d, int state);

    privcmd::Client c_;
    std::string dir_;
    std::optional<xs::Handle> store_;
    UniqueFd epoll_, stop_, timer_;
    std::map<Key, Device> devices_;
    std::map<int, Key> port_fds_;
    std::vector<std::uint8_t> buf_;   // one request's data
};

} // namespace kxen::backends::blk
