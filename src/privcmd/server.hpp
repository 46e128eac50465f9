// kxen::privcmd::Server: kxend's side of the control socket. One thread per dom0 client.
#pragma once
#include <atomic>
#include <string>
#include <thread>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace kxen::hv { class Hv; }

namespace kxen::privcmd {

class Server {
public:
    static SysResult<std::unique_ptr<Server>> listen(hv::Hv& hv, std::string const& path);
    ~Server();
    void stop();

private:
    Server(hv::Hv& hv, UniqueFd fd, std::string path);
    void accept_loop();
    hv::Hv* hv_;
    UniqueFd fd_;
    std::string path_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace kxen::privcmd
