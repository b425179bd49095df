"""The shared kernel: money, masking, roles, database helpers, API permissions, spreadsheet safety,
admin building blocks and the embedded database. Every app may import it; it imports no app
(a test holds that: tests/project/test_layers.py)."""
