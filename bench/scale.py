"""The signed-in pages and the periodic checks with a school's worth of years of cases, on SQLite and PostgreSQL.

    .venv/bin/python bench/scale.py [--cases 100000] [--postgres URL | --no-postgres] [--explain] [--smoke]

For each database it makes a fresh portal (a temporary instance folder; PostgreSQL: the schema of the database
at URL is dropped and made again, so never point it at a database you keep), seeds the demo schools, then seeds
`--cases` cases at Hanbit over four years (most closed, the last two months' partly open, a tenth urgent, each
with its checklist and counselors) and times, through the whole Flask stack in this process, the pages a
counselor, a school admin and the district admin open, the inbox's later pages, and the periodic checks
(`portal tick`). It prints one table: each measure on SQLite, on PostgreSQL (the reference measured in the same
run) and their ratio. `--explain` also prints the query plans of the inbox and dashboard queries. `--smoke` seeds
a few hundred cases and times each page once: it checks that the script works (CI runs it); its figures mean
nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
POSTGRES = os.environ.get("PORTAL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "bench-scale-password-9"  # noqa: S105  (a throwaway demo database)
PG_RANDOM_PAGE_COST = 1.1
YEARS = 4
BATCH = 5000


def make_app(instance: Path, url: str):
    """A portal on `url` with its own instance folder, migrated and with the demo schools."""
    os.environ["PORTAL_INSTANCE_PATH"] = str(instance)
    os.environ["PORTAL_DEMO_PASSWORD"] = PASSWORD
    from portal import create_app
    from portal.config import write_instance_config

    write_instance_config(instance)
    if url.startswith("postgresql"):
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    settings = {"SQLALCHEMY_DATABASE_URI": url, "REQUIRE_TWO_FACTOR": False, "RATELIMIT_ENABLED": False,
                "WTF_CSRF_ENABLED": False, "MAIL_COURIER": False, "PUBLIC_URL": "http://localhost"}
    if url.startswith("postgresql"):
        # The planner cost of a random read on an SSD, as docs/deploy.md recommends for the server (PostgreSQL's
        # default of 4 is for spinning disks and turns the inbox's few index lookups into a table scan).
        options = f"-c random_page_cost={PG_RANDOM_PAGE_COST}"
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": options}}
    app = create_app(settings)
    with app.app_context():
        from portal.cli import upgrade_database
        from portal.extensions import db
        from portal.services import demo

        upgrade_database()
        demo.seed(db.session, str(instance))
        db.session.commit()
    return app


def seed_cases(app, count: int, rng: random.Random, years: float = YEARS) -> dict[str, int]:
    """`count` cases at Hanbit over `years` years, inserted in batches; returns how many are open."""
    from portal.extensions import db
    from portal.labels import CATEGORY_LABELS, PLATFORM_LABELS
    from portal.models import Case, CaseAssignee, CaseCounter, CaseStatus, DutyItem, School, User
    from portal.models.base import utcnow
    from portal.services import cases, duties, figures

    with app.app_context():
        session = db.session
        school = session.scalar(select(School).where(School.code == "hanbit"))
        lead, second = session.scalars(select(User).where(User.school_id == school.id, User.role == "counselor")
                                       .order_by(User.id)).all()
        rules = [r for r in duties.rules(school.jurisdiction)]
        now = utcnow().replace(microsecond=0)
        start = now - timedelta(days=365 * years)
        times = sorted(start + timedelta(seconds=rng.randrange(int((now - start).total_seconds()) - 3600))
                       for _ in range(count))
        first_id = (session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) or 0) + 1
        numbers: dict[int, int] = {}
        case_rows, duty_rows, assignee_rows = [], [], []
        open_count = 0

        def flush() -> None:
            if not case_rows:
                return
            session.execute(insert(Case), case_rows)
            session.execute(insert(DutyItem), duty_rows)
            session.execute(insert(CaseAssignee), assignee_rows)
            case_rows.clear(), duty_rows.clear(), assignee_rows.clear()

        for offset, created in enumerate(times):
            case_id = first_id + offset
            numbers[created.year] = numbers.get(created.year, 0) + 1
            recent = (now - created) < timedelta(days=60)
            is_open = recent and rng.random() < 0.3
            urgent = rng.random() < 0.1
            status = rng.choice((CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS,
                                 CaseStatus.IN_PROGRESS)) if is_open else CaseStatus.CLOSED
            acknowledged = None if status == CaseStatus.NEW else created + timedelta(hours=rng.uniform(0.1, 30))
            closed = created + timedelta(days=rng.uniform(1, 30)) if status == CaseStatus.CLOSED else None
            open_count += is_open
            case_rows.append(dict(
                id=case_id, school_id=school.id, reference=f"HANBIT-{created.year}-{numbers[created.year]:04d}",
                kind="incident", categories=",".join(rng.sample(sorted(CATEGORY_LABELS), rng.choice((1, 1, 2)))),
                platforms=",".join(rng.sample(sorted(PLATFORM_LABELS), rng.choice((1, 2)))), victim_kind="student",
                urgent=urgent, status=status, outcome="resolved" if closed else None,
                description="Seeded case for the scale benchmark.", submission_token=f"bench-{case_id}",
                created_at=created, updated_at=closed or created, acknowledged_at=acknowledged, closed_at=closed))
            for rule in rules:
                due = rule.due(created, urgent)
                done = None if is_open and rng.random() < 0.4 else created + timedelta(hours=rng.uniform(0, 20))
                duty_rows.append(dict(case_id=case_id, duty_id=rule.id, satisfied_by=rule.satisfied_by, due_at=due,
                                      done_at=done, escalated_at=due if is_open and done is None else None))
            assignee_rows.append(dict(case_id=case_id, user_id=lead.id, added_at=created))
            if rng.random() < 0.5:
                assignee_rows.append(dict(case_id=case_id, user_id=second.id, added_at=created))
            if len(case_rows) >= BATCH:
                flush()
        flush()
        for year, last in numbers.items():
            session.merge(CaseCounter(school_id=school.id, year=year, last_number=last))
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"))
        session.commit()
        # The inbox orders by the earliest open deadline, which the portal keeps on each case.
        for case in session.scalars(select(Case).where(Case.status != CaseStatus.CLOSED)):
            cases.refresh_next_due(case)
        session.execute(update(Case).where(Case.status == CaseStatus.NEW).values(ack_escalated_at=now))
        figures.rebuild(session)  # the dashboards' running counts, as `portal figures rebuild` makes them
        session.commit()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
            session.commit()
        return {"cases": count, "open": open_count}


def sign_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"{username} could not sign in ({response.status_code})")
    return client


def timed(client, path: str, runs: int) -> tuple[float, float, bytes]:
    """Median and slowest of `runs` answers to one page, in milliseconds, and the page."""
    times = []
    body = b""
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        body = response.data
    print(f"  {path}: {statistics.median(times):.1f} ms", file=sys.stderr)
    return statistics.median(times), max(times), body


def next_link(body: bytes) -> str | None:
    found = re.search(rb'href="(/cases/\?[^"]*after=[^"]+)"', body)
    return found.group(1).decode().replace("&amp;", "&") if found else None


def measure(app, runs: int) -> dict[str, tuple[float, float]]:
    """Each page's median and slowest time, and the periodic checks'."""
    from portal.services import background

    counselor, admin, district = sign_in(app, "hanbit-counselor1"), sign_in(app, "hanbit-admin"), \
        sign_in(app, "district-admin")
    results = {}
    results["counselor's landing page"] = timed(counselor, "/dashboard/", runs)[:2]
    *figures, first = timed(counselor, "/cases/", runs)
    results["inbox, first page of open cases"] = tuple(figures)
    second = next_link(first)
    if second:
        results["inbox, next page (keyset)"] = timed(counselor, second, runs)[:2]
    results["inbox, overdue cases"] = timed(counselor, "/cases/?attention=overdue", runs)[:2]
    *figures, closed = timed(counselor, "/cases/?status=closed", runs)
    results["inbox, closed cases"] = tuple(figures)
    deep = closed
    for _ in range(20):  # twenty pages on: keyset paging costs the same however deep
        link = next_link(deep)
        if not link:
            break
        deep = counselor.get(link).data
    link = next_link(deep)
    if link:
        results["inbox, closed cases, 21st page"] = timed(counselor, link, runs)[:2]
    case_link = re.search(rb'href="(/cases/[A-Za-z0-9_-]{8,})"', first)
    if case_link:
        results["case file"] = timed(counselor, case_link.group(1).decode(), runs)[:2]
    results["school admin's dashboard"] = timed(admin, "/admin/", runs)[:2]
    results["district dashboard"] = timed(district, "/district/", runs)[:2]
    began = time.perf_counter()
    background.run_checks(app)  # catches up once after seeding
    results["periodic checks, first run after seeding"] = ((time.perf_counter() - began) * 1000,) * 2
    ticks = []
    for _ in range(max(1, runs // 4)):
        began = time.perf_counter()
        background.run_checks(app)
        ticks.append((time.perf_counter() - began) * 1000)
    results["periodic checks (in process)"] = (statistics.median(ticks), max(ticks))
    return results


def tick_command(instance: Path, url: str) -> float:
    """`portal tick --force` as cron runs it: a new process, start-up included; milliseconds."""
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance), "PORTAL_DATABASE_URL": url}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from portal.cli import main; main()", "tick", "--force"],  # noqa: S603
                   env=env, cwd=ROOT, check=True, capture_output=True)
    return (time.perf_counter() - began) * 1000


def explain(app) -> None:
    """The plans of the inbox's and the dashboards' queries, as the database chose them."""
    from portal.extensions import db
    from portal.models import User
    from portal.models.base import utcnow
    from portal.services import cases, stats

    with app.app_context():
        dialect = db.engine.dialect.name
        counselor = db.session.scalar(select(User).where(User.username == "hanbit-counselor1"))
        now = utcnow()
        queries = {
            "inbox, open cases": cases.inbox_query(counselor, status="open", now=now).limit(cases.PAGE_SIZE + 1),
            "inbox, closed cases": cases.inbox_query(counselor, status="closed", now=now).limit(cases.PAGE_SIZE + 1),
            "inbox, overdue": cases.inbox_query(counselor, status="open", attention="overdue", now=now),
            "landing page figures": cases.workload_query(counselor, now),
            **{f"school dashboard: {name}": query
               for name, query in stats.figure_queries(counselor.school, now).items()},
        }
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
        for name, query in queries.items():
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            rows = db.session.execute(text(prefix + str(compiled))).all()
            print(f"\n-- {dialect}: {name}")
            for row in rows:
                print("   ", row[-1] if dialect == "sqlite" else row[0])


def run_backend(url: str, count: int, runs: int, show_plans: bool, rng_seed: int,
                years: float = YEARS) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="portal-scale-") as tmp:
        instance = Path(tmp)
        database = url or f"sqlite:///{instance}/portal.db"
        app = make_app(instance, database)
        began = time.perf_counter()
        seeded = seed_cases(app, count, random.Random(rng_seed), years)
        print(f"{database.split(':')[0]}: seeded {seeded['cases']:,} cases ({seeded['open']:,} open) in "
              f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
        results = measure(app, runs)
        results["`portal tick --force` (new process)"] = (tick_command(instance, database),) * 2
        if show_plans:
            explain(app)
        from portal.extensions import db

        with app.app_context():
            db.engine.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20, help="answers timed per page")
    parser.add_argument("--postgres", default=POSTGRES, help="a throwaway database (its schema is dropped)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--smoke", action="store_true", help="a few hundred cases, one answer per page")
    args = parser.parse_args()
    # A smoke run's few cases are all recent, so that some are open and every page, the next ones included, is seen.
    count, runs, years = (300, 1, 0.25) if args.smoke else (args.cases, args.runs, YEARS)
    from portal.testing import compile_bytecode

    compile_bytecode()  # `portal tick` below starts as an installed portal does
    sqlite = run_backend("", count, runs, args.explain, 7, years)
    postgres = None if args.no_postgres else run_backend(args.postgres, count, runs, args.explain, 7, years)
    print(f"\nmachine: {os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, Python "
          f"{platform.python_version()}; {count:,} cases at one school over {years:g} years; median and slowest of "
          f"{runs} answers through the Flask test client; PostgreSQL with random_page_cost={PG_RANDOM_PAGE_COST}"
          + (" (smoke run: the figures mean nothing)" if args.smoke else ""))
    print("| measure | SQLite median | SQLite slowest | PostgreSQL median | PostgreSQL slowest | SQLite/PostgreSQL |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (median, slowest) in sqlite.items():
        other = postgres.get(name) if postgres else None
        theirs = f"{other[0]:.1f} ms | {other[1]:.1f} ms | {median / other[0]:.2f}" if other else "– | – | –"
        print(f"| {name} | {median:.1f} ms | {slowest:.1f} ms | {theirs} |")


if __name__ == "__main__":
    main()
