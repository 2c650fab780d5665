"""The dunning service.

Owns dunning cases of both ladders, letters, the employers' tasks and messages, notifications.
"""
