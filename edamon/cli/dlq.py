"""`edamon dlq`: list, show and retry dead letters from the command line.

Exit codes: 0 everything asked for was done (every selected dead letter sent, or skipped as
already retried); 1 something failed or was refused (broker problems included); 2 usage errors
and refusals to act (read-only, no confirmation).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from edamon.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, config_options, fail, settings_from
from edamon.cli.attach import attach_options
from edamon.config import Settings
from edamon.model.safetext import UNKNOWN

if TYPE_CHECKING:
    from edamon.actions.filters import DeadLetterFilter
    from edamon.actions.ledger import Ledger, LedgerEntry
    from edamon.actions.redrive import RedrivePlan, RedriveSummary
    from edamon.broker.base import Broker
    from edamon.model.api import RetryPlanDoc
    from edamon.model.deadletter import DeadLetter
    from edamon.model.snapshot import DeadLetterRow

SAMPLE = 5
"""Dead letters shown in the retry preview."""
LISTED = 20
"""Sent records listed one by one in the retry summary."""


def _run(settings: Settings, body: Callable[[Broker], Awaitable[int]]) -> int:
    """Connect to the cluster, run `body`, close; a broker problem exits 1 with its message."""
    from edamon.broker.base import BrokerError
    from edamon.broker.kafka import KafkaBroker

    async def main() -> int:
        broker = KafkaBroker(settings.kafka)
        try:
            await broker.start()
            return await body(broker)
        finally:
            await broker.close()

    try:
        return asyncio.run(main())
    except BrokerError as exc:
        fail(str(exc), EXIT_FAILED)
        raise  # unreachable
    except KeyboardInterrupt:
        fail("interrupted", EXIT_FAILED)
        raise  # unreachable


async def _note_untailed(broker: Broker, settings: Settings) -> None:
    """Say which DLQ topics were skipped because topics.include/exclude leaves them out."""
    from edamon.actions.scan import untailed_dlq_topics

    skipped = await untailed_dlq_topics(broker, settings)
    if skipped:
        shown = ", ".join(skipped[:5]) + (
            f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        )
        click.echo(
            f"edamon: note: {len(skipped)} DLQ topic(s) not tailed per topics.include/exclude "
            f"were skipped: {shown} (name one with -t to read it)",
            err=True,
        )


async def _load_ledger(broker: Broker, settings: Settings) -> Ledger:
    from edamon.actions.ledger import Ledger
    from edamon.broker.base import BrokerError

    ledger = Ledger.from_settings(settings)
    try:
        await ledger.load(broker)
    except BrokerError as exc:
        click.echo(f"edamon: warning: retry ledger not read, retry status unknown: {exc}", err=True)
    return ledger


def _filter(specs: Sequence[str]) -> DeadLetterFilter:
    from edamon.actions.filters import FilterError, parse_filters

    try:
        return parse_filters(specs, now=time.time())
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None


def _clip(text: str | None, width: int) -> str:
    text = (text or "-").replace("\n", " ")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _short_class(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1] if name else name


def _output_width() -> int | None:
    """Columns to fit the table in: $COLUMNS when set, else the terminal's; None (no limit:
    full values) when stdout is not a terminal, e.g. piped to a file or another command."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((160, 24)).columns


def _table(rows: list[list[str]], header: list[str]) -> None:
    width = _output_width()
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fixed = sum(widths[:-1]) + 2 * (len(widths) - 1)
    if width is not None:
        widths[-1] = max(10, min(widths[-1], width - fixed))
    for row in [header, *rows]:
        cells = [_clip(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())


@click.group(name="dlq")
def command() -> None:
    """Dead-letter queues: list, show and retry dead letters.

    Exit codes: 0 done (every selected dead letter sent, or skipped as already retried); 1 some
    failed or were refused, or the cluster could not be reached; 2 usage error, or refused to
    act (read-only, no confirmation).
    """


@command.command(name="list")
@config_options
@click.option("--topic", "-t", "topics", multiple=True, help="DLQ topic to read (repeatable).")
@click.option("--filter", "-f", "filters", multiple=True, help="key=value, see `dlq retry`.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@attach_options
def list_command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    topics: tuple[str, ...],
    filters: tuple[str, ...],
    as_json: bool,
    attach: str | None,
    token_file: Path | None,
) -> None:
    """List the dead letters on the DLQ topics, with their retry status from the ledger.

    With --attach: the dead letters the service holds (since it started, up to
    retention.max_dead_letters), newest first; --json prints its rows (the API's
    DeadLetterRow)."""
    if attach is not None:
        if topics:
            filters = (*filters, *(f"dlq-topic={topic}" for topic in topics))
        sys.exit(_list_attached(attach, token_file, filters, as_json))
    from edamon.actions.report import dead_letter_json, retry_text, when_text
    from edamon.actions.scan import read_dead_letters

    settings = settings_from(config_path, bootstrap, read_only)
    selector = _filter(filters)

    async def body(broker: Broker) -> int:
        ledger = await _load_ledger(broker, settings)
        dead = selector.apply(await read_dead_letters(broker, settings, topics or None))
        if not topics:
            await _note_untailed(broker, settings)
        if as_json:
            for dl in dead:
                data = dead_letter_json(dl, ledger.entry_for(dl.record))
                click.echo(json.dumps(data))  # ASCII: valid in any output encoding
            return EXIT_OK
        if not dead:
            click.echo("no dead letters")
            return EXIT_OK
        rows = [
            [
                dl.coords,
                when_text(dl.record.timestamp_ms / 1000),
                dl.info.original_coords or dl.info.original_topic or "-",
                dl.info.consumer_group or UNKNOWN,
                _short_class(dl.info.failure_class) or "-",
                retry_text(ledger.entry_for(dl.record)),
                _flaw(dl) or dl.info.exception_message or dl.decode_error or "-",
            ]
            for dl in dead
        ]
        header = ["DEAD LETTER", "TIME (UTC)", "ORIGINAL", "GROUP", "EXCEPTION", "RETRY"]
        _table(rows, [*header, "MESSAGE"])
        click.echo(f"{len(dead)} dead letter(s)")
        return EXIT_OK

    sys.exit(_run(settings, body))


def _flaw(dl: DeadLetter) -> str | None:
    """What makes the record unreadable as written (a header name not UTF-8), if anything."""
    from edamon.model.records import FlawedRecord

    return dl.record.flaw if isinstance(dl.record, FlawedRecord) else None


def _show_text(dl: DeadLetter, entry: LedgerEntry | None) -> None:
    from edamon.actions.report import describe_fields, header_display, value_display

    for name, text in describe_fields(dl, entry):
        click.echo(f"{name + ':':<16} {text}")
    record = dl.record
    click.echo(f"headers ({len(record.headers)}):")
    for key, value in record.headers:
        if key.lower().endswith("stacktrace"):
            click.echo(f"  {key}: ({len(value)} bytes, below)")
        else:
            click.echo(f"  {key}: {header_display(value)}")
    size = "null" if record.value is None else f"{len(record.value)} bytes"
    click.echo(f"value ({size}):")
    click.echo("  " + value_display(record.value).replace("\n", "\n  "))
    if dl.info.stacktrace:
        click.echo("stacktrace:")
        click.echo("  " + dl.info.stacktrace.rstrip().replace("\n", "\n  "))


@command.command(name="show")
@config_options
@click.argument("coords")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object.")
@attach_options
def show_command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    coords: str,
    as_json: bool,
    attach: str | None,
    token_file: Path | None,
) -> None:
    """Show one dead letter (TOPIC/PARTITION/OFFSET): decoded fields, headers in order, value."""
    from edamon.actions.report import dead_letter_json
    from edamon.actions.scan import find_dead_letters
    from edamon.model.records import parse_coords

    try:
        parse_coords(coords)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="COORDS") from None
    if attach is not None:
        sys.exit(_show_attached(attach, token_file, coords, as_json))
    settings = settings_from(config_path, bootstrap, read_only)

    async def body(broker: Broker) -> int:
        found, problems = await find_dead_letters(broker, settings, [coords])
        if not found:
            click.echo(f"edamon: {coords}: {next(iter(problems.values()))}", err=True)
            return EXIT_FAILED
        ledger = await _load_ledger(broker, settings)
        dl = found[0]
        if as_json:
            data = dead_letter_json(dl, ledger.entry_for(dl.record), with_value=True)
            click.echo(json.dumps(data, indent=2))  # ASCII: valid in any output encoding
        else:
            _show_text(dl, ledger.entry_for(dl.record))
        return EXIT_OK

    sys.exit(_run(settings, body))


def _preview(plan: RedrivePlan, problems: dict[str, str], rate: float) -> None:
    from edamon.actions.headers import RETRY_AT, RETRY_ATTEMPT, RETRY_OF

    send, skipped, refused = plan.to_send, plan.skipped, plan.refused
    total = len(plan.items) + len(problems)
    click.echo(f"retry plan: {total} dead letter(s) selected")
    targets = ", ".join(f"{topic} ({n})" for topic, n in plan.targets().items())
    click.echo(f"  to send:  {len(send)}" + (f" -> {targets}" if targets else ""))
    if skipped:
        click.echo(f"  skipped:  {len(skipped)} already retried (--force to send again)")
    if refused or problems:
        click.echo(f"  refused:  {len(refused) + len(problems)}")
        for item in refused[:SAMPLE]:
            click.echo(f"    {item.coords}: {item.reason}")
        for address, reason in list(problems.items())[:SAMPLE]:
            click.echo(f"    {address}: {reason}")
    if send:
        stripped = plan.stripped_headers()
        names = ", ".join(f"{name} ({n})" for name, n in stripped.items()) or "none"
        click.echo(f"  headers stripped: {names}")
        click.echo(f"  headers added: {RETRY_OF}, {RETRY_AT}, {RETRY_ATTEMPT}")
        estimate = f" (at least {(len(send) - 1) / rate:.1f}s)" if len(send) > 1 else ""
        click.echo(f"  rate: {rate:g}/s{estimate}")
        click.echo("sample:")
        for item in send[:SAMPLE]:
            record, info = item.dead_letter.record, item.dead_letter.info
            key = record.key.decode("utf-8", "replace") if record.key is not None else "(null)"
            via = "headers" if item.source == "header" else "dlq.routes"
            click.echo(
                f"  {item.coords} -> {item.target} (from {via}, attempt {item.attempt})"
                f"  key={_clip(key, 40)}  {_short_class(info.exception_class) or '-'}:"
                f" {_clip(info.exception_message, 60)}"
            )


def _progress() -> Callable[[int, int], None]:
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if tty:
            end = "\n" if done == total else ""
            click.echo(f"\rretrying: {done}/{total}", nl=False, err=True)
            click.echo(end, nl=False, err=True)
        elif done == total or now - last[0] >= 1.0:
            last[0] = now
            click.echo(f"retrying: {done}/{total}", err=True)

    return show


def _report(summary: RedriveSummary, problems: dict[str, str]) -> None:
    from edamon.actions.redrive import Outcome

    counts = dict(summary.counts)
    counts[Outcome.REFUSED] = counts.get(Outcome.REFUSED, 0) + len(problems)
    parts = ", ".join(
        f"{n} {outcome}" for outcome, n in counts.items() if n or outcome is Outcome.SENT
    )
    click.echo(f"done in {summary.elapsed_s:.1f}s: {parts}")
    sent = summary.sent
    for result in sent[:LISTED]:
        click.echo(
            f"  sent     {result.coords} -> {result.target_coords} (attempt {result.attempt})"
        )
    if len(sent) > LISTED:
        click.echo(f"  ... and {len(sent) - LISTED} more sent")
    for result in summary.results:
        if result.outcome in (Outcome.FAILED, Outcome.REFUSED):
            click.echo(f"  {result.outcome.value:<8} {result.coords}: {result.reason}")
        if result.ledger_error:
            click.echo(f"  ledger   {result.coords}: not recorded: {result.ledger_error}")
    for address, reason in problems.items():
        click.echo(f"  refused  {address}: {reason}")
    if summary.aborted:
        click.echo(f"edamon: {summary.aborted}", err=True)


def _confirm(count: int) -> bool:
    """Ask on the terminal; no answer (EOF, Ctrl-C) is a no. Blocks the loop on purpose: nothing
    else runs meanwhile, and Ctrl-C at the prompt must not leave a thread waiting for input."""
    prompt = f"Send {count} dead letter(s) back to their topics?"
    try:
        return click.confirm(prompt, default=False, err=True)
    except click.Abort:
        return False


@command.command(name="retry")
@config_options
@click.argument("coords", nargs=-1)
@click.option("--filter", "-f", "filters", multiple=True, help="key=value (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the plan, send nothing.")
@click.option("--force", is_flag=True, help="Send again what the ledger says was retried.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Records per second (default: dlq.rate).",
)
@click.option("--continue-on-error", is_flag=True, help="Keep going after a failed send.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@attach_options
def retry_command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    coords: tuple[str, ...],
    filters: tuple[str, ...],
    dry_run: bool,
    force: bool,
    rate: float | None,
    continue_on_error: bool,
    yes: bool,
    attach: str | None,
    token_file: Path | None,
) -> None:
    """Send dead letters back to their original topic: by address (TOPIC/PARTITION/OFFSET...) or
    by --filter over every DLQ topic. Filter keys: dlq-topic, original-topic, group (names or
    globs), exception (substring, or /regex/), since, until (15m, 2h, or an ISO time).

    The target is the original topic named in the DLQ headers, else dlq.routes. The record is
    re-read from the DLQ and sent with its key and value; DLQ/error headers and
    dlq.strip_headers are removed, edamon-retry-of/-at/-attempt added. Every attempt goes to the
    ledger topic; what was already retried is skipped unless --force.
    """
    from edamon.actions.redrive import Redriver
    from edamon.actions.scan import find_dead_letters, read_dead_letters
    from edamon.model.records import parse_coords

    if not coords and not filters:
        raise click.UsageError("give dead-letter addresses (TOPIC/PARTITION/OFFSET) or --filter")
    for address in coords:
        try:
            parse_coords(address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="COORDS") from None
    selector = _filter(filters)
    if attach is not None:
        if rate is not None:
            raise click.UsageError("--rate: a service retries at its own dlq.rate")
        options = _AttachedRetry(coords, filters, dry_run, force, continue_on_error, yes)
        sys.exit(_retry_attached(attach, token_file, options))
    settings = settings_from(config_path, bootstrap, read_only)
    if settings.read_only and not dry_run:
        fail("read-only mode (--read-only / read_only = true): retry is disabled", EXIT_USAGE)
    limit = rate if rate is not None else settings.dlq.rate

    async def body(broker: Broker) -> int:
        ledger = await _load_ledger(broker, settings)
        problems: dict[str, str] = {}
        if coords:
            dead, problems = await find_dead_letters(broker, settings, coords)
        else:
            dead = await read_dead_letters(broker, settings)
            await _note_untailed(broker, settings)
        redriver = Redriver(broker, settings, ledger)
        plan = redriver.plan(selector.apply(dead), force=force)
        _preview(plan, problems, limit)
        if dry_run:
            click.echo("dry run: nothing sent")
            return EXIT_OK
        if not plan.to_send:
            click.echo("nothing to send")
            return EXIT_FAILED if plan.refused or problems else EXIT_OK
        if not yes and not _confirm(len(plan.to_send)):
            click.echo("edamon: aborted, nothing sent (no confirmation; --yes skips it)", err=True)
            return EXIT_USAGE
        cancel = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupted() -> None:  # the first Ctrl-C stops after the current record
            click.echo(
                "\nedamon: stopping after the current record (Ctrl-C again to abort)", err=True
            )
            cancel.set()
            loop.remove_signal_handler(signal.SIGINT)

        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, interrupted)
        try:
            summary = await redriver.execute(
                plan,
                rate=limit,
                stop_on_failure=not continue_on_error,
                progress=_progress(),
                cancel=cancel,
            )
        finally:
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        _report(summary, problems)
        return EXIT_OK if summary.ok and not problems else EXIT_FAILED

    sys.exit(_run(settings, body))


# ---- through a running service (--attach) ------------------------------------------------


def _list_attached(url: str, token_file: Path | None, filters: Sequence[str], as_json: bool) -> int:
    from edamon.actions.report import when_text
    from edamon.cli.attach import run_client, token_for
    from edamon.client import EdamonClient
    from edamon.model.snapshot import DeadLetterRow

    token = token_for(token_file, operator=False)

    async def body(client: EdamonClient) -> int:
        from pydantic import TypeAdapter

        rows: list[DeadLetterRow] = []
        notices: dict[str, None] = {}
        while True:
            page = await client.dead_letters(offset=len(rows), limit=1000, select=filters)
            rows += page.items
            notices.update(dict.fromkeys(page.notices))
            if not page.items or len(rows) >= page.total:
                break
        for notice in notices:  # a shard group's member that did not answer: rows missing
            click.echo(f"edamon: {notice}", err=True)
        if as_json:
            adapter = TypeAdapter(DeadLetterRow)
            for row in rows:
                click.echo(json.dumps(adapter.dump_python(row, mode="json")))
            return EXIT_OK
        if not rows:
            click.echo("no dead letters")
            return EXIT_OK
        table = [
            [
                row.coords,
                when_text(row.time),
                row.original_coords or row.original_topic or "-",
                row.consumer_group or "-",
                _short_class(row.failure_class) or "-",
                row.retry or "-"
                if row.retried_at is None
                else f"{row.retry} {when_text(row.retried_at)}",
                row.message or "-",
            ]
            for row in rows
        ]
        header = ["DEAD LETTER", "TIME (UTC)", "ORIGINAL", "GROUP", "EXCEPTION", "RETRY"]
        _table(table, [*header, "MESSAGE"])
        click.echo(f"{len(rows)} dead letter(s)")
        return EXIT_OK

    return run_client(url, token, body)


def _row_retry(row: DeadLetterRow) -> str:
    from edamon.actions.report import when_text

    if row.retry is None:
        return "-"
    return row.retry if row.retried_at is None else f"{row.retry} {when_text(row.retried_at)}"


def _show_attached(url: str, token_file: Path | None, coords: str, as_json: bool) -> int:
    from edamon.actions.ledger import LedgerEntry, RetryResult
    from edamon.cli.attach import run_client, token_for
    from edamon.client import EdamonClient, NotFound

    token = token_for(token_file, operator=False)

    async def body(client: EdamonClient) -> int:
        try:
            detail = await client.dead_letter(coords)
        except NotFound as exc:
            click.echo(f"edamon: {coords}: {exc}", err=True)
            return EXIT_FAILED
        if as_json:
            click.echo(json.dumps(detail.doc, indent=2))  # ASCII: valid in any output encoding
            return EXIT_OK
        retry = detail.doc["retry"]
        entry = None
        if retry is not None:
            entry = LedgerEntry(
                dead_letter=retry["dead_letter"],
                target_topic=retry["target_topic"],
                target_partition=retry["target_partition"],
                target_offset=retry["target_offset"],
                result=RetryResult(retry["result"]),
                reason=retry["reason"],
                at=retry["at"],
                by=retry["by"],
                attempt=retry["attempt"],
                sent_count=retry["sent_count"],
                record_timestamp_ms=retry["record_timestamp_ms"],
            )
        _show_text(detail.dead_letter, entry)
        return EXIT_OK

    return run_client(url, token, body)


@dataclass(frozen=True)
class _AttachedRetry:
    coords: tuple[str, ...]
    filters: tuple[str, ...]
    dry_run: bool
    force: bool
    continue_on_error: bool
    yes: bool


def _retry_attached(url: str, token_file: Path | None, options: _AttachedRetry) -> int:
    """Retry through the service: its plan, its ledger, its read-only setting and its roles
    (an operator token is needed to send)."""
    from edamon.cli.attach import run_client, token_for
    from edamon.client import EdamonClient

    token = token_for(token_file, operator=True)

    async def body(client: EdamonClient) -> int:
        plan = await client.retry_preview(options.coords, options.filters, force=options.force)
        _preview_doc(plan)
        if options.dry_run:
            click.echo("dry run: nothing sent")
            return EXIT_OK
        to_send = [item for item in plan.items if item.action == "send"]
        if not to_send:
            click.echo("nothing to send")
            refused = any(item.action == "refuse" for item in plan.items) or plan.problems
            return EXIT_FAILED if refused or plan.notices else EXIT_OK
        if plan.read_only:
            fail("the service is read-only: retry is disabled", EXIT_USAGE)
        if not options.yes and not _confirm(len(to_send)):
            click.echo("edamon: aborted, nothing sent (no confirmation; --yes skips it)", err=True)
            return EXIT_USAGE
        job = await client.retry(
            options.coords,
            options.filters,
            force=options.force,
            stop_on_failure=not options.continue_on_error,
        )
        show = _progress()
        try:
            while job.state == "running":
                show(job.done, job.total)
                await asyncio.sleep(0.2)
                job = await client.retry_job(job.id)
        except (KeyboardInterrupt, asyncio.CancelledError):
            await client.retry_cancel(job.id)
            raise
        show(job.done, job.total)
        counts = ", ".join(f"{n} {outcome}" for outcome, n in job.counts if n or outcome == "sent")
        click.echo(f"done in {job.elapsed_s:.1f}s: {counts}")
        for result in job.results:
            if result.outcome == "sent":
                click.echo(
                    f"  sent     {result.coords} -> {result.target_coords} "
                    f"(attempt {result.attempt})"
                )
            elif result.outcome in ("failed", "refused"):
                click.echo(f"  {result.outcome:<8} {result.coords}: {result.reason}")
            if result.ledger_error:
                click.echo(f"  ledger   {result.coords}: not recorded: {result.ledger_error}")
        if job.aborted:
            click.echo(f"edamon: {job.aborted}", err=True)
        for notice in job.plan.notices:
            click.echo(f"edamon: warning: {notice}", err=True)
        ok = all(r.outcome in ("sent", "skipped") and not r.ledger_error for r in job.results)
        whole = not job.plan.notices  # a shard group's plan that missed a member's: not done
        return EXIT_OK if ok and whole and job.state == "done" else EXIT_FAILED

    return run_client(url, token, body)


def _preview_doc(plan: RetryPlanDoc) -> None:
    send = [item for item in plan.items if item.action == "send"]
    skipped = [item for item in plan.items if item.action == "skip"]
    refused = [item for item in plan.items if item.action == "refuse"]
    click.echo(f"retry plan: {len(plan.items) + len(plan.problems)} dead letter(s) selected")
    targets = ", ".join(f"{topic} ({n})" for topic, n in plan.targets)
    click.echo(f"  to send:  {len(send)}" + (f" -> {targets}" if targets else ""))
    if skipped:
        click.echo(f"  skipped:  {len(skipped)} already retried (--force to send again)")
    if refused or plan.problems:
        click.echo(f"  refused:  {len(refused) + len(plan.problems)}")
        for item in refused[:SAMPLE]:
            click.echo(f"    {item.coords}: {item.reason}")
        for address, reason in plan.problems[:SAMPLE]:
            click.echo(f"    {address}: {reason}")
    if send:
        names = ", ".join(f"{name} ({n})" for name, n in plan.stripped_headers) or "none"
        click.echo(f"  headers stripped: {names}")
        click.echo(f"  rate: {plan.rate:g}/s (the service's)")
        click.echo("sample:")
        for item in send[:SAMPLE]:
            via = "headers" if item.source == "header" else "dlq.routes"
            click.echo(f"  {item.coords} -> {item.target} (from {via}, attempt {item.attempt})")
    if plan.ledger_error:
        click.echo(f"edamon: warning: {plan.ledger_error}", err=True)
    for notice in plan.notices:
        click.echo(f"edamon: warning: {notice}", err=True)
