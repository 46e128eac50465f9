// xl.cfg as kxl reads it: the lexer and parser over a whole file, the typed getters, then
// the domain mapping (names, memory, vCPUs, actions, uuid), and command-line overrides.
// Everything must be accepted or refused with an error; nothing may crash or hang.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include "fuzz_input.hpp"
#include "toolstack/xl_cfg.hpp"
#include "toolstack/xl_cfg_domain.hpp"

using namespace kxen::toolstack;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view text{reinterpret_cast<char const*>(data), size};
    // A line "#--overrides--" splits the file from `xl create FILE key=value...` arguments,
    // one a line, which go through the same parser.
    constexpr std::string_view split = "\n#--overrides--\n";
    std::vector<std::string> overrides;
    if (auto at = text.find(split); at != std::string_view::npos) {
        std::string_view rest = text.substr(at + split.size());
        text = text.substr(0, at);
        while (!rest.empty() && overrides.size() < 16) {
            auto nl = rest.find('\n');
            overrides.emplace_back(rest.substr(0, nl));
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        }
    }
    auto cfg = parse_xl_cfg(text, "fuzz.cfg");
    if (!cfg) return 0;
    if (!overrides.empty() && !cfg->apply_overrides(overrides)) return 0;
    for (auto const& key : cfg->keys()) {
        (void)cfg->get_string(key);
        (void)cfg->get_integer(key);
        (void)cfg->get_bool(key);
        (void)cfg->get_list(key);
        (void)cfg->get_string_list(key);
    }
    (void)domain_config_from(*cfg);
    return 0;
}
