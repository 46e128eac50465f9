// minios::fmt: a small printf. %[-0][width][.prec][hh|h|l|ll|z](d|i|u|x|X|c|s|p|%).
#pragma once
#include <stdarg.h>
#include <stddef.h>

namespace minios::fmt {

// Always NUL-terminates (if cap > 0); returns the length written, truncated to cap - 1.
size_t vformat(char* buf, size_t cap, const char* f, va_list ap);
size_t format(char* buf, size_t cap, const char* f, ...) __attribute__((format(printf, 3, 4)));

}  // namespace minios::fmt
