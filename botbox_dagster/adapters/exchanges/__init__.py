"""Exchanges behind one interface: the paper simulator and live ccxt venues."""
