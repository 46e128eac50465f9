#include "xen_common.hpp"

#include "../cmdline.hpp"
#include "../gnttab.hpp"
#include "../lib.hpp"
#include "../xen.hpp"
#include "test.hpp"

namespace minios::tests {

void need_xen() {
    if (!xen::present()) skip("needs Xen");
}

uint64_t timeout_ns(uint64_t dflt_ms) {
    uint64_t ms;
    if (!cmdline::get_u64("timeout_ms", dflt_ms, &ms) || !ms) fail("bad timeout_ms");
    return ms * 1'000'000;
}

uint64_t get_count(uint64_t dflt) {
    uint64_t n;
    if (!cmdline::get_u64("count", dflt, &n) || !n) fail("bad count");
    return n;
}

bool verbose() {
    uint64_t v;
    return cmdline::get_u64("verbose", 0, &v) && v;
}

void setup_gnttab(unsigned dflt_frames) {
    const char* v = cmdline::get("gnttab");
    unsigned version = 1;
    if (!v || lib::str_eq(v, "v1") || lib::str_eq(v, "1")) version = 1;
    else if (lib::str_eq(v, "v2") || lib::str_eq(v, "2")) version = 2;
    else fail("bad gnttab=%s (v1|v2)", v);
    uint64_t frames;
    if (!cmdline::get_u64("gnttab_frames", dflt_frames, &frames) || !frames || frames > gnttab::kMaxFrames)
        fail("bad gnttab_frames (1..%u)", gnttab::kMaxFrames);
    long rc = gnttab::init(version, unsigned(frames));
    if (rc < 0) fail("grant table v%u setup: %s: %ld", version, gnttab::last_error(), rc);
}

}  // namespace minios::tests
