"""``atilax ml``: learned models.

``atilax ml train-card-classifier [--seed 0] [--cards-per-class 300] [--trees 120] [--out PATH]``
    Generate labelled cards with the SRP engine (training well configuration), fit the surface and
    downhole card models (XGBoost, needs the ``ml`` extra) and write them as NumPy tree arrays (default:
    the packaged ``engines/ml/models/card_classifier.npz``). Deterministic given the seed. With
    ``--holdout-cards-per-class N`` it then prints the confusion matrices on the held-out well
    configuration (surface model, downhole model, geometric classifier). Ctrl-C stops it; nothing is written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from tb_bridge.cli.io import CliInputError, format_table, print_json


def _progress(label: str):
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label}: {done}/{total} cards")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def _train_cards(args) -> int:
    from engines.ml import card_classifier as cc

    if not (1 <= args.cards_per_class <= cc.MAX_CARDS_PER_CLASS):
        raise CliInputError(f"--cards-per-class must be in [1, {cc.MAX_CARDS_PER_CLASS}]")
    if not (1 <= args.trees <= cc.MAX_TREES):
        raise CliInputError(f"--trees must be in [1, {cc.MAX_TREES}]")
    if not (0 <= args.holdout_cards_per_class <= cc.MAX_CARDS_PER_CLASS):
        raise CliInputError(f"--holdout-cards-per-class must be in [0, {cc.MAX_CARDS_PER_CLASS}]")
    try:
        import xgboost  # noqa: F401
    except ImportError:
        raise CliInputError("training needs XGBoost: pip install 'atilax[ml]'") from None
    out = Path(args.out) if args.out else cc.DEFAULT_MODEL_PATH
    command = (f"atilax ml train-card-classifier --seed {args.seed} --cards-per-class {args.cards_per_class} "
               f"--trees {args.trees}")
    try:
        model = cc.train_card_model(args.seed, args.cards_per_class, args.trees, command, _progress("training cards"))
        report = (cc.evaluate_card_model(model, args.holdout_cards_per_class, args.seed + 1, _progress("held-out cards"))
                  if args.holdout_cards_per_class else None)
    except KeyboardInterrupt:
        print("stopped: no model written", file=sys.stderr)
        return 130
    cc.save_model(model, out)
    result = {"model": str(out), "bytes": out.stat().st_size, "meta": model.meta, "holdout": report}
    if args.json:
        print_json(result)
        return 0
    print(f"wrote {out} ({result['bytes']:,} bytes), seed {args.seed}")
    if report:
        for path in ("surface_model", "downhole_model", "geometric"):
            r = report[path]
            print(f"\nheld-out {path}: accuracy {100 * r['accuracy']:.1f} % (rows true, columns predicted)")
            print(format_table(["true \\ predicted"] + list(report["classes"]),
                               [[c] + row for c, row in zip(report["classes"], r["confusion"])]))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("ml", help="learned models (card classifier)")
    sub = parser.add_subparsers(dest="ml_command", required=True)
    p = sub.add_parser("train-card-classifier", help="train the dynamometer-card classifier on SRP-engine cards")
    p.add_argument("--seed", type=int, default=0, help="generator and XGBoost seed (default 0)")
    p.add_argument("--cards-per-class", type=int, default=300, help="generated wells per class (default 300, at most 5000)")
    p.add_argument("--trees", type=int, default=120, help="boosting rounds per model (default 120, at most 1000)")
    p.add_argument("--holdout-cards-per-class", type=int, default=0,
                   help="evaluate on this many held-out wells per class (default 0: no evaluation)")
    p.add_argument("--out", help="model file (default: the packaged engines/ml/models/card_classifier.npz)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_train_cards)
    from tb_bridge.cli.ml_lstm_ae import add_commands  # train-lstm-ae, list (issue 22: 1, 6)

    add_commands(sub)
    from tb_bridge.cli.ml_forecast import add_commands as add_forecast_commands  # issue 22: 2, 3

    add_forecast_commands(sub)
