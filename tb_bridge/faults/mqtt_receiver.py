"""The service's MQTT side as a child process that a scenario can SIGKILL mid-stream.

    python -m tb_bridge.faults.mqtt_receiver --port 1883 --topic 'root/v1/+/+' --client-id ID --out FILE

Subscribes with :class:`~tb_bridge.transport.mqtt.MqttTransport` (persistent session under ``--client-id``)
and appends ``<well_id> <ts_ms>`` to ``FILE`` for every event before returning from the sink, i.e. before the
PUBACK: what the file holds after a SIGKILL is what this process took. Prints ``subscribed`` once the
broker acknowledged the subscription.
"""
from __future__ import annotations

import argparse
import threading

from tb_bridge.transport.mqtt import MqttTransport


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--shared-group", default=None)
    parser.add_argument("--session-expiry-s", type=int, default=3600)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - open until the process is killed

    def sink(event) -> None:
        out.write(f"{event.well_id} {event.ts_ms}\n")
        out.flush()  # in the kernel's page cache: survives SIGKILL of this process

    transport = MqttTransport(args.host, args.port, topic_filters=[args.topic], shared_group=args.shared_group,
                              client_id=args.client_id, session_expiry_s=args.session_expiry_s,
                              end_session_on_stop=False)
    transport.start(sink, lambda source, payload, reason: None)
    if not transport.wait_subscribed(30):
        return 1
    print("subscribed", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
