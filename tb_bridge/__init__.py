"""Atilax ThingsBoard bridge: the imperative shell around the engines."""
