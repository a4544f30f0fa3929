"""The clinician's chat UI (Gradio). Import `ui.app.build_app` / `ui.app.launch_app`, or run `rag-dx ui`.

Importing this package is cheap and starts nothing; Gradio is imported only inside `build_app`
and `launch_app`.
"""
