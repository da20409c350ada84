"""RedisStreamBus: history on join, resuming under the same name, bounded trimming."""

from __future__ import annotations

from redis.asyncio import Redis

from pipebus.transports import RedisStreamBus
from tests.transports.helpers import Note, Sink


async def started(bus: RedisStreamBus, sink: Sink) -> RedisStreamBus:
    await bus.subscribe(sink)
    await bus.start()
    return bus


async def test_start_from_decides_what_a_new_runner_replays(redis: Redis, channel: str) -> None:
    writer = RedisStreamBus(redis=redis, channel=channel, runner_name="writer")
    await writer.start()
    for i in range(5):
        await writer.send(Note(source="w", n=i))
    await writer.drain()
    middle = (await redis.xrange(channel, count=3))[2][0].decode()
    readers = {
        start: RedisStreamBus(redis=redis, channel=channel, runner_name=f"r-{i}", start_from=start)
        for i, start in enumerate(["beginning", "latest", middle])
    }
    sinks = {start: Sink("sink") for start in readers}
    for start, bus in readers.items():
        await started(bus, sinks[start])
    await writer.send(Note(source="w", n=5))
    for sink in sinks.values():
        await sink.has(1)
    await sinks["beginning"].has(6)
    await sinks[middle].has(3)
    assert sinks["beginning"].numbers() == [0, 1, 2, 3, 4, 5]
    assert sinks["latest"].numbers() == [5]
    assert sinks[middle].numbers() == [3, 4, 5]
    for bus in [writer, *readers.values()]:
        await bus.stop()


async def test_a_runner_restarting_under_its_name_resumes_without_losing_a_message(
    redis: Redis, channel: str
) -> None:
    writer = RedisStreamBus(redis=redis, channel=channel, runner_name="writer")
    await writer.start()
    first = await started(RedisStreamBus(redis=redis, channel=channel, runner_name="b"), Sink("s"))
    sink = Sink("s")
    reader = await started(RedisStreamBus(redis=redis, channel=channel, runner_name="b2"), sink)
    for i in range(3):
        await writer.send(Note(source="w", n=i))
    await sink.has(3)
    await first.stop()  # "b" goes away, knowing where it stopped
    for i in range(3, 8):
        await writer.send(Note(source="w", n=i))
    await writer.drain()
    again = Sink("s")
    # start_from="latest" only applies to a runner with no stored position.
    back = await started(RedisStreamBus(redis=redis, channel=channel, runner_name="b"), again)
    await writer.send(Note(source="w", n=8))
    await again.has(6)
    assert again.numbers() == [3, 4, 5, 6, 7, 8]
    assert back.transport_stats.trim_gaps == 0
    stored = await redis.hget(back.positions_key, "b")
    assert stored is not None
    for bus in (writer, reader, back):
        await bus.stop()


async def test_trimming_is_bounded_by_maxlen_and_a_trimmed_gap_is_reported(
    redis: Redis, channel: str
) -> None:
    writer = RedisStreamBus(redis=redis, channel=channel, runner_name="writer", maxlen=50)
    await writer.start()
    late = await started(
        RedisStreamBus(redis=redis, channel=channel, runner_name="late"), Sink("s")
    )
    await late.stop()
    for i in range(2000):
        await writer.send(Note(source="w", n=i))
    await writer.drain()
    assert await redis.xlen(channel) <= 50 + 100  # trimmed by whole nodes of ~100 entries
    back = await started(
        RedisStreamBus(redis=redis, channel=channel, runner_name="late"), Sink("s")
    )
    assert back.transport_stats.trim_gaps == 1
    await back.stop()
    await writer.stop()


async def test_a_reader_stores_its_position_when_its_next_read_returns(
    redis: Redis, channel: str
) -> None:
    # The store goes after the read in one pipeline, so Redis answers both at once and
    # the reader wakes once per read instead of a second time for the store's answer.
    writer = RedisStreamBus(redis=redis, channel=channel, runner_name="writer")
    await writer.start()
    sink = Sink("s")
    reader = await started(
        RedisStreamBus(redis=redis, channel=channel, runner_name="r", block_ms=60_000), sink
    )
    await writer.send(Note(source="w", n=0))
    await sink.has(1)
    first = reader.position
    await writer.send(Note(source="w", n=1))
    await sink.has(2)
    await redis.ping()  # whatever the reader sent after its read has reached Redis
    stored = await redis.hget(reader.positions_key, "r")
    # The read that returned the second entry stored the first; the second is sent
    # with the read now waiting, and stored when it returns.
    assert stored == first.encode()
    await reader.stop()  # a runner that stops stores where it is
    assert await redis.hget(reader.positions_key, "r") == reader.position.encode()
    await writer.stop()
