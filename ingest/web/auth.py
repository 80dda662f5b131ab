"""The standalone server's own login: HTTP Basic against ``NEWSMON_WEB_PASSWORD``.

Decision: HTTP Basic, not a cookie session. It needs no login page, no session secret
to rotate and no CSRF protection (the app has no state-changing endpoints), works with
curl and a Prometheus scraper as well as browsers, and is checked on every request in
constant time. Basic credentials are only obfuscated, so a non-loopback deployment
belongs behind TLS (a reverse proxy that terminates HTTPS).

Inside Airflow the app is mounted behind Airflow's own authentication instead (the
plugin passes ``requires_authenticated()`` as a dependency) and this module is unused.

Policy for ``newsmon serve``:
- loopback bind without a password: allowed (a laptop), with a warning;
- any other bind without a password: refused (never open to the network);
- with a password: every page, API endpoint and /metrics requires it.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

DEFAULT_USER = "newsmon"
MIN_PASSWORD_LENGTH = 8
REALM = "newsmon"


class BindPolicyError(ValueError):
    """Serving on this address without a login is refused (message says what to set)."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, password: str | None) -> None:
    """Raise :class:`BindPolicyError` when ``host`` is reachable from the network and no
    (long enough) password is configured."""
    if password is not None and password != "" and len(password) < MIN_PASSWORD_LENGTH:
        raise BindPolicyError(
            f"NEWSMON_WEB_PASSWORD is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if not password and not is_loopback(host):
        raise BindPolicyError(
            f"refusing to serve on {host} without a login: set NEWSMON_WEB_PASSWORD "
            "(and NEWSMON_WEB_USER, default 'newsmon'), or bind to 127.0.0.1"
        )


def basic_auth_dependency(user: str, password: str) -> Callable[..., None]:
    """A FastAPI dependency that accepts only ``user``/``password`` (HTTP Basic)."""
    scheme = HTTPBasic(realm=REALM, auto_error=False)
    expected_user, expected_password = user.encode(), password.encode()

    def require_login(
        credentials: HTTPBasicCredentials | None = Depends(scheme),  # noqa: B008
    ) -> None:
        ok = credentials is not None
        if credentials is not None:
            # Compare both, always: no early exit that would time the user name.
            user_ok = secrets.compare_digest(credentials.username.encode(), expected_user)
            password_ok = secrets.compare_digest(credentials.password.encode(), expected_password)
            ok = user_ok and password_ok
        if not ok:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="login required",
                headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
            )

    return require_login
