"""School Deepfake Response Portal: the application factory."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

from portal import config as config_module
from portal import models  # noqa: F401  registers every table before anything binds


class DatabaseId(IntegerConverter):
    """<int:…> in a URL: an id the database can hold. A larger number is simply not found (404), never a 500 from
    PostgreSQL's integer range."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: load config, bind extensions, register blueprints, CLI and error handlers."""
    instance_path = os.environ.get("PORTAL_INSTANCE_PATH") or str(config_module.PROJECT_ROOT / "instance")
    app = Flask(__name__, instance_path=str(Path(instance_path).resolve()), instance_relative_config=True)
    app.url_map.converters["int"] = DatabaseId  # before any route: every <int:…> is a database id
    app.config.from_object(config_module.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    config_module.load_environment(app.config)
    if test_config:
        app.config.update(test_config)
    _finalize_config(app)

    from portal import errors, forms, i18n, jurisdiction, labels, navigation, security
    from portal.extensions import babel, csrf, db, limiter, login_manager

    forms.use_fast_html_params()
    app.jinja_env.globals.update(form_field=forms.field, form_choice_group=forms.choice_group)

    db.init_app(app)
    with app.app_context():
        from portal.database import configure_engine

        configure_engine(db.engine)
    errors.init_app(app)  # first: its Host check must run before any other before_request hook
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app, babel)
    security.init_app(app, login_manager)
    navigation.init_app(app)
    labels.init_app(app)

    from portal.services import content, duties, mail, retention

    mail.init_app(app)
    content.init_app(app)
    duties.init_app(app)
    jurisdiction.init_app(app)
    retention.init_app(app)

    from portal.account.routes import bp as account_bp
    from portal.admin.routes import bp as admin_bp
    from portal.auth import bp as auth_bp
    from portal.cases.routes import bp as cases_bp
    from portal.channel.routes import bp as channel_bp
    from portal.classes.routes import bp as classes_bp
    from portal.dashboard.routes import bp as dashboard_bp
    from portal.district.routes import bp as district_bp
    from portal.lessons.routes import bp as lessons_bp
    from portal.public.routes import bp as public_bp
    from portal.reports.routes import bp as reports_bp

    for blueprint in (public_bp, auth_bp, account_bp, dashboard_bp, reports_bp, cases_bp, lessons_bp, classes_bp,
                      admin_bp, district_bp, channel_bp):
        app.register_blueprint(blueprint)

    from portal import cli, pagecache, staticfiles

    cli.init_app(app)
    pagecache.init_app(app)
    staticfiles.init_app(app)  # in front of the page cache: a stylesheet never reaches Flask
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind nginx every request comes from the proxy: per-address limits need the client's own address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])
    return app


# PostgreSQL connections' TCP keepalives (libpq's names), under any `connect_args` the operator sets.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def _finalize_config(app: Flask) -> None:
    """Fill in values that depend on other settings."""
    cfg = app.config
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        cfg["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "portal.db")
    if not cfg.get("SECRET_KEY"):
        raise config_module.ConfigurationError(
            "No SECRET_KEY: run `portal serve` or `portal init` to create the instance folder.")
    from portal.urls import public_url_problem

    if problem := public_url_problem(cfg["PUBLIC_URL"]):
        raise config_module.ConfigurationError(
            f"PUBLIC_URL {cfg['PUBLIC_URL']!r} cannot be used: {problem}. Set it (PORTAL_PUBLIC_URL or "
            "instance/config.py) to the address users open, such as https://portal.school.kr")
    if cfg["DEMO_MODE"]:
        cfg["REQUIRE_TWO_FACTOR"] = False
    if cfg["HTTPS"]:
        # Over HTTPS the cookie is Secure and __Host- prefixed: no subdomain or plain-HTTP page can set it.
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["SESSION_COOKIE_NAME"] = "__Host-portal"
        cfg["PREFERRED_URL_SCHEME"] = "https"
    else:
        cfg["SESSION_COOKIE_NAME"] = "portal"
    # Unset: counted in the instance folder's file, which every worker process of this machine shares
    # (portal/ratelimits.py); Redis shares them across machines.
    from portal import ratelimits
    from portal.extensions import REDIS_LIMITS

    cfg["RATELIMIT_STORAGE_URI"] = cfg.get("RATELIMIT_STORAGE_URI") or (
        f"{ratelimits.PREFIX}///" + os.path.join(app.instance_path, "ratelimits.db"))
    if cfg["RATELIMIT_STORAGE_URI"].startswith(ratelimits.PREFIX):
        # The file keeps an HMAC of each key (an address, an account), never the key (portal/ratelimits.py), under
        # the secret `portal serve` made for its workers; else one derived from SECRET_KEY (waitress, gunicorn).
        from portal.crypto import derived_key

        ratelimits.SECRETS[cfg["RATELIMIT_STORAGE_URI"]] = (
            cfg.get("RATELIMIT_SECRET") or derived_key(cfg["SECRET_KEY"], b"portal rate-limit keys v1").hex())
    if cfg["RATELIMIT_STORAGE_URI"].startswith(REDIS_LIMITS):
        # A Redis that hangs must not hang sign-in: give up within half a second and fall back to memory.
        cfg.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    # A failed statement's error names its SQL but never its values (names, e-mail addresses, case text); what
    # PostgreSQL itself says of a refused row is withheld too (database._without_row_values).
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True, **cfg.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # TCP keepalives on every connection: an idle one is probed after 30 s, so a firewall or load balancer in
        # between does not drop it, and one whose server vanished without closing it (a host crash, a failover)
        # fails within a minute, which the pool's check before use then sees (database._still_connected).
        options = cfg["SQLALCHEMY_ENGINE_OPTIONS"]
        options["connect_args"] = {**KEEPALIVES, **options.get("connect_args", {})}
    if cfg.get("TRUSTED_HOSTS") is None:
        cfg["TRUSTED_HOSTS"] = trusted_hosts(cfg["PUBLIC_URL"])


def trusted_hosts(public_url: str) -> list[str]:
    """The Host header values the portal answers to: its public host and loopback names.

    Any other Host gets 400 (Flask's TRUSTED_HOSTS), so nothing built from a forged Host header reaches a page.
    """
    from portal.urls import public_host

    return sorted({public_host(public_url), "localhost", "127.0.0.1", "::1"} - {""})
