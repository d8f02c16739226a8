"""``hub up``: the embedded broker (if none is configured), the topics and the API, supervised.

Start order: broker → topics applied → API (which registers the data standard's
schemas on startup) → connect worker. Later capabilities add their workers to ``children``.
Ctrl-C (SIGINT) or SIGTERM stops everything in reverse order.
"""

from __future__ import annotations

import sys
import time

import httpx

from ops.broker import broker_command, free_port, resolve_binary, wait_for_kafka
from ops.settings import HubSettings
from ops.supervisor import Child, Supervisor


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _apply_topics(settings: HubSettings, bootstrap: str) -> None:
    from kafka import KafkaAdminClient

    from topics import provision

    admin = KafkaAdminClient(**{**settings.kafka_client_config(), "bootstrap_servers": bootstrap},
                             client_id=f"{settings.kafka_client_id}-admin", request_timeout_ms=10000)
    try:
        reports = provision.apply(admin, replication_factor=settings.topic_replication_factor)
    finally:
        admin.close()
    created = sum(r.status == "created" for r in reports)
    drift = [r for r in reports if r.status == "drift"]
    print(f"hub: topics: {len(reports)} in catalog, {created} created, {len(drift)} drifted", flush=True)
    for r in drift:
        print(f"hub:   drift on {r.name}: {'; '.join(r.details)}", flush=True)


def build_children(settings: HubSettings, extra_env: dict[str, str] | None = None,
                   demo_argv: list[str] | None = None) -> tuple[list[Child], str]:
    """The process tree for this configuration and the bootstrap address it uses.

    ``extra_env`` is added to every hub child's environment (``hub demo --check`` runs a private
    tree on its own port, database and var dir); ``demo_argv`` (``hub up --demo``) adds a
    ``demo`` child, ``hub demo run <demo_argv>``, after the API and before the connect worker
    (children stop in reverse order).
    """
    children: list[Child] = []
    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        port = settings.broker_port or free_port()
        bootstrap = f"127.0.0.1:{port}"
        children.append(Child(
            "broker", broker_command(resolve_binary(), "127.0.0.1", port),
            env={"RUST_LOG": "warn"},
            ready=lambda: (wait_for_kafka(bootstrap), _apply_topics(settings, bootstrap)),
            # An in-memory broker that died lost every topic: stop the tree, do not paper over it.
            max_restarts=0,
        ))
    else:
        wait_for_kafka(bootstrap)
        _apply_topics(settings, bootstrap)
    env = {**(extra_env or {}), "HUB_KAFKA_BOOTSTRAP": bootstrap}
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    children.append(Child(
        "api", [sys.executable, "-m", "ops.cli", "api"], env=env,
        ready=lambda: _wait_http(f"{api_url}/healthz"),
    ))
    if demo_argv is not None:
        # After the API (it registers its connectors there; the worker claims them when it sees
        # them) and before the worker, so that the worker stops first: the simulated systems stay
        # up while their connectors finish, instead of vanishing under them.
        children.append(Child("demo", [sys.executable, "-m", "ops.cli", "demo", "run", *demo_argv], env=env))
    # After the API: the worker resolves schema ids from the API's registry.
    children.append(Child("connect", [sys.executable, "-m", "ops.cli", "connect"], env=env))
    children.append(Child("process", [sys.executable, "-m", "ops.cli", "process"], env=env))
    return children, bootstrap


def run_up(settings: HubSettings, args) -> int:
    from ops.logging import configure_logging

    demo_argv = None
    if getattr(args, "demo", False):
        from ops.demo.options import to_argv

        demo_argv = to_argv(args)
    # The demo's progress block is the view: keep the processes' INFO lines (one per API request,
    # per batch with dead letters, ...) off the terminal unless HUB_LOG_LEVEL asks for them.
    quiet = demo_argv is not None and "log_level" not in settings.model_fields_set
    configure_logging("WARNING" if quiet else settings.log_level, settings.log_json)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    try:
        children, bootstrap = build_children(settings, extra_env={"HUB_LOG_LEVEL": "WARNING"} if quiet else None,
                                             demo_argv=demo_argv)
    except KeyboardInterrupt:  # while waiting for an external broker; nothing started yet
        return 130
    supervisor = Supervisor(children)
    try:
        supervisor.start()
    except Exception as exc:  # noqa: BLE001 - a child that never became ready
        supervisor.stop()
        print(f"hub: failed to start: {exc}", file=sys.stderr)
        return 1
    if supervisor.stopping:  # Ctrl-C during start: stop what was started, cleanly
        return supervisor.run()
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    print(
        f"\nhub is up\n  API:     {api_url}  (docs {api_url}/docs, health {api_url}/healthz, metrics {api_url}/metrics)\n"
        f"  Kafka:   {bootstrap}{'  (embedded Tansu, in memory)' if not settings.kafka_bootstrap else ''}\n"
        f"  DB:      {settings.masked()['database_url']}\n"
        + ("  Demo:    simulated systems registered through the API; progress below\n" if demo_argv is not None else "")
        + ("  Logs:    warnings and errors only (HUB_LOG_LEVEL=INFO for every line)\n" if quiet else "")
        + "  Ctrl-C stops everything.\n",
        flush=True,
    )
    return supervisor.run()
