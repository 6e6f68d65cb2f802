"""The chat example: rooms are WebSocket channels, messages are stored, and every message reaches its room."""
