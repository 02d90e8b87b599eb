"""The write model: commands, their handlers, the relational state and the outbox of change events."""
