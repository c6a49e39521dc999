"""ISA-18.2 alarm management: vectorized state machine (deadband, delays, shelving) and KPIs."""
from engines.alarms.kpi import TARGETS, AlarmKpi, alarm_kpis
from engines.alarms.states import ACKED, NORM, RTNUN, UNACK, AlarmBank, AlarmEvent

__all__ = ["AlarmBank", "AlarmEvent", "AlarmKpi", "alarm_kpis", "TARGETS", "NORM", "UNACK", "ACKED", "RTNUN"]
