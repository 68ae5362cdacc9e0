"""Daily partitions for market data (minute partitions would exceed Dagster's ~100k limit)."""

import dagster as dg

# From 2017 so that recorded history (backtests) fits; end_offset=1 makes today's partition
# exist while the day is still running, so the minute refresh can target it.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date="2017-01-01", timezone="UTC", end_offset=1
)
