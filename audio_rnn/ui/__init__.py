"""The Streamlit app's pages and helpers; `app.py` only wires these together.

Everything here is presentation: signal processing and models come from the
rest of the package. Modules: `common` (session temp dir, cached decoding,
error display), `inputs` (sample/upload/record widget), `plots` (figures as
PNG bytes, no pyplot state), `models` (cached model loaders and adapters over
the recognizer, spotter, generator and scratch modules), one module per page.
"""
