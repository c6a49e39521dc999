"""Loop protection: recognize events caused by the service's own writes.

ThingsBoard stamps ATTRIBUTES_UPDATED with the saving user's ``userId`` (EntityActionService), so an
attribute update saved by the service's own user, or one whose keys are all service outputs
(``opt_*`` by default), is the echo of our writeback and must not trigger the service again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from tb_bridge.events import EventKind, WellEvent


@dataclass
class LoopGuard:
    """Drops echoes of our own writes.

    ``own_user_ids``: ThingsBoard user ids the service writes as (add the writeback's user id after login
    with :meth:`add_user_id`); an attribute update saved by one of them is ours. ``own_key_prefixes``:
    keys only the service writes; an event whose every key has one of these prefixes is ours, whoever
    saved it and whatever its kind (an Edge uplink carries no user id, and a rule chain may route our
    projected time series back as telemetry). Events with any other key are delivered.
    """

    own_user_ids: set[str] = field(default_factory=set)
    own_key_prefixes: tuple[str, ...] = ("opt_",)
    dropped: int = 0

    def add_user_id(self, user_id: str | None) -> None:
        if user_id:
            self.own_user_ids.add(user_id)

    def is_own(self, event: WellEvent) -> bool:
        """True when ``event`` is an echo of the service's own write."""
        if event.kind is not EventKind.TELEMETRY and event.metadata.get("userId") in self.own_user_ids:
            return True
        keys = list(event.values)
        return bool(keys) and bool(self.own_key_prefixes) and all(k.startswith(self.own_key_prefixes) for k in keys)

    def admit(self, event: WellEvent) -> bool:
        """True when the event should be delivered; counts the dropped ones."""
        if self.is_own(event):
            self.dropped += 1
            return False
        return True
