"""Workers and the runner: ``BaseWorker`` composed of its parts, and ``WorkerRunner``.

May import: pipebus.transports, pipebus.tracing, pipebus.eventlog, pipebus.live,
pipebus.projections, pipebus.bus, pipebus.core.
"""
