"""The fault suite: BotBox's guarantees under a misbehaving exchange, through real processes."""
