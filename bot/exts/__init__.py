"""The bot's features, one extension (a Cog with ``setup``) per module."""
