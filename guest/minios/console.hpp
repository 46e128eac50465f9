// minios::console: one line per call, to the Xen console (console_io) or, with no
// Xen, to COM1. Each call costs one trap, so build whole lines first.
#pragma once
#include <stddef.h>

namespace minios::console {

void write(const char* s, size_t n);
// printf-style (fmt.hpp), adds the newline.
void println(const char* f, ...) __attribute__((format(printf, 1, 2)));

}  // namespace minios::console
