"""The billing service: invoices (QR reference), invoice lines, payments, balances, interest.

The service itself is in `service.py`; importing this package stays cheap for the offline
commands."""
