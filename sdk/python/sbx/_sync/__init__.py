# Written from sbx/_async/__init__.py by generate.py (unasync): do not edit.
