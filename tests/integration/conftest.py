"""Fixtures of the multi-process tests: the ones of the Redis bus tests."""

from tests.transports.conftest import bus_type, channel, make_bus, redis, redis_url

__all__ = ["bus_type", "channel", "make_bus", "redis", "redis_url"]
