"""The pure core: envelope, type catalog and codec, routing rules. No I/O, no asyncio."""
