"""The row-stationary dataflow engine: mapping search, cycles and accesses per layer.

See docs/dataflow.md for the model the RTL executes.
"""

from __future__ import annotations

from qappac.dataflow.energy import EnergyTable, default_energy_table
from qappac.dataflow.model import (
    ACCESS_FIELDS,
    ENERGY_LEVELS,
    Accesses,
    DramPort,
    DramTraffic,
    Energy,
    Mapping,
    dram_port,
    dram_traffic,
)
from qappac.dataflow.render import CSV_COLUMNS, schedule_csv, schedule_row, schedule_table_md
from qappac.dataflow.schedule import LayerSchedule, MappingError, schedule, schedule_layer
from qappac.dataflow.search import (
    MAPPING_FIELDS,
    AcceleratorArrays,
    accelerator_arrays,
    evaluate,
)

__all__ = [
    "ACCESS_FIELDS",
    "CSV_COLUMNS",
    "ENERGY_LEVELS",
    "MAPPING_FIELDS",
    "AcceleratorArrays",
    "Accesses",
    "DramPort",
    "DramTraffic",
    "Energy",
    "EnergyTable",
    "LayerSchedule",
    "Mapping",
    "MappingError",
    "accelerator_arrays",
    "default_energy_table",
    "dram_port",
    "dram_traffic",
    "evaluate",
    "schedule",
    "schedule_csv",
    "schedule_layer",
    "schedule_row",
    "schedule_table_md",
]
