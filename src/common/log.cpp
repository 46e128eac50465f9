#include "common/log.hpp"
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace kxen::log {
namespace {
std::mutex mu;
std::string tag = "kxen";
Level min_level = Level::info;
std::function<void(std::string_view)> sink;
constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
} // namespace

void set_tag(std::string_view t) { std::lock_guard g{mu}; tag = t; }
void set_min_level(Level l) { std::lock_guard g{mu}; min_level = l; }
void set_sink(std::function<void(std::string_view)> s) { std::lock_guard g{mu}; sink = std::move(s); }

void emit(Level l, std::string_view msg) {
    std::lock_guard g{mu};
    if (l < min_level) return;
    auto now = std::chrono::duration<double>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    auto line = fmt::format("[{:.3f}] {} {}: {}\n", now, tag,
                            names[static_cast<int>(l)], msg);
    std::fwrite(line.data(), 1, line.size(), stderr);
    if (sink) sink(line);
}

} // namespace kxen::log
