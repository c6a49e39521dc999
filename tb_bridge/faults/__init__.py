"""Fault rigs: the service on real parts while one part is killed and restarted mid-stream.

:mod:`tb_bridge.faults.servers` starts Mosquitto, Redis and PostgreSQL as private processes that can be
killed and started again on the same port and data directory; :mod:`tb_bridge.faults.scenarios` runs the
scenarios (broker restart, service crash, Redis, PostgreSQL and ThingsBoard outages) and counts what was
sent against what the service kept. ``tests/faults`` asserts on the counts; ``bench/bench_faults.py``
runs the same scenarios with larger counts and prints them.
"""
