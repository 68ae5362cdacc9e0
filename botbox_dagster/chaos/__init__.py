"""Chaos runs: BotBox's execution path against the loopback fake exchange under scripted faults.

``botbox chaos SCENARIO`` (and the fault suite in ``botbox_dagster_tests/faults/``) builds a
throw-away ``BOTBOX_HOME`` with a generated fleet of live-mode bots on one ccxt account pointed
at a fake Binance started as a subprocess (``world.py``), queues trades (``queue.py``), runs the
real execution processes (``runs.py``) while the fake misbehaves (``scenarios.py``), and then
checks the guarantees against what the fake actually received (``report.py``): no duplicate
order, no lost trade, no rate-limit violation.
"""
