"""Backends: the interface (base.py) and its two implementations, qemu.py (QMP) and libvirt.py."""
