"""The moderator web page (``/moderate``): server-rendered Jinja2 with a little vanilla JavaScript.

Forms work without JavaScript (POST, then redirect with a flash message); with JavaScript the
same endpoints answer ``fetch`` calls (``Accept: application/json``) with the re-rendered card.
Every POST checks the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from civility.model.labels import label_ids
from civility.service.auth import Principal
from civility.service.db.base import utcnow
from civility.service.db.keys import Role, find_active_key
from civility.service.db.moderation import Comment
from civility.service.deps import SessionDep, SettingsDep
from civility.service.errors import ApiError
from civility.service.login_throttle import LoginThrottle
from civility.service.moderation import decisions
from civility.service.moderation.accounts import authenticate_password
from civility.service.moderation.audit import Actor, audit_trail
from civility.service.moderation.config import ModerationConfig
from civility.service.moderation.deps import ModerationConfigDep
from civility.service.moderation.errors import InvalidInput, ModerationError
from civility.service.moderation.history import author_history
from civility.service.moderation.queue import (
    QUEUES,
    SORTS,
    QueueFilter,
    comment_out,
    get_comment,
    list_queue,
    queue_counts,
)
from civility.service.moderation.schemas import BulkDecisionIn, BulkItem, DecisionIn
from civility.service.moderation.webforms import LABEL_CHOICES, corrected_labels, is_label_field
from civility.service.moderation.websession import (
    check_csrf,
    csrf_token,
    flash,
    log_in,
    log_out,
    pop_flashes,
    web_principal,
)
from civility.service.moderation.webviews import card_view, corrections_text, label_title, queue_url, tabs
from civility.service.settings import Settings

BASE = "/moderate"
DETAIL_VIEW = "detail"  # the ``view`` form field of a card on its comment page (vs. the queue)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
templates.env.filters["label_title"] = label_title
templates.env.filters["corrections"] = corrections_text
templates.env.globals["label_ids"] = label_ids
templates.env.globals["label_choices"] = LABEL_CHOICES
templates.env.globals["detail_view"] = DETAIL_VIEW

router = APIRouter(prefix=BASE, include_in_schema=False)


# Defence in depth on top of autoescaping: no inline or third-party scripts, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=PAGE_HEADERS)


class LoginRequired(Exception):
    """Raised inside page handlers; turned into a redirect to the login page."""


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _safe_next(target: str | None) -> str:
    """Only same-site paths under /moderate (no open redirects)."""
    if not target:
        return BASE
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith(BASE):
        return BASE
    return target


def _require(request: Request, settings: Settings, session: Session) -> Principal:
    principal = web_principal(request, settings, session)
    if principal is None:
        raise LoginRequired()
    return principal


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{BASE}/login?next={target}", status_code=303)


def _context(
    request: Request, principal: Principal | None, config: ModerationConfig, **extra: Any
) -> dict[str, Any]:
    return {
        "base": BASE,
        "principal": principal,
        "csrf_token": csrf_token(request),
        "flashes": pop_flashes(request),
        "reject_reasons": config.reject_reasons,
        **extra,
    }


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR.resolve() or not path.is_file() or path.suffix not in STATIC_TYPES:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    config: ModerationConfigDep,
    next: str = BASE,
) -> Response:
    if web_principal(request, settings, session) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(request, "login.html", _context(request, None, config, next=_safe_next(next), error=None))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    config: ModerationConfigDep,
    csrf_token: str = Form(default=""),
    api_key: str = Form(default=""),
    username: str = Form(default=""),
    password: str = Form(default=""),
    next: str = Form(default=BASE),
) -> Response:
    check_csrf(request, csrf_token)
    principal: Principal | None = None
    account: str | None = None
    key_text, user = api_key.strip(), username.strip()
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    # Failed attempts are limited per address and, for password sign-ins, per username. During a
    # lockout every attempt is refused before the credentials are looked at, right or wrong.
    with throttle.attempt(address, None if key_text else user) as attempt:
        if attempt.lockout is not None:
            response = _render(
                request,
                "login.html",
                _context(request, None, config, next=_safe_next(next), error=attempt.lockout.message),
                status_code=429,
            )
            response.headers["Retry-After"] = str(attempt.lockout.retry_after)
            return response
        if key_text:
            key = find_active_key(session, key_text)
            if key is not None:
                principal = Principal(key_id=key.id, name=key.name, role=Role.parse(key.role))
        elif user and password:
            found = authenticate_password(session, user, password)
            if found is not None:
                principal = Principal(key_id=None, name=found.username, role=Role.parse(found.role))
                account = found.username
                session.commit()
        if principal is None or not principal.allows(Role.moderator):
            attempt.failed()
            error = (
                "That key or login does not have the moderator role."
                if principal is not None
                else "Unknown API key, or wrong username or password."
            )
            return _render(
                request,
                "login.html",
                _context(request, None, config, next=_safe_next(next), error=error),
                status_code=401 if principal is None else 403,
            )
    log_in(request, principal, account=account)
    flash(request, f"Signed in as {principal.name}.", "success")
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(default="")) -> RedirectResponse:
    check_csrf(request, csrf_token)
    log_out(request)
    return RedirectResponse(f"{BASE}/login", status_code=303)


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number between 0 and 1", field=name) from exc


def _filter_from(request: Request) -> QueueFilter:
    params = request.query_params

    def text(name: str) -> str | None:
        value = params.get(name, "").strip()
        return value or None

    queue = params.get("queue", "pending")
    sort = params.get("sort", "priority")
    try:
        offset = int(params.get("offset", "0") or 0)
    except ValueError as exc:
        raise InvalidInput("offset must be a whole number", field="offset") from exc
    return QueueFilter(
        queue=queue if queue in QUEUES else "pending",
        label=text("label"),
        min_score=_float_param(request, "min_score"),
        max_score=_float_param(request, "max_score"),
        story_id=text("story_id"),
        author_id=text("author_id"),
        site=text("site"),
        sort=sort if sort in SORTS else "priority",
        offset=max(offset, 0),
    )


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request, settings: SettingsDep, session: SessionDep, config: ModerationConfigDep
) -> Response:
    try:
        principal = _require(request, settings, session)
    except LoginRequired:
        return _login_redirect(request)
    try:
        flt = _filter_from(request).validate(config)
        page = list_queue(session, config, flt)
    except ModerationError as error:
        flash(request, f"Filter ignored: {error.message}", "error")
        flt = QueueFilter().validate(config)
        page = list_queue(session, config, flt)
    counts = queue_counts(session, flt)
    assert flt.limit is not None
    previous_url = (
        queue_url(BASE, flt, offset=max(flt.offset - flt.limit, 0) or None) if flt.offset > 0 else None
    )
    next_url = queue_url(BASE, flt, offset=page.next_offset) if page.next_offset is not None else None
    return _render(
        request,
        "queue.html",
        _context(
            request,
            principal,
            config,
            flt=flt,
            page=page,
            cards=[card_view(item, config) for item in page.items],
            tabs=tabs(BASE, flt, counts),
            labels=label_ids(),
            sorts=SORTS,
            previous_url=previous_url,
            next_url=next_url,
            return_to=queue_url(BASE, flt),
        ),
    )


def _comment_url(comment_id: int) -> str:
    return f"{BASE}/comments/{comment_id}"


def _card_html(
    request: Request, comment_id: int, session: Session, config: ModerationConfig, *, detail: bool = False
) -> str:
    """A card re-rendered after an action, as the page it sits on shows it (queue or comment page)."""
    card = card_view(comment_out(get_comment(session, comment_id)), config)
    template = templates.env.get_template("_card.html")
    return template.render(
        card=card,
        base=BASE,
        csrf_token=csrf_token(request),
        reject_reasons=config.reject_reasons,
        detail=detail,
        selectable=not detail,
        return_to=_comment_url(comment_id) if detail else None,
    )


async def _label_fields(request: Request) -> list[tuple[str, Any]]:
    """The ``label.<id>`` fields of a decision form (the form is already parsed and cached)."""
    form = await request.form()
    return [(name, value) for name, value in form.multi_items() if is_label_field(name)]


LabelFieldsDep = Annotated[list[tuple[str, Any]], Depends(_label_fields)]


def _action_response(
    request: Request,
    *,
    ok: bool,
    message: str,
    return_to: str,
    status_code: int = 200,
    payload: dict[str, Any] | None = None,
) -> Response:
    if _wants_json(request):
        return JSONResponse({"ok": ok, "message": message, **(payload or {})}, status_code=status_code)
    flash(request, message, "success" if ok else "error")
    return RedirectResponse(_safe_next(return_to), status_code=303)


def _refused(request: Request, error: ModerationError, return_to: str, **payload: Any) -> Response:
    """The answer to a refused action (nothing was written): the error, plus any extra payload for JSON."""
    return _action_response(
        request,
        ok=False,
        message=error.message,
        return_to=return_to,
        status_code=error.status_code,
        payload={"error": error.to_dict(), **payload},
    )


def _unauthenticated(request: Request) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"ok": False, "message": "Your session has ended; sign in again.", "login": f"{BASE}/login"},
            status_code=401,
        )
    return RedirectResponse(f"{BASE}/login", status_code=303)


def _card_action(
    request: Request,
    session: Session,
    config: ModerationConfig,
    comment_id: int,
    *,
    detail: bool,
    return_to: str,
    run: Callable[[], Comment],
    done: Callable[[Comment], str],
) -> Response:
    """Run one comment's moderation action and answer with its re-rendered card (JSON) or a redirect.

    On a refused action nothing is written (the session is rolled back) and the card is re-rendered
    as it now stands, so a stale page shows the current state; a missing comment has no card.
    """
    try:
        comment = run()
    except ModerationError as error:
        session.rollback()
        missing = error.status_code == 404
        html = None if missing else _card_html(request, comment_id, session, config, detail=detail)
        return _refused(request, error, return_to, html=html)
    return _action_response(
        request,
        ok=True,
        message=done(comment),
        return_to=return_to,
        payload={
            "id": comment_id,
            "status": comment.status,
            "version": comment.version,
            "html": _card_html(request, comment_id, session, config, detail=detail),
        },
    )


@router.post("/comments/{comment_id}/decide")
def decide(
    comment_id: int,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    config: ModerationConfigDep,
    label_fields: LabelFieldsDep,
    csrf_token: str = Form(default=""),
    action: str = Form(),
    version: int = Form(),
    reason_code: str = Form(default=""),
    explanation: str = Form(default=""),
    return_to: str = Form(default=BASE),
    view: str = Form(default=""),
) -> Response:
    check_csrf(request, csrf_token)
    try:
        principal = _require(request, settings, session)
    except LoginRequired:
        return _unauthenticated(request)
    detail = view == DETAIL_VIEW
    try:
        labels = corrected_labels(label_fields)
    except InvalidInput as error:
        # Only a tampered or broken form gets here (the page offers yes / no / not set): refuse
        # the whole decision with an error page, nothing is written.
        if _wants_json(request):
            return JSONResponse(
                {"ok": False, "message": error.message, "error": error.to_dict(), "html": None},
                status_code=error.status_code,
            )
        return _render(
            request,
            "error.html",
            _context(
                request,
                principal,
                config,
                title="Decision not recorded",
                message=f"Corrected labels: {error.message}. Nothing was changed.",
                back=_safe_next(return_to),
            ),
            status_code=error.status_code,
        )
    actor = Actor.of(principal)

    def run() -> Comment:
        if action not in ("approve", "reject"):
            raise InvalidInput(f"unknown action {action!r}", field="action")
        decision = DecisionIn(
            action=action,
            version=version,
            reason_code=reason_code or None,
            explanation=explanation.strip() or None,
            labels=labels,
        )
        return decisions.decide(session, config, comment_id, decision, actor)

    def done(comment: Comment) -> str:
        verb = "Approved" if comment.status == "approved" else "Rejected"
        return f"{verb} comment {comment_id}."

    return _card_action(
        request, session, config, comment_id, detail=detail, return_to=return_to, run=run, done=done
    )


@router.post("/comments/{comment_id}/undo")
def undo(
    comment_id: int,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    config: ModerationConfigDep,
    csrf_token: str = Form(default=""),
    version: int = Form(),
    return_to: str = Form(default=BASE),
    view: str = Form(default=""),
) -> Response:
    check_csrf(request, csrf_token)
    try:
        principal = _require(request, settings, session)
    except LoginRequired:
        return _unauthenticated(request)
    return _card_action(
        request,
        session,
        config,
        comment_id,
        detail=view == DETAIL_VIEW,
        return_to=return_to,
        run=lambda: decisions.undo(session, config, comment_id, version=version, actor=Actor.of(principal)),
        done=lambda comment: f"Undone: comment {comment_id} is {comment.status} again.",
    )


def _bulk_items(raw: list[str]) -> list[BulkItem]:
    items: list[BulkItem] = []
    for value in raw:
        comment_id, _, version = value.partition(":")
        try:
            items.append(BulkItem(id=int(comment_id), version=int(version)))
        except ValueError as exc:
            raise InvalidInput(f"bad item {value!r}; expected ID:VERSION", field="item") from exc
    if not items:
        raise InvalidInput("select at least one comment", field="item")
    return items


@router.post("/bulk")
def bulk(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    config: ModerationConfigDep,
    csrf_token: str = Form(default=""),
    action: str = Form(),
    item: list[str] = Form(default=[]),
    reason_code: str = Form(default=""),
    explanation: str = Form(default=""),
    return_to: str = Form(default=BASE),
) -> Response:
    check_csrf(request, csrf_token)
    try:
        principal = _require(request, settings, session)
    except LoginRequired:
        return _unauthenticated(request)
    try:
        if action not in ("approve", "reject"):
            raise InvalidInput(f"unknown action {action!r}", field="action")
        result = decisions.decide_bulk(
            session,
            config,
            BulkDecisionIn(
                action=action,
                items=_bulk_items(item),
                reason_code=reason_code or None,
                explanation=explanation.strip() or None,
            ),
            Actor.of(principal),
        )
    except ModerationError as error:
        session.rollback()
        return _refused(request, error, return_to)
    verb = "Approved" if action == "approve" else "Rejected"
    message = f"{verb} {result.applied} comment{'s' if result.applied != 1 else ''}."
    if result.failed:
        message += f" {result.failed} changed meanwhile and were left alone; reload to see them."
    cards = {
        r.id: _card_html(request, r.id, session, config)
        for r in result.results
        if r.error is None or r.error.get("code") != "comment_not_found"
    }
    return _action_response(
        request,
        ok=result.failed == 0,
        message=message,
        return_to=return_to,
        payload={
            "applied": result.applied,
            "failed": result.failed,
            "results": [r.model_dump() for r in result.results],
            "cards": cards,
        },
    )


@router.get("/comments/{comment_id}", response_class=HTMLResponse)
def comment_page(
    comment_id: int, request: Request, settings: SettingsDep, session: SessionDep, config: ModerationConfigDep
) -> Response:
    try:
        principal = _require(request, settings, session)
    except LoginRequired:
        return _login_redirect(request)
    try:
        card = card_view(comment_out(get_comment(session, comment_id)), config)
        trail = audit_trail(session, comment_id)
    except ModerationError as error:
        return _render(
            request,
            "not_found.html",
            _context(request, principal, config, message=error.message),
            status_code=404,
        )
    return _render(request, "comment.html", _context(request, principal, config, card=card, trail=trail))


@router.get("/authors/{author_id}", response_class=HTMLResponse)
def author_page(
    author_id: str, request: Request, settings: SettingsDep, session: SessionDep, config: ModerationConfigDep
) -> Response:
    try:
        principal = _require(request, settings, session)
    except LoginRequired:
        return _login_redirect(request)
    try:
        history = author_history(session, config.author_history, author_id, now=utcnow())
    except ModerationError as error:
        return _render(
            request,
            "not_found.html",
            _context(request, principal, config, message=error.message),
            status_code=404,
        )
    return _render(request, "author.html", _context(request, principal, config, history=history))
