// kxen::toolstack: xl.cfg files as libxlutil reads them (tools/libs/util/libxlu_cfg*).
//
// A file is a sequence of `KEY = VALUE` or `KEY += VALUE` settings, each ended by a newline
// or `;`, with `#` comments. A VALUE is a "string" or 'string' (C escapes), a number
// (decimal, 0x hex, or 0-prefixed octal: xl reads numbers with strtol(.., 0)), or a list
// `[ v, v, ]` whose items are values (lists may nest, as vnuma=[[..],[..]] does) and which
// may span lines. Like xl, a later setting of a key replaces an earlier one, and `+=`
// concatenates onto the earlier string or list.
#pragma once
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kxen::toolstack {

// Where and why a config is wrong. line/column are 1-based; 0 means "no particular line"
// (e.g. a required key that is missing).
struct CfgError {
    std::string file;
    int line = 0;
    int column = 0;
    std::string message;

    // "FILE:LINE:COL: message" (or "FILE: message" when there is no line).
    [[nodiscard]] std::string to_string() const;
};

struct CfgValue {
    enum class Kind { string, number, list };
    Kind kind = Kind::string;
    std::string text;              // unescaped string, or the number exactly as written
    std::vector<CfgValue> items;   // list items (Kind::list only)
    int line = 0;                  // where the value starts
    int column = 0;

    [[nodiscard]] bool is_list() const { return kind == Kind::list; }
};

struct CfgSetting {
    std::string key;
    CfgValue value;        // for `+=`, already concatenated with the earlier value
    bool append = false;   // written as `KEY += VALUE`
    std::string source;    // file name, or "<command line>" for overrides
    int line = 0;          // where the key starts
    int column = 0;
};

// A parsed config. Settings are kept in the order they were read, duplicates included;
// lookups see the last setting of a key, as xl does.
class XlCfg {
public:
    explicit XlCfg(std::string filename = {}) : filename_{std::move(filename)} {}

    [[nodiscard]] std::string const& filename() const { return filename_; }
    [[nodiscard]] std::vector<CfgSetting> const& settings() const { return settings_; }
    [[nodiscard]] CfgSetting const* find(std::string_view key) const;
    [[nodiscard]] bool has(std::string_view key) const { return find(key) != nullptr; }
    // Distinct keys, in the order they first appear.
    [[nodiscard]] std::vector<std::string> const& keys() const { return keys_; }

    // Typed getters: nullopt when the key is absent; an error naming the setting's line
    // when it has the wrong type.
    // A string; a number is returned as written (xl treats both as strings).
    [[nodiscard]] auto get_string(std::string_view key) const
        -> std::expected<std::optional<std::string>, CfgError>;
    // A number, or a string holding one ("64" works, as in xl). `+=` is refused, as in xl.
    [[nodiscard]] auto get_integer(std::string_view key) const
        -> std::expected<std::optional<std::int64_t>, CfgError>;
    // xl's defbool: any number, true when non-zero.
    [[nodiscard]] auto get_bool(std::string_view key) const
        -> std::expected<std::optional<bool>, CfgError>;
    [[nodiscard]] auto get_list(std::string_view key) const
        -> std::expected<std::optional<std::vector<CfgValue>>, CfgError>;
    // A list whose items are all strings or numbers.
    [[nodiscard]] auto get_string_list(std::string_view key) const
        -> std::expected<std::optional<std::vector<std::string>>, CfgError>;

    // Parses more settings into this config as if they followed what is already there
    // (so they override it, and `+=` appends to it). Line numbers start at first_line.
    auto parse_more(std::string_view text, std::string const& source, int first_line = 1)
        -> std::expected<void, CfgError>;

    // `xl create FILE key=value ...`: each argument is one more config line, read after
    // the file. Errors name "<command line>", line N = the Nth override argument.
    auto apply_overrides(std::span<std::string const> args) -> std::expected<void, CfgError>;

    // Used by the parser: stores a setting, applying `+=` against the earlier value.
    auto add(CfgSetting setting) -> std::expected<void, CfgError>;

private:
    // Heterogeneous lookup, so find(string_view) does not build a std::string.
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
    };

    std::string filename_;
    std::vector<CfgSetting> settings_;
    // Index of each key's last setting, so lookups (and a config with many keys) stay linear.
    std::unordered_map<std::string, std::size_t, KeyHash, std::equal_to<>> last_;
    std::vector<std::string> keys_;   // distinct keys in first-seen order
};

inline constexpr std::string_view command_line_source = "<command line>";

auto parse_xl_cfg(std::string_view text, std::string filename)
    -> std::expected<XlCfg, CfgError>;

// `s` as an xl.cfg string that reads back as `s`: single-quoted, with the escapes the lexer
// takes for quotes, backslashes and control characters. `s` holds no NUL (nothing can say it).
std::string quote_cfg_string(std::string_view s);

// Far more than any real config (a 100,000-key one is a few MiB); a bound so a config that is
// not a file, or is absurdly large, is refused instead of read into memory.
inline constexpr std::size_t max_config_bytes = 64u << 20;

// Reads and parses a file; an unreadable file, or one that is not a regular file or is larger
// than max_config_bytes, is an error naming it.
auto load_xl_cfg(std::filesystem::path const& path) -> std::expected<XlCfg, CfgError>;

} // namespace kxen::toolstack
