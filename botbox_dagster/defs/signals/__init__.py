"""The signal tick (due bots → signals → trade queue) and the on-demand bot check."""
