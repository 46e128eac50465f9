#include <CLI/CLI.hpp>
#include "toolstack/kxl/kxl.hpp"

using namespace kxen::kxl;

int main(int argc, char** argv) {
    CLI::App app{"kxl: the kxen toolstack (xl's commands, on kxend)"};
    app.require_subcommand(1);
    Globals g;
    app.add_option("--socket", g.socket, "kxend privcmd socket (default $KXEN_SOCKET or /run/kxen/privcmd)");
    int rc = 0;

    CreateArgs ca;
    auto* create = app.add_subcommand("create", "Create a domain from an xl.cfg file");
    create->add_option("config", ca.config, "xl.cfg file")->required();
    create->add_option("overrides", ca.overrides, "key=value settings appended to the config");
    create->add_flag("-c", ca.console, "Attach to the console after creation");
    create->add_flag("-p", ca.paused, "Leave the domain paused after creation");
    create->add_flag("-e", ca.no_monitor, "Do not wait in the background for the death of the domain");
    create->add_flag("-q", ca.quiet, "Quiet");
    create->callback([&] { rc = cmd_create(g, ca); });

    bool list_long = false;
    std::vector<std::string> list_doms;
    auto* list = app.add_subcommand("list", "List domains");
    list->add_flag("-l,--long", list_long, "Output JSON");
    list->add_option("domains", list_doms);
    list->callback([&] { rc = cmd_list(g, list_long, list_doms); });

    std::string dom;
    auto* destroy = app.add_subcommand("destroy", "Terminate a domain immediately");
    destroy->add_option("domain", dom)->required();
    destroy->callback([&] { rc = cmd_destroy(g, dom); });

    auto* pause = app.add_subcommand("pause", "Pause execution of a domain");
    pause->add_option("domain", dom)->required();
    pause->callback([&] { rc = cmd_pause(g, dom, true); });
    auto* unpause = app.add_subcommand("unpause", "Unpause a paused domain");
    unpause->add_option("domain", dom)->required();
    unpause->callback([&] { rc = cmd_pause(g, dom, false); });

    ShutdownArgs sa;
    for (bool reboot : {false, true}) {
        auto* sub = app.add_subcommand(reboot ? "reboot" : "shutdown",
                                       reboot ? "Issue a reboot signal to a domain" : "Issue a shutdown signal to a domain");
        sub->add_option("domain", sa.dom)->required();
        sub->add_flag("-w", sa.wait, reboot ? "Wait for the domain to complete the reboot" : "Wait for the domain to complete shutdown");
        sub->add_flag("-F", sa.fallback,
                      "If the guest has no PV control or does not take the request in time, shut it down from the hypervisor");
        sub->add_option("--timeout", sa.timeout_s, "Seconds -F waits for the guest to take the request (30)");
        sub->callback([&, reboot] {
            sa.reboot = reboot;
            rc = cmd_shutdown(g, sa);
        });
    }

    app.add_subcommand("info", "Get information about the host")->callback([&] { rc = cmd_info(g); });

    bool clear = false;
    auto* dmesg = app.add_subcommand("dmesg", "Read and/or clear the hypervisor's message buffer");
    dmesg->add_flag("-c", clear, "Clear the buffer after reading");
    dmesg->callback([&] { rc = cmd_dmesg(g, clear); });

    auto* console = app.add_subcommand("console", "Attach to a domain's console (Ctrl-] detaches)");
    console->add_option("domain", dom)->required();
    console->callback([&] { rc = cmd_console(g, dom); });

    SaveArgs sv;
    auto* save = app.add_subcommand("save", "Save a domain state to restore later");
    save->add_flag("-c", sv.checkpoint, "Leave the domain running after creating the snapshot");
    save->add_flag("-p", sv.paused, "Leave the domain paused after creating the snapshot");
    save->add_option("domain", sv.dom)->required();
    save->add_option("file", sv.file)->required();
    save->add_option("config", sv.config, "The config to save with it (default: the one it was created from)");
    save->callback([&] { rc = cmd_save(g, sv); });

    RestoreArgs rs;
    auto* restore = app.add_subcommand("restore", "Restore a domain from a saved state");
    restore->add_flag("-p", rs.paused, "Do not unpause the domain after restoring it");
    restore->add_flag("-e", rs.no_monitor, "Do not wait in the background for the death of the domain");
    restore->add_flag("-c", rs.console, "Attach to the console after restoring");
    restore->add_option("file", rs.file)->required();
    restore->add_option("config", rs.config);
    restore->callback([&] { rc = cmd_restore(g, rs); });

    MigrateArgs mg;
    auto* migrate = app.add_subcommand("migrate", "Migrate a domain to another host");
    migrate->add_option("domain", mg.dom)->required();
    migrate->add_option("host", mg.dest,
                        "HOST (over ssh), tcp:HOST:PORT (to `kxl migrate-receive --listen PORT`), or the privcmd "
                        "socket of another kxend on this machine")->required();
    migrate->add_option("-s", mg.ssh, "Use this command instead of ssh");
    migrate->add_flag("-p", mg.paused, "Do not unpause the domain after migrating it");
    migrate->add_flag("!--no-live", mg.live, "Stop the domain first and copy it once");
    migrate->add_flag("--live", mg.live, "Copy memory while the domain runs (the default)");
    migrate->add_flag("--debug", mg.debug, "Send every page once more at the end; the receiver checks them");
    migrate->add_option("--downtime", mg.downtime_ms, "Stop-and-copy once the rest fits in this many ms (300)");
    migrate->add_option("--max-iterations", mg.max_iterations, "Pre-copy iterations at most (30)");
    migrate->add_flag("--zstd", mg.zstd, "Compress the stream on the wire (the receiver needs --zstd too)");
    migrate->add_option("--receiver", mg.receiver,
                        "The toolstack that receives over ssh: kxl, or xl for a host running Xen's own (the stream "
                        "and handshake are xl's)")
        ->check(CLI::IsMember({"kxl", "xl"}))
        ->capture_default_str();
    migrate->callback([&] { rc = cmd_migrate(g, mg); });

    MigrateReceiveArgs mr;
    auto* mrecv = app.add_subcommand("migrate-receive", "Receive a migrating domain (what kxl migrate runs remotely)");
    mrecv->add_option("--listen", mr.listen, "Take the stream from one TCP connection on this port");
    mrecv->add_flag("-p", mr.paused, "Do not unpause the domain");
    mrecv->add_flag("-e", mr.no_monitor, "Do not wait in the background for the death of the domain");
    mrecv->add_flag("--zstd", mr.zstd, "The sender compresses the stream (kxl migrate --zstd)");
    mrecv->callback([&] { rc = cmd_migrate_receive(g, mr); });

    BlockAttachArgs ba;
    auto* battach = app.add_subcommand("block-attach", "Create a new virtual block device in a running domain");
    battach->add_option("domain", ba.dom)->required();
    battach->add_option("disk-spec", ba.spec, "xl-disk-configuration(5), e.g. 'file:/srv/b.img,xvdb,w'")->required();
    battach->callback([&] { rc = cmd_block_attach(g, ba); });

    BlockDetachArgs bd;
    auto* bdetach = app.add_subcommand("block-detach", "Destroy a domain's virtual block device");
    bdetach->add_option("domain", bd.dom)->required();
    bdetach->add_option("device", bd.disk, "Its vdev (xvdb) or device id (51728)")->required();
    bdetach->add_flag("-f,--force", bd.force, "Remove it even if the guest does not release it");
    bdetach->callback([&] { rc = cmd_block_detach(g, bd); });

    std::vector<std::string> blist_doms;
    auto* blist = app.add_subcommand("block-list", "List virtual block devices for a domain");
    blist->add_option("domains", blist_doms)->required();
    blist->callback([&] { rc = cmd_block_list(g, blist_doms); });

    CLI11_PARSE(app, argc, argv);
    return rc;
}
