"""BrainFlow boards: configuration, connection, streaming, reconnection, markers.

Knows nothing about sleep staging.
"""

from dreamband.firmware_bridge.chunk import (
    ChannelType,
    Source,
    StreamChunk,
    StreamEvent,
    StreamStats,
)

__all__ = ["ChannelType", "Source", "StreamChunk", "StreamEvent", "StreamStats"]
