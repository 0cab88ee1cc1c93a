"""The real-time engine: source -> signal -> dream-session state -> triggers -> sinks.

No Qt here; acquisition runs in its own thread.
"""
