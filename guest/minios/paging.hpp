// minios::paging: the identity map ring 3 builds for itself at boot.
#pragma once

namespace minios::paging {

// Identity-maps all of 0..4 GiB with 2 MiB pages (RAM, start_info wherever the
// loader put it, and the 0xFEC00000+ special-page region), user-accessible.
void init();
// Unmaps the first 4 KiB to catch null pointers. Call once the start_info data
// has been copied, in case a loader put it there.
void guard_null_page();

}  // namespace minios::paging
