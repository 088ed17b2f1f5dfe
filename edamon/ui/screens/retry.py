"""DLQ retry from the dashboard: what the dead-letters screen shows before, during and after.

- `prepare_retry`: refresh the ledger and plan the selected dead letters (with and without force);
- `RetryModal`: the confirmation (count, targets, refusals, already retried, stripped headers);
  nothing is sent unless it returns a `RetryChoice`;
- `RetryProgress`: the progress line shown on the dead-letters screen while a run sends;
- `outcome_cell`, `summary_messages`: the results, for the table and the notifications.

The sending itself is `edamon.actions.service.RetryService` (no textual there), reached
through `edamon.ui.safe.SafeRetry`: what the modal shows is sanitized.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Label, ProgressBar, Static

from edamon.actions.headers import RETRY_AT, RETRY_ATTEMPT, RETRY_OF
from edamon.actions.plan import ItemResult, Outcome, PlanItem, RedrivePlan, RedriveSummary
from edamon.broker.base import BrokerError
from edamon.decode.dlq import is_dlq_header
from edamon.model.safetext import sanitize
from edamon.ui.format import BLUE, DIM, RED, YELLOW, clock_time, plural, short_class, shorten
from edamon.ui.safe import SafeRetry

SAMPLE = 5
"""Dead letters listed by name per section of the modal (the rest are counted)."""
_FAMILY = re.compile(r"(.+?[-.])")
NOT_RETAINED = "no longer held by the dashboard: retry it with `edamon dlq retry <coords>`"


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """Everything the confirmation modal shows: the plan without and with force."""

    plan: RedrivePlan
    forced: RedrivePlan
    missing: tuple[tuple[str, str], ...] = ()
    """(coords, reason) of selected dead letters that could not be planned at all."""
    warning: str | None = None
    """Set when the retry ledger could not be read (earlier retries are then unknown)."""
    rate: float = 100.0

    @property
    def selected(self) -> int:
        return len(self.plan.items) + len(self.missing)


@dataclass(frozen=True, slots=True)
class RetryChoice:
    """What the operator confirmed: the plan to send and whether to stop at the first failure."""

    plan: RedrivePlan
    stop_on_failure: bool = True


async def prepare_retry(service: SafeRetry, coords: Sequence[str]) -> RetryRequest:
    """Refresh the ledger (a failure becomes the request's warning) and plan `coords`, with the
    dead letters as the collector holds them (the run re-reads each one from the DLQ)."""
    warning = None
    try:
        await service.refresh_ledger()
    except BrokerError as exc:
        warning = f"the retry ledger could not be read ({exc}): earlier retries are unknown"
    plan, missing = service.plan(coords)
    forced, _ = service.plan(coords, force=True)
    return RetryRequest(
        plan=plan,
        forced=forced,
        missing=tuple((address, NOT_RETAINED) for address in missing),
        warning=sanitize(warning) if warning else None,
        rate=service.rate,
    )


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.items())


def _group(name: str) -> str:
    """`kafka_dlt-*` for `kafka_dlt-original-topic`: DLQ headers come in families."""
    match = _FAMILY.match(name)
    return match.group(1) + "*" if match else name


def _stripped(plan: RedrivePlan) -> tuple[str, str]:
    """(DLQ header families, other headers) removed from the records sent, each with the
    number of records losing it when that is not all of them."""
    total = len(plan.to_send)
    families: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for item in plan.to_send:
        families.update({_group(name) for name in item.strip if is_dlq_header(name)})
        others.update(name for name in item.strip if not is_dlq_header(name))

    def listed(counts: Counter[str]) -> str:
        return ", ".join(
            name if n == total else f"{name} ({n} of {total})" for name, n in counts.most_common()
        )

    return listed(families), listed(others)


def _sent_as(item: PlanItem) -> str:
    """What a dead letter to send is and where it goes: `→ orders  IllegalStateException`."""
    exception = short_class(item.dead_letter.info.failure_class, "")
    return f"→ {item.target}  {exception}".rstrip()


def _listed(lines: list[Text], rows: Sequence[tuple[str, str]]) -> None:
    for coords, text in rows[:SAMPLE]:
        lines.append(Text.assemble("  ", (coords, "bold"), "  ", (text, DIM)))
    if len(rows) > SAMPLE:
        lines.append(Text(f"  … and {len(rows) - SAMPLE} more", style=DIM))


def request_summary(
    request: RetryRequest, when: Callable[[float], str] = clock_time
) -> RenderableType:
    """The body of the modal: what will be sent where, what not and why, what is stripped.
    `when` formats the time of an earlier retry."""
    plan, forced = request.plan, request.forced
    send, skipped = plan.to_send, plan.skipped
    refused = [(item.coords, item.reason or "refused") for item in plan.refused]
    refused += list(request.missing)
    lines: list[Text] = [Text(f"{plural(request.selected, 'dead letter')} selected", style="bold")]
    targets = _counted(plan.targets())
    lines.append(
        Text.assemble(
            ("Send      ", "bold"),
            (str(len(send)), "bold " + BLUE),
            f"  → {targets}" if targets else "  (nothing to send without force)",
        )
    )
    _listed(lines, [(item.coords, _sent_as(item)) for item in send])
    if skipped:
        lines.append(
            Text.assemble(
                ("Already retried ", "bold"),
                (str(len(skipped)), "bold " + YELLOW),
                " per the ledger: skipped unless you choose “Retry again (force)”",
            )
        )
        _listed(
            lines,
            [
                (
                    item.coords,
                    f"attempt {item.previous.attempt} by {item.previous.by} "
                    f"{when(item.previous.at)} → {item.target}",
                )
                for item in skipped
                if item.previous is not None
            ],
        )
    if refused:
        lines.append(
            Text.assemble(
                ("Refused   ", "bold"), (str(len(refused)), "bold " + RED), "  (not sent)"
            )
        )
        _listed(lines, refused)
    shown = plan if send else forced
    if shown.to_send:
        families, others = _stripped(shown)
        lines.append(Text.assemble(("Stripped  ", "bold"), f"DLQ headers {families or 'none'}"))
        lines.append(Text(f"          other headers {others or 'none'}"))
        lines.append(
            Text.assemble(("Added     ", "bold"), f"{RETRY_OF}, {RETRY_AT}, {RETRY_ATTEMPT}")
        )
        count = len(shown.to_send)
        seconds = (count - 1) / request.rate
        estimate = (
            f": {plural(count, 'record')} take {seconds:.0f}s or more" if seconds >= 1 else ""
        )
        lines.append(Text.assemble(("Rate      ", "bold"), f"at most {request.rate:g}/s{estimate}"))
    if request.warning:
        lines.append(Text(f"⚠ {request.warning}", style=YELLOW))
    return Group(*lines)


class RetryModal(ModalScreen[RetryChoice | None]):
    """Asks before anything is sent. `y` (or the Retry button) sends what the plan sends;
    dead letters the ledger says were retried need the separate “Retry again (force)” button;
    Esc, `n` or Cancel sends nothing."""

    DEFAULT_CSS = """
    RetryModal { align: center middle; }
    #retry-box {
        width: 100; max-width: 96%; height: auto; max-height: 90%;
        border: round $warning; background: $panel; padding: 1 2;
    }
    #retry-scroll { height: auto; max-height: 20; }
    #retry-summary { height: auto; }
    #retry-continue { margin-top: 1; }
    #retry-buttons { height: auto; margin-top: 1; }
    #retry-buttons Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="esc"),
        Binding("n", "cancel", "Cancel", show=False),
        Binding("y", "confirm", "Retry"),
    ]

    def __init__(self, request: RetryRequest, when: Callable[[float], str] = clock_time) -> None:
        super().__init__()
        self.request = request
        self._when = when

    def compose(self) -> ComposeResult:
        plan, forced = self.request.plan, self.request.forced
        with Vertical(id="retry-box"):
            with VerticalScroll(id="retry-scroll"):
                yield Static(request_summary(self.request, self._when), id="retry-summary")
            yield Checkbox(
                "Continue on errors (default: stop at the first failure)", id="retry-continue"
            )
            with Horizontal(id="retry-buttons"):
                yield Button(
                    f"Retry {len(plan.to_send)}",
                    id="retry-confirm",
                    variant="primary",
                    disabled=not plan.to_send,
                )
                if plan.skipped:
                    yield Button(
                        f"Retry again (force): {len(forced.to_send)}",
                        id="retry-force",
                        variant="warning",
                    )
                yield Button("Cancel", id="retry-cancel")
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#retry-box")
        box.border_title = "Retry dead letters"
        box.border_subtitle = "y retry · esc cancel"
        self.query_one("#retry-cancel", Button).focus()

    def _choice(self, plan: RedrivePlan) -> RetryChoice:
        keep_going = self.query_one("#retry-continue", Checkbox).value
        return RetryChoice(plan, stop_on_failure=not keep_going)

    def action_confirm(self) -> None:
        """Send what the plan sends (not the already retried ones)."""
        if not self.request.plan.to_send:
            self.notify("Nothing to send without force.", severity="warning", timeout=4)
            return
        self.dismiss(self._choice(self.request.plan))

    def action_cancel(self) -> None:
        """Close; nothing is sent."""
        self.dismiss(None)

    @on(Button.Pressed, "#retry-confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#retry-force")
    def _force_pressed(self) -> None:
        self.dismiss(self._choice(self.request.forced))

    @on(Button.Pressed, "#retry-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


class RetryProgress(Horizontal):
    """One line on the dead-letters screen, shown only while the ledger is read or a run sends:
    `Retrying 3/40 ━━━━━━━━━━ → orders.OrderPlaced   x stops`."""

    DEFAULT_CSS = """
    RetryProgress { height: 1; display: none; padding: 0 1; }
    RetryProgress.-shown { display: block; }
    RetryProgress > Label { width: auto; padding-right: 1; }
    RetryProgress > ProgressBar { width: auto; padding-right: 1; }
    RetryProgress > #retry-target { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Label(id="retry-label")
        yield ProgressBar(id="retry-bar", show_eta=False)
        yield Label(id="retry-target")

    def waiting(self, text: str) -> None:
        """Show `text` with an indeterminate bar."""
        self.query_one("#retry-label", Label).update(text)
        self.query_one("#retry-target", Label).update("")
        self.query_one("#retry-bar", ProgressBar).update(total=None, progress=0)
        self.add_class("-shown")

    def start(self, total: int, targets: str) -> None:
        """A run of `total` records to `targets` begins."""
        self.query_one("#retry-target", Label).update(Content(f"→ {targets}   x stops"))
        self.advance(0, total)
        self.add_class("-shown")

    def advance(self, done: int, total: int) -> None:
        """`done` of `total` records handled (the run's progress callback)."""
        self.query_one("#retry-label", Label).update(f"Retrying {done}/{total}")
        self.query_one("#retry-bar", ProgressBar).update(total=max(total, 1), progress=done)

    def hide(self) -> None:
        """The run is over."""
        self.remove_class("-shown")


def outcome_cell(result: ItemResult, width: int) -> Text | None:
    """What the table's retried column shows for a result of this session's run (None: keep
    the ledger's status)."""
    outcome = result.outcome
    if outcome is Outcome.SENT:
        return Text("✓ retried", style=BLUE)
    if outcome is Outcome.FAILED:
        return Text(shorten(f"✗ {result.reason or 'failed'}", width), style=RED)
    if outcome is Outcome.REFUSED:
        return Text(shorten(f"✗ refused: {result.reason or ''}", width), style=RED)
    if outcome is Outcome.NOT_ATTEMPTED:
        reason = result.reason or ""
        if reason.startswith("nothing sent: "):
            return Text(shorten(f"✗ {reason.removeprefix('nothing sent: ')}", width), style=RED)
        return Text("✗ not sent (stopped)", style=YELLOW)
    return None


def _first(results: Sequence[ItemResult]) -> str:
    shown = "; ".join(f"{r.coords}: {r.reason}" for r in results[:3])
    more = f" (and {len(results) - 3} more)" if len(results) > 3 else ""
    return shown + more


def summary_messages(
    summary: RedriveSummary, missing: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, SeverityLevel]]:
    """(message, severity) notifications for a finished run, most important last."""
    messages: list[tuple[str, SeverityLevel]] = []
    sent = summary.sent
    if sent:
        targets: dict[str, int] = {}
        for result in sent:
            if result.target_topic:
                targets[result.target_topic] = targets.get(result.target_topic, 0) + 1
        where = _counted(targets)
        messages.append(
            (
                f"✓ Retried {plural(len(sent), 'dead letter')} → {where} "
                f"in {summary.elapsed_s:.1f}s",
                "information",
            )
        )
    skipped = summary.of(Outcome.SKIPPED)
    if skipped:
        messages.append((f"{len(skipped)} skipped: already retried (use force)", "warning"))
    refused = list(summary.of(Outcome.REFUSED))
    if refused or missing:
        reasons = _first(refused) if refused else "; ".join(f"{c}: {r}" for c, r in missing[:3])
        messages.append((f"✗ {len(refused) + len(missing)} refused: {reasons}", "warning"))
    failed = summary.failed
    if failed:
        messages.append((f"✗ {len(failed)} failed: {_first(failed)}", "error"))
    unrecorded = [r for r in summary.results if r.ledger_error]
    if unrecorded:
        messages.append(
            (
                f"✗ {len(unrecorded)} not recorded in the retry ledger: "
                f"{unrecorded[0].ledger_error}",
                "error",
            )
        )
    if summary.aborted:
        severity: SeverityLevel = "warning" if summary.aborted == "cancelled" else "error"
        not_sent = len(summary.of(Outcome.NOT_ATTEMPTED))
        messages.append((f"Retry stopped ({not_sent} not sent): {summary.aborted}", severity))
    if not messages:
        messages.append(("Nothing was sent.", "warning"))
    return messages
