"""The intake service.

Owns uploaded files (bytes, sha256), list versions per employer and period, check reports.
"""
