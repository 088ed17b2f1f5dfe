"""Delivering notifications to webhooks over httpx, without ever blocking ingest.

Each receiver has a bounded queue and one sending task. `Notifier.submit` only enqueues
(never waits); the task POSTs with `timeout_s` per attempt and retries with exponential
backoff (a 429's Retry-After is honoured, capped), up to `max_attempts`. What can't be
delivered is counted as undeliverable, its reason kept, and `on_undeliverable` is told (the
dashboard shows it as a notice): nothing is dropped silently. A full queue counts as
undeliverable too.

Webhook URLs are secrets: they are never logged or put in an error; `mask_url` shows the
scheme and host only.

Bodies (conventions §6):
- webhook: Alertmanager's webhook format (`version` "4", `status`, `alerts[]` with `labels`,
  `annotations`, `startsAt`, `endsAt`);
- slack: `{"text": ...}` (mrkdwn; `&`, `<`, `>` escaped: names come from records);
- teams: a message with one Adaptive Card attachment (a workflow webhook).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from edamon import __version__
from edamon.alerts.rules import Notification
from edamon.config import AlertReceiver, AlertsSettings
from edamon.model.alerts import FIRING, ReceiverStatus

log = logging.getLogger(__name__)

ERROR_TEXT_MAX = 200


class _HideSecrets(logging.Filter):
    """httpx logs each request's URL at INFO ("HTTP Request: POST <url>"): a webhook's URL is
    replaced by its masked form before any handler sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            hidden = text
            for secret in self.secrets:
                hidden = hidden.replace(secret, mask_url(secret))
            if hidden != text:
                record.msg, record.args = hidden, None
        return True


_hide = _HideSecrets()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_hide)


def mask_url(url: str | None) -> str:
    """`https://hooks.example.com/…`: scheme and host only (the path holds the secret)."""
    if not url:
        return "(no URL: its environment variable is unset)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{host}{port}/…"


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def alert_labels(note: Notification) -> dict[str, str]:
    alert = note.alert
    return {"alertname": alert.rule, "kind": alert.kind, "severity": alert.severity} | dict(
        alert.labels
    )


def fingerprint(note: Notification) -> str:
    text = "\0".join(f"{k}={v}" for k, v in sorted(alert_labels(note).items()))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def webhook_body(note: Notification, receiver: str) -> dict[str, Any]:
    """Alertmanager's webhook body for one alert."""
    alert = note.alert
    labels = alert_labels(note)
    annotations = {"summary": alert.summary}
    if alert.value is not None:
        annotations["value"] = f"{alert.value:g}"
        annotations["threshold"] = f"{alert.threshold:g}"
    if note.test:
        annotations["test"] = "true"
    return {
        "version": "4",
        "status": note.status,
        "receiver": receiver,
        "groupKey": f"{{}}:{{alertname={alert.rule!r}}}",
        "groupLabels": {"alertname": alert.rule},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": note.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": _iso(alert.firing_since or alert.active_since),
                "endsAt": _iso(note.ended_at),
                "generatorURL": "",
                "fingerprint": fingerprint(note),
            }
        ],
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _headline(note: Notification) -> str:
    alert = note.alert
    status = "TEST" if note.test else note.status.upper()
    return f"[{status}] {alert.rule} ({alert.severity})"


def slack_body(note: Notification) -> dict[str, Any]:
    alert = note.alert
    lines = [f"*{_slack_escape(_headline(note))}*", _slack_escape(alert.summary)]
    if alert.labels:
        lines.append(_slack_escape(", ".join(f"{k}={v}" for k, v in alert.labels)))
    since = alert.firing_since or alert.active_since
    word = "resolved at " + _iso(note.ended_at) if note.ended_at else "since " + _iso(since)
    lines.append(f"_{word} · edamon {__version__}_")
    return {"text": "\n".join(lines)}


def teams_body(note: Notification) -> dict[str, Any]:
    alert = note.alert
    facts = [{"title": k, "value": v} for k, v in alert.labels]
    if alert.value is not None:
        facts.append(
            {"title": "value", "value": f"{alert.value:g} (threshold {alert.threshold:g})"}
        )
    since = alert.firing_since or alert.active_since
    facts.append({"title": "since", "value": _iso(since)})
    if note.ended_at:
        facts.append({"title": "resolved", "value": _iso(note.ended_at)})
    color = "Good" if note.status != FIRING else "Attention"
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": _headline(note),
                "weight": "Bolder",
                "size": "Medium",
                "color": color,
                "wrap": True,
            },
            {"type": "TextBlock", "text": alert.summary, "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def body_for(kind: str, note: Notification, receiver: str) -> dict[str, Any]:
    if kind == "slack":
        return slack_body(note)
    if kind == "teams":
        return teams_body(note)
    return webhook_body(note, receiver)


class DeliveryError(Exception):
    """One attempt failed; `retry_after`: what the receiver asked for (429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    return None


class Receiver:
    """One configured receiver: its queue, its sending task and its counts."""

    def __init__(self, config: AlertReceiver, settings: AlertsSettings) -> None:
        self.config = config
        self.settings = settings
        self.url = config.target()
        if self.url:
            _hide.secrets.add(self.url)
        self.target = mask_url(self.url)
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(settings.queue_size)
        self.sent = 0
        self.undeliverable = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.sending = False

    def status(self) -> ReceiverStatus:
        return ReceiverStatus(
            name=self.config.name,
            kind=self.config.kind,
            target=self.target,
            sent=self.sent,
            undeliverable=self.undeliverable,
            queued=self.queue.qsize() + (1 if self.sending else 0),
            last_error=self.last_error,
            last_error_at=self.last_error_at,
        )

    async def attempt(self, client: httpx.AsyncClient, note: Notification) -> None:
        """One POST; raises DeliveryError (the message never holds the URL)."""
        if self.url is None:
            raise DeliveryError(f"environment variable {self.config.url_env} is not set")
        body = body_for(self.config.kind, note, self.config.name)
        try:
            response = await client.post(self.url, json=body, timeout=self.config.timeout_s)
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer within {self.config.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: cannot reach {self.target}") from None
        if response.status_code == 429:
            raise DeliveryError("HTTP 429 (rate limited)", _retry_after(response))
        if response.status_code >= 300:
            raise DeliveryError(f"HTTP {response.status_code}")

    async def deliver(self, client: httpx.AsyncClient, note: Notification) -> str | None:
        """Try up to max_attempts with backoff; None when delivered, else the last error."""
        wait = self.settings.retry_backoff_s
        cap = self.settings.retry_backoff_max_s
        error = ""
        for number in range(1, self.config.max_attempts + 1):
            try:
                await self.attempt(client, note)
            except DeliveryError as exc:
                error = str(exc)
                log.info(
                    "alert receiver %s: attempt %d failed: %s", self.config.name, number, error
                )
                if number == self.config.max_attempts:
                    break
                pause = min(cap, exc.retry_after if exc.retry_after is not None else wait)
                await asyncio.sleep(pause)
                wait = min(cap, wait * 2)
            else:
                return None
        return error


class Notifier:
    """The receivers of `settings` and their sending tasks (`run` until cancelled)."""

    def __init__(
        self,
        settings: AlertsSettings,
        *,
        on_undeliverable: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.receivers = {r.name: Receiver(r, settings) for r in settings.receivers}
        self._on_undeliverable = on_undeliverable
        self._clock = clock

    def status(self) -> tuple[ReceiverStatus, ...]:
        return tuple(r.status() for r in self.receivers.values())

    def submit(self, note: Notification) -> None:
        """Queue `note` for its receivers (all when it names none). Never waits."""
        names = note.receivers or tuple(self.receivers)
        for name in names:
            receiver = self.receivers.get(name)
            if receiver is None:
                continue
            try:
                receiver.queue.put_nowait(note)
            except asyncio.QueueFull:
                self._failed(receiver, note, f"queue full ({self.settings.queue_size} waiting)")

    def _failed(self, receiver: Receiver, note: Notification, error: str) -> None:
        receiver.undeliverable += 1
        receiver.last_error = error
        receiver.last_error_at = self._clock()
        text = (
            f"alert {note.alert.rule} ({note.status}) could not be delivered to "
            f"{receiver.config.name}: {error}"
        )[:ERROR_TEXT_MAX]
        log.warning("%s", text)
        if self._on_undeliverable is not None:
            self._on_undeliverable(text)

    async def run(self) -> None:
        """Send what is queued, each receiver on its own, until cancelled."""
        if not self.receivers:
            return
        # Loading the CA bundle takes ~0.2 s of CPU: off the loop, so ingest never waits.
        tls = await asyncio.to_thread(httpx.create_ssl_context)
        async with httpx.AsyncClient(
            headers={"user-agent": f"edamon/{__version__}"}, follow_redirects=False, verify=tls
        ) as client:
            await asyncio.gather(*(self._sender(client, r) for r in self.receivers.values()))

    async def _sender(self, client: httpx.AsyncClient, receiver: Receiver) -> None:
        while True:
            note = await receiver.queue.get()
            receiver.sending = True
            try:
                error = await receiver.deliver(client, note)
            finally:
                receiver.sending = False
            if error is None:
                receiver.sent += 1
            else:
                self._failed(receiver, note, error)

    async def test(self) -> dict[str, str | None]:
        """Send a test notification to every receiver now (no queue); name -> error or None."""
        from edamon.model.alerts import AlertView

        now = self._clock()
        view = AlertView(
            rule="edamon-test",
            kind="test",
            state=FIRING,
            severity="info",
            labels=(),
            summary="a test notification from `edamon alerts test`: this receiver works",
            value=None,
            threshold=0.0,
            active_since=now,
            firing_since=now,
        )
        note = Notification(FIRING, view, (), now, test=True)
        results: dict[str, str | None] = {}
        async with httpx.AsyncClient(headers={"user-agent": f"edamon/{__version__}"}) as client:
            outcomes = await asyncio.gather(
                *(r.deliver(client, note) for r in self.receivers.values())
            )
        for receiver, error in zip(self.receivers.values(), outcomes, strict=True):
            results[receiver.config.name] = error
            if error is None:
                receiver.sent += 1
            else:
                self._failed(receiver, note, error)
        return results
