"""DLQ retry from the dashboard: what the dead-letters screen shows before, during and after.

- `prepare_retry`: the service's plan for the selected dead letters, without and with force
  (`POST /v1/retries/preview`: it reads the ledger first);
- `RetryModal`: the confirmation (count, targets, refusals, already retried, stripped headers);
  nothing is sent unless it returns a `RetryChoice`;
- `RetryProgress`: the progress line shown on the dead-letters screen while the job runs;
- `outcome_cell`, `summary_messages`: the job's results, for the table and the notifications.

The sending itself is the service's retry job (its ledger, read-only setting and permissions).
What the modal shows comes through the dashboard's DataSource: sanitized.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

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

from edamon.client import ClientError
from edamon.decode.dlq import is_dlq_header
from edamon.model.api import LedgerDoc, PlanItemDoc, RetryItemDoc, RetryJobDoc, RetryPlanDoc
from edamon.model.chainnodes import RETRY_AT, RETRY_ATTEMPT
from edamon.model.chainnodes import RETRY_HEADER as RETRY_OF
from edamon.model.snapshot import DeadLetterRow
from edamon.ui.format import BLUE, DIM, RED, YELLOW, clock_time, plural, short_class, shorten

if TYPE_CHECKING:
    from edamon.ui.source import DataSource

SAMPLE = 5
"""Dead letters listed by name per section of the modal (the rest are counted)."""
_FAMILY = re.compile(r"(.+?[-.])")
SEND, SKIP, REFUSE = "send", "skip", "refuse"


def to_send(plan: RetryPlanDoc) -> list[PlanItemDoc]:
    return [item for item in plan.items if item.action == SEND]


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """Everything the confirmation modal shows: the plan without and with force."""

    plan: RetryPlanDoc
    forced: RetryPlanDoc
    rows: Mapping[str, DeadLetterRow] = field(default_factory=dict)
    """The dead letters' rows as the dashboard lists them (their exception, for the modal)."""
    retried: Mapping[str, LedgerDoc] = field(default_factory=dict)
    """The ledger's entry of the first already retried ones (who retried them, when)."""

    @property
    def selected(self) -> int:
        return len(self.plan.items) + len(self.plan.problems)

    @property
    def warning(self) -> str | None:
        return self.plan.ledger_error

    @property
    def rate(self) -> float:
        return self.plan.rate


@dataclass(frozen=True, slots=True)
class RetryChoice:
    """What the operator confirmed: with or without force, and whether to stop at the first
    failure."""

    plan: RetryPlanDoc
    stop_on_failure: bool = True

    @property
    def force(self) -> bool:
        return self.plan.force


async def prepare_retry(
    source: DataSource, coords: Sequence[str], rows: Mapping[str, DeadLetterRow]
) -> RetryRequest:
    """The service's plan for `coords`, without and with force, and who retried the first
    already retried ones (ClientError when the service fails)."""
    plan = await source.retry_preview(coords)
    forced = await source.retry_preview(coords, force=True) if plan.items else plan
    retried: dict[str, LedgerDoc] = {}
    for item in [item for item in plan.items if item.action == SKIP][:SAMPLE]:
        with suppress(ClientError):
            entry = (await source.dead_letter_doc(item.coords))["retry"]
            if entry is not None:
                retried[item.coords] = entry
    return RetryRequest(plan, forced, {c: rows[c] for c in coords if c in rows}, retried)


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.items())


def _group(name: str) -> str:
    """`kafka_dlt-*` for `kafka_dlt-original-topic`: DLQ headers come in families."""
    match = _FAMILY.match(name)
    return match.group(1) + "*" if match else name


def _stripped(plan: RetryPlanDoc) -> tuple[str, str]:
    """(DLQ header families, other headers) removed from the records sent, each with the
    number of records losing it when that is not all of them."""
    sent = to_send(plan)
    total = len(sent)
    families: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for item in sent:
        families.update({_group(name) for name in item.strip if is_dlq_header(name)})
        others.update(name for name in item.strip if not is_dlq_header(name))

    def listed(counts: Counter[str]) -> str:
        return ", ".join(
            name if n == total else f"{name} ({n} of {total})" for name, n in counts.most_common()
        )

    return listed(families), listed(others)


def _sent_as(item: PlanItemDoc, row: DeadLetterRow | None) -> str:
    """What a dead letter to send is and where it goes: `→ orders  IllegalStateException`."""
    exception = short_class(row.failure_class if row is not None else None, "")
    return f"→ {item.target}  {exception}".rstrip()


def _retried_as(item: PlanItemDoc, request: RetryRequest, when: Callable[[float], str]) -> str:
    """An already retried dead letter: `attempt 1 by alice 10:00:01 → orders`."""
    entry = request.retried.get(item.coords)
    if entry is None:
        return f"{item.reason or 'already retried'} → {item.target}"
    return f"attempt {entry['attempt']} by {entry['by']} {when(entry['at'])} → {item.target}"


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
    send = to_send(plan)
    skipped = [item for item in plan.items if item.action == SKIP]
    refused = [
        (item.coords, item.reason or "refused") for item in plan.items if item.action == REFUSE
    ]
    refused += list(plan.problems)
    lines: list[Text] = [Text(f"{plural(request.selected, 'dead letter')} selected", style="bold")]
    targets = _counted(dict(plan.targets))
    lines.append(
        Text.assemble(
            ("Send      ", "bold"),
            (str(len(send)), "bold " + BLUE),
            f"  → {targets}" if targets else "  (nothing to send without force)",
        )
    )
    _listed(lines, [(item.coords, _sent_as(item, request.rows.get(item.coords))) for item in send])
    if skipped:
        lines.append(
            Text.assemble(
                ("Already retried ", "bold"),
                (str(len(skipped)), "bold " + YELLOW),
                " per the ledger: skipped unless you choose “Retry again (force)”",
            )
        )
        _listed(lines, [(item.coords, _retried_as(item, request, when)) for item in skipped])
    if refused:
        lines.append(
            Text.assemble(
                ("Refused   ", "bold"), (str(len(refused)), "bold " + RED), "  (not sent)"
            )
        )
        _listed(lines, refused)
    shown = plan if send else forced
    if to_send(shown):
        families, others = _stripped(shown)
        lines.append(Text.assemble(("Stripped  ", "bold"), f"DLQ headers {families or 'none'}"))
        lines.append(Text(f"          other headers {others or 'none'}"))
        lines.append(
            Text.assemble(("Added     ", "bold"), f"{RETRY_OF}, {RETRY_AT}, {RETRY_ATTEMPT}")
        )
        count = len(to_send(shown))
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
        skipped = any(item.action == SKIP for item in plan.items)
        with Vertical(id="retry-box"):
            with VerticalScroll(id="retry-scroll"):
                yield Static(request_summary(self.request, self._when), id="retry-summary")
            yield Checkbox(
                "Continue on errors (default: stop at the first failure)", id="retry-continue"
            )
            with Horizontal(id="retry-buttons"):
                yield Button(
                    f"Retry {len(to_send(plan))}",
                    id="retry-confirm",
                    variant="primary",
                    disabled=not to_send(plan),
                )
                if skipped:
                    yield Button(
                        f"Retry again (force): {len(to_send(forced))}",
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

    def _choice(self, plan: RetryPlanDoc) -> RetryChoice:
        keep_going = self.query_one("#retry-continue", Checkbox).value
        return RetryChoice(plan, stop_on_failure=not keep_going)

    def action_confirm(self) -> None:
        """Send what the plan sends (not the already retried ones)."""
        if not to_send(self.request.plan):
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


def outcome_cell(result: RetryItemDoc, width: int) -> Text | None:
    """What the table's retried column shows for a result of this session's run (None: keep
    the ledger's status)."""
    outcome = result.outcome
    if outcome == "sent":
        return Text("✓ retried", style=BLUE)
    if outcome == "failed":
        return Text(shorten(f"✗ {result.reason or 'failed'}", width), style=RED)
    if outcome == "refused":
        return Text(shorten(f"✗ refused: {result.reason or ''}", width), style=RED)
    if outcome == "not attempted":
        reason = result.reason or ""
        if reason.startswith("nothing sent: "):
            return Text(shorten(f"✗ {reason.removeprefix('nothing sent: ')}", width), style=RED)
        return Text("✗ not sent (stopped)", style=YELLOW)
    return None


def _first(results: Sequence[RetryItemDoc]) -> str:
    shown = "; ".join(f"{r.coords}: {r.reason}" for r in results[:3])
    more = f" (and {len(results) - 3} more)" if len(results) > 3 else ""
    return shown + more


def summary_messages(job: RetryJobDoc) -> list[tuple[str, SeverityLevel]]:
    """(message, severity) notifications for a finished job, most important last."""
    messages: list[tuple[str, SeverityLevel]] = []

    def of(outcome: str) -> list[RetryItemDoc]:
        return [r for r in job.results if r.outcome == outcome]

    sent = of("sent")
    if sent:
        targets: dict[str, int] = {}
        for result in sent:
            topic = (result.target_coords or "").rsplit("/", 2)[0]
            if topic:
                targets[topic] = targets.get(topic, 0) + 1
        where = _counted(targets)
        messages.append(
            (
                f"✓ Retried {plural(len(sent), 'dead letter')} → {where} in {job.elapsed_s:.1f}s",
                "information",
            )
        )
    skipped = of("skipped")
    if skipped:
        messages.append((f"{len(skipped)} skipped: already retried (use force)", "warning"))
    refused = of("refused")
    if refused:
        messages.append((f"✗ {len(refused)} refused: {_first(refused)}", "warning"))
    failed = of("failed")
    if failed:
        messages.append((f"✗ {len(failed)} failed: {_first(failed)}", "error"))
    unrecorded = [r for r in job.results if r.ledger_error]
    if unrecorded:
        messages.append(
            (
                f"✗ {len(unrecorded)} not recorded in the retry ledger: "
                f"{unrecorded[0].ledger_error}",
                "error",
            )
        )
    if job.aborted:
        severity: SeverityLevel = "warning" if job.state == "cancelled" else "error"
        not_sent = len(of("not attempted"))
        messages.append((f"Retry stopped ({not_sent} not sent): {job.aborted}", severity))
    if not messages:
        messages.append(("Nothing was sent.", "warning"))
    return messages
