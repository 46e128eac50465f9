#include "toolstack/xl_cfg.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace kxen::toolstack {
namespace {

XlCfg parse_ok(std::string_view text) {
    auto cfg = parse_xl_cfg(text, "t.cfg");
    EXPECT_TRUE(cfg) << cfg.error().to_string();
    return cfg ? std::move(*cfg) : XlCfg{};
}

// Parses `text` and expects an error at line:column whose message contains `what`.
void expect_error(std::string_view text, int line, int column, std::string const& what) {
    auto cfg = parse_xl_cfg(text, "bad.cfg");
    ASSERT_FALSE(cfg.has_value()) << "parsed: " << text;
    auto const& e = cfg.error();
    EXPECT_EQ(e.file, "bad.cfg");
    EXPECT_EQ(e.line, line) << e.to_string();
    EXPECT_EQ(e.column, column) << e.to_string();
    EXPECT_NE(e.message.find(what), std::string::npos) << e.to_string();
}

std::string str(XlCfg const& c, std::string_view key) { return c.get_string(key).value().value(); }
std::int64_t num(XlCfg const& c, std::string_view key) { return c.get_integer(key).value().value(); }

TEST(XlCfg, AllValueForms) {
    auto c = parse_ok(
        "# a comment line\n"
        "name = \"guest\"\n"
        "kernel='/boot/k'   # trailing comment\n"
        "memory = 512\n"
        "maxmem = 0x400\n"
        "perms = 0755\n"
        "vcpus=2;maxvcpus=4\n"
        "empty = []\n"
        "disk = [ 'a', \"b\", 7, ]\n"
        "\n"
        "vif = [\n"
        "   'mac=00:16:3e:00:00:01',\n"
        "\n"
        "   'bridge=br0'\n"
        "]\n"
        "vnuma = [ [\"pnode=0\", \"size=512\"], [\"pnode=1\"] ]\n"
        "last = 1");   // no final newline
    EXPECT_EQ(str(c, "name"), "guest");
    EXPECT_EQ(str(c, "kernel"), "/boot/k");
    EXPECT_EQ(num(c, "memory"), 512);
    EXPECT_EQ(num(c, "maxmem"), 1024);
    EXPECT_EQ(num(c, "perms"), 0755);   // a leading 0 is octal, as strtol(.., 0) reads it
    EXPECT_EQ(num(c, "vcpus"), 2);
    EXPECT_EQ(num(c, "maxvcpus"), 4);
    EXPECT_EQ(c.get_list("empty").value()->size(), 0u);
    EXPECT_EQ(c.get_string_list("disk").value(), (std::vector<std::string>{"a", "b", "7"}));
    EXPECT_EQ(c.get_string_list("vif").value(),
              (std::vector<std::string>{"mac=00:16:3e:00:00:01", "bridge=br0"}));
    auto vnuma = c.get_list("vnuma").value().value();
    ASSERT_EQ(vnuma.size(), 2u);
    EXPECT_TRUE(vnuma[0].is_list());
    EXPECT_EQ(vnuma[0].items[1].text, "size=512");
    EXPECT_EQ(num(c, "last"), 1);
    EXPECT_EQ(c.get_string("absent").value(), std::nullopt);
}

TEST(XlCfg, SettingsKeepOrderAndPositions) {
    auto c = parse_ok("a = 1\n\n  b = \"x\"\n");
    ASSERT_EQ(c.settings().size(), 2u);
    EXPECT_EQ(c.settings()[0].key, "a");
    EXPECT_EQ(c.settings()[1].key, "b");
    EXPECT_EQ(c.settings()[1].line, 3);
    EXPECT_EQ(c.settings()[1].column, 3);
    EXPECT_EQ(c.settings()[1].value.column, 7);
    EXPECT_EQ(c.settings()[1].source, "t.cfg");
    EXPECT_EQ(c.keys(), (std::vector<std::string>{"a", "b"}));
}

TEST(XlCfg, Escapes) {
    auto c = parse_ok(R"(a = "q\"q\'s\\n\n\t\a\b\f\r\v"
b = 'it\'s'
c = "\x41\101\7!"
d = "#not a comment"
e = ""
)");
    EXPECT_EQ(str(c, "a"), "q\"q's\\n\n\t\a\b\f\r\v");
    EXPECT_EQ(str(c, "b"), "it's");
    EXPECT_EQ(str(c, "c"), "AA\a!");
    EXPECT_EQ(str(c, "d"), "#not a comment");
    EXPECT_EQ(str(c, "e"), "");
}

TEST(XlCfg, QuotedStringsReadBack) {
    for (std::string_view v : {"", "plain /srv/a b.img", "it's", "back\\slash\\'", "\x01\n\t\x7f\xff end", "\"dq\""}) {
        auto c = parse_ok("k = " + quote_cfg_string(v) + "\n");
        EXPECT_EQ(str(c, "k"), v);
        auto l = parse_ok("k = [ " + quote_cfg_string(v) + ", " + quote_cfg_string(v) + " ]\n");
        EXPECT_EQ(l.get_string_list("k").value().value(), (std::vector<std::string>{std::string{v}, std::string{v}}));
    }
}

TEST(XlCfg, LaterSettingWins) {
    auto c = parse_ok("memory = 128\nmemory = 256\n");
    EXPECT_EQ(num(c, "memory"), 256);
    EXPECT_EQ(c.find("memory")->line, 2);
    EXPECT_EQ(c.settings().size(), 2u);   // both kept, in order
    EXPECT_EQ(c.keys().size(), 1u);
}

TEST(XlCfg, AppendConcatenatesStringsAndLists) {
    auto c = parse_ok(
        "extra = \"console=hvc0\"\n"
        "extra += \" loglevel=8\"\n"
        "disk = ['a']\n"
        "disk += ['b', 'c']\n"
        "fresh += \"x\"\n");
    EXPECT_EQ(str(c, "extra"), "console=hvc0 loglevel=8");
    EXPECT_EQ(c.get_string_list("disk").value(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(str(c, "fresh"), "x");
    EXPECT_TRUE(c.find("extra")->append);
}

TEST(XlCfg, AppendOfDifferentKindsIsRefused) {
    expect_error("disk = ['a']\ndisk += \"b\"\n", 2, 9, "'disk' += a string cannot extend a list (set at bad.cfg:1)");
    expect_error("x = \"a\"\nx += [1]\n", 2, 6, "cannot extend a string");
}

TEST(XlCfg, AppendedNumberIsNotANumber) {
    // As in xl: "64" += "1" would quietly be 641.
    auto c = parse_ok("memory = 64\nmemory += 1\n");
    auto m = c.get_integer("memory");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().to_string(), "t.cfg:2:11: 'memory' is a number: '+=' cannot be used with it");
}

TEST(XlCfg, TypedGettersNameTheLine) {
    auto c = parse_ok("name = 'g'\nkernel = ['x']\nmemory = \"lots\"\ncount = \"12\"\ndisk = 'a'\n"
                      "flag = 1\noff = 0\nbadflag = \"yes\"\nnested = [[1]]\nneg = \"-5\"\n");
    auto k = c.get_string("kernel");
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().to_string(), "t.cfg:2:10: 'kernel' must be a single value, not a list");
    auto m = c.get_integer("memory");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().to_string(), "t.cfg:3:10: 'memory' must be a number");
    EXPECT_EQ(num(c, "count"), 12);   // xl reads numbers out of strings too
    EXPECT_EQ(num(c, "neg"), -5);
    EXPECT_EQ(str(c, "memory"), "lots");
    auto d = c.get_list("disk");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().line, 5);
    EXPECT_EQ(c.get_bool("flag").value(), true);
    EXPECT_EQ(c.get_bool("off").value(), false);
    EXPECT_EQ(c.get_bool("nothing").value(), std::nullopt);
    auto b = c.get_bool("badflag");
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().to_string(), "t.cfg:8:11: 'badflag' must be 0 or 1");
    auto n = c.get_string_list("nested");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().line, 9);
    EXPECT_EQ(n.error().column, 11);
}

TEST(XlCfg, UnterminatedString) {
    expect_error("name = \"guest\nmemory = 1\n", 1, 8, "unterminated string");
    expect_error("a = 1\nb = 'x", 2, 5, "unterminated string");
    expect_error("a = \"x\\", 1, 7, "backslash at end of line");
}

TEST(XlCfg, BadEscapes) {
    expect_error("a = \"x\\qy\"\n", 1, 7, "invalid escape '\\q'");
    expect_error("a = \"\\0\"\n", 1, 6, "NUL");
    expect_error("a = \"\\xZZ\"\n", 1, 6, "\\x needs hex digits");
    expect_error("a = \"\\777\"\n", 1, 6, "octal escape above");
    expect_error(std::string_view("a = \"x\0y\"\n", 10), 1, 7, "NUL byte in string");
}

TEST(XlCfg, MissingEquals) {
    expect_error("memory 128\n", 1, 8, "expected '=' after 'memory', found '128'");
    expect_error("ok = 1\nname\n", 2, 5, "expected '=' after 'name', found end of line");
}

TEST(XlCfg, MissingValue) {
    expect_error("memory =\n", 1, 9, "missing value for 'memory'");
    expect_error("a = 1\nb = ;\n", 2, 5, "missing value for 'b'");
    expect_error("memory = = 3\n", 1, 10, "expected a value for 'memory', found '='");
}

TEST(XlCfg, NotASettingName) {
    expect_error("\n\n 42 = 1\n", 3, 2, "expected a setting name, found '42'");
    expect_error("= 1\n", 1, 1, "expected a setting name, found '='");
}

TEST(XlCfg, BadLists) {
    expect_error("disk = [ 'a' 'b' ]\n", 1, 14, "expected ',' or ']' in the list for 'disk', found a string");
    expect_error("disk = [ 'a',\n  'b'\n", 1, 8, "unterminated list for 'disk'");
    expect_error("disk = [ , 'a' ]\n", 1, 10, "expected a list item for 'disk', found ','");
    expect_error("disk = [ 'a',, ]\n", 1, 14, "expected a list item");
    expect_error("disk = ]\n", 1, 8, "expected a value for 'disk', found ']'");
}

TEST(XlCfg, JunkAfterValue) {
    expect_error("memory = 128 256\n", 1, 14, "unexpected '256' after the value of 'memory'");
    expect_error("a = 'x' b = 2\n", 1, 9, "unexpected 'b' after the value of 'a'");
    expect_error("a = [1] 'x'\n", 1, 9, "unexpected a string after the value of 'a'");
}

TEST(XlCfg, BadNumbers) {
    expect_error("memory = 12abc\n", 1, 10, "bad number '12abc'");
    expect_error("memory = 0x\n", 1, 10, "bad number '0x'");
    expect_error("a = 1\nmemory = 09\n", 2, 10, "bad number '09' (a leading 0 means octal");
    expect_error("memory = 99999999999999999999\n", 1, 10, "bad number");
}

TEST(XlCfg, UnexpectedCharacters) {
    expect_error("memory = -1\n", 1, 10, "unexpected '-' (xl.cfg is not Python");
    expect_error("a = 1\n  @x = 2\n", 2, 3, "unexpected '@'");
    expect_error("a = \x01\n", 1, 5, "unexpected byte 0x01");
}

TEST(XlCfg, DeepNestingIsRefused) {
    std::string deep = "a = " + std::string(100, '[') + std::string(100, ']') + "\n";
    expect_error(deep, 1, 69, "nested too deeply");
}

TEST(XlCfg, CrLfLineEndingsAreAccepted) {
    auto c = parse_ok("a = 1\r\nb = 'x'\r\n");
    EXPECT_EQ(num(c, "a"), 1);
    EXPECT_EQ(str(c, "b"), "x");
}

TEST(XlCfg, CommandLineOverridesComeAfterTheFile) {
    auto c = parse_ok("memory = 128\nextra = \"console=hvc0\"\n");
    std::vector<std::string> args{"memory=64", "extra+=\" test=idle\"", "vcpus=2;maxvcpus=3"};
    ASSERT_TRUE(c.apply_overrides(args));
    EXPECT_EQ(num(c, "memory"), 64);
    EXPECT_EQ(str(c, "extra"), "console=hvc0 test=idle");
    EXPECT_EQ(num(c, "maxvcpus"), 3);
    EXPECT_EQ(c.find("memory")->source, "<command line>");
    EXPECT_EQ(c.find("vcpus")->line, 3);   // the third override
}

TEST(XlCfg, CommandLineOverrideErrorsNameTheCommandLine) {
    auto c = parse_ok("memory = 128\n");
    std::vector<std::string> args{"vcpus=1", "memory"};
    auto r = c.apply_overrides(args);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), "<command line>:2:7: expected '=' after 'memory', found end of input");
    std::vector<std::string> args2{"extra=\"unterminated"};
    auto r2 = c.apply_overrides(args2);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().file, "<command line>");
    EXPECT_EQ(r2.error().line, 1);
    EXPECT_EQ(r2.error().column, 7);
}

TEST(XlCfg, ErrorToString) {
    EXPECT_EQ((CfgError{"x.cfg", 4, 10, "oops"}).to_string(), "x.cfg:4:10: oops");
    EXPECT_EQ((CfgError{"x.cfg", 0, 0, "'name' is required"}).to_string(), "x.cfg: 'name' is required");
}

TEST(XlCfg, LoadFile) {
    char path[] = "/tmp/xl_cfg_test_XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        std::ofstream f(path);
        f << "name = \"from-file\"\nmemory = 32\n";
    }
    auto c = load_xl_cfg(path);
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->filename(), path);
    EXPECT_EQ(str(*c, "name"), "from-file");
    {
        std::ofstream f(path);
        f << "name = \"x\"\nmemory = oops\n";
    }
    auto bad = load_xl_cfg(path);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().to_string(), std::string(path) + ":2:10: expected a value for 'memory', found 'oops'");
    std::remove(path);
    auto missing = load_xl_cfg(path);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().to_string(),
              std::string(path) + ": cannot read config file: No such file or directory");
    auto dir = load_xl_cfg("/tmp");
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message.find("cannot read config file"), std::string::npos) << dir.error().to_string();
}

// A config that is not a regular file is refused before anything is read: /dev/zero would
// otherwise be read until memory ran out, and a FIFO with no writer would hang.
TEST(XlCfg, LoadOnlyRegularFiles) {
    auto zero = load_xl_cfg("/dev/zero");
    ASSERT_FALSE(zero);
    EXPECT_EQ(zero.error().to_string(), "/dev/zero: cannot read config file: not a regular file");
    char dir[] = "/tmp/xl_cfg_fifo_XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    std::string fifo = std::string(dir) + "/cfg";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto f = load_xl_cfg(fifo);
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("not a regular file"), std::string::npos) << f.error().to_string();
    ::unlink(fifo.c_str());
    ::rmdir(dir);
}

} // namespace
} // namespace kxen::toolstack
