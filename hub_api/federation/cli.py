"""``hub federation``: verify the log chain, show this hub's key, manage peers (local admin on the DB).

Exit codes: 0 ok, 1 the chain is broken or the peer is unknown, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime


def add_parser(sub) -> None:
    """Register the ``federation`` sub-command on the ``hub`` parser's sub-parsers."""
    sp = sub.add_parser("federation", help="federation between hubs: verify the message log, show the key, peers")
    fsub = sp.add_subparsers(dest="action", required=True)
    f = fsub.add_parser("verify", help="walk the hash-chained message log; exit 1 at the first altered entry")
    f.add_argument("--json", action="store_true")
    fsub.add_parser("key", help="print this hub's id, algorithm and public key (JSON)")
    p = fsub.add_parser("peers", help="list, add, suspend, activate or revoke peer hubs")
    p.add_argument("op", choices=["list", "add", "suspend", "activate", "revoke"])
    p.add_argument("hub_id", nargs="?")
    p.add_argument("--name")
    p.add_argument("--url", help="add: the peer hub's API base URL")
    p.add_argument("--public-key", help="add: the peer's public key (ed25519: base64; sm2-sm3: hex of 04||X||Y)")
    p.add_argument("--algorithm", default="ed25519", help="add: the peer's signature algorithm: ed25519 or sm2-sm3")


def run(args, settings) -> int:
    from hub_api.db import Database
    from hub_api.federation import chain, peers
    from hub_api.federation.signing import AlgorithmError, hub_signer

    if args.action == "key":
        try:
            signer = hub_signer(settings)
        except AlgorithmError as exc:  # e.g. HUB_FEDERATION_KEY_PATH holds a key of another algorithm
            print(f"hub: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"hub_id": settings.federation_hub_id, "algorithm": signer.algorithm,
                          "public_key": signer.public_text()}))
        return 0
    db = Database(settings.database_url)
    db.create_schema()
    try:
        if args.action == "verify":
            with db.engine.connect() as conn:
                report = chain.verify(conn)
            if args.json:
                print(json.dumps(report.to_dict()))
            elif report.ok:
                print(f"federation log intact: {report.entries} entries, head {report.head_hash}")
            else:
                print(f"federation log BROKEN at entry {report.first_bad_seq}: {report.problem} "
                      f"({report.entries} entries verified before it)")
            return 0 if report.ok else 1
        now = datetime.now(UTC)
        if args.op == "list":
            with db.engine.connect() as conn:
                for p in peers.list_all(conn):
                    print(f"{p['hub_id']:<10} {p['status']:<10} {p['algorithm']:<8} {p['base_url']}  {p['name']}")
            return 0
        if not args.hub_id:
            print("hub: a hub_id is required", file=sys.stderr)
            return 2
        if args.op == "add":
            try:
                spec = peers.PeerSpec(name=args.name or args.hub_id, base_url=args.url or "",
                                      algorithm=args.algorithm, public_key=args.public_key or "")
                with db.engine.begin() as conn:
                    peers.upsert(conn, args.hub_id, spec, now)
            except (ValueError, AlgorithmError) as exc:
                print(f"hub: {exc}", file=sys.stderr)
                return 2
            print(f"peer {args.hub_id} active")
            return 0
        status = {"suspend": "suspended", "activate": "active", "revoke": "revoked"}[args.op]
        with db.engine.begin() as conn:
            found = peers.set_status(conn, args.hub_id, status, now)
        if not found:
            print(f"hub: no peer {args.hub_id!r}", file=sys.stderr)
            return 1
        print(f"peer {args.hub_id} {status}")
        return 0
    finally:
        db.engine.dispose()
