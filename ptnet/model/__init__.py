"""Plain typed data: what the user asked for, with no I/O (see ports.py for netmap port names)."""
