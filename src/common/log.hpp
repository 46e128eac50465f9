// kxen::log: one line per event on stderr, with a level and the process's tag.
// kxend also keeps the lines in a ring that XEN_SYSCTL_readconsole returns (`kxl dmesg`).
#pragma once
#include <fmt/format.h>
#include <functional>
#include <string_view>

namespace kxen::log {

enum class Level { debug, info, warn, error };

void set_tag(std::string_view tag);
void set_min_level(Level l);
// A hook that sees every emitted line (kxend's console ring).
void set_sink(std::function<void(std::string_view)> sink);
void emit(Level l, std::string_view msg);

template <typename... A> void debug(fmt::format_string<A...> f, A&&... a) {
    emit(Level::debug, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void info(fmt::format_string<A...> f, A&&... a) {
    emit(Level::info, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void warn(fmt::format_string<A...> f, A&&... a) {
    emit(Level::warn, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void error(fmt::format_string<A...> f, A&&... a) {
    emit(Level::error, fmt::format(f, std::forward<A>(a)...));
}

} // namespace kxen::log
