"""The `portal` command: a Flask CLI group with the portal's own commands."""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.config import PROJECT_ROOT, ConfigurationError, write_instance_config
from portal.extensions import db


def _instance_path() -> Path:
    return Path(os.environ.get("PORTAL_INSTANCE_PATH") or PROJECT_ROOT / "instance").resolve()


class _PortalGroup(FlaskGroup):
    """The `portal` command: the app's commands, and `portal db …` (Flask-Migrate's), bound when asked for."""

    def get_command(self, ctx, name):
        if name == "db":
            bind_migrations(ctx.ensure_object(ScriptInfo).load_app())
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), "db"})


def main() -> None:
    """Entry point of the `portal` console script."""
    write_instance_config(_instance_path())  # first run: random secret key and data key, mode 0600
    from portal import create_app

    group = _PortalGroup(create_app=lambda: create_app(), add_version_option=False, load_dotenv=False,
                         help="School Deepfake Response Portal")
    # Flask would import every installed package's "flask.commands" entry point on each run (Flask-Limiter's pulls
    # in a console library: a quarter of a second for `portal tick` from cron); the portal's commands are its own.
    group._loaded_plugin_commands = True
    try:
        group.main(prog_name="portal")
    except ConfigurationError as error:  # a setting to mend, said in one line rather than a traceback
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)


MIGRATIONS = str(Path(__file__).parent / "migrations")


def bind_migrations(app) -> None:
    """Flask-Migrate on the app, for what uses the migrations (`portal db …`, upgrading the schema). Bound when
    first needed, not by create_app: it imports Alembic (about a tenth of a second and 12 MB of memory), which the
    server's worker processes and `portal tick` from cron never use."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)


# The newest migration (tests/test_cli.py keeps it equal to Alembic's head). A restart finds the database already
# there, and one query says so: Alembic, with the dialects it imports, is a tenth of a second of every start.
SCHEMA_HEAD = "0014"


def upgrade_database(revision: str = "head") -> None:
    """Bring the schema up to date (or to `revision`) through the Alembic migrations."""
    if revision == "head" and _recorded_revisions() == [SCHEMA_HEAD]:
        return
    from flask_migrate import upgrade

    bind_migrations(current_app)
    upgrade(directory=MIGRATIONS, revision=revision)


def _recorded_revisions() -> list[str]:
    """The revisions Alembic recorded in the database (none before its first migration)."""
    try:
        with db.engine.connect() as connection:
            return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:  # no table yet: a new database
        return []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("init")
@with_appcontext
def init_command():
    """Create the instance folder and the database schema."""
    upgrade_database()
    click.echo(f"Instance folder: {current_app.instance_path}")


SERVERS = ("granian", "waitress")
# Requests one granian worker runs at once. They take turns on the interpreter, so with more of them a burst of
# views shares it and all of them end late; with two, they finish one after the other, while a database round trip
# or a password hash (which runs outside the interpreter) still lets the other one run. Measured with 32 readers
# (docs/performance.md, 2026-12-01): p99 of a case file 253–289 ms with 2, 360–430 with 4, 407–475 with 8.
GRANIAN_THREADS = 2
WAITRESS_THREADS = 8


def _default_server() -> str:
    """granian on Linux and macOS (measured several times faster here, README "Performance"); waitress on Windows,
    where granian's worker processes are not supported the same way, or when granian is not installed."""
    if sys.platform.startswith("win"):
        return "waitress"
    try:
        import granian  # noqa: F401
    except ImportError:
        return "waitress"
    return "granian"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--server", type=click.Choice(SERVERS), default=None,
              help="The WSGI server (default: granian, or waitress on Windows).")
@click.option("--workers", default=None, type=int,
              help="granian worker processes (default: one per core; 1 with rate limits kept in memory).")
@click.option("--threads", default=None, type=click.IntRange(1, 64),
              help=f"Threads per process (default: {GRANIAN_THREADS} with granian, {WAITRESS_THREADS} with waitress).")
@click.option("--demo", is_flag=True, help="Seed the demo schools, show the demo banner, turn two-factor sign-in off.")
@click.option("--no-background", is_flag=True, help="Do not run the periodic checks in this server.")
@with_appcontext
def serve_command(host, port, server, workers, threads, demo, no_background):
    """Serve the portal (granian by default, waitress on Windows) and run the periodic checks."""
    app = current_app._get_current_object()
    demo = demo or app.config["DEMO_MODE"]
    if demo and not _is_loopback(host):
        raise click.UsageError("Demo mode only listens on a loopback address such as 127.0.0.1.")
    _serve_public_url(app, host, port)
    upgrade_database()
    if demo:
        app.config.update(DEMO_MODE=True, REQUIRE_TWO_FACTOR=False)
        from portal.services import demo as demo_service

        summary = demo_service.seed(db.session, app.instance_path)
        db.session.commit()
        click.echo(demo_service.describe(summary))
    db.session.remove()
    from portal.services.content import load_lessons

    load_lessons(app)  # parse once here; each worker process then reads the parsed lessons from instance/cache/
    server = server or _default_server()
    if server == "waitress":
        _serve_waitress(app, host, port, threads or WAITRESS_THREADS, no_background)
    else:
        _serve_granian(app, host, port, workers, threads or GRANIAN_THREADS, demo, no_background)


def _serve_waitress(app, host: str, port: int, threads: int, no_background: bool) -> None:
    import waitress

    if not no_background:
        from portal.services import background

        background.start(app)
    click.echo(f"School Deepfake Response Portal: http://{host}:{port}/  "
               f"(waitress, {threads} threads; Ctrl+C stops it)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="portal")


def _serve_granian(app, host: str, port: int, workers: int | None, threads: int, demo: bool,
                   no_background: bool) -> None:
    """granian's worker processes each import portal.wsgi, configured through the environment like every command:
    what this command decided (demo mode, the served address) is passed on that way."""
    from granian.constants import Interfaces
    from granian.server import Server

    from portal.extensions import shares_limits

    shared_limits = shares_limits(app.config["RATELIMIT_STORAGE_URI"])
    if workers is None:
        # Rate limits kept in memory ("memory://", set by hand) are per process: several processes would each
        # allow the full number of failed sign-ins. The default (the instance's file) and Redis are shared: one
        # process per core.
        workers = (os.cpu_count() or 1) if shared_limits else 1
        if not shared_limits and (os.cpu_count() or 1) > 1:
            click.echo("One worker process: rate limits kept in memory are per process (unset PORTAL_REDIS_URL "
                       "to share them through the instance folder, or point it at Redis).")
    elif workers > 1 and not shared_limits:
        raise click.UsageError("Several worker processes need shared rate limits: rate limits kept in memory "
                               "are per process (unset PORTAL_REDIS_URL, or point it at Redis).")
    # The workers' secret for the rate-limit file's keys (portal/ratelimits.py): made at each start, held by no file.
    os.environ.setdefault("PORTAL_RATELIMIT_SECRET", secrets.token_hex(32))
    os.environ.update({
        "PORTAL_INSTANCE_PATH": app.instance_path,
        "PORTAL_PUBLIC_URL": app.config["PUBLIC_URL"],
        "PORTAL_TRUSTED_HOSTS": ",".join(app.config["TRUSTED_HOSTS"] or []),
        "PORTAL_BACKGROUND": "0" if no_background else "1",
    })
    if demo:
        os.environ["PORTAL_DEMO_MODE"] = "1"
    click.echo(f"School Deepfake Response Portal: http://{host}:{port}/  "
               f"(granian, {workers} worker process(es), {threads} threads each; Ctrl+C stops it)")
    Server("portal.wsgi:app", address=host, port=port, interface=Interfaces.WSGI, workers=workers,
           blocking_threads=threads, websockets=False, respawn_failed_workers=True, log_access=False).serve()


def _serve_public_url(app, host: str, port: int) -> None:
    """Without a configured PUBLIC_URL, links point at the address being served (when it is one a browser can use)."""
    from portal.config import Defaults
    from portal.urls import public_host

    if app.config["PUBLIC_URL"] != Defaults.PUBLIC_URL:
        return
    if host in ("0.0.0.0", "::", ""):  # noqa: S104  only compared, never bound here
        click.echo("Warning: PUBLIC_URL is not set, so links in mail point at "
                   f"{Defaults.PUBLIC_URL} and other host names get 400. Set PORTAL_PUBLIC_URL.", err=True)
        return
    shown = f"[{host}]" if ":" in host else host
    app.config["PUBLIC_URL"] = f"http://{shown}:{port}"
    hosts = set(app.config["TRUSTED_HOSTS"] or []) | {public_host(app.config["PUBLIC_URL"])}
    app.config["TRUSTED_HOSTS"] = sorted(hosts)


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Add the demo schools and accounts (safe to run again)."""
    from portal.services import demo as demo_service

    upgrade_database()
    summary = demo_service.seed(db.session, current_app.instance_path)
    db.session.commit()
    click.echo(demo_service.describe(summary))


@click.command("create-school")
@click.option("--code", required=True, help="Short code, e.g. hanbit")
@click.option("--name-ko", required=True)
@click.option("--name-en", required=True)
@click.option("--timezone", default="Asia/Seoul", show_default=True)
@click.option("--jurisdiction", default="KR", show_default=True,
              help="Whose law and help lines the school's pages follow: a pack under content/duties/ (KR, US, GB).")
@with_appcontext
def create_school_command(code, name_ko, name_en, timezone, jurisdiction):
    """Add a school."""
    from portal.services import accounts, audit, duties

    if jurisdiction not in duties.packs():
        raise click.BadParameter(f"choose one of {', '.join(sorted(duties.packs()))}", param_hint="--jurisdiction")
    try:
        school = accounts.create_school(db.session, code, name_ko, name_en, timezone, jurisdiction)
    except accounts.AccountError as error:
        raise click.ClickException(f"Cannot create the school: {error.code}") from None
    audit.record(db.session, "school_created", school_id=school.id, target=school.code, address="cli")
    db.session.commit()
    click.echo(f"Created school {school.code}.")


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


@click.command("create-user")
@click.option("--role", required=True, type=click.Choice(
    ["student", "teacher", "counselor", "school_admin", "district_admin"]))
@click.option("--school", "school_code", help="School code (not for district admins)")
@click.option("--name", "display_name", help="Name shown in the portal")
@click.option("--email")
@click.option("--lead", is_flag=True, help="Make this counselor the school's designated lead")
@click.argument("username")
@with_appcontext
def create_user_command(role, school_code, display_name, email, lead, username):
    """Add a user. The password is read from a prompt, or from standard input; never from arguments."""
    from sqlalchemy import select

    from portal.models import School
    from portal.services import accounts, audit

    school = None
    if school_code:
        school = db.session.scalar(select(School).where(School.code == school_code.lower()))
        if school is None:
            raise click.ClickException(f"No school with code {school_code!r}.")
    password = _read_password()
    try:
        user = accounts.create_user(db.session, username, role, school, password, display_name, email,
                                    current_app.config["PASSWORD_MIN_LENGTH"])
    except accounts.AccountError as error:
        raise click.ClickException(f"Cannot create the user: {error.code}") from None
    if lead:
        from portal.services.schools import set_lead

        set_lead(db.session, user)
    audit.record(db.session, "user_created", school_id=user.school_id, target=user.username, address="cli")
    db.session.commit()
    click.echo(f"Created {role} {user.username}.")


@click.group("audit")
def audit_group():
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--expect", "expected", multiple=True, metavar="ID:HASH",
              help="A checkpoint kept elsewhere (as `portal audit checkpoint` printed it) that must still hold.")
@with_appcontext
def audit_verify_command(expected):
    """Recompute the keyed hash chain and check it against the checkpoints; exit 1 naming the first problem."""
    from portal.services import audit

    points = []
    for item in expected:
        last_id, _, last_hash = item.partition(":")
        if not last_id.isdigit() or len(last_hash) != 64:
            raise click.BadParameter(f"{item!r} is not ID:HASH", param_hint="--expect")
        points.append(audit.Checkpoint("the printed record", int(last_id), last_hash))
    count, problem = audit.verify_all(db.session, current_app.instance_path, points)
    if problem:
        where = f"row {problem.row_id}" if problem.row_id is not None else "the checkpoints"
        click.echo(f"Audit chain BROKEN at {where}: {problem.reason} ({count} rows verified).", err=True)
        sys.exit(1)
    checkpoints, _ = audit.read_checkpoints(current_app.instance_path)
    click.echo(f"Audit chain intact: {count} rows verified, {len(checkpoints) + len(points)} checkpoint(s) hold.")


@audit_group.command("checkpoint")
@with_appcontext
def audit_checkpoint_command():
    """Write the chain's head to instance/audit-checkpoints.log and print it for the school's records."""
    from portal.services import audit

    point = audit.write_checkpoint(db.session, current_app.instance_path)
    click.echo(f"Audit checkpoint {point.at}: {point.last_id}:{point.last_hash}")
    click.echo("Keep this line (printed or in the school's records); `portal audit verify --expect` checks it.")


@click.group("keys")
def keys_group():
    """The data-encryption keys and the district-signal key."""


@keys_group.command("rotate")
@with_appcontext
def keys_rotate_command():
    """Create a new data key and re-encrypt every stored value under it."""
    from portal.services import audit, keys

    app = current_app._get_current_object()
    config_path = Path(app.instance_path) / "config.py"
    if not config_path.exists():
        raise click.ClickException("No instance/config.py: keys set in the environment must be rotated there.")
    key_id, count = keys.rotate(app, db.session)
    audit.record(db.session, "keys_rotated", target=key_id, address="cli")
    # The new key is written before the commit: a crash in between leaves old ciphertext and both keys on disk.
    keys.write_key_to_config(config_path, key_id, app.config["DATA_KEYS"][key_id])
    db.session.commit()
    left = keys.stale_values(db.session, key_id)
    click.echo(f"New key {key_id}: {count} values re-encrypted; {left} values under older keys.")
    if left:
        sys.exit(1)


@keys_group.command("rotate-signal")
@with_appcontext
def keys_rotate_signal_command():
    """Create a new district-signal key and recompute every channel's MAC under it (the signal stays the same)."""
    from portal.services import audit, keys

    app = current_app._get_current_object()
    config_path = Path(app.instance_path) / "config.py"
    if not config_path.exists() or os.environ.get("PORTAL_SIGNAL_KEY"):
        raise click.ClickException("SIGNAL_KEY is not in instance/config.py: a key set in the environment must be "
                                   "rotated there.")
    count = keys.rotate_signal(app, db.session)
    audit.record(db.session, "signal_key_rotated", address="cli")
    # Written before the commit: a crash in between leaves MACs made under the old key, and running the command
    # again sets them right; until then the signal can only miss a channel, never show a wrong one.
    keys.write_settings(config_path, {"SIGNAL_KEY": app.config["SIGNAL_KEY"]})
    db.session.commit()
    click.echo(f"New signal key: {count} channel MACs recomputed from the open cases. Restart every server now.")


@click.command("tick")
@with_appcontext
@click.option("--force", is_flag=True, help="Run even if another process ran the checks less than a minute ago.")
def tick_command(force):
    """Run the periodic checks once (escalations, retention, mail retries): for cron."""
    from datetime import timedelta

    from portal.services import background

    app = current_app._get_current_object()
    if not force and not background.claim(app, timedelta(seconds=50)):
        click.echo("Another process of this deployment ran the checks less than a minute ago; nothing was done.")
        return
    results = background.run_checks(app)
    for name, count in results.items():
        click.echo(f"{name}: {count}")


@click.group("figures")
def figures_group():
    """The dashboards' running counts of cases."""


@figures_group.command("rebuild")
@with_appcontext
def figures_rebuild_command():
    """Recount the dashboards' figures from the cases (after restoring an old backup or editing the database)."""
    from portal.services import figures

    counted = figures.rebuild(db.session)
    db.session.commit()
    click.echo(f"Recounted the figures of {counted} cases.")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be warned about or deleted; change nothing.")
@with_appcontext
def purge_command(dry_run):
    """Apply the retention rules now (the background checks also do this once a day)."""
    from portal.models.base import utcnow
    from portal.services import retention

    report = retention.run(db.session, current_app.config, utcnow(), dry_run=dry_run, address="cli")
    if dry_run:
        db.session.rollback()
        click.echo("Dry run: nothing was changed.")
    else:
        db.session.commit()
        retention.checkpoint(db.engine)
    click.echo(f"Closed cases whose lead was warned (deleted 30 days later): {report.warned}")
    click.echo(f"Closed cases purged (a tombstone is kept): {report.purged}")
    click.echo(f"Deactivated students whose lesson data was purged: {report.students} ({report.lesson_rows} rows)")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path):
    """Write a consistent, checked copy of the database to PATH while the portal keeps serving."""
    from portal.services import backup

    try:
        result = backup.take(db.session, current_app._get_current_object(), path, address="cli")
    except backup.BackupError as error:
        raise click.ClickException(f"Backup failed: {error}") from None
    db.session.commit()
    counts = ", ".join(f"{count} {table}" for table, count in result.counts.items())
    click.echo(f"Backup written to {result.path} ({result.backend}); integrity checked; {counts}.")
    click.echo("Case text in it is encrypted: it cannot be read without DATA_KEYS from instance/config.py.")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore_command(path):
    """Restore a backup into this instance's database, which must be empty. Stop the portal first."""
    from portal.services import audit, backup

    try:
        result = backup.restore(db.session, current_app._get_current_object(), path)
    except backup.BackupError as error:
        raise click.ClickException(f"Restore refused: {error}") from None
    upgrade_database()  # a backup from an older version gets the newer migrations
    count, problem = audit.verify(db.session)
    audit.record(db.session, "backup_restored", target=Path(path).name[:120], address="cli")
    db.session.commit()
    counts = ", ".join(f"{n} {table}" for table, n in result.counts.items())
    click.echo(f"Restored {path} ({result.backend}); integrity checked; {counts}.")
    if problem:
        click.echo(f"Audit chain BROKEN at row {problem.row_id}: {problem.reason}. If the backup comes from another "
                   "instance, copy its AUDIT_KEY (or, when it has none, its SECRET_KEY) from its instance/config.py "
                   "and run `portal audit verify`.", err=True)
        sys.exit(1)
    click.echo(f"Audit chain intact: {count} rows verified.")


@click.group("content")
def content_group():
    """Lesson content: validate it and list it."""


def _content_root(path: str | None) -> Path:
    return Path(path) if path else Path(current_app.config["CONTENT_PATH"])


@content_group.command("check")
@click.option("--path", type=click.Path(file_okay=False), help="Content folder (default: CONTENT_PATH).")
@with_appcontext
def content_check_command(path):
    """Validate every lesson; exit 1 listing each problem with its file."""
    from portal.services.content import check_help_packs, load_content
    from portal.services.duties import check_duty_packs

    root = _content_root(path)
    loaded = load_content(root)
    problems = [str(problem) for problem in loaded.problems]
    problems += [f"{name}: {problem}" for name, problem in check_duty_packs(root) + check_help_packs(root)]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(1)
    click.echo(f"Content OK: {len(loaded.library.lessons)} lessons in {len(loaded.library.bands)} bands; "
               f"jurisdiction packs valid ({', '.join(sorted(p.stem for p in (root / 'duties').glob('*.yml')))}).")


@content_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--path", type=click.Path(file_okay=False), help="Content folder (default: CONTENT_PATH).")
@with_appcontext
def content_list_command(as_json, path):
    """List the valid lessons: slug, band, order and title in each language."""
    import json

    from portal.services.content import load_content

    lessons = load_content(_content_root(path)).library.lessons
    rows = [{"slug": lesson.slug, "band": lesson.band, "order": lesson.order,
             "title": {lang: text.title for lang, text in lesson.texts.items()}} for lesson in lessons]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['band']}{row['order']}  {row['slug']}  {row['title']['ko']} / {row['title']['en']}")


@click.group("translate")
def translate_group():
    """Extract, update and compile the translation catalogs."""


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *args])


TRANSLATIONS = PROJECT_ROOT / "translations"


def extract_messages(output: Path) -> None:
    """Write a .pot file with every translatable string in the portal package (paths relative to the project)."""
    here = os.getcwd()
    os.chdir(PROJECT_ROOT)
    try:
        # -c: the `# Translators:` notes go into the template with their strings.
        _pybabel("extract", "-F", "translations/babel.cfg", "-k", "_l", "-c", "Translators:", "--no-wrap",
                 "--sort-by-file", "--project", "school-deepfake-portal", "--omit-header",
                 "-o", str(output.resolve()), "portal")
    finally:
        os.chdir(here)


@translate_group.command("extract")
def translate_extract():
    """Collect the strings into translations/messages.pot."""
    extract_messages(TRANSLATIONS / "messages.pot")


@translate_group.command("update")
def translate_update():
    """Merge messages.pot into the ko and en catalogs."""
    extract_messages(TRANSLATIONS / "messages.pot")
    for lang in ("ko", "en"):
        if not (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").exists():
            _pybabel("init", "--no-wrap", "-i", str(TRANSLATIONS / "messages.pot"), "-d", str(TRANSLATIONS), "-l", lang)
    _pybabel("update", "--no-wrap", "--ignore-obsolete", "--no-fuzzy-matching",
             "-i", str(TRANSLATIONS / "messages.pot"), "-d", str(TRANSLATIONS))
    _fill_english()


def _fill_english() -> None:
    """The source strings are English: the English catalog repeats them, so it is always complete."""
    from babel.messages.pofile import read_po, write_po

    path = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and (not all(strings) or message.fuzzy):
            message.string = message.id  # a plural entry: (singular, plural), the two English forms
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0)


@translate_group.command("compile")
def translate_compile():
    """Compile the catalogs to .mo files."""
    _pybabel("compile", "-d", str(TRANSLATIONS))


def init_app(app) -> None:
    """Register the portal's commands on the app's CLI group."""
    for command in (init_command, serve_command, seed_demo_command, create_school_command, create_user_command,
                    audit_group, translate_group, keys_group, tick_command, content_group, purge_command, figures_group,
                    backup_command, restore_command):
        app.cli.add_command(command)
