"""A second Django project, as small as one can be, that uses websockets_app and nothing else of this repository.

It proves the app stands on its own: ``tests/test_standalone_project.py`` runs a WebSocket round trip through the
app's own Lambda handler (``lambda_function.py``, the three lines a project writes) in a fresh process whose
settings are these.
"""
