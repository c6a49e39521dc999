"""Service history: SQLAlchemy 2 models, Alembic migrations and the ``HistoryStore`` facade."""
from tb_bridge.history.records import AlarmEventRecord, DeadLetterRecord, ForecastRecord, RunRecord, SessionRecord
from tb_bridge.history.store import HistoryStore

__all__ = ["HistoryStore", "RunRecord", "ForecastRecord", "AlarmEventRecord", "SessionRecord", "DeadLetterRecord"]
