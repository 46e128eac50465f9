// kxen::backends::blk::VbdBackend: dom0's block backend (what blkback is on Xen). It serves
// every disk the toolstack puts under /local/domain/0/backend/vbd/<domid>/<devid>, through the
// xenbus state machine of io/blkif.h: it opens the image, advertises the disk and its
// features, maps the ring the frontend grants, and answers requests by copying data between
// the image and the guest's granted pages (GNTTABOP_copy), so guest memory is never mapped
// into this process beyond the ring.
#pragma once
#include <atomic>
#include <deque>
#include <sys/uio.h>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>
#include "backends/blk/blkif_ring.hpp"
#include "backends/blk/uring.hpp"
#include "common/unique_fd.hpp"
#include "privcmd/client.hpp"
#include "xenstore/client/xs.hpp"

namespace kxen::backends::blk {

// What the backend advertises (feature-max-indirect-segments): 256 segments, 1 MiB per request.
inline constexpr unsigned max_indirect_segments = 256;
// Grants kept mapped per device when the frontend asks for feature-persistent (Linux
// blkback's default max_persistent_grants); segments past it are copied.
inline constexpr std::size_t max_persistent_grants = 1056;

// Queues a frontend may ask for (multi-queue-max-queues), each its own ring and event channel.
inline constexpr unsigned max_queues = 4;

class VbdBackend {
public:
    VbdBackend(privcmd::Client c, std::string state_dir);
    // Runs until stop(); returns the exit status.
    int run();
    void stop();

private:
    using Key = std::pair<std::uint16_t, std::uint32_t>;   // domid, devid
    struct Queue {
        std::optional<privcmd::Client::GrantMap> ring_page;
        std::optional<BackRing> ring;
        std::optional<privcmd::Client::BoundPort> port;
        // Requests taken and not yet answered on the ring, oldest first. Their I/O runs
        // concurrently and completes in any order, but responses are published in request
        // order: then the requests past the last published response are exactly the
        // unanswered ones, which is what a restarted backend does again (BackRing).
        struct Taken {
            std::uint64_t id;
            std::uint8_t op;
            bool done;
            std::int16_t status;
        };
        std::deque<Taken> taken;
        std::uint64_t first_seq = 0;   // the sequence number of taken.front()
    };
    struct Device {
        std::uint16_t domid = 0;
        std::uint32_t devid = 0;
        std::string be, fe;        // xenstore paths
        UniqueFd file;
        std::uint64_t sectors = 0;
        bool readonly = false, discard = false, block_device = false;
        int state = 0;             // our XenbusState
        std::vector<Queue> queues;
        std::uint64_t generation = 0;   // connections so far: I/O of an earlier one is dropped
        unsigned inflight = 0;
        bool persistent = false;   // the frontend reuses its grants: keep them mapped
        std::map<std::uint32_t, privcmd::Client::GrantMap> pgrants;   // by gref
    };
    // One request's I/O in flight (io_uring), by tag.
    struct Op {
        Key dev{};
        std::uint64_t generation = 0;
        unsigned queue = 0;
        std::uint64_t seq = 0;
        std::uint64_t expect = 0;   // bytes the syscall must move, 0 for a flush
        std::uint64_t offset = 0;   // in the image
        bool copy_out = false;      // a read through buf: copy it to the guest when done
        bool sync_after = false;    // a write that must reach stable storage before its answer
        std::vector<privcmd::Client::GrantSegment> gs{};
        std::vector<iovec> iov{};
        std::vector<std::uint8_t> buf{};
    };

    void scan();
    void setup(Device& d);
    void frontend_changed(Device& d);
    bool connect(Device& d);
    bool connect_queue(Device& d, Queue& q, std::string const& dir, Abi abi);
    void disconnect(Device& d, int state);
    void remove(Key k);
    void serve(Device& d, unsigned qi);
    // Starts request r (queue qi, sequence seq): answered at once, or its I/O issued.
    void start(Device& d, unsigned qi, std::uint64_t seq, Request const& r);
    std::optional<std::int16_t> start_rw(Device& d, unsigned qi, std::uint64_t seq, bool write, std::uint64_t sector,
                                         std::vector<Segment> const& segs, bool sync_after);
    void issue(std::uint64_t tag, bool write, bool flush);
    void finish(std::uint64_t tag, std::int32_t result);
    void complete(Device& d, unsigned qi, std::uint64_t seq, std::int16_t status);
    void publish(Device& d, unsigned qi);
    // Waits for every I/O in flight and answers it.
    void drain();
    void reap();
    // The segments' bytes in persistently mapped grants, mapping those not mapped yet while
    // there is room; false if one cannot be (the request is then copied).
    bool mapped_iov(Device& d, std::span<privcmd::Client::GrantSegment const> segs, std::vector<iovec>& iov);
    void set_state(Device& d, int state);

    privcmd::Client c_;
    std::string dir_;
    std::optional<xs::Handle> store_;
    UniqueFd epoll_, stop_, timer_;
    std::optional<Uring> uring_;   // none: each I/O is done when it is issued
    std::map<Key, Device> devices_;
    std::map<int, std::pair<Key, unsigned>> port_fds_;   // -> device, queue
    std::map<std::uint64_t, Op> ops_;
    std::uint64_t next_tag_ = 1;
    std::vector<std::vector<std::uint8_t>> spare_bufs_;
    std::vector<std::pair<Key, unsigned>> touched_;   // queues with answers to publish
};

} // namespace kxen::backends::blk
