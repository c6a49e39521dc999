"""Training runs the HTTP API starts (``POST /train-lstm-ae``): one at a time, on a background thread, each well's
LSTM autoencoder from its 30 days of ThingsBoard history (:func:`tb_bridge.handlers.ml_steps.train_well`), registered
in the model registry. Progress goes to the log; ``stop()`` (or ``{"stop": true}``) ends the run after the current
epoch, keeping the models already registered. The demo runs the same training on its simulated clock (``clock_ms``)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)


class LstmAeTraining:
    """The service's LSTM-AE training run (at most one)."""

    def __init__(self, service: Any, clock_ms: Callable[[], int] | None = None) -> None:
        self.service = service
        #: "now" of a training (the end of the history read, the model's training time): the wall clock by default
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.state: dict[str, Any] = {"status": "idle"}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, well_ids: Sequence[str], epochs: int | None = None) -> dict[str, Any]:
        """Start training ``well_ids`` (valid wells of the service); raises ``TorchUnavailableError`` without PyTorch,
        ``RuntimeError`` while a run is under way."""
        from engines.ml.lstm_ae import TORCH_MISSING, TorchUnavailableError, torch_available

        if not torch_available():
            raise TorchUnavailableError(TORCH_MISSING)
        with self._lock:
            if self.running:
                raise RuntimeError(f"a training run is under way ({self.state.get('done', 0)} of "
                                   f"{len(self.state.get('wells', []))} wells done)")
            self._stop.clear()
            self.state = {"status": "running", "wells": list(well_ids), "done": 0, "failed": {}, "epochs": epochs,
                          "started_ms": int(time.time() * 1000)}
            self._thread = threading.Thread(target=self._run, args=(list(well_ids), epochs), daemon=True,
                                            name="lstm-ae-training")
            self._thread.start()
            return dict(self.state)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, well_ids: list[str], epochs: int | None) -> None:
        from tb_bridge.handlers.ml_steps import train_well

        service = self.service
        for n, well_id in enumerate(well_ids, 1):
            if self._stop.is_set():
                self.state["status"] = "stopped"
                break
            config = service.registry.config(well_id)
            if config is None:
                self.state["failed"][well_id] = "no valid configuration"
                continue
            try:
                context = service._well_context("monthly", config, int(self.clock_ms()))

                def progress(epoch: int, total: int, loss: float, name: str = config.name) -> None:
                    log.info("LSTM-AE training %s (%d/%d wells): epoch %d/%d, loss %.4f", name, n, len(well_ids),
                             epoch, total, loss)

                record, _ = train_well(context, service.model_store, epochs=epochs, progress=progress,
                                       should_stop=self._stop.is_set)
                log.info("LSTM-AE of %s registered: v%d", config.name, record.version)
            except Exception as exc:  # one well's failure does not stop the others
                log.warning("LSTM-AE training of %s failed: %s", well_id, exc)
                self.state["failed"][well_id] = f"{type(exc).__name__}: {exc}"
            self.state["done"] = n
        else:
            self.state["status"] = "done"
