"""The writeback outbox under random interleavings of writes, spills, deliveries and failed deliveries.

Invariant (last-writer-wins, as ThingsBoard applies attribute saves and (key, ts) point upserts): once
everything is delivered, what ThingsBoard holds equals the last value written for every key, whatever
the memory bound forced into the spill and whatever was put back after a failure. The reference model is
a plain dict of the last written values.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tb_bridge.writeback.outbox import Outbox, SqliteOutboxSpill, WellBatch

WELLS = ["w0", "w1", "w2", "w3"]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("attr"), st.sampled_from(WELLS), st.sampled_from(["a", "b"]), st.integers(0, 9)),
        st.tuples(st.just("point"), st.sampled_from(WELLS), st.integers(0, 3), st.integers(0, 9)),
        st.tuples(st.just("deliver"), st.integers(1, 3)),
        st.tuples(st.just("fail"), st.integers(1, 3),
                  st.lists(st.tuples(st.sampled_from(WELLS), st.sampled_from(["a", "b"]), st.integers(0, 9)),
                           max_size=4)),
    ),
    max_size=60,
)


def _apply(server: dict, batch: WellBatch) -> None:
    for scope, values in batch.attributes.items():
        for key, value in values.items():
            server[(batch.entity_id, scope, key)] = value
    for ts, values in batch.points.items():
        for key, value in values.items():
            server[(batch.entity_id, "ts", key, ts)] = value


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 6))
def test_last_write_wins_through_spill_and_retries(operations, max_items):
    outbox = Outbox(max_items=max_items, spill=SqliteOutboxSpill())
    expected, server = {}, {}
    for op in operations:
        if op[0] == "attr":
            _, well, key, value = op
            outbox.add_attributes(well, "SERVER_SCOPE", {key: value})
            expected[(well, "SERVER_SCOPE", key)] = value
        elif op[0] == "point":
            _, well, ts, value = op
            outbox.add_points(well, [(ts, {"q": value})])
            expected[(well, "ts", "q", ts)] = value
        elif op[0] == "deliver":
            for batch in outbox.take(op[1]):
                _apply(server, batch)
        else:  # taken; more writes arrive (and may spill) while in flight; then the request fails
            taken = outbox.take(op[1])
            for well, key, value in op[2]:
                outbox.add_attributes(well, "SERVER_SCOPE", {key: value})
                expected[(well, "SERVER_SCOPE", key)] = value
            outbox.put_back(taken)
        assert outbox.memory_items <= max_items
    while outbox.pending_items():
        for batch in outbox.take(2):
            _apply(server, batch)
    assert server == expected
    outbox.close()
