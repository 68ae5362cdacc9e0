"""``market_data_job``: candles alone, for backfills and refreshes launched by hand.

The minute refresh is the first step of ``trading_minute_job``; this job only stores bars (it
never marks positions or trades), which is what a backfill of past days wants.
"""

import dagster as dg

from botbox_dagster.defs.market_data.assets import candles
from botbox_dagster.defs.runs import SINGLETON_TAG

market_data_job = dg.define_asset_job(
    name="market_data_job",
    selection=dg.AssetSelection.assets(candles),
    description=(
        "Store candles (and run their freshness check) for every watched market, for the days "
        "chosen: backfills and refreshes by hand. It never marks positions or trades; the "
        "minute refresh is trading_minute_job's first step."
    ),
    tags={SINGLETON_TAG: "market_data"},
)
