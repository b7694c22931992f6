"""Population screening: FHIR Bulk Data NDJSON in, care-gap worklists and a report out.

    from b12ms.population.screen import screen
    result = screen("export/", out="worklist.csv", as_of=datetime.date(2026, 11, 1))

Modules: `bulk` (finding the files of an export and the grouping rule), `screen` (the run and
its writers), `duckdb_engine` and `spark_engine` (imported only when a screen runs with them),
`summary` (population figures) and `report` (the HTML report).
"""

from b12ms.population.bulk import ExportFile, discover
from b12ms.population.screen import ScreenResult
from b12ms.population.summary import PopulationSummary

__all__ = ["ExportFile", "PopulationSummary", "ScreenResult", "discover"]
