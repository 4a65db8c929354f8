"""`serve` on every core: a supervisor process and its worker processes (docs/operations.md).

Purpose: with `workers: N` (N > 1; `auto` is one per usable core) `serve` runs like Postfix's
master or Rspamd's main process. The supervisor

- binds the SMTP listening socket(s) once, and the admin listener's, before any worker exists:
  a port in use stays the one-line start-up error with exit status 2;
- starts N workers as fresh interpreters (`python -m gateway serve --worker-fd FD`; spawned, not
  forked, so no event loop, thread or lock is inherited), passing the sockets and a control
  socketpair. Each worker is a complete `Gateway` (gateway/smtp/service.py) with its own runtime,
  resolver, caches and store connection; workers share only the store (SQLite in WAL mode, or
  Redis) and the kernel's accept queue of the inherited socket;
- waits until every worker has said `ready`; a worker's start-up error (policy error, store that
  cannot be opened, ...) is printed once, as the single-process gateway prints it, and exit 2;
- forwards SIGHUP to every worker (each reloads) and re-reads the reloadable keys itself, so a
  replacement worker starts with what the others run; on SIGTERM or SIGINT closes its copy of the
  listener, sends SIGTERM to every worker (each drains for `limits.shutdown_grace`) and exits 0
  when all have exited (SIGKILL to stragglers after grace + KILL_MARGIN, then exit 1);
- replaces a worker that died (kill -9, a crash) with a log line; a worker that dies young
  again and again is restarted after a doubling back-off (0.5 s up to 30 s), never in a loop.

Once, not N times: worker 0 runs the admin listener (on the supervisor's socket) and the
quarantine retention purge; a replacement worker 0 takes them over. /metrics there adds up every
worker's values (prometheus-client's multiprocess mode): the supervisor points
PROMETHEUS_MULTIPROC_DIR at a fresh temporary directory (or empties the one the operator set),
removes the live-gauge files of dead workers (`mark_process_dead`) and, if it made the
directory, removes it at exit. Each worker polls the policy files itself (cheap `stat()`s).

Why one SO_REUSEPORT socket per worker slot, all bound and kept by the supervisor: one shared
socket (pre-forked accept) was measured to put every session of a burst on ONE worker: asyncio's
accept loop takes up to `backlog` waiting connections per wake-up, so the first worker to wake
took all 20 sessions of the benchmark's load while the other sat idle. With a socket per slot
in one SO_REUSEPORT group the kernel spreads new connections over the slots by hash. The
supervisor binds them all before any worker starts (bind errors stay one line, once) and keeps
its copies open, so a slot's accept queue outlives its worker: the replacement inherits the
same socket and accepts what waited meanwhile (nothing is reset). A slot's share of connections
goes to it even while it is busy (the hash does not look at load). Where SO_REUSEPORT does not
exist, all slots share one socket as before.

Untrusted input: none (the control channel is a socketpair between this process and its own
children; nothing else can reach it).
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import Config, load_config
from gateway.errors import AdminInputError, StartupError, log_lines

log = logging.getLogger("gateway.supervisor")

READY_WAIT = 120.0  # seconds a worker may take to start (policies, reference data, store, probe)
HEALTHY_AFTER = 10.0  # a worker that ran this long before it died is replaced at once
BACKOFF_FIRST = 0.5  # then 1, 2, 4 ... seconds for a worker that keeps dying young
BACKOFF_MAX = 30.0
KILL_MARGIN = 10.0  # seconds past limits.shutdown_grace before a draining worker gets SIGKILL
_LEN = struct.Struct("!I")


def bind_listeners(config: Config, reuse_port: bool = False,
                   addresses: list[tuple[Any, ...]] | None = None, *, listen: bool = True) -> list[socket.socket]:
    """The SMTP listening sockets for `config.listen`, bound as asyncio's create_server binds
    them (every address the name resolves to, SO_REUSEADDR; SO_REUSEPORT when asked, at the
    `addresses` of an earlier group when given); StartupError (one line) if not. `listen=False`:
    bound only; the worker's server listens when it starts serving (asyncio's create_server
    calls listen), so the kernel sends the slot no connection before a worker can take it."""
    from gateway.smtp.service import LISTEN_BACKLOG, listen_error

    host, port = config.listen.host, config.listen.port
    if addresses is None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except OSError as exc:
            raise listen_error(config, exc) from exc
        wanted = [(family, kind, proto, address) for family, kind, proto, _, address in dict.fromkeys(infos)]
    else:
        wanted = [(a[0], socket.SOCK_STREAM, 0, a[1]) for a in addresses]
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, address in wanted:
            s = socket.socket(family, kind, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(address)
            if listen:
                s.listen(LISTEN_BACKLOG)
    except OSError as exc:
        for s in socks:
            s.close()
        raise listen_error(config, exc) from exc
    return socks


def bind_slot_listeners(config: Config, slots: int) -> list[list[socket.socket]]:
    """One group of listening sockets per worker slot, all in one SO_REUSEPORT group (the
    kernel spreads connections over them); one shared group where SO_REUSEPORT is missing."""
    if slots <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        shared = bind_listeners(config)
        return [shared] * max(1, slots)
    first = bind_listeners(config, reuse_port=True)
    groups = [first]
    try:
        bound = [(s.family, s.getsockname()) for s in first]  # the real port when listen.port is 0
        for _ in range(1, slots):
            groups.append(bind_listeners(config, reuse_port=True, addresses=bound))
    except BaseException:
        for g in groups:
            for s in g:
                s.close()
        raise
    return groups


def bind_admin(config: Config) -> socket.socket | None:
    from gateway.smtp.service import listen_error

    if config.admin is None:
        return None
    where = config.admin.listen
    try:
        s = socket.create_server((where.host, where.port), family=socket.AF_INET6 if ":" in where.host
                                 else socket.AF_INET, reuse_port=False)
    except OSError as exc:
        raise listen_error(config, exc, "admin.listen", where) from exc
    return s


# ------------------------------------------------------------------------------ worker side


class WorkerLink:
    """A worker's end of its control socketpair: JSON lines to the supervisor (`ready`,
    `error`, `reload`); end of file means the supervisor is gone."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, **message: Any) -> None:
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError:  # the supervisor is gone: `closed` notices
            pass

    async def closed(self) -> None:
        self.sock.setblocking(False)
        loop = asyncio.get_running_loop()
        while True:
            try:
                if not await loop.sock_recv(self.sock, 4096):
                    return
            except OSError:
                return


def run_worker(fd: int) -> int:
    """`serve --worker-fd FD`: one worker, started by the supervisor (never by hand)."""
    from gateway.log import setup_logging
    from gateway.smtp.service import Gateway

    # The supervisor sends SIGHUP only to workers that said ready (their loop handles it then);
    # Ctrl-C is the supervisor's to handle (it sends SIGTERM).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    link = WorkerLink(sock)
    try:
        spec = _receive(sock)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        print(f"approach-gateway: worker: no start message from the supervisor ({exc})", file=sys.stderr)
        return 2
    config: Config = spec["config"]
    setup_logging(config.log.level, config.log.format, pid=True)
    listeners = [socket.socket(fileno=f) for f in spec["listen"]]
    admin = socket.socket(fileno=spec["admin"]) if spec["admin"] is not None else None
    first = spec["slot"] == 0
    try:
        gateway = Gateway(config, sockets=listeners, admin_socket=admin, admin=first, housekeeping=first,
                          link=link, offload=True)
        asyncio.run(gateway.serve_forever())
    except AdminInputError as exc:  # policies, actions or reference data: every problem, one line each
        link.send(error="\n".join(exc.lines()))
        return 2
    except StartupError as exc:
        link.send(error=f"approach-gateway: {exc}")
        return 2
    return 0


def _receive(sock: socket.socket) -> dict[str, Any]:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("end of file")
            buf += chunk
        return buf
    (size,) = _LEN.unpack(exactly(_LEN.size))
    spec = pickle.loads(exactly(size))  # noqa: S301 - from our own parent process, over a socketpair
    assert isinstance(spec, dict)
    return spec


# ------------------------------------------------------------------------------ supervisor side


@dataclass
class Worker:
    slot: int
    proc: subprocess.Popen[bytes]
    link: socket.socket
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    error: str = ""
    reload_pending: bool = False
    task: asyncio.Task[None] | None = None


class Supervisor:
    """Starts, watches, signals and replaces the workers of one `serve`."""

    def __init__(self, config: Config, count: int, demo_upstream: Path | None = None) -> None:
        self.config = config
        self.count = count
        self.demo_upstream = demo_upstream
        self.workers: dict[int, Worker] = {}
        self.failures = [0] * count  # deaths in a row of each slot's workers that died young
        self.listeners: list[socket.socket] = []  # every listening socket (closed at stop)
        self.slot_listeners: list[list[socket.socket]] = []  # each worker slot's (SO_REUSEPORT group)
        self.admin: socket.socket | None = None
        self.metrics_dir: str | None = None
        self.own_metrics_dir = False
        self.stopping = False
        self.exit_status = 0
        self._restarts: dict[int, asyncio.Task[None]] = {}
        self._changed: asyncio.Event | None = None
        self._started = False  # every first worker said ready
        self._dead: list[Worker] = []  # workers that died during start-up
        self._own_slots = False  # each slot has its own sockets (SO_REUSEPORT): a slot can be vacated
        self._bound: list[tuple[Any, ...]] = []  # (family, address) of the listening sockets

    # ---- start-up ------------------------------------------------------------------------

    def main(self) -> int:
        """Run until the workers have drained; a start-up failure is one line and exit 2."""
        from gateway.demo import DemoError

        try:
            return asyncio.run(self.run())
        except (StartupError, DemoError) as exc:
            print(f"approach-gateway: {exc}", file=sys.stderr)
            return 2
        except _WorkerStartFailed as exc:
            print(str(exc), file=sys.stderr)
            return 2
        finally:
            self._cleanup()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.slot_listeners = bind_slot_listeners(self.config, self.count)
        self.listeners = list({id(s): s for g in self.slot_listeners for s in g}.values())
        self._own_slots = len({id(g[0]) for g in self.slot_listeners}) == self.count > 1
        self._bound = [(s.family, s.getsockname()) for s in self.slot_listeners[0]]
        self.admin = bind_admin(self.config)
        self._setup_metrics_dir()
        if self.demo_upstream is not None:
            from gateway.config import HostPort
            from gateway.demo import start_demo_upstream

            up = self.config.upstream
            await start_demo_upstream(HostPort(up.host, up.port), self.demo_upstream)
            log.warning("demo upstream on %s:%d delivers to the Maildir %s (for trying the gateway only)",
                        up.host, up.port, self.demo_upstream)
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            loop.add_signal_handler(sig, self._on_stop, name)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        port = self.listeners[0].getsockname()[1]
        log.info("supervisor: starting %d workers on %s:%d", self.count, self.config.listen.host, port)
        for slot in range(self.count):
            self._spawn(slot)
        await self._wait_ready()
        self._started = True
        if not self.stopping:
            log.info("supervisor: %d workers ready (pids %s)", self.count,
                     " ".join(str(w.proc.pid) for w in self.workers.values()))
        while self.workers or (self._restarts and not self.stopping):
            await self._changed.wait()
            self._changed.clear()
        return self.exit_status

    def _setup_metrics_dir(self) -> None:
        """prometheus-client's multiprocess directory for the workers (only with an admin
        listener: nothing else reads the values): the operator's, emptied, or a new one."""
        from prometheus_client import multiprocess  # noqa: F401 - fail here if missing

        from gateway.admin.metrics import MULTIPROC_ENV, check_multiprocess_dir, multiprocess_dir

        mp = multiprocess_dir()
        if mp is not None:
            check_multiprocess_dir(mp)
            stale = glob.glob(os.path.join(mp, "*.db"))
            for f in stale:
                os.unlink(f)
            if stale:
                log.info("supervisor: removed %d metrics files of an earlier run from %s", len(stale), mp)
        elif self.config.admin is not None:
            mp = tempfile.mkdtemp(prefix="approach-gateway-metrics-")
            self.own_metrics_dir = True
        self.metrics_dir = mp
        if mp is not None:
            os.environ[MULTIPROC_ENV] = mp  # inherited by the workers

    def _spawn(self, slot: int) -> None:
        if not self.slot_listeners[slot]:  # vacated (`_vacate`): fresh sockets, bound, not listening
            self.slot_listeners[slot] = bind_listeners(self.config, reuse_port=True, addresses=self._bound,
                                                       listen=False)
            self.listeners += self.slot_listeners[slot]
        parent, child = socket.socketpair()
        mine = self.slot_listeners[slot]
        fds = [s.fileno() for s in mine] + [child.fileno()]
        admin = self.admin.fileno() if self.admin is not None and slot == 0 else None
        if admin is not None:
            fds.append(admin)
        try:
            proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--worker-fd", str(child.fileno())],  # noqa: S603 - our own interpreter and module, fixed arguments
                                    pass_fds=fds, stdin=subprocess.DEVNULL, env=_worker_env())
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        spec = {"config": self.config, "slot": slot, "listen": [s.fileno() for s in mine],
                "admin": admin}
        data = pickle.dumps(spec)
        try:
            parent.sendall(_LEN.pack(len(data)) + data)
        except OSError:  # it died at once; its watcher sees the end of file
            pass
        parent.setblocking(False)
        worker = Worker(slot, proc, parent)
        self.workers[slot] = worker
        worker.task = asyncio.get_running_loop().create_task(self._watch(worker))
        log.info("supervisor: worker %d started (pid %d)", slot, proc.pid)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WAIT
        assert self._changed is not None
        while not self.stopping:
            failed = sorted([w for w in self.workers.values() if w.error] + self._dead, key=lambda w: not w.error)
            if failed:
                await self._abort_start()
                raise _WorkerStartFailed(failed[0].error or (
                    f"approach-gateway: worker {failed[0].slot} {how_it_ended(failed[0].proc.returncode)} while "
                    "starting; see the lines above"))
            if len(self.workers) == self.count and all(w.ready for w in self.workers.values()):
                return
            if time.monotonic() > deadline:
                await self._abort_start()
                raise _WorkerStartFailed(f"approach-gateway: the workers did not start within {READY_WAIT:g} s; "
                                         "see the lines above")
            try:
                await asyncio.wait_for(self._changed.wait(), 1.0)
            except TimeoutError:
                pass
            self._changed.clear()

    async def _abort_start(self) -> None:
        """One worker failed to start: stop the others (a ready one drains what it took)."""
        self.stopping = True
        for w in self.workers.values():
            _signal(w, signal.SIGTERM)
        assert self._changed is not None
        deadline = time.monotonic() + self.config.limits.shutdown_grace + KILL_MARGIN
        while self.workers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for w in self.workers.values():
            _signal(w, signal.SIGKILL)

    # ---- watching ---------------------------------------------------------------------------

    async def _watch(self, worker: Worker) -> None:
        """Read the worker's messages until end of file (it exited), then handle its death."""
        loop = asyncio.get_running_loop()
        buf = b""
        while True:
            try:
                data = await loop.sock_recv(worker.link, 4096)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._message(worker, line)
        await self._reaped(worker)
        worker.link.close()
        self._died(worker)

    def _message(self, worker: Worker, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if msg.get("ready"):
            worker.ready = True
            if self.workers.get(worker.slot) is worker and not self.stopping and self._started:
                log.info("supervisor: worker %d ready (pid %d)", worker.slot, worker.proc.pid)
            if worker.reload_pending:
                worker.reload_pending = False
                _signal(worker, signal.SIGHUP)
            if self.stopping:
                _signal(worker, signal.SIGTERM)
        elif msg.get("error"):
            worker.error = str(msg["error"])
            if self._started:
                for text in log_lines(worker.error):
                    log.error("supervisor: worker %d (pid %d) cannot start: %s", worker.slot, worker.proc.pid, text)
        elif msg.get("reload"):
            log.info("supervisor: worker %d reloaded from the console; reloading the others", worker.slot)
            self._reload(skip=worker)
        assert self._changed is not None
        self._changed.set()

    async def _reaped(self, worker: Worker) -> None:
        while worker.proc.poll() is None:
            await asyncio.sleep(0.02)

    def _died(self, worker: Worker) -> None:
        assert self._changed is not None
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        self._changed.set()
        if self.metrics_dir is not None:
            from prometheus_client import multiprocess

            try:
                multiprocess.mark_process_dead(worker.proc.pid, self.metrics_dir)
            except OSError:
                pass
        if not self._started:  # during start-up: _wait_ready reports it
            self._dead.append(worker)
            return
        if not worker.ready and not self.stopping:
            self._vacate(worker.slot)
        if self.stopping:
            if worker.proc.returncode != 0:
                log.warning("supervisor: worker %d (pid %d) %s while draining", worker.slot, worker.proc.pid,
                            how_it_ended(worker.proc.returncode))
            return
        lived = time.monotonic() - worker.started
        if worker.ready and lived >= HEALTHY_AFTER:
            self.failures[worker.slot] = 0
            delay = 0.0
        else:
            self.failures[worker.slot] += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures[worker.slot] - 1))
        young = (f"; it died {self.failures[worker.slot]} time(s) in a row within {HEALTHY_AFTER:g} s of "
                 "starting" if self.failures[worker.slot] else "")
        log.error("supervisor: worker %d (pid %d) %s after %.1f s; starting a new one in %.1f s%s",
                  worker.slot, worker.proc.pid, how_it_ended(worker.proc.returncode), lived, delay, young)
        self._restarts[worker.slot] = asyncio.get_running_loop().create_task(self._restart(worker.slot, delay))

    def _vacate(self, slot: int) -> None:
        """A slot's new worker died before it could serve (a policy or data file broken on disk, a
        crash at start): close the slot's sockets, so that the kernel sends its share of new
        connections to the other workers instead of a queue nobody takes (admin21: about half of
        the sessions got no greeting while the replacement failed again and again). What waited
        in that queue is reset: the clients try again, as after any refused connection. The next
        replacement gets fresh sockets that listen only once it serves. Only where each slot has
        sockets of its own (SO_REUSEPORT); a shared socket stays, taken by the others."""
        if not self._own_slots or not self.slot_listeners[slot] or not any(
                w.ready for w in self.workers.values() if w.slot != slot):
            return
        mine = self.slot_listeners[slot]
        self.slot_listeners[slot] = []
        self.listeners = [s for s in self.listeners if all(s is not m for m in mine)]
        for s in mine:
            s.close()
        log.warning("supervisor: worker %d has no running process: its listening socket is closed, new "
                    "connections go to the other workers until a new one serves", slot)

    async def _restart(self, slot: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if not self.stopping:
                try:
                    self._spawn(slot)
                except (OSError, StartupError) as exc:  # out of processes, descriptors, a port: later, with back-off
                    self.failures[slot] += 1
                    again = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures[slot] - 1))
                    log.error("supervisor: worker %d cannot be started (%s); trying again in %.1f s", slot, exc,
                              again)
                    self._restarts[slot] = asyncio.get_running_loop().create_task(self._restart(slot, again))
                    return
            self._restarts.pop(slot, None)
        finally:
            assert self._changed is not None
            self._changed.set()

    # ---- signals --------------------------------------------------------------------------

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %d workers", len(self.workers))
        self._reload()

    def _reload(self, skip: Worker | None = None) -> None:
        """Re-read the reloadable keys (for workers started later), then SIGHUP the workers."""
        from gateway.smtp.service import reloadable

        if not self.config.source.startswith("<"):
            try:
                self.config = reloadable(self.config, load_config(self.config.source), warn=False)
            except (AdminInputError, OSError) as exc:
                for text in log_lines(exc):
                    log.error("supervisor: reload: %s (the workers keep their running set)", text)
        for w in self.workers.values():
            if w is skip:
                continue
            if w.ready:
                _signal(w, signal.SIGHUP)
            else:
                w.reload_pending = True

    def _on_stop(self, name: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        log.info("%s: draining %d workers (grace %.0fs)", name, len(self.workers),
                 self.config.limits.shutdown_grace)
        for s in self.listeners:  # the port closes when the last worker closes its copy
            s.close()
        for task in list(self._restarts.values()):
            task.cancel()
        for w in self.workers.values():
            _signal(w, signal.SIGTERM)  # one still starting just ends (it holds no session yet)
        assert self._changed is not None
        self._changed.set()
        asyncio.get_running_loop().create_task(self._deadline())

    async def _deadline(self) -> None:
        await asyncio.sleep(self.config.limits.shutdown_grace + KILL_MARGIN)
        for w in list(self.workers.values()):
            log.error("supervisor: worker %d (pid %d) still running %.0f s after SIGTERM; SIGKILL",
                      w.slot, w.proc.pid, self.config.limits.shutdown_grace + KILL_MARGIN)
            _signal(w, signal.SIGKILL)
            self.exit_status = 1

    def _cleanup(self) -> None:
        for s in self.listeners:
            s.close()
        if self.admin is not None:
            self.admin.close()
        if self.own_metrics_dir and self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def _worker_env() -> dict[str, str]:
    """The supervisor's environment, with the folder `gateway` was imported from on PYTHONPATH
    when the interpreter would not find it there by itself (a source checkout run as a script)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)
    installed = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    if root not in installed:
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class _WorkerStartFailed(Exception):
    """A worker could not start; the message is the line to print."""


def _signal(worker: Worker, sig: int) -> None:
    try:
        worker.proc.send_signal(sig)
    except OSError:
        pass


def how_it_ended(status: int | None) -> str:
    """A child process's exit status in words ('was killed by SIGKILL', 'exited with status 2')."""
    if status is not None and status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"
