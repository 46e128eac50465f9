// minios::cmdline: "test=<name> [key=value ...]", space separated.
#pragma once
#include <stdint.h>

namespace minios::cmdline {

void parse(const char* line);
// The value of `key`, or nullptr. A bare word counts as key with value "".
const char* get(const char* key);
// The value of `key` as a number; `dflt` when absent. False if present but not a number.
bool get_u64(const char* key, uint64_t dflt, uint64_t* out);

}  // namespace minios::cmdline
