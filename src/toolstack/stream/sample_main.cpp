// kxen-stream-sample: writes the sample migration stream of sample.hpp to a file.
//   kxen-stream-sample [--format xl|libxl|libxc] OUTPUT
#include "toolstack/stream/io.hpp"
#include "toolstack/stream/sample.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

using namespace kxen::toolstack::stream;

int main(int argc, char** argv) {
    SampleOptions opts;
    char const* path = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--format" && i + 1 < argc) {
            std::string_view f = argv[++i];
            if (f == "xl") opts.format = SampleFormat::xl;
            else if (f == "libxl") opts.format = SampleFormat::libxl;
            else if (f == "libxc") opts.format = SampleFormat::libxc;
            else path = nullptr, i = argc;
        } else if (!path) {
            path = argv[i];
        } else {
            path = nullptr;
            break;
        }
    }
    if (!path) {
        std::fprintf(stderr, "usage: kxen-stream-sample [--format xl|libxl|libxc] OUTPUT\n");
        return 2;
    }
    auto bytes = build_sample_stream(opts);
    if (!bytes) {
        std::fprintf(stderr, "kxen-stream-sample: %s\n", bytes.error().message().c_str());
        return 1;
    }
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::fprintf(stderr, "kxen-stream-sample: %s: %s\n", path, std::strerror(errno));
        return 1;
    }
    auto r = fd_sink(fd)(*bytes);
    if (!r || ::close(fd) != 0) {
        std::fprintf(stderr, "kxen-stream-sample: %s: %s\n", path, r ? std::strerror(errno) : r.error().c_str());
        return 1;
    }
    return 0;
}
