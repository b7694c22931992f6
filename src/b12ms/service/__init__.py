"""The clinician-facing CDS Hooks 2.0 service (`b12ms serve`).

Optional: it needs FastAPI, uvicorn, httpx and PyJWT with cryptography, which the core
library does not. `create_app(config)` in `b12ms.service.app` builds the application.
"""
