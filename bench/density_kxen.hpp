// The kxen side of the density benchmark: minios domains (on_done=stay, so each ends blocked
// and costs no CPU) created through libkxl, one after another, until the target or a failure.
#pragma once
#include <sys/types.h>
#include <cstdint>
#include <string>
#include <vector>
#include "curve.hpp"
#include "privcmd/client.hpp"
#include "toolstack/xl_cfg_domain.hpp"

namespace kxen::bench {

struct KxenOptions {
    long target = 8000;
    long every = 500;
    double max_seconds = 1800;   // stop creating after this long
    long min_avail_mib = 2048;   // stop creating when MemAvailable falls below this
    bool destroy = true;
};

struct KxenResult {
    Curve curve;
    double settle_s = 0;     // after the last create, until every domain was blocked
    Snapshot settled;        // all domains booted and blocked
    long blocked = 0, shut_down = 0, passed = 0;
    double destroy_s = 0;    // destroy_domain of every domain
    double reclaim_s = 0;    // then until MemAvailable came back (within 5%)
    Snapshot destroyed;
};

// `cfg` is the template (memory, kernel, extra); each domain gets its own name.
KxenResult run_kxen_density(privcmd::Client& c, pid_t kxend, toolstack::DomainConfig cfg, KxenOptions const& o);

} // namespace kxen::bench
