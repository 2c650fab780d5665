"""The coverage service.

Owns assignments and work weeks per worker and employer, coverage periods, findings.
"""
