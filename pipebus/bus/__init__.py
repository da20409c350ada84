"""The bus: ``WorkerBus``, its subscriptions and taps, and the in-process ``AsyncQueueBus``.

May import: pipebus.core.
"""

from pipebus.bus.async_queue import AsyncQueueBus
from pipebus.bus.base import BusStats, WorkerBus
from pipebus.bus.network import BusNetwork, NetworkBus
from pipebus.bus.subscriber import BusSubscriber
from pipebus.bus.subscription import BusSubscription
from pipebus.bus.taps import BusTap, DeliveryTap
from pipebus.bus.tasks import TaskManager, TaskManagerParams

__all__ = [
    "AsyncQueueBus",
    "BusNetwork",
    "BusStats",
    "BusSubscriber",
    "BusSubscription",
    "BusTap",
    "DeliveryTap",
    "NetworkBus",
    "TaskManager",
    "TaskManagerParams",
    "WorkerBus",
]
