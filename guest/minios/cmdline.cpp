#include "cmdline.hpp"

#include "lib.hpp"

namespace minios::cmdline {
namespace {

struct Kv {
    const char* key;
    const char* value;
};
constinit char buf[1024]{};
constinit Kv kvs[32]{};
constinit unsigned count = 0;

}  // namespace

void parse(const char* line) {
    size_t n = lib::strnlen(line, sizeof(buf) - 1);
    memcpy(buf, line, n);
    buf[n] = '\0';
    char* p = buf;
    while (*p && count < lib::size(kvs)) {
        while (*p == ' ' || *p == '\t') *p++ = '\0';
        if (!*p) break;
        Kv& kv = kvs[count++];
        kv.key = p;
        kv.value = "";
        bool split = false;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '=' && !split) {
                *p = '\0';
                kv.value = p + 1;
                split = true;
            }
            ++p;
        }
    }
}

const char* get(const char* key) {
    // The last occurrence wins, as with kernel command lines.
    for (unsigned i = count; i-- > 0;)
        if (lib::str_eq(kvs[i].key, key)) return kvs[i].value;
    return nullptr;
}

bool get_u64(const char* key, uint64_t dflt, uint64_t* out) {
    const char* v = get(key);
    if (!v) {
        *out = dflt;
        return true;
    }
    return lib::parse_u64(v, out);
}

}  // namespace minios::cmdline
