"""The command line: ``casset-rights COMMAND``.

serve, db upgrade, catalog load/check, policy load/check/test, manifest hash, verify, anchor,
keys rotate, audio analyse, witness serve/show. Settings come from ``CASSET_*`` variables,
like the service's.

Every command that keeps data says on stderr which data folder it uses and why
(``config.data_dir_choice``: ``CASSET_DATA_DIR``, else the checkout's ``data`` when run
inside the checkout, else the user's data folder). Alembic's log lines show only with
``-v``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from casset_rights.agents.commands import add_agent_commands
from casset_rights.audio.commands import (
    add_audio_commands,
    add_preview_verification,
    cmd_catalog_check,
)
from casset_rights.auth.commands import add_client_commands
from casset_rights.config import Settings, data_dir_choice, settings_from_env
from casset_rights.errors import CassetError, Conflict
from casset_rights.log.commands import add_log_commands
from casset_rights.log.witness_commands import add_witness_commands

if TYPE_CHECKING:
    from casset_rights.services import Services

Handler = Callable[[argparse.Namespace, Settings], int]


def _services(settings: Settings) -> Services:
    from casset_rights.services import open_services

    return open_services(settings)


def address_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port``. granian binds with
    SO_REUSEPORT, so a second server on the same port would start without complaint and
    the kernel would split the connections between the two (each with its own data
    folder); a probe bound without that option is refused when anyone listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate, optionally load the examples, and serve with granian."""
    from granian import Granian
    from granian.constants import Interfaces

    from casset_rights.services import load_examples

    # The workers build their settings from the environment: the same data folder,
    # whatever their current folder.
    env = {"CASSET_HOST": args.host or settings.host,
           "CASSET_PORT": str(args.port or settings.port),
           "CASSET_DATA_DIR": str(settings.data_dir.resolve())}
    if address_in_use(env["CASSET_HOST"], int(env["CASSET_PORT"])):
        raise Conflict(f"{env['CASSET_HOST']}:{env['CASSET_PORT']} is already in use (another "
                       "casset-rights serve?): stop it, or choose another --port")
    print("preparing the database" + (" and the examples" if args.demo else "") + " ...",
          file=sys.stderr, flush=True)
    services = _services(settings)
    if args.demo:
        load_examples(services)
        store_demo_audio(services)
    services.close()
    os.environ.update(env)
    print(f"Casset Rights on http://{env['CASSET_HOST']}:{env['CASSET_PORT']} "
          f"(data in {settings.data_dir.resolve()}; OpenAPI at /schema)", flush=True)
    Granian(
        target="casset_rights.app:app_from_environment", factory=True,
        address=env["CASSET_HOST"], port=int(env["CASSET_PORT"]),
        interface=Interfaces.ASGI, workers=args.workers or settings.workers,
        log_access=False,
        # A worker that dies (killed, out of memory) is replaced; the others keep serving.
        respawn_failed_workers=True,
    ).serve()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run background jobs from the queue at ``CASSET_QUEUE_URL`` until stopped."""
    from casset_rights.jobs.worker import run_worker

    print(f"casset-rights worker on {settings.queue_url.split('@')[-1]} "
          f"(data in {settings.data_dir.resolve()})", flush=True)
    run_worker(settings, concurrency=args.concurrency)
    return 0


def store_demo_audio(services) -> None:  # type: ignore[no-untyped-def]
    """The demo's synthesised audio for every example track (once; later starts find it
    stored). Needs the ``audio`` extra, which ``tasks.py serve`` installs."""
    from casset_rights.audio.demo import store_demo_audio as store

    heads = [json.loads(v.document) for v in services.catalog.all_heads()]
    print("demo audio: synthesising the example tracks not stored yet ...", flush=True)
    try:
        print(f"demo audio: {store(services.audio, heads)} tracks stored", flush=True)
    except ModuleNotFoundError as exc:  # the audio extra is not installed
        print(f"demo audio: skipped ({exc.name} is missing: pip install -e '.[audio]')")


def cmd_db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    _services(settings).close()
    print("database schema is up to date")
    return 0


def cmd_db_revision(args: argparse.Namespace, _: Settings) -> int:
    """Autogenerate a migration against a scratch database brought to head."""
    import tempfile

    from casset_rights.db.engine import make_engine
    from casset_rights.db.migrate import revision, upgrade

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/scratch.db")
        upgrade(engine)
        revision(engine, args.message)
        engine.dispose()
    return 0


def cmd_catalog_load(args: argparse.Namespace, settings: Settings) -> int:
    from casset_rights.manifests import load_catalog_directory

    services = _services(settings)
    try:
        stored = load_catalog_directory(services.catalog, Path(args.folder),
                                        limits=settings.document_limits)
        # The hooks against audio already stored and the preview limit: a problem is
        # the artist's to fix, not a reason to refuse the manifest.
        checks = services.audio.catalog_checks(sorted({v.release_id for v in stored}))
    finally:
        services.close()
    for version in stored:
        print(f"{version.release_id} v{version.version} {version.hash}")
    for track in checks:
        for hook in track.hooks:
            for problem in hook.problems:
                print(f"warning: hook {hook.hook}: {problem} (catalog check)")
    return 0


def cmd_policy_load(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        for name in args.files:
            path = Path(name)
            loaded = (services.policies.load_directory(path) if path.is_dir() else
                      [services.policies.put(path.read_text(encoding="utf-8"),
                                             source_name=str(path))])
            for p in loaded:
                state = "stored" if p.changed else "unchanged"
                print(f"{p.id} v{p.version} {p.hash} ({state})")
    finally:
        services.close()
    return 0


def cmd_policy_check(args: argparse.Namespace, _: Settings) -> int:
    from casset_rights.policy import check_files

    ok, report = check_files([Path(f) for f in args.files])
    print(report)
    return 0 if ok else 1


def cmd_policy_test(args: argparse.Namespace, _: Settings) -> int:
    from casset_rights.policy import test_files

    ok, report = test_files([Path(f) for f in args.files])
    print(report)
    return 0 if ok else 1


def cmd_manifest_hash(args: argparse.Namespace, _: Settings) -> int:
    from casset_rights.manifests import manifest_hash, validate_manifest

    for name in args.files:
        document = json.loads(Path(name).read_text(encoding="utf-8"))
        print(f"{manifest_hash(validate_manifest(document))}  {name}")
    return 0


def cmd_verify(args: argparse.Namespace, _: Settings) -> int:
    from casset_rights.log.trust import load_json, read_source
    from casset_rights.receipts.verify import verify_receipt

    token = read_source(args.receipt)
    jwks = load_json(args.jwks)
    payload = verify_receipt(token, jwks)
    print("receipt: signature valid (EdDSA, key published in the JWKS)")
    print(json.dumps(payload, indent=2, sort_keys=True))
    return 0


def cmd_keys_rotate(_: argparse.Namespace, settings: Settings) -> int:
    from casset_rights.receipts.keys import FileKeyStore

    store = FileKeyStore(settings.keys_dir)
    key = store.rotate()
    print(f"new active receipt key {key.kid}; {len(store.jwks()['keys'])} keys stay published; "
          "the log's key is unchanged")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casset-rights", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show the database migrations' log lines")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP service (granian)")
    p.add_argument("--demo", action="store_true", help="load the example catalog and policies")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("worker", help="run background jobs (the log's sequencer, anchoring, "
                                      "and other modules' jobs) from CASSET_QUEUE_URL")
    p.add_argument("--concurrency", type=int, default=4, help="jobs at once (default 4)")
    p.set_defaults(handler=cmd_worker)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)
    p = db.add_parser("revision", help="autogenerate a migration from the tables (development)")
    p.add_argument("message")
    p.set_defaults(handler=cmd_db_revision)

    catalog = sub.add_parser("catalog", help="release manifests").add_subparsers(
        dest="catalog", required=True)
    p = catalog.add_parser("load", help="load every manifest under a folder")
    p.add_argument("folder")
    p.set_defaults(handler=cmd_catalog_load)
    p = catalog.add_parser("check", help="check every track's hooks against its audio "
                                         "(analysed or uploaded) and the preview limit")
    p.add_argument("releases", nargs="*", metavar="RELEASE", help="default: every release")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(handler=cmd_catalog_check)

    policy = sub.add_parser("policy", help="artist policy files").add_subparsers(
        dest="policy", required=True)
    for name, handler, text in (
        ("load", cmd_policy_load, "validate and store policies (files or folders)"),
        ("check", cmd_policy_check, "validate policy files; report every error"),
        ("test", cmd_policy_test, "run the tests: written in policy files"),
    ):
        p = policy.add_parser(name, help=text)
        p.add_argument("files", nargs="+")
        p.set_defaults(handler=handler)

    manifest = sub.add_parser("manifest", help="release manifests").add_subparsers(
        dest="manifest", required=True)
    p = manifest.add_parser("hash", help="validate manifests and print their hashes")
    p.add_argument("files", nargs="+")
    p.set_defaults(handler=cmd_manifest_hash)

    # verify BUNDLE (or a bare receipt, handled by cmd_verify) and anchor
    add_log_commands(sub, verify_receipt=cmd_verify)
    add_preview_verification(sub)  # verify PREVIEW_FILE: C2PA and the receipt inside
    add_audio_commands(sub)

    add_client_commands(sub)
    add_agent_commands(sub)  # mcp
    add_witness_commands(sub)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys", required=True)
    keys.add_parser("rotate", help="make a new active receipt signing key (the log's own "
                                   "key, its identity, is not rotated)").set_defaults(
        handler=cmd_keys_rotate)
    return parser


def keeps_data(args: argparse.Namespace) -> bool:
    """Whether the command reads or writes the data folder (checking files, hashing
    manifests and verifying receipts do not)."""
    pure = {("policy", "check"), ("policy", "test"), ("manifest", "hash"), ("db", "revision")}
    sub = getattr(args, args.command, None) if args.command in ("policy", "manifest", "db") \
        else None
    return args.command != "verify" and (args.command, sub) not in pure


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        settings = settings_from_env(os.environ)
        if keeps_data(args):
            _, why = data_dir_choice(os.environ, cwd=Path.cwd())
            print(f"data folder: {settings.data_dir.resolve()} ({why})", file=sys.stderr,
                  flush=True)
        code = int(args.handler(args, settings))
        sys.stdout.flush()  # a reader gone early shows here, not in the exit's flush
        return code
    except CassetError as exc:
        print(f"error ({exc.code}): {exc.detail}", file=sys.stderr)
        for err in exc.errors:
            where = f":{err.line}:{err.column}" if err.line else ""
            print(f"  {err.pointer or '/'}{where}: {err.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Whoever read the output stopped early (``| head``): not our error. Point stdout
        # at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
