#!/usr/bin/env python3
"""Live-migration benchmark: a minios guest dirtying its RAM at 0, 50 and 200 MB/s, migrated
on this machine by QEMU (live migration to an `-incoming` QEMU) and by kxen (`kxl migrate`
between two kxend), in the same run; plus the limits a save is measured against (memcpy and
sequential disk write bandwidth) and QEMU's own save and restore. See bench/README.md.

Standard library only. Builds nothing: give it the build directory.

    bench/run_migrate.py --build build-bench [--rates 0,50,200] [--only qemu|kxen|limits|save]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT_RE = re.compile(r'^dirty: t=(\d+) gen=(\d+) rate=([\d.]+) verified=(\d+) sum=([0-9a-f]+)(?: stall=([\d.]+))? ok$')
FAIL_RE = re.compile(r'KXEN-TEST dirty FAIL.*')
MiB = 1 << 20


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


class Console:
    """A guest console log file that something else appends to, read as it grows."""

    def __init__(self, path):
        self.candidates = path if isinstance(path, list) else [path]
        self.path = self.candidates[0]
        self.lines = []  # (host time seen, text)
        self._pos = 0
        self._partial = ''

    def poll(self):
        if self._pos == 0:
            for c in self.candidates:  # the first that exists, until one has been read from
                if os.path.exists(c):
                    self.path = c
                    break
        try:
            with open(self.path, 'rb') as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return
        self._pos += len(data)
        now = time.time()
        text = self._partial + data.decode('utf-8', 'replace')
        parts = text.replace('\r', '').split('\n')
        self._partial = parts.pop()
        self.lines.extend((now, p) for p in parts)

    def reports(self):
        out = []
        for ts, line in self.lines:
            m = REPORT_RE.match(line)
            if m:
                out.append({'host_ts': ts, 't': int(m[1]), 'gen': int(m[2]), 'rate': float(m[3]),
                            'verified': int(m[4]), 'sum': m[5], 'stall_ms': float(m[6]) if m[6] else None})
        return out

    def failure(self):
        for _, line in self.lines:
            m = FAIL_RE.search(line)
            if m:
                return m[0]
        return None

    def wait_reports(self, count, timeout, alive=lambda: True):
        """Until `count` report lines are in; raises on a FAIL line, death or timeout."""
        end = time.time() + timeout
        while True:
            self.poll()
            if self.failure():
                raise RuntimeError(f'{self.path}: {self.failure()}')
            if len(self.reports()) >= count:
                return self.reports()
            if not alive():
                raise RuntimeError(f'{self.path}: guest/VMM gone; last lines: {self.tail()}')
            if time.time() > end:
                raise RuntimeError(f'{self.path}: {len(self.reports())}/{count} reports after {timeout}s; '
                                   f'last lines: {self.tail()}')
            time.sleep(0.05)

    def tail(self, n=5):
        return [line for _, line in self.lines[-n:]]


class Qmp:
    """A QMP client over a Unix socket; keeps the asynchronous events it reads."""

    def __init__(self, path, timeout=30):
        end = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self._buf = b''
        self.events = []
        self._read()  # greeting
        self.cmd('qmp_capabilities')

    def _read(self):
        while b'\n' not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError('QMP connection closed')
            self._buf += chunk
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._read()
            if 'event' in r:
                self.events.append(r)
            elif 'error' in r:
                raise RuntimeError(f'QMP {name}: {r["error"]}')
            elif 'return' in r:
                return r['return']

    def wait_event(self, name, timeout):
        end = time.time() + timeout
        while True:
            for e in self.events:
                if e['event'] == name:
                    return e
            left = end - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                r = self._read()
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(30)
            if 'event' in r:
                self.events.append(r)

    def close(self):
        self.sock.close()


def event_time(e):
    return e['timestamp']['seconds'] + e['timestamp']['microseconds'] / 1e6


class QemuGuest:
    def __init__(self, a, work, tag, rate, incoming=None, extra_append=''):
        self.log_path = os.path.join(work, f'{tag}.console')
        self.qmp_path = os.path.join(work, f'{tag}.qmp')
        self.stderr_path = os.path.join(work, f'{tag}.stderr')
        append = f'test=dirty rate={rate} wss={a.wss} report_ms={a.report_ms} {extra_append}'.strip()
        argv = [a.qemu, '-accel', a.qemu_accel] + (['-cpu', 'max'] if a.qemu_accel == 'tcg' else []) + [
                '-M', a.machine, '-nodefaults', '-m', str(a.memory),
                '-display', 'none', '-no-reboot', '-kernel', a.kernel, '-append', append,
                '-serial', f'file:{self.log_path}', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                '-qmp', f'unix:{self.qmp_path},server=on,wait=off']
        if incoming:
            argv += ['-incoming', incoming]
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, 'wb'))
        self.console = Console(self.log_path)
        self.qmp = Qmp(self.qmp_path)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            try:
                self.qmp.cmd('quit')
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.qmp.close()


def ram_stats(info):
    ram = info.get('ram', {})
    return {k: ram.get(k) for k in ('transferred', 'total', 'duplicate', 'normal', 'normal-bytes', 'mbps',
                                    'dirty-sync-count', 'dirty-pages-rate', 'precopy-bytes',
                                    'downtime-bytes')}


def after_migration(a, dest_console, alive, before):
    """The destination must go on reporting `ok`; with rolling verification it takes 8 reports
    (plus the one in progress) before every page was read again and the checksum compared."""
    reps = dest_console.wait_reports(a.verify_reports, a.verify_reports * a.report_ms / 1000 * 3 + 30, alive)
    last_src = before[-1]
    first_dst = reps[0]
    res = {'dst_reports': len(reps), 'dst_first_t': first_dst['t'], 'src_last_t': last_src['t'],
           'dst_rate': reps[-1]['rate'], 'verified': 'ok',
           # The first report on the destination covers the switch-over: its stall is the
           # downtime as the guest saw it, where its clock runs on through it (kxen).
           'guest_stall_ms': first_dst.get('stall_ms')}
    if first_dst['t'] < last_src['t']:
        raise RuntimeError(f'guest time went back: source t={last_src["t"]}, destination t={first_dst["t"]}')
    return res


def run_qemu(a, work, rate):
    mig = os.path.join(work, 'mig.sock')
    src = QemuGuest(a, work, f'qemu-src-{rate}', rate)
    dst = None
    try:
        before = src.console.wait_reports(1, a.fill_timeout, src.alive)
        dst = QemuGuest(a, work, f'qemu-dst-{rate}', rate, incoming=f'unix:{mig}')
        q = src.qmp
        q.cmd('migrate-set-capabilities', capabilities=[{'capability': 'events', 'state': True}])
        q.cmd('migrate-set-parameters', **{'downtime-limit': a.downtime_ms, 'max-bandwidth': a.max_bandwidth})
        src.console.poll()
        before = src.console.reports()
        t0 = time.time()
        q.cmd('migrate', uri=f'unix:{mig}')
        info = {}
        while True:
            info = q.cmd('query-migrate')
            if info.get('status') in ('completed', 'failed', 'cancelled'):
                break
            if time.time() - t0 > a.migrate_timeout:
                q.cmd('migrate_cancel')
                info = q.cmd('query-migrate')
                info['status'] = 'not converged (cancelled after %ds)' % a.migrate_timeout
                break
            time.sleep(0.02)
        # QEMU 7.2 sets 'completed' before it computes total-time and downtime (the migration
        # thread's migration_calculate_complete); a query in between reads them as 0.
        for _ in range(200):
            if info.get('status') != 'completed' or info.get('total-time'):
                break
            time.sleep(0.01)
            info = q.cmd('query-migrate')
        wall = time.time() - t0
        done = q.wait_event('MIGRATION', 0)  # the first one is 'setup'; look for the last
        for e in q.events:
            if e['event'] == 'MIGRATION' and e['data']['status'] == info.get('status'):
                done = e
        if done and done['data']['status'] == info.get('status'):
            wall = event_time(done) - t0
        res = {'vmm': 'qemu', 'rate': rate, 'status': info.get('status'),
               'total_ms': info.get('total-time'), 'downtime_ms': info.get('downtime'),
               'setup_ms': info.get('setup-time'), 'wall_ms': round(wall * 1000)}
        res.update(ram_stats(info))
        if info.get('status') != 'completed':
            res['error'] = info.get('error-desc', res['status'])
            return res
        # Host-observed downtime: from the source's STOP to the destination's RESUME (QMP event
        # timestamps, same host clock).
        stop = q.wait_event('STOP', 5)
        resume = dst.qmp.wait_event('RESUME', 30)
        if stop and resume:
            res['host_downtime_ms'] = round((event_time(resume) - event_time(stop)) * 1000, 1)
        src.console.poll()
        before = src.console.reports() or before
        res.update(after_migration(a, dst.console, dst.alive, before))
        if rate == 0:
            # Nothing writes: the checksum of the whole working set must not change.
            sums = {r['sum'] for r in src.console.reports() + dst.console.reports()}
            if len(sums) != 1:
                raise RuntimeError(f'rate 0 but the checksum changed: {sorted(sums)}')
        return res
    finally:
        for g in (src, dst):
            if g:
                g.stop()


# ---- kxen ------------------------------------------------------------------------------

class Kxend:
    def __init__(self, a, work, tag):
        self.dir = os.path.join(work, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, 'privcmd')
        self.state = os.path.join(self.dir, 'state')
        argv = [os.path.join(a.bin, 'kxend'), '--socket', self.socket, '--state-dir', self.state,
                '--accel', a.accel] + a.kxend_arg
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.dir, 'kxend.log'), 'wb'), stderr=subprocess.STDOUT)
        end = time.time() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.time() > end:
                raise RuntimeError(f'kxend {tag} did not start; see {self.dir}/kxend.log')
            time.sleep(0.025)

    def _answers(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def kxl(self, a, *args, timeout=600):
        env = dict(os.environ, KXEN_SOCKET=self.socket)
        return subprocess.run([os.path.join(a.bin, 'kxl')] + list(args), env=env, capture_output=True, text=True,
                              timeout=timeout)

    def console(self, name):
        # kxend names the log after the domain's name at creation: a domain that arrived by
        # migration was created as <name>--incoming and then renamed.
        d = os.path.join(self.state, 'console')
        return Console([os.path.join(d, f'guest-{name}.log'), os.path.join(d, f'guest-{name}--incoming.log')])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


MIGRATE_DONE_RE = re.compile(r'migrate: done (.*)')
SAVE_DONE_RE = re.compile(r'save: done (.*)')


def parse_kv(text):
    out = {}
    for kv in text.split():
        k, _, v = kv.partition('=')
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def kxl_has(a, sub):
    """kxl migrate/save/restore arrive with kxen's save/restore work; until then their rows are
    skipped."""
    r = subprocess.run([os.path.join(a.bin, 'kxl'), '--help'], capture_output=True, text=True)
    return re.search(rf'^\s*{sub}\s', r.stdout + r.stderr, re.M) is not None


def run_kxen(a, work, rate):
    """The kxen row for one rate: the same guest (same image, memory, working set and rate) on
    one kxend, `kxl migrate --live` to a second kxend on this machine (dest = its privcmd
    socket), whose last line is `migrate: done total_ms=.. downtime_ms=.. bytes=.. iterations=..`;
    then the guest must go on verifying on the destination, as for QEMU."""
    src = Kxend(a, work, f'kxend-src-{rate}')
    dst = Kxend(a, work, f'kxend-dst-{rate}')
    name = f'dirty{rate}'
    try:
        extra = f'test=dirty rate={rate} wss={a.wss} report_ms={a.report_ms}'
        r = src.kxl(a, 'create', os.path.join(REPO, 'examples', 'minios.cfg'), f'name="{name}"',
                    f'kernel="{a.kernel}"', f'memory={a.memory}', f'extra="{extra}"')
        if r.returncode != 0:
            raise RuntimeError(f'kxl create: {r.stdout}{r.stderr}')
        src_console = src.console(name)
        src_console.wait_reports(1, a.fill_timeout, src.alive)
        t0 = time.time()
        r = src.kxl(a, 'migrate', '--live', '--downtime', str(a.downtime_ms), name, dst.socket,
                    timeout=a.migrate_timeout + 60)
        wall = time.time() - t0
        res = {'vmm': 'kxen', 'rate': rate, 'wall_ms': round(wall * 1000)}
        m = None
        for line in (r.stdout + r.stderr).splitlines():
            m = MIGRATE_DONE_RE.search(line) or m
        if r.returncode != 0 or not m:
            res['status'] = 'failed'
            res['error'] = (r.stdout + r.stderr).strip().splitlines()[-3:]
            return res
        res['status'] = 'completed'
        res.update(parse_kv(m[1]))
        res['transferred'] = res.get('bytes')
        src_console.poll()
        res.update(after_migration(a, dst.console(name), dst.alive, src_console.reports()))
        return res
    finally:
        for h in (src, dst):
            h.kxl(a, 'destroy', name)
            h.stop()


# ---- save limits ---------------------------------------------------------------------

def memcpy_bandwidth(size, runs=3):
    """Python's bytearray slice assignment is one memcpy; the first copy faults the pages in."""
    src = bytearray(b'\xa5') * size
    dst = bytearray(size)
    dst[:] = src
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        dst[:] = src
        dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    del src, dst
    return size / best


def disk_write_bandwidth(path, size, chunk=4 * MiB):
    """Sequential write of `size` bytes then fdatasync, as a save file is written."""
    buf = os.urandom(chunk)  # not zeros: nothing on the way may compress or skip them
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t = time.perf_counter()
        done = 0
        while done < size:
            done += os.write(fd, buf)
        t_buffered = time.perf_counter() - t
        os.fdatasync(fd)
        t_synced = time.perf_counter() - t
    finally:
        os.close(fd)
        os.unlink(path)
    return done / t_buffered, done / t_synced


def qemu_save(a, work):
    """QEMU's save: stop the guest, migrate to `exec:cat > file` (7.2 has no file: URI), fdatasync;
    then restore into a fresh QEMU from `exec:cat file` and check the guest still verifies."""
    path = os.path.join(a.save_dir, f'kxen-bench-qemu-save-{os.getpid()}.img')
    g = QemuGuest(a, work, 'qemu-save', 0)
    dst = None
    try:
        before = g.console.wait_reports(1, a.fill_timeout, g.alive)
        q = g.qmp
        q.cmd('migrate-set-parameters', **{'max-bandwidth': a.max_bandwidth})
        t0 = time.time()
        q.cmd('stop')
        q.cmd('migrate', uri=f'exec:cat > {path}')
        while True:
            info = q.cmd('query-migrate')
            if info.get('status') in ('completed', 'failed', 'cancelled'):
                break
            time.sleep(0.01)
        t_done = time.time()
        for _ in range(200):  # see run_qemu
            if info.get('status') != 'completed' or info.get('total-time'):
                break
            time.sleep(0.01)
            info = q.cmd('query-migrate')
        fd = os.open(path, os.O_RDONLY)
        os.fdatasync(fd)
        os.close(fd)
        t_synced = time.time()
        size = os.path.getsize(path)
        res = {'status': info.get('status'), 'file_bytes': size, 'total_ms': info.get('total-time'),
               'save_ms': round((t_done - t0) * 1000), 'save_synced_ms': round((t_synced - t0) * 1000)}
        res.update(ram_stats(info))
        g.stop()
        g = None
        subprocess.run(['sh', '-c', 'sync'], check=False)
        t0 = time.time()
        dst = QemuGuest(a, work, 'qemu-restore', 0, incoming=f'exec:cat {path}')
        # The guest was stopped when saved, so it comes back paused: wait for the stream to be
        # loaded, then continue it.
        while True:
            st = dst.qmp.cmd('query-status')['status']
            if st != 'inmigrate':
                break
            if time.time() - t0 > a.migrate_timeout or not dst.alive():
                raise RuntimeError(f'restore did not finish: {st}')
            time.sleep(0.01)
        res['restore_ms'] = round((time.time() - t0) * 1000)
        res['restore_status'] = st
        dst.qmp.cmd('cont')
        res.update({'restore_' + k: v for k, v in after_migration(a, dst.console, dst.alive, before).items()})
        return res
    finally:
        for x in (g, dst):
            if x:
                x.stop()
        if os.path.exists(path):
            os.unlink(path)


def kxen_save(a, work):
    """`kxl save <dom> <file>` of the same guest as qemu_save (rate 0, after its fill), timed
    until kxl exits, then fdatasync; then `kxl restore <file>` on a second kxend, which must go on
    verifying."""
    path = os.path.join(a.save_dir, f'kxen-bench-kxen-save-{os.getpid()}.img')
    src = Kxend(a, work, 'kxend-save')
    dst = None
    name = 'dirtysave'
    try:
        extra = f'test=dirty rate=0 wss={a.wss} report_ms={a.report_ms}'
        r = src.kxl(a, 'create', os.path.join(REPO, 'examples', 'minios.cfg'), f'name="{name}"',
                    f'kernel="{a.kernel}"', f'memory={a.memory}', f'extra="{extra}"')
        if r.returncode != 0:
            raise RuntimeError(f'kxl create: {r.stdout}{r.stderr}')
        con = src.console(name)
        before = con.wait_reports(1, a.fill_timeout, src.alive)
        t0 = time.time()
        r = src.kxl(a, 'save', name, path)
        t_done = time.time()
        if r.returncode != 0:
            raise RuntimeError(f'kxl save: {r.stdout}{r.stderr}')
        m = SAVE_DONE_RE.search(r.stdout + r.stderr)
        reported = parse_kv(m[1]) if m else {}
        fd = os.open(path, os.O_RDONLY)
        os.fdatasync(fd)
        os.close(fd)
        t_synced = time.time()
        res = {'status': 'completed', 'file_bytes': os.path.getsize(path),
               'save_ms': round((t_done - t0) * 1000), 'save_synced_ms': round((t_synced - t0) * 1000),
               'reported': reported}
        dst = Kxend(a, work, 'kxend-restore')
        t0 = time.time()
        r = dst.kxl(a, 'restore', '-e', path)
        res['restore_ms'] = round((time.time() - t0) * 1000)
        if r.returncode != 0:
            raise RuntimeError(f'kxl restore: {r.stdout}{r.stderr}')
        con.poll()
        res.update({'restore_' + k: v for k, v in
                    after_migration(a, dst.console(name), dst.alive, con.reports() or before).items()})
        return res
    finally:
        for h in (src, dst):
            if h:
                h.kxl(a, 'destroy', name)
                h.stop()
        if os.path.exists(path):
            os.unlink(path)


def print_save(what, s):
    if s and s.get('status') == 'completed':
        print(f'{what}: {s["file_bytes"] / MiB:.0f} MiB in {s["save_ms"]} ms '
              f'({s["file_bytes"] / 1e3 / s["save_ms"]:.0f} MB/s), {s["save_synced_ms"]} ms with fdatasync '
              f'({s["file_bytes"] / 1e3 / s["save_synced_ms"]:.0f} MB/s); restore {s["restore_ms"]} ms, then '
              f'{s["restore_dst_reports"]} reports ok')
    elif s:
        print(f'{what}: {s}')


# ---- report ------------------------------------------------------------------------------

def fmt_mib(b):
    return '-' if b is None else f'{b / MiB:.0f}'


def fmt(v, unit=''):
    return '-' if v is None else f'{v}{unit}'


def print_table(rows):
    print()
    print('| run | VMM | dirty MB/s | status | total ms | downtime ms (reported) | downtime ms (host: STOP to RESUME) '
          '| guest stall ms | setup ms | MiB sent | iterations | MB/s on the wire | guest after |')
    print('|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for r in rows:
        iters = r.get('dirty-sync-count', r.get('iterations'))
        total = r.get('total_ms')
        sent = r.get('transferred')
        wire = f'{sent / 1e6 / (total / 1000):.0f}' if sent and total else '-'
        after = r.get('verified', r.get('error', '-'))
        if r.get('verified'):
            after = f"{r['dst_reports']} reports ok, t {r['src_last_t']}->{r['dst_first_t']} ms"
        print(f"| {r.get('run', 1)} | {r['vmm']} | {r['rate']} | {r.get('status')} | {fmt(total)} | {fmt(r.get('downtime_ms'))} | "
              f"{fmt(r.get('host_downtime_ms'))} | {fmt(r.get('guest_stall_ms'))} | {fmt(r.get('setup_ms'))} | {fmt_mib(sent)} | {fmt(iters)} | "
              f"{wire} | {after} |")


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def print_summary(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r['vmm'], r['rate']), []).append(r)
    print()
    print('| VMM | dirty MB/s | completed | total ms | downtime ms (reported) | downtime ms (host) '
          '| guest stall ms | MiB sent | iterations |')
    print('|---|---:|---:|---|---|---|---|---:|---:|')

    def rng(rs, key, nd=0):
        v = [r.get(key) for r in rs if r.get(key) is not None]
        if not v:
            return '-'
        m = median(v)
        return f'{m:.{nd}f} ({min(v):.{nd}f}-{max(v):.{nd}f})' if len(v) > 1 else f'{m:.{nd}f}'

    for (vmm, rate), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ok = [r for r in rs if r.get('status') == 'completed' and r.get('verified') == 'ok']
        sent = median([r.get('transferred') for r in ok])
        iters = median([r.get('dirty-sync-count', r.get('iterations')) for r in ok])
        print(f"| {vmm} | {rate} | {len(ok)}/{len(rs)} | {rng(ok, 'total_ms')} | {rng(ok, 'downtime_ms')} | "
              f"{rng(ok, 'host_downtime_ms', 1)} | {rng(ok, 'guest_stall_ms', 1)} | {fmt_mib(sent)} | {fmt(iters)} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--build', default='build', help='build directory (bin/kxend, bin/kxl, guest/minios.elf)')
    p.add_argument('--kernel', help='guest image (default BUILD/guest/minios.elf)')
    p.add_argument('--qemu', default='qemu-system-x86_64')
    p.add_argument('--machine', default='microvm', help='QEMU machine (microvm: no firmware, no PCI; or pc)')
    p.add_argument('--rates', default='0,50,200', help='MB/s, comma separated')
    p.add_argument('--runs', type=int, default=1, help='repetitions (the summary gives median, min-max)')
    p.add_argument('--memory', type=int, default=1024, help='guest MiB')
    p.add_argument('--wss', type=int, default=960, help='working set MiB')
    p.add_argument('--report-ms', type=int, default=1000)
    p.add_argument('--verify-reports', type=int, default=9,
                   help='reports the destination must print (9: one whole rolling pass and its checksum)')
    p.add_argument('--downtime-ms', type=int, default=300, help="QEMU's downtime-limit (its default)")
    p.add_argument('--max-bandwidth', type=int, default=100 << 30, help='QEMU max-bandwidth, bytes/s (~unlimited)')
    p.add_argument('--migrate-timeout', type=int, default=180, help='s, then the migration is cancelled')
    p.add_argument('--fill-timeout', type=int, default=300, help='s for the guest to fill its working set')
    p.add_argument('--only', action='append', choices=['qemu', 'kxen', 'limits', 'save'],
                   help='run only these parts (repeatable); default all')
    p.add_argument('--save-dir', default='/var/tmp', help='where the disk test and QEMU save write (local disk)')
    p.add_argument('--accel', default='auto',
                   help='kxend --accel: auto (KVM if /dev/kvm works, else the software vCPU), kvm or soft')
    p.add_argument('--qemu-accel', help='QEMU -accel: kvm or tcg (default: kvm if /dev/kvm works, else tcg -cpu max)')
    p.add_argument('--kxend-arg', action='append', default=[], help='extra kxend argument (repeatable)')
    p.add_argument('--json', help='also write all results here')
    p.add_argument('--keep', action='store_true', help='keep the work directory (consoles, logs)')
    a = p.parse_args()
    a.bin = os.path.join(a.build, 'bin')
    a.kernel = os.path.abspath(a.kernel or os.path.join(a.build, 'guest', 'minios.elf'))
    parts = set(a.only or ['qemu', 'kxen', 'limits', 'save'])
    rates = [int(r) for r in a.rates.split(',')]

    # Without /dev/kvm both run on their software CPUs: kxend's software vCPU, QEMU's TCG.
    kvm = os.access('/dev/kvm', os.R_OK | os.W_OK)
    a.qemu_accel = a.qemu_accel or ('kvm' if kvm else 'tcg')
    if a.accel == 'auto':
        a.accel = 'kvm' if kvm else 'soft'  # as kxend resolves it
    if not os.path.exists(a.kernel):
        print(f'{a.kernel}: no such guest image (build minios first)', file=sys.stderr)
        return 1
    need_qemu = parts & {'qemu', 'save'}
    if need_qemu and not shutil.which(a.qemu):
        print(f'SKIPPED: {a.qemu} not found')
        return 0
    kxen = 'kxen' in parts and kxl_has(a, 'migrate')
    if 'kxen' in parts and not kxen:
        log('kxl has no migrate subcommand yet: the kxen rows are skipped')

    work = tempfile.mkdtemp(prefix='kxen-bench-migrate-')
    results = {'load_start': loadavg(), 'rows': [], 'args': vars(a)}
    log(f'work dir {work}; load average {results["load_start"]}')
    try:
        # Same guest, same rate, one VMM right after the other, rates and runs interleaved, so
        # that a busy moment on the host hits both alike.
        for run in range(1, a.runs + 1):
            for rate in rates:
                for vmm, fn, on in (('qemu', run_qemu, 'qemu' in parts), ('kxen', run_kxen, kxen)):
                    if not on:
                        continue
                    log(f'run {run}: {vmm}, {rate} MB/s')
                    # Fresh directories every time: a console log left by an earlier run would
                    # pass for this guest's reports.
                    rwork = os.path.join(work, f'run{run}')
                    os.makedirs(rwork, exist_ok=True)
                    try:
                        row = fn(a, rwork, rate)
                    except Exception as e:
                        row = {'vmm': vmm, 'rate': rate, 'status': 'error', 'error': str(e)}
                    row['run'] = run
                    results['rows'].append(row)
                    log(f'  {row}')
        if 'limits' in parts:
            log('memcpy and disk bandwidth')
            results['memcpy_bytes_per_s'] = memcpy_bandwidth(1 << 30)
            disk = [disk_write_bandwidth(os.path.join(a.save_dir, f'kxen-bench-disk-{os.getpid()}.tmp'), 1 << 30)
                    for _ in range(3)]
            results['disk_write_bytes_per_s'] = median([d[0] for d in disk])
            results['disk_write_synced_bytes_per_s'] = median([d[1] for d in disk])
            results['disk_write_synced_range'] = (min(d[1] for d in disk), max(d[1] for d in disk))
        if 'save' in parts:
            log('qemu save/restore')
            try:
                results['qemu_save'] = qemu_save(a, work)
            except Exception as e:
                results['qemu_save'] = {'status': 'error', 'error': str(e)}
            log(f'  {results["qemu_save"]}')
            if kxl_has(a, 'save') and kxl_has(a, 'restore'):
                log('kxen save/restore')
                try:
                    results['kxen_save'] = kxen_save(a, work)
                except Exception as e:
                    results['kxen_save'] = {'status': 'error', 'error': str(e)}
                log(f'  {results["kxen_save"]}')
            else:
                log('kxl has no save/restore yet: the kxen save row is skipped')
    finally:
        results['load_end'] = loadavg()
        if a.keep:
            log(f'kept {work}')
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f'\nguest: {a.memory} MiB, test=dirty wss={a.wss} MiB, kxend --accel {a.accel}, QEMU -accel '
          f'{a.qemu_accel} -M {a.machine}, downtime-limit '
          f'{a.downtime_ms} ms, max-bandwidth {a.max_bandwidth} B/s; load average {results["load_start"]} at the '
          f'start, {results["load_end"]} at the end')
    if results['rows']:
        print_table(results['rows'])
        if a.runs > 1:
            print_summary(results['rows'])
    if 'memcpy_bytes_per_s' in results:
        lo, hi = results['disk_write_synced_range']
        print(f'\nmemcpy 1 GiB (best of 3): {results["memcpy_bytes_per_s"] / 1e6:.0f} MB/s; sequential write 1 GiB '
              f'to {a.save_dir} (median of 3): {results["disk_write_bytes_per_s"] / 1e6:.0f} MB/s into the page '
              f'cache, {results["disk_write_synced_bytes_per_s"] / 1e6:.0f} MB/s with fdatasync '
              f'({lo / 1e6:.0f}-{hi / 1e6:.0f})')
    print_save('QEMU save (stop, migrate exec:cat > file; restore: -incoming exec:cat file until loaded)',
               results.get('qemu_save'))
    print_save('kxen save (kxl save; restore: kxl restore on a second kxend)', results.get('kxen_save'))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1, default=str)
    bad = [r for r in results['rows'] if r.get('status') != 'completed' or r.get('verified') != 'ok']
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
