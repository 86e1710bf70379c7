"""Engine set-up that SQLAlchemy cannot express in a URL: SQLite pragmas and IMMEDIATE write transactions, and
PostgreSQL connections checked before use without a round trip."""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache

from flask import g, has_request_context, request
from sqlalchemy import Executable, TypeDecorator, bindparam, event, func
from sqlalchemy import select as sql_select  # the module's `select` is the standard library's
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

try:
    import fcntl
except ImportError:  # Windows: writers of different processes meet SQLite's own wait
    fcntl = None

# GET views in these blueprints write audit rows (cases, reports, the class CSV export) or lesson progress
# ("started" on first view), so their first transaction takes the write lock up front. Each such view commits
# what it records before it renders, and from that commit on the request reads as a plain reader: SQLite's one
# write lock is held for the recording only, never while a page renders.
READS_THAT_WRITE = frozenset({"cases", "reports", "lessons", "classes"})
# Views of those blueprints that record nothing: they never take the write lock (the inbox is read by every
# counselor all day long, and would otherwise queue them all behind each other).
READ_ONLY_VIEWS = frozenset({"cases.inbox", "reports.mine", "lessons.index", "lessons.my_lessons",
                             "classes.index", "classes.show"})


# Views that read first and write only at their end: their transactions begin as plain readers until the view
# enters write_phase(), so loading the user, checking the form or finding the case do not hold SQLite's one write
# lock while other reports and case views queue for it (measured: the lock is then held for the writes and the
# commit alone; a case view's wait for its turn under 32 counselors reading went from a p99 of 23-29 ms to 12-15).
READ_FIRST = frozenset({"reports.form", "cases.file"})


def _wants_write_lock() -> bool:
    if not has_request_context():
        return True  # CLI commands and background checks write
    if g.get("portal_read_phase"):
        return False
    if g.get("portal_write_phase"):
        return True
    if request.endpoint in READ_FIRST:
        return False
    if request.method not in ("GET", "HEAD"):
        return True
    return (request.blueprint in READS_THAT_WRITE and request.endpoint not in READ_ONLY_VIEWS
            and not g.get("portal_recorded"))


@contextmanager
def read_phase():
    """Inside a POST, begin transactions as plain readers: for slow work (a password hash) that must not hold
    SQLite's write lock. The caller ends the transaction (commit or rollback) before leaving the block."""
    g.portal_read_phase = True
    try:
        yield
    finally:
        g.portal_read_phase = False


@contextmanager
def write_phase():
    """In a READ_FIRST view, once its reading transaction has ended (the report form rolls it back): transactions
    begun inside the block take the write lock at BEGIN (IMMEDIATE), as every POST's do."""
    g.portal_write_phase = True
    try:
        yield
    finally:
        g.portal_write_phase = False


def commit_keeping_loaded(session: Session) -> None:
    """Commit without expiring what the session loaded, so that the page rendered next does not read it all again.

    For a view that loaded its objects inside the transaction it now commits and only renders them afterwards (a
    case file, read in the transaction that records the view): what it shows is what it checked. Never before a
    transaction that decides from those objects: a later SELECT does not refresh attributes already loaded, so a
    role or a lead changed meanwhile would go unseen (the report form rolls back instead).
    """
    session = session() if callable(session) else session  # the scoped session's current one
    keep, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


@contextmanager
def writing_after_reading(session: Session):
    """End a READ_FIRST view's reading phase, keeping everything it loaded, and run the block as its write phase:
    for a view whose writes decide nothing from what it read (a case file's audit row, after its access is checked
    again) and whose page shows what its check read. SQLite: the reading transaction ends (a COMMIT of nothing), so
    that the block's transaction takes the write lock at its BEGIN; PostgreSQL's goes on (one round trip fewer)."""
    current = session() if callable(session) else session  # the scoped session's current one
    if current.get_bind().dialect.name == "sqlite":
        commit_keeping_loaded(current)
    with write_phase():
        yield


def end_reading(session: Session, keep) -> None:
    """End a READ_FIRST view's reading phase before its write phase. Everything the checks loaded is expired, so
    that the writes decide on rows as they are now (a school's routing rule, its staff), except `keep`, the
    signed-in user, kept as the request loaded them: the writes record their id and role, the ones the request was
    allowed with, and reading their whole row again (a password hash, a second-factor secret decrypted as it is
    read) to reach their school cost a tenth of a report.

    SQLite: the reading transaction is rolled back, so that the writes take the write lock at their BEGIN.
    PostgreSQL has no such lock and reads each statement as committed then: the transaction goes on (a rollback and
    a new BEGIN were two round trips more)."""
    session = session() if callable(session) else session  # the scoped session's current one
    session.expunge(keep)
    try:
        if session.get_bind().dialect.name == "sqlite":
            session.rollback()
        else:
            session.expire_all()
    finally:
        session.add(keep)  # persistent again, its loaded attributes kept; its school was expired with the rest


def _without_row_values(context) -> None:
    """Take the values out of a PostgreSQL error before anything can log it. The server details a refused row in
    the error's text ("Failing row contains (…)", "Key (…)=(…) already exists"), and that text is the message of
    the exception SQLAlchemy raises, so a traceback in the log (an unhandled error, the mail courier, the periodic
    checks) would carry a case's categories, platforms or reference. The type of the error and its `diag` stay, so
    callers still tell a duplicate from anything else. SQLite's errors name the column, never its value."""
    original = context.original_exception
    detail = getattr(getattr(original, "diag", None), "message_detail", None)
    if not detail:
        return
    for error in (original, context.sqlalchemy_exception):  # the driver's, and SQLAlchemy's that quotes it
        if error is not None:
            error.args = tuple(arg.replace(detail, "(the values are withheld from the log)") if isinstance(arg, str)
                               else arg for arg in error.args)


def configure_engine(engine: Engine) -> None:
    """Turn on WAL, FULL sync and foreign keys for SQLite, and begin writers IMMEDIATE; check each PostgreSQL
    connection as the pool hands it out, and keep row values out of its errors."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _keep_prepared_statements)
        event.listen(engine, "checkout", _still_connected)
        event.listen(engine, "handle_error", _without_row_values)
        event.listen(engine, "handle_error", _forget_prepared_statements_at_rollback)
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take BEGIN away from pysqlite so the "begin" hook below decides the transaction kind.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")  # writers wait for the lock, not fail
        cursor.execute("PRAGMA secure_delete=ON")  # purged case text is overwritten, not left in free pages
        cursor.close()

    @event.listens_for(engine, "commit")
    def _on_commit(_connection):
        if has_request_context() and request.method in ("GET", "HEAD"):
            g.portal_recorded = True  # what this GET view records is committed: the rest of it only reads

    database = engine.url.database
    on_disk = fcntl is not None and database and database != ":memory:" and not database.startswith("file:")
    writers = WriterQueue(timeout=BUSY_TIMEOUT_SECONDS, turn_file=f"{database}-writers" if on_disk else None)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A deferred transaction that reads and then writes fails at once with "database is locked"
        # (SQLite cannot wait there); IMMEDIATE takes the write lock at BEGIN, where busy_timeout waits.
        if not _wants_write_lock():
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        writers.enter(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.leave(dbapi_connection)
            raise

    # The transaction ends in the DB-API's commit or rollback, or with its connection closed: each lets the next
    # writer of this process in, once SQLite has released its lock.
    dialect = engine.dialect
    for name in ("do_commit", "do_rollback", "do_close"):
        setattr(dialect, name, _then_leave(getattr(dialect, name), writers))


def _keep_prepared_statements(dbapi_connection, _record) -> None:
    """Let psycopg keep the statements it has prepared across a ROLLBACK, as it does across a COMMIT.

    psycopg prepares a statement on a connection once it has run five times there, so that PostgreSQL no longer
    parses and plans it each time (0.26 ms of the server's time a statement on a slow VM, against 0.04 ms to run
    one of the portal's), and it forgets them all at every ROLLBACK, sending DEALLOCATE ALL, in case the
    transaction made what a statement refers to. Every page that only reads ends in a ROLLBACK (the session's end),
    so nearly no statement was ever prepared (of the 2,988 that a run of 200 case files sent, 2,761 were parsed and
    planned anew).
    PostgreSQL itself keeps a prepared statement through a ROLLBACK (PREPARE is not transactional), and re-plans it
    when a table it reads changes; the portal changes its schema only in migrations, before it serves. psycopg
    still forgets them all when a statement drops or alters something (or runs DISCARD ALL) on the connection, and
    they are forgotten at the ROLLBACK after any error, as psycopg did (a statement whose table another connection
    altered, a Parse that failed in a pipeline: each fails once, not for the rest of the connection's life). Where
    psycopg's insides are not the ones this was written against, it is left as it is."""
    managers = _prepared_statement_managers()
    manager = getattr(dbapi_connection, "_prepared", None)
    if managers and type(manager) is managers[0]:
        manager.__class__ = managers[1]


def _forget_prepared_statements_at_rollback(context) -> None:
    """After an error on a connection, the ROLLBACK that follows forgets its prepared statements (psycopg's way)."""
    connection = context.connection
    if connection is None or connection.closed or connection.invalidated:
        return  # a connection that is gone takes its prepared statements with it
    manager = getattr(connection.connection.dbapi_connection, "_prepared", None)
    managers = _prepared_statement_managers()
    if managers and isinstance(manager, managers[1]):
        manager.forget_at_rollback = True


@lru_cache(maxsize=1)
def _prepared_statement_managers():
    """psycopg's manager of a connection's prepared statements and one that keeps them across a ROLLBACK; None
    with another psycopg than the one this was written against (3.3: psycopg/_preparing.py and the callers of its
    clear(); a newer one keeps psycopg's own way until this is checked against it, and the test in
    tests/test_scale.py says so)."""
    try:
        import psycopg
        from psycopg._preparing import PrepareManager  # psycopg's own; not imported with SQLite
    except ImportError:
        return None
    if not psycopg.__version__.startswith("3.3.") or not all(
            callable(getattr(PrepareManager, name, None)) for name in ("_should_discard", "clear")):
        return None

    class PreparedAcrossRollbacks(PrepareManager):
        _forgetting = False
        forget_at_rollback = False  # set after an error (_forget_prepared_statements_at_rollback)

        def _should_discard(self, prep, results) -> bool:
            # A statement's result (DROP, ALTER, DISCARD ALL, DEALLOCATE ALL, ROLLBACK TO SAVEPOINT) forgets them all
            # (psycopg looks at a statement's result the first time that statement runs on the connection).
            self._forgetting = True
            try:
                return super()._should_discard(prep, results)
            finally:
                self._forgetting = False

        def clear(self) -> bool:
            # Otherwise Connection.rollback() is asking, after a transaction that went well.
            if self._forgetting or self.forget_at_rollback:
                self.forget_at_rollback = False
                return super().clear()
            return False

    return PrepareManager, PreparedAcrossRollbacks


def _still_connected(dbapi_connection, _record, _proxy) -> None:
    """Hand out a pooled PostgreSQL connection only while the server still holds it open, so that a restart costs no
    request. A server that ends a connection (a restart, pg_terminate_backend, a crash) sends its reason or closes
    the socket while the connection sits idle in the pool, and an idle connection is sent nothing else: anything to
    read means it is gone, and the pool connects again (DisconnectionError). Asked of the socket, not the server:
    SQLAlchemy's pool_pre_ping sent a statement for every checkout, two or three round trips a report."""
    try:
        socket = dbapi_connection.fileno()
    except Exception as error:  # psycopg: the connection is closed already
        raise DisconnectionError("the connection is closed") from error
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(socket, select.POLLIN)
        waiting = poller.poll(0)
    else:  # Windows
        waiting = select.select([socket], [], [], 0)[0]
    if waiting:
        raise DisconnectionError("the server ended this connection while it was in the pool")


BUSY_TIMEOUT_SECONDS = 15


class WriterQueue:
    """SQLite's writers, one at a time, each let in as soon as the one before has committed.

    A write transaction begins IMMEDIATE and takes SQLite's one write lock; a second writer waits in SQLite's busy
    handler, which sleeps 1, 2, 5, 10 … 100 ms between tries, so under load the lock stands free while waiters
    sleep and one writer can lose many rounds in a row (reports' p99 was 0.9 s at 137 a second). Threads of this
    process queue here instead, first come first served, and the turn is handed to the next one right after the
    commit, rollback or close. With `turn_file`, the thread that has this process's turn then takes the turn among
    processes (a second worker, `portal tick`): a FileTurn beside the database. A writer waits here at most
    `timeout` (busy_timeout), then goes on without a turn to SQLite's own wait.
    """

    def __init__(self, timeout: float, turn_file: str | None = None):
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False
        self._holder = None  # the DB-API connection whose write transaction has the turn
        self._timeout = timeout
        self._between_processes = FileTurn(turn_file) if turn_file else None
        self._file_turn: int | None = None  # the holder's turn among processes (an open file), if it has it
        _QUEUES.add(self)

    def enter(self, dbapi_connection) -> None:
        if self._holder is dbapi_connection:
            return
        # Made before the mutex is taken: an allocation under it could run a collection whose finalizer rolls back
        # a forgotten connection and calls leave(), which takes the mutex again.
        turn, asked = threading.Event(), time.monotonic()
        with self._mutex:
            queued = self._held
            if queued:
                self._waiting.append(turn)
            else:
                self._held = True
        if queued:
            try:
                handed = turn.wait(self._timeout)
            except BaseException:
                if self._withdraw(turn):
                    self._pass_on()  # it came while we were leaving: give it to the next
                raise
            if not handed and not self._withdraw(turn):
                return
        self._holder = dbapi_connection
        if self._between_processes is not None:  # what is left of the same wait: at most `timeout` in all
            self._file_turn = self._between_processes.take(max(0.0, self._timeout - (time.monotonic() - asked)))

    def leave(self, dbapi_connection) -> None:
        if self._holder is None or self._holder is not getattr(dbapi_connection, "dbapi_connection",
                                                               dbapi_connection):
            return
        self._holder = None
        if self._file_turn is not None:
            FileTurn.give_back(self._file_turn)
            self._file_turn = None
        self._pass_on()

    def _withdraw(self, turn: threading.Event) -> bool:
        """Leave the queue; True when the turn was handed over meanwhile (the caller has it)."""
        with self._mutex:
            if turn.is_set():
                return True
            self._waiting.remove(turn)
            return False

    def _pass_on(self) -> None:
        with self._mutex:
            following = self._waiting.popleft() if self._waiting else None
            if following is None:
                self._held = False
        if following is not None:
            following.set()  # outside the mutex, for the same reason as in enter()


class FileTurn:
    """The write turn among the processes that share one SQLite file: an exclusive flock on a file beside it.

    Only the thread that has its process's turn (WriterQueue) asks, so each process has at most one writer waiting
    here. flock waits in the kernel and wakes a waiter the moment the lock is given back, where SQLite's busy
    handler sleeps between tries and lets the process that just committed take the lock again ahead of the
    others; and the kernel gives the lock back if its process dies. Each turn opens the file anew: flock belongs
    to an open file, so a turn is never shared with an earlier waiter (and a forked child closes the turn it
    inherits, _forget_turns_in_child). Where the file cannot be opened or locked, the writer goes on without
    this turn to SQLite's own wait, as before.
    """

    def __init__(self, path: str):
        self._path = path

    def take(self, timeout: float) -> int | None:
        """The turn (an open file to give back), or None after `timeout` seconds without it."""
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None  # e.g. no room for another open file, or the file belongs to another user
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        except OSError:
            os.close(fd)
            return None  # a file system without flock
        # flock cannot stop waiting after a time: a helper thread waits in it, and gives the turn straight back
        # if this writer has stopped waiting by then.
        handover = _Handover()
        try:
            threading.Thread(target=_wait_for_turn, args=(fd, handover), daemon=True,
                             name="sqlite-writer-turn").start()
        except BaseException:
            os.close(fd)
            raise
        return fd if handover.taken(timeout) else None

    @staticmethod
    def give_back(fd: int) -> None:
        os.close(fd)  # closing the file ends its flock


class _Handover:
    """A turn passed from the helper thread that waited for it to the writer, unless the writer gave up first."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._arrived = threading.Event()
        self._got = False
        self._abandoned = False

    def arrive(self, got: bool) -> bool:
        """The helper's wait is over; False when the writer no longer waits (the helper gives the turn back)."""
        with self._mutex:
            self._got = got
            self._arrived.set()
            return not self._abandoned

    def taken(self, timeout: float) -> bool:
        try:
            self._arrived.wait(timeout)
        finally:  # also when the wait is interrupted (Ctrl+C in `portal tick`): a turn nobody takes is given back
            with self._mutex:
                self._abandoned = not self._arrived.is_set()
        return self._got and not self._abandoned


def _wait_for_turn(fd: int, handover: _Handover) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        got = True
    except OSError:
        got = False
    if not handover.arrive(got) or not got:
        os.close(fd)


_QUEUES: weakref.WeakSet[WriterQueue] = weakref.WeakSet()


def _forget_turns_in_child() -> None:
    """A forked child shares its parent's open files, and with them a turn the parent held: close the child's copy
    (the parent still holds the turn through its own)."""
    for queue in list(_QUEUES):
        if queue._file_turn is not None:
            os.close(queue._file_turn)
            queue._file_turn = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_turns_in_child)


def _then_leave(method, writers: WriterQueue):
    def ended(dbapi_connection, *args, **kwargs):
        try:
            return method(dbapi_connection, *args, **kwargs)
        finally:
            writers.leave(dbapi_connection)

    return ended


def insert_if_missing(session: Session, model, **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING: make sure a row exists even when concurrent transactions race to create
    it (a plain check-then-insert gives one of them a duplicate key)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


# A write sent along with another statement (with_writes): a statement made once, and its parameters, either a dict
# or, for an INSERT, a sequence of rows with the same keys (an empty one: nothing to write).
Write = tuple[Executable, dict | Sequence[dict]]


def with_writes(statement: Executable, writes: Sequence[Write]) -> tuple[Executable, dict]:
    """PostgreSQL: `statement` with `writes` as its CTEs, and the writes' parameters (the caller adds the
    statement's own; a dict's binds must be named unlike them), so that the writes go in the statement's round trip:
    one fewer for each while the caller holds a lock to its commit. Made once for each combination of writes: a
    statement made anew is keyed and looked up again at every execution. The rows of an INSERT go as one array a
    column (`INSERT … SELECT unnest(…), …`): in a VALUES list they would make SQLAlchemy compile the statement anew
    every time (it does not cache multi-row VALUES; that tripled the time an audit row held the chain's head)."""
    shapes, params = _shapes(writes)
    return (_with_writes(statement, shapes) if shapes else statement), params


def inserting(session: Session, table, values: dict, children: Sequence[Write], key: str) -> int:
    """Insert a row of `table` with `values` and the rows of `children` (database.Write INSERTs) that refer to it:
    each child row is given without `key`, which takes the new row's id. Returns that id.

    PostgreSQL: one statement, each child an `INSERT … SELECT <the new id>, unnest(…)` CTE of the row's own INSERT
    (a new case's checklist, assignees and notices: one round trip where there were four). Its foreign keys are
    checked at the statement's end, where the new row is there. SQLite: one INSERT after the other."""
    if any(isinstance(rows, dict) for _write, rows in children):
        raise ValueError("the rows that refer to a new row are a list of rows, each without its reference")
    if session.get_bind().dialect.name != "postgresql":
        new_id = session.execute(_returning_id(table), values).scalar_one()
        run_each(session, [(write, [{**row, key: new_id} for row in rows]) for write, rows in children])
        return new_id
    shapes, params = _shapes(children)
    statement = _inserting_with(table, tuple(values), shapes, key)
    return session.execute(statement, {**params, **{f"p_{name}": value for name, value in values.items()}}).scalar_one()


def _shapes(writes: Sequence[Write]) -> tuple[tuple, dict]:
    """Each write that writes something as (statement, its rows' columns or None for a dict of binds), and the
    parameters of them all: a write's rows go as one array a column, bound as w<n>_<column>."""
    shapes, params = [], {}
    for write, given in _to_write(writes):
        if isinstance(given, dict):
            params.update(given)
            shapes.append((write, None))
            continue
        columns = tuple(given[0])
        if any(row.keys() != given[0].keys() for row in given):
            raise ValueError("the rows of one write must all have the same columns")
        params.update({f"w{len(shapes)}_{name}": [row[name] for row in given] for name in columns})
        shapes.append((write, columns))
    return tuple(shapes), params


def _unnested(write, n: int, columns: tuple[str, ...], *first):
    """An INSERT of rows given as one array a column (bound as w<n>_<column>), after the `first` values of each."""
    return write.from_select(columns, sql_select(*first, *(
        func.unnest(bindparam(f"w{n}_{name}", type_=ARRAY(_unbounded(write.table.c[name].type))))
        for name in columns[len(first):])))


@lru_cache(maxsize=32)
def _with_writes(statement: Executable, shapes: tuple[tuple[Executable, tuple[str, ...] | None], ...]):
    ctes = [(write if columns is None else _unnested(write, n, columns)).cte(f"w{n}")
            for n, (write, columns) in enumerate(shapes)]
    return statement.add_cte(*ctes)


@lru_cache(maxsize=16)
def _inserting_with(table, names: tuple[str, ...], shapes: tuple, key: str):
    """inserting's statement on PostgreSQL, made once for each table, set of columns and set of children."""
    row = table.insert().values({name: bindparam(f"p_{name}", type_=table.c[name].type) for name in names})
    row = row.returning(table.c.id).cte("new_row")
    children = [_unnested(write, n, (key, *columns), row.c.id).cte(f"w{n}")
                for n, (write, columns) in enumerate(shapes)]
    return sql_select(row.c.id).add_cte(*children)


@lru_cache(maxsize=16)
def _returning_id(table):
    return table.insert().returning(table.c.id)


def _unbounded(column_type):
    """The column's type without its length: PostgreSQL cuts a value cast to varchar(n)[] to n characters without a
    word, where an INSERT of the value itself refuses it."""
    if getattr(column_type, "length", None) is None:
        return column_type
    unbounded = column_type.copy()
    if isinstance(unbounded, TypeDecorator):  # its length is its wrapped type's: that is the one compiled
        unbounded.impl = unbounded.impl_instance = _unbounded(unbounded.impl_instance)
    else:
        unbounded.length = None
    return unbounded


def run_each(session: Session, writes: Sequence[Write]) -> None:
    """The writes one after the other (SQLite, whose write lock is held from the transaction's start anyway)."""
    for write, params in _to_write(writes):
        session.execute(write, params if isinstance(params, dict) else list(params))


def _to_write(writes: Sequence[Write]) -> list[Write]:
    """The writes that write something: a dict of parameters, or at least one row."""
    return [(write, given) for write, given in writes if isinstance(given, dict) or len(given)]


def add_to_counts(session: Session, model, rows: list[dict], keys: tuple[str, ...], column: str = "count") -> None:
    """INSERT … ON CONFLICT DO UPDATE: add each row's `column` to the stored count of its key, creating the rows
    that are missing, in one execution however many rows. Concurrent transactions add up, never overwrite: the
    conflict takes the row's lock and adds to what the other committed."""
    session.execute(adding(session, model, keys, column), rows)


def adding(session: Session, model, keys: tuple[str, ...], column: str = "count"):
    """add_to_counts' statement, for a caller that sends its rows with another statement (a Write: a new case's
    running counts go with its counter's)."""
    return _adding(session.get_bind().dialect.name, model, keys, column)


@lru_cache(maxsize=16)
def _adding(dialect: str, model, keys: tuple[str, ...], column: str):
    """add_to_counts' statement, made once for each table (every report runs it: made anew, with the rows in its
    VALUES, it cost four times its execution)."""
    table = model.__table__  # Core: the ORM's bulk path for a list of rows cost more than the statement itself
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: table.c[column] + statement.excluded[column]})
