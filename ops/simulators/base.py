"""Shared plumbing of the simulated systems: generator + ledger, loopback HTTP serving, CLI.

Every simulator owns one :class:`~ops.simulators.cases.CaseGenerator` and one
:class:`~ops.simulators.ledger.Ledger`; :meth:`Simulator.emit` draws events, renders them in
the system's dialect and records each one in the ledger *when it becomes visible* on the wire
(added to the served list, inserted in the table, written in a file, pushed).
"""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from ops.simulators.cases import DATA_DEFECTS, CaseGenerator, SimEvent
from ops.simulators.ledger import Ledger

CST = timezone(timedelta(hours=8), "Asia/Shanghai")


def epoch_ms(dt: datetime | None) -> int | None:
    """Milliseconds since the epoch of a naive China-Standard-Time datetime."""
    return None if dt is None else int(dt.replace(tzinfo=CST).timestamp() * 1000)


def fmt(value: date | datetime | None, pattern: str) -> str | None:
    """``strftime`` that passes ``None`` through."""
    return None if value is None else value.strftime(pattern)


def now_cst() -> datetime:
    """Current wall-clock time in China Standard Time, naive (as the source systems store it)."""
    return datetime.now(UTC).astimezone(CST).replace(tzinfo=None)


class Simulator:
    """Base of every simulator: generator, ledger, and :meth:`emit`.

    Subclasses set ``system`` and ``department_code``, may set ``defects`` (e.g. add
    ``gb18030_in_utf8`` for file drops) and implement :meth:`publish` (make the rendered
    events visible and record them in the ledger).
    """

    system = "sim"
    department_code = "330000SIM"
    agency_kind = "综合行政执法局"
    defects: tuple[str, ...] = DATA_DEFECTS
    delete_ratio = 0.0

    def __init__(self, seed: int = 1, count: int = 100, *, bad_ratio: float = 0.05,
                 duplicate_ratio: float = 0.02, out_of_order_ratio: float = 0.02,
                 ledger_path: str | Path | None = None, defects: tuple[str, ...] | None = None, **gen_kw):
        self.generator = self.make_generator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio,
                                             defects=defects, **gen_kw)
        self.ledger = Ledger(ledger_path, system=self.system)
        self.initial_count = count
        self.lock = threading.RLock()

    def make_generator(self, seed: int, bad_ratio: float, duplicate_ratio: float, out_of_order_ratio: float,
                       *, defects: tuple[str, ...] | None = None, **kw) -> CaseGenerator:
        """The event source; extra constructor keywords arrive in ``kw``.  Default: penalty cases."""
        return CaseGenerator(seed, self.department_code, bad_ratio, duplicate_ratio, out_of_order_ratio,
                             defects=defects or self.defects, delete_ratio=self.delete_ratio,
                             agency_kind=self.agency_kind, **kw)

    def emit(self, n: int) -> list[SimEvent]:
        """Generate ``n`` more events, publish them and record them; returns them."""
        with self.lock:
            events = self.generator.take(n)
            self.publish(events)
            return events

    def publish(self, events: list[SimEvent]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self):  # pragma: no cover - abstract
        """Make the system reachable (serve, create the table, start the broker...); returns where."""
        raise NotImplementedError

    def stop(self) -> None:
        """Release what :meth:`start` acquired; subclasses release theirs first, then call this."""
        self.ledger.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class HttpSimulator(Simulator):
    """A simulator served over HTTP by uvicorn on a loopback thread.

    Subclasses implement :meth:`render` (event -> JSON-able dict in the dialect) and
    :meth:`build_app`.  Rendered rows are kept in ``self.rows`` in emission order.
    """

    def __init__(self, *args, port: int | None = None, **kw):
        super().__init__(*args, **kw)
        self.rows: list[dict] = []
        self.port = port
        self._server = None
        self.url: str | None = None
        self.emit(self.initial_count)

    def render(self, ev: SimEvent) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def build_app(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def publish(self, events: list[SimEvent]) -> None:
        for ev in events:
            self.rows.append(self.render(ev))
            self.ledger.record(ev, position=str(len(self.rows)))

    def start(self) -> str:
        """Serve on ``127.0.0.1`` (a free port unless ``port`` was given); returns the base URL."""
        from ops.threaded_server import ThreadedServer

        self._server = ThreadedServer(self.build_app(), port=self.port)
        self.url = self._server.start()
        self.port = self._server.port
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None
        super().stop()


def sim_options(args: argparse.Namespace) -> dict:
    """Constructor keywords of the options :func:`cli` parses for every simulator."""
    return {"seed": args.seed, "count": args.count, "bad_ratio": args.bad_ratio, "ledger_path": args.ledger}


def cli(factory, description: str, *, extra=None, argv=None) -> None:
    """Command line shared by all simulators: build with ``factory(args)``, start, serve until ^C.

    Common options: ``--port --seed --count --bad-ratio --ledger --grow N --interval S``
    (every ``S`` seconds emit ``N`` more events).  ``extra(parser)`` adds dialect options.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--bad-ratio", type=float, default=0.05)
    p.add_argument("--ledger", default=None, help="JSON-lines ledger file")
    p.add_argument("--grow", type=int, default=0, help="events added every --interval seconds")
    p.add_argument("--interval", type=float, default=1.0)
    if extra:
        extra(p)
    args = p.parse_args(argv)
    sim = factory(args)
    where = sim.start()
    print(f"{sim.system} simulator at {where} ({len(sim.ledger)} events; ledger {args.ledger})",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(args.interval):
            if args.grow:
                sim.emit(args.grow)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


def token_cli(simulator, default_token: str, description: str, argv=None) -> None:
    """:func:`cli` of an HTTP simulator whose only own option is its bearer ``--token``."""
    cli(lambda a: simulator(**sim_options(a), port=a.port, token=a.token), description,
        extra=lambda p: p.add_argument("--token", default=default_token), argv=argv)
