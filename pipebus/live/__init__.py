"""Live state: the registry and job projections wrapped with the signalling running code needs.

May import: pipebus.projections, pipebus.bus, pipebus.core.
"""
