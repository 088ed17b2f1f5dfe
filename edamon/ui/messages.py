"""What a screen asks of the app: typed messages posted upward (a screen never reaches into
another screen). The app handles each one (`EdamonApp.on_open_chain`, …)."""

from __future__ import annotations

from textual.message import Message

Handler = tuple[str | None, str | None, str | None]
"""A failed handler: source topic, consumer group, exception (the cause when there is one)."""


class ShowScreen(Message):
    """Show the main screen `name` (one of bars.SCREENS), with the row `select` selected."""

    def __init__(self, name: str, select: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.select = select


class OpenChain(Message):
    """Open the chain of `correlation_id`, on `event_id` (or the node of the dead letter at
    `dead_letter`) when given."""

    def __init__(
        self,
        correlation_id: str | None,
        event_id: str | None = None,
        *,
        dead_letter: str | None = None,
    ) -> None:
        super().__init__()
        self.correlation_id = correlation_id
        self.event_id = event_id
        self.dead_letter = dead_letter


class ShowDeadLetters(Message):
    """The dead letters, filtered by `filter_text`, or narrowed to one failed `handler`."""

    def __init__(self, filter_text: str = "", handler: Handler | None = None) -> None:
        super().__init__()
        self.filter_text = filter_text
        self.handler = handler


class FocusTopic(Message):
    """Jump to a topic: a DLQ topic lists its dead letters, another filters the live events.
    With `timeline`, the live events are filtered by `topic` as text (an event type)."""

    def __init__(self, topic: str, *, timeline: bool = False) -> None:
        super().__init__()
        self.topic = topic
        self.timeline = timeline


class GoBack(Message):
    """Esc: back to the previous screen (down the stack, else the previous main screen)."""
