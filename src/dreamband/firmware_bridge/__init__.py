"""BrainFlow boards: configuration, connection, streaming, reconnection, markers.

Knows nothing about sleep staging.
"""

from dreamband.firmware_bridge.boards import (
    BOARD_NAMES,
    BoardInfo,
    board_info,
    list_boards,
    resolve_board,
)
from dreamband.firmware_bridge.chunk import (
    ChannelType,
    Source,
    StreamChunk,
    StreamEvent,
    StreamStats,
)
from dreamband.firmware_bridge.config import BoardConfig, parse_channel_list
from dreamband.firmware_bridge.montage import Montage
from dreamband.firmware_bridge.stream import BoardConnectionError, BoardStream

__all__ = [
    "BOARD_NAMES",
    "BoardConfig",
    "BoardConnectionError",
    "BoardInfo",
    "BoardStream",
    "ChannelType",
    "Montage",
    "Source",
    "StreamChunk",
    "StreamEvent",
    "StreamStats",
    "board_info",
    "list_boards",
    "parse_channel_list",
    "resolve_board",
]
