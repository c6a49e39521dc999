"""`atilax wells validate WELL.json`: check a well's configuration exactly as the service does."""
from __future__ import annotations

import argparse

from tb_bridge.cli.io import CliInputError, print_json, print_key_values, read_json
from tb_bridge.wells.model import WellConfigError, parse_well_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("wells", help="well configuration tools")
    sub = parser.add_subparsers(dest="wells_command", required=True)
    validate = sub.add_parser(
        "validate",
        help="validate a well's attributes (JSON object of ThingsBoard attributes, or a list of them)",
    )
    validate.add_argument("input", help="JSON file, or - for stdin")
    validate.add_argument("--json", action="store_true", help="print the normalized configuration as JSON")
    validate.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    document = read_json(args.input)
    items = document if isinstance(document, list) else [document]
    configs, failures = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CliInputError(f"item {index}: expected a JSON object of attributes")
        entity_id = str(item.get("entity_id") or item.get("name") or f"well-{index}")
        name = str(item.get("name") or entity_id)
        try:
            configs.append(parse_well_config(entity_id, name, item))
        except WellConfigError as exc:
            failures.append(exc)
    if args.json:
        print_json({"valid": [c.model_dump() for c in configs],
                    "invalid": [{"entity_id": f.entity_id, "problems": f.problems} for f in failures]})
    else:
        for config in configs:
            print_key_values([(k, v) for k, v in config.model_dump().items() if v is not None], title=f"{config.name}: valid {config.lift_type} well")
            print()
        for failure in failures:
            print(f"{failure.entity_id}: INVALID")
            for problem in failure.problems:
                print(f"  - {problem}")
    return 1 if failures else 0
