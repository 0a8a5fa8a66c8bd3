"""The `gateway` command: serve, migrate, tokens, dnc import/export, jobs, audit, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from gateway.core.settings import Settings, SettingsError, load_settings


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.core import logs
    from gateway.serve import serve

    logs.configure(settings.log_level)
    app = create_app(settings)
    _run_value(
        serve(
            app,
            args.host or settings.host,
            args.port or settings.port,
            reuse_port=args.reuse_port,
            metrics_port=args.metrics_port,
        )
    )
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.core import logs
    from gateway.store.postgres import MigrationFailed, migrate

    # Its warnings (a lock waited for, rows a check does not cover) go out as the
    # service's log lines do, on standard error.
    logs.configure(settings.log_level)
    try:
        applied = _run_value(migrate(settings.database_url))
    except MigrationFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("nothing to apply; the schema is current")
    return 0


def _run_value(coro: Coroutine[Any, Any, Any]) -> Any:
    import uvloop

    return uvloop.run(coro)


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.services.auth import create_token
    from gateway.store.postgres import connect

    async def go() -> str:
        conn = await connect(settings.database_url)
        try:
            return await create_token(conn, args.role, args.name, expires_in_days=args.expires_in)
        finally:
            await conn.close()

    try:
        token = _run_value(go())
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    expiry = "never expires" if args.expires_in == 0 else f"expires in {args.expires_in} days"
    print(f"token for {args.name} ({args.role}, {expiry}); store it now, it is not shown again:")
    print(token)
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.services.auth import revoke_tokens
    from gateway.store.postgres import connect

    async def go() -> list[str]:
        conn = await connect(settings.database_url)
        try:
            return await revoke_tokens(conn, args.token)
        finally:
            await conn.close()

    revoked = _run_value(go())
    if not revoked:
        print(f"error: no active token with id or name {args.token!r}", file=sys.stderr)
        return 1
    print(f"revoked {', '.join(revoked)}")
    return 0


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.services.auth import list_tokens
    from gateway.store.postgres import connect

    async def go() -> list[Any]:
        conn = await connect(settings.database_url)
        try:
            return await list_tokens(conn)
        finally:
            await conn.close()

    from gateway.core.times import beijing_text

    print(f"{'id':<12}  {'role':<10} {'state':<18} {'expires (Beijing time)':<25} name")
    for row in _run_value(go()):
        if row["revoked_at"]:
            state = f"revoked {beijing_text(row['revoked_at'])[:10]}"
        else:
            state = "expired" if row["expired"] else "active"
        expires = "never" if row["expires_at"] is None else beijing_text(row["expires_at"])
        print(f"{row['token_id']:<12}  {row['role']:<10} {state:<18} {expires:<25} {row['name']}")
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.store import audit
    from gateway.store.postgres import connect

    async def go() -> audit.ChainReport:
        conn = await connect(settings.database_url)
        try:
            return await audit.verify(conn)
        finally:
            await conn.close()

    report = _run_value(go())
    if report.broken_at is None:
        print(f"audit log intact: {report.checked} entries verified")
        return 0
    print(
        f"audit log BROKEN at entry {report.broken_at}: {report.problem} "
        f"({report.checked} entries before it verified)"
    )
    return 1


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.demo import load_demo

    return int(_run_value(load_demo(settings)))


def cmd_dnc_import(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.api.csvlines import UnknownCharset, codec_for
    from gateway.core.errors import InvalidRequest
    from gateway.dnc_cli import import_file, operator

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    try:
        codec = codec_for(args.encoding)
    except UnknownCharset:
        print(
            f"error: --encoding {args.encoding}: use utf-8, gbk, gb18030 or gb2312",
            file=sys.stderr,
        )
        return 2
    try:
        report = _run_value(
            import_file(
                settings,
                path,
                path.stat().st_size,
                scope=args.scope,
                actor=operator(),
                show_progress=(not args.quiet and sys.stderr.isatty()) or args.progress,
                codec=codec,
            )
        )
    except InvalidRequest as e:
        print(f"\nerror: {path}: {e}; lines before it may have been stored", file=sys.stderr)
        return 1
    print(
        f"added {report.added}, already listed {report.already_listed}, "
        f"invalid {report.invalid_count} of {report.lines} lines"
    )
    for bad in report.invalid[:20]:
        print(f"  line {bad.line}: {bad.value!r}: {bad.error}")
    if report.invalid_count > 20:
        print(f"  ... and {report.invalid_count - 20} more invalid lines")
    return 0


def cmd_dnc_export(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.dnc_cli import export_csv, operator

    _run_value(export_csv(settings, sys.stdout.buffer, operator()))
    sys.stdout.flush()
    return 0


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.jobs.commands import list_jobs

    for line in _run_value(list_jobs(settings)):
        print(line)
    return 0


def cmd_jobs_run(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.jobs.catalog import JOBS
    from gateway.jobs.commands import run_now

    if args.name not in JOBS:
        print(f"error: no job {args.name!r}; jobs: {', '.join(JOBS)}", file=sys.stderr)
        return 2
    result = _run_value(run_now(settings, args.name, args.dry_run))
    print(f"{result.job}: {result.outcome}{' (dry run)' if args.dry_run else ''}")
    for key, value in result.counts.items():
        print(f"  {key}: {value}")
    if result.error:
        print(f"  error: {result.error}", file=sys.stderr)
    return 0 if result.outcome == "done" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--config", help="TOML settings file; environment variables win over it")
    # --config is accepted after the command too: `gateway serve --config FILE`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def command(group: Any, name: str, text: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = group.add_parser(name, help=text, parents=[common])
        return made

    sub = parser.add_subparsers(dest="command", required=True)

    serve = command(sub, "serve", "serve the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="let several processes share the port (SO_REUSEPORT)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="also answer GET /metrics on this port, for this process alone (give each "
        "process sharing a port with --reuse-port its own)",
    )
    serve.set_defaults(func=cmd_serve)

    command(sub, "migrate", "apply pending schema migrations").set_defaults(func=cmd_migrate)

    token = command(sub, "token", "manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = command(token, "create", "create a token; printed alone on the last line")
    create.add_argument(
        "--role", required=True, choices=["dialer", "supervisor", "auditor", "admin"]
    )
    create.add_argument("--name", required=True, help="unique among active tokens")
    create.add_argument(
        "--expires-in",
        type=int,
        default=365,
        metavar="DAYS",
        help="days until the token stops working (default 365; 0: never)",
    )
    create.set_defaults(func=cmd_token_create)
    revoke = command(token, "revoke", "revoke a token by its id (gw_<id>_...) or by name")
    revoke.add_argument("token")
    revoke.set_defaults(func=cmd_token_revoke)
    command(token, "list", "tokens: id, role, state, expiry, name (never the secret)").set_defaults(
        func=cmd_token_list
    )

    audit_cmd = command(sub, "audit", "the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    command(audit_cmd, "verify", "check the hash chain").set_defaults(func=cmd_audit_verify)

    dnc = command(sub, "dnc", "the do-not-call list").add_subparsers(
        dest="dnc_command", required=True
    )
    dnc_import = command(dnc, "import", "add a CSV file of number[,reason[,expires_at]]")
    dnc_import.add_argument("file")
    dnc_import.add_argument("--scope", choices=["marketing", "all"], default="marketing")
    dnc_import.add_argument(
        "--encoding",
        help="the file's encoding: utf-8, gbk, gb18030 or gb2312 (default: UTF-8, or GB18030 "
        "for a file that is not UTF-8)",
    )
    dnc_import.add_argument("--quiet", action="store_true", help="no progress bar")
    dnc_import.add_argument(
        "--progress", action="store_true", help="a progress bar even when not on a terminal"
    )
    dnc_import.set_defaults(func=cmd_dnc_import)
    command(dnc, "export", "CSV of the active entries on standard output").set_defaults(
        func=cmd_dnc_export
    )

    jobs = command(sub, "jobs", "scheduled jobs").add_subparsers(dest="jobs_command", required=True)
    command(jobs, "list", "jobs, their schedules and last runs").set_defaults(func=cmd_jobs_list)
    run = command(jobs, "run", "run one job now")
    run.add_argument("name")
    run.add_argument("--dry-run", action="store_true", help="report what it would do")
    run.set_defaults(func=cmd_jobs_run)

    command(sub, "demo", "load demo registries and print tokens").set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(settings, args)
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot reach a service: {e}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
