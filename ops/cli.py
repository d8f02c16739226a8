"""The ``hub`` command: one entry point for operators, developers and CI.

Each sub-command is a small function taking the parsed arguments and the
settings; the table ``COMMANDS`` is the registry of them (no import magic).
Exit codes: 0 success, 1 a check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import ValidationError

from ops.demo.options import add_arguments as add_demo_arguments
from ops.settings import HubSettings


def _print(obj, as_json: bool, table=None) -> None:
    if as_json:
        print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
    elif table:
        table(obj)
    else:
        print(obj)


def cmd_config(args, settings: HubSettings) -> int:
    masked = settings.masked()
    if args.json:
        _print(masked, True)
    else:
        for key, value in masked.items():
            print(f"HUB_{key.upper():<34} {value}")
    return 0


def cmd_broker(args, settings: HubSettings) -> int:
    import signal
    import threading

    from ops.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=args.port or settings.broker_port, log_path=settings.var_dir / "tansu.log")
    bootstrap = broker.start()
    print(bootstrap, flush=True)
    print(f"# embedded Tansu broker (in-memory: data is lost on stop). export HUB_KAFKA_BOOTSTRAP={bootstrap}",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not broker.alive():
                print("hub: embedded broker exited unexpectedly", file=sys.stderr)
                return 1
    finally:
        broker.stop()
    return 0


def cmd_api(args, settings: HubSettings) -> int:
    import uvicorn

    from hub_api.main import create_app
    from ops.logging import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    uvicorn.run(app, host=args.host or settings.api_host, port=args.port or settings.api_port,
                log_level="warning", access_log=False)
    return 0


def _admin(settings: HubSettings):
    from kafka import KafkaAdminClient

    if not settings.kafka_bootstrap:
        raise SystemExit("hub: set HUB_KAFKA_BOOTSTRAP (or run `hub broker` and export its address)")
    return KafkaAdminClient(**settings.kafka_client_config(), client_id=f"{settings.kafka_client_id}-admin",
                            request_timeout_ms=10000)


def cmd_topics(args, settings: HubSettings) -> int:
    from topics import provision
    from topics.catalog import CATALOG

    if args.action == "list" and args.offline:
        rows = [{"name": s.name, "partitions": s.partitions, "cleanup_policy": s.cleanup_policy,
                 "value_schema": s.value_schema, "key_field": s.key_field, "owner": s.owner, "level": s.level}
                for s in CATALOG.values()]
        _print(rows, args.json, _topic_table)
        return 0
    admin = _admin(settings)
    try:
        if args.action == "apply":
            reports = provision.apply(admin, replication_factor=settings.topic_replication_factor)
        else:
            reports = provision.plan(admin)
    finally:
        admin.close()
    rows = []
    for r in reports:
        spec = CATALOG[r.name]
        rows.append({**r.to_dict(), "cleanup_policy": spec.cleanup_policy, "value_schema": spec.value_schema,
                     "key_field": spec.key_field, "owner": spec.owner, "level": spec.level})
    _print(rows, args.json, _topic_table)
    return 1 if any(r.status in ("drift", "missing") for r in reports) and args.action == "apply" and args.strict else 0


def _topic_table(rows) -> None:
    for r in rows:
        status = r.get("status", "")
        print(f"{r['name']:<28} {status:<8} p={r.get('partitions')!s:<3} {r['cleanup_policy']:<8} "
              f"{r['level']:<3} {r['value_schema']}")
        for d in r.get("details") or []:
            print(f"    drift: {d}")


def cmd_schemas(args, settings: HubSettings) -> int:
    from topics import subjects

    standard = subjects.standard_subjects(args.dir)
    if args.action == "list":
        rows = [{"subject": s, "record": r} for s, (r, _text) in standard.items()]
        _print(rows, args.json, lambda rs: [print(f"{x['subject']:<60} {x['record']}") for x in rs])
        return 0
    client = subjects.registry_client(settings, args.url)
    if args.action == "register":
        results = subjects.register_all(client, standard)
    else:
        results = subjects.check_all(client, standard)
    _print(results, args.json, subjects.print_results)
    return 1 if any(r["status"] in ("incompatible", "error") for r in results) else 0


def cmd_clients(args, settings: HubSettings) -> int:
    from hub_api.auth import service
    from hub_api.db import Database

    db = Database(settings.database_url)
    db.create_schema()
    try:
        if args.action == "create":
            try:
                out = service.cli_create(db, settings, args.name, args.kind, args.scopes or [],
                                         department_code=args.department)
            except ValueError as exc:
                print(f"hub: {exc}", file=sys.stderr)
                return 2
            if args.json:
                _print(out, True)
            else:
                print(f"client_id:     {out['id']}\nclient_secret: {out['secret']}\n"
                      f"scopes:        {' '.join(out['scopes'])}\n(the secret is shown only now)")
        elif args.action == "list":
            _print(service.cli_list(db, settings), args.json,
                   lambda rows: [print(f"{r['id']:<28} {r['kind']:<10} {'REVOKED' if r.get('revoked_at') else 'active':<8} "
                                       f"{r['name']}  [{' '.join(r['scopes'])}]") for r in rows])
        else:
            if not service.cli_revoke(db, settings, args.client_id):
                print(f"hub: no active client {args.client_id!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.client_id}")
    finally:
        db.dispose()
    return 0


def cmd_connect(args, settings: HubSettings) -> int:
    from connectors.worker import run_worker

    if args.lease_ttl < 1.0:
        print("hub: --lease-ttl must be at least 1 second", file=sys.stderr)
        return 2
    return run_worker(settings, host=args.host, port=args.port, worker_id=args.worker_id, lease_ttl=args.lease_ttl)


def cmd_process(args, settings: HubSettings) -> int:
    from processors.app import run

    if args.processors:
        settings = settings.model_copy(update={"processors": args.processors})
    if args.port:
        settings = settings.model_copy(update={"processor_port": args.port})
    return run(settings)


def cmd_dlq(args, settings: HubSettings) -> int:
    from connectors import dlq_tool

    if args.action == "list":
        rows = dlq_tool.list_dead_letters(settings, args.connector)
        _print(rows, args.json, lambda rs: [
            print(f"{r['connector']:<32} total={r['total']:<6} pending={r['pending']:<6} replayed={r['replayed']}\n"
                  + "".join(f"    {k:<40} {n} pending\n" for k, n in r["pending_by_reason"].items()), end="")
            for r in rs] or print("no dead-letter topics"))
        return 0
    if args.action == "show":
        if args.raw:
            print("hub: --raw prints dead-letter values, which may hold personal data", file=sys.stderr)
        rows = dlq_tool.show_dead_letters(settings, args.connector, limit=args.limit, reason=args.reason, raw=args.raw)
        _print(rows, args.json, lambda rs: [print(dlq_tool.dumps(r)) for r in rs])
        return 0
    return _dlq_replay(args, settings)


def _dlq_replay(args, settings: HubSettings) -> int:
    from connectors import dlq_sink_replay, dlq_tool
    from topics import subjects
    from topics.transport import make_producer

    sink = None
    try:
        try:
            source = dlq_tool.source_from_store(settings, args.connector)
        except dlq_tool.SinkConnectorError as exc:  # re-delivered to its destination instead
            sink = dlq_sink_replay.sink_from_registered(settings, exc.registered)
    except (LookupError, ValueError) as exc:
        print(f"hub: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    registry = subjects.registry_client(settings)
    try:
        if sink is not None:
            report = dlq_sink_replay.replay_sink(settings, args.connector, sink, registry=registry,
                                                 reason=args.reason, dry_run=args.dry_run)
        else:
            with make_producer(settings) as producer:
                report = dlq_tool.replay(settings, args.connector, source, producer=producer, registry=registry,
                                         reason=args.reason, dry_run=args.dry_run)
    finally:
        registry.close()
    _print(report.to_dict(), args.json, lambda r: print(dlq_tool.format_summary(report)))
    return 1 if report.failed_delivery else 0


def cmd_demo(args, settings: HubSettings) -> int:
    if args.check:
        from ops.demo.check import run_check

        return run_check(settings, args)
    from ops.demo.run import run_demo

    return run_demo(settings, args)


def cmd_federation(args, settings: HubSettings) -> int:
    from hub_api.federation.cli import run

    return run(args, settings)


def cmd_rules(args, settings: HubSettings) -> int:
    from processors.triage import cli as triage_cli

    try:
        code, results = triage_cli.run(args.file, args.rules)
    except (OSError, ValueError) as exc:
        print(f"hub rules: {exc}", file=sys.stderr)
        return 2
    _print(results, args.json, lambda r: print(triage_cli.render(r)))
    return code


def cmd_up(args, settings: HubSettings) -> int:
    from ops.up import run_up

    return run_up(settings, args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="Supervision Integration Hub (互聯網+監管)")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("config", help="print the effective settings (secrets masked)")
    sp.add_argument("--json", action="store_true")

    sp = sub.add_parser("broker", help="run the embedded Tansu broker only; prints its bootstrap address")
    sp.add_argument("--port", type=int, help="listen port (default: a free one)")

    sp = sub.add_parser("api", help="run the hub API (uvicorn)")
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)

    sp = sub.add_parser("topics", help="the topic catalog: apply it to the broker or list it")
    sp.add_argument("action", choices=["apply", "list"])
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--offline", action="store_true", help="list the catalog without contacting the broker")
    sp.add_argument("--strict", action="store_true", help="apply: exit 1 if any topic drifted")

    sp = sub.add_parser("schemas", help="the Avro data standard: list, register, or check against the registry")
    sp.add_argument("action", choices=["list", "check", "register"])
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--dir", help="schema directory (default: the installed schemas/avro)")
    sp.add_argument("--url", help="registry URL (default: HUB_REGISTRY_URL or this hub's /registry)")

    sp = sub.add_parser("clients", help="manage API clients on the configured database (local admin)")
    csub = sp.add_subparsers(dest="action", required=True)
    c = csub.add_parser("create")
    c.add_argument("name")
    c.add_argument("--kind", default="service",
                   choices=["operator", "department", "connector", "peer", "service"])
    c.add_argument("--scopes", nargs="*", help="scopes to grant (default: none; operator: all)")
    c.add_argument("--department", help="department code the client acts for")
    c.add_argument("--json", action="store_true")
    c = csub.add_parser("list")
    c.add_argument("--json", action="store_true")
    c = csub.add_parser("revoke")
    c.add_argument("client_id")

    sp = sub.add_parser("connect", help="run a connect worker: the registered connectors it leases (until SIGTERM/SIGINT)")
    sp.add_argument("--host", default="127.0.0.1", help="address of its /healthz and /metrics")
    sp.add_argument("--port", type=int, default=0, help="port of its /healthz and /metrics (default 0: a free one, printed)")
    sp.add_argument("--worker-id", help="worker id (default: host-pid-random)")
    sp.add_argument("--lease-ttl", type=float, default=15.0,
                    help="seconds a lease outlives a silent worker: its connectors move after this (default 15)")

    sp = sub.add_parser("process", help="run the stream processors (faust): registries, case tracker, data quality")
    sp.add_argument("--processors", help="comma-separated subset of processors (default: all, or HUB_PROCESSORS)")
    sp.add_argument("--port", type=int, default=0, help="port of its /healthz and /metrics (default HUB_PROCESSOR_PORT)")

    sp = sub.add_parser("dlq", help="dead letters: count, inspect and replay them after a fix")
    dsub = sp.add_subparsers(dest="action", required=True)
    d = dsub.add_parser("list", help="per connector: dead letters by stage/reason, pending and replayed")
    d.add_argument("--connector", help="only this connector")
    d.add_argument("--json", action="store_true")
    d = dsub.add_parser("show", help="headers and a safe preview (length, sha256, first bytes) of dead letters")
    d.add_argument("connector")
    d.add_argument("--limit", type=int, default=20)
    d.add_argument("--reason", help="only this reason code")
    d.add_argument("--raw", action="store_true", help="also print the value as text (may be personal data)")
    d.add_argument("--json", action="store_true")
    d = dsub.add_parser("replay", help="after a fix: a source's dead letters go through its pipeline again (passing "
                        "ones are produced), a sink's refused records are re-delivered under their first delivery id")
    d.add_argument("connector")
    d.add_argument("--reason", help="only this reason code")
    d.add_argument("--dry-run", action="store_true",
                   help="report what would pass; produce, deliver and commit nothing")
    d.add_argument("--json", action="store_true")

    sp = sub.add_parser("demo", help="simulated systems connected through the API: live progress, or --check: "
                        "run N seconds on a private hub, drain, reconcile (exit 1 if anything is missing)")
    sp.add_argument("action", nargs="?", choices=["run"], default="run",
                    help="run (default): drive the demo against the configured, running hub until Ctrl-C")
    sp.add_argument("--check", action="store_true",
                    help="bring up a private hub, run --duration seconds, drain, print a JSON reconciliation")
    sp.add_argument("--duration", type=float, default=30.0, help="--check: seconds the sources grow")
    sp.add_argument("--drain-timeout", type=float, default=120.0, help="--check: longest wait for the drain")
    sp.add_argument("--json", action="store_true", help="--check: print only the JSON document")
    sp.add_argument("--keep", action="store_true", help="--check: keep the temporary work dir and logs")
    sp.add_argument("--workdir", help="work dir (run: default var/demo; --check: default a temporary one)")
    sp.add_argument("--plain", action="store_true", help="never redraw the progress block in place")
    sp.add_argument("--progress-every", type=float, default=2.0, help="seconds between progress blocks")
    add_demo_arguments(sp)

    from hub_api.federation.cli import add_parser as add_federation_parser

    add_federation_parser(sub)

    sp = sub.add_parser("rules", help="triage scenario rules: run a rule set over sample records")
    rsub = sp.add_subparsers(dest="rules_command", required=True)
    r = rsub.add_parser("test", help="show per sample which rule fired, why, the departments and the output form")
    r.add_argument("file", help="JSON list of sample records (see processors/triage/data/samples.json)")
    r.add_argument("--rules", help="rule set file (default: processors/triage/data/rules.json)")
    r.add_argument("--json", action="store_true", help="machine-readable output")

    sp = sub.add_parser("up", help="run the whole hub in one supervised process tree (Ctrl-C stops all)")
    sp.add_argument("--demo", action="store_true",
                    help="also run the demo: simulated systems registered through the API, live progress")
    add_demo_arguments(sp)
    return p


COMMANDS = {
    "config": cmd_config,
    "broker": cmd_broker,
    "api": cmd_api,
    "topics": cmd_topics,
    "schemas": cmd_schemas,
    "clients": cmd_clients,
    "connect": cmd_connect,
    "process": cmd_process,
    "dlq": cmd_dlq,
    "demo": cmd_demo,
    "up": cmd_up,
    "federation": cmd_federation,
    "rules": cmd_rules,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = HubSettings()
    except ValidationError as exc:
        print(f"hub: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
