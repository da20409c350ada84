"""The domain: messages, types, frames, errors, ids, envelope, catalog, codec, routing.

Pure Python: no I/O, no asyncio. May import: no other package of this project.
"""
