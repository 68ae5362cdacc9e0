"""The minute loop (candles → positions → signals → trade queue) and the trading tables."""
