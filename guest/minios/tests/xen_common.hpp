// Helpers shared by the event-channel and grant-table tests.
#pragma once
#include <stdint.h>

#include "../xen_abi.hpp"

namespace minios::tests {

// SKIP without Xen.
void need_xen();
// timeout_ms= (default `dflt_ms`) in ns.
uint64_t timeout_ns(uint64_t dflt_ms);
// gnttab=v1|v2 (default v1), gnttab_frames= (default `dflt_frames`): gnttab::init or FAIL.
void setup_gnttab(unsigned dflt_frames = 1);
// count= (default `dflt`), > 0.
uint64_t get_count(uint64_t dflt);
// Print "<test>: <what> -> <rc>" when verbose=1.
bool verbose();

}  // namespace minios::tests
