// kxen::privcmd::Server: kxend's side of the control socket. One thread per dom0 client.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <map>
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
    // Stops accepting, hangs up on every client and waits until each session has released
    // what it held: the Hv may go only after this returns true. False: some session is still
    // inside a call after 10 s.
    [[nodiscard]] bool stop();

private:
    Server(hv::Hv& hv, UniqueFd fd, std::string path);
    void accept_loop();
    hv::Hv* hv_;
    UniqueFd fd_;
    std::string path_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable idle_;
    // Sessions still running: their socket, or -1 once it is about to close.
    std::map<std::uint64_t, int> clients_;
    std::uint64_t next_client_ = 0;
    std::thread thread_;
};

} // namespace kxen::privcmd
