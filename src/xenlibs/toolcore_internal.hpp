// The part of Xen's tools/libs/toolcore/include/xentoolcore_internal.h that is ABI: libraries
// built against Xen's own header (Debian's libxenctrl, libxenstore) embed this structure in
// their handles and register it with libxentoolcore, so its layout must be Xen's.
#pragma once
extern "C" {
#include <xentoolcore.h>
}

extern "C" {

struct xentoolcore__active_handle;
typedef int xentoolcore__restrict_callback(xentoolcore__active_handle*, domid_t domid);

struct xentoolcore__active_handle {
    xentoolcore__restrict_callback* restrict_callback;
    void* entry[2];   // Xen's XEN_TAILQ_ENTRY; the list lives in libxentoolcore, ours elsewhere
};

void xentoolcore__register_active_handle(xentoolcore__active_handle* ah);
void xentoolcore__deregister_active_handle(xentoolcore__active_handle* ah);
int xentoolcore__restrict_by_dup2_null(int fd);

}
