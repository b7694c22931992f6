"""The clinician-facing web page: the report as one self-contained HTML page, and the form.

- `b12ms.web.render.patient_report_html`: an `Assessment` as a complete HTML page (inline CSS
  and SVG charts, no external resources), also written by `b12ms assess --format html`.
- `b12ms.web.forms`: the clinician form, mapped onto the b12ms patient form document, so that
  every validation rule stays in `b12ms.form`.
- `b12ms.web.routes.router`: the FastAPI router (GET `/`, POST `/assess`, POST `/upload`).

Importing this package does not import FastAPI: only `b12ms.web.routes` needs it.
"""

from __future__ import annotations

from b12ms.web.render import patient_report_html

__all__ = ["patient_report_html"]
