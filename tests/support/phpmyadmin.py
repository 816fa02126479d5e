"""Logging in to phpMyAdmin's cookie auth over HTTP, the way a browser does.

GET the login page (it sets the phpMyAdmin session cookie and carries the
form's hidden fields: token, set_session, ...), then POST the form with a
MySQL account. Logged in, phpMyAdmin answers pages instead of the login form;
a refused login comes back as the login form with an error. For the
phpMyAdmin stand-in in integration tests and for the end-to-end stack.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote_plus, urljoin

import requests

TIMEOUT = 20  # seconds, every request

LOGIN_FORM_ID = "login_form"
_DATABASE_LINK = re.compile(r'href="index\.php\?route=/database/structure&(?:amp;)?db=([^"&]+)"')


class _LoginForm(HTMLParser):
    """The inputs (name -> value) of the page's login form."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False
        self.inputs: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("id") == LOGIN_FORM_ID:
            self.found = self._inside = True
        elif tag == "input" and self._inside and attributes.get("name"):
            self.inputs[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def login_form(page: str) -> dict[str, str] | None:
    """The login form's fields with their values, or None when the page has no login form."""
    parser = _LoginForm()
    parser.feed(page)
    return parser.inputs if parser.found else None


def is_login_page(page: str) -> bool:
    return login_form(page) is not None


class _Errors(HTMLParser):
    """The text of the visible error boxes: <div class="alert alert-danger">, except
    those every page carries for browsers (inside <noscript> or a hidden div)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._divs: list[tuple[bool, bool]] = []  # (hidden, is an error box) per open div
        self._noscript = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "noscript":
            self._noscript += 1
        elif tag == "div":
            classes = (dict(attrs).get("class") or "").split()
            hidden = self._noscript > 0 or "hide" in classes or any(h for h, _ in self._divs)
            self._divs.append((hidden, "alert-danger" in classes and not hidden))

    def handle_endtag(self, tag: str) -> None:
        if tag == "noscript":
            self._noscript = max(0, self._noscript - 1)
        elif tag == "div" and self._divs:
            _, is_error = self._divs.pop()
            if is_error:
                self.found.append(" ".join("".join(self._text).split()))
                self._text = []

    def handle_data(self, data: str) -> None:
        if any(is_error for _, is_error in self._divs):
            self._text.append(data)


def errors(page: str) -> list[str]:
    """The text of the page's visible error boxes (e.g. "Cannot log in to the MySQL server ...")."""
    parser = _Errors()
    parser.feed(page)
    return parser.found


@dataclass
class Login:
    base_url: str
    session: requests.Session
    page: str  # what the login POST ended on (after redirects)

    @property
    def logged_in(self) -> bool:
        return not is_login_page(self.page)

    def get(self, route: str, **params: str) -> str:
        """A page of the logged-in session, e.g. get("/server/databases")."""
        answer = self.session.get(
            urljoin(self.base_url + "/", "index.php"),
            params={"route": route, "server": "1", **params},
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        return answer.text

    def databases(self) -> set[str]:
        """The databases the server's database list shows this account."""
        page = self.get("/server/databases")
        if is_login_page(page):
            raise AssertionError("not logged in: the database list shows the login form")
        return {unquote_plus(html.unescape(name)) for name in _DATABASE_LINK.findall(page)}


def log_in(base_url: str, user: str, password: str, server: str = "1") -> Login:
    """Log in through the login form; whether it worked is `Login.logged_in` (errors() of its page if not)."""
    session = requests.Session()
    first = session.get(base_url.rstrip("/") + "/", timeout=TIMEOUT)
    first.raise_for_status()
    fields = login_form(first.text)
    if fields is None:
        raise AssertionError(f"{base_url}/ shows no login form: {first.text[:500]}")
    if "token" not in fields:
        raise AssertionError(f"the login form has no token: {sorted(fields)}")
    fields.update({"pma_username": user, "pma_password": password, "server": server})
    answer = session.post(urljoin(base_url.rstrip("/") + "/", "index.php?route=/"), data=fields, timeout=TIMEOUT)
    answer.raise_for_status()
    return Login(base_url.rstrip("/"), session, answer.text)
