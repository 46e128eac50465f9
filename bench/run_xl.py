#!/usr/bin/env python3
"""Debian's xl (Xen 4.17, on kxen's drop-in libraries) against kxl on the same kxend, same
configs, same run, sides interleaved in rotating order: create to guest shutdown, save, restore,
and live migration between two kxend on this machine (both through the same ssh stand-in).
Reports medians and the ratio xl/kxl. See bench/README.md.

Needs root: xl's dom0 directories (/var/lib/xen, /run/xen, /var/log/xen) and its helpers'
directory (/usr/lib/xen-4.17) are compiled in, so the script re-runs itself in a mount
namespace of its own with tmpfs there and Debian's unpacked packages (.cache/xen-debs, from
scripts/debs.sh at configure time) bound over /usr/lib/xen-4.17. Builds nothing.

    bench/run_xl.py --build build [--runs 5] [--memory 64] [--wss 32]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBS = os.path.join(REPO, '.cache', 'xen-debs', 'root')
XEN_BIN = os.path.join(DEBS, 'usr', 'lib', 'xen-4.17', 'bin')


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def enter_namespace():
    """Private dom0 directories for xl, as tests/conformance/xen_tools.cpp makes them."""
    if os.environ.get('KXEN_BENCH_NS') != '1':   # once, through util-linux's unshare(1)
        os.execvpe('unshare', ['unshare', '-m', sys.executable] + sys.argv, dict(os.environ, KXEN_BENCH_NS='1'))
    subprocess.run(['mount', '--make-rprivate', '/'], check=True)
    for d in ('/var/lib', '/run', '/var/log'):
        subprocess.run(['mount', '-t', 'tmpfs', 'kxen-bench', d], check=True)
    for d in ('/var/lib/xen', '/run/xen', '/run/lock', '/var/log/xen'):
        os.makedirs(d, exist_ok=True)
    subprocess.run(['mount', '--bind', os.path.join(DEBS, 'usr', 'lib', 'xen-4.17'), '/usr/lib/xen-4.17'],
                   check=True)


class Host:
    def __init__(self, build, top, name):
        self.dir = os.path.join(top, name)
        os.makedirs(self.dir)
        self.socket = os.path.join(self.dir, 'privcmd')
        self.kxl_bin = os.path.join(build, 'bin', 'kxl')
        self.log = open(os.path.join(self.dir, 'kxend.log'), 'w')
        self.proc = subprocess.Popen([os.path.join(build, 'bin', 'kxend'), '--socket', self.socket,
                                      '--state-dir', os.path.join(self.dir, 'state')],
                                     stdout=self.log, stderr=self.log)
        store = os.path.join(self.dir, 'state', 'xenstored', 'socket')
        self.env = dict(os.environ, KXEN_SOCKET=self.socket, XENSTORED_PATH=store,
                        LD_LIBRARY_PATH=os.path.join(build, 'lib', 'xen') + ':' +
                        os.path.join(DEBS, 'usr', 'lib', 'x86_64-linux-gnu'))
        for _ in range(200):
            if os.path.exists(self.socket) and os.path.exists(store):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        self.run([os.path.join(XEN_BIN, 'xen-init-dom0')])

    def run(self, argv):
        r = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f'{" ".join(argv)}: exit {r.returncode}\n{r.stdout}')
        return r.stdout

    def xl(self, *args):
        return self.run([os.path.join(XEN_BIN, 'xl')] + list(args))

    def kxl(self, *args):
        return self.run([self.kxl_bin] + list(args))

    def listed(self, name):
        return any(l.split()[:1] == [name] for l in self.kxl('list').splitlines())

    def wait_gone(self, name, timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.listed(name):
                return
            time.sleep(0.01)
        raise RuntimeError(f'{name} still listed after {timeout} s')

    def wait_console(self, name, text, timeout=120):
        path = os.path.join(self.dir, 'state', 'console', f'guest-{name}.log')
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with open(path, errors='replace') as f:
                    if text in f.read():
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f'{name}: no "{text}" in its console after {timeout} s')

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def overrides(name, extra, memory):
    kernel = os.path.join(BUILD, 'guest', 'minios.elf')
    return [os.path.join(REPO, 'examples', 'minios.cfg'), f'name="{name}"', f'kernel="{kernel}"',
            f'memory={memory}', f'extra="{extra}"']


def timed(fn):
    t = time.monotonic()
    fn()
    return (time.monotonic() - t) * 1000


def main():
    global BUILD
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--memory', type=int, default=64, help='guest MiB')
    ap.add_argument('--wss', type=int, default=32, help='MiB the guest fills and rewrites (test=dirty)')
    a = ap.parse_args()
    BUILD = os.path.abspath(a.build)
    if os.geteuid() != 0:
        sys.exit('run_xl.py needs root (a mount namespace for xl\'s dom0 directories)')
    if not os.path.exists(os.path.join(XEN_BIN, 'xl')):
        sys.exit(f'no xl at {XEN_BIN}: configure the build first (scripts/debs.sh unpacks it)')
    enter_namespace()
    top = tempfile.mkdtemp(prefix='kxen-bench-xl-')
    hosts = [Host(BUILD, top, 'a'), Host(BUILD, top, 'b')]
    ha, hb = hosts
    # libxl's per-domain files share this namespace's /var/lib/xen, named by id and uuid: keep
    # the two hosts' ids apart (see tests/conformance/xl_test.cpp, XlMigrate).
    for i in range(40):
        hb.kxl('create', '-p', *overrides(f'b-pad{i}', 'test=idle', 16))
    standin = os.path.join(top, 'ssh')
    with open(standin, 'w') as f:
        f.write('#!/bin/sh\nhost=$1; shift\n'
                f'export KXEN_SOCKET=$host/privcmd XENSTORED_PATH=$host/state/xenstored/socket '
                f'PATH={XEN_BIN}:{BUILD}/bin:$PATH LD_LIBRARY_PATH={ha.env["LD_LIBRARY_PATH"]}\n'
                'exec sh -c "$*"\n')
    os.chmod(standin, 0o755)

    results = {}  # (what, tool) -> [ms]

    def add(what, tool, ms):
        results.setdefault((what, tool), []).append(ms)

    dirty = f'test=dirty rate=1 wss={a.wss} report_ms=200'
    try:
        for run in range(a.runs):
            order = ['xl', 'kxl'] if run % 2 == 0 else ['kxl', 'xl']
            log(f'run {run + 1}/{a.runs}: {" then ".join(order)}')
            for tool in order:
                cmd = ha.xl if tool == 'xl' else ha.kxl
                name = f'{tool}-r{run}'
                # Create to shutdown: the command, the guest's test, its poweroff and the
                # toolstack's monitor destroying it (on_poweroff = "destroy").
                t0 = time.monotonic()
                cmd('create', *overrides(name, 'test=hello', a.memory))
                add('create returns', tool, (time.monotonic() - t0) * 1000)
                ha.wait_gone(name)
                add('create to shutdown', tool, (time.monotonic() - t0) * 1000)
                # Save and restore of a guest that has filled its working set.
                cmd('create', *overrides(name, dirty, a.memory))
                ha.wait_console(name, ' ok\n')
                save = os.path.join(top, f'{name}.save')
                add('save', tool, timed(lambda: cmd('save', name, save)))
                add('restore', tool, timed(lambda: cmd('restore', save)))
                os.unlink(save)
                # Live migration a -> b through the same ssh stand-in.
                mig = (lambda: ha.xl('migrate', '-s', standin, name, hb.dir)) if tool == 'xl' else \
                      (lambda: ha.kxl('migrate', '-s', standin, name, hb.dir))
                add('migrate', tool, timed(mig))
                for n in (name, name + '--incoming'):
                    if hb.listed(n):
                        hb.kxl('destroy', n)
    finally:
        subprocess.run(['pkill', '-KILL', '-f', os.path.join(XEN_BIN, 'xl')])
        for h in hosts:
            h.stop()
        shutil.rmtree(top, ignore_errors=True)

    print(f'\nxl (Debian 4.17 on kxen\'s libraries) vs kxl, {a.runs} runs each, interleaved; '
          f'guest {a.memory} MiB, wss {a.wss} MiB; load {open("/proc/loadavg").read().split()[:3]}')
    print(f'{"":22} {"xl median ms":>14} {"kxl median ms":>14} {"xl/kxl":>8}')
    for what in ('create returns', 'create to shutdown', 'save', 'restore', 'migrate'):
        x = statistics.median(results[(what, 'xl')])
        k = statistics.median(results[(what, 'kxl')])
        print(f'{what:22} {x:14.1f} {k:14.1f} {x / k:8.2f}')


if __name__ == '__main__':
    main()
