#include "console.hpp"

#include <stdarg.h>

#include "bare.hpp"
#include "fmt.hpp"
#include "hypercall.hpp"
#include "xen.hpp"

namespace minios::console {

void write(const char* s, size_t n) {
    if (xen::present()) xen::console_io(CONSOLEIO_write, n, s);
    else bare::serial_write(s, n);
}

void println(const char* f, ...) {
    char line[256];
    va_list ap;
    va_start(ap, f);
    size_t n = fmt::vformat(line, sizeof(line) - 1, f, ap);
    va_end(ap);
    line[n++] = '\n';
    write(line, n);
}

}  // namespace minios::console
